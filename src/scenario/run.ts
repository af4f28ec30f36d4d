// `memhp run`: execute a scenario on the model and produce its trace, one record per
// statement after `boot`, in the format the oracle produces for the real kernel.

import { errnoName } from "../errno.js";
import { Kernel, MODEL_VERSION } from "../kernel/kernel.js";
import { ptdumpRange } from "../mm/ptdump.js";
import { PAGE_SIZE } from "../mm/constants.js";
import type { Located, RunStatement, Scenario } from "./ast.js";
import { KernelBug } from "../kernel/bug.js";
import { crashRecord } from "./crash.js";
import type { BlockChanges, ReadRecord, Trace, TraceRecord } from "./trace.js";
import { pcpPagesIn, wantsPcpPages } from "./pcp.js";
import type { WorkCounts } from "../kernel/work.js";

export interface RunOptions {
  /** Add the work counts of each statement to its record (`memhp run --counts`). */
  counts?: boolean;
  /** Check every invariant after each statement; a violation throws. */
  checkInvariants?: boolean;
  /** Seed for every random choice (the workload). */
  seed?: number;
  /**
   * A KernelBug (the kernel would BUG() here) ends the trace with a crash
   * record instead of being thrown (src/scenario/crash.ts), as the oracle
   * records a real crash.
   */
  crashRecords?: boolean;
  /** Called after each statement (progress, the shell). */
  onRecord?: (rec: TraceRecord, k: Kernel) => void;
}

export class InvariantError extends Error {
  constructor(
    readonly line: number,
    readonly violations: string[],
  ) {
    super(
      `after line ${line}: ${violations.length} invariant violation(s):\n  ${violations.slice(0, 20).join("\n  ")}`,
    );
  }
}

export function bootScenario(sc: Scenario, seed = 1): Kernel {
  return Kernel.boot({
    arch: sc.machine.arch,
    memBytes: sc.machine.memBytes,
    maxmemBytes: sc.machine.maxmemBytes,
    slots: sc.machine.slots,
    rfc: sc.machine.rfc,
    kernel: sc.machine.kernel,
    cpu: sc.machine.cpu,
    cmdline: sc.cmdline,
    vmems: sc.vmems.map((v) => ({ id: v.id, sizeBytes: v.sizeBytes, blockSizeBytes: v.blockSizeBytes })),
    seed,
  });
}

export function runScenario(sc: Scenario, opts: RunOptions = {}): Trace {
  const k = bootScenario(sc, opts.seed ?? 1);
  const header = {
    op: "system" as const,
    system: "memhp-model",
    version: MODEL_VERSION,
    arch: sc.machine.arch,
    machine: {
      memBytes: sc.machine.memBytes,
      maxmemBytes: sc.machine.maxmemBytes,
      slots: k.board.config.slots,
      ...(sc.machine.cpu !== undefined ? { cpu: sc.machine.cpu } : {}),
    },
    cmdline: sc.cmdline,
    seed: opts.seed ?? 1,
  };
  if (opts.checkInvariants) {
    const v = k.checkInvariants();
    if (v.length) throw new InvariantError(sc.machine.loc.line, v);
  }
  const records: TraceRecord[] = [];
  for (const st of sc.body) {
    const before = opts.counts ? k.work.snapshot() : undefined;
    let rec: TraceRecord;
    try {
      rec = executeStatement(k, st);
    } catch (e) {
      if (!(opts.crashRecords && e instanceof KernelBug)) throw e;
      records.push(crashRecord(st, { kind: "BUG", message: e.message, function: e.where }));
      break;
    }
    k.tick();
    if (before) (rec as Record<string, unknown>).counts = k.work.since(before) satisfies WorkCounts;
    records.push(rec);
    if (opts.checkInvariants) {
      // the sections a statement changed after each one, everything after the last
      const last = st === sc.body[sc.body.length - 1];
      const v = k.checkInvariants({ incremental: !last });
      if (v.length) throw new InvariantError(st.loc.line, v);
    }
    opts.onRecord?.(rec, k);
  }
  return { header, records };
}

function blockNames(k: Kernel): Set<string> {
  return new Set([...k.memory.blocks.keys()].map((id) => `memory${id}`));
}

function blockDiff(before: Set<string>, after: Set<string>): BlockChanges {
  const byNum = (a: string, b: string) => Number(a.slice(6)) - Number(b.slice(6));
  return {
    added: [...after].filter((n) => !before.has(n)).sort(byNum),
    removed: [...before].filter((n) => !after.has(n)).sort(byNum),
  };
}

const resultText = (err: number): string => (err === 0 ? "ok" : errnoName(err));

/** How a host event's `reason` begins when QEMU took the device and the guest's driver refused it. */
export const GUEST_REFUSED = "the guest refused the device";

/** Execute one statement after boot and describe what it did. */
export function executeStatement(k: Kernel, st: Located<RunStatement>): TraceRecord {
  // The exposure auditor names accesses to inaccessible memory after the statement that made them.
  return k.auditor.during(`line ${st.loc.line} ${st.op}`, () => {
    k.printk.begin();
    const rec = execute(k, st);
    // Why it was refused (src/kernel/printk.ts): not part of what is compared with the kernel.
    const result = (rec as { result?: unknown }).result;
    if (typeof result === "string" && result !== "ok" && rec.reason === undefined && k.printk.reason)
      rec.reason = k.printk.reason;
    return rec;
  });
}

function execute(k: Kernel, st: Located<RunStatement>): TraceRecord {
  const line = st.loc.line;
  switch (st.op) {
    case "dimm-add":
    case "dimm-del":
    case "vmem-resize": {
      const before = blockNames(k);
      const r =
        st.op === "dimm-add"
          ? k.host.dimmAdd(st.id, st.sizeBytes)
          : st.op === "dimm-del"
            ? k.host.dimmDel(st.id)
            : k.host.vmemResize(st.id, st.sizeBytes);
      const rec: TraceRecord = {
        line,
        op: st.op,
        id: st.id,
        result: resultText(r.err),
        blocks: blockDiff(before, blockNames(k)),
      };
      if (r.qmpError) rec.reason = `QEMU refused: ${r.qmpError}`;
      else if (r.guestErr)
        rec.reason = `${GUEST_REFUSED} (${errnoName(r.guestErr)}): ${k.printk.reason ?? "no memory added"}`;
      // As the oracle: a device left short of its requested size did not settle.
      if (st.op === "vmem-resize" && !r.qmpError && k.virtioMem.get(st.id)?.settled() === false)
        rec.settled = false;
      return rec;
    }
    case "write": {
      const err = k.kernfs.write(st.path, st.value);
      return { line, op: "write", path: st.path, value: st.value, result: resultText(err) };
    }
    case "read": {
      const text = k.kernfs.read(st.path);
      if (typeof text === "number") return { line, op: "read", path: st.path, result: errnoName(text) };
      const value = text.endsWith("\n") ? text.slice(0, -1) : text;
      if (st.fields.length === 0) return { line, op: "read", path: st.path, value };
      const rec: ReadRecord = { line, op: "read", path: st.path, fields: pickFields(value, st.fields) };
      if (wantsPcpPages(st.path, st.fields)) {
        // as the oracle: the per-cpu lists' pages beside MemFree (src/scenario/pcp.ts)
        const zi = k.kernfs.read("/proc/zoneinfo");
        if (typeof zi === "string") rec._pcpPages = pcpPagesIn(zi);
      }
      return rec;
    }
    case "ls": {
      const names = k.kernfs.list(st.path);
      if (typeof names === "number") return { line, op: "ls", path: st.path, result: errnoName(names) };
      return { line, op: "ls", path: st.path, names };
    }
    case "ptdump": {
      const d = ptdumpRange(k.arch, st.start, st.sizeBytes);
      return {
        line,
        op: "ptdump",
        start: "0x" + st.start.toString(16),
        size: "0x" + st.sizeBytes.toString(16),
        linear: d.linear,
        vmemmap: d.vmemmap,
        tablePages: d.tablePages,
      };
    }
    case "call": {
      const r = k.calls.call(st.fn, st.args);
      return { line, op: "call", fn: st.fn, args: st.args, result: resultText(r) };
    }
    case "workload": {
      const r = k.runWorkload(st.steps, st.options);
      return { line, op: "workload", steps: st.steps, result: resultText(r) };
    }
    case "hw-off":
    case "hw-on": {
      const pfn = st.start / PAGE_SIZE;
      if (st.op === "hw-off") k.hw.setInaccessible(pfn, st.sizeBytes / PAGE_SIZE);
      else k.hw.setAccessible(pfn, st.sizeBytes / PAGE_SIZE);
      return {
        line,
        op: st.op,
        start: "0x" + st.start.toString(16),
        size: "0x" + st.sizeBytes.toString(16),
        result: "ok",
      };
    }
    case "audit": {
      const findings = k.auditor.audit();
      return { line, op: "audit", clean: findings.length === 0, findings };
    }
    default: {
      const never: never = st;
      throw new Error(`unknown statement ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The named fields of a `name: value` file (/proc/meminfo) or a `name value` file
 * (/proc/vmstat), as numbers (meminfo in kB, as printed).
 */
export function pickFields(text: string, fields: string[]): Record<string, number> {
  const all = new Map<string, number>();
  for (const ln of text.split("\n")) {
    const m = /^([A-Za-z0-9_()]+):?\s+(-?\d+)/.exec(ln);
    if (m) all.set(m[1], Number(m[2]));
  }
  const out: Record<string, number> = {};
  for (const f of fields) {
    const v = all.get(f);
    if (v !== undefined) out[f] = v;
  }
  return out;
}

/** Run every statement and hand back the model itself (for `memhp ptdump`, the shell, tests). */
export function runScenarioKernel(sc: Scenario, seed = 1): Kernel {
  const k = bootScenario(sc, seed);
  for (const st of sc.body) {
    executeStatement(k, st);
    k.tick();
  }
  return k;
}
