// `call FN ARGS...`: kernel functions a driver would call, invoked from a scenario
// (the model's side of the test module the RFC patch adds to the real kernel).
// Each returns 0 or a negative errno, as the kernel function does.

import { EINVAL, ENOSYS } from "../errno.js";
import {
  MMOP_OFFLINE,
  MMOP_ONLINE,
  MMOP_ONLINE_KERNEL,
  MMOP_ONLINE_MOVABLE,
} from "../drivers/base/memory.js";
import { parseSize } from "../lib/size.js";
import type { Kernel } from "./kernel.js";
import { MHP_MEMMAP_ON_MEMORY, MHP_MERGE_RESOURCE, MHP_NID_IS_MGID, MHP_NONE } from "../mm/memory_hotplug.js";
import { PAGE_SIZE } from "../mm/constants.js";
import { isStrategyKind, strategyOf, type PowerStrategy } from "../drivers/memory/strategies.js";

type CallFn = (k: Kernel, args: number[], words: string[]) => number;

function flagsFrom(words: string[]): number {
  let f = MHP_NONE;
  for (const w of words) {
    if (w === "MHP_MERGE_RESOURCE") f |= MHP_MERGE_RESOURCE;
    else if (w === "MHP_MEMMAP_ON_MEMORY") f |= MHP_MEMMAP_ON_MEMORY;
  }
  return f;
}

/** The test module's owners: `owner=N`, N = 1..4 (docs/rfc-v2.md). */
export const MAX_OWNER = 4;

/** `owner=N` among the words: N, 1 when absent, -EINVAL when malformed or out of range. */
function ownerFrom(words: string[]): number {
  const w = words.find((x) => x.startsWith("owner="));
  if (w === undefined) return 1;
  const n = /^owner=([1-9][0-9]*)$/.exec(w);
  const v = n ? Number(n[1]) : 0;
  return v >= 1 && v <= MAX_OWNER ? v : -EINVAL;
}

const ONLINE_TYPE_WORDS: Readonly<Record<string, number>> = {
  offline: MMOP_OFFLINE,
  online: MMOP_ONLINE,
  online_kernel: MMOP_ONLINE_KERNEL,
  online_movable: MMOP_ONLINE_MOVABLE,
};

/** The online type word of a populate (default `offline`), or -EINVAL for an unknown word. */
function onlineTypeFrom(words: string[]): number {
  const rest = words.filter((x) => !x.startsWith("owner="));
  if (rest.length === 0) return MMOP_OFFLINE;
  if (rest.length > 1) return -EINVAL;
  return ONLINE_TYPE_WORDS[rest[0]] ?? -EINVAL;
}

/**
 * offline_and_depopulate_memory(mgid(owner), START, SIZE), or with the word
 * `whole` its whole-range variant (memhp issue 18, docs/unmapped-alloc.md):
 * offline_and_depopulate_memory_whole().
 */
const depopulateCall: CallFn = (k, [start, size], w) => {
  const owner = ownerFrom(w);
  const rest = w.filter((x) => !x.startsWith("owner="));
  const whole = rest.length === 1 && rest[0] === "whole";
  if (owner < 0 || (rest.length && !whole)) return -EINVAL;
  const mgid = k.calls.existingGroup(owner);
  return whole
    ? k.hotplug.offlineAndDepopulateMemoryWhole(mgid, start, size)
    : k.hotplug.offlineAndDepopulateMemory(mgid, start, size);
};

/** populate_and_online_memory(mgid(owner), START, SIZE, TYPE) */
const populateCall: CallFn = (k, [start, size], w) => {
  const owner = ownerFrom(w);
  const type = onlineTypeFrom(w);
  if (owner < 0 || type < 0) return -EINVAL;
  return k.hotplug.populateAndOnlineMemory(k.calls.existingGroup(owner), start, size, type);
};

/** name → [number of address/size arguments, implementation] */
const CALLS: Record<string, [number, CallFn]> = {
  add_memory: [2, (k, [start, size], w) => k.hotplug.addMemory(0, start, size, flagsFrom(w))],
  // The test module's add: into the static memory group of owner=N (registered on first use).
  add_memory_driver_managed: [
    2,
    (k, [start, size], w) => {
      const owner = ownerFrom(w);
      if (owner < 0) return -EINVAL;
      const mgid = k.calls.groupOf(owner);
      if (mgid < 0) return mgid;
      const name = w.find((x) => x.startsWith("System RAM")) ?? "System RAM (memhp)";
      return k.hotplug.addMemoryDriverManaged(mgid, start, size, name, flagsFrom(w) | MHP_NID_IS_MGID);
    },
  ],
  remove_memory: [2, (k, [start, size]) => k.hotplug.removeMemory(start, size)],
  offline_and_remove_memory: [2, (k, [start, size]) => k.hotplug.offlineAndRemoveMemory(start, size)],
  // memhp, the RFC v2 (docs/rfc-v2.md): the v1 names keep working with the v2 meaning
  populate_range_driver_managed: [2, populateCall],
  depopulate_range_driver_managed: [2, depopulateCall],
  populate_and_online_memory: [2, populateCall],
  offline_and_depopulate_memory: [2, depopulateCall],
  // mm/memory-failure.c: memory_failure() of each page of [START, START + SIZE)
  memory_failure: [
    2,
    (k, [start, size]) => {
      if (!pageAligned(start, size)) return -EINVAL;
      for (let pa = start; pa < start + size; pa += PAGE_SIZE) {
        const rc = k.memoryFailure.memoryFailure(pa / PAGE_SIZE);
        if (rc) return rc;
      }
      return 0;
    },
  ],
  // mm/page_alloc.c, with a physical START SIZE instead of PFNs (page-aligned, else -EINVAL)
  alloc_contig_range: [
    2,
    (k, [start, size]) =>
      pageAligned(start, size)
        ? k.contig.allocContigRange(start / PAGE_SIZE, (start + size) / PAGE_SIZE)
        : -EINVAL,
  ],
  free_contig_range: [
    2,
    (k, [start, size]) =>
      // model: memtrace maps a range again (arch_create_linear_mapping()) before it
      // frees it; the kernel does not check, and would hand out pages the linear
      // map does not cover. The model refuses that, as it refuses unheld ranges.
      // (Found by memhp fuzz: scenarios/regressions/arm64-free-contig-unmapped.mhp.)
      !pageAligned(start, size) || !linearMapped(k, start, size)
        ? -EINVAL
        : k.contig.freeContigRange(start / PAGE_SIZE, size / PAGE_SIZE),
  ],
  // memhp issue 18 (docs/unmapped-alloc.md): the allocation whose linear map is
  // removed; the test module refuses a START or SIZE that is not page-aligned.
  alloc_contig_range_unmapped: [
    2,
    (k, [start, size]) =>
      pageAligned(start, size)
        ? k.unmapped.allocContigRangeUnmapped(start / PAGE_SIZE, size / PAGE_SIZE)
        : -EINVAL,
  ],
  free_contig_range_unmapped: [
    2,
    (k, [start, size]) =>
      pageAligned(start, size)
        ? k.unmapped.freeContigRangeUnmapped(start / PAGE_SIZE, size / PAGE_SIZE)
        : -EINVAL,
  ],
  // The arch hooks (powerpc's names), as a driver like memtrace calls them.
  arch_create_linear_mapping: [
    2,
    (k, [start, size]) =>
      // model: as for the removal below, only pages a driver holds through alloc_contig_range()
      // (and not an unmapped allocation's: free_contig_range_unmapped() maps those)
      pageAligned(start, size) &&
      k.contig.holdsRange(start / PAGE_SIZE, size / PAGE_SIZE) &&
      !anyUnmapped(k, start, size)
        ? k.arch.archCreateLinearMapping(0, start, size, {})
        : -EINVAL,
  ],
  arch_remove_linear_mapping: [
    2,
    (k, [start, size]) => {
      // model: the kernel function returns nothing and checks nothing; the model
      // only unmaps pages a driver holds through alloc_contig_range() (memtrace's
      // rule), and never splits a leaf mapping.
      if (!pageAligned(start, size) || !k.contig.holdsRange(start / PAGE_SIZE, size / PAGE_SIZE))
        return -EINVAL;
      // nor pages another driver marked PageOffline (virtio-mem's fake-offline,
      // memtrace): they are not the caller's (found by test/property.test.ts:
      // scenarios/regressions/x86_64-23002773.mhp)
      if (anyPageOffline(k, start, size)) return -EINVAL;
      if (k.arch.archLinearMappingSplitsLeaf(start, size)) return -EINVAL;
      k.arch.archRemoveLinearMapping(start, size);
      return 0;
    },
  ],
  // The power-down driver of src/drivers/memory/strategies.ts: `call power_down START SIZE STRATEGY`.
  power_down: [2, (k, [start, size], w) => powerCall(k, w[0], (s) => s.powerDown(start, size).err)],
  power_up: [2, (k, [start, size], w) => powerCall(k, w[0], (s) => s.powerUp(start, size).err)],
};

function powerCall(k: Kernel, kind: string | undefined, fn: (s: PowerStrategy) => number): number {
  return kind !== undefined && isStrategyKind(kind) ? fn(strategyOf(k, kind)) : -EINVAL;
}

/** Every page of [start, start + size) is in the linear map. */
function linearMapped(k: Kernel, start: number, size: number): boolean {
  for (let pa = start; pa < start + size; pa += PAGE_SIZE)
    if (k.arch.pgtable.lookup(k.arch.physToVirt(pa)) === undefined) return false;
  return true;
}

/** Is any page of [start, start + size) in an unmapped allocation? */
function anyUnmapped(k: Kernel, start: number, size: number): boolean {
  const s = start / PAGE_SIZE;
  const e = (start + size) / PAGE_SIZE;
  return k.unmapped.ranges().some((r) => r.startPfn < e && s < r.startPfn + r.nrPages);
}

/** Is any page of [start, start + size) PageOffline? */
function anyPageOffline(k: Kernel, start: number, size: number): boolean {
  for (let pa = start; pa < start + size; pa += PAGE_SIZE)
    if (k.hotplug.isPageOffline(pa / PAGE_SIZE)) return true;
  return false;
}

function pageAligned(start: number, size: number): boolean {
  return size > 0 && start % PAGE_SIZE === 0 && size % PAGE_SIZE === 0;
}

export class DriverCalls {
  /** owner → mgid of the test module's static memory groups */
  private readonly groups = new Map<number, number>();

  constructor(private readonly k: Kernel) {}

  /**
   * The test module's memory group of `owner`: memory_group_register_static()
   * on first use (nid 0; max_pages: the machine's whole device-memory region,
   * the most one owner can ever add). mgid or -errno.
   */
  groupOf(owner: number): number {
    const known = this.groups.get(owner);
    if (known !== undefined) return known;
    const maxPages = Math.max(1, Math.floor(this.k.board.deviceMemorySize / PAGE_SIZE));
    const mgid = this.k.memory.memoryGroupRegisterStatic(0, maxPages);
    if (mgid >= 0) this.groups.set(owner, mgid);
    return mgid;
  }

  /** The mgid of owner's group, or -1 (no group) when the owner never added memory. */
  existingGroup(owner: number): number {
    return this.groups.get(owner) ?? -1;
  }

  /** The test module's owner N whose memory group is `mgid`, or undefined (another driver's memory). */
  ownerOfGroup(mgid: number | undefined): number | undefined {
    for (const [owner, g] of this.groups) if (g === mgid) return owner;
    return undefined;
  }

  /** The functions `call` knows. */
  static names(): string[] {
    return Object.keys(CALLS).sort();
  }

  call(fn: string, args: string[]): number {
    const entry = CALLS[fn];
    const why = (err: number, reason: string) => this.k.printk.refuse(err, reason);
    if (!entry)
      return why(-ENOSYS, `no driver function ${fn}: call one of ${DriverCalls.names().join(", ")}`);
    const [nNum, impl] = entry;
    if (args.length < nNum) return why(-EINVAL, `${fn} takes ${nNum} number${nNum === 1 ? "" : "s"} first`);
    const nums: number[] = [];
    for (let i = 0; i < nNum; i++) {
      try {
        nums.push(parseSize(args[i]));
      } catch {
        return why(-EINVAL, `${fn}: "${args[i]}" is not a size or an address`);
      }
    }
    return impl(this.k, nums, args.slice(nNum));
  }
}
