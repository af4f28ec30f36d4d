// `memhp demo`: the power-down / power-up cycle of driver-managed memory under
// each strategy of src/drivers/memory/strategies.ts, on the machine the RFC came
// from (an arm64 phone with 8 GiB: 6 GiB the kernel boots with, 2 GiB a driver
// adds with add_memory_driver_managed() and powers down when it can), with the
// workload running. Every number comes from the model: the exposure auditor's
// findings after each phase, the work counters of each phase, and what is left
// in the machine while the memory is off.

import type { Command } from "commander";
import { errnoName } from "../errno.js";
import { Kernel } from "../kernel/kernel.js";
import type { WorkCounts, WorkKey } from "../kernel/work.js";
import { PAGE_SIZE } from "../mm/constants.js";
import { MAPPING_KINDS, type ExposureFinding } from "../mm/exposure_audit.js";
import { LEVEL_SIZE } from "../mm/pgtable.js";
import { IORESOURCE_BUSY, IORESOURCE_SYSTEM_RAM } from "../kernel/resource.js";
import type { Arch } from "../scenario/ast.js";
import { parseSize } from "../scenario/size.js";
import {
  DRIVER_RESOURCE,
  PHONE_MACHINE,
  bootDriverMachine,
  runPowerCycles,
  type DriverMachine,
} from "../drivers/memory/power_cycle.js";
import {
  STRATEGY_KINDS,
  STRATEGY_TITLES,
  isStrategyKind,
  type PhaseResult,
  type StrategyKind,
} from "../drivers/memory/strategies.js";
import { badValue } from "./io.js";
import { predictedTime, profileForArch } from "../cost/demo-times.js";
import { costOf } from "../cost/engine.js";

const GiB = 2 ** 30;

export interface DemoOptions {
  arch: Arch;
  /** RAM the kernel boots with (default 6 GiB). */
  bootBytes: number;
  /** Driver-managed memory added after boot (default 2 GiB). */
  driverBytes: number;
  /** How much of it to power down and up, from its start (default all of it). */
  rangeBytes: number;
  seed: number;
  /** Workload steps before power-down, while off, and after power-up. */
  steps: readonly [number, number, number];
  /** Workload operations per step. */
  intensity: number;
  strategies: readonly StrategyKind[];
  /**
   * Boot with memory_hotplug.memmap_on_memory=1 and add the driver's memory a
   * block at a time with MHP_MEMMAP_ON_MEMORY (6.1 supports it only for adds of
   * exactly one block), so each block's memmap lives in its first pages.
   */
  memmapOnMemory: boolean;
}

export const DEFAULT_DEMO: DemoOptions = {
  arch: "arm64",
  ...PHONE_MACHINE,
  rangeBytes: PHONE_MACHINE.driverBytes,
  seed: 1,
  steps: [32, 8, 8],
  intensity: 1024,
  strategies: STRATEGY_KINDS,
  memmapOnMemory: false,
};

/** The name the demo's driver gives its memory (Qualcomm's driver was "mem-offline"). */
export const DEMO_RESOURCE = DRIVER_RESOURCE;

/** One audit point: after a phase, or after the workload ran while the memory was off. */
export interface AuditPoint {
  after: string;
  /** bytes of inaccessible memory mapped (linear map + vmemmap) */
  mappedBytes: number;
  findings: ExposureFinding[];
}

export interface ExposureWindow {
  /** the audit point at which the exposure was first seen */
  from: string;
  /** the first audit point without it (or "end") */
  to: string;
  /** the most inaccessible memory mapped at once, bytes */
  maxMappedBytes: number;
}

export interface HeldWhileDown {
  /** pages of RAM holding the struct pages of the range (vmemmap backing) */
  memmapPages: number;
  /** page-table pages holding the range's linear-map leaves */
  linearTablePages: number;
  /** page-table pages in the machine minus before the power-down */
  tablePagesDelta: number;
  memoryBlockDevices: number;
  systemRamResources: number;
  /** pages the driver holds through alloc_contig_range() */
  driverHeldPages: number;
  /** MemTotal minus before the power-down, kB */
  memTotalDeltaKb: number;
}

export interface StrategyReport {
  kind: StrategyKind;
  title: string;
  correct: boolean;
  /** why not correct */
  problems: string[];
  auditorClean: boolean;
  dataLossFree: boolean;
  downErr: string;
  upErr: string;
  windows: ExposureWindow[];
  /** accesses to inaccessible memory the auditor saw (struct pages, allocations, migration) */
  accesses: number;
  held: HeldWhileDown;
  down: PhaseResult[];
  up: PhaseResult[];
  audits: AuditPoint[];
  /** The cost model's time for the work of each direction (src/cost/, the arch's shipped profile). */
  predicted?: { profile: string; downNs: number; upNs: number };
}

export interface DemoReport {
  machine: {
    arch: Arch;
    bootBytes: number;
    driverBytes: number;
    driverStart: string;
    blockBytes: number;
    memmapOnMemory: boolean;
  };
  range: { start: string; size: string };
  workload: { steps: readonly number[]; intensity: number; seed: number };
  strategies: StrategyReport[];
}

/** Boot the demo machine: boot RAM, then the driver's memory added driver-managed and onlined movable. */
export function bootDemoMachine(o: DemoOptions): { k: Kernel; start: number } {
  const { k, start } = bootDriverMachine(demoMachine(o), "demo");
  return { k, start };
}

const demoMachine = (o: DemoOptions): DriverMachine => ({
  arch: o.arch,
  bootBytes: o.bootBytes,
  driverBytes: o.driverBytes,
  seed: o.seed,
  memmapOnMemory: o.memmapOnMemory,
});

/** One strategy's cycle on a fresh machine. */
export function runStrategy(o: DemoOptions, kind: StrategyKind): StrategyReport {
  return cycle(o, kind).report;
}

// One cycle (src/drivers/memory/power_cycle.ts), audited after every phase.
function cycle(
  o: DemoOptions,
  kind: StrategyKind,
): { report: StrategyReport; start: number; blockBytes: number } {
  const { k, start } = bootDemoMachine(o);
  const size = o.rangeBytes;
  const audits: AuditPoint[] = [];
  const point = (after: string): void => {
    const findings = k.auditor.audit();
    let mappedBytes = 0;
    for (const f of findings) if (MAPPING_KINDS.has(f.kind)) mappedBytes += Number(f.size);
    audits.push({ after, mappedBytes, findings });
  };
  let before = { totalram: 0, tables: 0 };
  let held: HeldWhileDown | undefined;
  const { down, up: upResult } = runPowerCycles(
    k,
    kind,
    start,
    size,
    { cycles: 1, workload: o, workloadAfterFailure: true },
    {
      ready: () => void (before = { totalram: k.alloc.totalramPages, tables: k.arch.pgtable.tablePages() }),
      phase: (p) => point(p.name),
      downDone: () => void (held = heldWhileDown(k, start, size, before)),
      whileOff: () => {
        point("workload while off");
        held = heldWhileDown(k, start, size, before);
      },
      after: () => point("workload after"),
    },
  );
  const up: PhaseResult[] = upResult?.phases ?? [];
  const upErr = upResult?.err ?? 0;

  const all = audits.flatMap((a) => a.findings);
  const problems: string[] = [];
  if (down.err) problems.push(`power-down failed: ${errnoName(down.err)}`);
  if (upErr) problems.push(`power-up failed: ${errnoName(upErr)}`);
  const auditorClean = all.length === 0;
  if (!auditorClean) problems.push(...summarise(audits));
  const lossKinds = new Set(["page-in-use", "page-alloc", "migration"]);
  const workloadProblems = k.workload.checkInvariants();
  const dataLossFree = !all.some((f) => lossKinds.has(f.kind)) && workloadProblems.length === 0;
  if (workloadProblems.length) problems.push(`workload: ${workloadProblems[0]}`);
  const invariants = k.checkInvariants();
  if (invariants.length) problems.push(`invariant: ${invariants[0]}`);
  if (!down.err && !upErr && k.alloc.totalramPages !== before.totalram)
    problems.push(
      `MemTotal not restored (${((k.alloc.totalramPages - before.totalram) * PAGE_SIZE) / 1024} kB)`,
    );
  const report: StrategyReport = {
    kind,
    title: STRATEGY_TITLES[kind],
    correct: problems.length === 0,
    problems,
    auditorClean,
    dataLossFree,
    downErr: errText(down.err),
    upErr: errText(upErr),
    windows: windowsOf(audits),
    accesses: all
      .filter((f) => !MAPPING_KINDS.has(f.kind) && f.kind !== "page-in-use" && f.kind !== "page-free")
      .reduce((n, f) => n + f.count, 0),
    held: held!,
    down: down.phases,
    up,
    audits,
  };
  return { report, start, blockBytes: k.memory.blockSizeBytes };
}

export function runDemo(o: DemoOptions): DemoReport {
  if (!o.strategies.length) throw new Error("demo: no strategy");
  const runs = o.strategies.map((kind) => cycle(o, kind));
  const { start, blockBytes } = runs[0];
  return {
    machine: {
      arch: o.arch,
      bootBytes: o.bootBytes,
      driverBytes: o.driverBytes,
      driverStart: hex(start),
      blockBytes,
      memmapOnMemory: o.memmapOnMemory,
    },
    range: { start: hex(start), size: hex(o.rangeBytes) },
    workload: { steps: o.steps, intensity: o.intensity, seed: o.seed },
    strategies: runs.map((r) => {
      const p = profileForArch(o.arch);
      const ns = (phases: readonly PhaseResult[]) => Math.round(costOf(total(phases), p).ns);
      return {
        ...r.report,
        predicted: { profile: p.name, downNs: ns(r.report.down), upNs: ns(r.report.up) },
      };
    }),
  };
}

const errText = (e: number): string => (e === 0 ? "ok" : errnoName(e));
const hex = (n: number): string => "0x" + n.toString(16);

/** One line per finding kind: the most memory concerned at one audit point, and at how many points. */
function summarise(audits: readonly AuditPoint[]): string[] {
  const byKind = new Map<string, { points: number; maxBytes: number; count: number }>();
  for (const a of audits) {
    const seen = new Map<string, number>();
    for (const f of a.findings) {
      seen.set(f.kind, (seen.get(f.kind) ?? 0) + Number(f.size));
      const e = byKind.get(f.kind) ?? { points: 0, maxBytes: 0, count: 0 };
      e.count += f.count;
      byKind.set(f.kind, e);
    }
    for (const [kind, b] of seen) {
      const e = byKind.get(kind)!;
      e.points++;
      e.maxBytes = Math.max(e.maxBytes, b);
    }
  }
  return [...byKind].map(([kind, e]) => {
    const where = `at ${e.points} audit point(s)`;
    if (MAPPING_KINDS.has(kind as ExposureFinding["kind"]))
      return `auditor: ${kind}: ${bytes(e.maxBytes)} of inaccessible memory mapped (${where})`;
    if (kind === "page-in-use" || kind === "page-free" || kind === "crash-dump" || kind === "dirty-cache")
      return `auditor: ${kind}: up to ${bytes(e.maxBytes)} of it (${where})`;
    return `auditor: ${kind}: ${e.count} access(es) (${where})`;
  });
}

function windowsOf(audits: readonly AuditPoint[]): ExposureWindow[] {
  const out: ExposureWindow[] = [];
  let cur: ExposureWindow | undefined;
  for (const a of audits) {
    if (a.mappedBytes > 0) {
      if (!cur) out.push((cur = { from: a.after, to: "end", maxMappedBytes: 0 }));
      cur.maxMappedBytes = Math.max(cur.maxMappedBytes, a.mappedBytes);
    } else if (cur) {
      cur.to = a.after;
      cur = undefined;
    }
  }
  return out;
}

function heldWhileDown(
  k: Kernel,
  start: number,
  size: number,
  before: { totalram: number; tables: number },
): HeldWhileDown {
  const arch = k.arch;
  const pt = arch.pgtable;
  const startPfn = start / PAGE_SIZE;
  const endPfn = (start + size) / PAGE_SIZE;
  // vmemmap backing of the range's struct pages
  const vs = arch.pfnToPageVa(startPfn);
  const ve = arch.pfnToPageVa(endPfn);
  let memmapBytes = 0;
  pt.forEachLeaf(vs, ve, (va48, lv) => {
    const a = Math.max(va48, Number(vs & 0xffffffffffffn));
    const b = Math.min(va48 + LEVEL_SIZE[lv], Number(ve & 0xffffffffffffn));
    if (b > a) memmapBytes += b - a;
  });
  const tables = new Set<number>();
  pt.forEachLeaf(arch.physToVirt(start), arch.physToVirt(start + size), (va48, lv) => {
    tables.add(pt.tableAt(va48, lv));
  });
  let blocks = 0;
  k.hotplug.walkMemoryBlocks(start, size, () => {
    blocks++;
    return 0;
  });
  let resources = 0;
  const want = (IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY) >>> 0;
  for (const r of k.resources.resources())
    if ((r.flags & want) >>> 0 === want && r.start < BigInt(start + size) && r.end >= BigInt(start))
      resources++;
  let driverHeld = 0;
  for (const s of k.contig.held())
    driverHeld += Math.max(0, Math.min(s.endPfn, endPfn) - Math.max(s.startPfn, startPfn));
  return {
    memmapPages: Math.ceil(memmapBytes / PAGE_SIZE),
    linearTablePages: tables.size,
    tablePagesDelta: pt.tablePages() - before.tables,
    memoryBlockDevices: blocks,
    systemRamResources: resources,
    driverHeldPages: driverHeld,
    memTotalDeltaKb: ((k.alloc.totalramPages - before.totalram) * PAGE_SIZE) / 1024,
  };
}

// ---- the table ----

const sum = (w: WorkCounts, keys: readonly WorkKey[]): number =>
  keys.reduce((n, key) => n + (w[key] ?? 0), 0);
const WRITTEN: readonly WorkKey[] = ["pgdWritten", "p4dWritten", "pudWritten", "pmdWritten", "pteWritten"];
const CLEARED: readonly WorkKey[] = ["pgdCleared", "p4dCleared", "pudCleared", "pmdCleared", "pteCleared"];
const TLB: readonly WorkKey[] = ["tlbFlushPage", "tlbFlushRange", "tlbFlushAll"];

function total(phases: readonly PhaseResult[]): WorkCounts {
  const out: WorkCounts = {};
  for (const p of phases)
    for (const [key, v] of Object.entries(p.work) as [WorkKey, number][]) out[key] = (out[key] ?? 0) + v;
  return out;
}

const WORK_ROWS: ReadonlyArray<[string, (w: WorkCounts) => string]> = [
  ["struct pages initialised", (w) => num(w.memmapPagesInit)],
  ["pages migrated", (w) => num(w.pagesMigrated)],
  ["page-table entries written", (w) => num(sum(w, WRITTEN))],
  ["page-table entries cleared", (w) => num(sum(w, CLEARED))],
  ["table pages alloc / freed", (w) => `${num(w.tablePagesAllocated)} / ${num(w.tablePagesFreed)}`],
  ["TLB flushes", (w) => num(sum(w, TLB))],
  ["vmemmap pages alloc / freed", (w) => `${num(w.vmemmapPagesAllocated)} / ${num(w.vmemmapPagesFreed)}`],
  [
    "devices created / destroyed",
    (w) => `${num(w.memoryBlocksRegistered)} / ${num(w.memoryBlocksUnregistered)}`,
  ],
  ["resources requested / released", (w) => `${num(w.resourcesRequested)} / ${num(w.resourcesReleased)}`],
];

/** Short names of the kernel calls, for the table (the JSON has the full names). */
const SHORT: Readonly<Record<string, string>> = {
  offline_and_remove_memory: "offline+remove",
  offline_and_depopulate_memory: "offline+depopulate",
  populate_and_online_memory: "populate+online",
  memtrace_clear_range: "clear",
  add_memory_driver_managed: "add",
  alloc_contig_range: "alloc_contig",
  free_contig_range: "free_contig",
  arch_remove_linear_mapping: "unmap",
  arch_create_linear_mapping: "map",
  offline_and_depopulate_memory_whole: "offline+depopulate (whole)",
  alloc_contig_range_unmapped: "alloc_unmapped",
  free_contig_range_unmapped: "free_unmapped",
};

function num(n: number | undefined): string {
  return String(n ?? 0);
}

function bytes(n: number): string {
  if (n === 0) return "0";
  if (n % GiB === 0) return `${n / GiB} GiB`;
  if (n % 2 ** 20 === 0) return `${n / 2 ** 20} MiB`;
  return `${n / 1024} KiB`;
}

/** The side-by-side table. */
/** The width `memhp demo` keeps its tables within. */
export const DEMO_WIDTH = 100;

type TableLine = { section: string } | { label: string; cells: string[] };

/**
 * Rows (label, one cell per strategy) as tables of at most `width` columns: each
 * column as wide as its widest cell, two spaces between columns; the strategies
 * that do not fit go to a second table (and a third ...) with the same labels.
 */
export function layoutTables(heads: string[], lines: TableLine[], width = DEMO_WIDTH): string[] {
  const labelW = Math.max(...lines.map((l) => ("label" in l ? l.label.length : 0)));
  const colW = heads.map((h, i) =>
    Math.max(h.length, ...lines.map((l) => ("cells" in l ? (l.cells[i] ?? "").length : 0))),
  );
  const groups: number[][] = [];
  let cur: number[] = [];
  let used = labelW;
  for (let i = 0; i < heads.length; i++) {
    const w = 2 + colW[i];
    if (cur.length && used + w > width) {
      groups.push(cur);
      cur = [];
      used = labelW;
    }
    cur.push(i);
    used += w;
  }
  if (cur.length) groups.push(cur);
  const out: string[] = [];
  for (const g of groups) {
    if (out.length) out.push("");
    const render = (label: string, cells: string[]) =>
      (label.padEnd(labelW) + g.map((i) => "  " + (cells[i] ?? "").padEnd(colW[i])).join("")).trimEnd();
    out.push(render("", heads));
    for (const l of lines) out.push("section" in l ? l.section : render(l.label, l.cells));
  }
  return out;
}

export function formatDemo(r: DemoReport): string {
  const cols = r.strategies;
  const body: TableLine[] = [];
  const row = (label: string, cells: string[]): void => {
    body.push({ label, cells });
  };
  const lines: string[] = [];
  const m = r.machine;
  lines.push(
    `memhp demo: ${m.arch}, ${bytes(m.bootBytes + m.driverBytes)} (${bytes(m.bootBytes)} boot RAM + ` +
      `${bytes(m.driverBytes)} driver-managed "${DEMO_RESOURCE}"`,
  );
  lines.push(`  at ${m.driverStart}, online movable${m.memmapOnMemory ? ", memmap_on_memory" : ""})`);
  lines.push(
    `power down / up ${r.range.start} +${bytes(Number(r.range.size))} (${Number(r.range.size) / m.blockBytes} memory blocks); ` +
      `workload ${r.workload.steps.join("/")} steps x ${r.workload.intensity} ops, seed ${r.workload.seed}`,
  );
  lines.push("");
  const heads = cols.map((c, i) => `${i + 1} ${c.title}`);
  row(
    "correct",
    cols.map((c) => (c.correct ? "yes" : "NO")),
  );
  row(
    "  auditor clean",
    cols.map((c) => (c.auditorClean ? "yes" : "no")),
  );
  row(
    "  data-loss-free",
    cols.map((c) => (c.dataLossFree ? "yes" : "no")),
  );
  row(
    "  power-down / power-up",
    cols.map((c) => `${c.downErr} / ${c.upErr}`),
  );
  row(
    "exposure windows",
    cols.map((c) => (c.windows.length ? String(c.windows.length) : "none")),
  );
  row(
    "  mapped while inaccessible",
    cols.map((c) => (c.windows.length ? bytes(Math.max(...c.windows.map((w) => w.maxMappedBytes))) : "0")),
  );
  row(
    "  from → to",
    cols.map((c) => c.windows.map((w) => `${w.from}→${w.to}`).join(", ") || "-"),
  );
  row(
    "  accesses to it",
    cols.map((c) => String(c.accesses)),
  );
  body.push({ section: "held while powered down" });
  row(
    "  memmap pages",
    cols.map((c) =>
      c.held.memmapPages ? `${c.held.memmapPages} (${bytes(c.held.memmapPages * PAGE_SIZE)})` : "0",
    ),
  );
  row(
    "  linear-map table pages",
    cols.map((c) => String(c.held.linearTablePages)),
  );
  row(
    "  table pages vs before",
    cols.map((c) => signed(c.held.tablePagesDelta)),
  );
  row(
    "  memory block devices",
    cols.map((c) => String(c.held.memoryBlockDevices)),
  );
  row(
    "  System RAM resources",
    cols.map((c) => String(c.held.systemRamResources)),
  );
  row(
    "  pages held by the driver",
    cols.map((c) => String(c.held.driverHeldPages)),
  );
  row(
    "  MemTotal change",
    cols.map((c) => `${signed(c.held.memTotalDeltaKb)} kB`),
  );
  const profile = profileForArch(r.machine.arch);
  for (const [title, pick] of [
    ["power-down work", (c: StrategyReport) => c.down],
    ["power-up work", (c: StrategyReport) => c.up],
  ] as const) {
    body.push({ section: title });
    row(
      "  kernel calls",
      cols.map((c) =>
        pick(c)
          .filter((p) => !p.name.startsWith("power-"))
          .map((p) => SHORT[p.name] ?? p.name)
          .join(" + "),
      ),
    );
    // the cost model (src/cost/, docs/cost-model.md): the work above, in time
    row(
      `  predicted time (${profile.name})`,
      cols.map((c) => predictedTime(total(pick(c)), profile)),
    );
    for (const [label, f] of WORK_ROWS)
      row(
        `  ${label}`,
        cols.map((c) => f(total(pick(c)))),
      );
  }
  lines.push(...layoutTables(heads, body));
  const notes = cols.filter((c) => !c.correct);
  if (notes.length) {
    lines.push("");
    for (const c of notes) lines.push(...wrapWords(`${c.title}: ${c.problems.join("; ")}`, DEMO_WIDTH, "  "));
  }
  return lines.join("\n") + "\n";
}

/** Words wrapped to `width` columns, the lines after the first indented. */
function wrapWords(text: string, width: number, indent: string): string[] {
  const out: string[] = [];
  let line = "";
  for (const w of text.split(" ")) {
    const next = line ? `${line} ${w}` : out.length ? indent + w : w;
    if (line && next.length > width) {
      out.push(line);
      line = indent + w;
    } else line = next;
  }
  if (line) out.push(line);
  return out;
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      "power driver-managed memory down and up under each strategy and compare them (table or --json)",
    )
    .option("--arch <arch>", "x86_64 or arm64", DEFAULT_DEMO.arch)
    .option(
      "--range <size>",
      "how much of the driver's 2 GiB to power down (a multiple of the block size)",
      "2G",
    )
    .option(
      "--strategy <list>",
      `comma-separated, from ${STRATEGY_KINDS.join(",")}`,
      STRATEGY_KINDS.join(","),
    )
    .option("--steps <a,b,c>", "workload steps before, while off, after", DEFAULT_DEMO.steps.join(","))
    .option("--intensity <n>", "workload operations per step", String(DEFAULT_DEMO.intensity))
    .option("--seed <n>", "seed for every random choice", "1")
    .option("--memmap-on-memory", "add the driver's memory with MHP_MEMMAP_ON_MEMORY, a block at a time")
    .option("--json", "print the full report as JSON")
    .addHelpText(
      "after",
      `
Examples:
  memhp demo
  memhp demo --arch x86_64 --strategy depopulate,remove --json`,
    )
    .action(
      (opts: {
        arch: string;
        range: string;
        strategy: string;
        steps: string;
        intensity: string;
        seed: string;
        memmapOnMemory?: boolean;
        json?: boolean;
      }) => {
        if (opts.arch !== "arm64" && opts.arch !== "x86_64")
          throw badValue("--arch", opts.arch, "x86_64, arm64");
        const kinds = opts.strategy.split(",").map((s) => s.trim());
        for (const s of kinds)
          if (!isStrategyKind(s))
            throw badValue("--strategy", s, `a comma-separated list of ${STRATEGY_KINDS.join(", ")}`);
        const steps = opts.steps.split(",").map((t) => (/^\d+$/.test(t.trim()) ? Number(t) : NaN));
        if (steps.length !== 3 || steps.some((n) => !Number.isSafeInteger(n)))
          throw badValue(
            "--steps",
            opts.steps,
            "three whole numbers A,B,C: workload steps before, while off, after",
          );
        let rangeBytes: number;
        try {
          rangeBytes = parseSize(opts.range);
        } catch {
          throw badValue("--range", opts.range, "a size such as 512M or 2G, a multiple of 128M up to 2G");
        }
        const o: DemoOptions = {
          ...DEFAULT_DEMO,
          arch: opts.arch,
          rangeBytes,
          seed: Number(opts.seed),
          steps: [steps[0], steps[1], steps[2]],
          intensity: Number(opts.intensity),
          strategies: kinds as StrategyKind[],
          memmapOnMemory: opts.memmapOnMemory === true,
        };
        if (!/^\d+$/.test(opts.seed) || !Number.isSafeInteger(o.seed))
          throw badValue("--seed", opts.seed, "a whole number");
        if (!/^\d+(\.\d+)?$/.test(opts.intensity))
          throw badValue("--intensity", opts.intensity, "a number >= 0 (operations per step)");
        if (rangeBytes <= 0 || rangeBytes > o.driverBytes || rangeBytes % (128 * 2 ** 20))
          throw badValue("--range", opts.range, `a multiple of 128M up to ${bytes(o.driverBytes)}`);
        const report = runDemo(o);
        process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + "\n" : formatDemo(report));
      },
    );
}
