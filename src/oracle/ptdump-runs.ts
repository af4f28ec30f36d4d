// The `ptdump START SIZE` record from walked guest tables
// (docs/scenario-format.md, "Trace"), built the way the model's
// src/mm/ptdump.ts ptdumpRange() builds it, so that `memhp diff` can compare
// them exactly:
//   linear   leaves overlapping the direct-map VAs of physical [START, END),
//            each whole; adjacent leaves of one level whose virtual and
//            physical addresses both continue merge into a run {va,size,level,pa}.
//   vmemmap  leaves overlapping the VAs of the struct pages of PFNs
//            [START >> 12, ceil(END / 4096)); a run {va,size,level,inRange}
//            merges leaves of one level with continuing virtual addresses and
//            the same inRange (the leaf's backing lies wholly inside
//            [START, END), as with memmap_on_memory); the backing address itself
//            depends on the allocator and is not reported.
//   tablePages  table pages reachable from the kernel's root (the whole kernel
//            half), plus the annotation `_tablePages` (not compared by
//            `memhp diff`): how many of them map the linear-map region, the
//            vmemmap region and the rest (root, vmalloc/modules/kernel image,
//            fixmap...). The rest moves on its own: vmalloc'd stacks of the
//            guest's forked processes add PTE tables that are never freed.
// The addresses are those of a 4-level, nokaslr kernel (the oracle boots so):
//   x86_64  PAGE_OFFSET 0xffff888000000000, vmemmap 0xffffea0000000000
//           (arch/x86/include/asm/page_64_types.h, pgtable_64_types.h).
//   arm64   PAGE_OFFSET 0xffff000000000000 (-(1 << VA_BITS)); memstart_addr is 0
//           on QEMU virt (RAM starts at 0x40000000, rounded down to
//           ARM64_MEMSTART_ALIGN = 1 GiB), so linear VA = PA + PAGE_OFFSET.
//           VMEMMAP_START = -(1 << (VA_BITS - VMEMMAP_SHIFT)) with VMEMMAP_SHIFT
//           = PAGE_SHIFT - STRUCT_PAGE_MAX_SHIFT = 6: 0xfffffc0000000000, and
//           vmemmap = VMEMMAP_START - (memstart_addr >> PAGE_SHIFT) struct pages
//           (arch/arm64/include/asm/memory.h, pgtable.h). Both checked on the guest
//           (docs/oracle.md).

import type { Arch } from "../scenario/ast.js";
import { kernelAtLeast, type KernelVersion } from "../kernel/linux_version.js";
import type { PtdumpRecord, PtRun } from "../scenario/trace.js";
import { LEAF_NAME, va48Of, type Leaf, type LeafLevel, type WalkSpec } from "./pagewalk.js";
import { ARM64_VA_LAYOUT, ARM64_VA_LAYOUT_48_TOP, type Arm64VaLayout } from "../arch/arm64/mmu.js";

export interface KernelLayout {
  /** virtual address of physical address 0 in the linear map */
  pageOffset: bigint;
  /** virtual address of the struct page of PFN 0 */
  vmemmap: bigint;
  /** sizeof(struct page) */
  structPageBytes: number;
  /** the linear-map region, va48 [start, end) */
  linearRegion48: readonly [number, number];
  /** the vmemmap region, va48 [start, end) */
  vmemmapRegion48: readonly [number, number];
  /** virtual address bits of the walk: its "va48" numbers are the low vaBits bits (default 48) */
  vaBits?: number;
}

/** The low `layout.vaBits` bits of a virtual address: the walk's "va48" number. */
export function vaLow(layout: KernelLayout, va: bigint): number {
  return layout.vaBits === undefined || layout.vaBits === 48
    ? va48Of(va)
    : Number(va & ((1n << BigInt(layout.vaBits)) - 1n));
}

/**
 * An arm64 layout of the model's (src/arch/arm64/mmu.ts: PAGE_OFFSET,
 * PAGE_END, VMEMMAP_START/END by CONFIG_ARM64_VA_BITS and release) as the
 * walk reads it: the linear map [PAGE_OFFSET, PAGE_END) and the vmemmap as
 * the low vaBits bits of their addresses.
 */
function arm64Layout(l: Arm64VaLayout, vaBits: 48 | 52): KernelLayout {
  const low = (va: bigint) => Number(va & ((1n << BigInt(vaBits)) - 1n));
  return {
    pageOffset: l.pageOffset,
    vmemmap: l.vmemmapStart,
    structPageBytes: 64,
    linearRegion48: [low(l.pageOffset), low(l.pageEnd)],
    vmemmapRegion48: [low(l.vmemmapStart), low(l.vmemmapEnd)],
    ...(vaBits === 52 ? { vaBits } : {}),
  };
}

/**
 * arm64 with 52-bit virtual addresses (Debian's 6.12 and 7.2:
 * CONFIG_ARM64_VA_BITS_52, vabits_actual 52 on QEMU's max CPU); memstart_addr
 * 0 as on 6.1 (the firmware reports RAM from 64 MiB).
 */
export const ARM64_LAYOUT_52: KernelLayout = arm64Layout(ARM64_VA_LAYOUT[52], 52);

/**
 * arm64 with 48-bit virtual addresses from 6.9 on (the series' 6.12 and 7.2
 * builds: CONFIG_ARM64_VA_BITS_48): the vmemmap ends at -1 GiB.
 */
export const ARM64_LAYOUT_48_TOP: KernelLayout = arm64Layout(ARM64_VA_LAYOUT_48_TOP, 48);

/** The layout of `arch` on `version` with `vaBits` virtual address bits (arm64: from TCR_EL1). */
export function kernelLayout(arch: Arch, version: KernelVersion, vaBits = 48): KernelLayout {
  if (arch !== "arm64") return KERNEL_LAYOUT[arch];
  if (vaBits === 52) return ARM64_LAYOUT_52;
  return kernelAtLeast(version, "6.12") ? ARM64_LAYOUT_48_TOP : KERNEL_LAYOUT.arm64;
}

export const KERNEL_LAYOUT: Readonly<Record<Arch, KernelLayout>> = {
  // Documentation/x86/x86_64/mm.rst (4-level): direct map 64 TiB from
  // 0xffff888000000000, vmemmap 1 TiB from 0xffffea0000000000.
  x86_64: {
    pageOffset: 0xffff888000000000n,
    vmemmap: 0xffffea0000000000n,
    structPageBytes: 64,
    linearRegion48: [0x888000000000, 0xc88000000000],
    vmemmapRegion48: [0xea0000000000, 0xeb0000000000],
  },
  // arch/arm64/include/asm/memory.h, VA_BITS 48: [PAGE_OFFSET, PAGE_END) and
  // [VMEMMAP_START, VMEMMAP_END).
  arm64: arm64Layout(ARM64_VA_LAYOUT[48], 48),
};

/** Table pages by the region they map (the root counts as "other"). */
export interface TablePagesByRegion {
  linearMap: number;
  vmemmap: number;
  other: number;
}

export function tablePagesByRegion(
  layout: KernelLayout,
  tablePages: number,
  bases48: readonly number[],
): TablePagesByRegion {
  const within = (b: number, [s, e]: readonly [number, number]): boolean => b >= s && b < e;
  const linearMap = bases48.filter((b) => within(b, layout.linearRegion48)).length;
  const vmemmap = bases48.filter((b) => within(b, layout.vmemmapRegion48)).length;
  return { linearMap, vmemmap, other: tablePages - linearMap - vmemmap };
}

export interface PtdumpRanges {
  /** va48 [start, end) of the linear map of the range (empty when size is 0) */
  linear: readonly [number, number];
  /** va48 [start, end) of its struct pages */
  vmemmap: readonly [number, number];
}

export function ptdumpRanges(layout: KernelLayout, start: bigint, size: bigint): PtdumpRanges {
  const end = start + size;
  const startPfn = start >> 12n;
  const endPfn = (end + 4095n) >> 12n;
  const sp = BigInt(layout.structPageBytes);
  const lin: [number, number] = [
    vaLow(layout, layout.pageOffset + start),
    vaLow(layout, layout.pageOffset + end),
  ];
  const vm: [number, number] = [
    vaLow(layout, layout.vmemmap + startPfn * sp),
    vaLow(layout, layout.vmemmap + endPfn * sp),
  ];
  if (size <= 0n) return { linear: [lin[0], lin[0]], vmemmap: [vm[0], vm[0]] };
  return { linear: lin, vmemmap: vm };
}

const hex = (v: bigint | number): string => "0x" + v.toString(16);

interface Run {
  va48: number;
  size: number;
  level: LeafLevel;
  pa: number;
  inRange: boolean;
}

function inside(leaves: readonly Leaf[], [s, e]: readonly [number, number]): Leaf[] {
  return leaves.filter((l) => l.va48 < e && l.va48 + l.size > s);
}

/** Merges leaves (in address order) into the runs of the linear map. */
export function linearRuns(spec: WalkSpec, leaves: readonly Leaf[]): PtRun[] {
  const runs: Run[] = [];
  for (const l of leaves) {
    const last = runs.at(-1);
    if (last && last.level === l.level && last.va48 + last.size === l.va48 && last.pa + last.size === l.pa)
      last.size += l.size;
    else runs.push({ va48: l.va48, size: l.size, level: l.level, pa: l.pa, inRange: false });
  }
  return runs.map((r) => ({
    va: hex(spec.vaOf(r.va48)),
    size: hex(r.size),
    level: LEAF_NAME[r.level],
    pa: hex(r.pa),
  }));
}

/** Merges leaves (in address order) into the runs of the vmemmap of physical [start, end). */
export function vmemmapRuns(spec: WalkSpec, leaves: readonly Leaf[], start: number, end: number): PtRun[] {
  const runs: Run[] = [];
  for (const l of leaves) {
    const inRange = l.pa >= start && l.pa + l.size <= end;
    const last = runs.at(-1);
    if (last && last.level === l.level && last.va48 + last.size === l.va48 && last.inRange === inRange)
      last.size += l.size;
    else runs.push({ va48: l.va48, size: l.size, level: l.level, pa: l.pa, inRange });
  }
  return runs.map((r) => ({
    va: hex(spec.vaOf(r.va48)),
    size: hex(r.size),
    level: LEAF_NAME[r.level],
    inRange: r.inRange,
  }));
}

/** A ptdump record with the oracle's annotation (keys starting with "_" are not compared). */
export type OraclePtdumpRecord = PtdumpRecord & { _tablePages?: TablePagesByRegion };

/**
 * The trace record of `ptdump START SIZE` from the leaves a walk over
 * ptdumpRanges() found; with `layout` and the walk's table bases, the
 * `_tablePages` annotation too.
 */
export function ptdumpRecord(
  line: number,
  spec: WalkSpec,
  ranges: PtdumpRanges,
  start: bigint,
  size: bigint,
  walk: { leaves: readonly Leaf[]; tablePages: number; tableBases48?: readonly number[] },
  layout?: KernelLayout,
): OraclePtdumpRecord {
  const rec: OraclePtdumpRecord = {
    line,
    op: "ptdump",
    start: hex(start),
    size: hex(size),
    linear: linearRuns(spec, inside(walk.leaves, ranges.linear)),
    vmemmap: vmemmapRuns(spec, inside(walk.leaves, ranges.vmemmap), Number(start), Number(start + size)),
    tablePages: walk.tablePages,
  };
  if (layout && walk.tableBases48)
    rec._tablePages = tablePagesByRegion(layout, walk.tablePages, walk.tableBases48);
  return rec;
}
