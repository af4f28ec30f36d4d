// memhp fuzz --oracle without QEMU: the generators write valid scenarios the real
// kernel can be asked (deterministically for a seed), the judge counts what it
// should, the fuzz-only divergence entries are read and do not leak into the
// corpus's list, and the shrinker finds a minimal scenario while keeping it
// valid. The live runs (real kernels) are a step of .ci/run of their own.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateStock } from "../src/fuzz/generate.js";
import { generateRfc, rfcV2Accepted } from "../src/fuzz/generate-rfc.js";
import {
  addFigures,
  campaignScenario,
  emptyFigures,
  formatFigures,
  problemsOf,
  rejudge,
  repair,
  saveRun,
  shrinkScenario,
  splitScenario,
  truncateAfter,
} from "../src/fuzz/oracle-campaign.js";
import { judge, runOnModel, differenceSignature } from "../src/fuzz/oracle.js";
import { listedProblem, loadFuzzDivergences, parseFuzzDivergences } from "../src/fuzz/oracle-divergences.js";
import { parseScenario } from "../src/scenario/parse.js";
import { parseDivergences } from "../src/scenario/divergences.js";
import { packagePath } from "../src/paths.js";
import type { Trace } from "../src/scenario/trace.js";

const STOCK_FORBIDDEN = /^(call|workload|hw-on|hw-off|audit)\b/;

describe("random scenarios for the real kernel", () => {
  it("stock scenarios parse, use only what Debian's kernel can be asked, and cover the statement kinds", () => {
    const seen = new Set<string>();
    const archs = new Set<string>();
    for (let seed = 1; seed <= 60; seed++) {
      const g = generateStock(seed);
      const sc = parseScenario(g.text, `s${seed}.mhp`);
      archs.add(sc.machine.arch);
      assert.equal(sc.body.length, 14, `seed ${seed}: 14 statements`);
      assert.ok(sc.machine.memBytes <= 2 * 2 ** 30, "machines that boot quickly");
      for (const st of sc.body) {
        const line = g.text.split("\n")[st.loc.line - 1];
        assert.doesNotMatch(line, STOCK_FORBIDDEN, `seed ${seed}: ${line}`);
        seen.add(st.op === "write" ? `write ${line.split(" ")[1].split("/").pop()}` : st.op);
      }
      if (sc.vmems.length) seen.add("vmem");
      if (sc.cmdline.length) seen.add("cmdline");
    }
    assert.deepEqual([...archs].sort(), ["arm64", "x86_64"]);
    for (const k of [
      "dimm-add",
      "dimm-del",
      "vmem-resize",
      "vmem",
      "cmdline",
      "write state",
      "write online",
      "write auto_online_blocks",
      "read",
      "ls",
      "ptdump",
    ])
      assert.ok(seen.has(k), `some scenario has ${k}`);
  });

  it("a seed names one scenario", () => {
    assert.equal(generateStock(77).text, generateStock(77).text);
    assert.notEqual(generateStock(77).text, generateStock(78).text);
    assert.equal(generateRfc(77).text, generateRfc(77).text);
    assert.deepEqual(campaignScenario(5, 3, {}), campaignScenario(5, 3, {}));
    assert.equal(campaignScenario(5, 0, {}).arch, "x86_64");
    assert.equal(campaignScenario(5, 1, {}).arch, "arm64");
  });

  it("--release puts the machines on that release: the scenarios parse as it, the same seed otherwise", () => {
    for (const version of ["6.12", "7.2"] as const)
      for (const kernel of ["stock", "patched"] as const)
        for (const i of [0, 1]) {
          const c = campaignScenario(5, i, { kernel, version });
          const sc = parseScenario(c.text, "v.mhp");
          assert.equal(sc.machine.kernel, version, c.text.split("\n")[0]);
          assert.equal(sc.machine.rfc !== undefined, kernel === "patched");
          assert.equal(c.name, campaignScenario(5, i, { kernel }).name);
        }
    // 6.1, the default, writes no kernel= word
    assert.doesNotMatch(campaignScenario(5, 0, { kernel: "patched", version: "6.1" }).text, /kernel=/);
  });

  it("--cpu gives the arm64 machines that CPU and changes nothing else", () => {
    for (const i of [0, 1]) {
      const plain = campaignScenario(7201, i, { version: "7.2" });
      const v3 = campaignScenario(7201, i, { version: "7.2", cpu: "neoverse-v3" });
      const sc = parseScenario(v3.text, "c.mhp");
      assert.equal(sc.machine.cpu, sc.machine.arch === "arm64" ? "neoverse-v3" : undefined);
      assert.equal(v3.name, plain.name);
      if (sc.machine.arch === "x86_64") assert.equal(v3.text, plain.text);
    }
    // the series' builds too, and there the paths the CPU changes: a GiB added
    // at once and unmapped allocations of pageblocks (which the series splits
    // leaves for); x86_64 machines are as without --cpu
    let gib = 0;
    let unmapped = 0;
    for (let i = 0; i < 12; i++) {
      const v3 = campaignScenario(7203, i, { kernel: "patched", version: "7.2", cpu: "neoverse-v3" });
      const plain = campaignScenario(7203, i, { kernel: "patched", version: "7.2" });
      const sc = parseScenario(v3.text, "p.mhp");
      if (sc.machine.arch === "x86_64") {
        assert.equal(v3.text, plain.text);
        continue;
      }
      assert.equal(sc.machine.cpu, "neoverse-v3");
      if (/add_memory_driver_managed 0x\w+ 1G/.test(v3.text)) gib++;
      if (/alloc_contig_range_unmapped/.test(v3.text)) unmapped++;
    }
    assert.ok(gib > 0 && unmapped > 0, `GiB adds in ${gib}, unmapped allocations in ${unmapped} of 6`);
  });

  it("RFC scenarios call the RFC's API on memory the test module added", () => {
    const fns = new Map<string, number>();
    let rodataOff = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const g = generateRfc(seed);
      const sc = parseScenario(g.text, `r${seed}.mhp`);
      assert.equal(sc.vmems.length, 0, "no virtio-mem: the raw DIMM has the device region");
      if (sc.cmdline.includes("rodata=off")) rodataOff++;
      for (const st of sc.body) {
        assert.notEqual(st.op, "dimm-add");
        if (st.op === "call") fns.set(st.fn, (fns.get(st.fn) ?? 0) + 1);
      }
      const first = sc.body.find((s) => s.op === "call");
      assert.ok(first && first.op === "call" && first.fn === "add_memory_driver_managed", "memory first");
    }
    for (const fn of [
      "add_memory_driver_managed",
      "depopulate_range_driver_managed",
      "populate_range_driver_managed",
      "remove_memory",
    ])
      assert.ok((fns.get(fn) ?? 0) > 5, `${fn} is called (${fns.get(fn) ?? 0})`);
    assert.ok(rodataOff > 0, "arm64 with rodata=off too");
  });

  it("several adds in one GiB, and v2's words when the model takes rfc=v2", () => {
    let sameGib = false;
    for (let seed = 1; seed <= 40 && !sameGib; seed++) {
      const starts = [...generateRfc(seed).text.matchAll(/add_memory_driver_managed (0x[0-9a-f]+)/g)].map(
        (m) => Math.floor(Number(m[1]) / 2 ** 30),
      );
      sameGib = starts.some((g, i) => starts.indexOf(g) !== i);
    }
    assert.ok(sameGib);
    const text = Array.from({ length: 20 }, (_, i) => generateRfc(i + 1, { v2: rfcV2Accepted() }).text).join(
      "",
    );
    if (rfcV2Accepted()) {
      assert.match(text, /rfc=v2/);
      assert.match(text, /owner=\d/);
      assert.match(
        text,
        /populate_range_driver_managed \S+ \S+( owner=\d)? (online|online_movable|online_kernel|offline)\n/,
      );
    } else assert.doesNotMatch(text, /owner=|rfc=v2/);
  });
});

const MACHINE = "machine x86_64 mem=1G maxmem=3G\nboot\n";

describe("judging one run", () => {
  const sc = parseScenario(
    MACHINE +
      "dimm-add d0 size=128M\nread /sys/devices/system/memory/memory32/state\nls /sys/devices/system/memory\n",
    "j.mhp",
  );
  const model = runOnModel(sc);
  const divs = loadFuzzDivergences().divergences;

  it("identical traces agree on every statement", () => {
    const v = judge("fuzz-x", sc, model.trace, model.trace, divs);
    assert.deepEqual([v.statements, v.compared, v.agreeing, v.covered, v.uncovered], [3, 3, 3, 0, 0]);
  });

  it("a changed answer is a statement not covered, with a signature without numbers", () => {
    const kernel: Trace = JSON.parse(JSON.stringify(model.trace)) as Trace;
    (kernel.records[1] as { value: string }).value = "online";
    const v = judge("fuzz-x", sc, model.trace, kernel, divs);
    assert.deepEqual([v.compared, v.agreeing, v.uncovered], [3, 2, 1]);
    assert.equal(
      differenceSignature(v.unexplained[0]),
      "read /sys/devices/system/memory/memoryN/state [exact] value",
    );
    const p = problemsOf(v, { trace: kernel, outcome: "ok", warnings: [] }, model);
    assert.equal(p.length, 1);
    assert.equal(p[0].kind, "uncovered");
  });

  it("a fuzz entry with values covers only the answers it names", () => {
    const entry = {
      id: "fuzz-state",
      title: "t",
      block: 1,
      match: { op: "read", rule: "exact", item: "^value$", values: { a: '^"offline"$', b: '^"online"$' } },
    };
    const kernel: Trace = JSON.parse(JSON.stringify(model.trace)) as Trace;
    const rec = kernel.records[1] as { value: string };
    assert.equal((model.trace.records[1] as { value: string }).value, "offline");
    rec.value = "online";
    let v = judge("fuzz-x", sc, model.trace, kernel, [...divs, entry]);
    assert.deepEqual([v.uncovered, v.covered, v.explained.get("fuzz-state")?.length], [0, 1, 1]);
    rec.value = "online_movable";
    v = judge("fuzz-x", sc, model.trace, kernel, [...divs, entry]);
    assert.deepEqual([v.uncovered, v.covered], [1, 0]);
  });

  it("where the kernel stopped, only what both sides reached is compared; the crash is the problem", () => {
    const kernel: Trace = { header: model.trace.header, records: model.trace.records.slice(0, 1) };
    const v = judge("fuzz-x", sc, model.trace, kernel, divs);
    assert.deepEqual([v.compared, v.agreeing, v.uncovered], [1, 1, 0]);
    const p = problemsOf(
      v,
      {
        trace: kernel,
        outcome: "crash",
        detail: "line 4:\n[   12.5] kernel BUG at mm/memory_hotplug.c:2104!",
        warnings: [],
      },
      model,
    );
    assert.deepEqual(
      p.map((x) => x.signature),
      ["crash: kernel BUG at mm/memory_hotplug.c:N!"],
    );
    const f = emptyFigures();
    addFigures(f, {
      name: "fuzz-x",
      arch: "x86_64",
      text: "",
      verdict: v,
      kernel: { trace: kernel, outcome: "crash", warnings: [] },
      model,
      problems: p,
    });
    assert.match(
      formatFigures(f),
      /1 scenarios, 1 statements compared \(of 3\): 1 agree, 0 covered .* 0 not covered; 1 kernel crashes/,
    );
  });
});

describe("runs kept with --traces", () => {
  it("are judged again without QEMU", () => {
    const dir = mkdtempSync(join(tmpdir(), "memhp-fuzz-oracle-"));
    try {
      const text = generateStock(9).text;
      const sc = parseScenario(text, "k.mhp");
      const model = runOnModel(sc);
      const kernelTrace: Trace = JSON.parse(JSON.stringify(model.trace)) as Trace;
      const v = judge("fuzz-k", sc, model.trace, kernelTrace, []);
      const kernel = { trace: kernelTrace, outcome: "ok" as const, warnings: [] };
      saveRun(
        dir,
        { name: "fuzz-k", arch: sc.machine.arch, text, verdict: v, kernel, model, problems: [] },
        "stock",
      );
      const r = rejudge(dir);
      assert.equal(r.figures.scenarios, 1);
      assert.equal(r.figures.agreeing, sc.body.length);
      assert.equal(r.unlisted, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a patched 7.2 run is kept under the name the corpus gives its traces, and judged again", () => {
    const dir = mkdtempSync(join(tmpdir(), "memhp-fuzz-oracle-"));
    try {
      const c = campaignScenario(11, 1, { kernel: "patched", version: "7.2" });
      const sc = parseScenario(c.text, "k.mhp");
      const model = runOnModel(sc);
      const kernelTrace: Trace = JSON.parse(JSON.stringify(model.trace)) as Trace;
      const v = judge(c.name, sc, model.trace, kernelTrace, []);
      const kernel = { trace: kernelTrace, outcome: "ok" as const, warnings: [] };
      saveRun(
        dir,
        {
          name: c.name,
          arch: c.arch,
          version: sc.machine.kernel,
          text: c.text,
          verdict: v,
          kernel,
          model,
          problems: [],
        },
        "patched",
      );
      assert.ok(existsSync(join(dir, `${c.name}.linux-patched-7.2-arm64.jsonl`)));
      const r = rejudge(dir);
      assert.equal(r.figures.scenarios, 1);
      assert.equal(r.figures.agreeing, sc.body.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the fuzz section of docs/divergences.md", () => {
  const text = [
    "## a-b: corpus entry",
    "```match",
    '{ "rule": "exact", "item": "^result$" }',
    "```",
    "# Random scenarios on the real kernel",
    "### fuzz-one: a difference only random scenarios show",
    "```fuzz-match",
    '{ "rule": "meminfo-delta", "item": "^MemFree$" }',
    "```",
    "### fuzz-two: a known crash",
    "```fuzz-match",
    '{ "problem": "^crash: kernel BUG at mm/memory_hotplug\\\\.c" }',
    "```",
  ].join("\n");

  it("is read by the fuzzer and not by the corpus", () => {
    assert.deepEqual(
      parseDivergences(text).map((d) => d.id),
      ["a-b"],
    );
    const f = parseFuzzDivergences(text);
    assert.deepEqual(
      f.map((d) => d.id),
      ["fuzz-one", "fuzz-two"],
    );
    assert.equal(listedProblem(f, "crash: kernel BUG at mm/memory_hotplug.c:N!")?.id, "fuzz-two");
    assert.equal(listedProblem(f, "crash: Oops"), undefined);
  });

  it("the real file parses", () => {
    const j = loadFuzzDivergences();
    assert.ok(
      j.divergences.length >=
        parseDivergences(readFileSync(packagePath("docs", "divergences.md"), "utf8")).length,
    );
  });
});

describe("shrinking", () => {
  const text =
    MACHINE.replace("boot", "cmdline memhp_default_state=online\nboot") +
    [
      "dimm-add d0 size=128M",
      "read /proc/iomem",
      "dimm-add d1 size=256M",
      "write /sys/devices/system/memory/memory32/state offline",
      "ls /sys/devices/system/memory",
      "dimm-del d1",
      "read /sys/devices/system/memory/memory32/state",
      "dimm-del d0",
    ].join("\n") +
    "\n";

  it("repair drops what depends on a dropped statement", () => {
    const { header, body } = splitScenario(text);
    assert.equal(header.at(-1), "boot");
    const without = body.filter((l) => l !== "dimm-add d1 size=256M");
    assert.deepEqual(
      repair(header, without),
      without.filter((l) => l !== "dimm-del d1"),
    );
  });

  it("finds the two statements a failure needs, keeps the machine and drops the rest", async () => {
    let runs = 0;
    const fails = async (t: string) => {
      runs++;
      parseScenario(t, "cand.mhp"); // every candidate is valid
      return t.includes("memory32/state offline") && t.includes("dimm-del d0");
    };
    const r = await shrinkScenario(text, fails, 100);
    assert.equal(
      r.text,
      MACHINE +
        "dimm-add d0 size=128M\nwrite /sys/devices/system/memory/memory32/state offline\ndimm-del d0\n",
    );
    assert.equal(r.replays, runs);
  });

  it("a difference at line L needs nothing after L", () => {
    const t = truncateAfter(text, 4);
    assert.equal(t.split("\n").filter(Boolean).at(-1), "dimm-add d0 size=128M");
    assert.equal(parseScenario(t, "t.mhp").body.length, 1);
  });

  it("stops at its budget", async () => {
    const r = await shrinkScenario(text, () => Promise.resolve(false), 3);
    assert.equal(r.replays, 3);
    assert.equal(r.text, text);
  });
});
