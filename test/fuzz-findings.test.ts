// What the campaign of random scenarios on the real kernel found and the model
// now does as the kernel does (docs/divergences.md, "Random scenarios on the real
// kernel"). Each fixture under test/fixtures/fuzz-findings/ is a minimal
// scenario `memhp fuzz --oracle` saved with Debian 6.1's trace of it; the model
// is run on it and judged as the fuzzer judges (docs/divergences.md with its
// fuzz-only entries), and the statements the finding was about must agree.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { judge, runOnModel } from "../src/fuzz/oracle.js";
import { loadFuzzDivergences } from "../src/fuzz/oracle-divergences.js";
import { parseScenario } from "../src/scenario/parse.js";
import { readTrace } from "../src/scenario/trace.js";

const DIR = new URL("../../test/fixtures/fuzz-findings/", import.meta.url).pathname;
const divs = loadFuzzDivergences().divergences;

function verdictOf(name: string) {
  const text = readFileSync(join(DIR, `${name}.mhp`), "utf8");
  const sc = parseScenario(text, `${name}.mhp`);
  const kernel = readTrace(readFileSync(join(DIR, `${name}.linux-${sc.machine.arch}.jsonl`), "utf8"));
  const model = runOnModel(sc);
  assert.equal(model.failure, undefined);
  return { sc, model, kernel, v: judge(name, sc, model.trace, kernel, divs) };
}

/** The record of the statement at `line`, as JSON without the fields not compared. */
const at = (records: readonly object[], line: number) => {
  const r = records.find((x) => (x as { line: number }).line === line) as Record<string, unknown>;
  assert.ok(r, `no record of line ${line}`);
  const { reason: _reason, settled: _settled, ...rest } = r;
  return rest;
};

describe("a DIMM the guest refuses (fuzz-dimm-refused-by-guest)", () => {
  // A 64 MiB DIMM (half a memory block) fails the guest's
  // check_hotplug_memory_range(); QEMU's device_add has succeeded, the ACPI
  // device stays enumerated without a driver, its eject succeeds and frees the
  // DIMM's address range for the next DIMM.
  it("x86_64: the eject succeeds and the next DIMM takes the range (iomem)", () => {
    const { v, model, kernel } = verdictOf("fuzz-x86_64-dimm-refused-iomem");
    for (const line of [4, 12, 13]) assert.deepEqual(at(model.trace.records, line), at(kernel.records, line));
    // /proc/iomem: its System RAM lines are what is compared
    const ram = (records: readonly object[]) =>
      String(at(records, 17).value)
        .split("\n")
        .filter((l) => l.endsWith(": System RAM"));
    assert.deepEqual(ram(model.trace.records), ram(kernel.records));
    assert.ok(ram(model.trace.records).includes("100000000-10fffffff : System RAM"));
    assert.equal(v.compared, v.statements);
    assert.deepEqual(v.unexplained, []);
  });

  it("x86_64: the blocks of later DIMMs are the kernel's (ls)", () => {
    const { v, model, kernel } = verdictOf("fuzz-x86_64-dimm-refused-ls");
    for (const line of [5, 10, 12, 14, 18])
      assert.deepEqual(at(model.trace.records, line), at(kernel.records, line));
    assert.equal(v.compared, v.statements);
    assert.deepEqual(v.unexplained, []);
  });

  it("arm64: a refused DIMM, then one the guest takes (MemTotal, ZONE_MOVABLE)", () => {
    const { v, model, kernel } = verdictOf("fuzz-arm64-dimm-refused-memtotal");
    for (const line of [4, 9, 10, 11, 12, 14])
      assert.deepEqual(at(model.trace.records, line), at(kernel.records, line));
    assert.equal(v.compared, v.statements);
    // the first free pages of line 15 are fuzz-first-free-reading's
    assert.deepEqual(v.unexplained, []);
    assert.ok((v.explained.get("fuzz-first-free-reading") ?? []).every((d) => d.line === 15));
  });

  it("the refused add leaves the host's DIMM placed and the guest without memory", () => {
    const { sc, model } = verdictOf("fuzz-x86_64-dimm-refused-iomem");
    const add = model.trace.records.find((r) => r.line === sc.body[0].loc.line) as Record<string, unknown>;
    assert.equal(add.result, "ok");
    assert.deepEqual(add.blocks, { added: [], removed: [] });
    assert.match(String(add.reason), /the guest refused the device \(EINVAL\)/);
  });
});
