// What the web page draws, read off a booted model: the memory blocks with their
// state and zones, /proc/iomem's resources, the leaves of the linear map and the
// vmemmap (mm/ptdump.ts: ptdumpRange()), the page-table page count, the devices
// and the timeline of operations. Read-only: nothing here changes the model.

import { KERNEL_VERSIONS } from "../kernel/linux_version.js";
import { PAGE_SIZE } from "../mm/constants.js";
import { DriverCalls } from "../kernel/calls.js";
import type { Kernel } from "../kernel/kernel.js";
import type { Resource } from "../kernel/resource.js";
import {
  NR_PAGE_STATES,
  PS_BUDDY,
  PS_FREE,
  PS_KERNEL,
  PS_MOVABLE,
  PS_PGTABLE,
  PS_PINNED,
  PS_RECLAIMABLE,
  PS_RESERVED,
  PS_VMEMMAP,
} from "../mm/memmap.js";
import { ZONE_NAMES } from "../mm/mmzone.js";
import { ptdumpRange } from "../mm/ptdump.js";
import type { ShellSession } from "../shell/session.js";
import type {
  BlockView,
  DeviceView,
  LeafView,
  MachineView,
  ResourceView,
  VmemmapLeafView,
} from "./api-types.js";

/** Count every page's state only up to this many pages (64 GiB): the page reads them all. */
const MAX_COUNTED_PAGES = 1 << 24;

export function machineView(s: ShellSession): MachineView {
  const k = s.k;
  const read = (p: string): string => {
    const t = k.kernfs.read(p);
    return typeof t === "number" ? "" : t.trim();
  };
  const meminfo = k.alloc.siMeminfo();
  return {
    arch: k.board.config.arch,
    title: s.describeMachine(),
    kernel: s.kernelVersion,
    kernels: [...KERNEL_VERSIONS],
    memBytes: k.board.config.memBytes,
    maxmemBytes: k.board.config.maxmemBytes,
    blockSizeBytes: k.memory.blockSizeBytes,
    maxPhysAddr: k.maxPhysAddr,
    deviceRegion: { start: k.board.deviceMemoryBase, size: k.board.deviceMemorySize },
    blocks: blockViews(k),
    resources: resourceViews(k),
    linear: linearLeaves(k),
    vmemmap: vmemmapLeaves(k),
    tablePages: k.arch.pgtable.tablePages(),
    devices: deviceViews(k),
    meminfo: {
      memTotalKb: (meminfo.totalram * PAGE_SIZE) / 1024,
      memFreeKb: (meminfo.freeram * PAGE_SIZE) / 1024,
    },
    calls: DriverCalls.names(),
    autoOnline: read("/sys/devices/system/memory/auto_online_blocks"),
    timeline: s.timeline.map((e) => ({ ...e, counts: { ...e.counts } })),
  };
}

function blockViews(k: Kernel): BlockView[] {
  const m = k.memory;
  const pagesPerBlock = m.pagesPerBlock();
  const count = m.blocks.size * pagesPerBlock <= MAX_COUNTED_PAGES;
  const owners = deviceViews(k);
  const out: BlockView[] = [];
  const ids = [...m.blocks.keys()].sort((a, b) => a - b);
  for (const id of ids) {
    const mem = m.blocks.get(id)!;
    const startPfn = m.blockStartPfn(mem);
    const start = startPfn * PAGE_SIZE;
    const size = pagesPerBlock * PAGE_SIZE;
    const stateText = m.stateShow(mem).trim();
    const online = stateText === "online";
    const zones: string[] = [];
    if (online) {
      for (let z = 0; z < ZONE_NAMES.length; z++) {
        const zone = k.pgdat.zones[z];
        if (
          zone.spannedPages &&
          zone.zoneStartPfn < startPfn + pagesPerBlock &&
          zone.zoneStartPfn + zone.spannedPages > startPfn
        )
          if (mem.zone === undefined || mem.zone === z) zones.push(ZONE_NAMES[z]);
      }
    }
    const owner = owners.find((d) => d.start <= start && start < d.start + d.size);
    const view: BlockView = {
      id,
      start,
      size,
      state: stateText,
      zones,
      validZones: m.validZonesShow(mem).trim().split(/\s+/),
      vmemmapPages: mem.nrVmemmapPages,
      device: owner?.id,
      driverManaged: k.hotplug.rangeIsDriverManaged(start, size),
      rfcOwner: k.calls.ownerOfGroup(mem.group?.id),
      depopulated: mem.depopulated,
    };
    if (count) view.pages = pageUse(k, startPfn, pagesPerBlock);
    out.push(view);
  }
  return out;
}

function pageUse(k: Kernel, startPfn: number, nrPages: number): NonNullable<BlockView["pages"]> {
  const c = new Float64Array(NR_PAGE_STATES);
  k.memmap.countStates(startPfn, nrPages, c);
  const free = c[PS_BUDDY] + c[PS_FREE];
  const movable = c[PS_MOVABLE];
  const unmovable =
    c[PS_KERNEL] + c[PS_PGTABLE] + c[PS_VMEMMAP] + c[PS_RECLAIMABLE] + c[PS_PINNED] + c[PS_RESERVED];
  return { free, movable, unmovable, other: nrPages - free - movable - unmovable };
}

function resourceViews(k: Kernel): ResourceView[] {
  const out: ResourceView[] = [];
  const walk = (first: Resource | null, depth: number) => {
    for (let r = first; r; r = r.sibling) {
      out.push({ name: r.name, start: Number(r.start), end: Number(r.end), depth });
      if (depth < 1) walk(r.child, depth + 1);
    }
  };
  walk(k.resources.root.child, 0);
  return out;
}

function linearLeaves(k: Kernel): LeafView[] {
  const d = ptdumpRange(k.arch, 0n, BigInt(k.maxPhysAddr));
  return d.linear.map((r) => ({ start: Number(r.pa), size: Number(r.size), level: r.level }));
}

/**
 * The vmemmap leaves, block by block so that `selfHosted` says whether a leaf's
 * backing lies in the memmap_on_memory block it describes (boot memory's memmap
 * may happen to lie in its own block: that is not memmap_on_memory); a leaf wider
 * than a block is reported once.
 */
function vmemmapLeaves(k: Kernel): VmemmapLeafView[] {
  const base = k.arch.pfnToPageVa(0);
  const structPage = k.arch.pfnToPageVa(1) - base;
  const seen = new Set<string>();
  const out: VmemmapLeafView[] = [];
  const m = k.memory;
  const size = BigInt(m.blockSizeBytes);
  const ids = [...m.blocks.keys()].sort((a, b) => a - b);
  for (const id of ids) {
    const start = BigInt(m.blockStartPfn(m.blocks.get(id)!) * PAGE_SIZE);
    for (const r of ptdumpRange(k.arch, start, size).vmemmap) {
      if (seen.has(r.va)) continue;
      seen.add(r.va);
      const va = BigInt(r.va);
      const firstPfn = (va - base) / structPage;
      const pages = BigInt(r.size) / structPage;
      out.push({
        start: Number(firstPfn) * PAGE_SIZE,
        size: Number(pages) * PAGE_SIZE,
        level: r.level,
        selfHosted: r.inRange === true && m.blocks.get(id)!.nrVmemmapPages > 0,
      });
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

function deviceViews(k: Kernel): DeviceView[] {
  const out: DeviceView[] = [];
  for (const d of k.acpi.devices.values())
    out.push({ id: d.id, kind: "dimm", start: d.startAddr, size: d.length });
  for (const v of k.virtioMem.values())
    out.push({
      id: v.id,
      kind: "virtio-mem",
      start: v.addr,
      size: v.regionSize,
      requested: v.requestedSize,
      plugged: v.plugged,
    });
  return out.sort((a, b) => a.start - b.start);
}
