// What the fuzzer generates: a machine and a list of abstract operations.
//
// Both are plain records of small integers ("choices"), so that one description
// serves two generators: the seeded one of `memhp fuzz` (./random.ts) and the
// fast-check arbitraries of the property tests (test/property*.test.ts), whose
// shrinking moves every integer toward 0. The tables below are ordered so that
// 0 is the plainest choice (the first word is a valid one, the first size the
// smallest), which is what a shrunk counterexample then shows.
//
// An abstract operation names no block, address or device directly: ./resolve.ts
// turns it into a scenario statement against the machine as it is at that moment
// (operand `a` modulo the number of blocks, and so on), so every operation means
// something whatever ran before it.

import type { Arch } from "../scenario/ast.js";

/** The kinds of operation, with the weight each gets when generating. */
export const OP_WEIGHTS = {
  state: 20, // write memoryN/state
  online: 10, // write memoryN/online
  "dimm-add": 8,
  "dimm-del": 6,
  "vmem-resize": 8,
  call: 10, // call FN ARGS (driver calls: add/remove, populate/depopulate ...)
  rfc: 12, // an RFC v2 / strategy step on the test module's memory: adds in one GiB, (de)populate, partial removal
  workload: 5,
  read: 8,
  "auto-online": 3, // write auto_online_blocks
  param: 3, // write a memory_hotplug module parameter
  junk: 4, // a write to a file that refuses it, or to no file at all
  ls: 2,
  ptdump: 1,
} as const;

export type OpKind = keyof typeof OP_WEIGHTS;
export const OP_KINDS = Object.keys(OP_WEIGHTS) as OpKind[];

/** Every operand is an integer in [0, OPERAND_MAX]; resolve.ts reduces it modulo what it picks from. */
export const OPERAND_MAX = 1023;

export interface FuzzOp {
  kind: OpKind;
  a: number;
  b: number;
  c: number;
}

/** The machine as choices; ./machine.ts turns it into a MachineSpec. */
export interface MachineChoices {
  arch: number;
  mem: number;
  extra: number;
  slots: number;
  /** Up to two virtio-mem devices: index into VMEM_SIZES_MIB + 1, 0 = none. */
  vmem0: number;
  vmem1: number;
  defaultState: number;
  memmapOnMemory: number;
  policy: number;
  ratio: number;
  movableNode: number;
  rodata: number;
  /** 0: stock 6.1, 1: `machine ... rfc=v2` (try_remove_memory() refuses a leaf split) */
  rfc: number;
}

/**
 * The weight of each value of each machine choice (value i has weight w[i]).
 * Small machines dominate: the invariant checks after every step walk every
 * struct page of every section with a memmap (about 0.4 ms per 128 MiB
 * section) and, on arm64 with rodata=full, every page-table page, so a 128 MiB
 * x86_64 machine with a little hot-plugged memory checks in under a
 * millisecond and a 1 GiB arm64 one in several.
 */
export const MACHINE_WEIGHTS: Readonly<Record<keyof MachineChoices, readonly number[]>> = {
  arch: [4, 1],
  mem: [40, 3, 1, 1, 1],
  extra: [2, 8, 14, 1, 8, 2],
  slots: [4, 1, 1, 1, 1],
  vmem0: [3, 3, 3, 1, 1, 1],
  vmem1: [8, 1, 1, 1, 1, 1],
  defaultState: [3, 2, 1, 1, 1, 1],
  memmapOnMemory: [2, 1, 1],
  policy: [2, 1, 1],
  ratio: [3, 1, 1, 1, 1],
  movableNode: [4, 1],
  rodata: [1, 3, 3, 1],
  rfc: [2, 1],
};

export const ARCHES: readonly Arch[] = ["x86_64", "arm64"];
/** Boot memory: small machines keep the per-page invariant checks cheap. */
export const MEM_MIB: readonly number[] = [128, 256, 384, 512, 1024];
/** maxmem - mem */
export const EXTRA_MIB: readonly number[] = [1024, 512, 256, 2048, 128, 0];
/** slots=: undefined means the parser's default (4 when maxmem > mem). */
export const SLOTS: readonly (number | undefined)[] = [undefined, 1, 2, 0, 8];
export const VMEM_SIZES_MIB: readonly number[] = [256, 128, 512, 130, 384];
export const DIMM_SIZES_MIB: readonly number[] = [128, 256, 512, 1024, 2, 130, 384, 64];
export const DEFAULT_STATES: readonly (string | undefined)[] = [
  undefined,
  "online_movable",
  "online",
  "online_kernel",
  "offline",
  "bogus",
];
export const MEMMAP_ON_MEMORY: readonly (string | undefined)[] = [undefined, "1", "0"];
export const POLICIES: readonly (string | undefined)[] = [undefined, "auto-movable", "contig-zones"];
export const RATIOS: readonly (string | undefined)[] = [undefined, "0", "100", "301", "3000"];
export const RODATA: readonly (string | undefined)[] = [undefined, "off", "on", "full"];
