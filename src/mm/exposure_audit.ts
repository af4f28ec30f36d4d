// The exposure auditor: what the modelled kernel still maps of, and does to,
// memory the hardware model (src/hw/access.ts) says is inaccessible. Not kernel
// code; it answers the RFC's question for every way of taking memory away:
// could the CPU touch powered-down memory, speculatively or for real?
//
// Two kinds of findings:
//  - state, found by looking at the machine when audit() runs:
//      linear-map    a linear-map leaf maps inaccessible memory (a window for
//                    speculative access: the CPU may prefetch through any live
//                    kernel mapping);
//      vmemmap       a vmemmap leaf maps inaccessible memory (struct pages live
//                    there: memmap_on_memory);
//      page-in-use   an allocated or reserved page lies in inaccessible memory
//                    (data or kernel structures lost), unless a driver holds it
//                    (alloc_contig_range(), or marked PageOffline);
//      page-free     free pages of the buddy allocator lie in inaccessible
//                    memory (the next allocation may hand them out);
//  - accesses, recorded while they happen and reported by the next audit():
//      struct-page-access  the kernel read or wrote a struct page whose vmemmap
//                    backing is inaccessible (online/offline, memmap init, pfn
//                    walkers);
//      page-alloc    the page allocator handed out inaccessible memory (page
//                    tables, vmemmap, kernel or user pages: all get written);
//      migration     migration copied from or to inaccessible memory.
//  - RFC v2's questions (docs/rfc-v2.md), also for every strategy:
//      leaf-across-add  a linear-map leaf was created that crosses the range of
//                    an add_memory*() call (a later remove_memory() of one of
//                    them must split it: x86 remove_pud_table() walks a 1G leaf
//                    as a PMD table; arm64 clears the block whole); recorded
//                    when the leaf is made (arch_add_memory(),
//                    arch_create_linear_mapping());
//      leaf-split    try_remove_memory() went ahead with a range that splits
//                    a linear-map leaf at one of its edges (stock 6.1);
//      dirty-cache   memory was powered off while the CPU caches may hold
//                    dirty lines of it (written since its last clean,
//                    src/hw/cache.ts): their write-back goes to dead memory;
//      crash-dump    (state) powered-off System RAM whose pages are not
//                    PageOffline: kdump/makedumpfile, /proc/kcore and
//                    hibernation would read it.
//
// Accesses are seen by wrapping, on the instances only, the few methods through
// which the model touches struct pages (Memmap), hands out pages
// (BuddyAllocator.allocPagesGfp) and moves them (Rmap.move, called for every
// migrated page), and by noting page-table changes (KernelPageTable). The
// wrappers exist only while some memory is inaccessible, so the model pays
// nothing otherwise.

import type { Kernel } from "../kernel/kernel.js";
import type { PfnSpan } from "../hw/access.js";
import { PAGE_SIZE, PAGES_PER_SECTION, PFN_SECTION_SHIFT, STRUCT_PAGE_SIZE } from "./constants.js";
import {
  PAGE_STATE_NAMES,
  PS_BUDDY,
  PS_FREE,
  PS_HOLE,
  PS_ISOLATED,
  PS_OFFLINE,
  PS_OFFLINE_FREE,
  PS_RESERVED,
  PS_UNINIT,
  isAllocatedState,
} from "./memmap.js";
import { LEAF_LEVEL_NAME, LEVEL_PAGES, LEVEL_SIZE, toVa48 } from "./pgtable.js";

export const EXPOSURE_KINDS = [
  "linear-map",
  "vmemmap",
  "page-in-use",
  "page-free",
  "struct-page-access",
  "page-alloc",
  "migration",
  "leaf-across-add",
  "leaf-split",
  "dirty-cache",
  "crash-dump",
] as const;
export type ExposureKind = (typeof EXPOSURE_KINDS)[number];

/** Kinds that are mappings of inaccessible memory (exposure windows). */
export const MAPPING_KINDS: ReadonlySet<ExposureKind> = new Set(["linear-map", "vmemmap"]);

export interface ExposureFinding {
  kind: ExposureKind;
  /** First physical address of the inaccessible memory concerned (hex). */
  start: string;
  /** Bytes of it concerned (hex); for accesses, the span from the first to the last page touched. */
  size: string;
  /** Leaves, pages or accesses. */
  count: number;
  /** The leaf levels, the page state, or the access and the operation it happened in. */
  detail: string;
}

interface Agg {
  kind: ExposureKind;
  detail: string;
  minPfn: number;
  maxPfn: number;
  count: number;
}

const hex = (n: number): string => "0x" + n.toString(16);

export class ExposureAuditor {
  /** The operation accesses are reported under (during()). */
  private label = "kernel";
  private readonly accesses = new Map<string, Agg>();
  private readonly unwrap: Array<() => void> = [];
  /** Page-table generation: bumped by every page-table change while armed. */
  private gen = 0;
  private cachedGen = -1;
  /** Per section: 1 when some of its struct pages are backed by inaccessible memory. */
  private dirty = new Uint8Array(0);
  private anyDirty = false;
  /** >0 while the auditor reads the machine itself. */
  private quiet = 0;

  constructor(private readonly k: Kernel) {
    k.hw.onChange((change) => {
      this.rearm();
      if (change.off) this.poweredOff(change.startPfn, change.nrPages);
    });
    this.watchLeafCreation();
    k.hotplug.onRemove = (start, size) => this.removalEdges(start, size);
  }

  // ---- RFC v2: leaves across adds, removals that split a leaf, dirty caches ----

  /** Memory was powered off: any dirty cache line over it is a finding. */
  private poweredOff(startPfn: number, nrPages: number): void {
    for (const d of this.k.hw.cache.dirtyIn(startPfn, nrPages))
      this.record(
        "dirty-cache",
        `powered off during ${this.label} with lines written since the last clean`,
        d.startPfn,
        d.endPfn - d.startPfn,
        d.endPfn - d.startPfn,
      );
  }

  /**
   * Check the leaves (larger than a page) over physical [start, start + size)
   * after they were made: each must lie inside one add's range (`extra`: the
   * range being added, not yet in MemoryHotplug.addedRanges).
   */
  private checkNewLeaves(start: number, size: number, op: string, extra?: [number, number]): void {
    const arch = this.k.arch;
    const ranges = extra ? [...this.k.hotplug.addedRanges, extra] : this.k.hotplug.addedRanges;
    this.quiet++;
    try {
      arch.pgtable.forEachLeafRun(
        toVa48(arch.physToVirt(start)),
        toVa48(arch.physToVirt(start + size)),
        (_va, lv, pfn, _flags, count) => {
          if (LEVEL_PAGES[lv] === 1) return; // a page never crosses an add (adds are block-aligned)
          for (let i = 0; i < count; i++) {
            const a = (pfn + i * LEVEL_PAGES[lv]) * PAGE_SIZE;
            const b = a + LEVEL_SIZE[lv];
            const touched = ranges.filter(([s, e]) => s < b && a < e);
            if (touched.length === 0) continue; // boot memory
            if (touched.length === 1 && touched[0][0] <= a && b <= touched[0][1]) continue;
            this.record(
              "leaf-across-add",
              `${LEAF_LEVEL_NAME[lv]} leaf made by ${op} during ${this.label} crosses ${touched.length > 1 ? "the ranges of " + touched.length + " adds" : "the edge of an add"}`,
              a / PAGE_SIZE,
              LEVEL_PAGES[lv],
              1,
            );
          }
        },
      );
    } finally {
      this.quiet--;
    }
  }

  // Watch the two arch hooks that make linear-map leaves of hot-added memory.
  private watchLeafCreation(): void {
    const arch = this.k.arch;
    const create = arch.archCreateLinearMapping.bind(arch);
    Object.defineProperty(arch, "archCreateLinearMapping", {
      configurable: true,
      writable: true,
      value: (nid: number, start: number, size: number, params: Parameters<typeof create>[3]): number => {
        const rc = create(nid, start, size, params);
        if (rc === 0) this.checkNewLeaves(start, size, "arch_create_linear_mapping()");
        return rc;
      },
    });
    const add = arch.archAddMemory.bind(arch);
    Object.defineProperty(arch, "archAddMemory", {
      configurable: true,
      writable: true,
      value: (
        ctx: Parameters<typeof add>[0],
        nid: number,
        start: number,
        size: number,
        params: Parameters<typeof add>[4],
      ): number => {
        const rc = add(ctx, nid, start, size, params);
        if (rc === 0) this.checkNewLeaves(start, size, "arch_add_memory()", [start, start + size]);
        return rc;
      },
    });
  }

  /** try_remove_memory() goes ahead with [start, start + size): a leaf across either edge is a finding. */
  private removalEdges(start: number, size: number): void {
    const arch = this.k.arch;
    this.quiet++;
    try {
      for (const edge of [start, start + size]) {
        for (const pa of [edge - PAGE_SIZE, edge]) {
          const l = arch.pgtable.lookup(arch.physToVirt(pa));
          if (!l || LEVEL_PAGES[l.level] === 1) continue;
          const a = l.leafPfn * PAGE_SIZE;
          const b = a + LEVEL_SIZE[l.level];
          if (a < edge && edge < b) {
            this.record(
              "leaf-split",
              `remove_memory() of 0x${start.toString(16)}+0x${size.toString(16)} during ${this.label} splits a ${LEAF_LEVEL_NAME[l.level]} leaf`,
              l.leafPfn,
              LEVEL_PAGES[l.level],
              1,
            );
            break;
          }
        }
      }
    } finally {
      this.quiet--;
    }
  }

  /** Powered-off System RAM whose pages are not PageOffline: a crash dump would read it. */
  private crashDump(): ExposureFinding[] {
    const runs = new RunBuilder();
    const hp = this.k.hotplug;
    const pagesPerBlock = this.k.memory.pagesPerBlock();
    this.quiet++;
    for (const s of this.k.hw.inaccessible()) {
      this.k.resources.walkSystemRamRange(s.startPfn, s.endPfn - s.startPfn, (pfn, n) => {
        for (let p = pfn; p < pfn + n;) {
          const blockEnd = Math.min(pfn + n, (Math.floor(p / pagesPerBlock) + 1) * pagesPerBlock);
          const mem = this.k.memory.findMemoryBlockById(this.k.memory.pfnToBlockId(p));
          if (mem?.depopulated) {
            p = blockEnd; // PageOffline, every page of it
            continue;
          }
          for (; p < blockEnd; p++)
            if (!hp.isPageOffline(p)) runs.add(p, p + 1, "System RAM, not PageOffline");
        }
        return 0;
      });
    }
    this.quiet--;
    return runs.runs.map((r) => finding("crash-dump", { ...r, count: r.endPfn - r.startPfn }));
  }

  /** Run fn as the operation `label`: the accesses it makes are reported under that name. */
  during<T>(label: string, fn: () => T): T {
    const saved = this.label;
    this.label = label;
    try {
      return fn();
    } finally {
      this.label = saved;
    }
  }

  /** True while some memory is inaccessible and accesses are being watched. */
  get armed(): boolean {
    return this.unwrap.length > 0;
  }

  /**
   * Every finding now: mappings and pages of inaccessible memory, then the
   * accesses recorded since the last audit() (which are then forgotten).
   */
  audit(): ExposureFinding[] {
    const out = [...this.mappings(), ...this.pages(), ...this.crashDump()];
    for (const a of [...this.accesses.values()].sort(byKindDetail)) out.push(accessFinding(a));
    this.accesses.clear();
    return out;
  }

  /** The recorded findings of `kinds` since the last audit(), removed from the record (cheap: no state scan). */
  take(kinds: ReadonlySet<ExposureKind>): ExposureFinding[] {
    const out: ExposureFinding[] = [];
    for (const [key, a] of [...this.accesses]) {
      if (!kinds.has(a.kind)) continue;
      out.push(accessFinding(a));
      this.accesses.delete(key);
    }
    return out;
  }

  /** The linear-map and vmemmap leaves that map inaccessible memory. */
  mappings(): ExposureFinding[] {
    const spans = this.k.hw.inaccessible();
    if (!spans.length) return [];
    const out: ExposureFinding[] = [];
    const arch = this.k.arch;
    const pt = arch.pgtable;
    // Linear map: the leaves over each span's direct-map addresses.
    for (const s of spans) {
      const runs = new RunBuilder();
      pt.forEachLeaf(
        arch.physToVirt(s.startPfn * PAGE_SIZE),
        arch.physToVirt(s.endPfn * PAGE_SIZE),
        (_va, lv, pfn) => {
          const a = Math.max(pfn, s.startPfn);
          const b = Math.min(pfn + LEVEL_PAGES[lv], s.endPfn);
          if (b > a) runs.add(a, b, LEAF_LEVEL_NAME[lv]);
        },
      );
      for (const r of runs.runs) out.push(finding("linear-map", r));
    }
    // vmemmap: every leaf whose backing lies (partly) in inaccessible memory,
    // with the PFNs whose struct pages it holds.
    const runs = new RunBuilder();
    const holds = new Map<Run, [number, number]>();
    const base = toVa48(arch.pfnToPageVa(0));
    this.forEachVmemmapLeaf((va48, lv, pfn) => {
      if (!this.k.hw.inaccessiblePages(pfn, LEVEL_PAGES[lv])) return;
      const first = (va48 - base) / STRUCT_PAGE_SIZE;
      const end = (va48 + LEVEL_SIZE[lv] - base) / STRUCT_PAGE_SIZE;
      const r = runs.add(pfn, pfn + LEVEL_PAGES[lv], LEAF_LEVEL_NAME[lv]);
      const h = holds.get(r);
      holds.set(r, h ? [Math.min(h[0], first), Math.max(h[1], end)] : [first, end]);
    });
    for (const r of runs.runs) {
      const f = finding("vmemmap", r);
      const [first, end] = holds.get(r)!;
      f.detail += ` (struct pages of ${hex(first * PAGE_SIZE)}-${hex(end * PAGE_SIZE - 1)})`;
      out.push(f);
    }
    return out;
  }

  /** Allocated, reserved and free pages in inaccessible memory that no driver holds. */
  private pages(): ExposureFinding[] {
    const out: ExposureFinding[] = [];
    const m = this.k.memmap;
    const byState = new Map<number, RunBuilder>();
    for (const s of this.k.hw.inaccessible()) {
      for (let pfn = s.startPfn; pfn < s.endPfn;) {
        const nr = pfn >>> PFN_SECTION_SHIFT;
        const secEnd = Math.min(s.endPfn, (nr + 1) * PAGES_PER_SECTION);
        const a = m.sectionArrays(nr);
        if (a !== undefined) {
          for (let p = pfn; p < secEnd; p++) {
            const st = a.state[p & (PAGES_PER_SECTION - 1)];
            if (!pageExposed(st) || this.k.contig.holds(p)) continue;
            // a free block is a PS_BUDDY head and PS_FREE tails: one run
            const key = st === PS_FREE ? PS_BUDDY : st;
            let rb = byState.get(key);
            if (!rb) byState.set(key, (rb = new RunBuilder()));
            rb.add(p, p + 1, key === PS_BUDDY ? "free" : PAGE_STATE_NAMES[st]);
          }
        }
        pfn = secEnd;
      }
    }
    for (const st of [...byState.keys()].sort((x, y) => x - y)) {
      const kind: ExposureKind = st === PS_BUDDY ? "page-free" : "page-in-use";
      for (const r of byState.get(st)!.runs) out.push(finding(kind, { ...r, count: r.endPfn - r.startPfn }));
    }
    return out;
  }

  // Every leaf of the vmemmap of the machine's PFNs.
  private forEachVmemmapLeaf(visit: (va48: number, level: 0 | 1 | 2 | 3, pfn: number) => void): void {
    const arch = this.k.arch;
    const maxPfn = this.k.maxPhysAddr / PAGE_SIZE;
    this.quiet++;
    try {
      arch.pgtable.forEachLeaf(arch.pfnToPageVa(0), arch.pfnToPageVa(maxPfn), visit);
    } finally {
      this.quiet--;
    }
  }

  // ---- accesses ----

  private record(kind: ExposureKind, detail: string, pfn: number, n: number, count: number): void {
    const key = `${kind}|${detail}`;
    const a = this.accesses.get(key);
    if (a) {
      a.minPfn = Math.min(a.minPfn, pfn);
      a.maxPfn = Math.max(a.maxPfn, pfn + n - 1);
      a.count += count;
    } else this.accesses.set(key, { kind, detail, minPfn: pfn, maxPfn: pfn + n - 1, count });
  }

  // Recompute which sections have struct pages in inaccessible memory.
  private refresh(): void {
    if (this.cachedGen === this.gen) return;
    this.cachedGen = this.gen;
    const nrSections = Math.ceil(this.k.maxPhysAddr / (PAGES_PER_SECTION * PAGE_SIZE));
    if (this.dirty.length !== nrSections) this.dirty = new Uint8Array(nrSections);
    else this.dirty.fill(0);
    this.anyDirty = false;
    const base = toVa48(this.k.arch.pfnToPageVa(0));
    this.forEachVmemmapLeaf((va48, lv, pfn) => {
      if (!this.k.hw.inaccessiblePages(pfn, LEVEL_PAGES[lv])) return;
      const first = (va48 - base) / STRUCT_PAGE_SIZE;
      const last = (va48 + LEVEL_SIZE[lv] - base) / STRUCT_PAGE_SIZE - 1;
      for (let nr = first >>> PFN_SECTION_SHIFT; nr <= last >>> PFN_SECTION_SHIFT && nr < nrSections; nr++)
        this.dirty[nr] = 1;
      this.anyDirty = true;
    });
  }

  /** The kernel touched the struct pages of [pfn, pfn + n). */
  private structPages(pfn: number, n: number, how: "read" | "write"): void {
    if (this.quiet || n <= 0) return;
    this.refresh();
    if (!this.anyDirty) return;
    const arch = this.k.arch;
    const perPage = PAGE_SIZE / STRUCT_PAGE_SIZE; // struct pages per vmemmap page
    let hits = 0;
    let first = -1;
    let last = -1;
    for (let p = pfn; p < pfn + n;) {
      const nr = p >>> PFN_SECTION_SHIFT;
      const secEnd = Math.min(pfn + n, (nr + 1) * PAGES_PER_SECTION);
      if (!this.dirty[nr]) {
        p = secEnd;
        continue;
      }
      const chunkEnd = Math.min(secEnd, (Math.floor(p / perPage) + 1) * perPage);
      this.quiet++;
      const hit = arch.pgtable.lookup(arch.pfnToPageVa(p));
      this.quiet--;
      if (hit && this.k.hw.pfnInaccessible(hit.pfn)) {
        hits += chunkEnd - p;
        if (first < 0) first = hit.pfn;
        last = hit.pfn;
      }
      p = chunkEnd;
    }
    if (hits)
      this.record(
        "struct-page-access",
        `${how} during ${this.label}`,
        Math.min(first, last),
        Math.abs(last - first) + 1,
        hits,
      );
  }

  // Install or remove the access wrappers as memory becomes inaccessible or accessible again.
  private rearm(): void {
    this.gen++;
    const want = this.k.hw.anyInaccessible;
    if (want && !this.armed) this.install();
    else if (!want && this.armed) {
      while (this.unwrap.length) this.unwrap.pop()!();
    }
  }

  private install(): void {
    const k = this.k;
    const m = k.memmap;
    const onePfn = (how: "read" | "write") => (pfn: number) => this.structPages(pfn, 1, how);
    const read1 = onePfn("read");
    const write1 = onePfn("write");
    this.wrap(m, "state", read1);
    this.wrap(m, "order", read1);
    this.wrap(m, "zone", read1);
    this.wrap(m, "setState", write1);
    this.wrap(m, "setOrder", write1);
    this.wrap(m, "setZone", write1);
    const range = (how: "read" | "write") => (pfn: number, n: number) => this.structPages(pfn, n, how);
    this.wrap(m, "fillState", range("write"));
    this.wrap(m, "fillOrder", range("write"));
    this.wrap(m, "fillZone", range("write"));
    this.wrap(m, "countStates", range("read"));
    const pt = k.arch.pgtable;
    const bump = () => {
      this.gen++;
    };
    this.wrap(pt, "setLeaves", bump);
    this.wrap(pt, "setTable", bump);
    this.wrap(pt, "clear", bump);
    // Pages handed out: whoever gets them writes them.
    const origAlloc = k.alloc.allocPagesGfp.bind(k.alloc);
    this.override(k.alloc, "allocPagesGfp", (order, spec) => {
      const pfn = origAlloc(order, spec);
      if (pfn >= 0 && !this.quiet) {
        const bad = k.hw.inaccessiblePages(pfn, 1 << order);
        if (bad)
          this.record(
            "page-alloc",
            `${PAGE_STATE_NAMES[spec.state]} during ${this.label}`,
            pfn,
            1 << order,
            bad,
          );
      }
      return pfn;
    });
    // Migration: rmap.move(old, new) for every migrated allocation, before the old page is freed.
    const origMove = k.rmap.move.bind(k.rmap);
    const origOrder = m.order.bind(m);
    this.override(k.rmap, "move", (oldPfn, newPfn) => {
      if (!this.quiet) {
        const order = origOrder(oldPfn);
        const n = order < 32 ? 1 << order : 1;
        const src = k.hw.inaccessiblePages(oldPfn, n);
        const dst = k.hw.inaccessiblePages(newPfn, n);
        if (src) this.record("migration", `copy from during ${this.label}`, oldPfn, n, src);
        if (dst) this.record("migration", `copy to during ${this.label}`, newPfn, n, dst);
      }
      origMove(oldPfn, newPfn);
    });
  }

  /** Run `before` with the arguments, then the method itself. */
  private wrap<T extends object, K extends keyof T>(
    obj: T,
    name: K,
    before: (...args: MethodArgs<T[K]>) => void,
  ): void {
    const orig = (obj[name] as unknown as (...a: unknown[]) => unknown).bind(obj);
    this.override(obj, name, ((...args: MethodArgs<T[K]>) => {
      before(...args);
      return orig(...args);
    }) as T[K]);
  }

  // Shadow a prototype method on one instance; removed again by rearm().
  private override<T extends object, K extends keyof T>(obj: T, name: K, fn: T[K]): void {
    Object.defineProperty(obj, name, { value: fn, configurable: true, writable: true });
    this.unwrap.push(() => {
      Reflect.deleteProperty(obj, name);
    });
  }
}

type MethodArgs<F> = F extends (...args: infer A) => unknown ? A : never;

/** A page in inaccessible memory that someone may touch. */
function pageExposed(st: number): boolean {
  if (st === PS_UNINIT || st === PS_HOLE || st === PS_ISOLATED) return false;
  if (st === PS_OFFLINE || st === PS_OFFLINE_FREE) return false; // PageOffline: its driver's
  return st === PS_BUDDY || st === PS_FREE || st === PS_RESERVED || isAllocatedState(st);
}

interface Run {
  startPfn: number;
  endPfn: number;
  count: number;
  labels: Set<string>;
}

/** Merges adjacent PFN ranges into runs, counting the pieces and their labels. */
class RunBuilder {
  readonly runs: Run[] = [];
  /** Add a piece; returns the run it joined or started. */
  add(startPfn: number, endPfn: number, label: string): Run {
    const last = this.runs[this.runs.length - 1];
    if (last && last.endPfn === startPfn) {
      last.endPfn = endPfn;
      last.count++;
      last.labels.add(label);
      return last;
    }
    const run: Run = { startPfn, endPfn, count: 1, labels: new Set([label]) };
    this.runs.push(run);
    return run;
  }
}

function finding(kind: ExposureKind, r: Run): ExposureFinding {
  return {
    kind,
    start: hex(r.startPfn * PAGE_SIZE),
    size: hex((r.endPfn - r.startPfn) * PAGE_SIZE),
    count: r.count,
    detail: [...r.labels].join(", "),
  };
}

/** A recorded access as a finding: from its first to its last page touched. */
function accessFinding(a: Agg): ExposureFinding {
  return {
    kind: a.kind,
    start: hex(a.minPfn * PAGE_SIZE),
    size: hex((a.maxPfn - a.minPfn + 1) * PAGE_SIZE),
    count: a.count,
    detail: a.detail,
  };
}

function byKindDetail(a: Agg, b: Agg): number {
  return (
    EXPOSURE_KINDS.indexOf(a.kind) - EXPOSURE_KINDS.indexOf(b.kind) ||
    (a.detail < b.detail ? -1 : a.detail > b.detail ? 1 : 0)
  );
}

/** The inaccessible ranges as `0xSTART-0xEND` (inclusive) strings. */
export function spansText(spans: readonly PfnSpan[]): string[] {
  return spans.map((s) => `${hex(s.startPfn * PAGE_SIZE)}-${hex(s.endPfn * PAGE_SIZE - 1)}`);
}
