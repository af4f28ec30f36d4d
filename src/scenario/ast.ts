// The parsed form of a scenario file (docs/scenario-format.md: the fixed core
// and memhp's additions). One Statement per line.

import type { Arch } from "../arch/arch.js";
import type { KernelVersion } from "../kernel/linux_version.js";

// The model owns the architecture names (src/arch/arch.ts); re-exported for the tools.
export type { Arch };

/** Where a statement came from, for `file:line:column: message`. */
export interface Loc {
  file: string;
  line: number;
}

export interface MachineStmt {
  op: "machine";
  arch: Arch;
  memBytes: number;
  maxmemBytes: number;
  slots?: number;
  /** `rfc=v2`: the kernel carries the RFC v2 series (docs/rfc-v2.md); absent: stock 6.1. */
  rfc?: "v2";
  /** `kernel=6.12`: the Linux release the machine runs (src/kernel/linux_version.ts); absent: 6.1. */
  kernel?: KernelVersion;
  /** `cpu=neoverse-v3`: QEMU's CPU model (archSetup().cpuModels); absent: `max`, the default. */
  cpu?: string;
}
export interface CmdlineStmt {
  op: "cmdline";
  words: string[];
}
export interface VmemStmt {
  op: "vmem";
  id: string;
  sizeBytes: number;
  /** `block-size=`: QEMU's virtio-mem block-size property; absent: QEMU's default (2 MiB here). */
  blockSizeBytes?: number;
}
export interface BootStmt {
  op: "boot";
}
export interface DimmAddStmt {
  op: "dimm-add";
  id: string;
  sizeBytes: number;
}
export interface DimmDelStmt {
  op: "dimm-del";
  id: string;
}
export interface VmemResizeStmt {
  op: "vmem-resize";
  id: string;
  sizeBytes: number;
}
export interface WriteStmt {
  op: "write";
  path: string;
  value: string;
}
export interface ReadStmt {
  op: "read";
  path: string;
  fields: string[];
}
export interface LsStmt {
  op: "ls";
  path: string;
}
export interface PtdumpStmt {
  op: "ptdump";
  start: bigint;
  sizeBytes: bigint;
}
/** memhp addition: call a kernel function of the model (or the patched kernel's test module). */
export interface CallStmt {
  op: "call";
  fn: string;
  args: string[];
}
/** memhp addition: run the seeded workload for N steps (`workload STEPS [key=value...]`). */
export interface WorkloadStmt {
  op: "workload";
  steps: number;
  options: Record<string, string>;
}

/**
 * memhp addition (the hardware-access model, docs/rfc.md): the memory of
 * physical [START, START+SIZE) becomes inaccessible (`hw-off`: powered down or
 * handed to another agent) or accessible again (`hw-on`).
 */
export interface HwStmt {
  op: "hw-off" | "hw-on";
  start: number;
  sizeBytes: number;
}
/** memhp addition: run the exposure auditor (`audit`). */
export interface AuditStmt {
  op: "audit";
}

export type SetupStatement = MachineStmt | CmdlineStmt | VmemStmt | BootStmt;
export type RunStatement =
  | DimmAddStmt
  | DimmDelStmt
  | VmemResizeStmt
  | WriteStmt
  | ReadStmt
  | LsStmt
  | PtdumpStmt
  | CallStmt
  | WorkloadStmt
  | HwStmt
  | AuditStmt;
export type Statement = SetupStatement | RunStatement;

export type Located<S extends Statement = Statement> = S & { loc: Loc };

export interface Scenario {
  file: string;
  machine: Located<MachineStmt>;
  cmdline: string[];
  vmems: Located<VmemStmt>[];
  /** Statements after `boot`, in order. */
  body: Located<RunStatement>[];
}
