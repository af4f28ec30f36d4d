// procfs files the model shows: /proc/meminfo (fs/proc/meminfo.c), /proc/iomem
// (kernel/resource.c), /proc/zoneinfo and /proc/vmstat (mm/vmstat.c),
// /proc/buddyinfo. Numbers the model does not track (page cache, slab details,
// swap ...) print as 0; docs/divergences.md lists them.

import { EIO } from "../errno.js";
import type { Kernel } from "../kernel/kernel.js";
import { MAX_ORDER, PAGE_SIZE } from "../mm/constants.js";
import { PS_KERNEL, PS_MOVABLE, PS_PGTABLE, PS_PINNED, PS_RECLAIMABLE } from "../mm/memmap.js";
import { MAX_NR_ZONES } from "../mm/mmzone.js";
import { zoneinfoShow } from "./zoneinfo.js";

const kB = (pages: number) => (pages * PAGE_SIZE) / 1024;

function sumState(k: Kernel, state: number): number {
  let n = 0;
  for (const z of k.pgdat.zones) n += z.nrPages[state];
  return n;
}

/** fs/proc/meminfo.c: meminfo_proc_show() with show_val_kb()'s "%8lu kB" layout. */
export function meminfoShow(k: Kernel): string {
  const { totalram, freeram } = k.alloc.siMeminfo();
  const anon = sumState(k, PS_MOVABLE) + sumState(k, PS_PINNED);
  const sreclaim = sumState(k, PS_RECLAIMABLE);
  const sunreclaim = sumState(k, PS_KERNEL);
  // si_mem_available(): free minus the reserve, plus reclaimable slab (model: no page cache).
  const available = Math.max(0, freeram - k.alloc.totalreservePages + sreclaim - Math.min(sreclaim / 2, 0));
  const rows: [string, number][] = [
    ["MemTotal", kB(totalram)],
    ["MemFree", kB(freeram)],
    ["MemAvailable", kB(available)],
    ["Buffers", 0],
    ["Cached", 0],
    ["SwapCached", 0],
    ["Active", kB(anon)],
    ["Inactive", 0],
    ["Active(anon)", kB(anon)],
    ["Inactive(anon)", 0],
    ["Active(file)", 0],
    ["Inactive(file)", 0],
    ["Unevictable", 0],
    ["Mlocked", 0],
    ["SwapTotal", 0],
    ["SwapFree", 0],
    ["Zswap", 0],
    ["Zswapped", 0],
    ["Dirty", 0],
    ["Writeback", 0],
    ["AnonPages", kB(anon)],
    ["Mapped", 0],
    ["Shmem", 0],
    ["KReclaimable", kB(sreclaim)],
    ["Slab", kB(sreclaim + sunreclaim)],
    ["SReclaimable", kB(sreclaim)],
    ["SUnreclaim", kB(sunreclaim)],
    ["KernelStack", 0],
    ["PageTables", 0],
    ["SecPageTables", 0],
    ["NFS_Unstable", 0],
    ["Bounce", 0],
    ["WritebackTmp", 0],
    ["CommitLimit", kB(Math.floor(totalram / 2))],
    ["Committed_AS", kB(anon)],
    ["VmallocTotal", 34359738367],
    ["VmallocUsed", 0],
    ["VmallocChunk", 0],
    ["Percpu", 0],
    // CONFIG_MEMORY_FAILURE: num_poisoned_pages
    ...(k.kconfig.memoryFailure
      ? ([["HardwareCorrupted", kB(k.memoryFailure.numPoisonedPages)]] as [string, number][])
      : []),
    ["AnonHugePages", 0],
    ["ShmemHugePages", 0],
    ["ShmemPmdMapped", 0],
    ["FileHugePages", 0],
    ["FilePmdMapped", 0],
    ["HugePages_Total", 0],
    ["HugePages_Free", 0],
    ["HugePages_Rsvd", 0],
    ["HugePages_Surp", 0],
    ["Hugepagesize", 2048],
    ["Hugetlb", 0],
  ];
  const noUnit = new Set(["HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp"]);
  let out = "";
  for (const [name, v] of rows) {
    const label = `${name}:`.padEnd(16);
    out += noUnit.has(name) ? `${label}${String(v).padStart(5)}\n` : `${label}${String(v).padStart(8)} kB\n`;
  }
  for (const [name, v] of k.arch.archReportMeminfo())
    out += `${`${name}:`.padEnd(16)}${String(v).padStart(8)} kB\n`;
  void PS_PGTABLE;
  return out;
}

/** mm/vmstat.c: the zone items of /proc/vmstat (summed over zones) and a few node/event items. */
export function vmstatShow(k: Kernel): string {
  const sums = new Map<string, number>();
  for (let i = 0; i < MAX_NR_ZONES; i++) {
    for (const [n, v] of Object.entries(k.alloc.zoneInfo(i).vmStat)) sums.set(n, (sums.get(n) ?? 0) + v);
  }
  let out = "";
  for (const [n, v] of sums) out += `${n} ${v}\n`;
  out += `nr_anon_pages ${sumState(k, PS_MOVABLE) + sumState(k, PS_PINNED)}\n`;
  out += `nr_slab_reclaimable ${sumState(k, PS_RECLAIMABLE)}\n`;
  out += `nr_slab_unreclaimable ${sumState(k, PS_KERNEL)}\n`;
  out += `pgmigrate_success ${k.work.total.pagesMigrated}\n`;
  return out;
}

/** mm/vmstat.c: frag_show() (/proc/buddyinfo) for the populated zones. */
export function buddyinfoShow(k: Kernel): string {
  let out = "";
  for (let i = 0; i < MAX_NR_ZONES; i++) {
    const zi = k.alloc.zoneInfo(i);
    if (zi.present === 0) continue;
    out += `Node 0, zone ${zi.name.padStart(8)} `;
    for (let o = 0; o < MAX_ORDER; o++) out += `${String(zi.nrFree[o]).padStart(6)} `;
    out += "\n";
  }
  return out;
}

export function registerProcfs(k: Kernel): void {
  const fs = k.kernfs;
  const ro = (name: string, show: () => string) => fs.addFile("/proc", name, 0o444, { show }, EIO);
  ro("meminfo", () => meminfoShow(k));
  ro("iomem", () => k.resources.procIomem());
  ro("zoneinfo", () => zoneinfoShow(k));
  ro("vmstat", () => vmstatShow(k));
  ro("buddyinfo", () => buddyinfoShow(k));
}
