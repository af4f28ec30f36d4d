// The memmap's contents: the state of every struct page of the sections that
// have a memmap, and the pageblock flags (migratetype per 2 MiB pageblock).
//
// In Linux: struct page (page->flags with PG_buddy/PG_reserved/PG_lru/PG_offline,
// the zone id in the flags, page->private = buddy order, page->_refcount,
// page->lru links) and the pageblock bitmap of mem_section_usage
// (include/linux/pageblock-flags.h, mm/page_alloc.c set_pfnblock_flags_mask()).
// In memhp: per memory section, one ArrayBuffer holding three bytes per page
// (state, order, zone) and one byte per pageblock (migratetype). It exists only
// while the section's memmap exists (activateSection()/deactivateSection(), called
// by sparse's section_activate()/section_deactivate() and sparse_init()), so a
// large machine with few present sections costs little. Free-list links are not
// kept per page: the free lists (src/mm/mmzone.ts FreeArea) index their blocks
// by PFN, which costs per free block, not per page.
//
// PFNs are limited to < 2^31 (physical addresses below 8 TiB) so the buddy code
// can use 32-bit bit operations on them; activateSection() enforces it.

import { PAGEBLOCK_ORDER, PAGES_PER_SECTION, PFN_SECTION_SHIFT } from "./constants.js";

// --- page states (one byte per page) ---
// Each page of a section with a memmap is in exactly one of these.

/** memmap not initialised (hot-added, never onlined; or poisoned again after offline). */
export const PS_UNINIT = 0;
/** A hole in a boot section (init_unavailable_range()): PageReserved, not present. */
export const PS_HOLE = 1;
/** PageReserved: memblock-reserved boot memory, or memmap_init_range(MEMINIT_HOTPLUG) before onlining. */
export const PS_RESERVED = 2;
/** PageBuddy: the head of a free block on a free list; its order is in the order byte. */
export const PS_BUDDY = 3;
/** Free, inside a free block whose head is PS_BUDDY (refcount 0, no flags). */
export const PS_FREE = 4;
/** Allocated, unmovable: GFP_KERNEL. */
export const PS_KERNEL = 5;
/** Allocated, unmovable: a kernel page-table page. */
export const PS_PGTABLE = 6;
/** Allocated, unmovable: a vmemmap (memmap backing) page. */
export const PS_VMEMMAP = 7;
/** Allocated, __GFP_RECLAIMABLE (reclaimable slab): unmovable for isolation. */
export const PS_RECLAIMABLE = 8;
/** Allocated, movable user page on the LRU (PageLRU). */
export const PS_MOVABLE = 9;
/** A user page on the LRU with a long-term pin (FOLL_LONGTERM): cannot migrate. */
export const PS_PINNED = 10;
/** PageOffline with a reference held by its driver (virtio-mem, balloon). */
export const PS_OFFLINE = 11;
/** PageOffline whose driver dropped its reference (MEM_GOING_OFFLINE): offlining may skip it. */
export const PS_OFFLINE_FREE = 12;
/** Taken out of the buddy by __offline_isolated_pages(), waiting for remove_pfn_range_from_zone(). */
export const PS_ISOLATED = 13;
/**
 * Free, on a per-cpu page list (struct per_cpu_pages): refcount 0 but not
 * PageBuddy, not counted in NR_FREE_PAGES. The head's order byte is the block's
 * order, its other pages ORDER_TAIL.
 */
export const PS_PCP = 14;
/**
 * PageHWPoison, taken off the buddy by memory_failure() (take_page_off_buddy()):
 * refcount 1, owned by no one; offlining skips it (src/mm/memory_failure.ts).
 */
export const PS_HWPOISON = 15;
export const NR_PAGE_STATES = 16;

export const PAGE_STATE_NAMES: readonly string[] = [
  "uninit",
  "hole",
  "reserved",
  "buddy",
  "free",
  "kernel",
  "pgtable",
  "vmemmap",
  "reclaimable",
  "movable",
  "pinned",
  "offline",
  "offline-free",
  "isolated",
  "pcp",
  "hwpoison",
];

/** The order byte of a page inside a block (free or allocated) that is not its head. */
export const ORDER_TAIL = 0xff;
/** The zone byte of a page with no zone (poisoned memmap). */
export const ZONE_NONE = 0xff;

/** An allocated page (some allocation owns it). */
export function isAllocatedState(s: number): boolean {
  return s >= PS_KERNEL && s <= PS_PINNED;
}
/** PageLRU(): a user page on the LRU (migratable unless pinned). */
export function isLruState(s: number): boolean {
  return s === PS_MOVABLE || s === PS_PINNED;
}
/** In the buddy allocator: PS_BUDDY head or PS_FREE tail. */
export function isFreeState(s: number): boolean {
  return s === PS_BUDDY || s === PS_FREE;
}

/**
 * What the page allocator asks about sections: sparse's mem_section flags.
 * src/mm/sparse.ts Sparse satisfies it; MemmapSections below is a stand-alone one.
 */
export interface SectionQuery {
  /** include/linux/mmzone.h: pfn_valid() — pfn has a struct page. */
  pfnValid(pfn: number): boolean;
  /** include/linux/mmzone.h: pfn_section_valid() — the subsection of pfn is populated. */
  pfnSectionValid(pfn: number): boolean;
  /** online_section_nr(): SECTION_IS_ONLINE. */
  onlineSectionNr(nr: number): boolean;
  /** memhp: pfn_valid() holds for every PFN of the section (all subsections populated). */
  sectionFullyValid(nr: number): boolean;
}

/**
 * mm/memory_hotplug.c: pfn_to_online_page() != NULL: an online section, and
 * pfn_section_valid() even in a boot section, where pfn_valid() holds for
 * every PFN.
 */
export function pfnToOnlinePage(sections: SectionQuery, pfn: number): boolean {
  return (
    sections.onlineSectionNr(pfn >>> PFN_SECTION_SHIFT) &&
    sections.pfnValid(pfn) &&
    sections.pfnSectionValid(pfn)
  );
}

const PAGEBLOCKS_PER_SECTION = PAGES_PER_SECTION >> PAGEBLOCK_ORDER;
/** Sections above this are refused (PFN < 2^31). */
export const MAX_SECTION_NR = 1 << (31 - PFN_SECTION_SHIFT);

/** One section's memmap: views into one ArrayBuffer. */
interface SectionMap {
  readonly state: Uint8Array;
  readonly order: Uint8Array;
  readonly zone: Uint8Array;
  readonly pageblockMt: Uint8Array;
  /**
   * memhp summary, not in struct page: the number of the section's pages in
   * each state, kept by every state write, so scans can skip a section that has
   * none of what they look for (docs/performance.md).
   */
  readonly stateCount: Int32Array;
  /** memhp summary: the zone of every page when they all have the same one, ZONE_MIXED when not, ZONE_UNKNOWN when not yet computed. */
  zoneAll: number;
  /** memhp: changes with every write to the section (Memmap.sectionVersion()), for incremental checks. */
  version: number;
}

/** zoneUniform(): the section's pages are in more than one zone. */
export const ZONE_MIXED = -1;
const ZONE_UNKNOWN = -2;

const SECTION_MASK = PAGES_PER_SECTION - 1;

export class Memmap {
  private readonly sections: (SectionMap | undefined)[] = [];
  private nrActive = 0;
  /** source of section versions */
  private clock = 0;

  /** Bytes of model memory per section's memmap. */
  static readonly BYTES_PER_SECTION = 3 * PAGES_PER_SECTION + PAGEBLOCKS_PER_SECTION;

  // --- sections (called by sparse) ---

  /**
   * The section's struct pages now exist: every page PS_UNINIT, no zone, every
   * pageblock MIGRATE_UNMOVABLE (0, as the zeroed pageblock bitmap).
   */
  activateSection(sectionNr: number): void {
    if (!Number.isInteger(sectionNr) || sectionNr < 0 || sectionNr >= MAX_SECTION_NR)
      throw new RangeError(`memmap: section ${sectionNr} out of range`);
    if (this.sections[sectionNr] !== undefined)
      throw new Error(`memmap: section ${sectionNr} already active`);
    const buf = new ArrayBuffer(Memmap.BYTES_PER_SECTION);
    const n = PAGES_PER_SECTION;
    const m: SectionMap = {
      state: new Uint8Array(buf, 0, n),
      order: new Uint8Array(buf, n, n),
      zone: new Uint8Array(buf, 2 * n, n).fill(ZONE_NONE),
      pageblockMt: new Uint8Array(buf, 3 * n, PAGEBLOCKS_PER_SECTION),
      stateCount: new Int32Array(NR_PAGE_STATES),
      zoneAll: ZONE_NONE,
      version: ++this.clock,
    };
    m.stateCount[PS_UNINIT] = n;
    this.sections[sectionNr] = m;
    this.nrActive++;
  }

  /**
   * The section's struct pages are gone. Every page must be PS_UNINIT (offlined
   * and poisoned) or PS_HOLE; anything else means pages still in use (a BUG_ON).
   */
  deactivateSection(sectionNr: number): void {
    const m = this.sections[sectionNr];
    if (m === undefined) throw new Error(`memmap: section ${sectionNr} not active`);
    const st = m.state;
    const idle = m.stateCount[PS_UNINIT] + m.stateCount[PS_HOLE] === PAGES_PER_SECTION;
    for (let i = 0; !idle && i < PAGES_PER_SECTION; i++) {
      const s = st[i];
      if (s !== PS_UNINIT && s !== PS_HOLE)
        throw new Error(
          `memmap: deactivating section ${sectionNr} with pfn ${(sectionNr * PAGES_PER_SECTION + i).toString(16)} ${PAGE_STATE_NAMES[s]}`,
        );
    }
    this.sections[sectionNr] = undefined;
    this.nrActive--;
  }

  isSectionActive(sectionNr: number): boolean {
    return this.sections[sectionNr] !== undefined;
  }

  /** The struct page of pfn exists. */
  hasPage(pfn: number): boolean {
    return this.sections[pfn >>> PFN_SECTION_SHIFT] !== undefined;
  }

  get activeSections(): number {
    return this.nrActive;
  }

  /** Active section numbers, ascending. */
  activeSectionNrs(): number[] {
    const out: number[] = [];
    for (let nr = 0; nr < this.sections.length; nr++) if (this.sections[nr] !== undefined) out.push(nr);
    return out;
  }

  /** Model memory used by the memmap, in bytes. */
  bytesUsed(): number {
    return this.nrActive * Memmap.BYTES_PER_SECTION;
  }

  private sec(pfn: number): SectionMap {
    const m = this.sections[pfn >>> PFN_SECTION_SHIFT];
    if (m === undefined) throw new Error(`memmap: no struct page for pfn ${pfn.toString(16)}`);
    return m;
  }

  // --- per page ---

  /** The page's state (PS_UNINIT when the section has no memmap). */
  state(pfn: number): number {
    const m = this.sections[pfn >>> PFN_SECTION_SHIFT];
    return m === undefined ? PS_UNINIT : m.state[pfn & SECTION_MASK];
  }
  setState(pfn: number, s: number): void {
    const m = this.sec(pfn);
    m.version = ++this.clock;
    const i = pfn & SECTION_MASK;
    m.stateCount[m.state[i]]--;
    m.stateCount[s]++;
    m.state[i] = s;
  }
  /** The order byte: buddy/allocation order of a head, ORDER_TAIL inside a block. */
  order(pfn: number): number {
    const m = this.sections[pfn >>> PFN_SECTION_SHIFT];
    return m === undefined ? ORDER_TAIL : m.order[pfn & SECTION_MASK];
  }
  setOrder(pfn: number, o: number): void {
    const m = this.sec(pfn);
    m.version = ++this.clock;
    m.order[pfn & SECTION_MASK] = o;
  }
  /** page_zonenum(): the zone index, ZONE_NONE when poisoned or without memmap. */
  zone(pfn: number): number {
    const m = this.sections[pfn >>> PFN_SECTION_SHIFT];
    return m === undefined ? ZONE_NONE : m.zone[pfn & SECTION_MASK];
  }
  setZone(pfn: number, z: number): void {
    const m = this.sec(pfn);
    m.version = ++this.clock;
    m.zone[pfn & SECTION_MASK] = z;
    if (m.zoneAll !== z) m.zoneAll = ZONE_UNKNOWN;
  }

  /** get_pageblock_migratetype() */
  pageblockMigratetype(pfn: number): number {
    return this.sec(pfn).pageblockMt[(pfn & SECTION_MASK) >>> PAGEBLOCK_ORDER];
  }
  /** set_pageblock_migratetype() */
  setPageblockMigratetype(pfn: number, mt: number): void {
    const m = this.sec(pfn);
    m.version = ++this.clock;
    m.pageblockMt[(pfn & SECTION_MASK) >>> PAGEBLOCK_ORDER] = mt;
  }

  // --- ranges (may cross sections; every section must have a memmap) ---

  /**
   * Calls visit(section, offset, count) for the part of [pfn, pfn + nrPages)
   * in each section, in order; stops early when visit returns false.
   */
  private eachPart(
    pfn: number,
    nrPages: number,
    visit: (m: SectionMap, off: number, n: number) => boolean | void,
  ): void {
    let p = pfn;
    const end = pfn + nrPages;
    while (p < end) {
      const m = this.sec(p);
      const off = p & SECTION_MASK;
      const n = Math.min(end - p, PAGES_PER_SECTION - off);
      if (visit(m, off, n) === false) return;
      p += n;
    }
  }

  private fill(pfn: number, nrPages: number, pick: (m: SectionMap) => Uint8Array, v: number): void {
    this.eachPart(pfn, nrPages, (m, off, n) => {
      m.version = ++this.clock;
      pick(m).fill(v, off, off + n);
    });
  }
  fillState(pfn: number, nrPages: number, s: number): void {
    this.eachPart(pfn, nrPages, (m, off, n) => {
      const c = m.stateCount;
      m.version = ++this.clock;
      if (n === PAGES_PER_SECTION) c.fill(0);
      else for (let i = off; i < off + n; i++) c[m.state[i]]--;
      c[s] += n;
      m.state.fill(s, off, off + n);
    });
  }
  /**
   * fillState() of a block known to be in `headState` at pfn and `tailState`
   * after it, within one section (a buddy or an allocated block): the counts
   * are adjusted without reading every page.
   */
  fillStateBlock(pfn: number, nrPages: number, s: number, headState: number, tailState: number): void {
    const m = this.sec(pfn);
    const off = pfn & SECTION_MASK;
    if (off + nrPages > PAGES_PER_SECTION) throw new RangeError("fillStateBlock: block crosses a section");
    const c = m.stateCount;
    m.version = ++this.clock;
    c[headState]--;
    c[tailState] -= nrPages - 1;
    c[s] += nrPages;
    m.state.fill(s, off, off + nrPages);
  }

  fillOrder(pfn: number, nrPages: number, o: number): void {
    this.fill(pfn, nrPages, (m) => m.order, o);
  }
  fillZone(pfn: number, nrPages: number, z: number): void {
    this.fill(pfn, nrPages, (m) => m.zone, z);
    for (let nr = pfn >>> PFN_SECTION_SHIFT; nr <= (pfn + nrPages - 1) >>> PFN_SECTION_SHIFT; nr++) {
      const m = this.sections[nr]!;
      const whole = nr * PAGES_PER_SECTION >= pfn && (nr + 1) * PAGES_PER_SECTION <= pfn + nrPages;
      if (whole) m.zoneAll = z;
      else if (m.zoneAll !== z) m.zoneAll = ZONE_UNKNOWN;
    }
  }

  /**
   * The number of pages of [pfn, pfn + nrPages) in any state of `states`, when
   * the range lies in one section with a memmap; whole-section ranges are
   * answered from the section's counts, others by a scan.
   */
  countInSection(pfn: number, nrPages: number, states: readonly number[]): number {
    const m = this.sec(pfn);
    const off = pfn & SECTION_MASK;
    if (off + nrPages > PAGES_PER_SECTION) throw new RangeError("countInSection: range crosses a section");
    let total = 0;
    for (const s of states) total += m.stateCount[s];
    if (total === 0 || nrPages === PAGES_PER_SECTION) return total;
    let n = 0;
    const st = m.state;
    for (let i = off; i < off + nrPages; i++) if (states.includes(st[i])) n++;
    return n;
  }

  /** Every page of [pfn, pfn + nrPages) (one or more sections with a memmap) is in state s. */
  rangeAllState(pfn: number, nrPages: number, s: number): boolean {
    let all = true;
    this.eachPart(pfn, nrPages, (m, off, n) => {
      if (m.stateCount[s] === PAGES_PER_SECTION) return true;
      const st = m.state;
      for (let i = off; i < off + n; i++) if (st[i] !== s) return (all = false);
      return true;
    });
    return all;
  }

  /**
   * A number that changes whenever anything of the section's memmap is
   * written (or touch()ed); -1 without a memmap. Incremental invariant checks
   * reuse what they found in a section whose version did not change.
   */
  sectionVersion(sectionNr: number): number {
    return this.sections[sectionNr]?.version ?? -1;
  }

  /** Mark the section of pfn changed without writing it (state kept elsewhere: free-list membership). */
  touch(pfn: number): void {
    this.sec(pfn).version = ++this.clock;
  }

  /** The number of the section's pages in state s (0 without a memmap). */
  sectionStateCount(sectionNr: number, s: number): number {
    const m = this.sections[sectionNr];
    return m === undefined ? 0 : m.stateCount[s];
  }

  /**
   * The zone of every page of the section when they share one (ZONE_NONE when
   * all are poisoned), ZONE_MIXED otherwise or without a memmap.
   */
  zoneUniform(sectionNr: number): number {
    const m = this.sections[sectionNr];
    if (m === undefined) return ZONE_MIXED;
    if (m.zoneAll === ZONE_UNKNOWN) {
      const z = m.zone;
      const z0 = z[0];
      let all = z0;
      for (let i = 1; i < PAGES_PER_SECTION; i++)
        if (z[i] !== z0) {
          all = ZONE_MIXED;
          break;
        }
      m.zoneAll = all;
    }
    return m.zoneAll;
  }

  /** Count the pages of [pfn, pfn+nrPages) per state into out[state]. */
  countStates(pfn: number, nrPages: number, out: Float64Array): void {
    this.eachPart(pfn, nrPages, (m, off, n) => {
      if (n === PAGES_PER_SECTION) for (let s = 0; s < NR_PAGE_STATES; s++) out[s] += m.stateCount[s];
      else {
        const st = m.state;
        for (let i = off; i < off + n; i++) out[st[i]]++;
      }
    });
  }

  /**
   * Direct access to one section's arrays, for scans that walk every page
   * (invariant checks). Undefined when the section has no memmap.
   */
  sectionArrays(sectionNr: number): Readonly<SectionMap> | undefined {
    return this.sections[sectionNr];
  }
}

/**
 * A stand-alone section table for running the page allocator without sparse
 * (unit tests, tools): sections become valid when their memmap is activated
 * through it and online when marked so.
 */
export class MemmapSections implements SectionQuery {
  private readonly online = new Set<number>();
  constructor(readonly memmap: Memmap) {}

  /** sparse_add_section() + online_mem_sections() for [startPfn, endPfn), section-aligned outward. */
  addSections(startPfn: number, endPfn: number, online: boolean): void {
    for (let nr = startPfn >>> PFN_SECTION_SHIFT; nr <= (endPfn - 1) >>> PFN_SECTION_SHIFT; nr++) {
      if (!this.memmap.isSectionActive(nr)) this.memmap.activateSection(nr);
      if (online) this.online.add(nr);
    }
  }
  /** online_mem_sections() */
  onlineMemSections(startPfn: number, endPfn: number): void {
    for (let nr = startPfn >>> PFN_SECTION_SHIFT; nr <= (endPfn - 1) >>> PFN_SECTION_SHIFT; nr++)
      if (this.memmap.isSectionActive(nr)) this.online.add(nr);
  }
  /** offline_mem_sections() */
  offlineMemSections(startPfn: number, endPfn: number): void {
    for (let nr = startPfn >>> PFN_SECTION_SHIFT; nr <= (endPfn - 1) >>> PFN_SECTION_SHIFT; nr++)
      this.online.delete(nr);
  }
  /** sparse_remove_section() */
  removeSections(startPfn: number, endPfn: number): void {
    for (let nr = startPfn >>> PFN_SECTION_SHIFT; nr <= (endPfn - 1) >>> PFN_SECTION_SHIFT; nr++) {
      this.online.delete(nr);
      if (this.memmap.isSectionActive(nr)) this.memmap.deactivateSection(nr);
    }
  }
  pfnValid(pfn: number): boolean {
    return this.memmap.hasPage(pfn);
  }
  pfnSectionValid(pfn: number): boolean {
    return this.memmap.hasPage(pfn);
  }
  sectionFullyValid(nr: number): boolean {
    return this.memmap.isSectionActive(nr);
  }
  onlineSectionNr(nr: number): boolean {
    return this.online.has(nr);
  }
}
