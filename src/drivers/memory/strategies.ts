// The ways a driver can take driver-managed memory away, power it down, and
// later power it up and give it back, each as the exact sequence of kernel
// calls the driver would make. The model's stand-in for the driver behind the
// RFC (Qualcomm's mem-offline driver, drivers/soc/qcom/mem-offline.c in Android
// trees, which switches DDR segments off): drivers/memory/ is where Linux keeps
// memory-controller drivers, the code that can actually power DRAM down.
//
//   offline       1. offline only: device_offline() of every block; the memory
//                    stays in the linear map (and in the vmemmap, sections,
//                    devices, resources). Cheapest to undo; exposed while off.
//   remove        2. today's way: offline_and_remove_memory(), later
//                    add_memory_driver_managed() and device_online(). Nothing
//                    stays; everything is rebuilt on the way up.
//   depopulate    3. the RFC v2 (docs/rfc-v2.md): offline_and_depopulate_memory()
//                    of the driver's memory group (offline, clean the cache,
//                    PageOffline, unmap: one call), later
//                    populate_and_online_memory(..., MMOP_ONLINE_MOVABLE).
//   memtrace      4. the upstream reply to the RFC, as powernv memtrace does it:
//                    the blocks stay online; alloc_contig_range() takes the
//                    range out of the page allocator and
//                    arch_remove_linear_mapping() unmaps it; later
//                    arch_create_linear_mapping() and free_contig_range().
//   depopulate-whole 6. the RFC v2 with the whole-range offline of memhp issue 18
//                    (docs/unmapped-alloc.md): offline_and_depopulate_memory_whole()
//                    offlines the range with one offline_pages() instead of block
//                    by block; the way up is 3.'s.
//   unmapped      7. memtrace's way as the generic API of memhp issue 18
//                    (docs/unmapped-alloc.md): alloc_contig_range_unmapped()
//                    (alloc_contig_range(), PageOffline, clean, unmap: one call),
//                    later free_contig_range_unmapped(); the blocks stay online.
//   fake-offline  5. virtio-mem's way of unplugging parts of online blocks
//                    (virtio_mem_fake_offline()): alloc_contig_range() per 2 MiB
//                    sub-block, PageOffline, adjust_managed_page_count(); the
//                    mapping stays. In the tree today, and it shows that taking
//                    memory out of the allocator is not taking it out of the map.
//
// Each phase is one kernel call (or one step of the hardware: power-off and
// power-on, src/hw/access.ts) and reports its errno and its work counts. A
// failing phase undoes the phases before it, in reverse, as the kernel's
// callers do (offline_and_remove_memory() re-onlines what it offlined).

import { EINVAL } from "../../errno.js";
import type { Kernel } from "../../kernel/kernel.js";
import type { WorkCounts } from "../../kernel/work.js";
import { PAGEBLOCK_NR_PAGES, PAGE_SIZE } from "../../mm/constants.js";
import {
  CACHE_LINE_SIZE,
  MHP_MEMMAP_ON_MEMORY,
  MHP_MERGE_RESOURCE,
  MHP_NID_IS_MGID,
  MHP_NONE,
} from "../../mm/memory_hotplug.js";
import { PS_KERNEL, PS_OFFLINE } from "../../mm/memmap.js";
import { ZONE_MOVABLE } from "../../mm/mmzone.js";
import { IORESOURCE_BUSY, IORESOURCE_SYSTEM_RAM } from "../../kernel/resource.js";
import { MMOP_OFFLINE, MMOP_ONLINE_KERNEL, MMOP_ONLINE_MOVABLE, type OnlineType } from "../base/memory.js";

export const STRATEGY_KINDS = [
  "offline",
  "remove",
  "depopulate",
  "memtrace",
  "fake-offline",
  "depopulate-whole",
  "unmapped",
] as const;
export type StrategyKind = (typeof STRATEGY_KINDS)[number];

export const STRATEGY_TITLES: Readonly<Record<StrategyKind, string>> = {
  offline: "offline only",
  remove: "remove + add",
  depopulate: "RFC depopulate",
  memtrace: "memtrace",
  "fake-offline": "virtio-mem fake-offline",
  "depopulate-whole": "RFC depopulate, whole range",
  unmapped: "unmapped alloc",
};

/** virtio-mem's sub-block size with a 2 MiB device block (max(pageblock, device block)). */
export const FAKE_OFFLINE_SUBBLOCK_PAGES = PAGEBLOCK_NR_PAGES;

export interface PhaseResult {
  /** The kernel call (or `power-off` / `power-on`), or `undo NAME` when rolling back. */
  name: string;
  err: number;
  work: WorkCounts;
}

export interface StrategyResult {
  err: number;
  phases: PhaseResult[];
}

/** Called after each phase (the demo audits there). */
export type PhaseHook = (phase: PhaseResult) => void;

export interface PowerStrategy {
  readonly kind: StrategyKind;
  /** Take [start, start + size) away from the kernel and power it down (the last phase). */
  powerDown(start: number, size: number, onPhase?: PhaseHook): StrategyResult;
  /** Power [start, start + size) up (the first phase) and give it back; -EINVAL when it was not powered down here. */
  powerUp(start: number, size: number, onPhase?: PhaseHook): StrategyResult;
}

interface Step {
  name: string;
  run(): number;
  undo?(): void;
}

/** What a strategy remembers between powerDown() and powerUp() of a range. */
interface DownState {
  size: number;
  /** per block of the range, how to online it again */
  onlineTypes: OnlineType[];
  /** the System RAM resource's name (strategy 2 adds it again) */
  resName: string;
  /** the blocks were added one by one with MHP_MEMMAP_ON_MEMORY (strategy 2 does it again) */
  memmapOnMemory: boolean;
  /** the memory group the range was added in, -1 for none (strategy 2 adds it there again) */
  mgid: number;
}

/** One strategy's driver; create with createStrategy(). */
class Strategy implements PowerStrategy {
  private readonly down = new Map<number, DownState>();

  constructor(
    private readonly k: Kernel,
    readonly kind: StrategyKind,
  ) {}

  powerDown(start: number, size: number, onPhase?: PhaseHook): StrategyResult {
    const k = this.k;
    const bs = k.memory.blockSizeBytes;
    if (!size || start % bs || size % bs || this.down.has(start)) return { err: -EINVAL, phases: [] };
    let memmapOnMemory = false;
    k.hotplug.walkMemoryBlocks(start, size, (mem) => {
      if (mem.nrVmemmapPages) memmapOnMemory = true;
      return 0;
    });
    const st: DownState = {
      size,
      onlineTypes: onlineTypesOf(k, start, size),
      resName: systemRamName(k, start),
      memmapOnMemory,
      mgid: groupOf(k, start, size),
    };
    const steps: Step[] = [];
    const offline: Step = {
      name: "offline",
      run: () => offlineBlocks(k, start, size),
      undo: () => void onlineBlocks(k, start, size, st.onlineTypes),
    };
    switch (this.kind) {
      case "offline":
        steps.push(offline);
        break;
      case "remove":
        steps.push({ name: "offline_and_remove_memory", run: () => removeRange(k, start, size, st) });
        break;
      case "depopulate": {
        const mgid = groupOf(k, start, size);
        steps.push({
          name: "offline_and_depopulate_memory",
          run: () => k.hotplug.offlineAndDepopulateMemory(mgid, start, size),
          undo: () => void k.hotplug.populateAndOnlineMemory(mgid, start, size, MMOP_ONLINE_MOVABLE),
        });
        break;
      }
      case "depopulate-whole": {
        const mgid = groupOf(k, start, size);
        steps.push({
          name: "offline_and_depopulate_memory_whole",
          run: () => k.hotplug.offlineAndDepopulateMemoryWhole(mgid, start, size),
          undo: () => void k.hotplug.populateAndOnlineMemory(mgid, start, size, MMOP_ONLINE_MOVABLE),
        });
        break;
      }
      case "unmapped":
        steps.push({
          name: "alloc_contig_range_unmapped",
          run: () => k.unmapped.allocContigRangeUnmapped(start / PAGE_SIZE, size / PAGE_SIZE),
          undo: () => void k.unmapped.freeContigRangeUnmapped(start / PAGE_SIZE, size / PAGE_SIZE),
        });
        break;
      case "memtrace":
        steps.push(
          {
            name: "alloc_contig_range",
            // memtrace_alloc_node() → alloc_contig_pages(); refuse first what would split a leaf.
            run: () =>
              k.arch.archLinearMappingSplitsLeaf(start, size)
                ? -EINVAL
                : k.contig.allocContigRange(start / PAGE_SIZE, (start + size) / PAGE_SIZE),
            undo: () => void k.contig.freeContigRange(start / PAGE_SIZE, size / PAGE_SIZE),
          },
          {
            // memtrace_alloc_node(): memtrace_clear_range() (clear_page() of each
            // page, then flush_dcache_range_chunked()), then __SetPageOffline()
            // of each page so that dump tools skip them. model: the model's
            // accounting counts every PageOffline page as unmanaged (virtio-mem's
            // rule), so managed_pages drops by the range while it is held; the
            // kernel's memtrace leaves it alone (MemTotal differs by the range).
            name: "memtrace_clear_range",
            run: () => {
              memtraceClear(k, start, size);
              k.alloc.setPageState(start / PAGE_SIZE, size / PAGE_SIZE, PS_OFFLINE);
              k.alloc.adjustManagedPageCount(start / PAGE_SIZE, -size / PAGE_SIZE);
              k.work.add("pagesMarkedOffline", size / PAGE_SIZE);
              return 0;
            },
            undo: () => {
              k.alloc.setPageState(start / PAGE_SIZE, size / PAGE_SIZE, PS_KERNEL);
              k.alloc.adjustManagedPageCount(start / PAGE_SIZE, size / PAGE_SIZE);
              k.work.add("pagesMarkedOffline", size / PAGE_SIZE);
            },
          },
          {
            name: "arch_remove_linear_mapping",
            run: () => {
              k.arch.archRemoveLinearMapping(start, size);
              return 0;
            },
            undo: () => void k.arch.archCreateLinearMapping(0, start, size, {}),
          },
        );
        break;
      case "fake-offline":
        steps.push({
          name: "fake_offline",
          run: () => fakeOffline(k, start, size),
          undo: () => fakeOnline(k, start, size),
        });
        break;
      default: {
        const never: never = this.kind;
        throw new Error(`unknown strategy ${String(never)}`);
      }
    }
    steps.push({
      name: "power-off",
      run: () => {
        k.hw.setInaccessible(start / PAGE_SIZE, size / PAGE_SIZE);
        return 0;
      },
    });
    const r = runSteps(k, steps, onPhase);
    if (!r.err) this.down.set(start, st);
    return r;
  }

  powerUp(start: number, size: number, onPhase?: PhaseHook): StrategyResult {
    const k = this.k;
    const st = this.down.get(start);
    if (!st || st.size !== size) return { err: -EINVAL, phases: [] };
    const steps: Step[] = [
      {
        name: "power-on",
        run: () => {
          k.hw.setAccessible(start / PAGE_SIZE, size / PAGE_SIZE);
          return 0;
        },
      },
    ];
    const online: Step = { name: "online", run: () => onlineBlocks(k, start, size, st.onlineTypes) };
    switch (this.kind) {
      case "offline":
        steps.push(online);
        break;
      case "remove":
        steps.push({ name: "add_memory_driver_managed", run: () => addAgain(k, start, size, st) }, online);
        break;
      case "depopulate":
      case "depopulate-whole": {
        const mgid = groupOf(k, start, size);
        steps.push({
          name: "populate_and_online_memory",
          run: () => k.hotplug.populateAndOnlineMemory(mgid, start, size, MMOP_ONLINE_MOVABLE),
        });
        break;
      }
      case "unmapped":
        steps.push({
          name: "free_contig_range_unmapped",
          run: () => k.unmapped.freeContigRangeUnmapped(start / PAGE_SIZE, size / PAGE_SIZE),
        });
        break;
      case "memtrace":
        // memtrace_free(): arch_create_linear_mapping(), __ClearPageOffline(), free_contig_range().
        steps.push(
          {
            name: "arch_create_linear_mapping",
            run: () => k.arch.archCreateLinearMapping(0, start, size, {}),
          },
          {
            name: "free_contig_range",
            run: () => {
              k.alloc.setPageState(start / PAGE_SIZE, size / PAGE_SIZE, PS_KERNEL); // __ClearPageOffline()
              k.alloc.adjustManagedPageCount(start / PAGE_SIZE, size / PAGE_SIZE);
              k.work.add("pagesMarkedOffline", size / PAGE_SIZE);
              return k.contig.freeContigRange(start / PAGE_SIZE, size / PAGE_SIZE);
            },
          },
        );
        break;
      case "fake-offline":
        steps.push({
          name: "fake_online",
          run: () => {
            fakeOnline(k, start, size);
            return 0;
          },
        });
        break;
      default: {
        const never: never = this.kind;
        throw new Error(`unknown strategy ${String(never)}`);
      }
    }
    const r = runSteps(k, steps, onPhase);
    if (!r.err) this.down.delete(start);
    return r;
  }
}

/** A strategy's driver on machine k. */
export function createStrategy(k: Kernel, kind: StrategyKind): PowerStrategy {
  return new Strategy(k, kind);
}

const perKernel = new WeakMap<Kernel, Map<StrategyKind, PowerStrategy>>();

/** The one driver per strategy of machine k (the `call power_down`/`power_up` statements use these). */
export function strategyOf(k: Kernel, kind: StrategyKind): PowerStrategy {
  let m = perKernel.get(k);
  if (!m) perKernel.set(k, (m = new Map()));
  let s = m.get(kind);
  if (!s) m.set(kind, (s = createStrategy(k, kind)));
  return s;
}

export function isStrategyKind(s: string): s is StrategyKind {
  return (STRATEGY_KINDS as readonly string[]).includes(s);
}

// Run the steps in order; on a failure undo the ones done, in reverse.
function runSteps(k: Kernel, steps: readonly Step[], onPhase: PhaseHook | undefined): StrategyResult {
  const phases: PhaseResult[] = [];
  const phase = (name: string, fn: () => number): number => {
    const before = k.work.snapshot();
    const err = k.auditor.during(name, () => k.work.withPhase(name, fn));
    const p: PhaseResult = { name, err, work: k.work.since(before) };
    phases.push(p);
    onPhase?.(p);
    return err;
  };
  for (let i = 0; i < steps.length; i++) {
    const err = phase(steps[i].name, () => steps[i].run());
    if (!err) continue;
    for (let j = i - 1; j >= 0; j--) {
      const undo = steps[j].undo;
      if (undo)
        phase(`undo ${steps[j].name}`, () => {
          undo();
          return 0;
        });
    }
    return { err, phases };
  }
  return { err: 0, phases };
}

/**
 * offline_and_remove_memory() of the range: in one call, or (memmap_on_memory:
 * try_remove_memory() refuses more than one block then) block by block, as
 * virtio-mem does; a failure adds and onlines again the blocks removed so far.
 */
function removeRange(k: Kernel, start: number, size: number, st: DownState): number {
  if (!st.memmapOnMemory) return k.hotplug.offlineAndRemoveMemory(start, size);
  const bs = k.memory.blockSizeBytes;
  for (let s = start; s < start + size; s += bs) {
    const rc = k.hotplug.offlineAndRemoveMemory(s, bs);
    if (rc) {
      if (s > start && !addAgain(k, start, s - start, st)) onlineBlocks(k, start, s - start, st.onlineTypes);
      return rc;
    }
  }
  return 0;
}

/**
 * add_memory_driver_managed() of the range as it was added: whole, or (with
 * memmap_on_memory, which 6.1 supports only for one block at a time) block by
 * block with MHP_MEMMAP_ON_MEMORY | MHP_MERGE_RESOURCE; a failure removes the
 * blocks added so far. 0 or -errno.
 */
function addAgain(k: Kernel, start: number, size: number, st: DownState): number {
  const nid = st.mgid >= 0 ? st.mgid : 0;
  const group = st.mgid >= 0 ? MHP_NID_IS_MGID : MHP_NONE;
  if (!st.memmapOnMemory) return k.hotplug.addMemoryDriverManaged(nid, start, size, st.resName, group);
  const bs = k.memory.blockSizeBytes;
  for (let s = start; s < start + size; s += bs) {
    const rc = k.hotplug.addMemoryDriverManaged(
      nid,
      s,
      bs,
      st.resName,
      MHP_MEMMAP_ON_MEMORY | MHP_MERGE_RESOURCE | group,
    );
    if (rc) {
      for (let d = start; d < s; d += bs) k.hotplug.removeMemory(d, bs);
      return rc;
    }
  }
  return 0;
}

/**
 * The memory group the range's blocks were added in (the driver's own: RFC v2
 * takes the owner as its mgid), or -1 when the first block has none (the call
 * then refuses with -EINVAL).
 */
function groupOf(k: Kernel, start: number, size: number): number {
  let mgid = -1;
  k.hotplug.walkMemoryBlocks(start, size, (mem) => {
    mgid = mem.group?.id ?? -1;
    return 1;
  });
  return mgid;
}

/** How each block of the range is onlined now (its zone), so it can be onlined the same way again. */
function onlineTypesOf(k: Kernel, start: number, size: number): OnlineType[] {
  const out: OnlineType[] = [];
  k.hotplug.walkMemoryBlocks(start, size, (mem) => {
    const zone = k.hotplug.pfnToOnlineZone(k.memory.blockStartPfn(mem));
    out.push(
      zone === undefined ? MMOP_OFFLINE : zone === ZONE_MOVABLE ? MMOP_ONLINE_MOVABLE : MMOP_ONLINE_KERNEL,
    );
    return 0;
  });
  return out;
}

/** The name of the busy System RAM resource at start ("System RAM (NAME)"). */
function systemRamName(k: Kernel, start: number): string {
  let name = "System RAM (memhp)";
  for (const r of k.resources.resources()) {
    const want = IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY;
    if ((r.flags & want) >>> 0 === want >>> 0 && r.start <= BigInt(start) && BigInt(start) <= r.end)
      name = r.name;
  }
  return name;
}

/**
 * device_offline() of every block of the range under device_hotplug_lock (what
 * offline_and_remove_memory() does before removing); on a failure the blocks
 * offlined so far are onlined again. 0 or -errno.
 */
function offlineBlocks(k: Kernel, start: number, size: number): number {
  const done: number[] = [];
  k.locks.lockDeviceHotplug("mem_power_offline");
  try {
    const types = onlineTypesOf(k, start, size);
    let i = 0;
    const rc = k.hotplug.walkMemoryBlocks(start, size, (mem) => {
      const r = k.memory.deviceOffline(mem);
      if (r < 0) return r;
      if (r === 0) done.push(i);
      i++;
      return 0;
    });
    if (rc) {
      let j = 0;
      k.hotplug.walkMemoryBlocks(start, size, (mem) => {
        if (done.includes(j)) {
          mem.onlineType = types[j];
          k.memory.deviceOnline(mem);
        }
        j++;
        return 0;
      });
    }
    return rc;
  } finally {
    k.locks.unlockDeviceHotplug();
  }
}

/** device_online() of every block of the range with its saved online type (an offline one stays offline). */
function onlineBlocks(k: Kernel, start: number, size: number, types: readonly OnlineType[]): number {
  k.locks.lockDeviceHotplug("mem_power_online");
  try {
    let i = 0;
    return k.hotplug.walkMemoryBlocks(start, size, (mem) => {
      const t = types[i++] ?? MMOP_OFFLINE;
      if (t === MMOP_OFFLINE) return 0;
      mem.onlineType = t;
      const r = k.memory.deviceOnline(mem);
      return r < 0 ? r : 0;
    });
  } finally {
    k.locks.unlockDeviceHotplug();
  }
}

/**
 * arch/powerpc/platforms/powernv/memtrace.c: memtrace_clear_range(): zero
 * every page (it is written: its lines are dirty), then flush the data cache
 * over the range (flush_dcache_range_chunked()): no dirty line is left.
 */
function memtraceClear(k: Kernel, start: number, size: number): void {
  k.hw.cache.markDirty(start / PAGE_SIZE, size / PAGE_SIZE);
  k.work.add("cacheLinesCleaned", size / CACHE_LINE_SIZE);
  k.hw.cache.clean(start / PAGE_SIZE, size / PAGE_SIZE);
}

/**
 * drivers/virtio/virtio_mem.c: virtio_mem_fake_offline() of each sub-block:
 * alloc_contig_range(), virtio_mem_set_fake_offline() (PageOffline), and
 * adjust_managed_page_count(-nr_pages). On a failure the sub-blocks taken so
 * far are given back (virtio_mem_fake_online()). 0 or -errno.
 */
function fakeOffline(k: Kernel, start: number, size: number): number {
  const first = start / PAGE_SIZE;
  const end = (start + size) / PAGE_SIZE;
  for (let pfn = first; pfn < end; pfn += FAKE_OFFLINE_SUBBLOCK_PAGES) {
    const rc = k.contig.allocContigRange(pfn, pfn + FAKE_OFFLINE_SUBBLOCK_PAGES);
    if (rc) {
      if (pfn > first) fakeOnline(k, start, (pfn - first) * PAGE_SIZE);
      return rc;
    }
    k.alloc.setPageState(pfn, FAKE_OFFLINE_SUBBLOCK_PAGES, PS_OFFLINE);
    k.alloc.adjustManagedPageCount(pfn, -FAKE_OFFLINE_SUBBLOCK_PAGES);
  }
  return 0;
}

/** drivers/virtio/virtio_mem.c: virtio_mem_fake_online() of pages taken by fakeOffline(). */
function fakeOnline(k: Kernel, start: number, size: number): void {
  const first = start / PAGE_SIZE;
  const end = (start + size) / PAGE_SIZE;
  for (let pfn = first; pfn < end; pfn += FAKE_OFFLINE_SUBBLOCK_PAGES) {
    k.alloc.setPageState(pfn, FAKE_OFFLINE_SUBBLOCK_PAGES, PS_KERNEL); // virtio_mem_clear_fake_offline()
    k.contig.freeContigRange(pfn, FAKE_OFFLINE_SUBBLOCK_PAGES);
    k.alloc.adjustManagedPageCount(pfn, FAKE_OFFLINE_SUBBLOCK_PAGES);
  }
}
