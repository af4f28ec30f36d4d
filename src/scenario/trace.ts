// Trace records: JSON Lines, one object per statement after a header object
// (docs/scenario-format.md, "Trace"). `memhp run` and `memhp oracle`
// both write these (formatTrace()); `memhp diff` reads them (readTrace()) and
// compares them (src/scenario/diff.ts).

import type { PtLevelName, PtRun } from "../mm/ptdump.js";

export interface TraceHeader {
  op: "system";
  /** "memhp-model" or "linux". */
  system: string;
  /** model: memhp version; linux: kernel release (uname -r). */
  version: string;
  arch: string;
  [key: string]: unknown;
}

// The page-table runs belong to the model (src/mm/ptdump.ts); re-exported for the tools.
export type { PtLevelName, PtRun };

/** Memory-block changes a host event caused (after settling). */
export interface BlockChanges {
  added: string[];
  removed: string[];
}

/**
 * A kernel crash or warning report (docs/scenario-format.md, "Kernel crashes
 * and warnings"): "BUG" (BUG()/BUG_ON(): "kernel BUG at"), "Oops" (another
 * fatal fault), "panic", "WARNING" (WARN()), "report" (a report that does not
 * stop the kernel: soft lockup, sleeping in atomic context, hung task).
 */
export type CrashKind = "BUG" | "Oops" | "panic" | "WARNING" | "report";
export interface CrashInfo {
  kind: CrashKind;
  /** the report's first line (the oracle), or the model's explanation */
  message: string;
  /** the function that crashed or warned: x86 RIP, arm64 pc, the model's KernelBug.where */
  function?: string;
  /** annotations: FUNC+0xOFF/0xLEN as printed; the panic that followed an oops */
  _at?: string;
  _panic?: string;
}

export interface TraceStatementBase {
  line: number;
  op: string;
  /** Why the statement was refused (the model's; never compared with the kernel). */
  reason?: string;
  /** the kernel halted or killed the statement (then result is "crash" and the trace ends here) */
  crash?: CrashInfo;
  /** reports during the statement that did not stop the kernel (WARNING, report) */
  warnings?: CrashInfo[];
}
export interface WriteRecord extends TraceStatementBase {
  op: "write";
  path: string;
  value: string;
  result: string;
}
export interface ReadRecord extends TraceStatementBase {
  op: "read";
  path: string;
  value?: string;
  fields?: Record<string, number>;
  result?: string;
  /** Annotation on a MemFree reading: pages on the per-cpu lists then (src/scenario/pcp.ts). */
  _pcpPages?: number;
}
export interface LsRecord extends TraceStatementBase {
  op: "ls";
  path: string;
  names?: string[];
  result?: string;
}
export interface HostEventRecord extends TraceStatementBase {
  op: "dimm-add" | "dimm-del" | "vmem-resize";
  id: string;
  result: string;
  blocks: BlockChanges;
  [key: string]: unknown;
}
export interface PtdumpRecord extends TraceStatementBase {
  op: "ptdump";
  start: string;
  size: string;
  linear: PtRun[];
  vmemmap: PtRun[];
  tablePages: number;
}
export interface CallRecord extends TraceStatementBase {
  op: "call";
  fn: string;
  args: string[];
  result: string;
  [key: string]: unknown;
}
export interface GenericRecord extends TraceStatementBase {
  [key: string]: unknown;
}

export type TraceRecord =
  WriteRecord | ReadRecord | LsRecord | HostEventRecord | PtdumpRecord | CallRecord | GenericRecord;

export type Trace = { header: TraceHeader; records: TraceRecord[] };

export function formatTrace(t: Trace): string {
  return [t.header, ...t.records].map((r) => JSON.stringify(r)).join("\n") + "\n";
}

/** A malformed trace file; `line` is the JSON Lines line (1-based). */
export class TraceFormatError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`trace line ${line}: ${message}`);
    this.name = "TraceFormatError";
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** JSON Lines: the first object is the header (op "system"), then one record per statement. */
export function readTrace(text: string): Trace {
  let header: TraceHeader | undefined;
  const records: TraceRecord[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const src = lines[i].trim();
    if (src === "") continue;
    let obj: unknown;
    try {
      obj = JSON.parse(src);
    } catch (e) {
      throw new TraceFormatError(i + 1, `not JSON: ${(e as Error).message}`);
    }
    if (!isObject(obj)) throw new TraceFormatError(i + 1, "expected a JSON object");
    if (header === undefined) {
      if (obj.op !== "system")
        throw new TraceFormatError(i + 1, 'the first object must be the header (op "system")');
      header = obj as TraceHeader;
      continue;
    }
    if (typeof obj.line !== "number" || !Number.isInteger(obj.line) || typeof obj.op !== "string") {
      throw new TraceFormatError(i + 1, 'a record needs an integer "line" and a string "op"');
    }
    records.push(obj as TraceRecord);
  }
  if (header === undefined) throw new TraceFormatError(1, "empty trace: no header");
  return { header, records };
}
