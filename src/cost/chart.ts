// SVG charts of a bench report, drawn with Vega-Lite and rendered by Vega in Node
// (no browser, no canvas: the "none" renderer's SVG string output).
//   strategies: per profile and scenario, one stacked bar per strategy, a segment
//               per phase (predicted time of one power-down + power-up cycle);
//   sweep:      predicted time of plugging and unplugging through virtio-mem
//               against the size, log-log, one line per phase.

import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { BENCH_PHASES } from "./phases.js";
import type { BenchReport } from "./bench.js";
import { STRATEGY_KINDS } from "../drivers/memory/strategies.js";

const PHASE_COLORS = ["#4c78a8", "#e45756", "#f58518", "#54a24b"];

async function render(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The strategies chart, or undefined when the report has no strategy run. */
export async function strategiesSvg(r: BenchReport): Promise<string | undefined> {
  if (!r.runs.length) return undefined;
  const rows = r.runs.flatMap((run) =>
    BENCH_PHASES.map((phase, i) => ({
      run: `${run.profile} (${run.arch}, ${run.cpus} CPUs), ${run.scenario}`,
      strategy: run.title + (run.ok ? "" : " (failed)"),
      order: STRATEGY_KINDS.indexOf(run.strategy),
      phase,
      phaseIndex: i,
      ms: run.phases[phase].meanNs / 1e6,
    })),
  );
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "memhp bench: predicted time of one power-down + power-up cycle",
      subtitle: `${r.machine.driverBytes / 2 ** 30} GiB of driver-managed memory, mean of ${r.cycles} cycle(s); work counted by the model, times from each profile's constants`,
    },
    data: { values: rows },
    facet: {
      row: {
        field: "run",
        type: "nominal",
        title: null,
        header: {
          labelAngle: 0,
          labelOrient: "top",
          labelAnchor: "start",
          labelFontWeight: "bold",
          labelFontSize: 12,
        },
      },
    },
    spec: {
      width: 520,
      height: { step: 22 },
      mark: { type: "bar" },
      encoding: {
        y: {
          field: "strategy",
          type: "nominal",
          title: null,
          sort: { field: "order", op: "min" },
          axis: { labelLimit: 240 },
        },
        x: { field: "ms", type: "quantitative", title: "predicted time (ms)", stack: "zero" },
        color: {
          field: "phase",
          type: "nominal",
          title: "phase",
          scale: { domain: [...BENCH_PHASES], range: PHASE_COLORS },
        },
        order: { field: "phaseIndex", type: "quantitative" },
        tooltip: [{ field: "strategy" }, { field: "phase" }, { field: "ms", format: ".3f" }],
      },
    },
    resolve: { scale: { x: "independent" } },
  };
  return render(spec);
}

/** The sweep chart, or undefined when the report has no sweep point. */
export async function sweepSvg(r: BenchReport): Promise<string | undefined> {
  const sw = r.sweep;
  if (!sw || !sw.points.length) return undefined;
  const rows: Array<{ gib: number; series: string; ms: number }> = [];
  for (const pt of sw.points) {
    const gib = pt.sizeBytes / 2 ** 30;
    rows.push({ gib, series: "plug: populate/add", ms: pt.plug["populate/add"] / 1e6 });
    rows.push({ gib, series: "plug: online", ms: pt.plug.online / 1e6 });
    rows.push({ gib, series: "plug, total", ms: pt.plugNs / 1e6 });
    rows.push({ gib, series: "unplug: offline", ms: pt.unplug.offline / 1e6 });
    rows.push({ gib, series: "unplug: depopulate/remove", ms: pt.unplug["depopulate/remove"] / 1e6 });
    rows.push({ gib, series: "unplug, total", ms: pt.unplugNs / 1e6 });
  }
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: `memhp bench: virtio-mem plug and unplug against size (${sw.profile})`,
      subtitle: `${sw.machine.arch}, ${sw.machine.cpus} CPUs, ${sw.machine.bootBytes / 2 ** 30} GiB boot RAM, auto-onlined movable; predicted times`,
    },
    width: 560,
    height: 360,
    data: { values: rows.filter((x) => x.ms > 0) },
    mark: { type: "line", point: true },
    encoding: {
      x: {
        field: "gib",
        type: "quantitative",
        title: "memory plugged (GiB)",
        scale: { type: "log", base: 2 },
      },
      y: { field: "ms", type: "quantitative", title: "predicted time (ms)", scale: { type: "log" } },
      color: { field: "series", type: "nominal", title: null, legend: { labelLimit: 260 } },
      strokeDash: {
        condition: { test: "indexof(datum.series, 'total') >= 0", value: [1, 0] },
        value: [4, 3],
      },
      tooltip: [{ field: "series" }, { field: "gib" }, { field: "ms", format: ".3f" }],
    },
  };
  return render(spec);
}
