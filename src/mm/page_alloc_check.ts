// BuddyAllocator.checkInvariants()'s walk of the memmap: every page of every
// section with a memmap against the buddy's rules (free blocks, allocations,
// per-cpu blocks, isolation, zone spans), summed per zone for the zone-level
// checks that follow it in src/mm/page_alloc.ts. What it finds in a section is
// kept with the section's version (Memmap.sectionVersion()), so an incremental
// check walks only the sections written since (docs/performance.md).

import { MAX_ORDER, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER } from "./constants.js";
import {
  NR_PAGE_STATES,
  ORDER_TAIL,
  PAGE_STATE_NAMES,
  PS_BUDDY,
  PS_FREE,
  PS_HOLE,
  PS_PCP,
  PS_UNINIT,
  ZONE_MIXED,
  ZONE_NONE,
  isAllocatedState,
  isFreeState,
  type Memmap,
  type SectionQuery,
} from "./memmap.js";
import { MAX_NR_ZONES, MIGRATE_ISOLATE, pcpAllowedOrder, type Zone } from "./mmzone.js";

const hex = (n: number): string => `0x${n.toString(16)}`;

/** What BuddyAllocator.checkInvariants() found in one section: per-zone sums and page-level findings. */
interface SectionFindings {
  /** Memmap.sectionVersion() when walked */
  version: number;
  online: boolean;
  /** [zone * NR_PAGE_STATES + state]: pages not free */
  state: Float64Array;
  free: Float64Array;
  heads: Float64Array;
  pcpHeads: Float64Array;
  iso: Float64Array;
  /** the lowest and highest PFN of each zone's pages (not holes), for the span check */
  lo: Float64Array;
  hi: Float64Array;
  errs: string[];
}

/**
 * The first index in [from, until) where state, order byte or zone differ from
 * (s, o, z), or `until`: four pages a step where the arrays allow (the
 * memmap's arrays are views of one buffer at offsets that are multiples of 4).
 */
function sameRunEnd(
  st: Uint8Array,
  or: Uint8Array,
  zo: Uint8Array,
  from: number,
  until: number,
  s: number,
  o: number,
  z: number,
): number {
  let j = from;
  while (j < until && j % 4 !== 0) {
    if (st[j] !== s || or[j] !== o || zo[j] !== z) return j;
    j++;
  }
  if (st.byteOffset % 4 === 0 && or.byteOffset % 4 === 0 && zo.byteOffset % 4 === 0) {
    const w = (b: Uint8Array) => new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2);
    const sw = w(st);
    const ow = w(or);
    const zw = w(zo);
    const S = (s * 0x01010101) >>> 0;
    const O = (o * 0x01010101) >>> 0;
    const Z = (z * 0x01010101) >>> 0;
    let k = j >>> 2;
    const kEnd = until >>> 2;
    while (k < kEnd && sw[k] === S && ow[k] === O && zw[k] === Z) k++;
    j = k << 2;
  }
  while (j < until && st[j] === s && or[j] === o && zo[j] === z) j++;
  return j;
}

function newFindings(online: boolean): SectionFindings {
  return {
    version: -1,
    online,
    state: new Float64Array(MAX_NR_ZONES * NR_PAGE_STATES),
    free: new Float64Array(MAX_NR_ZONES),
    heads: new Float64Array(MAX_NR_ZONES),
    pcpHeads: new Float64Array(MAX_NR_ZONES),
    iso: new Float64Array(MAX_NR_ZONES),
    lo: new Float64Array(MAX_NR_ZONES).fill(Infinity),
    hi: new Float64Array(MAX_NR_ZONES).fill(-Infinity),
    errs: [],
  };
}

/** totals += sign * f, for the per-zone counts. */
function addFindings(totals: SectionFindings, f: SectionFindings, sign: number): void {
  for (let i = 0; i < f.state.length; i++) if (f.state[i]) totals.state[i] += sign * f.state[i];
  for (let zi = 0; zi < MAX_NR_ZONES; zi++) {
    totals.free[zi] += sign * f.free[zi];
    totals.heads[zi] += sign * f.heads[zi];
    totals.pcpHeads[zi] += sign * f.pcpHeads[zi];
    totals.iso[zi] += sign * f.iso[zi];
  }
}

/** The per-zone sums of a walk. */
export interface WalkTotals {
  stateCount: Float64Array[];
  freeCount: Float64Array;
  headCount: Float64Array;
  pcpHeads: Float64Array;
  isoBlocks: Float64Array;
}

export class MemmapWalk {
  /** What the walk found in each section, per zone. */
  private readonly sectionFindings = new Map<number, SectionFindings>();
  /** The sums of sectionFindings' per-zone counts. */
  private readonly findingTotals = newFindings(false);

  /**
   * Walk the sections (only those changed since the last walk when
   * `incremental`), report page-level findings through perr, return the sums.
   */
  walk(
    m: Memmap,
    sections: SectionQuery,
    zones: readonly Zone[],
    incremental: boolean,
    perr: (s: string) => void,
  ): WalkTotals {
    // The sums over the sections are kept as running totals of the cached
    // findings: a re-walked section's old findings are taken out, its new ones added.
    const cache = this.sectionFindings;
    const totals = this.findingTotals;
    if (!incremental) {
      cache.clear();
      for (const a of [totals.state, totals.free, totals.heads, totals.pcpHeads, totals.iso]) a.fill(0);
    }
    const active = m.activeSectionNrs();
    for (const [nr, f] of cache)
      if (!m.isSectionActive(nr)) {
        addFindings(totals, f, -1);
        cache.delete(nr);
      }
    for (const nr of active) {
      const online = sections.onlineSectionNr(nr);
      const version = m.sectionVersion(nr);
      let f = cache.get(nr);
      if (f === undefined || f.version !== version || f.online !== online) {
        if (f !== undefined) addFindings(totals, f, -1);
        f = this.walkSection(m, zones, nr, online);
        f.version = version;
        cache.set(nr, f);
        addFindings(totals, f, 1);
      }
      for (const e of f.errs) perr(e);
      for (let zi = 0; zi < MAX_NR_ZONES; zi++)
        if (f.lo[zi] <= f.hi[zi] && (!zones[zi].spansPfn(f.lo[zi]) || !zones[zi].spansPfn(f.hi[zi])))
          perr(`pfn ${hex(f.lo[zi])}..${hex(f.hi[zi])}: pages outside the span of zone ${zones[zi].name}`);
    }
    return {
      stateCount: zones.map((z) =>
        totals.state.subarray(z.idx * NR_PAGE_STATES, (z.idx + 1) * NR_PAGE_STATES),
      ),
      freeCount: totals.free,
      headCount: totals.heads,
      pcpHeads: totals.pcpHeads,
      isoBlocks: totals.iso,
    };
  }

  /** checkInvariants()'s walk of one section's pages. */
  private walkSection(m: Memmap, zones: readonly Zone[], nr: number, online: boolean): SectionFindings {
    const a = m.sectionArrays(nr)!;
    const f = newFindings(online);
    const freeCount = f.free;
    const headCount = f.heads;
    const pcpHeads = f.pcpHeads;
    const isoBlocks = f.iso;
    const stateCount = { add: (zi: number, s: number, n: number) => (f.state[zi * NR_PAGE_STATES + s] += n) };
    const span = (zi: number, lo: number, hi: number): void => {
      if (lo < f.lo[zi]) f.lo[zi] = lo;
      if (hi > f.hi[zi]) f.hi[zi] = hi;
    };
    const perr = (s: string): void => {
      if (f.errs.length < 20) f.errs.push(s);
    };
    const err = perr;
    const secCount = new Int32Array(NR_PAGE_STATES);
    const base = nr * a.state.length;
    let freeUntil = -1; // end of the free block being walked
    let allocUntil = -1;
    let allocState = -1;
    let freeZone = -1;
    let pcpUntil = -1; // end of the per-cpu list block being walked
    let pcpZone = -1;
    const len = a.state.length;
    secCount.fill(0);
    let zMin = ZONE_NONE;
    let zMax = 0;
    for (let i = 0; i < len; i++) {
      const pfn = base + i;
      const s = a.state[i];
      const o = a.order[i];
      const zi = a.zone[i];
      if (s < NR_PAGE_STATES) secCount[s]++;
      if (zi < zMin) zMin = zi;
      if (zi > zMax) zMax = zi;
      if (i % PAGEBLOCK_NR_PAGES === 0 && a.pageblockMt[i / PAGEBLOCK_NR_PAGES] === MIGRATE_ISOLATE) {
        if (s !== PS_UNINIT && zi < MAX_NR_ZONES) isoBlocks[zi]++;
      }
      // memhp: the tails of a block (or a run of uninitialised pages) are
      // checked by a tight loop that stops at the first page that differs;
      // that page is then checked by the full rules below
      if (o === ORDER_TAIL || s === PS_UNINIT) {
        const until =
          s === PS_UNINIT
            ? len
            : Math.min(len, (s === PS_FREE ? freeUntil : s === PS_PCP ? pcpUntil : allocUntil) - base);
        const blockZone = s === PS_FREE ? freeZone : s === PS_PCP ? pcpZone : zi;
        const inside = s === PS_UNINIT ? pfn >= freeUntil && pfn >= allocUntil && pfn >= pcpUntil : i < until;
        const ok =
          inside &&
          zi === blockZone &&
          (s === PS_UNINIT || zi < MAX_NR_ZONES) &&
          (s === PS_UNINIT ? zi === ZONE_NONE && !online : s === PS_FREE || s === PS_PCP || s === allocState);
        if (ok && i + 1 < until) {
          let j = i + 1;
          const st = a.state;
          const or = a.order;
          const zo = a.zone;
          const tailOrder = s === PS_UNINIT ? o : ORDER_TAIL;
          j = sameRunEnd(st, or, zo, j, until, s, tailOrder, zi);
          // pages i .. j-1 share state, order byte and zone: account them at once
          const n = j - i;
          secCount[s] += n - 1;
          if (s !== PS_UNINIT) {
            for (
              let pb = Math.ceil((i + 1) / PAGEBLOCK_NR_PAGES) * PAGEBLOCK_NR_PAGES;
              pb < j;
              pb += PAGEBLOCK_NR_PAGES
            )
              if (a.pageblockMt[pb / PAGEBLOCK_NR_PAGES] === MIGRATE_ISOLATE) isoBlocks[zi]++;
            span(zi, pfn, base + j - 1);
            if (s === PS_FREE) freeCount[zi] += n;
            else stateCount.add(zi, s, n);
          }
          i = j - 1;
          continue;
        }
      }
      if (s >= NR_PAGE_STATES) {
        perr(`pfn ${hex(pfn)}: state byte ${s} is no state`);
        continue;
      }
      if (s === PS_UNINIT) {
        if (online) perr(`pfn ${hex(pfn)}: uninitialised page in an online section`);
        if (zi !== ZONE_NONE) perr(`pfn ${hex(pfn)}: uninitialised page with zone ${zi}`);
        if (pfn < freeUntil || pfn < allocUntil || pfn < pcpUntil)
          perr(`pfn ${hex(pfn)}: uninitialised page inside a block`);
        continue;
      }
      if (zi >= MAX_NR_ZONES) {
        perr(`pfn ${hex(pfn)}: ${PAGE_STATE_NAMES[s]} page without a zone`);
        continue;
      }
      const zone = zones[zi];
      if (s !== PS_HOLE) span(zi, pfn, pfn);
      if (isFreeState(s)) freeCount[zi]++;
      else stateCount.add(zi, s, 1);
      if (s === PS_BUDDY) {
        if (pfn < freeUntil || pfn < allocUntil || pfn < pcpUntil)
          perr(`pfn ${hex(pfn)}: buddy head inside another block`);
        headCount[zi]++;
        if (o >= MAX_ORDER) perr(`pfn ${hex(pfn)}: buddy with order ${o}`);
        else {
          if (pfn % (1 << o)) perr(`pfn ${hex(pfn)}: order-${o} buddy not aligned`);
          const lo = zone.freeArea.listOrder(pfn);
          if (lo !== o) perr(`pfn ${hex(pfn)}: order-${o} buddy on the order-${lo} list of ${zone.name}`);
          const lmt = zone.freeArea.listMigratetype(pfn);
          const pbmt = a.pageblockMt[i >> PAGEBLOCK_ORDER];
          if (lmt >= 0 && (lmt === MIGRATE_ISOLATE) !== (pbmt === MIGRATE_ISOLATE))
            perr(`pfn ${hex(pfn)}: free block on list ${lmt} in a pageblock of type ${pbmt}`);
          freeUntil = pfn + (1 << o);
          freeZone = zi;
        }
      } else if (s === PS_FREE) {
        if (pfn >= freeUntil) perr(`pfn ${hex(pfn)}: free page outside any free block`);
        if (o !== ORDER_TAIL) perr(`pfn ${hex(pfn)}: free tail with order byte ${o}`);
        if (zi !== freeZone) perr(`pfn ${hex(pfn)}: zone changes inside a free block`);
      } else if (isAllocatedState(s)) {
        if (o !== ORDER_TAIL) {
          if (pfn < allocUntil || pfn < freeUntil || pfn < pcpUntil)
            perr(`pfn ${hex(pfn)}: allocation head inside another block`);
          if (o >= MAX_ORDER || pfn % (1 << o)) perr(`pfn ${hex(pfn)}: allocation of order ${o} misplaced`);
          allocUntil = pfn + (1 << o);
          allocState = s;
        } else {
          if (pfn >= allocUntil) perr(`pfn ${hex(pfn)}: allocated tail outside an allocation`);
          else if (s !== allocState)
            perr(`pfn ${hex(pfn)}: allocation tail ${PAGE_STATE_NAMES[s]} differs from head`);
        }
      } else if (s === PS_PCP) {
        if (o !== ORDER_TAIL) {
          if (pfn < allocUntil || pfn < freeUntil || pfn < pcpUntil)
            perr(`pfn ${hex(pfn)}: pcp block head inside another block`);
          if (!pcpAllowedOrder(o) || pfn % (1 << o))
            perr(`pfn ${hex(pfn)}: pcp block of order ${o} misplaced`);
          pcpUntil = pfn + (1 << o);
          pcpZone = zi;
          pcpHeads[zi]++;
        } else if (pfn >= pcpUntil) perr(`pfn ${hex(pfn)}: pcp page outside a pcp block`);
        else if (zi !== pcpZone) perr(`pfn ${hex(pfn)}: zone changes inside a pcp block`);
      } else {
        if (pfn < freeUntil || pfn < allocUntil || pfn < pcpUntil)
          perr(`pfn ${hex(pfn)}: ${PAGE_STATE_NAMES[s]} page inside a free, allocated or pcp block`);
      }
    }
    // the memmap's per-section summaries (memhp's, for the scans) match the pages
    for (let st = 0; st < NR_PAGE_STATES; st++)
      if (m.sectionStateCount(nr, st) !== secCount[st])
        err(
          `section ${nr}: summary counts ${m.sectionStateCount(nr, st)} ${PAGE_STATE_NAMES[st]} pages, the memmap has ${secCount[st]}`,
        );
    const zu = m.zoneUniform(nr);
    if ((zu === ZONE_MIXED) !== (zMin !== zMax) || (zu !== ZONE_MIXED && zu !== zMin))
      err(`section ${nr}: zone summary ${zu}, pages in zones ${zMin}..${zMax}`);
    return f;
  }
}
