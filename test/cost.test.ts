// The cost model (src/cost/): profiles, the linear engine, the attribution of
// work to the bench's four phases, the bench runner on small machines, the
// function_graph parser of the validation, and the charts.

import { test } from "node:test";
import assert from "node:assert/strict";
import { WORK_KEYS, Work } from "../src/kernel/work.js";
import {
  BUILTIN_PROFILES,
  ProfileError,
  loadProfile,
  missingConstants,
  validateProfile,
  type CostProfile,
} from "../src/cost/profile.js";
import { addCounts, costOf, formatNs } from "../src/cost/engine.js";
import { PhaseRecorder, benchPhaseOf } from "../src/cost/phases.js";
import { BENCH_SCENARIOS, runBench, runStrategyBench, runSweepPoint } from "../src/cost/bench.js";
import { parseFunctionGraph, timeOf } from "../src/cost/funcgraph.js";
import { strategiesSvg, sweepSvg } from "../src/cost/chart.js";
import { formatBench } from "../src/cost/format.js";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** A profile where every counter costs 1 ns, except the ones given. */
function flatProfile(
  arch: "x86_64" | "arm64",
  ns: Partial<Record<(typeof WORK_KEYS)[number], number>> = {},
): CostProfile {
  const constants: CostProfile["constants"] = {};
  for (const k of WORK_KEYS)
    constants[k] = {
      ns: ns[k] ?? 1,
      source: { kind: "derivation", detail: "a test constant, one nanosecond" },
    };
  return validateProfile({
    version: 1,
    name: `flat-${arch}`,
    description: "test",
    machine: { arch, cpus: 4, description: "test machine" },
    constants,
  });
}

test("the shipped profiles load, cover every counter and give every constant a source", () => {
  for (const name of BUILTIN_PROFILES) {
    const p = loadProfile(name);
    assert.equal(p.name, name);
    assert.deepEqual(missingConstants(p), [], `${name} misses constants`);
    for (const [key, c] of Object.entries(p.constants)) {
      assert.ok(c.ns >= 0, `${name}.${key}`);
      assert.ok(["measurement", "citation", "derivation"].includes(c.source.kind), `${name}.${key} kind`);
      assert.ok(c.source.detail.length > 30, `${name}.${key}: a source must say where the number comes from`);
    }
  }
  assert.equal(loadProfile("x86_64-server").machine.arch, "x86_64");
  assert.equal(loadProfile("arm64-mobile").machine.arch, "arm64");
});

test("a profile that breaks the format is refused with the reason", () => {
  const good = JSON.parse(JSON.stringify(loadProfile("x86_64-server"))) as Record<string, unknown>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form mutations of a JSON document
  type Json = any;
  const bad = (mut: (p: Json) => void, re: RegExp): void => {
    const p = JSON.parse(JSON.stringify(good)) as Json;
    mut(p);
    assert.throws(
      () => validateProfile(p, "t"),
      (e: unknown) => e instanceof ProfileError && re.test(e.message),
    );
  };
  bad((p) => (p.version = 2), /version/);
  bad(
    (p) => (p.constants.noSuchCounter = { ns: 1, source: { kind: "derivation", detail: "x".repeat(20) } }),
    /not a work counter/,
  );
  bad((p) => delete p.constants.pteWritten.source, /no source/);
  bad((p) => (p.constants.pteWritten.source.kind = "guess"), /kind/);
  bad((p) => (p.constants.pteWritten.ns = -1), /ns/);
  bad((p) => (p.machine.arch = "riscv64"), /arch/);
  assert.throws(() => loadProfile("no-such-profile"), ProfileError);
});

test("the engine is linear: Σ count × ns, per counter", () => {
  const p = flatProfile("x86_64", { memmapPagesInit: 10, pagesToBuddy: 5, uevents: 1000 });
  // onlining one 128 MiB block: 32768 struct pages initialised and freed, one uevent
  const c = costOf({ memmapPagesInit: 32768, pagesToBuddy: 32768, uevents: 1 }, p);
  assert.equal(c.ns, 32768 * 10 + 32768 * 5 + 1000);
  assert.equal(c.byKey.memmapPagesInit, 327680);
  const a = { pteWritten: 7, tlbFlushAll: 2 };
  const b = { pteWritten: 5, sysfsFiles: 3 };
  assert.equal(costOf(addCounts(a, b), p).ns, costOf(a, p).ns + costOf(b, p).ns);
  assert.equal(costOf({}, p).ns, 0);
  assert.equal(formatNs(1_234_000), "1.23 ms");
  assert.equal(formatNs(950), "950 ns");
});

test("work is attributed to the innermost bench phase of the open kernel functions", () => {
  assert.equal(
    benchPhaseOf(["offline_and_remove_memory", "device_offline", "offline_pages"], undefined),
    "offline",
  );
  assert.equal(
    benchPhaseOf(["offline_and_remove_memory", "arch_remove_memory", "__remove_pages"], undefined),
    "depopulate/remove",
  );
  assert.equal(benchPhaseOf(["offline_and_remove_memory"], undefined), "depopulate/remove");
  // auto-onlining inside add_memory_resource(): the onlining is online work
  assert.equal(benchPhaseOf(["arch_add_memory"], undefined), "populate/add");
  assert.equal(
    benchPhaseOf(["create_memory_block_devices", "device_online", "online_pages"], undefined),
    "online",
  );
  assert.equal(benchPhaseOf(["undo offline_and_depopulate_memory"], undefined), "depopulate/remove");
  // RFC v2: the offline inside offline_and_depopulate_memory() is offline work, the rest depopulate
  assert.equal(benchPhaseOf(["offline_and_depopulate_memory", "device_offline"], undefined), "offline");
  assert.equal(benchPhaseOf(["populate_and_online_memory", "device_online"], undefined), "online");
  assert.equal(benchPhaseOf(["populate_and_online_memory"], undefined), "populate/add");
  assert.equal(benchPhaseOf(["shrink_zone_span"], "online"), "online");
  assert.equal(benchPhaseOf([], undefined), undefined);

  const w = new Work();
  const rec = new PhaseRecorder(w);
  w.withPhase("offline_pages", () => w.add("pagesIsolated", 512));
  rec.during("populate/add", () => w.add("resourcesRequested")); // no marker open: the fallback
  w.add("pagesScanned", 3); // nothing open, no fallback
  rec.close();
  w.withPhase("online_pages", () => w.add("memmapPagesInit", 9)); // after close(): not seen
  assert.deepEqual(rec.counts.offline, { pagesIsolated: 512 });
  assert.deepEqual(rec.counts["populate/add"], { resourcesRequested: 1 });
  assert.deepEqual(rec.unattributed, { pagesScanned: 3 });
  assert.deepEqual(rec.counts.online, {});
});

test("bench: remove + add of 256 MiB of driver-managed memory, phase by phase", () => {
  const p = flatProfile("x86_64");
  const r = runStrategyBench(p, "remove", BENCH_SCENARIOS.idle, 2, 1, {
    bootBytes: GiB,
    driverBytes: 256 * MiB,
  });
  assert.ok(r.ok, r.errors.join("; "));
  assert.equal(r.cycles, 2);
  const ph = r.phases;
  // two 128 MiB blocks: 2 × 32768 struct pages initialised and freed to the buddy when onlined
  assert.equal(ph.online.counts.memmapPagesInit, 2 * 32768);
  assert.equal(ph.online.counts.pagesToBuddy, 2 * 32768);
  assert.equal(ph.offline.counts.synchronizeRcuExpedited, 2); // one lru_cache_disable() per offline_pages()
  assert.equal(ph.offline.counts.cpusReached, 2 * 2 * 4); // drain_all_pages + lru_add_drain_all, 4 CPUs
  assert.equal(ph["depopulate/remove"].counts.memoryBlocksUnregistered, 2);
  assert.equal(ph["depopulate/remove"].counts.sectionsDeactivated, 2);
  assert.equal(ph["depopulate/remove"].counts.resourcesReleased, 1);
  assert.equal(ph["populate/add"].counts.memoryBlocksRegistered, 2);
  assert.equal(ph["populate/add"].counts.sectionsActivated, 2);
  assert.equal(ph["populate/add"].counts.memmapPagesInit ?? 0, 0); // adding does not initialise the memmap
  // every counter costs 1 ns in this profile: a phase's time is the sum of its counts
  const sum = (c: Record<string, number>): number => Object.values(c).reduce((a, b) => a + b, 0);
  for (const x of Object.values(ph)) assert.equal(x.meanNs, sum(x.counts));
  assert.equal(r.downNs, ph.offline.meanNs + ph["depopulate/remove"].meanNs);
  // nothing is kept while the memory is off, nothing mapped; but nothing
  // cleaned the data cache over it either (removal does not): each power-off
  // finds dirty lines over the 65536 pages (docs/rfc-v2.md's dirty-cache)
  assert.equal(r.kept.memoryBlocks, 0);
  assert.equal(r.kept.memmapPages, 0);
  assert.equal(r.kept.presentSections, 0);
  assert.equal(r.exposure.verdict, "accessed");
  assert.deepEqual(r.exposure.findings, { "dirty-cache": 2 * 65536 });
});

test("bench: the RFC keeps the memmap and the devices, 'offline only' keeps the mapping too", () => {
  const m = { bootBytes: GiB, driverBytes: 256 * MiB };
  const p = flatProfile("arm64");
  const dep = runStrategyBench(p, "depopulate", BENCH_SCENARIOS.idle, 1, 1, m);
  assert.ok(dep.ok, dep.errors.join("; "));
  // 65536 struct pages × 64 B = 4 MiB = 1024 pages of vmemmap, two devices, one resource
  assert.equal(dep.kept.memmapPages, 1024);
  assert.equal(dep.kept.memoryBlocks, 2);
  assert.equal(dep.kept.systemRamResources, 1);
  assert.equal(dep.exposure.verdict, "clean");
  // depopulate on arm64 rodata=full clears 65536 PTEs; populate writes them again
  assert.equal(dep.phases["depopulate/remove"].counts.pteCleared, 65536);
  assert.equal(dep.phases["populate/add"].counts.pteWritten, 65536);
  const off = runStrategyBench(p, "offline", BENCH_SCENARIOS.idle, 1, 1, m);
  assert.equal(off.exposure.verdict, "exposed");
  // the linear map's tables are kept as well: 128 PTE tables, and the PMD
  // table that holds only them (the 1 GiB slot at 2 GiB has nothing else)
  assert.equal(off.kept.tablePages - dep.kept.tablePages, 128 + 1);
});

test("sweep: one block plugged and unplugged through virtio-mem", () => {
  const pt = runSweepPoint(flatProfile("x86_64"), 128 * MiB, 128 * MiB, 1);
  assert.equal(pt.plugErr, "ok");
  assert.equal(pt.unplugErr, "ok");
  assert.equal(pt.blocks, 1);
  assert.equal(pt.plugCounts.sectionsActivated, 1);
  assert.equal(pt.plugCounts.memmapPagesInit, 32768); // auto-onlined
  assert.equal(pt.unplugCounts.sectionsDeactivated, 1);
  assert.equal(pt.unplugCounts.memoryBlocksUnregistered, 1);
  assert.ok(pt.plug.online > 0 && pt.plug["populate/add"] > 0);
  assert.ok(pt.unplug.offline > 0 && pt.unplug["depopulate/remove"] > 0);
  assert.equal(pt.plug.offline, 0);
});

test("the report prints, charts and serialises", async () => {
  const r = runBench({
    profiles: [flatProfile("x86_64")],
    strategies: ["offline", "depopulate"],
    scenarios: [BENCH_SCENARIOS.idle],
    cycles: 1,
    seed: 1,
    machine: { bootBytes: GiB, driverBytes: 256 * MiB },
    sweepSizes: [128 * MiB, 256 * MiB],
  });
  assert.equal(r.runs.length, 2);
  assert.equal(r.sweep?.points.length, 2);
  const text = formatBench(r);
  assert.match(text, /offline only/);
  assert.match(text, /RFC depopulate/);
  assert.match(text, /256 MiB/);
  const svg = await strategiesSvg(r);
  assert.ok(svg?.startsWith("<svg"));
  assert.match(svg ?? "", /RFC depopulate/);
  const sw = await sweepSvg(r);
  assert.ok(sw?.startsWith("<svg"));
  const back = JSON.parse(JSON.stringify(r)) as typeof r;
  assert.equal(back.runs[1].strategy, "depopulate");
});

test("the function_graph parser rebuilds the call tree with durations", () => {
  const text = [
    "# tracer: function_graph",
    "#",
    " 0)               |  online_pages() {",
    " 0) + 12.500 us   |    move_pfn_range_to_zone();",
    " 0)               |    generic_online_page() {",
    " 0)   3.250 us    |    } /* generic_online_page */",
    " 0)   2.000 us    |    generic_online_page();",
    " 0) ! 120.125 us  |  } /* online_pages */",
    " 0) # 1500.0 us   |  offline_pages();",
  ].join("\n");
  const calls = parseFunctionGraph(text);
  assert.equal(calls.length, 2);
  assert.equal(calls[0].fn, "online_pages");
  assert.equal(calls[0].us, 120.125);
  assert.deepEqual(
    calls[0].children.map((c) => [c.fn, c.us]),
    [
      ["move_pfn_range_to_zone", 12.5],
      ["generic_online_page", 3.25],
      ["generic_online_page", 2],
    ],
  );
  assert.equal(timeOf(calls, "generic_online_page"), 5.25);
  assert.equal(timeOf(calls, "offline_pages"), 1500);
});

test("Work.observe() sees every add with the open phases, until it stops", () => {
  const w = new Work();
  const seen: string[] = [];
  const stop = w.observe((key, n, phases) => seen.push(`${key}:${n}:${phases.join(">")}`));
  w.withPhase("a", () => w.withPhase("b", () => w.add("pteWritten", 3)));
  w.add("uevents");
  stop();
  w.add("uevents");
  assert.deepEqual(seen, ["pteWritten:3:a>b", "uevents:1:"]);
  assert.equal(w.byPhase.get("b")?.pteWritten, 3);
});

test("docs/cost-model.md lists every constant of the shipped profiles with its source", async () => {
  const { readFileSync } = await import("node:fs");
  const { packagePath } = await import("../src/paths.js");
  const { constantsRows, tableRowsIn } = await import("../src/cost/doc.js");
  const md = readFileSync(packagePath("docs", "cost-model.md"), "utf8");
  for (const name of BUILTIN_PROFILES) {
    // regenerate with fillConstantsTables() (src/cost/doc.ts), then prettier --write
    assert.deepEqual(
      tableRowsIn(md, name),
      constantsRows(loadProfile(name)),
      `the table of ${name} is stale`,
    );
  }
});

test("validation compares shares of the cycle and of each operation, not times", async () => {
  const { validate } = await import("../src/cost/validate.js");
  type ModelSteps = import("../src/cost/validate.js").ModelSteps;
  const p = flatProfile("x86_64");
  const model: ModelSteps = {
    steps: [
      {
        step: "dimm-add",
        counts: { "(statement)": { pteWritten: 100 }, arch_add_memory: { pteWritten: 80 } },
      },
      {
        step: "online",
        counts: { online_pages: { memmapPagesInit: 200 }, move_pfn_range_to_zone: { memmapPagesInit: 150 } },
      },
      { step: "offline", counts: { offline_pages: { pagesScanned: 100 } } },
      { step: "dimm-del", counts: { "(statement)": { pteCleared: 100 } } },
    ],
  };
  const us = (o: Record<string, number>) => o;
  const m = {
    arch: "x86_64" as const,
    kernel: "6.1",
    qemu: "test",
    reps: 2,
    runs: [0, 1].map(() => [
      { step: "dimm-add", us: us({ add_memory_resource: 1000, arch_add_memory: 900 }) },
      { step: "online", us: us({ online_pages: 1000, move_pfn_range_to_zone: 500 }) },
      { step: "offline", us: us({ offline_pages: 1000 }) },
      { step: "dimm-del", us: us({ try_remove_memory: 1000 }) },
    ]),
  };
  const v = validate(p, model, m);
  const row = (what: string) => v.rows.find((r) => r.what.startsWith(what));
  // predicted cycle: 100 + 200 + 100 + 100 ns; measured: 4 × 1000 µs
  assert.equal(row("online")?.predicted, 200 / 500);
  assert.equal(row("online")?.measured, 0.25);
  assert.ok(Math.abs((row("online")?.error ?? 0) - 0.6) < 1e-9);
  assert.equal(row("arch_add_memory")?.predicted, 0.8);
  assert.equal(row("arch_add_memory")?.measured, 0.9);
  assert.equal(row("move_pfn_range_to_zone")?.predicted, 0.75);
  assert.equal(row("move_pfn_range_to_zone")?.measured, 0.5);
});
