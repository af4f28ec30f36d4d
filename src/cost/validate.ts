// Validation of the cost model against the real kernel under QEMU (the oracle,
// src/oracle/run.ts). The same hot-add / online / offline / hot-remove of a 1 GiB
// DIMM runs on Linux 6.1 under QEMU TCG, timed by the kernel itself with the
// function_graph tracer, and on the model, whose counts the profile turns into
// predicted times. TCG runs the guest through a binary translator, so its absolute
// times are not those of any real CPU: only RATIOS between operations are
// compared (each operation's share of the whole cycle, and the split of an
// operation between the kernel functions it calls).

import { Kernel } from "../kernel/kernel.js";
import type { WorkCounts, WorkKey } from "../kernel/work.js";
import { OracleSession, type OracleOptions } from "../oracle/run.js";
import type { Arch, Located, RunStatement } from "../scenario/ast.js";
import { parseScenario } from "../scenario/parse.js";
import { executeStatement } from "../scenario/run.js";
import { addCounts, costOf } from "./engine.js";
import { parseFunctionGraph, timeOf, type TracedCall } from "./funcgraph.js";
import type { CostProfile } from "./profile.js";

const GiB = 2 ** 30;

/** The kernel functions timed: the top-level ones, and some of their children. */
export const TRACED_TOP = [
  "add_memory_resource",
  "online_pages",
  "offline_pages",
  "try_remove_memory",
] as const;
export const TRACED_PARTS = [
  "arch_add_memory",
  "create_memory_block_devices",
  "move_pfn_range_to_zone",
  "start_isolate_page_range",
  "__offline_isolated_pages",
  "arch_remove_memory",
  "remove_memory_block_devices",
] as const;
/**
 * Every function the tracer hooks (set_ftrace_filter): only these are
 * instrumented, so the tracer does not slow down the thousands of small calls
 * per memory block (PageHuge(), pfn_to_online_page() ...) it is not asked about.
 */
export const TRACED_FILTER: readonly string[] = [
  ...TRACED_TOP,
  ...TRACED_PARTS,
  "__add_pages",
  "init_memory_mapping",
  "generic_online_page",
  "build_all_zonelists",
  "init_per_zone_wmark_min",
  "zone_pcp_disable",
  "lru_cache_disable",
  "scan_movable_pages",
  "do_migrate_range",
  "dissolve_free_huge_pages",
  "test_pages_isolated",
  "remove_pfn_range_from_zone",
  "__remove_pages",
  "release_mem_region_adjustable",
];

/** The model function (Work phase) standing for each traced kernel function. */
const MODEL_FN: Record<string, string> = {
  add_memory_resource: "(statement)",
  try_remove_memory: "(statement)",
  online_pages: "online_pages",
  offline_pages: "offline_pages",
  arch_add_memory: "arch_add_memory",
  create_memory_block_devices: "create_memory_block_devices",
  move_pfn_range_to_zone: "move_pfn_range_to_zone",
  start_isolate_page_range: "start_isolate_page_range",
  __offline_isolated_pages: "__offline_isolated_pages",
  arch_remove_memory: "arch_remove_memory",
  remove_memory_block_devices: "remove_memory_block_devices",
};

/** The cycle the validation runs, as scenario text (DIMM id and block ids filled in). */
function cycleMachine(arch: Arch): string {
  return `machine ${arch} mem=1G maxmem=8G\nboot\n`;
}

export interface StepTiming {
  /** dimm-add, online, offline, dimm-del */
  step: string;
  /** microseconds per traced function (summed over the step's calls), the real kernel */
  us: Record<string, number>;
}

export interface OracleMeasurement {
  arch: Arch;
  kernel: string;
  qemu: string;
  reps: number;
  /** per repetition: the four steps (online and offline summed over the DIMM's blocks) */
  runs: StepTiming[][];
}

const T = "/sys/kernel/debug/tracing";

const SETUP = [
  `echo 0 > ${T}/tracing_on`,
  `echo nop > ${T}/current_tracer`,
  `echo 0 > ${T}/max_graph_depth`,
  // one at a time: a function inlined in this build is not traceable and is skipped
  `echo > ${T}/set_ftrace_filter`,
  `for f in ${TRACED_FILTER.join(" ")}; do echo $f >> ${T}/set_ftrace_filter 2>/dev/null; done; true`,
  `echo function_graph > ${T}/current_tracer`,
  `echo funcgraph-tail > ${T}/trace_options`,
  `echo nofuncgraph-irqs > ${T}/trace_options`,
  // time spent scheduled out (the guest's protocol shell answering the host's
  // settle probes, cond_resched()) is not the operation's own work
  `echo nosleep-time > ${T}/trace_options`,
  `echo 8192 > ${T}/buffer_size_kb`,
  `echo > ${T}/trace`,
  `echo 1 > ${T}/tracing_on`,
].join(" && ");

/** One statement; a dimm-del is parsed after its dimm-add (the parser checks the id). */
function stmt(text: string, line: number): Located<RunStatement> {
  const del = /^dimm-del (\S+)$/.exec(text);
  const body = del ? `dimm-add ${del[1]} size=1G\n${text}` : text;
  const sc = parseScenario(`machine x86_64 mem=1G maxmem=8G\nboot\n${body}\n`, "validate.mhp");
  const st = sc.body[del ? 1 : 0];
  return { ...st, loc: { ...st.loc, line } };
}

function sumCalls(calls: readonly TracedCall[]): Record<string, number> {
  const us: Record<string, number> = {};
  for (const fn of TRACED_FILTER) us[fn] = timeOf(calls, fn);
  return us;
}

/**
 * Time `reps` cycles of a 1 GiB DIMM (hot-add, online_movable of each block,
 * offline of each block, hot-remove) on the real kernel under QEMU.
 */
export async function measureOnOracle(
  arch: Arch,
  reps: number,
  opts: OracleOptions = {},
): Promise<OracleMeasurement> {
  const sc = parseScenario(cycleMachine(arch), "validate.mhp");
  // setting the ftrace filter searches every kernel function per name: slow under TCG
  const s = await OracleSession.start(sc, { requestTimeoutMs: 300_000, ...opts });
  const runs: StepTiming[][] = [];
  try {
    const setup = await s.exec(SETUP);
    if (setup.rc !== 0) throw new Error(`ftrace set-up failed: ${setup.err}`);
    const drain = async (): Promise<TracedCall[]> => {
      const r = await s.exec(`cat ${T}/trace && echo > ${T}/trace`);
      return parseFunctionGraph(r.out ?? "");
    };
    let line = 1;
    for (let rep = 0; rep < reps; rep++) {
      const id = `v${rep}`;
      const add = await s.run(stmt(`dimm-add ${id} size=1G`, line++));
      const blocks = "blocks" in add ? (add.blocks as { added: string[] }).added : [];
      if (!("result" in add) || add.result !== "ok" || !blocks.length)
        throw new Error(`dimm-add on the oracle: ${JSON.stringify(add)}`);
      const steps: StepTiming[] = [{ step: "dimm-add", us: sumCalls(await drain()) }];
      for (const [label, value] of [
        ["online", "online_movable"],
        ["offline", "offline"],
      ] as const) {
        const calls: TracedCall[] = [];
        for (const b of blocks) {
          const r = await s.run(stmt(`write /sys/devices/system/memory/${b}/state ${value}`, line++));
          if (!("result" in r) || r.result !== "ok") throw new Error(`${label} ${b}: ${JSON.stringify(r)}`);
          calls.push(...(await drain()));
        }
        steps.push({ step: label, us: sumCalls(calls) });
      }
      const del = await s.run(stmt(`dimm-del ${id}`, line++));
      if (!("result" in del) || del.result !== "ok") throw new Error(`dimm-del: ${JSON.stringify(del)}`);
      steps.push({ step: "dimm-del", us: sumCalls(await drain()) });
      runs.push(steps);
    }
    return { arch, kernel: s.header.version, qemu: String(s.header.qemu ?? ""), reps, runs };
  } finally {
    await s.close();
  }
}

export interface ModelSteps {
  /** per step: work counts per traced function ("(statement)": the whole statement) */
  steps: Array<{ step: string; counts: Record<string, WorkCounts> }>;
}

/** The same cycle on the model (1 CPU, as the oracle's -smp 1): the counts of each traced function. */
export function countOnModel(arch: Arch): ModelSteps {
  const k = Kernel.boot({ arch, memBytes: GiB, maxmemBytes: 8 * GiB, cpus: 1 });
  const fns = new Set(Object.values(MODEL_FN));
  let bucket: Record<string, WorkCounts> = {};
  const stop = k.work.observe((key: WorkKey, n: number, phases: readonly string[]) => {
    const seen = new Set<string>(["(statement)"]);
    for (const p of phases) if (fns.has(p)) seen.add(p);
    for (const f of seen) {
      const c = (bucket[f] ??= {});
      c[key] = (c[key] ?? 0) + n;
    }
  });
  const steps: ModelSteps["steps"] = [];
  try {
    let line = 1;
    const run = (text: string): void => {
      executeStatement(k, stmt(text, line++));
      k.tick();
    };
    const before = new Set(k.memory.blocks.keys());
    bucket = {};
    run("dimm-add v0 size=1G");
    steps.push({ step: "dimm-add", counts: bucket });
    const blocks = [...k.memory.blocks.keys()].filter((id) => !before.has(id)).sort((a, b) => a - b);
    for (const [label, value] of [
      ["online", "online_movable"],
      ["offline", "offline"],
    ] as const) {
      bucket = {};
      for (const b of blocks) run(`write /sys/devices/system/memory/memory${b}/state ${value}`);
      steps.push({ step: label, counts: bucket });
    }
    bucket = {};
    run("dimm-del v0");
    steps.push({ step: "dimm-del", counts: bucket });
  } finally {
    stop();
  }
  return { steps };
}

export interface ValidationRow {
  /** what is compared */
  what: string;
  /** predicted share (0..1) */
  predicted: number;
  /** measured share (0..1), mean over the repetitions */
  measured: number;
  /** predicted / measured - 1 */
  error: number;
}

export interface ValidationReport {
  arch: Arch;
  profile: string;
  kernel: string;
  qemu: string;
  reps: number;
  /** per step: predicted ns (profile) and measured µs (TCG, mean) of each traced function */
  steps: Array<{ step: string; predictedNs: Record<string, number>; measuredUs: Record<string, number> }>;
  rows: ValidationRow[];
}

const STEP_TOP: Record<string, string> = {
  "dimm-add": "add_memory_resource",
  online: "online_pages",
  offline: "offline_pages",
  "dimm-del": "try_remove_memory",
};

/** Compare the model's predicted shares with the measured ones. */
export function validate(p: CostProfile, model: ModelSteps, m: OracleMeasurement): ValidationReport {
  const steps: ValidationReport["steps"] = [];
  for (const ms of model.steps) {
    const predictedNs: Record<string, number> = {};
    for (const [fn, modelFn] of Object.entries(MODEL_FN)) {
      const c = ms.counts[modelFn];
      if (c && (fn === STEP_TOP[ms.step] || (modelFn !== "(statement)" && fnInStep(fn, ms.step))))
        predictedNs[fn] = costOf(c, p).ns;
    }
    const measuredUs: Record<string, number> = {};
    for (const fn of TRACED_FILTER) {
      const vals = m.runs.map((run) => run.find((s) => s.step === ms.step)?.us[fn] ?? 0);
      const mean = vals.reduce((a, b) => a + b, 0) / Math.max(1, vals.length);
      if (mean > 0) measuredUs[fn] = mean;
    }
    steps.push({ step: ms.step, predictedNs, measuredUs });
  }
  const rows: ValidationRow[] = [];
  const row = (what: string, pred: number, meas: number): void => {
    rows.push({ what, predicted: pred, measured: meas, error: meas > 0 ? pred / meas - 1 : NaN });
  };
  // Each operation's share of the whole cycle.
  const top = (s: (typeof steps)[number], which: "p" | "m"): number =>
    which === "p" ? (s.predictedNs[STEP_TOP[s.step]] ?? 0) : (s.measuredUs[STEP_TOP[s.step]] ?? 0);
  const pTot = steps.reduce((n, s) => n + top(s, "p"), 0);
  const mTot = steps.reduce((n, s) => n + top(s, "m"), 0);
  for (const s of steps)
    row(`${s.step} (${STEP_TOP[s.step]}) / whole cycle`, top(s, "p") / pTot, top(s, "m") / mTot);
  // The split of an operation between its parts.
  for (const s of steps) {
    const pt = top(s, "p");
    const mt = top(s, "m");
    for (const fn of TRACED_PARTS) {
      if (!fnInStep(fn, s.step)) continue;
      row(`${fn} / ${STEP_TOP[s.step]}`, (s.predictedNs[fn] ?? 0) / pt, (s.measuredUs[fn] ?? 0) / mt);
    }
  }
  return { arch: m.arch, profile: p.name, kernel: m.kernel, qemu: m.qemu, reps: m.reps, steps, rows };
}

function fnInStep(fn: string, step: string): boolean {
  switch (step) {
    case "dimm-add":
      return fn === "arch_add_memory" || fn === "create_memory_block_devices";
    case "online":
      return fn === "move_pfn_range_to_zone";
    case "offline":
      return fn === "start_isolate_page_range" || fn === "__offline_isolated_pages";
    case "dimm-del":
      return fn === "arch_remove_memory" || fn === "remove_memory_block_devices";
    default:
      return false;
  }
}

/** The text table of a validation. */
export function formatValidation(v: ValidationReport): string {
  const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : "-");
  const err = (x: number): string =>
    Number.isFinite(x) ? `${x >= 0 ? "+" : ""}${(x * 100).toFixed(0)}%` : "-";
  const lines = [
    `validation: ${v.arch}, model + ${v.profile} vs Linux ${v.kernel} under QEMU TCG (${v.qemu}), ${v.reps} run(s); shares, not times`,
    `${"".padEnd(56)}${"predicted".padStart(10)}${"measured".padStart(10)}${"error".padStart(8)}`,
  ];
  for (const r of v.rows)
    lines.push(
      `${r.what.padEnd(56)}${pct(r.predicted).padStart(10)}${pct(r.measured).padStart(10)}${err(r.error).padStart(8)}`,
    );
  lines.push("", "absolute (for the record; TCG times are not native times):");
  for (const s of v.steps) {
    const fn = STEP_TOP[s.step];
    lines.push(
      `  ${s.step.padEnd(9)} ${fn.padEnd(16)} predicted ${(((s.predictedNs[fn] ?? 0) / 1e6).toFixed(3) + " ms").padStart(11)}` +
        `   measured under TCG ${(((s.measuredUs[fn] ?? 0) / 1e3).toFixed(1) + " ms").padStart(10)}`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Sum of the counts of a model step's statement (for reports). */
export function statementCounts(model: ModelSteps, step: string): WorkCounts {
  const s = model.steps.find((x) => x.step === step);
  return s ? addCounts({}, s.counts["(statement)"] ?? {}) : {};
}
