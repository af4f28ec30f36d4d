// `call FN ARGS...`: kernel functions a driver would call, invoked from a scenario
// (the model's side of the test module the RFC patch adds to the real kernel).
// Each returns 0 or a negative errno, as the kernel function does.

import { EINVAL, ENOSYS } from "../errno.js";
import { parseSize } from "../lib/size.js";
import type { Kernel } from "./kernel.js";
import { MHP_MEMMAP_ON_MEMORY, MHP_MERGE_RESOURCE, MHP_NONE } from "../mm/memory_hotplug.js";
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

/** name → [number of address/size arguments, implementation] */
const CALLS: Record<string, [number, CallFn]> = {
  add_memory: [2, (k, [start, size], w) => k.hotplug.addMemory(0, start, size, flagsFrom(w))],
  add_memory_driver_managed: [
    2,
    (k, [start, size], w) =>
      k.hotplug.addMemoryDriverManaged(0, start, size, w.find((x) => x.startsWith("System RAM")) ?? "System RAM (memhp)", flagsFrom(w)),
  ],
  remove_memory: [2, (k, [start, size]) => k.hotplug.removeMemory(start, size)],
  offline_and_remove_memory: [2, (k, [start, size]) => k.hotplug.offlineAndRemoveMemory(start, size)],
  // memhp, the RFC (docs/rfc.md)
  populate_range_driver_managed: [2, (k, [start, size]) => k.hotplug.populateRangeDriverManaged(start, size)],
  depopulate_range_driver_managed: [2, (k, [start, size]) => k.hotplug.depopulateRangeDriverManaged(start, size)],
  // mm/page_alloc.c, with a physical START SIZE instead of PFNs (page-aligned, else -EINVAL)
  alloc_contig_range: [
    2,
    (k, [start, size]) =>
      pageAligned(start, size) ? k.contig.allocContigRange(start / PAGE_SIZE, (start + size) / PAGE_SIZE) : -EINVAL,
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
  // The arch hooks (powerpc's names), as a driver like memtrace calls them.
  arch_create_linear_mapping: [
    2,
    (k, [start, size]) =>
      // model: as for the removal below, only pages a driver holds through alloc_contig_range()
      pageAligned(start, size) && k.contig.holdsRange(start / PAGE_SIZE, size / PAGE_SIZE)
        ? k.arch.archCreateLinearMapping(0, start, size, {})
        : -EINVAL,
  ],
  arch_remove_linear_mapping: [
    2,
    (k, [start, size]) => {
      // model: the kernel function returns nothing and checks nothing; the model
      // only unmaps pages a driver holds through alloc_contig_range() (memtrace's
      // rule), and never splits a leaf mapping.
      if (!pageAligned(start, size) || !k.contig.holdsRange(start / PAGE_SIZE, size / PAGE_SIZE)) return -EINVAL;
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

function pageAligned(start: number, size: number): boolean {
  return size > 0 && start % PAGE_SIZE === 0 && size % PAGE_SIZE === 0;
}

export class DriverCalls {
  constructor(private readonly k: Kernel) {}

  /** The functions `call` knows. */
  static names(): string[] {
    return Object.keys(CALLS).sort();
  }

  call(fn: string, args: string[]): number {
    const entry = CALLS[fn];
    const why = (err: number, reason: string) => this.k.printk.refuse(err, reason);
    if (!entry) return why(-ENOSYS, `no driver function ${fn}: call one of ${DriverCalls.names().join(", ")}`);
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
