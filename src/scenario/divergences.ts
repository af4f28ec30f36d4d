// The known divergences between the model and the real kernel: one file,
// docs/divergences.md, where each entry explains itself in prose and ends with a
// ```match block (JSON) saying which differences it covers. The corpus test
// classifies every difference of every corpus scenario: covered by an entry
// (and counted per entry) or unexplained (a failure).

import { readFileSync } from "node:fs";
import type { ReadRecord, Trace, TraceRecord } from "./trace.js";
import { counterNumbers, type Difference } from "./diff.js";
import { pcpPagesIn } from "./pcp.js";
import { PAGE_SIZE } from "../mm/constants.js";
import { packagePath } from "../paths.js";

export interface DivergenceMatch {
  /** Regex on the scenario's base name (default: every scenario). */
  scenarios?: string;
  /** Regex on the kernel trace's release (its header's `version`, uname -r; default: any). */
  kernel?: string;
  /** The diff rule (exact, meminfo-delta, zoneinfo-delta, iomem-system-ram, tablePages-delta, ...). Required. */
  rule: string;
  /** Regex on the statement's op. */
  op?: string;
  /** Regex on the statement's path. */
  path?: string;
  /** Regex on the difference's item. Required: an entry names what it covers. */
  item: string;
  /**
   * Scenario lines the entry is about; for a block that covers several scenarios at
   * different lines, by scenario: `{ "REGEX on the name": [lines] }`.
   */
  lines?: number[] | Record<string, number[]>;
  /**
   * Counter rules: only the first reading of a number (compared as a value) or only later
   * readings (compared as changes since the first). Default: both.
   */
  reading?: "first" | "change";
  /**
   * Counter rules: covered only while the gap is at most this (in the file's unit: kB for
   * meminfo, pages for zoneinfo, page-table pages for tablePages). The gap of a first
   * reading is |a - b|, of a later one |change in a - change in b|. Without a tolerance
   * the entry covers any value of what it names.
   */
  tolerance?: number;
  /** The largest gap seen in the recordings the tolerance was set from. */
  observed?: number;
  /**
   * The kernel's own variation at the readings covered: the largest difference between
   * two recordings' gaps at one reading (`memhp corpus --traces` with several DIRs).
   * The tolerance is `observed + spread`; without it, `observed`.
   */
  spread?: number;
  /**
   * true: only the kernel trace's first reading of the file after a statement that
   * removed memory blocks; false: every other reading.
   */
  afterRemoval?: boolean;
  /**
   * A named check that must pass too: "tablePagesLinearVmemmap": the kernel's count over
   * the linear map and the vmemmap only (the oracle's `_tablePages`) stands in for its
   * tablePages: a first reading is covered while |a - that count| <= tolerance, a later
   * one when the model's change equals that count's change exactly.
   * "virtioIndexAfterConsole" (iomem-system-ram): the kernel's System RAM lines equal the
   * model's once each of its `virtioN` device names is read as `virtio(N-1)`, and
   * nothing else differs.
   * "freeCountingPcp" (MemFree, a zone's `pages free`/`nr_free_pages`): the gap is taken
   * with each side's pages on the per-cpu lists added (src/scenario/pcp.ts: a zone's own
   * pagesets in the same zoneinfo reading; MemFree's `_pcpPages` annotation), so that
   * only a list spilled to the buddy at another moment is covered; without those counts
   * in both traces it covers nothing.
   */
  check?: "tablePagesLinearVmemmap" | "virtioIndexAfterConsole" | "freeCountingPcp";
}

export interface Divergence {
  id: string;
  title: string;
  /** The entry's match blocks are numbered from 1 (`id#2` is its second block). */
  block: number;
  match: DivergenceMatch;
}

/** "id" for an entry's only block, "id#N" when it has several. */
export function blockName(d: Divergence, all: readonly Divergence[]): string {
  return all.filter((x) => x.id === d.id).length > 1 ? `${d.id}#${d.block}` : d.id;
}

const HEADING = /^## ([a-z0-9-]+): (.+)$/;

/**
 * The JSON of the fenced block whose opening fence is lines[i], and the index of
 * its closing fence; a block that is not JSON is an error at its line.
 */
export function readJsonBlock(
  lines: readonly string[],
  i: number,
  what: string,
): { value: unknown; end: number } {
  let j = i + 1;
  const body: string[] = [];
  while (j < lines.length && lines[j].trim() !== "```") body.push(lines[j++]);
  try {
    return { value: JSON.parse(body.join("\n")), end: j };
  } catch (e) {
    throw new Error(`divergences.md:${i + 1}: ${what}: ${(e as Error).message}`, { cause: e });
  }
}

/** Parse docs/divergences.md. */
export function parseDivergences(text: string): Divergence[] {
  const out: Divergence[] = [];
  const lines = text.split("\n");
  let cur: { id: string; title: string } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const h = HEADING.exec(lines[i]);
    if (h) {
      cur = { id: h[1], title: h[2] };
      continue;
    }
    if (lines[i].startsWith("## "))
      throw new Error(
        `divergences.md:${i + 1}: an entry's heading is "## id: title", the id of a-z, 0-9 and -`,
      );
    if (lines[i].trim() === "```match" && cur) {
      const { value, end: j } = readJsonBlock(lines, i, `${cur.id}: bad match block`);
      const match = value as DivergenceMatch;
      for (const key of ["rule", "item"] as const) {
        if (typeof match[key] !== "string" || match[key] === "")
          throw new Error(`divergences.md:${i + 1}: ${cur.id}: a match block needs a "${key}"`);
      }
      const block = out.filter((d) => d.id === cur!.id).length + 1;
      out.push({ ...cur, block, match });
      i = j;
    }
  }
  return out;
}

export function loadDivergences(file = packagePath("docs", "divergences.md")): Divergence[] {
  return parseDivergences(readFileSync(file, "utf8"));
}

function recordAt(t: Trace, line: number): TraceRecord | undefined {
  return t.records.find((r) => r.line === line);
}

function tablePagesCore(r: TraceRecord | undefined): number | undefined {
  const tp = (r as Record<string, unknown> | undefined)?._tablePages as Record<string, number> | undefined;
  return tp ? tp.linearMap + tp.vmemmap : undefined;
}

/** The gap a tolerance is held to: |a - b| for a first reading, |change in a - change in b| after. */
export function gapOf(diff: Difference): number | undefined {
  if (diff.reading === "first" && typeof diff.a === "number" && typeof diff.b === "number")
    return Math.abs(diff.a - diff.b);
  if (diff.deltaA !== undefined && diff.deltaB !== undefined) return Math.abs(diff.deltaA - diff.deltaB);
  return undefined;
}

/**
 * The pages on the per-cpu lists that go with the difference's number in a reading of
 * `t` (freeCountingPcp), in that number's unit: MemFree's `_pcpPages` in kB, a
 * zone's pagesets in pages. undefined: the reading has no such count.
 */
function pcpOf(r: TraceRecord | undefined, diff: Difference): number | undefined {
  const rr = r as ReadRecord | undefined;
  if (rr?.op !== "read" || rr.path !== diff.path) return undefined;
  if (diff.path === "/proc/meminfo" && diff.item === "MemFree")
    return rr._pcpPages === undefined ? undefined : (rr._pcpPages * PAGE_SIZE) / 1024;
  const zone = /^(Node \d+, zone \S+): (pages free|nr_free_pages)$/.exec(diff.item);
  if (diff.path !== "/proc/zoneinfo" || zone === null || typeof rr.value !== "string") return undefined;
  return pcpPagesIn(rr.value, zone[1]);
}

/**
 * The lists' count at the reading the difference's changes are taken from (as
 * diff.ts's baselines: the file's first reading in the trace; in /proc/zoneinfo a
 * zone populated since has baseline 0, and so have its lists).
 */
function pcpAtBaseline(t: Trace, diff: Difference): number | undefined {
  const reads = t.records.filter(
    (r) => r.op === "read" && (r as ReadRecord).path === diff.path,
  ) as ReadRecord[];
  if (diff.path === "/proc/zoneinfo") {
    const first = reads[0];
    if (first === undefined) return undefined;
    const had = typeof first.value === "string" && counterNumbers(diff.path, first.value).has(diff.item);
    return had ? pcpOf(first, diff) : 0;
  }
  // a field's first reading: an earlier read of other fields of the file (say
  // DirectMap4k alone) is not its baseline
  const first = reads.find((r) => r.fields !== undefined && diff.item in r.fields);
  return first === undefined ? undefined : pcpOf(first, diff);
}

/** freeCountingPcp: the gap with each side's per-cpu pages added. */
function gapCountingPcp(diff: Difference, a: Trace, b: Trace): number | undefined {
  const pa = pcpOf(recordAt(a, diff.line), diff);
  const pb = pcpOf(recordAt(b, diff.line), diff);
  if (pa === undefined || pb === undefined) return undefined;
  if (diff.reading === "first")
    return typeof diff.a === "number" && typeof diff.b === "number"
      ? Math.abs(diff.a + pa - (diff.b + pb))
      : undefined;
  const a0 = pcpAtBaseline(a, diff);
  const b0 = pcpAtBaseline(b, diff);
  if (diff.deltaA === undefined || diff.deltaB === undefined || a0 === undefined || b0 === undefined)
    return undefined;
  return Math.abs(diff.deltaA + pa - a0 - (diff.deltaB + pb - b0));
}

/**
 * The gap a block's tolerance is held to: the kernel's `_tablePages` count stands in for
 * b under tablePagesLinearVmemmap; freeCountingPcp adds the per-cpu lists' pages.
 */
export function heldGap(m: DivergenceMatch, diff: Difference, b: Trace, a?: Trace): number | undefined {
  if (m.check === "freeCountingPcp") return a === undefined ? undefined : gapCountingPcp(diff, a, b);
  if (m.check === "tablePagesLinearVmemmap" && diff.reading === "first") {
    const kb = tablePagesCore(recordAt(b, diff.line));
    return kb === undefined || typeof diff.a !== "number" ? undefined : Math.abs(diff.a - kb);
  }
  return gapOf(diff);
}

const removedBlocks = (r: TraceRecord): number =>
  (r as { blocks?: { removed?: string[] } }).blocks?.removed?.length ?? 0;

/** Is the reading at `line` the first of its file in `t` after a statement that removed memory blocks? */
function firstReadingAfterRemoval(t: Trace, line: number, path: string | undefined): boolean {
  let removal = -1;
  for (const r of t.records) if (r.line < line && removedBlocks(r) > 0) removal = Math.max(removal, r.line);
  if (removal < 0) return false;
  return !t.records.some(
    (r) => r.line > removal && r.line < line && r.op === "read" && (r as { path?: string }).path === path,
  );
}

/** A block's lines for one scenario (`lines` as a list, or by scenario name). */
function linesFor(lines: number[] | Record<string, number[]>, scenario: string): number[] {
  if (Array.isArray(lines)) return lines;
  return Object.entries(lines).flatMap(([re, l]) => (new RegExp(`^(?:${re})$`).test(scenario) ? l : []));
}

/** Does the divergence cover this difference between model trace `a` and kernel trace `b`? */
export function covers(d: Divergence, scenario: string, diff: Difference, a: Trace, b: Trace): boolean {
  const m = d.match;
  if (m.scenarios && !new RegExp(`^(?:${m.scenarios})$`).test(scenario)) return false;
  if (m.kernel && !new RegExp(`^(?:${m.kernel})$`).test(String(b.header.version))) return false;
  if (m.rule !== diff.rule) return false;
  if (m.op && !new RegExp(`^(?:${m.op})$`).test(diff.op)) return false;
  if (m.path && !new RegExp(m.path).test(diff.path ?? "")) return false;
  if (!new RegExp(m.item).test(diff.item)) return false;
  if (m.lines && !linesFor(m.lines, scenario).includes(diff.line)) return false;
  if (m.reading && m.reading !== diff.reading) return false;
  if (m.check === "tablePagesLinearVmemmap") {
    // Kernel side: the count over the linear map and the vmemmap, not the whole tree.
    const kb = tablePagesCore(recordAt(b, diff.line));
    if (kb === undefined || typeof diff.a !== "number") return false;
    if (diff.reading === "first") return heldGap(m, diff, b)! <= (m.tolerance ?? 0);
    const k0 = tablePagesCore(b.records.find((r) => r.op === "ptdump"));
    return k0 !== undefined && diff.deltaA === kb - k0;
  }
  if (m.check === "virtioIndexAfterConsole") {
    if (typeof diff.a !== "string" || typeof diff.b !== "string") return false;
    const renumbered = diff.b.replace(/\bvirtio(\d+)\b/g, (_, n: string) => `virtio${Number(n) - 1}`);
    if (renumbered === diff.b || renumbered !== diff.a) return false;
  }
  if (m.check === "freeCountingPcp" || m.tolerance !== undefined) {
    // the gap the tolerance is held to (freeCountingPcp: counting the lists; no tolerance: 0)
    const gap = heldGap(m, diff, b, a);
    if (gap === undefined || gap > (m.tolerance ?? 0)) return false;
  }
  if (m.afterRemoval !== undefined && m.afterRemoval !== firstReadingAfterRemoval(b, diff.line, diff.path))
    return false;
  return true;
}

export interface Classified {
  /** Covered differences by entry id. */
  explained: Map<string, Difference[]>;
  /** Each covered difference with the match block that covers it (the first that does). */
  covered: { diff: Difference; by: Divergence }[];
  unexplained: Difference[];
}

export function classify(
  divs: Divergence[],
  scenario: string,
  diffs: Difference[],
  a: Trace,
  b: Trace,
): Classified {
  const explained = new Map<string, Difference[]>();
  const covered: { diff: Difference; by: Divergence }[] = [];
  const unexplained: Difference[] = [];
  for (const diff of diffs) {
    const d = divs.find((x) => covers(x, scenario, diff, a, b));
    if (!d) unexplained.push(diff);
    else {
      covered.push({ diff, by: d });
      const list = explained.get(d.id) ?? [];
      list.push(diff);
      explained.set(d.id, list);
    }
  }
  return { explained, covered, unexplained };
}

/** One scenario's comparison, kept to classify again (leave-one-out). */
export interface ClassifyCase {
  scenario: string;
  diffs: Difference[];
  a: Trace;
  b: Trace;
}

/** Does the block apply to some case's kernel (no `kernel` pattern: to every one)? */
export function appliesToSomeKernel(d: Divergence, cases: readonly ClassifyCase[]): boolean {
  const k = d.match.kernel;
  return k === undefined || cases.some((c) => new RegExp(`^(?:${k})$`).test(String(c.b.header.version)));
}

/**
 * The match blocks nothing needs: left out in turn, each block whose absence leaves no
 * more differences uncovered than before is redundant (every difference it covers is
 * covered by another block too, or it covers nothing). A block limited to kernels none
 * of the cases ran on is not judged.
 */
export function redundantBlocks(divs: Divergence[], cases: readonly ClassifyCase[]): Divergence[] {
  const uncovered = (ds: Divergence[]): number =>
    cases.reduce((n, c) => n + classify(ds, c.scenario, c.diffs, c.a, c.b).unexplained.length, 0);
  const baseline = uncovered(divs);
  return divs.filter(
    (d) => appliesToSomeKernel(d, cases) && uncovered(divs.filter((x) => x !== d)) <= baseline,
  );
}
