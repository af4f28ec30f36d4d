// `memhp diff A B`: compare two traces of one scenario
// (docs/scenario-format.md, "Comparing two traces" in the fixed core; details
// in "How two traces are compared").
//
// Records are matched by their scenario line, in order. Everything is compared
// exactly, except the numbers of /proc/meminfo, /proc/vmstat and /proc/zoneinfo
// and ptdump's tablePages, each of which is compared once: its first reading as
// a value, every later reading as its change since that first reading in the same
// trace (so a difference at boot is reported once, not at every reading); and
// /proc/iomem, of which only the System RAM lines and their parents count. The
// header objects name different systems and are not compared.

import type { Scenario } from "./ast.js";
import type { Trace, TraceRecord } from "./trace.js";

export type DiffRule =
  | "missing"
  | "op"
  | "scenario"
  | "exact"
  | "meminfo-delta"
  | "vmstat-delta"
  | "zoneinfo-delta"
  | "iomem-system-ram"
  | "tablePages-delta"
  | "crash";

export interface Difference {
  /** The scenario line of the statement. */
  line: number;
  op: string;
  path?: string;
  rule: DiffRule;
  /** Which part of the record: "result", "names", a meminfo field, "Node 0, zone Normal: nr_free_pages", ... */
  item: string;
  /** The two values as the traces have them (undefined: absent). */
  a: unknown;
  b: unknown;
  /**
   * Counter rules: "first" when the number is read for the first time (in either
   * trace) and its values were compared; "change" when its changes since those first
   * readings were compared.
   */
  reading?: "first" | "change";
  /** Counter rules, reading "change": the change since the first reading in each trace. */
  deltaA?: number;
  deltaB?: number;
  message: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------
// Counter files: numbers compared as changes since the first reading.

const COUNTER_RULE: ReadonlyMap<string, DiffRule> = new Map<string, DiffRule>([
  ["/proc/meminfo", "meminfo-delta"],
  ["/proc/vmstat", "vmstat-delta"],
  ["/proc/zoneinfo", "zoneinfo-delta"],
]);
const IOMEM = "/proc/iomem";

/** A counter file reduced to its numbers (by key) and its layout (each line with numbers as '#'). */
interface Counters {
  nums: Map<string, number>;
  layout: string[];
}

/** One line of a counter file: its text, its layout and the key of each of its numbers (undefined: not compared). */
interface CounterLine {
  raw: string;
  layout: string;
  nums: number[];
  keys: (string | undefined)[];
}

/** Whole numbers standing alone: after start, space, '(', ',' or ':'; before end, space, ')' or ','. */
const NUMBER_RE = /(?<=^|[\s(,:])-?\d+(?=$|[\s),])/g;
const ZONE_HEADER_RE = /^Node\s+(\d+),\s+zone\s+(\S+)$/;

function templateOf(line: string): { template: string; nums: number[] } {
  const norm = line.trim().replace(/\s+/g, " ");
  const nums: number[] = [];
  const template = norm.replace(NUMBER_RE, (m) => {
    nums.push(Number(m));
    return "#";
  });
  return { template, nums };
}

/**
 * /proc/meminfo ("MemFree:  123 kB": key MemFree) and /proc/vmstat ("nr_free_pages 123":
 * key nr_free_pages); the same keys `read PATH FIELD...` records use.
 */
function flatLines(text: string): CounterLine[] {
  const out: CounterLine[] = [];
  const seen = new Set<string>();
  for (const raw of text.split("\n")) {
    if (raw.trim() === "") continue;
    const { template, nums } = templateOf(raw);
    const line: CounterLine = { raw, layout: template, nums, keys: nums.map(() => undefined) };
    out.push(line);
    if (nums.length !== 1) continue;
    const name = template.split(" ")[0].replace(/:$/, "");
    let key = name;
    for (let n = 2; seen.has(key); n++) key = `${name} [${n}]`;
    seen.add(key);
    line.keys[0] = key;
  }
  return out;
}

/** The per-cpu lines zoneinfo_show_print() prints under each "cpu: N" of a zone's pagesets. */
const PCP_LINES = new Set(["count: #", "high: #", "batch: #", "vm stats threshold: #"]);

/**
 * /proc/zoneinfo (mm/vmstat.c: zoneinfo_show_print()): one section per "Node N, zone NAME";
 * each number is keyed by its section and its line's text; the per-cpu pageset lines by
 * their CPU too ("cpu 0 high", apart from the zone's watermark "high"); a line that
 * repeats otherwise gets its occurrence, a line with several numbers (protection) the
 * number's position.
 */
function zoneinfoLines(text: string): CounterLine[] {
  const out: CounterLine[] = [];
  let section = "";
  let cpu: number | undefined;
  let seen = new Map<string, number>();
  for (const raw of text.split("\n")) {
    if (raw.trim() === "") continue;
    const norm = raw.trim().replace(/\s+/g, " ");
    const hdr = ZONE_HEADER_RE.exec(norm);
    if (hdr !== null) {
      section = `Node ${hdr[1]}, zone ${hdr[2]}`;
      seen = new Map();
      cpu = undefined;
      out.push({ raw, layout: section, nums: [], keys: [] });
      continue;
    }
    const { template, nums } = templateOf(raw);
    const where = section === "" ? "" : `${section}: `;
    const line: CounterLine = { raw, layout: `${where}${template}`, nums, keys: nums.map(() => undefined) };
    out.push(line);
    if (template === "cpu: #") {
      cpu = nums[0];
      continue; // the CPU's number names the lines under it
    }
    if (!PCP_LINES.has(template)) cpu = undefined;
    const single = nums.length === 1 && template.endsWith(" #");
    const base = single ? template.slice(0, -2).replace(/:$/, "") : template;
    const name = cpu === undefined ? base : `cpu ${cpu} ${base}`;
    const occurrence = (seen.get(name) ?? 0) + 1;
    seen.set(name, occurrence);
    const occ = occurrence > 1 ? ` [${occurrence}]` : "";
    line.keys = nums.map((_, i) => `${where}${name}${occ}${single ? "" : ` #${i + 1}`}`);
  }
  return out;
}

const counterLines = (path: string, text: string): CounterLine[] =>
  path === "/proc/zoneinfo" ? zoneinfoLines(text) : flatLines(text);

function countersOf(path: string, text: string): Counters {
  const out: Counters = { nums: new Map(), layout: [] };
  for (const l of counterLines(path, text)) {
    out.layout.push(l.layout);
    l.keys.forEach((k, i) => {
      if (k !== undefined) out.nums.set(k, l.nums[i]);
    });
  }
  return out;
}

/** The numbers `memhp diff` compares in a counter file's text, by the keys its differences name. */
export function counterNumbers(path: string, text: string): Map<string, number> {
  return countersOf(path, text).nums;
}

/**
 * The counter file's text with each compared number replaced by `f(key, value)`, spacing
 * and everything else kept (for tests that change one number of a real reading).
 */
export function rewriteCounters(
  path: string,
  text: string,
  f: (key: string, value: number) => number,
): string {
  const lines = counterLines(path, text);
  let li = 0;
  return text
    .split("\n")
    .map((raw) => {
      if (raw.trim() === "") return raw;
      const l = lines[li++];
      let i = 0;
      return raw.replace(NUMBER_RE, (m) => {
        const k = l.keys[i++];
        return k === undefined ? m : String(f(k, Number(m)));
      });
    })
    .join("\n");
}

/** One trace's readings of its numbers: each number's change since its first reading. */
interface Readings {
  deltas: Map<string, number>;
  /** The numbers read here for the first time in this trace. */
  fresh: Set<string>;
}

/** The first reading of every number in one trace. */
class Baselines {
  private readonly base = new Map<string, number>();

  private readonly readPaths = new Set<string>();

  /**
   * Records a reading and returns each number's change since its first reading; a number
   * seen for the first time is its own baseline and is `fresh`. Except in /proc/zoneinfo
   * after its first reading: a number that appears then (a zone populated since:
   * zoneinfo_show_print() prints the statistics of populated zones only) has baseline 0,
   * so its first value is compared as a change.
   */
  deltas(path: string, nums: Map<string, number>): Readings {
    const out: Readings = { deltas: new Map(), fresh: new Set() };
    const absentIsZero = path === "/proc/zoneinfo" && this.readPaths.has(path);
    this.readPaths.add(path);
    for (const [k, v] of nums) {
      const id = `${path}\u0000${k}`;
      let b = this.base.get(id);
      if (b === undefined) {
        b = absentIsZero ? 0 : v;
        this.base.set(id, b);
        if (!absentIsZero) out.fresh.add(k);
      }
      out.deltas.set(k, v - b);
    }
    return out;
  }
}

// ---------------------------------------------------------------------------
// /proc/iomem: only System RAM lines and their parents.

/** The lines naming System RAM and every line they nest under (kernel/resource.c: r_show() indents 2 per level). */
export function iomemSystemRam(text: string): string[] {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const keep = new Array<boolean>(lines.length).fill(false);
  const stack: { indent: number; index: number }[] = [];
  lines.forEach((line, index) => {
    const indent = line.length - line.trimStart().length;
    while (stack.length > 0 && stack[stack.length - 1].indent >= indent) stack.pop();
    const sep = line.indexOf(" : ");
    const name = sep < 0 ? "" : line.slice(sep + 3);
    if (name.includes("System RAM")) {
      keep[index] = true;
      for (const s of stack) keep[s.index] = true;
    }
    stack.push({ indent, index });
  });
  return lines.filter((_, i) => keep[i]);
}

// ---------------------------------------------------------------------------
// Helpers

/** JSON with sorted keys: equal values give equal strings. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === "bigint") return x.toString();
    if (!isObject(x)) return x;
    return Object.fromEntries(
      Object.keys(x)
        .sort()
        .map((k) => [k, x[k]]),
    );
  });
}
const same = (a: unknown, b: unknown): boolean => canonical(a) === canonical(b);

function show(v: unknown, max = 160): string {
  if (v === undefined) return "(absent)";
  const s = typeof v === "string" ? JSON.stringify(v) : canonical(v);
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

const signed = (n: number): string => (n > 0 ? `+${n}` : `${n}`);

/** Lines only in a and only in b, by longest common subsequence (multiset difference when huge). */
export function lineDiff(a: readonly string[], b: readonly string[]): { onlyA: string[]; onlyB: string[] } {
  const n = a.length;
  const m = b.length;
  if (n * m > 4_000_000) {
    const count = new Map<string, number>();
    for (const x of b) count.set(x, (count.get(x) ?? 0) + 1);
    const onlyA: string[] = [];
    for (const x of a) {
      const c = count.get(x) ?? 0;
      if (c > 0) count.set(x, c - 1);
      else onlyA.push(x);
    }
    const rest = new Map<string, number>();
    for (const x of a) rest.set(x, (rest.get(x) ?? 0) + 1);
    const onlyB: string[] = [];
    for (const x of b) {
      const c = rest.get(x) ?? 0;
      if (c > 0) rest.set(x, c - 1);
      else onlyB.push(x);
    }
    return { onlyA, onlyB };
  }
  // lcs[i][j] = LCS length of a[i..] and b[j..], row-major in one typed array.
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] =
        a[i] === b[j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
    }
  }
  const onlyA: string[] = [];
  const onlyB: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      i++;
      j++;
    } else if (lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) onlyA.push(a[i++]);
    else onlyB.push(b[j++]);
  }
  while (i < n) onlyA.push(a[i++]);
  while (j < m) onlyB.push(b[j++]);
  return { onlyA, onlyB };
}

function describeLines(onlyA: string[], onlyB: string[], limit = 8): string {
  const part = (sign: string, xs: string[]): string[] => {
    const shown = xs.slice(0, limit).map((x) => `${sign} ${x}`);
    if (xs.length > limit) shown.push(`${sign} ... ${xs.length - limit} more`);
    return shown;
  };
  return [...part("-a", onlyA), ...part("+b", onlyB)].join("; ");
}

// ---------------------------------------------------------------------------
// Comparing records

/** A record seen as plain JSON: line, op and any other keys. */
type Rec = { line: number; op: string; [key: string]: unknown };
const asRec = (r: TraceRecord): Rec => r as Rec;

interface Side {
  rec: Rec;
  base: Baselines;
}

class Comparer {
  readonly out: Difference[] = [];
  /** Per scenario line, how many values (keys, numbers) were compared. */
  readonly compared = new Map<number, number>();

  private count(rec: Rec, n = 1): void {
    this.compared.set(rec.line, (this.compared.get(rec.line) ?? 0) + n);
  }

  private add(rec: Rec, d: Omit<Difference, "line" | "op" | "path">): void {
    const path = typeof rec.path === "string" ? rec.path : undefined;
    this.out.push({ line: rec.line, op: rec.op, ...(path === undefined ? {} : { path }), ...d });
  }

  /** A record only one trace has: still read for its baselines. */
  missing(rec: Rec, base: Baselines, has: "a" | "b"): void {
    this.observe(rec, base);
    const other = has === "a" ? "b" : "a";
    this.add(rec, {
      rule: "missing",
      item: "record",
      a: has === "a" ? rec : undefined,
      b: has === "b" ? rec : undefined,
      message: `only trace ${has} has a record for this statement (none in ${other})`,
    });
  }

  /** Feeds a record's readings to the baselines without comparing. */
  private observe(rec: Rec, base: Baselines): void {
    const path = typeof rec.path === "string" ? rec.path : "";
    if (rec.op === "read" && COUNTER_RULE.has(path)) {
      if (typeof rec.value === "string") base.deltas(path, countersOf(path, rec.value).nums);
      if (isObject(rec.fields)) base.deltas(path, numbersOf(rec.fields));
    }
    if (rec.op === "ptdump" && typeof rec.tablePages === "number") {
      base.deltas("ptdump", new Map([["tablePages", rec.tablePages]]));
    }
  }

  compare(a: Side, b: Side): void {
    const ra = a.rec;
    const rb = b.rec;
    if (ra.op !== rb.op) {
      this.observe(ra, a.base);
      this.observe(rb, b.base);
      this.add(ra, { rule: "op", item: "op", a: ra.op, b: rb.op, message: `a has a ${ra.op}, b a ${rb.op}` });
      return;
    }
    const samePath = ra.path === rb.path;
    const path = samePath && typeof ra.path === "string" ? ra.path : "";
    const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
    keys.delete("line");
    const counterRule = ra.op === "read" && samePath ? COUNTER_RULE.get(path) : undefined;
    for (const d of crashDifferences(ra, rb)) this.add(ra, d);
    for (const key of [...keys].sort()) {
      if (key.startsWith("_") || key === "reason") continue; // annotations (timings, work counts, why) are not compared
      if (CRASH_KEYS.has(key)) continue; // crashDifferences()
      const va = ra[key];
      const vb = rb[key];
      if (counterRule !== undefined && key === "value" && typeof va === "string" && typeof vb === "string") {
        this.counterText(ra, counterRule, path, va, vb, a.base, b.base);
      } else if (counterRule !== undefined && key === "fields" && isObject(va) && isObject(vb)) {
        this.counterFields(ra, counterRule, path, va, vb, a.base, b.base);
      } else if (
        ra.op === "read" &&
        path === IOMEM &&
        key === "value" &&
        typeof va === "string" &&
        typeof vb === "string"
      ) {
        this.iomem(ra, va, vb);
      } else if (
        ra.op === "ptdump" &&
        key === "tablePages" &&
        typeof va === "number" &&
        typeof vb === "number"
      ) {
        this.tablePages(ra, va, vb, a.base, b.base);
      } else {
        // The op and path restate the statement; whatever else the record holds is compared.
        if (key !== "op" && key !== "path") this.count(ra);
        this.exact(ra, key, va, vb);
      }
    }
    // A reading whose counterpart is absent or malformed still sets its trace's baselines.
    if (counterRule !== undefined) {
      for (const [side, other] of [
        [a, b],
        [b, a],
      ] as const) {
        const v = side.rec.value;
        const f = side.rec.fields;
        if (typeof v === "string" && typeof other.rec.value !== "string") {
          side.base.deltas(path, countersOf(path, v).nums);
        }
        if (isObject(f) && !isObject(other.rec.fields)) side.base.deltas(path, numbersOf(f));
      }
    }
    if (ra.op === "ptdump") {
      for (const [side, other] of [
        [a, b],
        [b, a],
      ] as const) {
        const t = side.rec.tablePages;
        if (typeof t === "number" && typeof other.rec.tablePages !== "number") {
          side.base.deltas("ptdump", new Map([["tablePages", t]]));
        }
      }
    }
  }

  private exact(rec: Rec, key: string, va: unknown, vb: unknown): void {
    if (same(va, vb)) return;
    let detail = `a ${show(va)}, b ${show(vb)}`;
    if (Array.isArray(va) && Array.isArray(vb)) {
      const { onlyA, onlyB } = lineDiff(
        va.map((x) => canonical(x)),
        vb.map((x) => canonical(x)),
      );
      detail =
        onlyA.length + onlyB.length > 0 ? describeLines(onlyA, onlyB) : `same entries, different order`;
    }
    this.add(rec, { rule: "exact", item: key, a: va, b: vb, message: `${key}: ${detail}` });
  }

  /**
   * Each number both readings have, compared once: as a value when either trace reads it
   * for the first time, as a change since the first reading otherwise.
   */
  private deltaCompare(
    rec: Rec,
    rule: DiffRule,
    na: Map<string, number>,
    nb: Map<string, number>,
    ra: Readings,
    rb: Readings,
  ): void {
    for (const k of na.keys()) {
      if (!nb.has(k)) continue;
      this.count(rec);
      const va = na.get(k)!;
      const vb = nb.get(k)!;
      if (ra.fresh.has(k) || rb.fresh.has(k)) {
        if (va === vb) continue;
        this.add(rec, {
          rule,
          item: k,
          a: va,
          b: vb,
          reading: "first",
          message: `${k}: first reading ${va} in a but ${vb} in b (${signed(va - vb)})`,
        });
        continue;
      }
      const x = ra.deltas.get(k)!;
      const y = rb.deltas.get(k)!;
      if (x === y) continue;
      this.add(rec, {
        rule,
        item: k,
        a: va,
        b: vb,
        reading: "change",
        deltaA: x,
        deltaB: y,
        message: `${k}: changed by ${signed(x)} in a (now ${va}) but ${signed(y)} in b (now ${vb})`,
      });
    }
  }

  private counterText(
    rec: Rec,
    rule: DiffRule,
    path: string,
    va: string,
    vb: string,
    baseA: Baselines,
    baseB: Baselines,
  ): void {
    const ca = countersOf(path, va);
    const cb = countersOf(path, vb);
    const da = baseA.deltas(path, ca.nums);
    const db = baseB.deltas(path, cb.nums);
    const { onlyA, onlyB } = lineDiff(ca.layout, cb.layout);
    if (onlyA.length + onlyB.length > 0) {
      this.add(rec, {
        rule,
        item: "layout",
        a: onlyA,
        b: onlyB,
        message: `lines differ (numbers as #): ${describeLines(onlyA, onlyB)}`,
      });
    }
    this.deltaCompare(rec, rule, ca.nums, cb.nums, da, db);
  }

  private counterFields(
    rec: Rec,
    rule: DiffRule,
    path: string,
    fa: Record<string, unknown>,
    fb: Record<string, unknown>,
    baseA: Baselines,
    baseB: Baselines,
  ): void {
    const na = numbersOf(fa);
    const nb = numbersOf(fb);
    const da = baseA.deltas(path, na);
    const db = baseB.deltas(path, nb);
    for (const k of new Set([...Object.keys(fa), ...Object.keys(fb)])) {
      const x = fa[k];
      const y = fb[k];
      if (typeof x === "number" && typeof y === "number") continue;
      this.count(rec);
      if (same(x, y)) continue;
      this.add(rec, { rule, item: k, a: x, b: y, message: `${k}: a ${show(x)}, b ${show(y)}` });
    }
    this.deltaCompare(rec, rule, na, nb, da, db);
  }

  private iomem(rec: Rec, va: string, vb: string): void {
    const la = iomemSystemRam(va);
    const lb = iomemSystemRam(vb);
    this.count(rec, Math.max(la.length, lb.length));
    const { onlyA, onlyB } = lineDiff(la, lb);
    if (onlyA.length + onlyB.length === 0) return;
    this.add(rec, {
      rule: "iomem-system-ram",
      item: "value",
      a: la.join("\n"),
      b: lb.join("\n"),
      message: `System RAM lines differ: ${describeLines(onlyA, onlyB)}`,
    });
  }

  private tablePages(rec: Rec, va: number, vb: number, baseA: Baselines, baseB: Baselines): void {
    const one = (v: number) => new Map([["tablePages", v]]);
    this.deltaCompare(
      rec,
      "tablePages-delta",
      one(va),
      one(vb),
      baseA.deltas("ptdump", one(va)),
      baseB.deltas("ptdump", one(vb)),
    );
  }
}

// ---------------------------------------------------------------------------
// Kernel crashes and warnings (docs/scenario-format.md, "Kernel crashes and warnings")

const CRASH_KEYS = new Set(["crash", "warnings"]);

/** "BUG in __remove_memory": what a crash or warning record says, without its message. */
function crashWhat(c: unknown): string | undefined {
  if (!isObject(c)) return undefined;
  return `${String(c.kind)}${typeof c.function === "string" ? ` in ${c.function}` : ""}`;
}

/**
 * A crash is compared by its kind and function (the message is the kernel's
 * report line on one side and the model's explanation on the other); warnings
 * as the list of their kinds and functions. A crash only one trace has is a
 * difference; so is a different kind or function (which may be an inlined
 * function: the kernel names the function the code was compiled into).
 */
function crashDifferences(ra: Rec, rb: Rec): Array<Omit<Difference, "line" | "op" | "path">> {
  const out: Array<Omit<Difference, "line" | "op" | "path">> = [];
  const ca = crashWhat(ra.crash);
  const cb = crashWhat(rb.crash);
  if (ca !== cb) {
    out.push({
      rule: "crash",
      item: "crash",
      a: ra.crash,
      b: rb.crash,
      message: `crash: a ${ca ?? "none"}, b ${cb ?? "none"}`,
    });
  }
  const list = (w: unknown): string[] =>
    Array.isArray(w) ? w.map((x) => crashWhat(x) ?? canonical(x)).sort() : [];
  const wa = list(ra.warnings);
  const wb = list(rb.warnings);
  const { onlyA, onlyB } = lineDiff(wa, wb);
  if (onlyA.length + onlyB.length > 0) {
    out.push({
      rule: "crash",
      item: "warnings",
      a: ra.warnings,
      b: rb.warnings,
      message: `warnings: ${describeLines(onlyA, onlyB)}`,
    });
  }
  return out;
}

/** The line both traces crashed on (their runs ended there), if they did. */
function bothCrashedAt(ra: TraceRecord[], rb: TraceRecord[]): number | undefined {
  const x = ra.at(-1);
  const y = rb.at(-1);
  return x?.crash && y?.crash && x.line === y.line ? x.line : undefined;
}

function numbersOf(fields: Record<string, unknown>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of Object.entries(fields)) if (typeof v === "number") out.set(k, v);
  return out;
}

/** The statements after boot that neither trace has, and records whose op contradicts the file. */
function scenarioDifferences(ra: TraceRecord[], rb: TraceRecord[], scenario: Scenario): Difference[] {
  const opAt = (records: TraceRecord[]): Map<number, string> => {
    const m = new Map<number, string>();
    for (const r of records) if (!m.has(r.line)) m.set(r.line, r.op);
    return m;
  };
  const opsA = opAt(ra);
  const opsB = opAt(rb);
  const out: Difference[] = [];
  for (const s of scenario.body) {
    const line = s.loc.line;
    const where = "path" in s ? { path: s.path } : {};
    const x = opsA.get(line);
    const y = opsB.get(line);
    if (x === undefined && y === undefined) {
      out.push({
        line,
        op: s.op,
        ...where,
        rule: "missing",
        item: "record",
        a: undefined,
        b: undefined,
        message: "neither trace has a record for this statement (did both runs stop early?)",
      });
    } else if ((x !== undefined && x !== s.op) || (y !== undefined && y !== s.op)) {
      out.push({
        line,
        op: s.op,
        ...where,
        rule: "scenario",
        item: "op",
        a: x,
        b: y,
        message: `the scenario has ${s.op} on this line, the traces ${show(x)} and ${show(y)}: traces of another file?`,
      });
    }
  }
  return out;
}

/** The differences between two traces, and how much each scenario line compared. */
export interface Comparison {
  differences: Difference[];
  /**
   * Per scenario line, how many values were compared: record keys other than op and
   * path, each number of a counter file both records have, each System RAM line. A line
   * that compared nothing cannot be said to agree.
   */
  compared: Map<number, number>;
}

/**
 * The differences between two traces of one scenario, in scenario-line order. With the
 * scenario, statements neither trace reached and records that contradict the file are
 * reported too.
 */
export function compareTraces(a: Trace, b: Trace, scenario?: Scenario): Comparison {
  const cmp = new Comparer();
  const baseA = new Baselines();
  const baseB = new Baselines();
  const ra = a.records;
  const rb = b.records;
  let i = 0;
  let j = 0;
  while (i < ra.length || j < rb.length) {
    const x = ra[i];
    const y = rb[j];
    if (y === undefined || (x !== undefined && x.line < y.line)) {
      cmp.missing(asRec(x), baseA, "a");
      i++;
    } else if (x === undefined || y.line < x.line) {
      cmp.missing(asRec(y), baseB, "b");
      j++;
    } else {
      cmp.compare({ rec: asRec(x), base: baseA }, { rec: asRec(y), base: baseB });
      i++;
      j++;
    }
  }
  const out = cmp.out;
  if (scenario !== undefined) {
    // statements after a crash both traces ended on ran nowhere: not a difference
    const end = bothCrashedAt(ra, rb) ?? Infinity;
    out.push(...scenarioDifferences(ra, rb, scenario).filter((d) => d.line <= end));
  }
  // Stable: per line, in the order found.
  const differences = out
    .map((d, k) => ({ d, k }))
    .sort((p, q) => p.d.line - q.d.line || p.k - q.k)
    .map((p) => p.d);
  return { differences, compared: cmp.compared };
}

/** compareTraces()'s differences only. */
export function diffTraces(a: Trace, b: Trace, scenario?: Scenario): Difference[] {
  return compareTraces(a, b, scenario).differences;
}

/**
 * Human-readable report: each line's differences under the scenario statement they
 * belong to ("" when there are none).
 */
export function formatDifferences(diffs: readonly Difference[], scenarioText?: string): string {
  const src = scenarioText?.split("\n").map((l) => l.replace(/\r$/, ""));
  const out: string[] = [];
  let lastLine = -1;
  for (const d of diffs) {
    if (d.line !== lastLine) {
      lastLine = d.line;
      const text = src?.[d.line - 1]?.trim();
      const head =
        text !== undefined && text !== "" ? text : [d.op, d.path].filter((x) => x !== undefined).join(" ");
      out.push(`line ${d.line}: ${head}`);
    }
    out.push(`  [${d.rule}] ${d.message}`);
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`;
}
