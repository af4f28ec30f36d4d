// What a strategy keeps allocated for a range while it is powered down, read from
// the model's state (never estimated): the struct pages of the range and the
// vmemmap pages holding them, the kernel page-table pages beyond those of a
// machine that never had the range, the memory block devices, sections and
// System RAM resources that still describe it, and the pages a driver holds.

import type { Kernel } from "../kernel/kernel.js";
import { IORESOURCE_BUSY, IORESOURCE_SYSTEM_RAM } from "../kernel/resource.js";
import { PAGE_SIZE, PAGES_PER_SECTION } from "../mm/constants.js";
import { LEVEL_SIZE, toVa48 } from "../mm/pgtable.js";

export interface KeptMemory {
  /** pages of RAM backing the range's struct pages (vmemmap leaves over them) */
  memmapPages: number;
  /** kernel page-table pages minus those of the baseline (before the range was added) */
  tablePages: number;
  /** memmapPages + tablePages, in bytes: the RAM the range still costs while off */
  bytes: number;
  memoryBlocks: number;
  presentSections: number;
  systemRamResources: number;
  /** pages of the range a driver holds through alloc_contig_range() */
  driverHeldPages: number;
}

/** Page-table pages of the machine before the range was added (keptMemory()'s baseline). */
export function tableBaseline(k: Kernel): number {
  return k.arch.pgtable.tablePages();
}

export function keptMemory(k: Kernel, start: number, size: number, baselineTables: number): KeptMemory {
  const arch = k.arch;
  const startPfn = start / PAGE_SIZE;
  const endPfn = (start + size) / PAGE_SIZE;
  const vs = toVa48(arch.pfnToPageVa(startPfn));
  const ve = toVa48(arch.pfnToPageVa(endPfn));
  let memmapBytes = 0;
  arch.pgtable.forEachLeaf(vs, ve, (va48, lv) => {
    const a = Math.max(va48, vs);
    const b = Math.min(va48 + LEVEL_SIZE[lv], ve);
    if (b > a) memmapBytes += b - a;
  });
  let memoryBlocks = 0;
  k.hotplug.walkMemoryBlocks(start, size, () => {
    memoryBlocks++;
    return 0;
  });
  let presentSections = 0;
  for (let pfn = startPfn; pfn < endPfn; pfn += PAGES_PER_SECTION)
    if (k.sparse.presentSectionNr(pfn / PAGES_PER_SECTION)) presentSections++;
  let systemRamResources = 0;
  const want = (IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY) >>> 0;
  for (const r of k.resources.resources())
    if ((r.flags & want) >>> 0 === want && r.start < BigInt(start + size) && r.end >= BigInt(start))
      systemRamResources++;
  let driverHeldPages = 0;
  for (const s of k.contig.held())
    driverHeldPages += Math.max(0, Math.min(s.endPfn, endPfn) - Math.max(s.startPfn, startPfn));
  const memmapPages = Math.ceil(memmapBytes / PAGE_SIZE);
  const tablePages = arch.pgtable.tablePages() - baselineTables;
  return {
    memmapPages,
    tablePages,
    bytes: (memmapPages + Math.max(0, tablePages)) * PAGE_SIZE,
    memoryBlocks,
    presentSections,
    systemRamResources,
    driverHeldPages,
  };
}
