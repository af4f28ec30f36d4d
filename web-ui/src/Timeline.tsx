// The operations so far, each with the exact work the model counted for it
// (src/kernel/work.ts), as a table and as a chart.
import { useEffect, useRef } from "preact/hooks";
import { BarController, BarElement, CategoryScale, Chart, Legend, LogarithmicScale, Tooltip } from "chart.js";
import type { TimelineView } from "./api.js";
import { WORK_LABELS, num } from "./format.js";

Chart.register(BarController, BarElement, CategoryScale, LogarithmicScale, Legend, Tooltip);

const sum = (c: Record<string, number>, keys: string[]) => keys.reduce((s, k) => s + (c[k] ?? 0), 0);

/** What the chart groups the counters into: the work a kernel engineer weighs. */
const GROUPS: { label: string; colour: string; keys: string[] }[] = [
  {
    label: "page-table entries set",
    colour: "#6a1b9a",
    keys: ["pteWritten", "pmdWritten", "pudWritten", "p4dWritten", "pgdWritten"],
  },
  {
    label: "page-table entries cleared",
    colour: "#ba68c8",
    keys: ["pteCleared", "pmdCleared", "pudCleared", "p4dCleared", "pgdCleared"],
  },
  { label: "table pages alloc/free", colour: "#283593", keys: ["tablePagesAllocated", "tablePagesFreed"] },
  { label: "TLB flushes", colour: "#c62828", keys: ["tlbFlushPage", "tlbFlushRange", "tlbFlushAll"] },
  { label: "struct pages initialised", colour: "#00897b", keys: ["memmapPagesInit"] },
  {
    label: "vmemmap pages alloc/free",
    colour: "#4db6ac",
    keys: ["vmemmapPagesAllocated", "vmemmapPagesFreed"],
  },
  { label: "pages migrated", colour: "#ef6c00", keys: ["pagesMigrated"] },
  {
    label: "devices, sysfs files, uevents",
    colour: "#78909c",
    keys: ["memoryBlocksRegistered", "memoryBlocksUnregistered", "kobjects", "sysfsFiles", "uevents"],
  },
];

/** "online_movable → memory48" for "echo online_movable > /sys/devices/system/memory/memory48/state". */
export function shortCommand(command: string): string {
  const m = /^echo\s+(\S+)\s*>+\s*(\S+)$/.exec(command.trim());
  if (m) {
    const parts = m[2].split("/").filter(Boolean);
    const file = parts[parts.length - 1];
    const where = /^memory\d+$/.test(parts[parts.length - 2] ?? "") ? parts[parts.length - 2] : file;
    return `${m[1]} → ${where}`;
  }
  return command.length > 30 ? command.slice(0, 29) + "…" : command;
}

function WorkChart({ timeline }: { timeline: TimelineView[] }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, {
      type: "bar",
      data: {
        labels: timeline.map((e) => `#${e.seq} ${shortCommand(e.command)}`),
        datasets: GROUPS.map((g) => ({
          label: g.label,
          backgroundColor: g.colour,
          data: timeline.map((e) => sum(e.counts, g.keys) || null),
        })),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: {
          legend: { position: "right", labels: { boxWidth: 12, font: { size: 11 } } },
          tooltip: { callbacks: { title: (items) => timeline[items[0].dataIndex]?.command ?? "" } },
        },
        scales: {
          y: {
            type: "logarithmic",
            min: 0.5,
            title: { display: true, text: "count (log scale)" },
            ticks: { callback: (v) => (Number.isInteger(Math.log10(Number(v))) ? num(Number(v)) : "") },
          },
          x: { ticks: { font: { size: 11 } } },
        },
      },
    });
    return () => chart.destroy();
  }, [timeline]);
  return (
    <div class="chart-box">
      <canvas ref={canvas} />
    </div>
  );
}

export function Timeline({ timeline }: { timeline: TimelineView[] }) {
  return (
    <div class="panel timeline" data-testid="timeline">
      <h2>
        Timeline: {timeline.length} operation{timeline.length === 1 ? "" : "s"}, work counted by the model
      </h2>
      {timeline.length === 0 ? (
        <p class="muted">No operation yet: click a block, add a DIMM, or type a command.</p>
      ) : (
        <>
          <WorkChart timeline={timeline} />
          <table class="ops-table">
            <thead>
              <tr>
                <th>#</th>
                <th>command</th>
                <th>result</th>
                <th>work</th>
              </tr>
            </thead>
            <tbody>
              {[...timeline].reverse().map((e) => (
                <tr key={e.seq} data-seq={e.seq}>
                  <td class="num">{e.seq}</td>
                  <td class="mono cmd">
                    {e.command}
                    {e.blocks?.added.length ? (
                      <div class="blocks-changed">+ {e.blocks.added.length} blocks</div>
                    ) : null}
                    {e.blocks?.removed.length ? (
                      <div class="blocks-changed">− {e.blocks.removed.length} blocks</div>
                    ) : null}
                  </td>
                  <td class={e.result === "ok" ? "ok" : "err"}>
                    {e.result}
                    {e.reason ? (
                      <div class="reason" data-reason>
                        {e.reason}
                      </div>
                    ) : null}
                  </td>
                  <td class="chips">
                    {Object.entries(e.counts).map(([k, v]) => (
                      <span class="chip" key={k} title={k}>
                        {WORK_LABELS[k] ?? k} <b>{num(v)}</b>
                      </span>
                    ))}
                    {Object.keys(e.counts).length === 0 ? (
                      <span class="muted">
                        {e.result === "ok" ? "no work counted" : "refused before any work"}
                      </span>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
