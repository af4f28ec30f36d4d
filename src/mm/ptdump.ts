// Two views of the kernel page tables:
//  - ptdumpRange(): the `ptdump START SIZE` statement of the scenario format
//    (docs/scenario-format.md): the leaves that map physical
//    [START, START+SIZE) in the linear map and in the vmemmap, plus the number
//    of page-table pages.
//  - kernelPageTablesText(): /sys/kernel/debug/kernel_page_tables, whose text
//    is arch code (arch/x86/mm/dump_pagetables.c, arch/arm64/mm/ptdump.c); the
//    arch objects provide it on top of ptdumpWalkPgd(), the generic walker of
//    mm/ptdump.c + mm/pagewalk.c.

import type { ArchMm } from "../arch/arch.js";
import {
  LEAF_LEVEL_NAME,
  LEVEL_PGD,
  LEVEL_PTE,
  LEVEL_SIZE,
  entryIsLeaf,
  entryIsNone,
  entryTable,
  levelAddrEnd,
  ptIndex,
  toVa48,
  type KernelPageTable,
  type PtLevel,
} from "./pgtable.js";

/** A run of leaves: adjacent leaves of one level whose physical addresses continue. Hex strings. */
export interface PtRun {
  va: string;
  size: string;
  level: PtLevelName;
  pa?: string;
  inRange?: boolean;
}
export type PtLevelName = "pgd" | "p4d" | "pud" | "pmd" | "pte";

/**
 * note_page(addr, depth, entry): depth as mm/ptdump.c counts it (0 pgd, 1 p4d,
 * 2 pud, 3 pmd, 4 pte; -1 for the final flush at address 0); entry is the
 * encoded entry (pgtable.ts), 0 for a hole.
 */
export type PtdumpNote = (va48: number, depth: number, entry: number) => void;

/**
 * mm/ptdump.c: ptdump_walk_pgd() over [start, end) ranges (va48) in address
 * order, as mm/pagewalk.c visits them: a none entry above the PTE level is a
 * hole at that depth (the folded P4D makes top-level holes depth 0,
 * real_depth()), a leaf is noted at its depth, and every PTE slot of a PTE
 * table is noted (present or not). Ends with note(0, -1, 0).
 */
export function ptdumpWalkPgd(
  pt: KernelPageTable,
  ranges: ReadonlyArray<readonly [number, number]>,
  note: PtdumpNote,
): void {
  for (const [start, end] of ranges) walkLevel(pt, pt.root, LEVEL_PGD, start, end, note);
  note(0, -1, 0);
}

function walkLevel(
  pt: KernelPageTable,
  id: number,
  level: PtLevel,
  addr: number,
  end: number,
  note: PtdumpNote,
): void {
  const depth = level === LEVEL_PGD ? 0 : level + 1;
  while (addr < end) {
    const next = levelAddrEnd(addr, end, level);
    const e = pt.get(id, ptIndex(addr, level));
    if (level === LEVEL_PTE || entryIsNone(e) || entryIsLeaf(e)) note(addr, depth, e);
    else walkLevel(pt, entryTable(e), (level + 1) as PtLevel, addr, next, note);
    addr = next;
  }
}

/** The `ptdump` statement's result (PtdumpRecord without line/op/start/size). */
export interface PtdumpRange {
  linear: PtRun[];
  vmemmap: PtRun[];
  tablePages: number;
}

const hex = (v: bigint | number): string => "0x" + v.toString(16);

interface RawRun {
  va48: number;
  size: number;
  level: PtLevel;
  pa: number;
  inRange: boolean;
}

/**
 * `ptdump START SIZE`: runs of leaves mapping physical [start, start + size).
 * linear: leaves of the direct map of the range; adjacent leaves of one level
 * whose virtual and physical addresses both continue merge into one run.
 * vmemmap: leaves of the struct pages of the range's PFNs, with `inRange`
 * (the backing lies inside [start, start + size), memmap_on_memory) instead
 * of `pa`; since the backing address depends on the allocator, these runs
 * merge on level, virtual continuity and equal `inRange` only.
 * A leaf only partly inside the range is reported whole.
 */
export function ptdumpRange(arch: ArchMm, start: bigint, size: bigint): PtdumpRange {
  const pt = arch.pgtable;
  const startPa = Number(start);
  const endPa = Number(start + size);

  const linear: RawRun[] = [];
  if (endPa > startPa) {
    pt.forEachLeaf(toVa48(arch.physToVirt(startPa)), toVa48(arch.physToVirt(endPa)), (va48, level, pfn) => {
      const len = LEVEL_SIZE[level];
      const pa = pfn * 4096;
      const last = linear[linear.length - 1];
      if (last && last.level === level && last.va48 + last.size === va48 && last.pa + last.size === pa)
        last.size += len;
      else linear.push({ va48, size: len, level, pa, inRange: false });
    });
  }

  const vmemmap: RawRun[] = [];
  const startPfn = Math.floor(startPa / 4096);
  const endPfn = Math.ceil(endPa / 4096);
  if (endPfn > startPfn) {
    const vs = toVa48(arch.pfnToPageVa(startPfn));
    const ve = toVa48(arch.pfnToPageVa(endPfn));
    pt.forEachLeaf(vs, ve, (va48, level, pfn) => {
      const len = LEVEL_SIZE[level];
      const pa = pfn * 4096;
      const inRange = pa >= startPa && pa + len <= endPa;
      const last = vmemmap[vmemmap.length - 1];
      if (last && last.level === level && last.va48 + last.size === va48 && last.inRange === inRange)
        last.size += len;
      else vmemmap.push({ va48, size: len, level, pa, inRange });
    });
  }

  const name = (l: PtLevel): PtLevelName => LEAF_LEVEL_NAME[l];
  return {
    linear: linear.map((r) => ({
      va: hex(pt.vaOf(r.va48)),
      size: hex(r.size),
      level: name(r.level),
      pa: hex(r.pa),
    })),
    vmemmap: vmemmap.map((r) => ({
      va: hex(pt.vaOf(r.va48)),
      size: hex(r.size),
      level: name(r.level),
      inRange: r.inRange,
    })),
    tablePages: pt.tablePages(),
  };
}

/** /sys/kernel/debug/kernel_page_tables of the model (CONFIG_PTDUMP_DEBUGFS). */
export function kernelPageTablesText(arch: ArchMm): string {
  return arch.kernelPageTablesShow();
}
