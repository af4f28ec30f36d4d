// The JSON the `memhp serve` API speaks (src/web/server.ts), shared with the page
// (web-ui/src/). Types only: the page imports this file too, so nothing here may
// import Node modules. Physical addresses are numbers (every physical address
// memhp models is below 2^52, inside a double's exact range).

/** GET /api/state */
export interface MachineView {
  arch: string;
  /** "x86_64 mem=1G maxmem=8G, 4 DIMM slots" */
  title: string;
  /** The Linux release the model runs, and those POST /api/reset {"kernel"} can switch to. */
  kernel: string;
  kernels: string[];
  memBytes: number;
  maxmemBytes: number;
  blockSizeBytes: number;
  /** The strip runs from 0 to here (boot RAM and the device-memory region, section-aligned). */
  maxPhysAddr: number;
  /** Where QEMU places DIMMs and virtio-mem devices. */
  deviceRegion: { start: number; size: number };
  blocks: BlockView[];
  /** /proc/iomem: resources under iomem_resource, depth 0 (top level) and 1. */
  resources: ResourceView[];
  /** Leaves of the linear map over [0, maxPhysAddr), runs merged per level. */
  linear: LeafView[];
  /** Leaves of the vmemmap, as the physical range whose struct pages they map. */
  vmemmap: VmemmapLeafView[];
  /** Page-table pages of the kernel page tables (pgtable.tablePages()). */
  tablePages: number;
  devices: DeviceView[];
  meminfo: { memTotalKb: number; memFreeKb: number };
  /** Functions `call` knows (kernel/calls.ts): the page offers the ones that take a range. */
  calls: string[];
  /** The memory_hotplug.auto_online_blocks policy. */
  autoOnline: string;
  timeline: TimelineView[];
}

export interface BlockView {
  /** memoryN */
  id: number;
  start: number;
  size: number;
  /** state_show(): "online", "offline", "going-offline" */
  state: string;
  /** The zone(s) the block's pages are in, online: ["Normal"], ["DMA", "DMA32"]; offline: []. */
  zones: string[];
  /** valid_zones: online: its zone or "none"; offline: where it may go, default first. */
  validZones: string[];
  /** memmap_on_memory: pages at the start of the block holding its own memmap. */
  vmemmapPages: number;
  /** The DIMM or virtio-mem device the block belongs to; undefined for boot memory. */
  device?: string;
  /** Its System RAM resource is driver-managed ("System RAM (virtio_mem)"): the RFC's calls apply. */
  driverManaged: boolean;
  /** RFC v2: the test module's owner (`owner=N`) whose memory group holds the block; undefined: another driver's. */
  rfcOwner?: number;
  /** The RFC: its linear mapping was removed by depopulate_range_driver_managed(). */
  depopulated: boolean;
  /** Pages by use, when the machine is small enough to count them (every page is read). */
  pages?: { free: number; movable: number; unmovable: number; other: number };
}

export interface ResourceView {
  name: string;
  start: number;
  /** inclusive, as /proc/iomem prints */
  end: number;
  depth: number;
}

export interface LeafView {
  /** physical start */
  start: number;
  size: number;
  /** leaf level: "pud" (1G), "pmd" (2M), "pte" (4K) */
  level: string;
}

export interface VmemmapLeafView extends LeafView {
  /** The struct pages' backing lies inside the range they describe (memmap_on_memory). */
  selfHosted: boolean;
}

export interface DeviceView {
  id: string;
  kind: "dimm" | "virtio-mem";
  start: number;
  size: number;
  /** virtio-mem: requested and plugged sizes */
  requested?: number;
  plugged?: number;
}

export interface TimelineView {
  seq: number;
  command: string;
  op: string;
  result: string;
  /** Why it was refused: the kernel's message or the model's reason. */
  reason?: string;
  counts: Record<string, number>;
  blocks?: { added: string[]; removed: string[] };
}

/** POST /api/command {"command": "..."} */
export interface CommandRequest {
  command: string;
}

export interface CommandResponse {
  status: number;
  out: string;
  err: string;
  entry?: TimelineView;
}

/** Any 4xx/5xx answer. */
export interface ErrorResponse {
  error: string;
}
