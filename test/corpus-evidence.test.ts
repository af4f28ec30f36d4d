// The evidence `memhp corpus` prints per match block, which docs/divergences.md's
// tolerances are set from: the largest gap a block covered and, over several
// recordings of one scenario, the spread between their gaps at one reading.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  blockEvidence,
  compareTracesOf,
  entryScenario,
  listAllCorpus,
  loadCorpusDivergences,
  recordedTrace,
} from "../src/scenario/corpus.js";
import { rewriteCounters } from "../src/scenario/diff.js";
import { blockName, heldGap } from "../src/scenario/divergences.js";
import { runScenario } from "../src/scenario/run.js";
import type { Trace } from "../src/scenario/trace.js";

const divs = loadCorpusDivergences();
const entry = listAllCorpus().find((e) => e.name === "arm64-dimm-add-del" && e.version === "6.1")!;
const ITEM = "Node 0, zone DMA: pages free";

/** The recorded trace with the first zoneinfo reading's ZONE_DMA free pages set to f(value). */
function withDmaFree(t: Trace, f: (v: number) => number): Trace {
  const i = t.records.findIndex((r) => r.op === "read" && r.path === "/proc/zoneinfo");
  const records = t.records.map((r, j) => (j === i ? structuredClone(r) : r));
  const rec = records[i] as { value: string };
  rec.value = rewriteCounters("/proc/zoneinfo", rec.value, (k, v) =>
    k === ITEM || k === "Node 0, zone DMA: nr_free_pages" ? f(v) : v,
  );
  return { header: t.header, records };
}

describe("memhp corpus: the evidence per match block", () => {
  const model = runScenario(entryScenario(entry), {});
  const recorded = recordedTrace(entry);
  const first = compareTracesOf(entry, model, recorded, divs);
  const diff = first.differences.find((d) => d.item === ITEM && d.reading === "first");
  const covering = first.covered.find((c) => c.diff === diff);

  it("the recorded trace's first ZONE_DMA reading is a covered gap (the case below builds on it)", () => {
    assert.ok(diff && covering, "no covered first reading of ZONE_DMA's free pages");
  });

  it("the spread is the difference between two recordings' gaps at one reading", () => {
    const a = diff!.a as number;
    const b = diff!.b as number;
    assert.ok(Math.abs(a - b) > 30, `gap ${Math.abs(a - b)}`);
    // the lists' pages are the same in both recordings: the gap moves by the 30 pages
    // a second recording 30 pages closer to the model at that reading
    const closer = withDmaFree(recorded, (v) => (v < a ? v + 30 : v - 30));
    const second = compareTracesOf(entry, model, closer, divs);
    const name = blockName(covering!.by, divs);
    assert.equal(blockEvidence([first, second], divs).get(name)!.spread, 30);
    assert.equal(blockEvidence([first], divs).get(name)!.spread, undefined, "one recording has no spread");
  });

  it("a recording that agrees exactly counts as gap 0", () => {
    const a = diff!.a as number;
    const exact = withDmaFree(recorded, () => a);
    const second = compareTracesOf(entry, model, exact, divs);
    assert.ok(!second.differences.some((d) => d.item === ITEM && d.line === diff!.line), "still differs");
    const name = blockName(covering!.by, divs);
    // the other recording's gap as the block holds it (counting the per-cpu lists where it does)
    const gap = heldGap(covering!.by.match, diff!, recorded, model);
    assert.equal(blockEvidence([first, second], divs).get(name)!.spread, gap);
  });
});
