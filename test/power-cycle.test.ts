// One power-cycle harness (src/drivers/memory/power_cycle.ts) behind `memhp
// demo` and `memhp bench`: their outputs are byte for byte the ones captured
// before the two commands shared it (test/fixtures/power-cycle/, written by the
// previous code at the same options; bench-small.* written again when the
// model's boot followed the machine's size, which moved its timings), and the harness calls its hooks in the
// order the commands rely on. Then the claim of issue 18: block-by-block
// offlining migrates the same pages again and again, and the whole-range
// variant does not.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { runBench, DEMO_MACHINE } from "../src/cost/bench.js";
import { formatBench } from "../src/cost/format.js";
import { loadProfile } from "../src/cost/profile.js";
import { bootDriverMachine, runPowerCycles } from "../src/drivers/memory/power_cycle.js";
import type { StrategyKind } from "../src/drivers/memory/strategies.js";
import { runStrategy, DEFAULT_DEMO } from "../src/cli/demo.js";
import { packagePath } from "../src/paths.js";
import { memhp } from "./support/memhp-cli.js";

const FIXTURES = packagePath("test", "fixtures", "power-cycle");
const fixture = (name: string): string => readFileSync(`${FIXTURES}/${name}`, "utf8");
/** the strategies there were when the fixtures were captured */
const OLD = "offline,remove,depopulate,memtrace,fake-offline";

describe("memhp demo and memhp bench share one cycle; their outputs are unchanged", () => {
  it("memhp demo --json (arm64, 512M of the driver's memory)", () => {
    const r = memhp([
      "demo",
      "--json",
      "--range",
      "512M",
      "--steps",
      "8,2,2",
      "--intensity",
      "256",
      "--strategy",
      OLD,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, fixture("demo-arm64.json"));
  });

  it("memhp demo, the table (x86_64, memmap_on_memory)", () => {
    const r = memhp([
      "demo",
      "--arch",
      "x86_64",
      "--memmap-on-memory",
      "--range",
      "256M",
      "--steps",
      "4,2,2",
      "--intensity",
      "128",
      "--strategy",
      OLD,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, fixture("demo-x86_64-mom.txt"));
  });

  it("memhp bench: the report and the table (both profiles, 2 cycles, a small workload)", () => {
    const r = runBench({
      profiles: [loadProfile("arm64-mobile"), loadProfile("x86_64-server")],
      strategies: OLD.split(",") as StrategyKind[],
      scenarios: [
        { name: "small", description: "a small workload (fixture)", steps: [8, 2, 2], intensity: 256 },
      ],
      cycles: 2,
      seed: 1,
      machine: DEMO_MACHINE,
      sweepSizes: [],
    });
    assert.equal(JSON.stringify(r, null, 2) + "\n", fixture("bench-small.json"));
    assert.equal(formatBench(r), fixture("bench-small.txt"));
  });
});

describe("the harness", () => {
  it("calls the hooks in order, and stops at a failed cycle", () => {
    const m = { arch: "x86_64" as const, bootBytes: 2 * 2 ** 30, driverBytes: 2 ** 30, seed: 1 };
    const { k, start } = bootDriverMachine(m, "test");
    const seen: string[] = [];
    const out = runPowerCycles(
      k,
      "depopulate",
      start,
      2 ** 30,
      { cycles: 2, workload: { steps: [2, 1, 1], intensity: 64 } },
      {
        ready: () => seen.push("ready"),
        cycleStart: (c) => seen.push(`start ${c}`),
        phase: (p, dir) => seen.push(`${dir} ${p.name}`),
        downDone: (d) => seen.push(`down ${d.err}`),
        whileOff: () => seen.push("off"),
        cycleEnd: (c, d, u) => seen.push(`end ${c} ${d.err} ${u?.err}`),
        after: () => seen.push("after"),
      },
    );
    const one = (c: number) => [
      `start ${c}`,
      "down offline_and_depopulate_memory",
      "down power-off",
      "down 0",
      "off",
      "up power-on",
      "up populate_and_online_memory",
      `end ${c} 0 0`,
      "after",
    ];
    assert.deepEqual(seen, ["ready", ...one(0), ...one(1)]);
    assert.equal(out.cycles, 2);
    // a failing power-down (a range that is not block-aligned) ends the run at once
    seen.length = 0;
    const bad = runPowerCycles(
      k,
      "depopulate",
      start + 4096,
      2 ** 30,
      { cycles: 3, workload: { steps: [0, 0, 0], intensity: 0 } },
      {
        cycleEnd: (c, d) => seen.push(`end ${c} ${d.err}`),
        after: () => seen.push("after"),
      },
    );
    assert.equal(bad.cycles, 1);
    assert.deepEqual(seen, [`end 0 ${bad.down.err}`]);
    assert.ok(bad.down.err < 0);
  });
});

describe("issue 18: what offlining block by block costs (the demo's machine, arm64)", () => {
  it("block by block migrates many times the pages the whole-range variant and the unmapped allocation migrate", () => {
    const o = {
      ...DEFAULT_DEMO,
      rangeBytes: 2 ** 30,
      driverBytes: 2 ** 30,
      steps: [16, 2, 2] as const,
      intensity: 512,
    };
    const migrated = (kind: StrategyKind): number => {
      const r = runStrategy(o, kind);
      assert.ok(r.correct, `${kind}: ${r.problems.join("; ")}`);
      return r.down.reduce((n, p) => n + (p.work.pagesMigrated ?? 0), 0);
    };
    const byBlock = migrated("depopulate");
    const whole = migrated("depopulate-whole");
    const unmapped = migrated("unmapped");
    assert.ok(whole > 0, "the range held pages to migrate");
    // one pass: each page of the range moves once, wherever it lands (the same
    // pages alloc_contig_range() moves)
    assert.equal(whole, unmapped);
    assert.equal(whole, migrated("memtrace"));
    // block by block: pages moved out of a block land in the next one, and move again
    assert.ok(byBlock > 2 * whole, `block by block ${byBlock}, whole range ${whole}`);
  });
});
