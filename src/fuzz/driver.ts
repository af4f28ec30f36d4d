// Running one fuzz case: boot the machine, resolve and run each operation as the
// scenario runner does (src/scenario/run.ts: executeStatement(), then the
// guest's background tick), and after every step demand that no exception
// escaped and that k.checkInvariants() is empty. The first failure ends the case;
// the lines run so far, up to the failing one, are the reproducer.

import { KernelBug } from "../kernel/bug.js";
import type { Kernel } from "../kernel/kernel.js";
import { parseScenario } from "../scenario/parse.js";
import { bootScenario, executeStatement } from "../scenario/run.js";
import { machineHeader, type MachineSpec } from "./machine.js";
import { Resolver } from "./resolve.js";
import { knownBehaviour } from "./known.js";
import type { ExposureFinding, ExposureKind } from "../mm/exposure_audit.js";
import type { FuzzOp } from "./schema.js";

export interface Failure {
  /**
   * "boot": the machine did not boot; "exception": a step threw; "kernel-bug": a
   * step reached a modelled BUG() (the real kernel halts there too); "invariant":
   * a check failed.
   */
  kind: "boot" | "exception" | "kernel-bug" | "invariant";
  /** Index into `lines` of the failing step (-1 for boot). */
  step: number;
  message: string;
  /**
   * The stock kernel behaviour this failure stands for (./known.ts), when it
   * is one: the real kernel corrupts memory or BUG()s there too. Undefined: a
   * model bug.
   */
  behaviour?: string;
}

const LEAF_KINDS: ReadonlySet<ExposureKind> = new Set<ExposureKind>(["leaf-split", "leaf-across-add"]);

export interface CaseResult {
  /** Steps run (statements executed), the failing one included. */
  steps: number;
  /** Scenario lines of the statements run, in order. */
  lines: string[];
  failure?: Failure;
}

export interface CaseOptions {
  /** Seed of the model (its workload and background activity); `memhp run`'s default is 1. */
  modelSeed?: number;
  /** Called after each step with the kernel (tests use it for extra checks). */
  afterStep?: (k: Kernel, line: string) => string | undefined;
}

/** The set-up text plus `lines`: a scenario that replays the case. */
export function caseScenarioText(m: MachineSpec, lines: readonly string[]): string {
  return [...machineHeader(m), ...lines].join("\n") + "\n";
}

function describe(e: unknown): string {
  if (e instanceof Error)
    return `${e.name}: ${e.message}\n${(e.stack ?? "").split("\n").slice(1, 6).join("\n")}`;
  return String(e);
}

export function runCase(m: MachineSpec, ops: readonly FuzzOp[], opts: CaseOptions = {}): CaseResult {
  let kernel: Kernel | undefined;
  const findings: ExposureFinding[] = [];
  const r = runCaseIn(m, ops, opts, (k) => (kernel = k), findings);
  if (r.failure) {
    if (kernel) findings.push(...kernel.auditor.take(LEAF_KINDS));
    const behaviour = knownBehaviour(kernel, r.failure, findings);
    if (behaviour) r.failure.behaviour = behaviour;
  }
  return r;
}

function runCaseIn(
  m: MachineSpec,
  ops: readonly FuzzOp[],
  opts: CaseOptions,
  booted: (k: Kernel) => void,
  findings: ExposureFinding[],
): CaseResult {
  const lines: string[] = [];
  let k: Kernel;
  try {
    k = bootScenario(parseScenario(caseScenarioText(m, []), "fuzz.mhp"), opts.modelSeed ?? 1);
    booted(k);
    const v = k.checkInvariants();
    if (v.length) return { steps: 0, lines, failure: { kind: "boot", step: -1, message: v.join("\n") } };
  } catch (e) {
    return { steps: 0, lines, failure: { kind: "boot", step: -1, message: describe(e) } };
  }
  const resolver = new Resolver(m);
  for (const op of ops) {
    let line: string | undefined;
    try {
      line = resolver.lineFor(k, op);
      const st = line === undefined ? undefined : resolver.parse(line, lines.length);
      if (st === undefined || line === undefined) continue;
      lines.push(line);
      executeStatement(k, st);
      k.tick();
      // the auditor's records of leaves split or made across adds (./known.ts reads them)
      findings.push(...k.auditor.take(LEAF_KINDS));
    } catch (e) {
      if (line !== undefined && lines[lines.length - 1] !== line) lines.push(line);
      const kind = e instanceof KernelBug ? "kernel-bug" : "exception";
      return { steps: lines.length, lines, failure: { kind, step: lines.length - 1, message: describe(e) } };
    }
    // incremental after each step (the sections the step changed), a full check at the end
    const v = k.checkInvariants({ incremental: true });
    const extra = opts.afterStep?.(k, line);
    if (extra) v.push(extra);
    if (v.length) {
      return {
        steps: lines.length,
        lines,
        failure: { kind: "invariant", step: lines.length - 1, message: v.slice(0, 20).join("\n") },
      };
    }
  }
  const v = k.checkInvariants();
  if (v.length)
    return {
      steps: lines.length,
      lines,
      failure: { kind: "invariant", step: lines.length - 1, message: v.slice(0, 20).join("\n") },
    };
  return { steps: lines.length, lines };
}
