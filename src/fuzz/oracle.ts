// One random scenario on both sides: the real kernel under QEMU (the oracle's
// public API, as `memhp oracle` runs it) and the model (as `memhp run` does), and
// the verdict `memhp corpus` would give: every difference diffTraces() finds,
// covered by an entry of docs/divergences.md or not (./oracle-divergences.ts).
//
// The kernel side watches the guest console while each statement runs: a panic,
// an oops or a BUG ends the run at once as a kernel crash (a result, not a
// timeout), and a guest that stops answering without one is reported as such.
// After the last statement the guest's dmesg is searched for warnings
// (WARN_ON() prints below the console's `quiet` level).

import { KernelBug } from "../kernel/bug.js";
import { MODEL_VERSION } from "../kernel/kernel.js";
import type { OracleKernel } from "../oracle/cache.js";
import { OracleError, OracleSession } from "../oracle/run.js";
import type { Scenario } from "../scenario/ast.js";
import { diffTraces, type Difference } from "../scenario/diff.js";
import { classify, covers, type Divergence } from "../scenario/divergences.js";
import { valuesMatch } from "./oracle-divergences.js";
import { runScenario } from "../scenario/run.js";
import type { Trace, TraceRecord } from "../scenario/trace.js";
import { warnedFunction } from "../kernel/printk.js";

/**
 * Console lines that mean the kernel crashed (an oops, BUG(), a panic). Not a
 * bare "Call trace:": WARN_ON() and RCU stall reports (which a guest under TCG
 * on a busy host prints now and then) have one too, and the guest goes on.
 */
export const CRASH_RE =
  /Kernel panic|kernel BUG at|Oops|Unable to handle kernel|general protection fault|Internal error: |BUG: unable to handle|BUG: kernel NULL pointer/;
/** dmesg and console lines that mean the kernel warned (WARN_ON(), a stall, a bad page). */
export const WARNING_RE =
  /WARNING: CPU|WARNING: (?:\S+ )?at \S+.*, CPU#|BUG: |cut here|rcu: INFO|soft lockup|hung_task/;

export type KernelOutcome = "ok" | "crash" | "no-answer";

export interface KernelRun {
  trace: Trace;
  outcome: KernelOutcome;
  /** crash: the console lines around it; no-answer: what failed */
  detail?: string;
  /** the first dmesg lines matching WARNING_RE after a clean run (and notes: a boot tried twice) */
  warnings: string[];
}

/** A note runOnKernel() keeps with the warnings (not from the guest's dmesg). */
export const BOOT_RETRY_NOTE = "boot attempt 1 crashed: ";

export interface KernelRunOptions {
  kernel?: OracleKernel;
  log?: (line: string) => void;
  /** one guest request (default 45 s) */
  requestTimeoutMs?: number;
}

function crashLines(console: string): string | undefined {
  const lines = console.split("\n");
  const i = lines.findIndex((l) => CRASH_RE.test(l));
  if (i < 0) return undefined;
  return lines.slice(Math.max(0, i - 2), i + 18).join("\n");
}

/** The console text added since `from` characters (all of it if the kept tail was cut meanwhile). */
function since(console: string, from: number): string {
  return console.length >= from ? console.slice(from) : console;
}

/** Polls the session's console for a crash after `from`; stop() ends the polling. */
function crashWatch(session: OracleSession, from: number): { crashed: Promise<string>; stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const crashed = new Promise<string>((resolve) => {
    timer = setInterval(() => {
      const c = crashLines(since(session.console, from));
      if (c !== undefined) resolve(c);
    }, 250);
  });
  return { crashed, stop: () => clearInterval(timer) };
}

/** Runs `sc` on the real kernel; a crash or a silent guest is an outcome, not an exception. */
export async function runOnKernel(sc: Scenario, opts: KernelRunOptions = {}): Promise<KernelRun> {
  const records: TraceRecord[] = [];
  let session: OracleSession | undefined;
  const notes: string[] = [];
  // A guest that panics while booting is tried once more: on an overloaded host
  // x86's check_timer() can miss the timer under TCG ("IO-APIC + timer doesn't
  // work!"), which says nothing of the scenario. Twice is a result.
  for (let attempt = 1; session === undefined; attempt++) {
    try {
      session = await OracleSession.start(sc, {
        kernel: opts.kernel,
        log: opts.log,
        requestTimeoutMs: opts.requestTimeoutMs ?? 45_000,
      });
    } catch (e) {
      if (!(e instanceof OracleError)) throw e;
      const crash = crashLines(e.console);
      const header = { op: "system" as const, system: "linux", version: "?", arch: sc.machine.arch };
      if (crash && attempt === 1) {
        notes.push(
          `${BOOT_RETRY_NOTE}${
            crash
              .split("\n")
              .find((l) => CRASH_RE.test(l))
              ?.trim() ?? ""
          }`,
        );
        continue;
      }
      return crash
        ? { trace: { header, records }, outcome: "crash", detail: `at boot:\n${crash}`, warnings: notes }
        : {
            trace: { header, records },
            outcome: "no-answer",
            detail: `at boot: ${e.message}`,
            warnings: notes,
          };
    }
  }
  const trace: Trace = { header: session.header, records };
  try {
    for (const st of sc.body) {
      const from = session.console.length;
      const watch = crashWatch(session, from);
      const running = session.run(st);
      running.catch(() => undefined); // settled after close() when the guest crashed
      let r: { rec: TraceRecord } | { crash: string };
      try {
        r = await Promise.race([
          running.then((rec) => ({ rec })),
          watch.crashed.then((crash) => ({ crash })),
        ]);
      } catch (e) {
        const crash = crashLines(since(session.console, from));
        if (crash) return { trace, outcome: "crash", detail: `line ${st.loc.line}:\n${crash}`, warnings: [] };
        const msg = e instanceof Error ? e.message : String(e);
        return { trace, outcome: "no-answer", detail: `line ${st.loc.line}: ${msg}`, warnings: [] };
      } finally {
        watch.stop();
      }
      if ("crash" in r)
        return { trace, outcome: "crash", detail: `line ${st.loc.line}:\n${r.crash}`, warnings: [] };
      // the oracle itself may have seen the crash first: its record ends the run
      if (r.rec.crash) {
        const console = crashLines(since(session.console, from)) ?? r.rec.crash.message;
        return { trace, outcome: "crash", detail: `line ${st.loc.line}:\n${console}`, warnings: [] };
      }
      records.push(r.rec);
    }
    let warnings: string[] = [...notes];
    try {
      const d = await session.exec("dmesg");
      if (d.rc === 0)
        warnings = [
          ...notes,
          ...d.out
            .split("\n")
            .filter((l) => WARNING_RE.test(l))
            .slice(0, 20),
        ];
    } catch {
      // a guest that answered every statement but not this: no warning check
    }
    return { trace, outcome: "ok", warnings };
  } finally {
    await session.close().catch(() => undefined);
  }
}

export interface ModelRun {
  trace: Trace;
  /** the model's WARNING lines (Printk.warnOnce()): the warnings it predicts the kernel prints */
  warnings?: string[];
  /** The model stopped: a modelled BUG() (`kernel-bug`), an invariant or an exception, at `line`. */
  failure?: { kind: "kernel-bug" | "invariant" | "exception"; line: number; message: string };
}

/** Runs `sc` on the model as `memhp run --check` does; a failure ends the trace where it happened. */
export function runOnModel(sc: Scenario): ModelRun {
  const records: TraceRecord[] = [];
  const header = {
    op: "system" as const,
    system: "memhp-model",
    version: MODEL_VERSION,
    arch: sc.machine.arch,
    cmdline: sc.cmdline,
    seed: 1,
  };
  let kernel: { printk: { records(): readonly { text: string }[] } } | undefined;
  const warnings = (): string[] =>
    (kernel?.printk.records() ?? []).map((r) => r.text).filter((l) => warnedFunction(l) !== undefined);
  try {
    const t = runScenario(sc, {
      checkInvariants: true,
      onRecord: (rec, k) => {
        records.push(rec);
        kernel = k;
      },
    });
    return { trace: t, warnings: warnings() };
  } catch (e) {
    const line = sc.body[records.length]?.loc.line ?? sc.machine.loc.line;
    const kind =
      e instanceof KernelBug
        ? "kernel-bug"
        : e?.constructor?.name === "InvariantError"
          ? "invariant"
          : "exception";
    return {
      trace: { header, records },
      warnings: warnings(),
      failure: { kind, line, message: (e as Error).message ?? String(e) },
    };
  }
}

export interface Verdict {
  /** statements after boot */
  statements: number;
  /** statements both sides have a record of */
  compared: number;
  /** compared, and no difference */
  agreeing: number;
  /** compared, every difference covered by docs/divergences.md */
  covered: number;
  /** statements with a difference no entry covers */
  uncovered: number;
  differences: Difference[];
  explained: Map<string, Difference[]>;
  unexplained: Difference[];
}

/**
 * The verdict on one scenario: the differences between the model's trace `a` and
 * the kernel's `b`, classified. Only statements both sides reached are compared:
 * where one side stopped (a crash, a silent guest, a model failure), the outcome
 * is reported by itself rather than as a string of missing records.
 */
export function judge(name: string, sc: Scenario, a: Trace, b: Trace, divs: Divergence[]): Verdict {
  const both = new Set(a.records.map((r) => r.line).filter((l) => b.records.some((r) => r.line === l)));
  const reachedBoth = a.records.length === sc.body.length && b.records.length === sc.body.length;
  const all = diffTraces(a, b, reachedBoth ? sc : undefined);
  const differences = reachedBoth ? all : all.filter((d) => both.has(d.line));
  // the corpus's classification; an entry with `values` covers only the answers it names
  const { explained, unexplained } = classify(
    divs.filter((d) => !("values" in d.match)),
    name,
    differences,
    a,
    b,
  );
  const byValue = divs.filter((d) => "values" in d.match);
  for (const diff of [...unexplained]) {
    const d = byValue.find((x) => covers(x, name, diff, a, b) && valuesMatch(x, diff));
    if (!d) continue;
    unexplained.splice(unexplained.indexOf(diff), 1);
    explained.set(d.id, [...(explained.get(d.id) ?? []), diff]);
  }
  const badLines = new Set(differences.map((d) => d.line));
  const uncoveredLines = new Set(unexplained.map((d) => d.line));
  const compared = reachedBoth ? sc.body.length : both.size;
  return {
    statements: sc.body.length,
    compared,
    agreeing: compared - badLines.size,
    covered: [...badLines].filter((l) => !uncoveredLines.has(l)).length,
    uncovered: uncoveredLines.size,
    differences,
    explained,
    unexplained,
  };
}

/** A difference named without its numbers (memory34 and memory35 are one kind), for de-duplication and shrinking. */
export function differenceSignature(d: Difference): string {
  const norm = (s: string | undefined) => (s ?? "").replace(/0x[0-9a-f]+|\d+/gi, "N");
  return `${d.op} ${norm(d.path)} [${d.rule}] ${norm(d.item)}`;
}

/**
 * The kernel's warnings that the model did not predict, and the model's that
 * the kernel did not print, each as a signature: a WARNING by the function
 * its line names ("WARNING remove_memory_block_devices"; the model predicts
 * one with Printk.warnOnce()), any other report (a BUG: line, an RCU stall, a
 * soft lockup, a hung task) by its text without numbers. The "cut here"
 * line that comes with every WARNING, and the oracle's own notes, are not
 * warnings.
 */
export function unexpectedWarnings(kernel: readonly string[], model: readonly string[] = []): string[] {
  const norm = (s: string) =>
    s
      .replace(/^\[[ \d.]+\]\s*/, "")
      .replace(/0x[0-9a-f]+|\d+/gi, "N")
      .trim();
  const predicted = new Set(model.map(warnedFunction).filter((f) => f !== undefined));
  const printed = new Set<string>();
  const out = new Set<string>();
  for (const l of kernel) {
    if (l.startsWith(BOOT_RETRY_NOTE) || /cut here/.test(l)) continue;
    const fn = warnedFunction(l);
    if (fn !== undefined) printed.add(fn);
    if (fn !== undefined && predicted.has(fn)) continue;
    out.add(fn !== undefined ? `WARNING ${fn}` : norm(l));
  }
  for (const fn of predicted)
    if (!printed.has(fn)) out.add(`model predicted WARNING ${fn}, the kernel printed none`);
  return [...out];
}
