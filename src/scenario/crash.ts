// The record of a statement the kernel crashed on (docs/scenario-format.md,
// "Kernel crashes and warnings"): the statement's identifying fields, result
// "crash" and what crashed. The oracle writes it when the guest console shows
// a BUG, an oops or a panic during the statement; the model when it reaches a
// path where the kernel BUG()s (src/kernel/bug.ts). Both build it here, so the
// two records have the same shape and `memhp diff` compares what crashed.

import type { Located, RunStatement } from "./ast.js";
import type { CrashInfo, TraceRecord } from "./trace.js";

/** The fields of a statement's record that say which statement it was (not what it did). */
export function statementIdentity(st: Located<RunStatement>): TraceRecord {
  const line = st.loc.line;
  switch (st.op) {
    case "write":
      return { line, op: st.op, path: st.path, value: st.value };
    case "read":
    case "ls":
      return { line, op: st.op, path: st.path };
    case "dimm-add":
    case "dimm-del":
    case "vmem-resize":
      return { line, op: st.op, id: st.id };
    case "ptdump":
      return { line, op: st.op, start: "0x" + st.start.toString(16), size: "0x" + st.sizeBytes.toString(16) };
    case "call":
      return { line, op: st.op, fn: st.fn, args: st.args };
    case "workload":
      return { line, op: st.op, steps: st.steps };
    default:
      return { line, op: st.op };
  }
}

/** The record of a statement during which the kernel crashed. */
export function crashRecord(st: Located<RunStatement>, crash: CrashInfo): TraceRecord {
  return { ...statementIdentity(st), result: "crash", crash };
}
