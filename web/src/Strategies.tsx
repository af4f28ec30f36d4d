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
import { num, size } from "./format.js";

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
    const values = keys.flatMap((k) =>
      cmp.measures.get(k)!.filter((v): v is number => typeof v === "number" && v > 0),
    );
    const log = values.length > 0 && Math.max(...values) / Math.min(...values) > 100;
    const chart = new Chart(canvas.current, {
      type: "bar",
      data: {
        labels: keys.map((k) => k.slice(group.length + 1) || k),
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
            : { type: "linear", ticks: { callback: (v) => num(Number(v)) } },
          x: { ticks: { autoSkip: false, maxRotation: 60, font: { size: 10 } } },
        },
      },
    });
    return () => chart.destroy();
  }, [cmp, group, keys]);
  return (
    <div class={`panel strat-chart${keys.length > 8 ? " wide" : ""}`}>
      <h3>{group}</h3>
      <div class="chart-box small">
        <canvas ref={canvas} />
      </div>
    </div>
  );
}

function Cells({ values }: { values: Cell[] }) {
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
                ? num(v)
                : v}
        </td>
      ))}
    </>
  );
}

export function Strategies() {
  const [cmp, setCmp] = useState<Comparison | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [loaded, setLoaded] = useState(false);
  useEffect(() => {
    getDemo()
      .then((d) => {
        if (d !== undefined) setCmp(readComparison(d));
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
        setCmp(readComparison(JSON.parse(t)));
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
  return (
    <div class="strategies" data-testid="strategies">
      <div class="panel">
        <h2>Strategies compared {cmp?.title ? <span class="muted">— {cmp.title}</span> : null}</h2>
        <p class="muted">
          From <code>memhp demo --json</code>: start <code>memhp serve --demo FILE</code>, or load a file
          here: <input type="file" accept="application/json,.json" onChange={onFile} />
        </p>
        {error ? <p class="err">{error}</p> : null}
        {loaded && !cmp && !error ? <p class="muted">No comparison loaded yet.</p> : null}
      </div>
      {cmp ? (
        <>
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
                {[...cmp.measures].map(([k, vals]) => (
                  <tr key={k}>
                    <th class="mono">{k}</th>
                    <Cells values={vals} />
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
    </div>
  );
}
