// kernel/resource.c and include/linux/ioport.h: the resource tree behind
// /proc/iomem. Memory hotplug registers each added range here ("System RAM" for
// add_memory(), "System RAM (NAME)" under a driver's non-busy device resource for
// add_memory_driver_managed()), merges virtio-mem's pieces, trims or splits the
// busy entry on removal, and asks "is this System RAM?" through the walkers.
//
// Addresses are bigint (resource_size_t is u64; iomem_resource ends at 2^64-1),
// sums that the kernel computes in u64 wrap the same way here. PFNs stay numbers.
// Resources are few (tens), so each is a small object linked as in the kernel:
// parent, first child, next sibling, children sorted by address.
//
// Locking: the kernel takes resource_lock (an rwlock) around every function
// here; the model is single-threaded, so the *Locked helpers are simply the
// bodies that the kernel runs with the lock held.

import { EBUSY, EINVAL } from "../errno.js";
import { PAGE_SHIFT } from "../mm/constants.js";
import type { Work } from "./work.js";

// include/linux/ioport.h: resource flags (unsigned 32-bit values, as the kernel's).
export const IORESOURCE_BITS = 0x000000ff;
export const IORESOURCE_TYPE_BITS = 0x00001f00;
export const IORESOURCE_IO = 0x00000100;
export const IORESOURCE_MEM = 0x00000200;
export const IORESOURCE_REG = 0x00000300;
export const IORESOURCE_IRQ = 0x00000400;
export const IORESOURCE_DMA = 0x00000800;
export const IORESOURCE_BUS = 0x00001000;
export const IORESOURCE_PREFETCH = 0x00002000;
export const IORESOURCE_READONLY = 0x00004000;
export const IORESOURCE_CACHEABLE = 0x00008000;
export const IORESOURCE_MEM_64 = 0x00100000;
export const IORESOURCE_WINDOW = 0x00200000;
export const IORESOURCE_MUXED = 0x00400000;
export const IORESOURCE_EXT_TYPE_BITS = 0x01000000;
export const IORESOURCE_SYSRAM = 0x01000000;
export const IORESOURCE_SYSRAM_DRIVER_MANAGED = 0x02000000;
export const IORESOURCE_SYSRAM_MERGEABLE = 0x04000000;
export const IORESOURCE_EXCLUSIVE = 0x08000000;
export const IORESOURCE_DISABLED = 0x10000000;
export const IORESOURCE_UNSET = 0x20000000;
export const IORESOURCE_AUTO = 0x40000000;
export const IORESOURCE_BUSY = 0x80000000;
export const IORESOURCE_SYSTEM_RAM = (IORESOURCE_MEM | IORESOURCE_SYSRAM) >>> 0;

// include/linux/ioport.h: I/O resource descriptors (resource.desc).
export const IORES_DESC_NONE = 0;
export const IORES_DESC_CRASH_KERNEL = 1;
export const IORES_DESC_ACPI_TABLES = 2;
export const IORES_DESC_ACPI_NV_STORAGE = 3;
export const IORES_DESC_PERSISTENT_MEMORY = 4;
export const IORES_DESC_PERSISTENT_MEMORY_LEGACY = 5;
export const IORES_DESC_DEVICE_PRIVATE_MEMORY = 6;
export const IORES_DESC_RESERVED = 7;
export const IORES_DESC_SOFT_RESERVED = 8;
export const IORES_DESC_CXL = 9;

// include/linux/mm.h: region_intersects() results.
export const REGION_INTERSECTS = 0;
export const REGION_DISJOINT = 1;
export const REGION_MIXED = 2;

/** kernel/resource.c: MAX_IORES_LEVEL, the deepest indentation r_show() prints. */
export const MAX_IORES_LEVEL = 5;

export const U64_MAX = (1n << 64n) - 1n;
const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);
/** flags & mask, as an unsigned 32-bit value. */
const has = (flags: number, mask: number): number => (flags & mask) >>> 0;

/** include/linux/ioport.h: struct resource. `end` is inclusive. */
export class Resource {
  name: string;
  start: bigint;
  end: bigint;
  desc: number;
  parent: Resource | null = null;
  sibling: Resource | null = null;
  child: Resource | null = null;
  private flagBits: number;

  constructor(name: string, start: bigint, end: bigint, flags: number, desc: number = IORES_DESC_NONE) {
    this.name = name;
    this.start = start;
    this.end = end;
    this.flagBits = flags >>> 0;
    this.desc = desc;
  }

  /** include/linux/ioport.h: DEFINE_RES_NAMED(start, size, name, flags). */
  static named(
    start: bigint,
    size: bigint,
    name: string,
    flags: number,
    desc: number = IORES_DESC_NONE,
  ): Resource {
    return new Resource(name, start, u64(start + size - 1n), flags, desc);
  }

  /** Always an unsigned 32-bit value, so `res.flags |= IORESOURCE_BUSY` stays comparable. */
  get flags(): number {
    return this.flagBits;
  }
  set flags(v: number) {
    this.flagBits = v >>> 0;
  }

  /** include/linux/ioport.h: resource_size() */
  size(): bigint {
    return u64(this.end - this.start + 1n);
  }
}

/** include/linux/ioport.h: resource_type() */
export const resourceType = (r: Resource): number => has(r.flags, IORESOURCE_TYPE_BITS);
/** include/linux/ioport.h: resource_ext_type() */
export const resourceExtType = (r: Resource): number => has(r.flags, IORESOURCE_EXT_TYPE_BITS);

/** include/linux/ioport.h: resource_contains() — same type, neither unset, r1 covers r2. */
export function resourceContains(r1: Resource, r2: Resource): boolean {
  if (resourceType(r1) !== resourceType(r2)) return false;
  if (has(r1.flags, IORESOURCE_UNSET) || has(r2.flags, IORESOURCE_UNSET)) return false;
  return r1.start <= r2.start && r1.end >= r2.end;
}

/** include/linux/ioport.h: resource_overlaps() */
export function resourceOverlaps(
  r1: { start: bigint; end: bigint },
  r2: { start: bigint; end: bigint },
): boolean {
  return r1.start <= r2.end && r1.end >= r2.start;
}

/**
 * What walk_iomem_res_desc() and friends hand their callback: a copy of the
 * matching resource clipped to the searched range (find_next_iomem_res() copies
 * start, end, flags, desc and parent; not the name).
 */
export interface IomemRange {
  start: bigint;
  end: bigint;
  flags: number;
  desc: number;
  parent: Resource | null;
}

// kernel/resource.c: next_resource() — pre-order successor. Like 6.1's, it is not
// bounded by a subtree: from the last node under `p` it climbs past `p`.
function nextResource(p: Resource): Resource | null {
  if (p.child) return p.child;
  let q = p;
  while (!q.sibling && q.parent) q = q.parent;
  return q.sibling;
}

// kernel/resource.c: next_resource_skip_children()
function nextResourceSkipChildren(p: Resource): Resource | null {
  let q = p;
  while (!q.sibling && q.parent) q = q.parent;
  return q.sibling;
}

// kernel/resource.c: is_type_match()
function isTypeMatch(p: Resource, flags: number, desc: number): boolean {
  return has(p.flags, flags) === flags >>> 0 && (desc === IORES_DESC_NONE || desc === p.desc);
}

// kernel/resource.c: __request_resource() — link `res` among root's children, or
// return what is in the way (root itself when res is empty or outside root).
function requestResourceLocked(root: Resource, res: Resource): Resource | null {
  const { start, end } = res;
  if (end < start || start < root.start || end > root.end) return root;
  let prev: Resource | null = null;
  let tmp = root.child;
  for (;;) {
    if (!tmp || tmp.start > end) {
      res.sibling = tmp;
      if (prev) prev.sibling = res;
      else root.child = res;
      res.parent = root;
      return null;
    }
    if (tmp.end < start) {
      prev = tmp;
      tmp = tmp.sibling;
      continue;
    }
    return tmp;
  }
}

// kernel/resource.c: __release_resource() — unlink `old`; with releaseChild false
// its children take its place (remove_resource()).
function releaseResourceLocked(old: Resource, releaseChild: boolean): number {
  const parent = old.parent;
  if (!parent) return -EINVAL; // the kernel would dereference NULL here
  let prev: Resource | null = null;
  for (let tmp = parent.child; tmp; prev = tmp, tmp = tmp.sibling) {
    if (tmp !== old) continue;
    let replacement: Resource | null = old.sibling;
    if (!releaseChild && old.child) {
      let chd = old.child;
      for (;;) {
        chd.parent = parent;
        if (!chd.sibling) break;
        chd = chd.sibling;
      }
      chd.sibling = old.sibling;
      replacement = old.child;
      old.child = null; // the kernel leaves this stale; cleared so `old` can be reused
    }
    if (prev) prev.sibling = replacement;
    else parent.child = replacement;
    old.parent = null;
    old.sibling = null;
    return 0;
  }
  return -EINVAL;
}

// kernel/resource.c: __insert_resource() — like __request_resource(), but descend
// into a conflict that contains `res`, and adopt conflicts that `res` contains.
function insertResourceLocked(parentIn: Resource, res: Resource): Resource | null {
  let parent = parentIn;
  let first: Resource;
  for (;;) {
    const c = requestResourceLocked(parent, res);
    if (!c) return null;
    if (c === parent || c === res) return c;
    first = c;
    if (first.start > res.start || first.end < res.end) break;
    if (first.start === res.start && first.end === res.end) break;
    parent = first;
  }
  // Every sibling from `first` that overlaps `res` must lie inside it.
  let next = first;
  for (;;) {
    if (next.start < res.start || next.end > res.end) return next;
    if (!next.sibling || next.sibling.start > res.end) break;
    next = next.sibling;
  }
  res.parent = parent;
  res.sibling = next.sibling;
  res.child = first;
  next.sibling = null;
  for (let n: Resource | null = first; n; n = n.sibling) n.parent = res;
  if (parent.child === first) {
    parent.child = res;
  } else {
    let n = parent.child;
    while (n && n.sibling !== first) n = n.sibling;
    if (n) n.sibling = res;
  }
  return null;
}

// kernel/resource.c: __adjust_resource() — move/resize `res` in place if it still
// fits its parent, its neighbours and its children; else -EBUSY.
function adjustResourceLocked(res: Resource, start: bigint, size: bigint): number {
  const parent = res.parent;
  const end = u64(start + size - 1n);
  if (parent) {
    if (start < parent.start || end > parent.end) return -EBUSY;
    if (res.sibling && res.sibling.start <= end) return -EBUSY;
    let tmp = parent.child;
    if (tmp !== res) {
      while (tmp && tmp.sibling !== res) tmp = tmp.sibling;
      if (!tmp) return -EINVAL; // not linked under its parent: the kernel would crash
      if (start <= tmp.end) return -EBUSY;
    }
  }
  for (let tmp = res.child; tmp; tmp = tmp.sibling) if (tmp.start < start || tmp.end > end) return -EBUSY;
  res.start = start;
  res.end = end;
  return 0;
}

// kernel/resource.c: system_ram_resources_mergeable(). The kernel compares the
// name pointers; the model compares the strings (virtio-mem passes one kstrdup'd
// name per device, and two devices' resources never share a parent).
function systemRamResourcesMergeable(r1: Resource, r2: Resource): boolean {
  return (
    r1.flags === r2.flags &&
    r1.end + 1n === r2.start &&
    r1.name === r2.name &&
    r1.desc === r2.desc &&
    !r1.child &&
    !r2.child
  );
}

const hex = (x: bigint): string => `0x${x.toString(16)}`;
const describe = (r: Resource): string => `${r.name} [${hex(r.start)}-${hex(r.end)}]`;

/**
 * One resource tree with its root: by default iomem_resource ("PCI mem",
 * 0..2^64-1, IORESOURCE_MEM). Every function takes and returns Resource objects;
 * a Resource belongs to at most one tree at a time.
 */
export class ResourceTree {
  readonly root: Resource;

  constructor(
    private readonly work?: Work,
    root?: Resource,
  ) {
    this.root = root ?? new Resource("PCI mem", 0n, U64_MAX, IORESOURCE_MEM);
  }

  private requested(n = 1): void {
    this.work?.add("resourcesRequested", n);
  }
  private released(n = 1): void {
    this.work?.add("resourcesReleased", n);
  }

  /** kernel/resource.c: request_resource_conflict() — null on success, else the conflicting resource (root if out of range). */
  requestResourceConflict(root: Resource, res: Resource): Resource | null {
    const conflict = requestResourceLocked(root, res);
    if (!conflict) this.requested();
    return conflict;
  }

  /** kernel/resource.c: request_resource() — 0 or -EBUSY. */
  requestResource(root: Resource, res: Resource): number {
    return this.requestResourceConflict(root, res) ? -EBUSY : 0;
  }

  /** kernel/resource.c: release_resource() — unlink `old` with its subtree. 0 or -EINVAL. */
  releaseResource(old: Resource): number {
    const ret = releaseResourceLocked(old, true);
    if (ret === 0) this.released();
    return ret;
  }

  /** kernel/resource.c: remove_resource() — unlink `old`, its children move up in its place. 0 or -EINVAL. */
  removeResource(old: Resource): number {
    const ret = releaseResourceLocked(old, false);
    if (ret === 0) this.released();
    return ret;
  }

  /**
   * kernel/resource.c: insert_resource_conflict() — request_resource_conflict()
   * that descends into a conflict containing `res` and adopts the existing
   * resources that `res` contains as its children. null, or the conflict.
   */
  insertResourceConflict(parent: Resource, res: Resource): Resource | null {
    const conflict = insertResourceLocked(parent, res);
    if (!conflict) this.requested();
    return conflict;
  }

  /** kernel/resource.c: insert_resource() — 0 or -EBUSY. */
  insertResource(parent: Resource, res: Resource): number {
    return this.insertResourceConflict(parent, res) ? -EBUSY : 0;
  }

  /** kernel/resource.c: insert_resource_expand_to_fit() — grow `res` over partial conflicts until it inserts. */
  insertResourceExpandToFit(root: Resource, res: Resource): void {
    if (res.parent) return;
    for (;;) {
      const conflict = insertResourceLocked(root, res);
      if (!conflict) {
        this.requested();
        return;
      }
      if (conflict === root) return;
      if (conflict.start < res.start) res.start = conflict.start;
      if (conflict.end > res.end) res.end = conflict.end;
    }
  }

  /** kernel/resource.c: adjust_resource() — 0 or -EBUSY. */
  adjustResource(res: Resource, start: bigint, size: bigint): number {
    return adjustResourceLocked(res, start, size);
  }

  /** kernel/resource.c: lookup_resource() — the direct child of `root` starting at `start`. */
  lookupResource(root: Resource, start: bigint): Resource | null {
    for (let r = root.child; r; r = r.sibling) if (r.start === start) return r;
    return null;
  }

  /**
   * kernel/resource.c: reserve_region_with_split() — busy resources named `name`
   * (type of `root`) over the free parts of [start, end] among root's children.
   */
  reserveRegionWithSplit(root: Resource, startIn: bigint, endIn: bigint, name: string): void {
    let start = startIn;
    let end = endIn;
    if (root.start > start || root.end < end) {
      if (start > root.end || end < root.start) return;
      if (end > root.end) end = root.end;
      if (start < root.start) start = root.start;
    }
    // kernel/resource.c: __reserve_region_with_split()
    const flags = resourceType(root) | IORESOURCE_BUSY;
    let res = new Resource(name, start, end, flags);
    let nextRes: Resource | null = null;
    for (;;) {
      const conflict = requestResourceLocked(root, res);
      if (!conflict) {
        this.requested();
        if (!nextRes) break;
        res = nextRes;
        nextRes = null;
        continue;
      }
      // Conflict covers the whole piece (a pending tail is dropped, with a WARN in the kernel).
      if (conflict.start <= res.start && conflict.end >= res.end) break;
      if (conflict.start > res.start) {
        const pieceEnd = res.end;
        res.end = conflict.start - 1n;
        if (conflict.end < pieceEnd) nextRes = new Resource(name, conflict.end + 1n, pieceEnd, flags);
      } else {
        res.start = conflict.end + 1n;
      }
    }
  }

  /**
   * kernel/resource.c: __request_region() — a new busy resource [start, start+n-1]
   * named `name`. It descends into every non-busy resource that contains the
   * range (a driver's device resource, e.g. virtio-mem's "virtio0") and links
   * there; its flags are the type and extended type of the final parent | BUSY |
   * `flags`, its desc the parent's. null on a busy (or partial) overlap.
   * The kernel sleeps on an IORESOURCE_MUXED conflict until it is released; the
   * single-threaded model cannot wait and fails instead.
   * Without a parent argument the parent is the root (iomem_resource), as in
   * __request_mem_region(start, n, name, flags).
   */
  requestRegion(parent: Resource, start: bigint, n: bigint, name: string, flags: number): Resource | null;
  requestRegion(start: bigint, n: bigint, name: string, flags: number): Resource | null;
  requestRegion(
    ...args: [Resource, bigint, bigint, string, number] | [bigint, bigint, string, number]
  ): Resource | null {
    return args.length === 4
      ? this.requestRegionLocked(this.root, ...args)
      : this.requestRegionLocked(...args);
  }

  // kernel/resource.c: __request_region() and __request_region_locked()
  private requestRegionLocked(
    parentIn: Resource,
    start: bigint,
    n: bigint,
    name: string,
    flags: number,
  ): Resource | null {
    let parent = parentIn;
    const res = new Resource(name, start, u64(start + n - 1n), 0);
    for (;;) {
      res.flags = resourceType(parent) | resourceExtType(parent) | IORESOURCE_BUSY | flags;
      res.desc = parent.desc;
      const conflict = requestResourceLocked(parent, res);
      if (!conflict) break;
      if (conflict !== parent && !has(conflict.flags, IORESOURCE_BUSY)) {
        parent = conflict;
        continue;
      }
      return null;
    }
    // revoke_iomem() (CONFIG_IO_STRICT_DEVMEM: zap /dev/mem mappings) has nothing to act on in the model.
    this.requested();
    return res;
  }

  /** include/linux/ioport.h: __request_mem_region() / request_mem_region() on iomem_resource. */
  requestMemRegion(start: bigint, n: bigint, name: string, flags = 0): Resource | null {
    return this.requestRegion(this.root, start, n, name, flags);
  }

  /**
   * kernel/resource.c: __release_region() — free the busy resource that is exactly
   * [start, start+n-1], looking through non-busy resources that contain it.
   * The kernel returns nothing; false here is where it warns "Trying to free
   * nonexistent resource".
   */
  releaseRegion(parent: Resource, start: bigint, n: bigint): boolean {
    const end = u64(start + n - 1n);
    let owner = parent;
    let prev: Resource | null = null;
    let res = parent.child;
    while (res) {
      if (res.start <= start && res.end >= end) {
        if (!has(res.flags, IORESOURCE_BUSY)) {
          owner = res;
          prev = null;
          res = res.child;
          continue;
        }
        if (res.start !== start || res.end !== end) break;
        if (prev) prev.sibling = res.sibling;
        else owner.child = res.sibling;
        res.parent = null;
        res.sibling = null;
        this.released();
        return true;
      }
      prev = res;
      res = res.sibling;
    }
    return false;
  }

  /** include/linux/ioport.h: release_mem_region() */
  releaseMemRegion(start: bigint, n: bigint): boolean {
    return this.releaseRegion(this.root, start, n);
  }

  /**
   * kernel/resource.c: release_mem_region_adjustable() — memory hot-remove's
   * release: find the busy IORESOURCE_MEM resource (through non-busy parents)
   * that contains [start, start+size-1] and free it if equal, trim its head or
   * tail, or split it in two (the upper part a new resource with the same name,
   * flags and desc; children stay with the lower part). The kernel returns
   * nothing; false here means nothing was released (no single busy resource
   * contains the range, or the adjust would cut through a child: WARN).
   */
  releaseMemRegionAdjustable(start: bigint, size: bigint): boolean {
    const root = this.root;
    const end = u64(start + size - 1n);
    if (start < root.start || end > root.end) return false; // WARN_ON_ONCE
    let owner = root;
    let prev: Resource | null = null;
    let res = root.child;
    while (res) {
      if (res.start >= end) break;
      // Look for the next resource if it does not contain the range.
      if (res.start > start || res.end < end) {
        prev = res;
        res = res.sibling;
        continue;
      }
      if (!has(res.flags, IORESOURCE_MEM)) break;
      if (!has(res.flags, IORESOURCE_BUSY)) {
        owner = res;
        prev = null;
        res = res.child;
        continue;
      }
      if (res.start === start && res.end === end) {
        if (prev) prev.sibling = res.sibling;
        else owner.child = res.sibling;
        res.parent = null;
        res.sibling = null;
        this.released();
        return true;
      }
      if (res.start === start) return adjustResourceLocked(res, end + 1n, res.end - end) === 0;
      if (res.end === end) return adjustResourceLocked(res, res.start, start - res.start) === 0;
      // Split: the upper part becomes a new resource right after the lower one.
      const upper = new Resource(res.name, end + 1n, res.end, res.flags, res.desc);
      upper.parent = res.parent;
      upper.sibling = res.sibling;
      if (adjustResourceLocked(res, res.start, start - res.start) !== 0) return false;
      res.sibling = upper;
      this.requested();
      return true;
    }
    return false;
  }

  /**
   * kernel/resource.c: merge_system_ram_resource() — mark `res` (busy System RAM)
   * IORESOURCE_SYSRAM_MERGEABLE and merge it with its next, then its previous
   * sibling when they have identical flags (so are mergeable too), name and
   * desc, touch it, and neither has children. Returns the resource that now
   * covers `res`'s range (`res` itself or its previous sibling: after a merge
   * with the previous one, `res` is freed and must not be used), or null where
   * the kernel WARNs (res is not busy System RAM) and does nothing.
   */
  mergeSystemRamResource(res: Resource): Resource | null {
    const need = (IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY) >>> 0;
    if (has(res.flags, need) !== need) return null;
    res.flags |= IORESOURCE_SYSRAM_MERGEABLE;
    const next = res.sibling;
    if (next && systemRamResourcesMergeable(res, next)) {
      res.end = next.end;
      res.sibling = next.sibling;
      next.parent = null;
      next.sibling = null;
      this.released();
    }
    const parent = res.parent;
    if (!parent) return res;
    let cur = parent.child;
    while (cur && cur.sibling !== res) cur = cur.sibling;
    if (cur && systemRamResourcesMergeable(cur, res)) {
      cur.end = res.end;
      cur.sibling = res.sibling;
      res.parent = null;
      res.sibling = null;
      this.released();
      return cur;
    }
    return res;
  }

  // kernel/resource.c: find_next_iomem_res() — the lowest resource overlapping
  // [start, end] with all of `flags` (and `desc` unless NONE), clipped to it.
  // Children are only looked at once a top-level resource overlaps the range.
  private findNextIomemRes(start: bigint, end: bigint, flags: number, desc: number): IomemRange | null {
    if (start >= end) return null; // -EINVAL
    let skipChildren = true;
    let p = this.root.child;
    for (; p; p = skipChildren ? nextResourceSkipChildren(p) : nextResource(p)) {
      if (p.start > end) {
        p = null;
        break;
      }
      if (p.end < start) continue;
      skipChildren = false;
      if (isTypeMatch(p, flags, desc)) break;
    }
    if (!p) return null; // -ENODEV
    return {
      start: p.start > start ? p.start : start,
      end: p.end < end ? p.end : end,
      flags: p.flags,
      desc: p.desc,
      parent: p.parent,
    };
  }

  // kernel/resource.c: __walk_iomem_res_desc()
  private walkIomem(
    startIn: bigint,
    end: bigint,
    flags: number,
    desc: number,
    fn: (r: IomemRange) => number,
  ): number {
    let start = startIn;
    let ret = -EINVAL;
    while (start < end) {
      const r = this.findNextIomemRes(start, end, flags, desc);
      if (!r) break;
      ret = fn(r);
      if (ret) break;
      start = r.end + 1n;
    }
    return ret;
  }

  /**
   * kernel/resource.c: walk_iomem_res_desc() — call fn for each resource overlapping
   * [start, end] that has all of `flags` and (unless IORES_DESC_NONE) `desc`; stop
   * at the first non-zero return and return it. -EINVAL when nothing matched.
   */
  walkIomemResDesc(
    desc: number,
    flags: number,
    start: bigint,
    end: bigint,
    fn: (r: IomemRange) => number,
  ): number {
    return this.walkIomem(start, end, flags, desc, fn);
  }

  /** kernel/resource.c: walk_system_ram_res() — busy System RAM resources. */
  walkSystemRamRes(start: bigint, end: bigint, fn: (r: IomemRange) => number): number {
    return this.walkIomem(start, end, IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY, IORES_DESC_NONE, fn);
  }

  /** kernel/resource.c: walk_mem_res() — busy IORESOURCE_MEM resources. */
  walkMemRes(start: bigint, end: bigint, fn: (r: IomemRange) => number): number {
    return this.walkIomem(start, end, IORESOURCE_MEM | IORESOURCE_BUSY, IORES_DESC_NONE, fn);
  }

  /**
   * kernel/resource.c: walk_system_ram_range() — fn(pfn, nrPages) for each run of
   * whole pages of busy System RAM in [startPfn, startPfn+nrPages); stops at the
   * first non-zero return. -EINVAL when no run was reported (as the kernel, it
   * also stops at a first resource that holds no whole page).
   */
  walkSystemRamRange(
    startPfn: number,
    nrPages: number,
    fn: (pfn: number, nrPages: number) => number,
  ): number {
    const shift = BigInt(PAGE_SHIFT);
    const pageMask = (1n << shift) - 1n;
    let start = BigInt(startPfn) << shift;
    const end = (BigInt(startPfn + nrPages) << shift) - 1n;
    const flags = IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY;
    let ret = -EINVAL;
    while (start < end) {
      const r = this.findNextIomemRes(start, end, flags, IORES_DESC_NONE);
      if (!r) break;
      const pfn = Number((r.start + pageMask) >> shift); // PFN_UP
      const endPfn = Number((r.end + 1n) >> shift); // PFN_DOWN
      if (endPfn > pfn) ret = fn(pfn, endPfn - pfn);
      if (ret) break;
      start = r.end + 1n;
    }
    return ret;
  }

  /** kernel/resource.c: page_is_ram() (the generic __weak one). */
  pageIsRam(pfn: number): boolean {
    return this.walkSystemRamRange(pfn, 1, () => 1) === 1;
  }

  /**
   * kernel/resource.c: region_intersects() — REGION_DISJOINT when [start,
   * start+size-1] overlaps nothing with `flags`/`desc`, REGION_INTERSECTS when
   * it overlaps such resources and no other, REGION_MIXED otherwise. As 6.1's
   * __region_intersects(), the descent into a non-matching resource uses the
   * unbounded for_each_resource() and so may run on past that resource.
   */
  regionIntersects(start: bigint, size: bigint, flags: number, desc: number): number {
    const res = { start, end: u64(start + size - 1n) };
    let type = 0;
    let other = 0;
    for (let p = this.root.child; p; p = p.sibling) {
      if (!resourceOverlaps(p, res)) continue;
      const o = { start: p.start > res.start ? p.start : res.start, end: p.end < res.end ? p.end : res.end };
      if (isTypeMatch(p, flags, desc)) {
        type++;
        continue;
      }
      let covered = false;
      for (let dp = p.child; dp; dp = nextResource(dp)) {
        if (!resourceOverlaps(dp, res)) continue;
        if (!isTypeMatch(dp, flags, desc)) continue;
        type++;
        if (dp.start > o.start) break;
        if (dp.end >= o.end) {
          covered = true;
          break;
        }
        if (dp.end + 1n > o.start) o.start = dp.end + 1n;
      }
      if (!covered) other++;
    }
    if (type === 0) return REGION_DISJOINT;
    if (other === 0) return REGION_INTERSECTS;
    return REGION_MIXED;
  }

  /** Every resource under the root in /proc order (r_start()/r_next(): pre-order). */
  *resources(): Generator<Resource> {
    for (let p = this.root.child; p; p = nextResource(p)) yield p;
  }

  /**
   * kernel/resource.c: r_show() over r_start()/r_next() — the text of /proc/iomem
   * (or /proc/ioports for a small root): per resource "%*s%0*llx-%0*llx : %s\n"
   * with 2 spaces per level below the root (at most MAX_IORES_LEVEL levels), hex
   * width 4 if the root ends below 0x10000 else 8, zero-padded and wider when the
   * number needs it. Unprivileged readers (no CAP_SYS_ADMIN) see 0 for addresses.
   */
  procIomem(privileged = true): string {
    const root = this.root;
    const width = root.end < 0x10000n ? 4 : 8;
    const fmt = (x: bigint): string => (privileged ? x : 0n).toString(16).padStart(width, "0");
    let out = "";
    for (const r of this.resources()) {
      let depth = 0;
      for (let p: Resource | null = r; depth < MAX_IORES_LEVEL && p; depth++, p = p.parent) {
        if (p.parent === root) break;
      }
      out += `${" ".repeat(depth * 2)}${fmt(r.start)}-${fmt(r.end)} : ${r.name}\n`;
    }
    return out;
  }

  /**
   * Structural violations, empty when the tree is sound: start <= end, each child
   * inside its parent with a correct parent link, siblings sorted and disjoint,
   * no resource reached twice.
   */
  checkInvariants(): string[] {
    const errors: string[] = [];
    const seen = new Set<Resource>();
    const visit = (r: Resource): void => {
      if (seen.has(r)) {
        errors.push(`${describe(r)}: reached twice (cycle or shared node)`);
        return;
      }
      seen.add(r);
      if (r.start > r.end) errors.push(`${describe(r)}: start > end`);
      let prev: Resource | null = null;
      for (let c = r.child; c; c = c.sibling) {
        if (seen.has(c)) {
          errors.push(`${describe(c)}: reached twice (cycle or shared node)`);
          break;
        }
        if (c.parent !== r) errors.push(`${describe(c)}: parent link is not ${describe(r)}`);
        if (c.start < r.start || c.end > r.end)
          errors.push(`${describe(c)}: not inside parent ${describe(r)}`);
        if (prev && prev.end >= c.start)
          errors.push(`${describe(c)}: overlaps or precedes sibling ${describe(prev)}`);
        visit(c);
        prev = c;
      }
    };
    visit(this.root);
    return errors;
  }
}
