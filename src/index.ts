// memhp as a library: `import { Machine } from "memhp"`.
//
// A Machine is one booted model machine. Statements are the scenario language's
// (docs/scenario-format.md), checked by the same parser against what ran
// before (free slots, known device ids); files are read and written as a root
// shell would; every statement leaves a trace record, and the work it did is
// counted exactly. docs/tools.md has an example program.

import { errnoName } from "./errno.js";
import { Kernel, MODEL_VERSION } from "./kernel/kernel.js";
import type { WorkCounts } from "./kernel/work.js";
import type { ExposureFinding } from "./mm/exposure_audit.js";
import type { Arch, Located, RunStatement, Scenario } from "./scenario/ast.js";
import { parseScenario, ScenarioError } from "./scenario/parse.js";
import { bootScenario, executeStatement } from "./scenario/run.js";
import { formatTrace, type Trace, type TraceHeader, type TraceRecord } from "./scenario/trace.js";
import { machineScenarioText } from "./shell/machine.js";
import { exportModel } from "./tools/sysroot.js";

export { MODEL_VERSION, ScenarioError, formatTrace, Kernel };
export type { Arch, ExposureFinding, Scenario, Trace, TraceHeader, TraceRecord, WorkCounts };
export { importMachine, ImportError, type Imported, type ImportOptions } from "./tools/import.js";
export { dumpModel, writeSysroot, type DumpEntry } from "./tools/sysroot.js";

/** The machine to boot: as `memhp shell`'s options (sizes like "1G"). */
export interface MachineSpec {
  arch?: Arch;
  /** boot memory, default "1G" */
  mem?: string;
  /** what the machine can grow to, default "8G" */
  maxmem?: string;
  slots?: number;
  /** kernel command line words, e.g. "memhp_default_state=online_movable" */
  cmdline?: string;
  /** virtio-mem devices present from boot, "ID:SIZE" */
  vmem?: string[];
  /** seed of every random choice (default 1); the model is deterministic for a seed */
  seed?: number;
}

/** A failed file operation: the kernel's errno, as a shell would see it. */
export class FileError extends Error {
  constructor(
    readonly path: string,
    /** positive errno */
    readonly errno: number,
  ) {
    super(`${path}: ${errnoName(errno)}`);
    this.name = "FileError";
  }
  get code(): string {
    return errnoName(this.errno);
  }
}

/** One booted model machine. */
export class Machine {
  /** The model's kernel: every subsystem's state (advanced use). */
  readonly kernel: Kernel;
  private text: string[];
  private scenario: Scenario;
  private readonly records: TraceRecord[] = [];
  private lastCounts: WorkCounts = {};
  private readonly seed: number;

  private constructor(text: string, file: string, seed: number) {
    this.scenario = parseScenario(text, file);
    this.seed = seed;
    this.kernel = bootScenario(this.scenario, seed);
    this.text = text.replace(/\n$/, "").split("\n");
    for (const st of this.scenario.body) this.run(st);
  }

  /** Boot the machine `spec` describes (x86_64, 1 GiB, room for 8 GiB by default). */
  static boot(spec: MachineSpec = {}): Machine {
    const text = machineScenarioText({
      arch: spec.arch,
      mem: spec.mem,
      maxmem: spec.maxmem,
      slots: spec.slots === undefined ? undefined : String(spec.slots),
      cmdline: spec.cmdline,
      vmem: spec.vmem,
    });
    return new Machine(text, "<machine>", spec.seed ?? 1);
  }

  /**
   * Boot the machine of a scenario's text and run its statements (their records
   * are in trace()). Throws ScenarioError (with file:line:col) for bad input.
   */
  static fromScenario(text: string, file = "<scenario>", seed = 1): Machine {
    return new Machine(text, file, seed);
  }

  get arch(): Arch {
    return this.scenario.machine.arch;
  }

  private run(st: Located<RunStatement>): TraceRecord {
    const before = this.kernel.work.snapshot();
    const rec = executeStatement(this.kernel, st);
    this.kernel.tick();
    this.lastCounts = this.kernel.work.since(before);
    this.records.push(rec);
    return rec;
  }

  /**
   * Apply one statement of the scenario language after boot ("dimm-add d1
   * size=1G", "write /sys/…/state online", "vmem-resize vm0 512M", "audit" …)
   * and return its trace record. A refused operation is a record with the
   * errno's name as `result`, not an exception; a malformed line throws ScenarioError.
   */
  apply(line: string): TraceRecord {
    if (line.includes("\n")) throw new Error("apply(): one statement per call (applyAll() takes several)");
    const next = [...this.text, line];
    const sc = parseScenario(next.join("\n") + "\n", "<apply>");
    const st = sc.body[sc.body.length - 1];
    if (!st || st.loc.line !== next.length) throw new Error(`apply(): not a statement: ${line}`);
    this.text = next;
    this.scenario = sc;
    return this.run(st);
  }

  /** Apply several statements (a scenario's body, comments allowed). */
  applyAll(text: string): TraceRecord[] {
    return text
      .split("\n")
      .map((l) => l.replace(/#.*$/, "").trim())
      .filter((l) => l !== "")
      .map((l) => this.apply(l));
  }

  /** `cat PATH`: the file's text; FileError with the kernel's errno otherwise. */
  read(path: string): string {
    const v = this.kernel.kernfs.read(path);
    if (typeof v === "number") throw new FileError(path, -v);
    return v;
  }

  /** `echo VALUE > PATH` (recorded as a `write` statement); FileError with the kernel's errno on refusal. */
  write(path: string, value: string): void {
    const rec = this.apply(`write ${path} ${value}`) as { result?: string };
    if (rec.result !== "ok") throw new FileError(path, errnoNumber(rec.result ?? "EIO"));
  }

  /** `ls PATH`: sorted names. */
  ls(path: string): string[] {
    const v = this.kernel.kernfs.list(path);
    if (typeof v === "number") throw new FileError(path, -v);
    return v;
  }

  /** The trace so far, in `memhp run`'s format (records of every statement since boot). */
  trace(): Trace {
    const m = this.scenario.machine;
    const header: TraceHeader = {
      op: "system",
      system: "memhp-model",
      version: MODEL_VERSION,
      arch: m.arch,
      machine: { memBytes: m.memBytes, maxmemBytes: m.maxmemBytes, slots: this.kernel.board.config.slots },
      cmdline: this.scenario.cmdline,
      seed: this.seed,
    } as TraceHeader;
    return { header, records: [...this.records] };
  }

  /** The exposure auditor's findings: memory that is powered off or handed away yet mapped or accessed. */
  audit(): ExposureFinding[] {
    return this.kernel.auditor.audit();
  }

  /** Exact work counts (page-table pages, struct pages, migrations …) of the last statement. */
  lastWork(): WorkCounts {
    return { ...this.lastCounts };
  }

  /** Work counts since boot (every counter, zeros included). */
  totalWork(): Record<string, number> {
    return { ...this.kernel.work.snapshot() };
  }

  /** Every invariant of the model checked now: the violations (empty when all hold). */
  checkInvariants(): string[] {
    return this.kernel.checkInvariants().map(String);
  }

  /** Write the machine's memory files under `dir` as `memhp export --sysroot` does. */
  exportSysroot(dir: string): { files: number; links: number } {
    return exportModel(this.kernel, dir);
  }
}

function errnoNumber(name: string): number {
  for (let n = 1; n < 600; n++) if (errnoName(n) === name) return n;
  return 5;
}
