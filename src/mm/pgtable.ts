// The kernel's own page tables (init_mm, swapper_pg_dir / init_top_pgt) as the
// model keeps them: four real levels with 512 entries each (PGD 39, PUD 30,
// PMD 21, PTE 12 bits of shift; the P4D level of x86_64 and arm64 4-level
// paging is folded into the PGD, include/asm-generic/pgtable-nop4d.h). Every
// table below the root is a real page taken from the model's memory through
// the PageAllocator (purpose "pgtable", order 0) and given back when freed.
//
// Storage: one growable Float64Array pool of 512-entry slots indexed by table
// id, with per-table level, PFN and count of used entries in typed arrays and a
// free list of slot ids. Entries are reached only through the small functions
// below (entryIsNone(), mkLeaf(), ...), so the representation can change later
// (for instance a PTE table mapping 512 contiguous pages kept as one base PFN).
//
// Virtual addresses: the pool works on "va48" numbers, the low 48 bits of a
// virtual address (exact in a double). The table knows which va48 values are
// the kernel half: x86_64 sign-extends bit 47 (canonical addresses), arm64's
// TTBR1 table covers 0xffff000000000000.. (bits 63:48 set, bit 47 either).
// On either, va48 order is address order; toVa48() and KernelPageTable.vaOf()
// convert at the edges.

import { ENOMEM, EEXIST, EINVAL } from "../errno.js";
import type { PageAllocator } from "./gfp.js";
import type { Work, WorkKey } from "../kernel/work.js";

/** Table levels of the model (P4D folded). */
export const LEVEL_PGD = 0;
export const LEVEL_PUD = 1;
export const LEVEL_PMD = 2;
export const LEVEL_PTE = 3;
export type PtLevel = 0 | 1 | 2 | 3;

export const PTRS_PER_TABLE = 512;
/** PGDIR_SHIFT, PUD_SHIFT, PMD_SHIFT, PAGE_SHIFT for 4K pages and 4 levels. */
export const LEVEL_SHIFT: readonly number[] = [39, 30, 21, 12];
/** Bytes one entry of a table of that level covers. */
export const LEVEL_SIZE: readonly number[] = LEVEL_SHIFT.map((s) => 2 ** s);
/** Pages one entry of a table of that level covers. */
export const LEVEL_PAGES: readonly number[] = LEVEL_SHIFT.map((s) => 2 ** (s - 12));
/** Names of a leaf found in a table of that level (ptdump's level names). */
export const LEAF_LEVEL_NAME: readonly ["pgd", "pud", "pmd", "pte"] = ["pgd", "pud", "pmd", "pte"];

export const VA48_SPAN = 2 ** 48;
const VA48_MASK = (1n << 48n) - 1n;
const VA_UPPER_BITS = 0xffff000000000000n;

/** Low 48 bits of a canonical virtual address. */
export function toVa48(va: bigint): number {
  return Number(va & VA48_MASK);
}
/**
 * The 64-bit virtual address of a va48: bits 63:48 set from `upperFrom` on
 * (2^47: x86_64 canonical sign extension; 0: arm64 TTBR1, all kernel half).
 */
export function fromVa48(va48: number, upperFrom = 2 ** 47): bigint {
  const v = BigInt(va48);
  return va48 >= upperFrom ? v | VA_UPPER_BITS : v;
}

/** Index of va48 in a table of `level`. */
export function ptIndex(va48: number, level: number): number {
  return Math.floor(va48 / LEVEL_SIZE[level]) % PTRS_PER_TABLE;
}
/** pXd_addr_end(): the next `level`-entry boundary above addr, capped at end. */
export function levelAddrEnd(addr: number, end: number, level: number): number {
  const size = LEVEL_SIZE[level];
  const boundary = (Math.floor(addr / size) + 1) * size;
  return boundary < end ? boundary : end;
}

// ---- Entry encoding (keep every use behind these functions) ----
// 0: none. Negative: next-level table, -(id + 1). Positive: leaf,
// pfn * 4 + 1 (+ 2 when the contiguous hint, arm64 PTE_CONT, is set).

/** Leaf flag: arm64 contiguous bit (PTE_CONT) on a block or page entry. */
export const LEAF_CONT = 2;

export const entryIsNone = (e: number): boolean => e === 0;
export const entryIsTable = (e: number): boolean => e < 0;
export const entryIsLeaf = (e: number): boolean => e > 0;
export const entryTable = (e: number): number => -e - 1;
export const entryLeafPfn = (e: number): number => Math.floor(e / 4);
export const entryLeafFlags = (e: number): number => (e % 4) & ~1;
const mkTable = (id: number): number => -(id + 1);
const mkLeaf = (pfn: number, flags: number): number => pfn * 4 + 1 + (flags & LEAF_CONT);

const WRITTEN: readonly WorkKey[] = ["pgdWritten", "pudWritten", "pmdWritten", "pteWritten"];
const CLEARED: readonly WorkKey[] = ["pgdCleared", "pudCleared", "pmdCleared", "pteCleared"];

/** What lookup() found for one virtual address. */
export interface PtLookup {
  /** level of the table holding the leaf */
  level: PtLevel;
  /** va48 where the leaf starts */
  leafVa48: number;
  /** first PFN the leaf maps */
  leafPfn: number;
  /** PFN the looked-up address maps to */
  pfn: number;
  flags: number;
}

export type LeafVisitor = (va48: number, level: PtLevel, pfn: number, flags: number) => void;
/** `count` leaves of `level` from va48 mapping consecutive PFNs from pfn. */
export type LeafRunVisitor = (
  va48: number,
  level: PtLevel,
  pfn: number,
  flags: number,
  count: number,
) => void;

export interface KernelPageTableOptions {
  /**
   * Allocate the root from the allocator too. Default false: the root is the
   * static swapper_pg_dir / init_top_pgt of the kernel image (counted in
   * tablePages(), not in tablePfns()).
   */
  allocRoot?: boolean;
  /**
   * First va48 of the kernel (upper) half: 2^47 for x86_64 (default), 0 for
   * arm64, whose swapper_pg_dir maps only TTBR1 addresses.
   */
  upperHalfFrom48?: number;
  /** The 64-bit address of a va48 when the table's layout is not a sign extension (arm64 52-bit). */
  vaOf?: (va48: number) => bigint;
}

export class KernelPageTable {
  // Per table id: metadata (typed arrays, grown together).
  private capacity = 0;
  private level = new Uint8Array(0);
  private pfn = new Float64Array(0);
  private used = new Uint16Array(0);
  private live = new Uint8Array(0);
  private freeIds = new Int32Array(0);
  private nFree = 0;
  private nLive = 0;
  // The compact form of a table (slot -1): entries [runLo, runHi) are leaves
  // mapping runBase + i * LEVEL_PAGES[level] with runFlags, the others none.
  // Tables the kernel fills with one physically contiguous run (the whole
  // linear map of hot-added memory) stay compact; any other write turns the
  // table dense: a 512-entry slot of the `entries` pool.
  private slot = new Int32Array(0);
  private runBase = new Float64Array(0);
  private runFlags = new Uint8Array(0);
  private runLo = new Uint16Array(0);
  private runHi = new Uint16Array(0);
  /** written since the last checkInvariants() (incremental checks skip clean PTE tables) */
  private dirty = new Uint8Array(0);
  private slotCapacity = 0;
  private entries = new Float64Array(0);
  private freeSlots = new Int32Array(0);
  private nFreeSlots = 0;
  /** Table id of the root (PGD). */
  readonly root: number;
  /** See KernelPageTableOptions.upperHalfFrom48. */
  readonly upperHalfFrom48: number;

  constructor(
    private readonly alloc: PageAllocator,
    private readonly work: Work,
    opts: KernelPageTableOptions = {},
  ) {
    this.upperHalfFrom48 = opts.upperHalfFrom48 ?? 2 ** 47;
    if (opts.vaOf) this.vaOf = opts.vaOf;
    this.grow(64);
    const r = opts.allocRoot ? this.allocTable(LEVEL_PGD) : this.takeSlot(LEVEL_PGD, -1);
    if (r < 0) throw new Error("cannot allocate the root page table");
    this.root = r;
  }

  /** The 64-bit virtual address of a va48 of this table. */
  vaOf(va48: number): bigint {
    return fromVa48(va48, this.upperHalfFrom48);
  }

  // ---- pool ----

  private grow(min: number): void {
    let cap = Math.max(this.capacity * 2, 64);
    while (cap < min) cap *= 2;
    const widen = <T extends Uint8Array | Uint16Array | Int32Array | Float64Array>(
      a: T,
      make: (n: number) => T,
    ): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.level = widen(this.level, (n) => new Uint8Array(n));
    this.pfn = widen(this.pfn, (n) => new Float64Array(n));
    this.used = widen(this.used, (n) => new Uint16Array(n));
    this.live = widen(this.live, (n) => new Uint8Array(n));
    this.slot = widen(this.slot, (n) => new Int32Array(n));
    this.runBase = widen(this.runBase, (n) => new Float64Array(n));
    this.runFlags = widen(this.runFlags, (n) => new Uint8Array(n));
    this.runLo = widen(this.runLo, (n) => new Uint16Array(n));
    this.runHi = widen(this.runHi, (n) => new Uint16Array(n));
    this.dirty = widen(this.dirty, (n) => new Uint8Array(n));
    const fr = new Int32Array(cap);
    fr.set(this.freeIds.subarray(0, this.nFree));
    for (let id = cap - 1; id >= this.capacity; id--) fr[this.nFree++] = id;
    this.freeIds = fr;
    this.capacity = cap;
  }

  private takeSlot(level: PtLevel, pfn: number): number {
    if (this.nFree === 0) this.grow(this.capacity + 1);
    const id = this.freeIds[--this.nFree];
    this.level[id] = level;
    this.pfn[id] = pfn;
    this.used[id] = 0;
    this.live[id] = 1;
    this.slot[id] = -1;
    this.runLo[id] = 0;
    this.runHi[id] = 0;
    this.dirty[id] = 1;
    this.nLive++;
    return id;
  }

  /** Give the table a dense 512-entry slot holding its current entries. */
  private densify(id: number): void {
    if (this.nFreeSlots === 0) {
      const cap = Math.max(this.slotCapacity * 2, 64);
      const e = new Float64Array(cap * PTRS_PER_TABLE);
      e.set(this.entries);
      const fr = new Int32Array(cap);
      fr.set(this.freeSlots.subarray(0, this.nFreeSlots));
      for (let sl = cap - 1; sl >= this.slotCapacity; sl--) fr[this.nFreeSlots++] = sl;
      this.entries = e;
      this.freeSlots = fr;
      this.slotCapacity = cap;
    }
    const sl = this.freeSlots[--this.nFreeSlots];
    const base = sl * PTRS_PER_TABLE;
    this.entries.fill(0, base, base + PTRS_PER_TABLE);
    const step = LEVEL_PAGES[this.level[id]];
    for (let i = this.runLo[id]; i < this.runHi[id]; i++)
      this.entries[base + i] = mkLeaf(this.runBase[id] + i * step, this.runFlags[id]);
    this.slot[id] = sl;
  }

  private dropSlot(id: number): void {
    const sl = this.slot[id];
    if (sl >= 0) {
      this.freeSlots[this.nFreeSlots++] = sl;
      this.slot[id] = -1;
    }
    this.runLo[id] = 0;
    this.runHi[id] = 0;
  }

  // ---- table pages ----

  /** Fault injection (src/kernel/fault_inject.ts, site "pgtable"); set by the kernel. */
  faults: { shouldFail(site: string): boolean } | undefined;

  /** A new, empty table of `level` on a page from the allocator ("pgtable", order 0): id or -ENOMEM. */
  allocTable(level: PtLevel): number {
    if (this.faults?.shouldFail("pgtable")) return -ENOMEM;
    const pfn = this.alloc.allocPages(0, "pgtable");
    if (pfn < 0) return -ENOMEM;
    this.work.add("tablePagesAllocated");
    return this.takeSlot(level, pfn);
  }

  /** Give an empty, unlinked table's page back to the allocator. */
  freeTable(id: number): void {
    if (!this.live[id] || id === this.root) throw new Error(`freeTable: bad table ${id}`);
    if (this.used[id] !== 0) throw new Error(`freeTable: table ${id} not empty`);
    this.dropSlot(id);
    this.live[id] = 0;
    this.nLive--;
    this.freeIds[this.nFree++] = id;
    if (this.pfn[id] >= 0) {
      this.alloc.freePages(this.pfn[id], 0);
      this.work.add("tablePagesFreed");
    }
  }

  tableLevel(id: number): PtLevel {
    return this.level[id] as PtLevel;
  }
  tablePfn(id: number): number {
    return this.pfn[id];
  }
  /** Number of non-empty entries of the table. */
  tableUsed(id: number): number {
    return this.used[id];
  }

  // ---- entries ----

  get(id: number, idx: number): number {
    const sl = this.slot[id];
    if (sl >= 0) return this.entries[sl * PTRS_PER_TABLE + idx];
    if (idx < this.runLo[id] || idx >= this.runHi[id]) return 0;
    return mkLeaf(this.runBase[id] + idx * LEVEL_PAGES[this.level[id]], this.runFlags[id]);
  }

  private put(id: number, idx: number, v: number): void {
    this.dirty[id] = 1;
    if (this.slot[id] < 0 && !this.putCompact(id, idx, v)) this.densify(id);
    const sl = this.slot[id];
    if (sl < 0) return;
    const i = sl * PTRS_PER_TABLE + idx;
    const old = this.entries[i];
    if (old === 0 && v !== 0) this.used[id]++;
    else if (old !== 0 && v === 0) this.used[id]--;
    this.entries[i] = v;
  }

  /** put() on a compact table when the result stays one run; false when it must become dense. */
  private putCompact(id: number, idx: number, v: number): boolean {
    const lo = this.runLo[id];
    const hi = this.runHi[id];
    if (v === 0) {
      if (idx < lo || idx >= hi) return true;
      if (idx === lo) this.runLo[id] = lo + 1;
      else if (idx === hi - 1) this.runHi[id] = hi - 1;
      else return false;
      this.used[id]--;
      if (this.used[id] === 0) this.runLo[id] = this.runHi[id] = 0;
      return true;
    }
    if (v < 0) return false;
    return this.extendRun(id, idx, entryLeafPfn(v), entryLeafFlags(v), 1);
  }

  /** Make [idx, idx + count) leaves from pfn in a compact table when it stays one run. */
  private extendRun(id: number, idx: number, pfn: number, flags: number, count: number): boolean {
    this.dirty[id] = 1;
    const step = LEVEL_PAGES[this.level[id]];
    const base = pfn - idx * step;
    if (this.used[id] === 0) {
      this.runBase[id] = base;
      this.runFlags[id] = flags;
      this.runLo[id] = idx;
      this.runHi[id] = idx + count;
      this.used[id] = count;
      return true;
    }
    const lo = this.runLo[id];
    const hi = this.runHi[id];
    if (base !== this.runBase[id] || flags !== this.runFlags[id] || idx > hi || idx + count < lo)
      return false;
    const nlo = Math.min(lo, idx);
    const nhi = Math.max(hi, idx + count);
    this.runLo[id] = nlo;
    this.runHi[id] = nhi;
    this.used[id] = nhi - nlo;
    return true;
  }

  /** pXd_populate(): point entry idx of table id at table child. */
  setTable(id: number, idx: number, child: number): void {
    this.put(id, idx, mkTable(child));
    this.work.add(WRITTEN[this.level[id]]);
  }

  /** set_pXd() with a leaf; `count` consecutive entries mapping consecutive PFNs. */
  setLeaves(id: number, idx: number, pfn: number, flags: number, count = 1): void {
    const lv = this.level[id];
    const step = LEVEL_PAGES[lv];
    if (!(this.slot[id] < 0 && this.extendRun(id, idx, pfn, flags & LEAF_CONT, count)))
      for (let k = 0; k < count; k++) this.put(id, idx + k, mkLeaf(pfn + k * step, flags));
    this.work.add(WRITTEN[lv], count);
  }

  /** pXd_clear() */
  clear(id: number, idx: number): void {
    if (this.get(id, idx) === 0) return;
    this.put(id, idx, 0);
    this.work.add(CLEARED[this.level[id]]);
  }

  /**
   * pXd_clear() of entries [idx, idx + count): the ones that are not none are
   * cleared and counted, as a loop of clear() would. Returns how many.
   */
  clearRange(id: number, idx: number, count: number): number {
    this.dirty[id] = 1;
    const end = idx + count;
    let n = 0;
    if (this.slot[id] < 0) {
      const lo = this.runLo[id];
      const hi = this.runHi[id];
      const a = Math.max(lo, idx);
      const b = Math.min(hi, end);
      if (a >= b) return 0;
      if (a === lo || b === hi) {
        n = b - a;
        if (a === lo && b === hi) this.runLo[id] = this.runHi[id] = 0;
        else if (a === lo) this.runLo[id] = b;
        else this.runHi[id] = a;
        this.used[id] -= n;
        this.work.add(CLEARED[this.level[id]], n);
        return n;
      }
    }
    for (let i = idx; i < end; i++)
      if (this.get(id, i) !== 0) {
        this.put(id, i, 0);
        n++;
      }
    this.work.add(CLEARED[this.level[id]], n);
    return n;
  }

  /** True when every entry of the table is none. */
  tableEmpty(id: number): boolean {
    return this.used[id] === 0;
  }

  // ---- walking ----

  /**
   * The table of `level` that covers va48, or -1 when a level above is none
   * or a leaf. (pgd_offset_k() ... pmd_offset() without allocation.)
   */
  tableAt(va48: number, level: PtLevel): number {
    let id = this.root;
    for (let lv = LEVEL_PGD; lv < level; lv++) {
      const e = this.get(id, ptIndex(va48, lv));
      if (!entryIsTable(e)) return -1;
      id = entryTable(e);
    }
    return id;
  }

  /**
   * The table of `level` covering va48, allocating the missing tables above
   * it (vmemmap_pXd_populate()-style): id, -ENOMEM, or -EEXIST when a leaf of
   * a higher level is in the way.
   */
  ensureTable(va48: number, level: PtLevel): number {
    let id = this.root;
    for (let lv = LEVEL_PGD; lv < level; lv++) {
      const idx = ptIndex(va48, lv);
      const e = this.get(id, idx);
      if (entryIsLeaf(e)) return -EEXIST;
      if (entryIsNone(e)) {
        const child = this.allocTable((lv + 1) as PtLevel);
        if (child < 0) return child;
        this.setTable(id, idx, child);
        id = child;
      } else id = entryTable(e);
    }
    return id;
  }

  /**
   * Map [va48, va48 + size) to [pa, pa + size) with leaves of `level`
   * (LEVEL_PUD 1 GiB, LEVEL_PMD 2 MiB, LEVEL_PTE 4 KiB), allocating tables as
   * needed. va48, pa and size must be aligned to the leaf size. An existing
   * leaf in a target slot is overwritten; a table there gives -EEXIST.
   * On -ENOMEM / -EEXIST what was mapped so far stays (callers unmap).
   */
  mapRange(va48: number, pa: number, size: number, level: PtLevel, flags = 0): number {
    const leaf = LEVEL_SIZE[level];
    if (level === LEVEL_PGD || va48 % leaf || pa % leaf || size % leaf) return -EINVAL;
    const end = va48 + size;
    let addr = va48;
    let pfn = pa / 4096;
    while (addr < end) {
      const id = this.ensureTable(addr, level);
      if (id < 0) return id;
      const next = levelAddrEnd(addr, end, level - 1);
      const idx = ptIndex(addr, level);
      const n = (next - addr) / leaf;
      for (let k = 0; k < n; k++) if (entryIsTable(this.get(id, idx + k))) return -EEXIST;
      this.setLeaves(id, idx, pfn, flags, n);
      pfn += n * LEVEL_PAGES[level];
      addr = next;
    }
    return 0;
  }

  /** The leaf mapping a virtual address (a 64-bit bigint or a va48 number), if any. */
  lookup(va: bigint | number): PtLookup | undefined {
    const va48 = typeof va === "bigint" ? toVa48(va) : va;
    let id = this.root;
    for (let lv = LEVEL_PGD; lv <= LEVEL_PTE; lv++) {
      const e = this.get(id, ptIndex(va48, lv));
      if (entryIsNone(e)) return undefined;
      if (entryIsLeaf(e)) {
        const size = LEVEL_SIZE[lv];
        const leafVa48 = Math.floor(va48 / size) * size;
        const leafPfn = entryLeafPfn(e);
        return {
          level: lv as PtLevel,
          leafVa48,
          leafPfn,
          pfn: leafPfn + Math.floor((va48 - leafVa48) / 4096),
          flags: entryLeafFlags(e),
        };
      }
      id = entryTable(e);
    }
    return undefined;
  }

  /**
   * Visit, in address order, every leaf that overlaps [start, end) (bigint
   * virtual addresses or va48 numbers; the visitor gets va48). A large leaf
   * that starts below `start` is visited with its own start address.
   */
  forEachLeaf(start: bigint | number, end: bigint | number, visit: LeafVisitor): void {
    const s = typeof start === "bigint" ? toVa48(start) : start;
    const e = typeof end === "bigint" ? (end === 1n << 64n ? VA48_SPAN : toVa48(end)) : end;
    this.leavesIn(this.root, 0, s, e, visit);
  }

  private leavesIn(id: number, base: number, start: number, end: number, visit: LeafVisitor): void {
    this.runsIn(id, base, start, end, (va, lv, pfn, flags, count) => {
      for (let k = 0; k < count; k++) visit(va + k * LEVEL_SIZE[lv], lv, pfn + k * LEVEL_PAGES[lv], flags);
    });
  }

  /**
   * forEachLeaf() by runs: consecutive leaves of one table that map
   * consecutive PFNs with the same flags may come as one call with their
   * number (a compact table's run always does). Same order and coverage.
   */
  forEachLeafRun(start: number, end: number, visit: LeafRunVisitor): void {
    this.runsIn(this.root, 0, start, end, visit);
  }

  private runsIn(id: number, base: number, start: number, end: number, visit: LeafRunVisitor): void {
    const lv = this.level[id] as PtLevel;
    const size = LEVEL_SIZE[lv];
    const first = Math.max(0, Math.floor((start - base) / size));
    const last = Math.min(PTRS_PER_TABLE - 1, Math.ceil((end - base) / size) - 1);
    if (this.used[id] === 0) return;
    if (this.slot[id] < 0) {
      const a = Math.max(first, this.runLo[id]);
      const b = Math.min(last + 1, this.runHi[id]);
      if (a < b) visit(base + a * size, lv, this.runBase[id] + a * LEVEL_PAGES[lv], this.runFlags[id], b - a);
      return;
    }
    for (let i = first; i <= last; i++) {
      const e = this.get(id, i);
      if (e === 0) continue;
      const va = base + i * size;
      if (e > 0) visit(va, lv, entryLeafPfn(e), entryLeafFlags(e), 1);
      else this.runsIn(entryTable(e), va, start, end, visit);
    }
  }

  /**
   * Clear the leaves lying wholly inside [start, end); leaves only partly
   * inside stay. Calls onCleared for each cleared leaf. Returns the number of
   * partly covered leaves that were left in place.
   */
  clearLeaves(start: number, end: number, onCleared?: LeafVisitor): number {
    let partial = 0;
    const hits: number[] = [];
    this.forEachLeaf(start, end, (va, lv, pfn, flags) => {
      if (va >= start && va + LEVEL_SIZE[lv] <= end) {
        hits.push(va, lv);
        onCleared?.(va, lv, pfn, flags);
      } else partial++;
    });
    for (let k = 0; k < hits.length; k += 2) {
      const va = hits[k];
      const lv = hits[k + 1] as PtLevel;
      this.clear(this.tableAt(va, lv), ptIndex(va, lv));
    }
    return partial;
  }

  /**
   * Free the tables (never the root) whose whole span lies inside [start, end)
   * and that are empty, bottom-up so that a parent emptied by freeing its
   * children goes too. Returns the number of table pages freed.
   */
  freeEmptyTables(start: number, end: number): number {
    return this.freeEmptyIn(this.root, 0, start, end);
  }

  private freeEmptyIn(id: number, base: number, start: number, end: number): number {
    const lv = this.level[id];
    const size = LEVEL_SIZE[lv];
    let freed = 0;
    const first = Math.max(0, Math.floor((start - base) / size));
    const last = Math.min(PTRS_PER_TABLE - 1, Math.ceil((end - base) / size) - 1);
    for (let i = first; i <= last; i++) {
      const e = this.get(id, i);
      if (!entryIsTable(e)) continue;
      const child = entryTable(e);
      const va = base + i * size;
      freed += this.freeEmptyIn(child, va, start, end);
      if (va >= start && va + size <= end && this.used[child] === 0) {
        this.clear(id, i);
        this.freeTable(child);
        freed++;
      }
    }
    return freed;
  }

  // ---- accounting ----

  /**
   * Page-table pages reachable from the root, the root included. Kept as a
   * count of live tables; checkInvariants() proves every live table is reachable.
   */
  tablePages(): number {
    return this.nLive;
  }

  /** The number of table pages taken from the allocator (tablePfns().length). */
  allocatedTablePages(): number {
    return this.nLive - (this.pfn[this.root] >= 0 ? 0 : 1);
  }

  /** PFNs of all table pages taken from the allocator (the static root excluded). */
  tablePfns(): number[] {
    const out: number[] = [];
    for (let id = 0; id < this.capacity; id++) if (this.live[id] && this.pfn[id] >= 0) out.push(this.pfn[id]);
    return out;
  }

  /**
   * Structural checks; each problem is one message, none means consistent.
   * `incremental` leaves out the O(tables log tables) search for a page that
   * holds two tables (the allocator's own checks see a page handed out twice).
   */
  checkInvariants(incremental = false): string[] {
    const errs: string[] = [];
    const seen = new Uint8Array(this.capacity);
    let reached = 0;
    const pfns: number[] = [];
    const visit = (id: number, lv: number, base: number): void => {
      if (!this.live[id]) {
        errs.push(`table ${id} at va48 0x${base.toString(16)} is reachable but free`);
        return;
      }
      if (seen[id]) {
        errs.push(`table ${id} reachable twice`);
        return;
      }
      seen[id] = 1;
      reached++;
      if (this.level[id] !== lv) errs.push(`table ${id} has level ${this.level[id]}, linked at level ${lv}`);
      // incremental: a PTE table not written since the last check was found consistent then
      if (incremental && lv === LEVEL_PTE && !this.dirty[id]) return;
      this.dirty[id] = 0;
      if (this.pfn[id] >= 0) pfns.push(this.pfn[id]);
      let n = 0;
      if (this.slot[id] < 0) {
        // compact: one run of leaves
        const lo = this.runLo[id];
        const hi = this.runHi[id];
        if (hi > lo && lv === LEVEL_PGD) errs.push(`PGD entries ${lo}..${hi - 1} are leaves`);
        if (hi > lo && this.runBase[id] % LEVEL_PAGES[lv] !== 0)
          errs.push(`compact table ${id} maps unaligned pfn ${this.runBase[id]}`);
        if (lo > hi || hi > PTRS_PER_TABLE) errs.push(`compact table ${id} has run ${lo}..${hi}`);
        n = hi - lo;
      } else
        for (let i = 0; i < PTRS_PER_TABLE; i++) {
          const e = this.get(id, i);
          if (e === 0) continue;
          n++;
          const va = base + i * LEVEL_SIZE[lv];
          if (e < 0) {
            if (lv === LEVEL_PTE) errs.push(`PTE table ${id} entry ${i} points to a table`);
            else visit(entryTable(e), lv + 1, va);
          } else {
            if (lv === LEVEL_PGD) errs.push(`PGD entry ${i} is a leaf`);
            const pfn = entryLeafPfn(e);
            if (pfn % LEVEL_PAGES[lv] !== 0)
              errs.push(`leaf at va48 0x${va.toString(16)} maps unaligned pfn ${pfn}`);
          }
        }
      if (n !== this.used[id]) errs.push(`table ${id} counts ${this.used[id]} used entries, has ${n}`);
    };
    visit(this.root, LEVEL_PGD, 0);
    const sorted = incremental ? new Float64Array(0) : Float64Array.from(pfns).sort();
    for (let i = 1; i < sorted.length; i++)
      if (sorted[i] === sorted[i - 1]) errs.push(`pfn ${sorted[i]} holds two tables`);
    if (reached !== this.nLive) errs.push(`${this.nLive} live tables but ${reached} reachable (leak)`);
    return errs;
  }
}

// ---- vmemmap backing shared by the architectures ----
// These are generic kernel code (mm/sparse-vmemmap.c, mm/memremap.c); they sit
// here because both arch vmemmap_populate() implementations need them and they
// only touch the page table and the allocator.

/** The fields of struct vmem_altmap these helpers use (src/arch/arch.ts: VmemAltmap). */
export interface AltmapLike {
  basePfn: number;
  reserve: number;
  free: number;
  alloc: number;
  align: number;
}

/**
 * mm/sparse-vmemmap.c: altmap_alloc_block_buf(): nrPages pages carved from the
 * altmap at base_pfn + reserve + alloc + align, aligned to the lowest set bit
 * of nrPages; first PFN or -ENOMEM when the altmap has no room.
 */
export function altmapAllocBlockBuf(altmap: AltmapLike, nrPages: number): number {
  const pfn = altmap.basePfn + altmap.reserve + altmap.alloc + altmap.align;
  const allocated = altmap.alloc + altmap.align;
  const nrFree = altmap.free > allocated ? altmap.free - allocated : 0;
  const alignTo = nrPages & -nrPages; // 1 << find_first_bit(&nr_pfns)
  const nrAlign = Math.ceil(pfn / alignTo) * alignTo - pfn;
  if (nrPages + nrAlign > nrFree) return -ENOMEM;
  altmap.alloc += nrPages;
  altmap.align += nrAlign;
  return pfn + nrAlign;
}

/** mm/memremap.c: vmem_altmap_free() */
export function vmemAltmapFree(altmap: AltmapLike, nrPages: number): void {
  altmap.alloc -= nrPages;
}

/**
 * mm/sparse-vmemmap.c: vmemmap_alloc_block_buf(): 2^order pages of memmap
 * backing, from the altmap when given, else from the allocator ("vmemmap").
 * First PFN or -ENOMEM. (sparse_buffer_alloc(), the boot-time memblock
 * buffer, is not modelled: boot allocations also come from the allocator.)
 */
export function vmemmapAllocBlockBuf(
  alloc: PageAllocator,
  work: Work,
  order: number,
  altmap: AltmapLike | undefined,
): number {
  const pfn = altmap ? altmapAllocBlockBuf(altmap, 1 << order) : alloc.allocPages(order, "vmemmap");
  if (pfn >= 0) work.add("vmemmapPagesAllocated", 1 << order);
  return pfn < 0 ? -ENOMEM : pfn;
}

/**
 * mm/sparse-vmemmap.c: vmemmap_populate_basepages(): map [start, end) (va48,
 * page aligned) with 4 KiB PTEs, allocating missing tables
 * (vmemmap_{p4d,pud,pmd}_populate(), purpose "pgtable") and a backing page per
 * empty PTE (vmemmap_pte_populate()). 0 or -ENOMEM; what was mapped stays.
 */
export function vmemmapPopulateBasepages(
  pt: KernelPageTable,
  alloc: PageAllocator,
  work: Work,
  start: number,
  end: number,
  altmap: AltmapLike | undefined,
): number {
  for (let addr = start; addr < end; addr += 4096) {
    const pte = pt.ensureTable(addr, LEVEL_PTE);
    if (pte < 0) return -ENOMEM;
    const idx = ptIndex(addr, LEVEL_PTE);
    if (!entryIsNone(pt.get(pte, idx))) continue;
    const pfn = vmemmapAllocBlockBuf(alloc, work, 0, altmap);
    if (pfn < 0) return -ENOMEM;
    pt.setLeaves(pte, idx, pfn, 0);
  }
  return 0;
}
