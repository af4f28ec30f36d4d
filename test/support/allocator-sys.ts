// The page allocator on its own, for the allocator, isolation, migration and
// per-cpu list tests: a memmap with stand-alone sections (no sparse, no page
// tables), one node, and what online_pages() does around the allocator.

import { Work } from "../../src/kernel/work.js";
import { MAX_ORDER } from "../../src/mm/constants.js";
import { Memmap, MemmapSections } from "../../src/mm/memmap.js";
import { MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE, PglistData } from "../../src/mm/mmzone.js";
import { movePfnRangeToZone } from "../../src/mm/memory_hotplug.js";
import { initBootMemory } from "../../src/mm/mm_init.js";
import { BuddyAllocator, type PfnSpan } from "../../src/mm/page_alloc.js";
import { PageIsolation } from "../../src/mm/page_isolation.js";

/** Pages of a 128 MiB section. */
export const SEC = 32768;
/** Boot RAM [0x8000, 0x10000) is ZONE_NORMAL; DMA and DMA32 end below it. */
export const LIMITS = [0x1000, 0x2000, 0x40000];

export interface AllocatorSys {
  memmap: Memmap;
  secs: MemmapSections;
  pgdat: PglistData;
  work: Work;
  pa: BuddyAllocator;
  iso: PageIsolation;
}

export interface BootOptions {
  /** boot RAM (default [0x8000, 0x10000)) */
  ranges?: PfnSpan[];
  /** zone limits (default LIMITS) */
  limits?: number[];
  /** memblock-reserved spans */
  reserved?: PfnSpan[];
  watermarks?: boolean;
  nrCpus?: number;
}

/** free_area_init() + memblock_free_all() over boot RAM. */
export function bootAllocator(opts: BootOptions = {}): AllocatorSys {
  const ranges = opts.ranges ?? [{ startPfn: 0x8000, endPfn: 0x10000 }];
  const memmap = new Memmap();
  const secs = new MemmapSections(memmap);
  for (const r of ranges) secs.addSections(r.startPfn, r.endPfn, true);
  const pgdat = new PglistData(opts.limits ?? LIMITS);
  const work = new Work();
  const pa = new BuddyAllocator(memmap, secs, pgdat, work, {
    ...(opts.watermarks === undefined ? {} : { watermarks: opts.watermarks }),
    ...(opts.nrCpus === undefined ? {} : { nrCpus: opts.nrCpus }),
  });
  initBootMemory(pa, ranges, opts.reserved ?? []);
  return { memmap, secs, pgdat, work, pa, iso: new PageIsolation(pa) };
}

/**
 * What online_pages() does around the allocator (src/mm/memory_hotplug.ts does
 * it for real): sections added, the range moved to the zone isolated, every
 * page freed to the buddy in the largest aligned blocks, the sections online,
 * the pageblocks movable again. With vmemmapPages, the first pages stay
 * reserved (memmap_on_memory) and count as present once onlining succeeded.
 */
export function hotAddOnline(
  sys: AllocatorSys,
  startPfn: number,
  nrPages: number,
  zoneIdx: number,
  vmemmapPages = 0,
): void {
  const { pa, secs, pgdat } = sys;
  secs.addSections(startPfn, startPfn + nrPages, false);
  const zone = pgdat.zones[zoneIdx];
  if (vmemmapPages) movePfnRangeToZone(pa, zoneIdx, startPfn, vmemmapPages, MIGRATE_UNMOVABLE);
  const start = startPfn + vmemmapPages;
  const nr = nrPages - vmemmapPages;
  movePfnRangeToZone(pa, zoneIdx, start, nr, MIGRATE_ISOLATE);
  zone.nrIsolatePageblock += nr / 512;
  const rebuild = !zone.populated();
  if (rebuild) pa.setupZonePageset(zone);
  for (let pfn = start; pfn < start + nr;) {
    let order = MAX_ORDER - 1;
    while (pfn % (1 << order)) order--;
    pa.genericOnlinePage(pfn, order);
    pfn += 1 << order;
  }
  secs.onlineMemSections(startPfn, startPfn + nrPages);
  zone.presentPages += nr;
  pgdat.nodePresentPages += nr;
  if (rebuild) pa.buildAllZonelists();
  sys.iso.undoIsolatePageRange(start, start + nr, MIGRATE_MOVABLE);
  pa.initPerZoneWmarkMin();
  zone.presentPages += vmemmapPages;
  pgdat.nodePresentPages += vmemmapPages;
}
