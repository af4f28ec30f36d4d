// Does the corpus comparison catch a wrong model? For every corpus scenario, the
// model's trace is mutated at every number it compares (each counter file's numbers,
// each `read ... FIELD`, tablePages), every `result` (an errno, or ok), and every
// System RAM line of /proc/iomem; each mutation must come out of the comparison and
// of docs/divergences.md's classification as a difference nobody covers, except
// where a match block names that exact number (a block without a tolerance covers any
// value of what it names). And every tolerance is held at its edge: a covered gap
// widened to tolerance + 1 must no longer be covered by that block. The counts of
// each kind are printed.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  compareTracesOf,
  listAllCorpus,
  loadCorpusDivergences,
  recordedTrace,
  type CorpusEntry,
  type CorpusResult,
} from "../src/scenario/corpus.js";
import { counterNumbers, rewriteCounters, type Difference } from "../src/scenario/diff.js";
import { blockName, heldGap } from "../src/scenario/divergences.js";
import { runScenario } from "../src/scenario/run.js";
import type { Trace, TraceRecord } from "../src/scenario/trace.js";

const divs = loadCorpusDivergences();
const entries = listAllCorpus();
/** Larger than any tolerance of docs/divergences.md. */
const M = 1_000_003;
const COUNTER_PATHS = new Set(["/proc/meminfo", "/proc/vmstat", "/proc/zoneinfo"]);

type Rec = Record<string, unknown> & { line: number; op: string };
const recs = (t: Trace): Rec[] => t.records as Rec[];

/** A copy of the trace with record i replaced by f(copy of record i). */
function withRecord(t: Trace, i: number, f: (r: Rec) => void): Trace {
  const records = t.records.map((r, j) => (j === i ? structuredClone(r) : r));
  f(records[i] as Rec);
  return { header: t.header, records };
}

function withRecords(t: Trace, f: (r: Rec) => boolean): { trace: Trace; lines: number[] } {
  const lines: number[] = [];
  const records = t.records.map((r) => {
    const c = structuredClone(r) as Rec;
    if (f(c)) lines.push(c.line);
    return c as TraceRecord;
  });
  return { trace: { header: t.header, records }, lines };
}

/** How the comparison treated the mutation of (line, item). */
function verdict(r: CorpusResult, line: number, item: (d: Difference) => boolean): string {
  if (r.unexplained.some((d) => d.line === line && item(d))) return "uncovered";
  const c = r.covered.find(({ diff }) => diff.line === line && item(diff));
  if (c === undefined) return "not reported";
  return c.by.match.tolerance === undefined
    ? `covered by ${blockName(c.by, divs)} (no tolerance)`
    : `covered by ${blockName(c.by, divs)} within its tolerance`;
}

/** The numbers of a record the comparison looks at, by item. */
function numbersOf(r: Rec): Map<string, number> {
  const path = typeof r.path === "string" ? r.path : "";
  const out = new Map<string, number>();
  if (r.op === "read" && COUNTER_PATHS.has(path)) {
    if (typeof r.value === "string") for (const [k, v] of counterNumbers(path, r.value)) out.set(k, v);
    if (typeof r.fields === "object" && r.fields !== null)
      for (const [k, v] of Object.entries(r.fields)) if (typeof v === "number") out.set(k, v);
  }
  if (r.op === "ptdump" && typeof r.tablePages === "number") out.set("tablePages", r.tablePages);
  return out;
}

/** Record r with f applied to each number the comparison looks at. */
function mapNumbers(r: Rec, f: (key: string, v: number) => number): void {
  const path = typeof r.path === "string" ? r.path : "";
  if (typeof r.value === "string" && COUNTER_PATHS.has(path)) r.value = rewriteCounters(path, r.value, f);
  if (typeof r.fields === "object" && r.fields !== null) {
    const fields = r.fields as Record<string, unknown>;
    for (const [k, v] of Object.entries(fields)) if (typeof v === "number") fields[k] = f(k, v);
  }
  if (r.op === "ptdump" && typeof r.tablePages === "number") r.tablePages = f("tablePages", r.tablePages);
}

const SYSTEM_RAM = (l: string) => l.includes(" : ") && l.slice(l.indexOf(" : ") + 3).includes("System RAM");

interface Tally {
  kinds: Map<string, number>;
  failures: string[];
}

function note(t: Tally, kind: string, ok: boolean, what: string): void {
  t.kinds.set(kind, (t.kinds.get(kind) ?? 0) + 1);
  if (!ok) t.failures.push(`${what}: ${kind}`);
}

function mutateScenario(e: CorpusEntry, t: Tally): void {
  const model = runScenario(e.scenario);
  const kernel = recordedTrace(e);
  const kernelAt = new Map(recs(kernel).map((r) => [r.line, r]));
  const compare = (m: Trace) => compareTracesOf(e, m, kernel, divs);
  const where = (line: number, item: string) => `${e.name}:${line} ${item}`;

  // Every number, one record at a time (all of its numbers at once: each is its own item).
  recs(model).forEach((rec, i) => {
    const nums = numbersOf(rec);
    if (nums.size === 0) return;
    const r = compare(withRecord(model, i, (c) => mapNumbers(c, (_k, v) => v + M)));
    const theirs = kernelAt.get(rec.line);
    const kernelNums = theirs !== undefined && theirs.op === rec.op ? numbersOf(theirs) : new Map();
    for (const key of nums.keys()) {
      if (!kernelNums.has(key)) {
        // Only the model prints it: already a layout (or missing-record) difference.
        note(
          t,
          "number: in the model's trace only",
          r.differences.some((d) => d.line === rec.line),
          where(rec.line, key),
        );
        continue;
      }
      const v = verdict(r, rec.line, (d) => d.item === key && d.rule !== "exact");
      note(t, `number: ${v}`, v === "uncovered" || v.endsWith("(no tolerance)"), where(rec.line, key));
    }
  });

  // Every result: becomes another errno (or ok), one neither trace has there.
  {
    const { trace, lines } = withRecords(model, (c) => {
      if (typeof c.result !== "string") return false;
      const theirs = kernelAt.get(c.line)?.result;
      c.result = ["EIO", "EINVAL", "EBUSY", "ok"].find((x) => x !== c.result && x !== theirs)!;
      return true;
    });
    const r = compare(trace);
    for (const line of lines) {
      const v = verdict(r, line, (d) => d.item === "result");
      note(t, `result: ${v}`, v === "uncovered", where(line, "result"));
    }
  }

  // Every System RAM line of /proc/iomem: the k-th left out of every reading that has one.
  for (let k = 0; ; k++) {
    const { trace, lines } = withRecords(model, (c) => {
      if (c.op !== "read" || c.path !== "/proc/iomem" || typeof c.value !== "string") return false;
      const all = c.value.split("\n");
      const ram = all.map((l, j) => (SYSTEM_RAM(l) ? j : -1)).filter((j) => j >= 0);
      if (k >= ram.length) return false;
      c.value = all.filter((_, j) => j !== ram[k]).join("\n");
      return true;
    });
    if (lines.length === 0) break;
    const r = compare(trace);
    for (const line of lines) {
      const v = verdict(r, line, (d) => d.rule === "iomem-system-ram");
      note(t, `System RAM line: ${v}`, v === "uncovered", where(line, `System RAM line ${k + 1}`));
    }
  }

  // Every tolerance at its edge: a covered gap widened to tolerance + 1.
  const base = compare(model);
  for (const { diff, by } of base.covered) {
    const tol = by.match.tolerance;
    if (tol === undefined) continue;
    const i = model.records.findIndex((r) => r.line === diff.line);
    const a = diff.a as number;
    let signed: number;
    if (by.match.check === "freeCountingPcp") {
      // the gap counts each side's per-cpu pages: its sign from the model's number moved
      // by one (up, or down where one up makes the two numbers equal and no difference)
      const g0 = heldGap(by.match, diff, kernel, model)!;
      const movedGap = (step: number): number | undefined => {
        const m1 = withRecord(model, i, (c) => mapNumbers(c, (k, v) => (k === diff.item ? v + step : v)));
        const d1 = compare(m1).differences.find((d) => d.line === diff.line && d.item === diff.item);
        return d1 === undefined ? undefined : heldGap(by.match, d1, kernel, m1);
      };
      const up = movedGap(1);
      signed = up !== undefined ? (up > g0 ? g0 : -g0) : movedGap(-1)! > g0 ? -g0 : g0;
    } else if (by.match.check === "tablePagesLinearVmemmap" && diff.reading === "first") {
      const tp = kernelAt.get(diff.line)?._tablePages as { linearMap: number; vmemmap: number };
      signed = a - (tp.linearMap + tp.vmemmap);
    } else if (diff.reading === "first") signed = a - (diff.b as number);
    else signed = diff.deltaA! - diff.deltaB!;
    const target = a - signed + (signed < 0 ? -1 : 1) * (tol + 1);
    const r = compare(withRecord(model, i, (c) => mapNumbers(c, (k, v) => (k === diff.item ? target : v))));
    const still = r.covered.find(({ diff: d }) => d.line === diff.line && d.item === diff.item);
    const kind =
      still === undefined
        ? r.unexplained.some((d) => d.line === diff.line && d.item === diff.item)
          ? "tolerance + 1: uncovered"
          : "tolerance + 1: not reported"
        : still.by === by
          ? "tolerance + 1: still covered by the same block"
          : `tolerance + 1: covered by ${blockName(still.by, divs)}`;
    note(
      t,
      kind,
      kind === "tolerance + 1: uncovered" || (still !== undefined && still.by !== by),
      where(diff.line, `${diff.item} (${blockName(by, divs)})`),
    );
  }
}

describe("the corpus comparison catches a wrong model trace", () => {
  it("every number, errno and System RAM line mutated is an uncovered difference unless a block names it", (t) => {
    const tally: Tally = { kinds: new Map(), failures: [] };
    for (const e of entries) mutateScenario(e, tally);
    const kinds = [...tally.kinds].sort(([x], [y]) => x.localeCompare(y));
    t.diagnostic(`mutations: ${kinds.map(([k, n]) => `${k} ${n}`).join("; ")}`);
    assert.ok((tally.kinds.get("number: uncovered") ?? 0) > 0);
    assert.ok((tally.kinds.get("result: uncovered") ?? 0) > 0);
    assert.ok((tally.kinds.get("System RAM line: uncovered") ?? 0) > 0);
    assert.ok((tally.kinds.get("tolerance + 1: uncovered") ?? 0) > 0);
    assert.deepEqual(tally.failures.slice(0, 20), [], `${tally.failures.length} mutations not caught`);
  });
});
