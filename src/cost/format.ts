// The text form of a bench report: one table per profile and scenario (a row per
// strategy, a column per phase), then the sweep.

import { formatNs } from "./engine.js";
import { BENCH_PHASES } from "./phases.js";
import type { BenchReport, StrategyRun } from "./bench.js";

const GiB = 2 ** 30;

export function formatBytes(n: number): string {
  if (n === 0) return "0";
  if (n % GiB === 0) return `${n / GiB} GiB`;
  if (n >= GiB) return `${(n / GiB).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${Number((n / 2 ** 20).toPrecision(3))} MiB`;
  return `${Number((n / 1024).toPrecision(3))} KiB`;
}

function table(header: string[], rows: string[][], rightFrom = 1): string[] {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i >= rightFrom && i < r.length - 2 ? c.padStart(w[i]) : c.padEnd(w[i])))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function keptText(run: StrategyRun): string {
  const k = run.kept;
  const parts = [formatBytes(k.bytes)];
  if (k.memoryBlocks) parts.push(`${k.memoryBlocks} blocks`);
  if (k.driverHeldPages) parts.push(`${formatBytes(k.driverHeldPages * 4096)} held`);
  return parts.join(", ");
}

export function formatBench(r: BenchReport): string {
  const out: string[] = [];
  const m = r.machine;
  if (r.runs.length) {
    out.push(
      `memhp bench: ${formatBytes(m.bootBytes)} boot RAM + ${formatBytes(m.driverBytes)} driver-managed memory ` +
        `powered down and up, ${r.cycles} cycle(s), seed ${r.seed}; predicted times (mean per cycle)`,
    );
    const groups = new Map<string, StrategyRun[]>();
    for (const run of r.runs) {
      const key = `${run.profile} (${run.arch}, ${run.cpus} CPUs), scenario ${run.scenario}`;
      groups.set(key, [...(groups.get(key) ?? []), run]);
    }
    for (const [title, runs] of groups) {
      out.push("", title);
      const header = ["strategy", ...BENCH_PHASES, "down", "up", "cycle", "kept while off", "exposure"];
      const rows = runs.map((run) => [
        run.title + (run.ok ? "" : " (!)"),
        ...BENCH_PHASES.map((ph) => formatNs(run.phases[ph].meanNs)),
        formatNs(run.downNs),
        formatNs(run.upNs),
        formatNs(run.cycleNs),
        keptText(run),
        run.exposure.verdict,
      ]);
      out.push(...table(header, rows));
      for (const run of runs) if (!run.ok) out.push(`  ${run.title}: ${run.errors.join("; ")}`);
    }
  }
  const sw = r.sweep;
  if (sw) {
    out.push(
      "",
      `sweep: virtio-mem plug and unplug, ${sw.profile} (${sw.machine.arch}, ${sw.machine.cpus} CPUs), ` +
        `${formatBytes(sw.machine.bootBytes)} boot RAM, auto-onlined movable`,
    );
    const header = [
      "size",
      "blocks",
      "add",
      "online",
      "plug",
      "offline",
      "remove",
      "unplug",
      "model",
      "heap",
    ];
    const rows = sw.points.map((p) => [
      formatBytes(p.sizeBytes),
      String(p.blocks),
      formatNs(p.plug["populate/add"]),
      formatNs(p.plug.online),
      formatNs(p.plugNs) + (p.plugErr === "ok" ? "" : ` ${p.plugErr}`),
      formatNs(p.unplug.offline),
      formatNs(p.unplug["depopulate/remove"]),
      formatNs(p.unplugNs) + (p.unplugErr === "ok" ? "" : ` ${p.unplugErr}`),
      `${(p.modelMs / 1000).toFixed(1)} s`,
      formatBytes(p.heapBytes),
    ]);
    out.push(...table(header, rows, 1).map((l) => l));
    for (const s of sw.skipped) out.push(`  ${formatBytes(s.sizeBytes)}: not run: ${s.reason}`);
  }
  return out.join("\n") + "\n";
}
