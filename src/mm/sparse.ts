// mm/sparse.c: the SPARSEMEM section table (struct mem_section): which 128 MiB
// sections are present, have a memmap, are online, came from boot; the 2 MiB
// subsection map of each; and the creation and teardown of the memmap through the
// vmemmap (sparse_add_section(), sparse_remove_section()).
//
// In Linux: struct mem_section with section_mem_map flag bits and usage->subsection_map.
// In memhp: one byte of flags and a 64-bit subsection map (two Uint32 words) per
// section, in typed arrays indexed by section number.

import type { ArchMm, VmemAltmap } from "../arch/arch.js";
import { EEXIST, EINVAL, ENOMEM } from "../errno.js";
import type { FaultSite } from "../kernel/fault_inject.js";
import type { Work } from "../kernel/work.js";
import { LEVEL_SIZE, toVa48 } from "./pgtable.js";
import {
  PAGES_PER_SECTION,
  PAGES_PER_SUBSECTION,
  PFN_SUBSECTION_SHIFT,
  SUBSECTIONS_PER_SECTION,
  pfnToSectionNr,
  sectionNrToPfn,
} from "./constants.js";

/** include/linux/mmzone.h: section_mem_map flag bits. */
export const SECTION_MARKED_PRESENT = 1 << 0;
export const SECTION_HAS_MEM_MAP = 1 << 1;
export const SECTION_IS_ONLINE = 1 << 2;
export const SECTION_IS_EARLY = 1 << 3;

/** What sparse needs from the owner of the memmap's contents (struct page state). */
export interface MemmapStore {
  /** The section's struct pages now exist (vmemmap populated). */
  activateSection(sectionNr: number): void;
  /** The section's struct pages are gone. */
  deactivateSection(sectionNr: number): void;
}

export class Sparse {
  readonly nrSections: number;
  private readonly flags: Uint8Array;
  /** usage->subsection_map: bit i of section s is word [2s + (i >> 5)], bit (i & 31). */
  private readonly subsectionMap: Uint32Array;
  /** ms->usage allocated */
  private readonly hasUsage: Uint8Array;
  private readonly nid: Int16Array;
  /** The arch hooks (vmemmap_populate()/vmemmap_free()); attached once the page tables exist. */
  private arch!: ArchMm;

  constructor(
    private readonly memmap: MemmapStore,
    private readonly work: Work,
    maxPhysAddr: number,
    /** Fault sites "section_usage" and "memmap" (src/kernel/fault_inject.ts). */
    private readonly faults?: FaultSite,
  ) {
    this.nrSections = Math.ceil(maxPhysAddr / (PAGES_PER_SECTION * 4096));
    this.flags = new Uint8Array(this.nrSections);
    this.subsectionMap = new Uint32Array(this.nrSections * 2);
    this.hasUsage = new Uint8Array(this.nrSections);
    this.nid = new Int16Array(this.nrSections).fill(-1);
    this.checkedFlags = new Int16Array(this.nrSections).fill(-1);
    this.checkedSubs = new Uint32Array(this.nrSections * 2);
  }

  /** What the last checkInvariants() saw of each section (-1: not seen, or inconsistent). */
  private readonly checkedFlags: Int16Array;
  private readonly checkedSubs: Uint32Array;

  // --- predicates (include/linux/mmzone.h) ---

  presentSectionNr(nr: number): boolean {
    return nr < this.nrSections && (this.flags[nr] & SECTION_MARKED_PRESENT) !== 0;
  }
  validSectionNr(nr: number): boolean {
    return nr < this.nrSections && (this.flags[nr] & SECTION_HAS_MEM_MAP) !== 0;
  }
  onlineSectionNr(nr: number): boolean {
    return nr < this.nrSections && (this.flags[nr] & SECTION_IS_ONLINE) !== 0;
  }
  earlySectionNr(nr: number): boolean {
    return nr < this.nrSections && (this.flags[nr] & SECTION_IS_EARLY) !== 0;
  }
  sectionNid(nr: number): number {
    return this.nid[nr];
  }
  /** The raw flag byte, for the debug views and invariants. */
  sectionFlags(nr: number): number {
    return this.flags[nr];
  }

  /**
   * include/linux/mmzone.h: pfn_section_valid() — the subsection of pfn is
   * populated. A boot section's map has the subsections of its memblock
   * memory only (subsection_map_init()): on arm64, section 0's memory starts
   * at 64 MiB, so PFN 0 is not (oracle arm64-hwpoison: memory_failure(0) is
   * "memory outside kernel control").
   */
  pfnSectionValid(pfn: number): boolean {
    const nr = pfnToSectionNr(pfn);
    const idx = (pfn % PAGES_PER_SECTION) >> PFN_SUBSECTION_SHIFT;
    return this.testSubsection(nr, idx);
  }

  /**
   * include/linux/mmzone.h: pfn_valid() — pfn has a struct page: every PFN of
   * a boot section (its whole memmap was allocated), a hot-added section's
   * populated subsections.
   */
  pfnValid(pfn: number): boolean {
    const nr = pfnToSectionNr(pfn);
    return this.validSectionNr(nr) && (this.earlySectionNr(nr) || this.pfnSectionValid(pfn));
  }

  /** memhp: pfn_valid() holds for every PFN of the section. */
  sectionFullyValid(nr: number): boolean {
    if (!this.validSectionNr(nr)) return false;
    return (
      this.earlySectionNr(nr) ||
      (this.subsectionMap[2 * nr] === 0xffffffff && this.subsectionMap[2 * nr + 1] === 0xffffffff)
    );
  }

  /** The number of populated subsections of a section. */
  subsectionCount(nr: number): number {
    return popcount(this.subsectionMap[2 * nr]) + popcount(this.subsectionMap[2 * nr + 1]);
  }

  testSubsection(nr: number, idx: number): boolean {
    return (this.subsectionMap[2 * nr + (idx >> 5)] & (1 << (idx & 31))) !== 0;
  }

  // --- boot (mm/sparse.c: memory_present(), subsection_map_init(), sparse_init()) ---

  /** memory_present() + subsection_map_init() for one boot RAM range [startPfn, endPfn). */
  memoryPresent(nid: number, startPfn: number, endPfn: number): void {
    for (let nr = pfnToSectionNr(startPfn); nr <= pfnToSectionNr(endPfn - 1); nr++) {
      this.nid[nr] = nid;
      if (!(this.flags[nr] & SECTION_MARKED_PRESENT))
        this.flags[nr] = SECTION_MARKED_PRESENT | SECTION_IS_ONLINE;
      this.hasUsage[nr] = 1;
    }
    this.setSubsectionBits(startPfn, endPfn - startPfn, true);
  }

  attachArch(arch: ArchMm): void {
    this.arch = arch;
  }

  /**
   * sparse_init(), first half: every present section gets its memmap and is
   * marked early. The kernel allocates the memmap from memblock before the page
   * allocator exists; the model creates the struct pages here and maps them in
   * the vmemmap with populateBootVmemmap() once the allocator and the page
   * tables are up (the order differs, the result is the same).
   */
  sparseInit(): void {
    for (let nr = 0; nr < this.nrSections; nr++) {
      if (!this.presentSectionNr(nr)) continue;
      this.memmap.activateSection(nr);
      this.flags[nr] |= SECTION_HAS_MEM_MAP | SECTION_IS_EARLY;
    }
  }

  /**
   * sparse_init(), second half: __populate_section_memmap() of every boot section
   * (the vmemmap of boot sections always covers all PAGES_PER_SECTION struct pages).
   */
  populateBootVmemmap(): number {
    for (let nr = 0; nr < this.nrSections; nr++) {
      if (!this.earlySectionNr(nr)) continue;
      const err = this.arch.vmemmapPopulate(sectionNrToPfn(nr), PAGES_PER_SECTION, this.nid[nr], undefined);
      if (err) return err;
    }
    return 0;
  }

  // --- hotplug ---

  // mm/sparse.c: fill_subsection_map()
  private fillSubsectionMap(pfn: number, nrPages: number): number {
    const nr = pfnToSectionNr(pfn);
    const [lo, hi] = subsectionMask(pfn, nrPages);
    if (lo === 0 && hi === 0) return -EINVAL;
    if ((this.subsectionMap[2 * nr] & lo) !== 0 || (this.subsectionMap[2 * nr + 1] & hi) !== 0)
      return -EEXIST;
    this.subsectionMap[2 * nr] |= lo;
    this.subsectionMap[2 * nr + 1] |= hi;
    return 0;
  }

  // mm/sparse.c: clear_subsection_map()
  private clearSubsectionMap(pfn: number, nrPages: number): number {
    const nr = pfnToSectionNr(pfn);
    const [lo, hi] = subsectionMask(pfn, nrPages);
    if (!this.hasUsage[nr]) return -EINVAL;
    const curLo = this.subsectionMap[2 * nr];
    const curHi = this.subsectionMap[2 * nr + 1];
    if ((curLo & lo) >>> 0 !== lo >>> 0 || (curHi & hi) >>> 0 !== hi >>> 0) return -EINVAL;
    this.subsectionMap[2 * nr] = curLo ^ lo;
    this.subsectionMap[2 * nr + 1] = curHi ^ hi;
    return 0;
  }

  private setSubsectionBits(pfn: number, nrPages: number, value: boolean): void {
    let p = pfn;
    const end = pfn + nrPages;
    while (p < end) {
      const nr = pfnToSectionNr(p);
      const secEnd = Math.min(end, sectionNrToPfn(nr + 1));
      const [lo, hi] = subsectionMask(p, secEnd - p);
      if (value) {
        this.subsectionMap[2 * nr] |= lo;
        this.subsectionMap[2 * nr + 1] |= hi;
      } else {
        this.subsectionMap[2 * nr] &= ~lo;
        this.subsectionMap[2 * nr + 1] &= ~hi;
      }
      p = secEnd;
    }
  }

  // mm/sparse.c: section_activate() — returns 0 or -errno (the kernel returns the memmap).
  private sectionActivate(nid: number, pfn: number, nrPages: number, altmap: VmemAltmap | undefined): number {
    const nr = pfnToSectionNr(pfn);
    const newUsage = !this.hasUsage[nr];
    if (newUsage && this.faults?.shouldFail("section_usage")) return -ENOMEM; // kzalloc() of ms->usage
    if (newUsage) this.hasUsage[nr] = 1;
    const rc = this.fillSubsectionMap(pfn, nrPages);
    if (rc) {
      if (newUsage) this.hasUsage[nr] = 0;
      return rc;
    }
    // A partial add to an early section reuses the boot memmap.
    if (nrPages < PAGES_PER_SECTION && this.earlySectionNr(nr)) return 0;
    // populate_section_memmap() → NULL: -ENOMEM, undone by section_deactivate()
    const err = this.faults?.shouldFail("memmap")
      ? -ENOMEM
      : this.arch.vmemmapPopulate(pfn, nrPages, nid, altmap);
    if (err) {
      // Like the kernel, undo through section_deactivate(): vmemmap_free() of
      // the range frees whatever part of it was populated.
      this.sectionDeactivate(pfn, nrPages, altmap);
      return err;
    }
    return 0;
  }

  // mm/sparse.c: section_deactivate()
  private sectionDeactivate(pfn: number, nrPages: number, altmap: VmemAltmap | undefined): void {
    const nr = pfnToSectionNr(pfn);
    const early = this.earlySectionNr(nr);
    const hadMemmap = this.validSectionNr(nr);
    if (this.clearSubsectionMap(pfn, nrPages)) return;
    const empty = this.subsectionCount(nr) === 0;
    if (empty) {
      this.flags[nr] &= ~SECTION_HAS_MEM_MAP;
      this.hasUsage[nr] = 0;
    }
    if (!early) this.arch.vmemmapFree(pfn, nrPages, altmap);
    // free_map_bootmem(): a boot section's memmap goes only with its last subsection.
    else if (empty) this.arch.vmemmapFree(sectionNrToPfn(nr), PAGES_PER_SECTION, undefined);
    if (empty) {
      if (hadMemmap) {
        this.memmap.deactivateSection(nr);
        this.work.add("sectionsDeactivated");
      }
      this.flags[nr] = 0;
      this.nid[nr] = -1;
    }
  }

  /** mm/sparse.c: sparse_add_section() — one call per section-bounded piece. */
  sparseAddSection(nid: number, startPfn: number, nrPages: number, altmap: VmemAltmap | undefined): number {
    const nr = pfnToSectionNr(startPfn);
    if (nr >= this.nrSections) return -EINVAL;
    const hadMemmap = this.validSectionNr(nr);
    const err = this.sectionActivate(nid, startPfn, nrPages, altmap);
    if (err) return err;
    this.nid[nr] = nid;
    this.flags[nr] |= SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP;
    if (!hadMemmap) {
      this.memmap.activateSection(nr);
      this.work.add("sectionsActivated");
    }
    return 0;
  }

  /** mm/sparse.c: sparse_remove_section() */
  sparseRemoveSection(pfn: number, nrPages: number, altmap: VmemAltmap | undefined): void {
    this.sectionDeactivate(pfn, nrPages, altmap);
  }

  /** mm/sparse.c: online_mem_sections() */
  onlineMemSections(startPfn: number, endPfn: number): void {
    for (let pfn = startPfn; pfn < endPfn; pfn += PAGES_PER_SECTION) {
      const nr = pfnToSectionNr(pfn);
      if (this.validSectionNr(nr)) this.flags[nr] |= SECTION_IS_ONLINE;
    }
  }

  /** mm/sparse.c: offline_mem_sections() */
  offlineMemSections(startPfn: number, endPfn: number): void {
    for (let pfn = startPfn; pfn < endPfn; pfn += PAGES_PER_SECTION) {
      const nr = pfnToSectionNr(pfn);
      if (this.validSectionNr(nr)) this.flags[nr] &= ~SECTION_IS_ONLINE;
    }
  }

  /** Highest present section number, or -1 (__highest_present_section_nr). */
  highestPresentSectionNr(): number {
    for (let nr = this.nrSections - 1; nr >= 0; nr--) if (this.presentSectionNr(nr)) return nr;
    return -1;
  }

  checkInvariants(incremental = false): string[] {
    const out: string[] = [];
    for (let nr = 0; nr < this.nrSections; nr++) {
      const f = this.flags[nr];
      // incremental: a section whose flags and subsection map are those of the
      // last check (which found it consistent) is not looked at again
      const lo = this.subsectionMap[2 * nr];
      const hi = this.subsectionMap[2 * nr + 1];
      if (
        incremental &&
        this.checkedFlags[nr] === f &&
        this.checkedSubs[2 * nr] === lo &&
        this.checkedSubs[2 * nr + 1] === hi
      )
        continue;
      const before = out.length;
      const subs = this.subsectionCount(nr);
      if (f & SECTION_HAS_MEM_MAP && !(f & SECTION_MARKED_PRESENT))
        out.push(`section ${nr}: memmap without present`);
      if (f & SECTION_MARKED_PRESENT && !(f & SECTION_HAS_MEM_MAP))
        out.push(`section ${nr}: present without a memmap`);
      if (f & SECTION_MARKED_PRESENT && subs === 0)
        out.push(`section ${nr}: present with an empty subsection map`);
      if (!(f & SECTION_MARKED_PRESENT) && subs !== 0)
        out.push(`section ${nr}: subsections set but not present`);
      if (f & SECTION_HAS_MEM_MAP) {
        // The vmemmap must map every struct page of the populated part.
        // (the leaves over the section's struct pages, gathered as runs, then each
        // populated subsection's first struct page looked up among them)
        const first = sectionNrToPfn(nr);
        const vs = toVa48(this.arch.pfnToPageVa(first));
        const stride = toVa48(this.arch.pfnToPageVa(first + PAGES_PER_SUBSECTION)) - vs;
        const runs: number[] = [];
        this.arch.pgtable.forEachLeafRun(vs, vs + stride * SUBSECTIONS_PER_SECTION, (va, lv, _pfn, _f, n) =>
          runs.push(va, va + n * LEVEL_SIZE[lv]),
        );
        for (let i = 0, r = 0; i < SUBSECTIONS_PER_SECTION; i++) {
          if (!(f & SECTION_IS_EARLY) && !this.testSubsection(nr, i)) continue;
          const va = vs + i * stride;
          while (r < runs.length && runs[r + 1] <= va) r += 2;
          if (r >= runs.length || runs[r] > va) {
            const pfn = first + i * PAGES_PER_SUBSECTION;
            out.push(`section ${nr}: struct page of pfn ${pfn.toString(16)} not mapped in the vmemmap`);
            break;
          }
        }
      }
      const ok = out.length === before;
      this.checkedFlags[nr] = ok ? f : -1;
      this.checkedSubs[2 * nr] = lo;
      this.checkedSubs[2 * nr + 1] = hi;
    }
    return out;
  }
}

/** mm/sparse.c: subsection_mask_set() for a range inside one section, as two 32-bit words. */
function subsectionMask(pfn: number, nrPages: number): [number, number] {
  if (nrPages <= 0) return [0, 0];
  const first = (pfn % PAGES_PER_SECTION) >> PFN_SUBSECTION_SHIFT;
  const last = ((pfn + nrPages - 1) % PAGES_PER_SECTION) >> PFN_SUBSECTION_SHIFT;
  let lo = 0;
  let hi = 0;
  for (let i = first; i <= last; i++) {
    if (i < 32) lo |= 1 << i;
    else hi |= 1 << (i - 32);
  }
  return [lo >>> 0, hi >>> 0];
}

function popcount(x: number): number {
  let v = x >>> 0;
  let c = 0;
  while (v) {
    v &= v - 1;
    c++;
  }
  return c;
}
