// The known divergences between the model and the real kernel: one file,
// docs/divergences.md, where each entry explains itself in prose and ends with a
// ```match block (JSON) saying which differences it covers. The corpus test
// classifies every difference of every corpus scenario: covered by an entry
// (and counted per entry) or unexplained (a failure).

import { readFileSync } from "node:fs";
import type { Difference } from "./diff.js";
import type { Trace, TraceRecord } from "./trace.js";
import { packagePath } from "../paths.js";

export interface DivergenceMatch {
  /** Regex on the scenario's base name (default: every scenario). */
  scenarios?: string;
  /** The diff rule (exact, meminfo-delta, zoneinfo-delta, iomem-system-ram, tablePages-delta, ...). */
  rule?: string;
  /** Regex on the statement's op. */
  op?: string;
  /** Regex on the statement's path. */
  path?: string;
  /** Regex on the difference's item. */
  item?: string;
  /** Scenario lines the entry is about. */
  lines?: number[];
  /** For delta rules: covered only while |deltaA - deltaB| <= tolerance ... */
  tolerance?: number;
  /** ... or, when given, while |deltaA - deltaB| <= relTolerance * |deltaB|. */
  relTolerance?: number;
  /**
   * A named check that must pass instead: "tablePagesLinearVmemmap" — the model's
   * tablePages change equals the kernel's change counted over the linear map and
   * the vmemmap only (the oracle's `_tablePages`); "afterRemoval" — the reading
   * comes after a statement that removed memory blocks.
   */
  check?: "tablePagesLinearVmemmap" | "afterRemoval";
}

export interface Divergence {
  id: string;
  title: string;
  match: DivergenceMatch;
}

const HEADING = /^## ([a-z0-9-]+): (.+)$/;

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
    if (lines[i].trim() === "```match" && cur) {
      let j = i + 1;
      const body: string[] = [];
      while (j < lines.length && lines[j].trim() !== "```") body.push(lines[j++]);
      let match: DivergenceMatch;
      try {
        match = JSON.parse(body.join("\n")) as DivergenceMatch;
      } catch (e) {
        throw new Error(`divergences.md:${i + 1}: ${cur.id}: bad match block: ${(e as Error).message}`, {
          cause: e,
        });
      }
      out.push({ ...cur, match });
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

/** Does the divergence cover this difference between model trace `a` and kernel trace `b`? */
export function covers(d: Divergence, scenario: string, diff: Difference, a: Trace, b: Trace): boolean {
  const m = d.match;
  if (m.scenarios && !new RegExp(`^(?:${m.scenarios})$`).test(scenario)) return false;
  if (m.rule && m.rule !== diff.rule) return false;
  if (m.op && !new RegExp(`^(?:${m.op})$`).test(diff.op)) return false;
  if (m.path && !new RegExp(m.path).test(diff.path ?? "")) return false;
  if (m.item && !new RegExp(m.item).test(diff.item)) return false;
  if (m.lines && !m.lines.includes(diff.line)) return false;
  if (m.tolerance !== undefined || m.relTolerance !== undefined) {
    if (diff.deltaA === undefined || diff.deltaB === undefined) return false;
    const gap = Math.abs(diff.deltaA - diff.deltaB);
    const allowed = Math.max(m.tolerance ?? 0, (m.relTolerance ?? 0) * Math.abs(diff.deltaB));
    if (gap > allowed) return false;
  }
  if (m.check === "afterRemoval") {
    // The reading follows a statement of the kernel's trace that removed memory blocks.
    const removed = b.records.some(
      (r) =>
        r.line < diff.line && ((r as { blocks?: { removed?: string[] } }).blocks?.removed?.length ?? 0) > 0,
    );
    if (!removed) return false;
  }
  if (m.check === "tablePagesLinearVmemmap") {
    // Kernel side: the change over linear map + vmemmap since the first ptdump.
    const first = b.records.find((r) => r.op === "ptdump");
    const kb = tablePagesCore(recordAt(b, diff.line));
    const k0 = tablePagesCore(first);
    if (kb === undefined || k0 === undefined || diff.deltaA === undefined) return false;
    if (diff.deltaA !== kb - k0) return false;
    void a;
  }
  return true;
}

export interface Classified {
  explained: Map<string, Difference[]>;
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
  const unexplained: Difference[] = [];
  for (const diff of diffs) {
    const d = divs.find((x) => covers(x, scenario, diff, a, b));
    if (!d) unexplained.push(diff);
    else {
      const list = explained.get(d.id) ?? [];
      list.push(diff);
      explained.set(d.id, list);
    }
  }
  return { explained, unexplained };
}
