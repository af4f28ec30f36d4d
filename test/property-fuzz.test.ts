// The fuzzer's own machinery (src/fuzz/): what it generates parses and boots,
// what it runs is what `memhp run` runs for the saved file, its shrinker keeps a
// failure while dropping what does not matter, its regression files are found
// and replayed, and `memhp fuzz` prints what it promises and exits as it says.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { caseScenarioText, runCase } from "../src/fuzz/driver.js";
import { machineFromChoices, machineHeader } from "../src/fuzz/machine.js";
import { caseFromSeed, modelBugs, runCampaign } from "../src/fuzz/campaign.js";
import { failureSignature, replayText, shrinkLines } from "../src/fuzz/shrink.js";
import { KNOWN_BUG, regressionText, saveRegression } from "../src/fuzz/regression.js";
import { parseScenario } from "../src/scenario/parse.js";
import { runScenario } from "../src/scenario/run.js";
import { runMain } from "./support/capture.js";
import { Kernel } from "../src/kernel/kernel.js";
import { ZONE_MOVABLE } from "../src/mm/mmzone.js";
import { machineArb, opsArb } from "./fuzz-arbitraries.js";

describe("fuzz machinery", () => {
  it("every generated machine parses and boots with clean invariants", () => {
    fc.assert(
      fc.property(machineArb(), (mc) => {
        const m = machineFromChoices(mc);
        const sc = parseScenario(machineHeader(m).join("\n") + "\n", "m.mhp");
        assert.equal(sc.machine.arch, m.arch);
        assert.equal(sc.vmems.length, m.vmems.length);
        const r = runCase(m, []);
        assert.equal(r.failure, undefined, r.failure?.message);
      }),
      { seed: 3, numRuns: 60 },
    );
  });

  it("a case's lines, saved as a file, run in `memhp run` exactly as the fuzzer ran them", () => {
    fc.assert(
      fc.property(machineArb(), opsArb(40), (mc, ops) => {
        const m = machineFromChoices(mc);
        const seen: string[] = [];
        const r = runCase(m, ops, {
          afterStep: (k) => {
            seen.push(`${k.memory.blocks.size}/${k.alloc.siMeminfo().freeram}`);
            return undefined;
          },
        });
        // a failure may only be a known stock-kernel behaviour (src/fuzz/known.ts), never a model bug
        if (r.failure) {
          assert.ok(r.failure.behaviour, r.failure.message);
          return;
        }
        const text = caseScenarioText(m, r.lines);
        const sc = parseScenario(text, "case.mhp");
        assert.equal(sc.body.length, r.lines.length, "every line is one statement");
        const replayed: string[] = [];
        runScenario(sc, {
          checkInvariants: true,
          onRecord: (_rec, k) => {
            replayed.push(`${k.memory.blocks.size}/${k.alloc.siMeminfo().freeram}`);
          },
        });
        assert.deepEqual(replayed, seen, "the same state after every step");
      }),
      { seed: 4, numRuns: 25 },
    );
  });

  it("cases come from their seed alone", () => {
    const a = caseFromSeed(1234, 50);
    const b = caseFromSeed(1234, 50);
    assert.deepEqual(a, b);
    assert.notDeepEqual(caseFromSeed(1235, 50), a);
    assert.equal(caseFromSeed(99, 5, "arm64").machine.arch, "arm64");
  });

  it("the shrinker keeps the failure and drops what does not matter", () => {
    // The known-bug regression (a kernel BUG()) padded with statements that have nothing to do with it.
    const m = machineFromChoices({
      arch: 0,
      mem: 0,
      extra: 1,
      slots: 0,
      vmem0: 0,
      vmem1: 0,
      defaultState: 0,
      memmapOnMemory: 0,
      policy: 0,
      ratio: 0,
      movableNode: 0,
      rodata: 0,
      rfc: 0,
    });
    const noise = [
      "read /proc/meminfo",
      "workload 3",
      "write /sys/devices/system/memory/auto_online_blocks offline",
      "ls /sys/devices/system/memory",
    ];
    const lines = [
      ...noise,
      "call add_memory 0x100000000 0x8000000",
      ...noise,
      "dimm-add d0 size=2M",
      ...noise,
      "dimm-del d0",
    ];
    const f = replayText(caseScenarioText(m, lines));
    assert.ok(f && f !== "unparseable" && f.kind === "kernel-bug", JSON.stringify(f));
    const s = shrinkLines(m, lines, failureSignature(f));
    assert.deepEqual(s.lines, [
      "call add_memory 0x100000000 0x8000000",
      "dimm-add d0 size=2M",
      "dimm-del d0",
    ]);
  });

  it("regression files are written atomically, named by content, and replay", () => {
    const dir = mkdtempSync(join(tmpdir(), "memhp-reg-"));
    const { machine } = caseFromSeed(7, 0, "x86_64");
    const lines = ["read /proc/meminfo"];
    const text = regressionText(machine, lines, {
      foundBy: "a test",
      failure: { kind: "invariant", step: 0, message: "made up" },
      originalSteps: 9,
    });
    const file = saveRegression(text, machine.arch, dir);
    assert.equal(
      saveRegression(text.replace("a test", "another test"), machine.arch, dir),
      file,
      "same scenario, same file",
    );
    assert.deepEqual(readdirSync(dir), [file.slice(dir.length + 1)]);
    assert.match(
      readFileSync(file, "utf8"),
      /^# Regression found by a test; shrunk from 9 to 1 statements\./,
    );
    assert.equal(replayText(readFileSync(file, "utf8")), undefined);
    assert.ok(!text.includes(KNOWN_BUG));
  });

  it("a short campaign finds no model bug and counts its steps", () => {
    const r = runCampaign({ steps: 300, seed: 77, saveDir: false, opsPerCase: 60 });
    assert.ok(r.steps >= 300);
    assert.deepEqual(
      modelBugs(r.findings).map((f) => f.signature),
      [],
    );
  });
});

describe("memhp fuzz", () => {
  const io = runMain;

  it("runs the steps asked, prints its seed and result, exits 0 when nothing is found", async () => {
    const r = await io(["fuzz", "--steps", "150", "--seed", "5", "--ops", "50", "--no-save"]);
    assert.equal(r.code, 0, r.err + r.out);
    assert.match(r.err, /^memhp fuzz: seed 5, 150 steps/);
    assert.match(r.out, /memhp fuzz: \d+ steps in \d+ cases, [\d.]+ s, seed 5: nothing found/);
    const steps = Number(/: (\d+) steps/.exec(r.out)?.[1]);
    assert.ok(steps >= 150);
  });

  it("reruns one case by its seed", async () => {
    const r = await io(["fuzz", "--case-seed", "31337", "--ops", "30", "--no-save"]);
    assert.equal(r.code, 0, r.err + r.out);
    assert.match(r.out, /in 1 cases/);
  });

  it("finds a planted bug, shrinks it, saves it, prints it and exits 1", async () => {
    // Plant a bug: an "invariant" that no block may be online in ZONE_MOVABLE.
    const proto = Kernel.prototype as { checkInvariants(this: Kernel): string[] };
    const real = proto.checkInvariants;
    proto.checkInvariants = function (this: Kernel) {
      const v = real.call(this);
      for (const mem of this.memory.blocks.values())
        if (mem.zone === ZONE_MOVABLE) v.push(`planted: memory${mem.id} movable`);
      return v;
    };
    try {
      const dir = mkdtempSync(join(tmpdir(), "memhp-fuzz-"));
      const r = await io(["fuzz", "--steps", "200", "--ops", "80", "--seed", "2", "--out", dir]);
      assert.equal(r.code, 1, r.err + r.out);
      assert.match(r.out, /FOUND invariant: planted: memoryN movable/);
      assert.match(r.out, /case seed \d+/);
      const files = readdirSync(dir);
      assert.equal(files.length, 1);
      const text = readFileSync(join(dir, files[0]), "utf8");
      const body = text.split("\n").filter((l) => l && !l.startsWith("#"));
      const after = body.slice(body.indexOf("boot") + 1);
      assert.ok(after.length <= 3, `shrunk to ${after.length}: ${after.join("; ")}`);
      assert.match(
        r.out,
        new RegExp(`saved as ${join(dir, files[0]).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`),
      );
    } finally {
      proto.checkInvariants = real;
    }
  });

  it("refuses bad options with exit 2", async () => {
    for (const argv of [
      ["fuzz", "--steps", "-3"],
      ["fuzz", "--steps", "lots"],
      ["fuzz", "--arch", "riscv64"],
      ["fuzz", "--seed", "1.5"],
    ]) {
      const r = await io(argv);
      assert.equal(r.code, 2, argv.join(" "));
      assert.match(r.err, /memhp: --/);
    }
  });
});
