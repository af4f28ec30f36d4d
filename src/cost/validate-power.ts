// Issue 18's measurement: power-down / power-up cycles of 1 GiB of
// driver-managed memory that a user-space workload occupies, on the patched
// kernel under QEMU (TCG), one row per strategy, the model's prediction beside
// each. The machine and the range are `--validate-rfc`'s (validate-rfc.ts):
// 1 GiB added with add_memory_driver_managed() past 2 GiB of boot RAM, its 8
// blocks online movable. Before each cycle the guest fills the range: FILL_MIB
// of anonymous memory held by dd processes blocked on a pipe (their buffers are
// movable pages, and the allocator takes them from ZONE_MOVABLE, the range,
// first); after the cycle they are killed, so every cycle starts with pages to
// migrate. The model places the same number of user pages the same way
// (Workload.fillUser()) and runs the same test-module words.
//
// Per strategy and cycle the guest reports: the guest-clock time of the
// power-down and of the power-up (/proc/uptime, 10 ms steps);
// pgmigrate_success from /proc/vmstat before and after each (the kernel needs
// CONFIG_VM_EVENT_COUNTERS, which the issue 18 kernel config adds; without it
// the row says so); the pages used in the Movable zone (/proc/zoneinfo); and
// /proc/meminfo's MemTotal, MemFree and (x86_64) DirectMap lines before, while
// down and after: the memmap and page tables a strategy frees show as MemFree
// it gains while down, the page sizes of the linear map as DirectMap.
//
// Strategies (test-module words, linux-patches/patches and docs/unmapped-alloc.md on
// the kernel branch):
//   rfc-block   RFC v2 offline_and_depopulate_memory(), block by block; back
//               with populate_and_online_memory(..., online_movable)
//   rfc-whole   the same with `whole`: one offline_pages() over the range
//   unmapped    alloc_contig_range_unmapped() / free_contig_range_unmapped()
//   remove-add  offline_and_remove_memory(); add_memory_driver_managed() and
//               online_movable of each block
// The last two of the first three need the issue 18 kernel; a kernel without
// them (its System.map lacks the functions) gets no row for them.

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { GUEST_CENTISECONDS_FN } from "../oracle/guest-init.js";
import type { Arch } from "../arch/arch.js";
import { cacheDir } from "../oracle/cache.js";
import { parseScenario } from "../scenario/parse.js";
import { executeStatement, runScenarioKernel } from "../scenario/run.js";
import { OracleSession, TEST_MODULE_CTL, type OracleOptions } from "../oracle/run.js";
import type { Kernel } from "../kernel/kernel.js";
import type { WorkCounts } from "../kernel/work.js";
import { NR_FREE_PAGES, ZONE_MOVABLE } from "../mm/mmzone.js";
import { costOf } from "./engine.js";
import type { CostProfile } from "./profile.js";
import { BLOCKS, RANGE, machine } from "./validate-rfc.js";

export const POWER_KINDS = ["rfc-block", "rfc-whole", "unmapped", "remove-add"] as const;
export type PowerKind = (typeof POWER_KINDS)[number];

export const POWER_TITLES: Readonly<Record<PowerKind, string>> = {
  "rfc-block": "RFC v2, block by block",
  "rfc-whole": "RFC v2, whole range",
  unmapped: "unmapped allocation",
  "remove-add": "remove + add",
};

/** The kernel function a kind needs beyond RFC v2 (looked up in System.map). */
const NEEDS: Partial<Record<PowerKind, string>> = {
  "rfc-whole": "offline_and_depopulate_memory_whole",
  unmapped: "alloc_contig_range_unmapped",
};

/** Anonymous memory the workload holds when a cycle starts (dd processes of 64 MiB). */
export const FILL_MIB = 768;
const DD_MIB = 64;

const hex = (n: number): string => `0x${n.toString(16)}`;
const PAGE = 4096;

/** The test-module words (scenario `call`s without `call`, or sysfs writes) of each direction. */
export function powerLines(arch: Arch, kind: PowerKind): { down: string[]; up: string[] } {
  const s = hex(RANGE[arch].start);
  const online = Array.from(
    { length: BLOCKS },
    (_, i) => `write /sys/devices/system/memory/memory${RANGE[arch].firstBlock + i}/state online_movable`,
  );
  switch (kind) {
    case "rfc-block":
      return {
        down: [`call depopulate_range_driver_managed ${s} 1G`],
        up: [`call populate_range_driver_managed ${s} 1G online_movable`],
      };
    case "rfc-whole":
      return {
        down: [`call depopulate_range_driver_managed ${s} 1G whole`],
        up: [`call populate_range_driver_managed ${s} 1G online_movable`],
      };
    case "unmapped":
      return {
        down: [`call alloc_contig_range_unmapped ${s} 1G`],
        up: [`call free_contig_range_unmapped ${s} 1G`],
      };
    case "remove-add":
      return {
        down: [`call offline_and_remove_memory ${s} 1G`],
        up: [`call add_memory_driver_managed ${s} 1G`, ...online],
      };
  }
}

function setupText(arch: Arch): string {
  const { start, firstBlock } = RANGE[arch];
  const online = Array.from(
    { length: BLOCKS },
    (_, i) => `write /sys/devices/system/memory/memory${firstBlock + i}/state online_movable`,
  );
  return (
    [machine(arch), "boot", `call add_memory_driver_managed ${hex(start)} 1G`, ...online].join("\n") + "\n"
  );
}

/** Pages in use in ZONE_MOVABLE (managed − free), as /proc/zoneinfo shows them. */
function movableUsed(k: Kernel): number {
  const z = k.pgdat.zones[ZONE_MOVABLE];
  return z.managedPages - z.vmStat[NR_FREE_PAGES];
}

export interface PowerPrediction {
  kind: PowerKind;
  /** user pages the model's workload got, and how many of them were in the range (ZONE_MOVABLE) */
  filledPages: number;
  movableUsedPages: number;
  /** pages migrated by the power-down (the model's pgmigrate_success) */
  migrated: number;
  downNs: number;
  upNs: number;
  down: WorkCounts;
  up: WorkCounts;
}

/**
 * The model's cycles of `sequence`, one after the other on one machine (as the
 * guest runs them: where the workload's pages land depends on what the cycles
 * before left on the free lists), each filled as the guest is. One prediction
 * per cycle, in order.
 */
export function predictPowerSequence(
  arch: Arch,
  sequence: readonly PowerKind[],
  p: CostProfile,
  fillMib = FILL_MIB,
): PowerPrediction[] {
  const k = runScenarioKernel(parseScenario(setupText(arch), "power-validate.mhp"));
  return sequence.map((kind) => {
    const filledPages = k.workload.fillUser((fillMib * 2 ** 20) / PAGE);
    const movableUsedPages = movableUsed(k);
    const lines = powerLines(arch, kind);
    const run = (ls: string[]): WorkCounts => {
      const sc = parseScenario(`${machine(arch)}\nboot\n${ls.join("\n")}\n`, "cycle.mhp");
      const before = k.work.snapshot();
      for (const st of sc.body) {
        const rec = executeStatement(k, st) as { result?: string };
        if (rec.result !== "ok") throw new Error(`model, ${kind}: ${ls[st.loc.line - 3]}: ${rec.result}`);
      }
      return k.work.since(before);
    };
    const down = run(lines.down);
    const up = run(lines.up);
    k.workload.releaseAll();
    return {
      kind,
      filledPages,
      movableUsedPages,
      migrated: down.pagesMigrated ?? 0,
      downNs: costOf(down, p).ns,
      upNs: costOf(up, p).ns,
      down,
      up,
    };
  });
}

/** The model's cycle of each kind, each on a fresh machine filled as the guest is (the range's pages in allocation order). */
export function predictPowerCycles(
  arch: Arch,
  kinds: readonly PowerKind[],
  p: CostProfile,
  fillMib = FILL_MIB,
): PowerPrediction[] {
  return kinds.map((kind) => predictPowerSequence(arch, [kind], p, fillMib)[0]);
}

/** The mean prediction of each kind over a sequence's cycles (counts: the first cycle's). */
export function meanByKind(preds: readonly PowerPrediction[]): PowerPrediction[] {
  const kinds = [...new Set(preds.map((x) => x.kind))];
  return kinds.map((kind) => {
    const xs = preds.filter((x) => x.kind === kind);
    const m = (f: (x: PowerPrediction) => number) => xs.reduce((a, x) => a + f(x), 0) / xs.length;
    return {
      ...xs[0],
      movableUsedPages: m((x) => x.movableUsedPages),
      migrated: m((x) => x.migrated),
      downNs: m((x) => x.downNs),
      upNs: m((x) => x.upNs),
    };
  });
}

/** /proc/meminfo fields the guest reports, kB. */
export type MemInfo = Record<string, number>;

export interface PowerCycleSample {
  downMs: number;
  upMs: number;
  /** pgmigrate_success during the power-down and the power-up; undefined without VM event counters */
  migratedDown: number | undefined;
  migratedUp: number | undefined;
  /** pages used in the Movable zone when the power-down began */
  movableUsedPages: number;
  /** /proc/meminfo before the power-down, while down, after the power-up */
  memBefore: MemInfo;
  memDown: MemInfo;
  memAfter: MemInfo;
}

export interface PowerMeasurement {
  kind: PowerKind;
  cycles: PowerCycleSample[];
}

export interface PowerMeasurementRun {
  arch: Arch;
  release: string;
  /** the kinds the kernel has, measured */
  rows: PowerMeasurement[];
  /** the cycles in the order they ran (the model runs the same sequence) */
  order: PowerKind[];
  /** kinds left out, and why */
  skipped: Array<{ kind: PowerKind; why: string }>;
  /** one refused test-module write, ms (the shell and syscall overhead of a call), over `nullReps` */
  nullMs: number;
  nullReps: number;
}

/** The kinds the patched kernel in the cache has (System.map), and why the others are left out. */
export function kernelKinds(
  arch: Arch,
  kinds: readonly PowerKind[],
  dir = cacheDir(),
): { have: PowerKind[]; skipped: Array<{ kind: PowerKind; why: string }> } {
  const map = path.join(dir, `linux-patched-${arch}`, "System.map");
  const text = existsSync(map) ? readFileSync(map, "utf8") : "";
  const have: PowerKind[] = [];
  const skipped: Array<{ kind: PowerKind; why: string }> = [];
  for (const kind of kinds) {
    const fn = NEEDS[kind];
    if (fn && !new RegExp(` ${fn}$`, "m").test(text))
      skipped.push({ kind, why: `the kernel in ${path.dirname(map)} has no ${fn}()` });
    else have.push(kind);
  }
  return { have, skipped };
}

/** A shell command for one line of powerLines(). */
function shellLine(line: string): string {
  const w = /^write (\S+) (\S+)$/.exec(line);
  if (w) return `echo ${w[2]} > ${w[1]} || return 1`;
  return `echo "${line.slice("call ".length)}" > ${TEST_MODULE_CTL} || return 1`;
}

/** The guest's helpers: the clock, the counters, the fill. */
function guestPrelude(fillMib: number): string {
  const n = Math.max(1, Math.round(fillMib / DD_MIB));
  return [
    GUEST_CENTISECONDS_FN,
    // pgmigrate_success, or - without CONFIG_VM_EVENT_COUNTERS
    `pgm() { v=$(grep '^pgmigrate_success ' /proc/vmstat); if [ -n "$v" ]; then echo "\${v#* }"; else echo -; fi; }`,
    // pages in use in the Movable zone: managed - free
    `mov() { awk '/^Node/{z=($4=="Movable")} z&&$1=="pages"&&$2=="free"{f=$3} z&&$1=="managed"{m=$2} END{print m-f}' /proc/zoneinfo; }`,
    `mi() { awk '/^(MemTotal|MemFree|DirectMap4k|DirectMap2M|DirectMap1G):/{printf "%s%s", s, $1 $2; s=","}' /proc/meminfo; }`,
    // each dd reads its buffer from /dev/zero (touching every page), then blocks
    // writing it to a pipe whose reader took one byte, marked itself ready
    // and sleeps; killing the reader kills the dd (SIGPIPE), which frees the
    // buffer when it exits
    `fill() { rm -f /tmp/memhp-fill.*; P=""; i=0; while [ $i -lt ${n} ]; do dd if=/dev/zero bs=${DD_MIB}M count=1 2>/dev/null | { head -c 1 >/dev/null; : > /tmp/memhp-fill.$i; exec sleep 100000; } & P="$P $!"; i=$((i + 1)); done; w=0; while [ $(ls /tmp/memhp-fill.* 2>/dev/null | wc -l) -lt ${n} ] && [ $w -lt 900 ]; do sleep 1; w=$((w + 1)); done; [ $w -lt 900 ]; }`,
    `unfill() { kill $P 2>/dev/null; wait 2>/dev/null; rm -f /tmp/memhp-fill.*; }`,
  ].join("\n");
}

/** The guest script of one cycle of `kind`: prints one line, "R t0 t1 t2 m0 m1 m2 used memBefore memDown memAfter". */
export function cycleScript(arch: Arch, kind: PowerKind, fillMib: number): string {
  const l = powerLines(arch, kind);
  return [
    guestPrelude(fillMib),
    `down() {\n${l.down.map(shellLine).join("\n")}\n}`,
    `up() {\n${l.up.map(shellLine).join("\n")}\n}`,
    "fill || { unfill; exit 3; }",
    "u=$(mov); b=$(mi); m0=$(pgm); t0=$(cs)",
    "down || { unfill; exit 1; }",
    "t1=$(cs); m1=$(pgm); d=$(mi)",
    "up || { unfill; exit 2; }",
    "t2=$(cs); m2=$(pgm); a=$(mi)",
    "unfill",
    'echo "R $t0 $t1 $t2 $m0 $m1 $m2 $u $b $d $a"',
  ].join("\n");
}

function parseMemInfo(s: string): MemInfo {
  const out: MemInfo = {};
  for (const kv of s.split(",")) {
    const m = /^(\w+):(\d+)$/.exec(kv);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/**
 * `reps` cycles of each kind the kernel has, on the patched kernel under QEMU:
 * the kinds in order, then in reverse order, and so on, so that none always
 * follows another. `onCycle` hears of each cycle (progress).
 */
export async function measurePowerOnKernel(
  arch: Arch,
  kinds: readonly PowerKind[],
  reps: number,
  opts: OracleOptions & { fillMib?: number; onCycle?: (kind: PowerKind, rep: number) => void } = {},
): Promise<PowerMeasurementRun> {
  const fillMib = opts.fillMib ?? FILL_MIB;
  const { have, skipped } = kernelKinds(arch, kinds);
  const sc = parseScenario(setupText(arch), "power-validate.mhp");
  const s = await OracleSession.start(sc, { requestTimeoutMs: 1_200_000, ...opts, kernel: "patched" });
  try {
    for (const st of sc.body) {
      const rec = (await s.run(st)) as { result?: string };
      if (rec.result !== undefined && rec.result !== "ok")
        throw new Error(`kernel set-up: line ${st.loc.line}: ${rec.result}`);
    }
    const rows = new Map<PowerKind, PowerMeasurement>(have.map((kind) => [kind, { kind, cycles: [] }]));
    const ran: PowerKind[] = [];
    for (let r = 0; r < reps; r++) {
      const order = r % 2 ? [...have].reverse() : have;
      for (const kind of order) {
        opts.onCycle?.(kind, r);
        ran.push(kind);
        const out = await s.exec(cycleScript(arch, kind, fillMib));
        if (out.rc !== 0)
          throw new Error(`${kind}: the cycle failed on the kernel (rc ${out.rc}): ${out.err.trim()}`);
        const f = out.out.trim().split("\n").pop()!.split(" ");
        if (f[0] !== "R" || f.length !== 11) throw new Error(`${kind}: unexpected output ${out.out}`);
        const n = (x: string): number | undefined => (x === "-" ? undefined : Number(x));
        const [t0, t1, t2] = [f[1], f[2], f[3]].map(Number);
        const [m0, m1, m2] = [f[4], f[5], f[6]].map(n);
        rows.get(kind)!.cycles.push({
          downMs: (t1 - t0) * 10,
          upMs: (t2 - t1) * 10,
          migratedDown: m0 === undefined || m1 === undefined ? undefined : m1 - m0,
          migratedUp: m1 === undefined || m2 === undefined ? undefined : m2 - m1,
          movableUsedPages: Number(f[7]),
          memBefore: parseMemInfo(f[8]),
          memDown: parseMemInfo(f[9]),
          memAfter: parseMemInfo(f[10]),
        });
      }
    }
    // the null call: a write the test module refuses at once (-ENOSYS)
    const nullReps = 20;
    const nul = await s.exec(
      [
        GUEST_CENTISECONDS_FN,
        `t0=$(cs); i=0; while [ $i -lt ${nullReps} ]; do echo "none 0x0 0x0" 2>/dev/null > ${TEST_MODULE_CTL}; i=$((i + 1)); done; echo $(( $(cs) - t0 ))`,
      ].join("\n"),
    );
    return {
      arch,
      release: s.header.version,
      rows: [...rows.values()],
      order: ran,
      skipped,
      nullMs: Number(nul.out.trim()) * 10,
      nullReps,
    };
  } finally {
    await s.close();
  }
}

const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** The calls of a direction of `kind` (the null overhead of each is subtracted from the times). */
function callsOf(arch: Arch, kind: PowerKind): { down: number; up: number } {
  const l = powerLines(arch, kind);
  return { down: l.down.length, up: l.up.length };
}

export interface PowerRow {
  arch: Arch;
  kind: PowerKind;
  profile: string;
  /** the model's prediction, the mean over its cycles */
  predicted: PowerPrediction;
  /** pages the model migrated in each power-down of this kind, in order */
  modelMigrated: number[];
  measured: PowerMeasurement | undefined;
  /** mean guest ms of down and up, net of the null overhead of their calls */
  downMs: number;
  upMs: number;
  /** (down + up) / remove+add's (down + up): predicted and measured, and pred / meas − 1 */
  predictedRatio: number;
  measuredRatio: number;
  error: number;
  /** mean pgmigrate_success of a power-down; undefined without the counter */
  migrated: number | undefined;
  movableUsedPages: number;
  /** MemFree while down minus before (kB), mean; MemTotal likewise */
  memFreeDownKb: number;
  memTotalDownKb: number;
  /** x86_64: the DirectMap lines before / while down (kB), first cycle */
  directMap: Record<string, [number, number]>;
}

/**
 * The rows of the table: prediction and measurement side by side, ratios to
 * remove + add. `predicted` holds the model's cycles (predictPowerSequence()
 * in the measured order, and fresh-machine predictions of kinds not measured).
 */
export function powerRows(
  predicted: readonly PowerPrediction[],
  run: PowerMeasurementRun,
  profile: string,
): PowerRow[] {
  const perCall = run.nullMs / run.nullReps;
  const meas = new Map(run.rows.map((r) => [r.kind, r]));
  const times = (kind: PowerKind): { down: number; up: number } => {
    const m = meas.get(kind);
    if (!m) return { down: NaN, up: NaN };
    const c = callsOf(run.arch, kind);
    return {
      down: mean(m.cycles.map((x) => x.downMs)) - c.down * perCall,
      up: mean(m.cycles.map((x) => x.upMs)) - c.up * perCall,
    };
  };
  const means = meanByKind(predicted);
  const ra = means.find((p) => p.kind === "remove-add");
  const raT = times("remove-add");
  return POWER_KINDS.flatMap((kind) => means.filter((x) => x.kind === kind)).map((p) => {
    const m = meas.get(p.kind);
    const t = times(p.kind);
    const predictedRatio = ra ? (p.downNs + p.upNs) / (ra.downNs + ra.upNs) : NaN;
    const measuredRatio = (t.down + t.up) / (raT.down + raT.up);
    const migr = m?.cycles.map((c) => c.migratedDown);
    const directMap: Record<string, [number, number]> = {};
    const first = m?.cycles[0];
    if (first)
      for (const key of Object.keys(first.memBefore))
        if (key.startsWith("DirectMap")) directMap[key] = [first.memBefore[key], first.memDown[key] ?? NaN];
    return {
      arch: run.arch,
      kind: p.kind,
      profile,
      predicted: p,
      modelMigrated: predicted.filter((x) => x.kind === p.kind).map((x) => x.migrated),
      measured: m,
      downMs: t.down,
      upMs: t.up,
      predictedRatio,
      measuredRatio,
      error: predictedRatio / measuredRatio - 1,
      migrated: migr && migr.every((x) => x !== undefined) ? mean(migr as number[]) : undefined,
      movableUsedPages: m ? mean(m.cycles.map((c) => c.movableUsedPages)) : NaN,
      memFreeDownKb: m ? mean(m.cycles.map((c) => c.memDown.MemFree - c.memBefore.MemFree)) : NaN,
      memTotalDownKb: m ? mean(m.cycles.map((c) => c.memDown.MemTotal - c.memBefore.MemTotal)) : NaN,
      directMap,
    };
  });
}

const fmt = (x: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : "n/a");
const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(0)} %` : "n/a");

/** The markdown table (one row per strategy and architecture). */
export function formatPowerValidation(
  rows: readonly PowerRow[],
  runs: readonly PowerMeasurementRun[],
): string {
  const out = [
    "| arch | strategy | pages migrated per power-down: model / pgmigrate_success | Movable pages used: model / kernel | model down + up (profile) | kernel down + up, TCG | cycle / remove+add: predicted | measured | error | MemFree while down (kernel) | MemTotal while down (kernel) |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    const p = r.predicted;
    const n = r.measured?.cycles.length ?? 0;
    out.push(
      `| ${r.arch} | ${POWER_TITLES[r.kind]} | ${r.modelMigrated.join(", ")} / ${r.measured ? (r.migrated === undefined ? "no counter" : r.measured.cycles.map((c) => c.migratedDown).join(", ")) : "not run"} | ${p.movableUsedPages} / ${fmt(r.movableUsedPages)} | ${fmt(p.downNs / 1e6, 1)} + ${fmt(p.upNs / 1e6, 1)} ms (${r.profile}) | ${r.measured ? `${fmt(r.downMs)} + ${fmt(r.upMs)} ms (${n} cycles)` : "not run"} | ${fmt(r.predictedRatio, 2)} | ${fmt(r.measuredRatio, 2)} | ${pct(r.error)} | ${r.measured ? `${fmt(r.memFreeDownKb)} kB` : "n/a"} | ${r.measured ? `${fmt(r.memTotalDownKb)} kB` : "n/a"} |`,
    );
  }
  const notes: string[] = [];
  for (const run of runs) {
    notes.push(
      `${run.arch}: kernel ${run.release}; one refused call ${fmt(run.nullMs / run.nullReps, 1)} ms (subtracted per call).`,
    );
    for (const s of run.skipped) notes.push(`${run.arch}: ${POWER_TITLES[s.kind]} not measured: ${s.why}.`);
    for (const r of rows.filter((x) => x.arch === run.arch && Object.keys(x.directMap).length))
      notes.push(
        `${run.arch} ${POWER_TITLES[r.kind]}: ${Object.entries(r.directMap)
          .map(([k2, [a, b]]) => `${k2} ${a} → ${b} kB`)
          .join(", ")} (before → while down).`,
      );
  }
  return [...out, "", ...notes.map((x) => `- ${x}`)].join("\n");
}
