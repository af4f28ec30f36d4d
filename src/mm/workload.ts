// A seeded workload that allocates and frees like a running system, so that
// offlining meets what it meets on a real machine: movable user pages
// (GFP_HIGHUSER_MOVABLE, ZONE_MOVABLE first), unmovable kernel allocations
// (GFP_KERNEL, ZONE_NORMAL first), reclaimable slab, and a few long-term pinned
// user pages (migrated out of ZONE_MOVABLE before they are pinned, as
// FOLL_LONGTERM does). Everything it holds is in typed arrays indexed by slot;
// it registers with the Rmap so that migration tells it where its pages went.
//
// Not a kernel function: the kernel's counterpart is the rest of the system.

import { PS_KERNEL, PS_MOVABLE, PS_PINNED, PS_RECLAIMABLE } from "./memmap.js";
import type { Migration, Rmap, RmapClient } from "./migrate.js";
import type { BuddyAllocator } from "./page_alloc.js";
import { Rng } from "./random.js";

export const WL_USER = 0;
export const WL_KERNEL = 1;
export const WL_RECLAIMABLE = 2;
export const WL_PINNED = 3;
export const NR_WL_KINDS = 4;
export const WL_KIND_NAMES: readonly string[] = ["user", "kernel", "reclaimable", "pinned"];
/** The memmap state each kind's pages are in. */
const KIND_STATE: readonly number[] = [PS_MOVABLE, PS_KERNEL, PS_RECLAIMABLE, PS_PINNED];

/** Relative weights of the kinds of allocation. */
export interface WorkloadMix {
  user: number;
  kernel: number;
  reclaimable: number;
  pinned: number;
}

export interface WorkloadKnobs {
  /** Allocation or free operations per step (default 64). */
  intensity: number;
  /**
   * The share of totalram the workload tends to hold (default 0.3): below it
   * three operations in four allocate, above it three in four free.
   */
  targetFill: number;
  /** Weights of the allocation kinds (default user 80, kernel 12, reclaimable 7, pinned 1). */
  mix: WorkloadMix;
  /** Percent of user allocations that are order-9 (THP) blocks (default 0). */
  thpPercent: number;
  /** Percent of kernel and reclaimable allocations of order 1..3, as slab caches make (default 10). */
  kernelHighOrderPercent: number;
  /** Chance that a kernel/reclaimable allocation picked for freeing is kept, making them long-lived (default 0.7). */
  kernelLongevity: number;
  /** Most allocations held at once (default 2^20). */
  maxItems: number;
}

export interface WorkloadOptions extends Partial<Omit<WorkloadKnobs, "mix">> {
  seed: number;
  mix?: Partial<WorkloadMix>;
}

export const DEFAULT_WORKLOAD_KNOBS: Readonly<WorkloadKnobs> = {
  intensity: 64,
  targetFill: 0.3,
  mix: { user: 80, kernel: 12, reclaimable: 7, pinned: 1 },
  thpPercent: 0,
  kernelHighOrderPercent: 10,
  kernelLongevity: 0.7,
  maxItems: 1 << 20,
};

/** What some steps did. */
export interface WorkloadResult {
  allocs: number;
  frees: number;
  /** allocations that got -ENOMEM (or a pin whose migration failed) */
  failures: number;
  pagesAllocated: number;
  pagesFreed: number;
}

export class Workload implements RmapClient {
  readonly knobs: WorkloadKnobs;
  private readonly rng: Rng;
  private readonly clientId: number;
  private pfnOf = new Int32Array(1024);
  private orderOf = new Uint8Array(1024);
  private kindOf = new Uint8Array(1024);
  private n = 0;
  private readonly held = new Float64Array(NR_WL_KINDS);
  /** Pages of this workload that migration moved (told through the Rmap). */
  pagesMovedByMigration = 0;

  constructor(
    readonly pa: BuddyAllocator,
    readonly migration: Migration,
    readonly rmap: Rmap,
    opts: WorkloadOptions,
  ) {
    this.rng = new Rng(opts.seed);
    this.knobs = { ...DEFAULT_WORKLOAD_KNOBS, mix: { ...DEFAULT_WORKLOAD_KNOBS.mix } };
    this.configure(opts);
    this.clientId = rmap.register(this);
  }

  /** Change knobs (the seed stays). */
  configure(opts: Partial<Omit<WorkloadKnobs, "mix">> & { mix?: Partial<WorkloadMix> }): void {
    const { mix, ...rest } = opts as WorkloadOptions;
    for (const [k, v] of Object.entries(rest)) {
      if (k === "seed" || v === undefined) continue;
      if (!(k in this.knobs)) throw new Error(`workload: unknown knob ${k}`);
      (this.knobs as unknown as Record<string, number>)[k] = v as number;
    }
    if (mix) Object.assign(this.knobs.mix, mix);
    if (!(this.knobs.targetFill >= 0 && this.knobs.targetFill <= 1))
      throw new Error("workload: targetFill in [0, 1]");
    if (!(this.knobs.intensity >= 0)) throw new Error("workload: intensity >= 0");
  }

  /** Allocations held. */
  get items(): number {
    return this.n;
  }
  /** Pages held, of one kind or all. */
  pagesHeld(kind?: number): number {
    if (kind !== undefined) return this.held[kind];
    let s = 0;
    for (const h of this.held) s += h;
    return s;
  }
  slotPfn(slot: number): number {
    return this.pfnOf[slot];
  }
  slotOrder(slot: number): number {
    return this.orderOf[slot];
  }
  slotKind(slot: number): number {
    return this.kindOf[slot];
  }

  /** RmapClient: migration moved one of our pages. */
  pageMigrated(slot: number, oldPfn: number, newPfn: number): void {
    if (slot >= this.n || this.pfnOf[slot] !== oldPfn)
      throw new Error(
        `workload: told slot ${slot} moved from ${oldPfn.toString(16)}, but it holds another page`,
      );
    this.pfnOf[slot] = newPfn;
    this.pagesMovedByMigration += 1 << this.orderOf[slot];
  }

  /** Run n steps of `intensity` operations each. */
  step(n = 1): WorkloadResult {
    const r: WorkloadResult = { allocs: 0, frees: 0, failures: 0, pagesAllocated: 0, pagesFreed: 0 };
    const k = this.knobs;
    const weights = [k.mix.user, k.mix.kernel, k.mix.reclaimable, k.mix.pinned];
    for (let s = 0; s < n; s++) {
      for (let i = 0; i < k.intensity; i++) {
        const target = k.targetFill * this.pa.totalramPages;
        let alloc: boolean;
        if (this.n === 0) alloc = true;
        else if (this.n >= k.maxItems) alloc = false;
        else alloc = this.rng.chance(this.pagesHeld() < target ? 0.75 : 0.25);
        if (alloc) {
          const kind = this.rng.pick(weights);
          if (kind < 0) continue;
          const pages = this.allocOne(kind);
          if (pages > 0) {
            r.allocs++;
            r.pagesAllocated += pages;
          } else r.failures++;
        } else {
          let slot = this.rng.int(this.n);
          const kd = this.kindOf[slot];
          if ((kd === WL_KERNEL || kd === WL_RECLAIMABLE) && this.rng.chance(k.kernelLongevity))
            slot = this.rng.int(this.n);
          r.pagesFreed += this.freeSlot(slot);
          r.frees++;
        }
      }
    }
    return r;
  }

  // one allocation of `kind`; the pages got, or 0
  private allocOne(kind: number, fixedOrder?: number): number {
    const pa = this.pa;
    const k = this.knobs;
    let order = 0;
    if (fixedOrder !== undefined) order = fixedOrder;
    else if (kind === WL_USER && k.thpPercent > 0 && this.rng.chance(k.thpPercent / 100)) order = 9;
    else if (
      (kind === WL_KERNEL || kind === WL_RECLAIMABLE) &&
      this.rng.chance(k.kernelHighOrderPercent / 100)
    )
      order = 1 + this.rng.int(3);
    const purpose = kind === WL_KERNEL ? "kernel" : kind === WL_RECLAIMABLE ? "reclaimable" : "user";
    const pfn = pa.allocPages(order, purpose);
    if (pfn < 0) return 0;
    const slot = this.push(pfn, order, kind);
    if (kind === WL_USER || kind === WL_PINNED) this.rmap.map(pfn, this.clientId, slot);
    if (kind === WL_PINNED) {
      const pinned = this.migration.pinUserPageLongterm(pfn);
      if (pinned < 0) {
        // gup failed: give the page back
        this.kindOf[slot] = WL_USER;
        this.held[WL_PINNED] -= 1 << order;
        this.held[WL_USER] += 1 << order;
        this.freeSlot(slot);
        return 0;
      }
    }
    return 1 << order;
  }

  private push(pfn: number, order: number, kind: number): number {
    if (this.n === this.pfnOf.length) {
      const cap = this.n * 2;
      const p = new Int32Array(cap);
      p.set(this.pfnOf);
      this.pfnOf = p;
      const o = new Uint8Array(cap);
      o.set(this.orderOf);
      this.orderOf = o;
      const kd = new Uint8Array(cap);
      kd.set(this.kindOf);
      this.kindOf = kd;
    }
    const slot = this.n++;
    this.pfnOf[slot] = pfn;
    this.orderOf[slot] = order;
    this.kindOf[slot] = kind;
    this.held[kind] += 1 << order;
    return slot;
  }

  // free the allocation in slot and move the last slot into its place; the pages freed
  private freeSlot(slot: number): number {
    const pfn = this.pfnOf[slot];
    const order = this.orderOf[slot];
    const kind = this.kindOf[slot];
    if (kind === WL_PINNED) this.migration.unpinUserPage(pfn);
    if (kind === WL_USER || kind === WL_PINNED) this.rmap.unmap(pfn);
    this.pa.freePages(pfn, order);
    this.held[kind] -= 1 << order;
    const last = --this.n;
    if (slot !== last) {
      this.pfnOf[slot] = this.pfnOf[last];
      this.orderOf[slot] = this.orderOf[last];
      this.kindOf[slot] = this.kindOf[last];
      const lk = this.kindOf[slot];
      if (lk === WL_USER || lk === WL_PINNED) this.rmap.map(this.pfnOf[slot], this.clientId, slot);
    }
    return 1 << order;
  }

  /**
   * A user process touching nrPages of anonymous memory (the guest's
   * workload in src/cost/validate-power.ts: a dd that holds its buffer):
   * nrPages order-0 user pages (GFP_HIGHUSER_MOVABLE), mapped, allocated
   * one after the other, no random choice. Returns the pages got (fewer when
   * the allocator runs out).
   */
  fillUser(nrPages: number): number {
    let got = 0;
    while (got < nrPages) {
      const pages = this.allocOne(WL_USER, 0);
      if (!pages) break;
      got += pages;
    }
    return got;
  }

  /** Free everything the workload holds. */
  releaseAll(): number {
    let pages = 0;
    while (this.n) pages += this.freeSlot(this.n - 1);
    return pages;
  }

  /** Every slot's page is where the workload thinks, in the state of its kind, owned by it in the Rmap. */
  checkInvariants(): string[] {
    const out: string[] = [];
    const m = this.pa.memmap;
    const held = new Float64Array(NR_WL_KINDS);
    for (let slot = 0; slot < this.n && out.length < 50; slot++) {
      const pfn = this.pfnOf[slot];
      const kind = this.kindOf[slot];
      const order = this.orderOf[slot];
      held[kind] += 1 << order;
      const st = m.state(pfn);
      if (st !== KIND_STATE[kind])
        out.push(`workload slot ${slot}: pfn ${pfn.toString(16)} is state ${st}, not ${WL_KIND_NAMES[kind]}`);
      if (m.order(pfn) !== order)
        out.push(`workload slot ${slot}: pfn ${pfn.toString(16)} order ${m.order(pfn)} != ${order}`);
      if (kind === WL_USER || kind === WL_PINNED) {
        const o = this.rmap.lookup(pfn);
        if (o === undefined || o.clientId !== this.clientId || o.slot !== slot)
          out.push(`workload slot ${slot}: rmap of pfn ${pfn.toString(16)} does not point back`);
      }
    }
    for (let k = 0; k < NR_WL_KINDS; k++)
      if (held[k] !== this.held[k])
        out.push(`workload: ${WL_KIND_NAMES[k]} pages ${this.held[k]} != ${held[k]}`);
    return out;
  }
}

/**
 * The options of the scenario statement `workload STEPS [key=value...]`:
 * seed, intensity, fill (targetFill), user / kernel / reclaimable / pinned (mix
 * weights), thp (thpPercent), kernel-high-order (kernelHighOrderPercent),
 * longevity (kernelLongevity), max-items (maxItems). Throws on an unknown key
 * or a value that is not a number.
 */
export function parseWorkloadOptions(options: Readonly<Record<string, string>>): {
  seed?: number;
  knobs: Partial<Omit<WorkloadKnobs, "mix">> & { mix?: Partial<WorkloadMix> };
} {
  const knobs: Partial<Omit<WorkloadKnobs, "mix">> & { mix?: Partial<WorkloadMix> } = {};
  let seed: number | undefined;
  const mix: Partial<WorkloadMix> = {};
  for (const [key, text] of Object.entries(options)) {
    const v = Number(text);
    if (text.trim() === "" || !Number.isFinite(v))
      throw new Error(`workload: ${key}=${text} is not a number`);
    switch (key) {
      case "seed":
        seed = v;
        break;
      case "intensity":
        knobs.intensity = v;
        break;
      case "fill":
        knobs.targetFill = v;
        break;
      case "user":
      case "kernel":
      case "reclaimable":
      case "pinned":
        mix[key] = v;
        break;
      case "thp":
        knobs.thpPercent = v;
        break;
      case "kernel-high-order":
        knobs.kernelHighOrderPercent = v;
        break;
      case "longevity":
        knobs.kernelLongevity = v;
        break;
      case "max-items":
        knobs.maxItems = v;
        break;
      default:
        throw new Error(`workload: unknown option ${key}`);
    }
  }
  if (Object.keys(mix).length) knobs.mix = mix;
  return { seed, knobs };
}
