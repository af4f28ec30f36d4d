// `memhp bench --validate-power` (src/cost/validate-power.ts) without QEMU: the
// model's side of the comparison, which kinds a kernel build has, and the table
// built from a measurement.

import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { profileForArch } from "../src/cost/demo-times.js";
import {
  POWER_KINDS,
  formatPowerValidation,
  kernelKinds,
  powerLines,
  powerRows,
  predictPowerCycles,
  predictPowerSequence,
  type PowerMeasurementRun,
} from "../src/cost/validate-power.js";

describe("--validate-power: the model's prediction", () => {
  const pred = predictPowerCycles("x86_64", POWER_KINDS, profileForArch("x86_64"));
  const by = Object.fromEntries(pred.map((p) => [p.kind, p]));

  it("fills the range as the guest does, the same for every kind", () => {
    for (const p of pred) {
      assert.equal(p.filledPages, (768 * 2 ** 20) / 4096);
      assert.ok(p.movableUsedPages >= p.filledPages, `${p.kind}: the user pages went to ZONE_MOVABLE first`);
      assert.equal(p.movableUsedPages, pred[0].movableUsedPages);
    }
  });

  it("one pass migrates each used page once; block by block migrates pages more than once", () => {
    // every page in use in the range moves (the workload's and the background's)
    assert.ok(by["rfc-whole"].migrated >= by["rfc-whole"].filledPages);
    assert.ok(by["rfc-whole"].migrated <= by["rfc-whole"].movableUsedPages);
    assert.equal(by.unmapped.migrated, by["rfc-whole"].migrated);
    // remove + add offlines block by block too (device_offline() of each block)
    assert.equal(by["remove-add"].migrated, by["rfc-block"].migrated);
    assert.ok(by["rfc-block"].migrated > by["rfc-whole"].migrated * 1.2);
    assert.ok(by["rfc-block"].downNs > by["rfc-whole"].downNs);
  });

  it("in the kernel's sequence, where the pages land depends on the cycle before (as the kernel showed)", () => {
    // measured on the issue 18 kernel (x86_64, TCG): pgmigrate_success 261,911,
    // 196,939, 196,937 and 196,940 in this order; remove + add after the
    // unmapped allocation migrated each page once, block by block or not
    const seq = predictPowerSequence(
      "x86_64",
      ["rfc-block", "rfc-whole", "unmapped", "remove-add"],
      profileForArch("x86_64"),
    );
    assert.equal(seq[0].migrated, by["rfc-block"].migrated);
    assert.equal(seq[3].migrated, seq[2].migrated, "remove + add after the unmapped allocation: once");
    assert.ok(by["remove-add"].migrated > seq[3].migrated, "on a fresh range: again and again");
  });

  it("uses the test module's words", () => {
    assert.deepEqual(powerLines("arm64", "rfc-whole").down, [
      "call depopulate_range_driver_managed 0x100000000 1G whole",
    ]);
    assert.deepEqual(powerLines("x86_64", "unmapped").up, ["call free_contig_range_unmapped 0x140000000 1G"]);
    assert.equal(powerLines("x86_64", "remove-add").up.length, 1 + 8);
  });

  it("a kernel without the issue 18 functions gets no row for them", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "memhp-vp-"));
    mkdirSync(path.join(dir, "linux-patched-x86_64"));
    writeFileSync(
      path.join(dir, "linux-patched-x86_64", "System.map"),
      "ffffffff81000000 T offline_and_depopulate_memory\n",
    );
    const k = kernelKinds("x86_64", POWER_KINDS, dir);
    assert.deepEqual(k.have, ["rfc-block", "remove-add"]);
    assert.deepEqual(
      k.skipped.map((s) => s.kind),
      ["rfc-whole", "unmapped"],
    );
    writeFileSync(
      path.join(dir, "linux-patched-x86_64", "System.map"),
      "ffffffff81000000 T offline_and_depopulate_memory_whole\nffffffff81000100 T alloc_contig_range_unmapped\n",
    );
    assert.deepEqual(kernelKinds("x86_64", POWER_KINDS, dir).have, [...POWER_KINDS]);
  });

  it("the table: ratios to remove + add, the error of each, the counter when there is one", () => {
    const mi = (free: number) => ({ MemTotal: 3_000_000, MemFree: free, DirectMap1G: 1_048_576 });
    const cyc = (down: number, up: number, migrated: number | undefined) => ({
      downMs: down,
      upMs: up,
      migratedDown: migrated,
      migratedUp: migrated === undefined ? undefined : 0,
      movableUsedPages: 200_000,
      memBefore: mi(1_000_000),
      memDown: mi(1_016_384),
      memAfter: mi(1_000_000),
    });
    const run: PowerMeasurementRun = {
      arch: "x86_64",
      release: "6.1.0-memhp",
      rows: [
        { kind: "rfc-block", cycles: [cyc(1000, 100, 250_000), cyc(1200, 100, 250_000)] },
        { kind: "remove-add", cycles: [cyc(1000, 200, undefined)] },
      ],
      order: ["rfc-block", "remove-add"],
      skipped: [{ kind: "unmapped", why: "no alloc_contig_range_unmapped()" }],
      nullMs: 0,
      nullReps: 20,
    };
    const rows = powerRows(pred, run, "x86_64-server");
    const rb = rows.find((r) => r.kind === "rfc-block")!;
    assert.equal(rb.measuredRatio, 1200 / 1200);
    assert.equal(rb.migrated, 250_000);
    assert.equal(rb.memFreeDownKb, 16_384);
    assert.equal(rows.find((r) => r.kind === "remove-add")!.migrated, undefined);
    const t = formatPowerValidation(rows, [run]);
    assert.match(t, /\| x86_64 \| RFC v2, block by block \| \d+ \/ 250000, 250000 \|/);
    assert.match(t, /remove \+ add \| \d+ \/ no counter/);
    assert.match(t, /unmapped allocation \| \d+ \/ not run/);
    assert.match(t, /unmapped allocation not measured: no alloc_contig_range_unmapped\(\)/);
  });
});
