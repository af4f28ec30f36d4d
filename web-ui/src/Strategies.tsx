// The strategies of `memhp demo --json` side by side: a chart per group of
// measures and the whole table. The reader does not hard-code the demo's
// columns: it takes the array of strategies (the top-level array, or the first
// array of objects in the object), names each by its name/strategy/label field,
// and flattens every other field into "group.measure" rows, so new measures
// appear without a change here.
import { useEffect, useRef, useState } from "preact/hooks";
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LogarithmicScale,
  Tooltip,
} from "chart.js";
import { getDemo } from "./api.js";
import { num, size, WORK_LABELS } from "./format.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LogarithmicScale, Legend, Tooltip);

type Cell = number | string | boolean | null;

export interface Comparison {
  title?: string;
  strategies: string[];
  /** measure path → one value per strategy */
  measures: Map<string, Cell[]>;
}

const NAME_KEYS = ["name", "strategy", "label", "title", "id", "phase", "after"];
const PALETTE = ["#1565c0", "#2e7d32", "#6a1b9a", "#ef6c00", "#c62828", "#00838f", "#5d4037", "#546e7a"];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** {arch: "arm64", bootBytes: 6442450944} → "arch arm64, boot 6G" */
function describe(o: Record<string, unknown>): string {
  return Object.entries(o)
    .filter(([, v]) => !isObject(v) && !Array.isArray(v))
    .map(([k, v]) =>
      k.endsWith("Bytes") && typeof v === "number" ? `${k.slice(0, -5)} ${size(v)}` : `${k} ${String(v)}`,
    )
    .join(", ");
}

function flatten(v: unknown, prefix: string, out: Map<string, Cell>): void {
  if (v === null || typeof v === "number" || typeof v === "string" || typeof v === "boolean") {
    out.set(prefix, v);
  } else if (Array.isArray(v)) {
    if (v.every((x) => !isObject(x) && !Array.isArray(x))) out.set(prefix, v.join(", "));
    else {
      // Phases with work counts ({name, work: {...}}): their sum first, comparable across strategies
      // whose phases differ.
      const works = v
        .filter((x) => isObject(x) && isObject(x.work))
        .map((x) => (x as { work: Record<string, unknown> }).work);
      if (works.length) {
        const total = new Map<string, number>();
        for (const w of works)
          for (const [k, n] of Object.entries(w))
            if (typeof n === "number") total.set(k, (total.get(k) ?? 0) + n);
        for (const [k, n] of total) out.set(`${prefix}: all phases.${k}`, n);
      }
      v.forEach((x, i) => {
        const key = isObject(x) ? NAME_KEYS.map((k) => x[k]).find((n) => typeof n === "string") : undefined;
        flatten(x, `${prefix}.${key ?? i}`, out);
      });
    }
  } else if (isObject(v)) {
    for (const [k, x] of Object.entries(v))
      if (!NAME_KEYS.includes(k) || prefix !== "") flatten(x, prefix ? `${prefix}.${k}` : k, out);
  }
}

/** Reads the demo's JSON; throws with a message when no strategy array is in it. */
export function readComparison(data: unknown): Comparison {
  let rows: unknown[] | undefined;
  let title: string | undefined;
  if (Array.isArray(data)) rows = data;
  else if (isObject(data)) {
    const arrays = Object.entries(data).filter(
      ([, v]) => Array.isArray(v) && v.length > 0 && v.every(isObject),
    );
    const preferred = arrays.find(([k]) => /strateg|rows|results|table/i.test(k)) ?? arrays[0];
    rows = preferred?.[1] as unknown[] | undefined;
    const m = data.machine ?? data.title;
    title = typeof m === "string" ? m : isObject(m) ? describe(m) : undefined;
  }
  if (!rows || rows.length === 0 || !rows.every(isObject))
    throw new Error("no array of strategies found in this JSON");
  const strategies = rows.map((r, i) => {
    const n = NAME_KEYS.map((k) => r[k]).find((x) => typeof x === "string" || typeof x === "number");
    return n === undefined ? `strategy ${i + 1}` : String(n);
  });
  const flat = rows.map((r) => {
    const m = new Map<string, Cell>();
    flatten(r, "", m);
    return m;
  });
  const measures = new Map<string, Cell[]>();
  for (const m of flat) for (const k of m.keys()) if (!measures.has(k)) measures.set(k, []);
  for (const [k, vals] of measures) for (const m of flat) vals.push(m.get(k) ?? null);
  return { title, strategies, measures };
}

function GroupChart({ group, cmp, keys }: { group: string; cmp: Comparison; keys: string[] }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const all = keys.flatMap((k) => cmp.measures.get(k)!.filter((v): v is number => typeof v === "number"));
    const values = all.filter((v) => v > 0);
    // A log scale only when nothing is negative (a negative bar is drawn on a linear scale, below 0).
    const log =
      !all.some((v) => v < 0) && values.length > 0 && Math.max(...values) / Math.min(...values) > 100;
    // One unit for the whole axis when every measure has it (sizes, kB, times).
    const unitOf = (k: string) => /(Bytes|Kb|Ns)$/.exec(k)?.[1];
    const unitKey = keys.every((k) => unitOf(k) && unitOf(k) === unitOf(keys[0])) ? keys[0] : undefined;
    const chart = new Chart(canvas.current, {
      type: "bar",
      data: {
        labels: keys.map((k) => humanKey(k.slice(group.length + 1) || k)),
        datasets: cmp.strategies.map((s, i) => ({
          label: s,
          backgroundColor: PALETTE[i % PALETTE.length],
          data: keys.map((k) => {
            const v = cmp.measures.get(k)![i];
            return typeof v === "number" ? (log && v <= 0 ? null : v) : null;
          }),
        })),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } }, title: { display: false } },
        scales: {
          y: log
            ? {
                type: "logarithmic",
                min: 0.5,
                ticks: { callback: (v) => (Number.isInteger(Math.log10(Number(v))) ? num(Number(v)) : "") },
              }
            : {
                type: "linear",
                ticks: { callback: (v) => (unitKey ? withUnit(unitKey, Number(v)) : num(Number(v))) },
              },
          x: { ticks: { autoSkip: false, maxRotation: 60, font: { size: 10 } } },
        },
      },
    });
    return () => chart.destroy();
  }, [cmp, group, keys]);
  return (
    <div class={`panel strat-chart${keys.length > 8 ? " wide" : ""}`}>
      <h3>{humanKey(group)}</h3>
      <div class="chart-box small">
        <canvas ref={canvas} />
      </div>
      <p class="muted small">{logNote(cmp, keys)}</p>
    </div>
  );
}

function Cells({ k, values }: { k: string; values: Cell[] }) {
  return (
    <>
      {values.map((v, i) => (
        <td key={i} class={typeof v === "boolean" ? (v ? "ok" : "err") : typeof v === "number" ? "num" : ""}>
          {v === null
            ? ""
            : typeof v === "boolean"
              ? v
                ? "✓ yes"
                : "✗ no"
              : typeof v === "number"
                ? withUnit(k, v)
                : v}
        </td>
      ))}
    </>
  );
}

/** What a chart does not draw, said under it. */
function logNote(cmp: Comparison, keys: string[]): string {
  const all = keys.flatMap((k) => cmp.measures.get(k)!.filter((v): v is number => typeof v === "number"));
  const values = all.filter((v) => v > 0);
  const log = !all.some((v) => v < 0) && values.length > 0 && Math.max(...values) / Math.min(...values) > 100;
  if (log) return "log scale: bars of 0 are not drawn";
  return all.some((v) => v < 0) ? "linear scale: negative values below the axis" : "linear scale";
}

/** The demo's fields in words (others: their camelCase split, or the work counters' labels). */
const FIELD_WORDS: Record<string, string> = {
  memmapPages: "memmap",
  linearTablePages: "linear-map table pages",
  tablePagesDelta: "table pages vs before",
  memoryBlockDevices: "memory block devices",
  systemRamResources: "System RAM resources",
  driverHeldPages: "pages held by the driver",
  memTotalDeltaKb: "MemTotal change",
  maxMappedBytes: "mapped while off",
  downNs: "power-down",
  upNs: "power-up",
  auditorClean: "auditor clean",
  dataLossFree: "data-loss-free",
  downErr: "power-down result",
  upErr: "power-up result",
  kind: "strategy",
};

/** Counters that count pages, and those that count bytes. */
const PAGE_KEYS = new Set([
  "memmapPages",
  "linearTablePages",
  "driverHeldPages",
  "pagesMigrated",
  "pagesIsolated",
  "pagesScanned",
  "pagesToBuddy",
  "pagesFromBuddy",
  "memmapPagesInit",
  "vmemmapPagesAllocated",
  "vmemmapPagesFreed",
  "tablePagesAllocated",
  "tablePagesFreed",
]);
const BYTE_KEYS = new Set(["bytesCopied"]);

const GROUP_WORDS: Record<string, string> = {
  held: "held while powered down",
  down: "power-down",
  up: "power-up",
  windows: "exposure windows",
  predicted: "predicted time",
  audits: "audit points",
};

/** "down: all phases.pagesMigrated" → "power-down, all phases › pages migrated" */
export function humanKey(key: string): string {
  return key
    .split(".")
    .map((part) => {
      const [head, ...rest] = part.split(": ");
      const h = GROUP_WORDS[head] ?? FIELD_WORDS[head] ?? WORK_LABELS[head] ?? words(head);
      return [h, ...rest].join(", ");
    })
    .join(" › ");
}

function words(camel: string): string {
  return camel
    .replace(/(Bytes|Kb|Ns)$/, "")
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/^([A-Z])/, (c) => c.toLowerCase())
    .replace(/ ([A-Z])(?=[a-z])/g, (_m, c: string) => ` ${c.toLowerCase()}`);
}

/** A value with the unit its key names: …Bytes a size, …Kb kB, …Ns a time, …Pages pages. */
export function withUnit(key: string, v: number): string {
  const last = key.slice(key.lastIndexOf(".") + 1);
  if (/Bytes$/.test(last) || BYTE_KEYS.has(last)) return (v < 0 ? "-" : "") + size(Math.abs(v));
  if (/Kb$/.test(last)) return `${num(v)} kB`;
  if (/Ns$/.test(last)) return duration(v);
  if (PAGE_KEYS.has(last)) return `${num(v)} page${v === 1 ? "" : "s"}`;
  return num(v);
}

/** 657 ms, 15.5 ms, 52 µs */
export function duration(ns: number): string {
  const [v, u] =
    ns >= 1e9 ? [ns / 1e9, "s"] : ns >= 1e6 ? [ns / 1e6, "ms"] : ns >= 1e3 ? [ns / 1e3, "µs"] : [ns, "ns"];
  return `${v >= 100 ? Math.round(v) : Number(v.toPrecision(3))} ${u}`;
}

interface DemoStrategy {
  title?: string;
  kind?: string;
  correct?: boolean;
  problems?: string[];
  windows?: { from: string; to: string; maxMappedBytes: number }[];
  accesses?: number;
  held?: Record<string, number>;
  predicted?: { profile: string; downNs: number; upNs: number };
  downErr?: string;
  upErr?: string;
}

export interface VerdictRow {
  name: string;
  correct: boolean | undefined;
  down: string;
  up: string;
  exposed: string;
  held: string;
}

/** The answer first: per strategy, its time each way, what stays exposed and what stays held while off. */
export function verdictRows(data: unknown): { profile?: string; rows: VerdictRow[] } | undefined {
  if (!isObject(data) || !Array.isArray(data.strategies)) return undefined;
  const ss = data.strategies as DemoStrategy[];
  if (!ss.every((s) => isObject(s) && isObject(s.held) && Array.isArray(s.windows))) return undefined;
  const page = 4096;
  const rows = ss.map((s, i) => {
    const h = s.held!;
    const held: string[] = [];
    if (h.memmapPages) held.push(`${size(h.memmapPages * page)} of memmap`);
    if (h.linearTablePages) held.push(`${num(h.linearTablePages)} linear-map table pages`);
    if (h.memoryBlockDevices) held.push(`${num(h.memoryBlockDevices)} memory block devices`);
    if (h.systemRamResources)
      held.push(`${num(h.systemRamResources)} System RAM resource${h.systemRamResources === 1 ? "" : "s"}`);
    if (h.driverHeldPages) held.push(`${size(h.driverHeldPages * page)} of pages held by the driver`);
    const w = s.windows!;
    const exposed = w.length
      ? `${size(Math.max(...w.map((x) => x.maxMappedBytes)))} stays mapped while powered off (${w
          .map((x) => `${x.from} → ${x.to}`)
          .join(", ")})` + (s.accesses ? `; ${num(s.accesses)} accesses to it` : "")
      : s.accesses
        ? `${num(s.accesses)} accesses to powered-off memory`
        : "nothing";
    return {
      name: s.title ?? s.kind ?? `strategy ${i + 1}`,
      correct: s.correct,
      down:
        s.downErr && s.downErr !== "ok"
          ? `${s.downErr}: refused`
          : s.predicted
            ? duration(s.predicted.downNs)
            : "—",
      up:
        s.upErr && s.upErr !== "ok" ? `${s.upErr}: refused` : s.predicted ? duration(s.predicted.upNs) : "—",
      exposed,
      held: held.join(", ") || "nothing",
    };
  });
  return { profile: ss.find((s) => s.predicted)?.predicted?.profile, rows };
}

function Verdict({ data }: { data: unknown }) {
  const v = verdictRows(data);
  if (!v) return null;
  return (
    <div class="panel verdict" data-testid="verdict">
      <h2>The answer</h2>
      <table class="verdict-table">
        <thead>
          <tr>
            <th>strategy</th>
            <th>correct</th>
            <th>power-down{v.profile ? ` (${v.profile})` : ""}</th>
            <th>power-up</th>
            <th>stays exposed while off</th>
            <th>stays held while off</th>
          </tr>
        </thead>
        <tbody>
          {v.rows.map((r) => (
            <tr key={r.name} data-verdict={r.name}>
              <th>{r.name}</th>
              <td class={r.correct ? "ok" : "err"}>
                {r.correct === undefined ? "" : r.correct ? "✓ yes" : "✗ no"}
              </td>
              <td class="num">{r.down}</td>
              <td class="num">{r.up}</td>
              <td class={r.exposed === "nothing" ? "ok" : "err"}>{r.exposed}</td>
              <td>{r.held}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted small">
        Times are the cost model's prediction for the work the model counted (docs/cost-model.md); exposed
        means the kernel still maps memory that is powered off, which a stray access would touch.
      </p>
    </div>
  );
}

export function Strategies() {
  const [cmp, setCmp] = useState<Comparison | undefined>();
  const [raw, setRaw] = useState<unknown>();
  const [error, setError] = useState<string | undefined>();
  const [loaded, setLoaded] = useState(false);
  useEffect(() => {
    getDemo()
      .then((d) => {
        if (d !== undefined && d !== null) {
          setCmp(readComparison(d));
          setRaw(d);
        }
      })
      .catch((e: Error) => setError(e.message))
      .finally(() => setLoaded(true));
  }, []);
  const onFile = (ev: Event) => {
    const file = (ev.target as HTMLInputElement).files?.[0];
    if (!file) return;
    file
      .text()
      .then((t) => {
        const d = JSON.parse(t) as unknown;
        setCmp(readComparison(d));
        setRaw(d);
        setError(undefined);
      })
      .catch((e: Error) => setError(`${file.name}: ${e.message}`));
  };
  const groups = new Map<string, string[]>();
  if (cmp) {
    for (const [k, vals] of cmp.measures) {
      if (!vals.some((v) => typeof v === "number")) continue;
      const g = k.includes(".") ? k.slice(0, k.lastIndexOf(".")) : "measures";
      groups.set(g, [...(groups.get(g) ?? []), k]);
    }
    // Chart only what compares: groups where every strategy has a number, and some are not 0.
    for (const [g, keys] of groups) {
      const vals = keys.map((k) => cmp.measures.get(k)!);
      const everyone = cmp.strategies.every((_, i) => vals.some((v) => typeof v[i] === "number"));
      const nonZero = vals.some((v) => v.some((x) => typeof x === "number" && x !== 0));
      if (!everyone || !nonZero) groups.delete(g);
    }
  }
  // Totals and the per-strategy facts first; each phase's and audit point's rows on request.
  const isDetail = (k: string) => k.split(".").length > 2 || /^(audits|down|up)\./.test(k);
  const summary = cmp ? [...cmp.measures].filter(([k]) => !isDetail(k)) : [];
  const detail = cmp ? [...cmp.measures].filter(([k]) => isDetail(k)) : [];
  return (
    <div class="strategies" data-testid="strategies">
      <div class="panel">
        <h2>Strategies compared {cmp?.title ? <span class="muted">— {cmp.title}</span> : null}</h2>
        <p class="muted">
          Powering driver-managed memory down and up under each strategy (<code>memhp demo</code>), on the
          machine named here, not necessarily the live one of the memory map. Another run:{" "}
          <code>memhp demo --json &gt; d.json</code>, then <code>memhp serve --demo d.json</code> or load it
          here: <input type="file" accept="application/json,.json" onChange={onFile} />
        </p>
        {error ? <p class="err">{error}</p> : null}
        {!loaded ? <p class="muted">running the strategies on the model…</p> : null}
        {loaded && !cmp && !error ? <p class="muted">No comparison loaded yet.</p> : null}
      </div>
      {cmp ? (
        <>
          <Verdict data={raw} />
          <h2 class="section-title">The work behind it</h2>
          <div class="strat-charts">
            {[...groups]
              .sort(([a], [b]) => Number(b.includes("all phases")) - Number(a.includes("all phases")))
              .slice(0, 8)
              .map(([g, keys]) => (
                <GroupChart key={g} group={g} cmp={cmp} keys={keys} />
              ))}
          </div>
          <div class="panel">
            <table class="compare">
              <thead>
                <tr>
                  <th />
                  {cmp.strategies.map((s) => (
                    <th key={s}>{s}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {summary.map(([k, vals]) => (
                  <tr key={k}>
                    <th title={k}>{humanKey(k)}</th>
                    <Cells k={k} values={vals} />
                  </tr>
                ))}
              </tbody>
            </table>
            <details class="detail-rows">
              <summary>each phase and audit point ({detail.length} rows)</summary>
              <table class="compare">
                <tbody>
                  {detail.map(([k, vals]) => (
                    <tr key={k}>
                      <th title={k}>{humanKey(k)}</th>
                      <Cells k={k} values={vals} />
                    </tr>
                  ))}
                </tbody>
              </table>
            </details>
          </div>
        </>
      ) : null}
    </div>
  );
}
