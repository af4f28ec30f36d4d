// mm/vmstat.c: /proc/zoneinfo as zoneinfo_show_print() prints it, for the Debian
// 6.1 cloud configs (6.12's: the lines it adds, docs/kernel-versions.md) (CONFIG_NUMA, CONFIG_SMP; amd64 also has CONFIG_ZONE_DEVICE: a
// fifth, always empty zone, which arm64's does not). Per-node and event counters
// the model does not track print 0.

import { calculateNormalThreshold } from "../mm/page_alloc.js";
import type { Kernel } from "../kernel/kernel.js";
import { PS_KERNEL, PS_MOVABLE, PS_PINNED, PS_RECLAIMABLE } from "../mm/memmap.js";
import { MAX_NR_ZONES, ZONE_NAMES } from "../mm/mmzone.js";
import type { ZoneInfo } from "../mm/page_alloc.js";

/** mm/vmstat.c: vmstat_text[] node items of 6.1, in order. */
const NODE_STAT_NAMES = [
  "nr_inactive_anon",
  "nr_active_anon",
  "nr_inactive_file",
  "nr_active_file",
  "nr_unevictable",
  "nr_slab_reclaimable",
  "nr_slab_unreclaimable",
  "nr_isolated_anon",
  "nr_isolated_file",
  "workingset_nodes",
  "workingset_refault_anon",
  "workingset_refault_file",
  "workingset_activate_anon",
  "workingset_activate_file",
  "workingset_restore_anon",
  "workingset_restore_file",
  "workingset_nodereclaim",
  "nr_anon_pages",
  "nr_mapped",
  "nr_file_pages",
  "nr_dirty",
  "nr_writeback",
  "nr_writeback_temp",
  "nr_shmem",
  "nr_shmem_hugepages",
  "nr_shmem_pmdmapped",
  "nr_file_hugepages",
  "nr_file_pmdmapped",
  "nr_anon_transparent_hugepages",
  "nr_vmscan_write",
  "nr_vmscan_immediate_reclaim",
  "nr_dirtied",
  "nr_written",
  "nr_throttled_written",
  "nr_kernel_misc_reclaimable",
  "nr_foll_pin_acquired",
  "nr_foll_pin_released",
  "nr_kernel_stack",
  "nr_page_table_pages",
  "nr_sec_page_table_pages",
  "nr_swapcached",
  "pgpromote_success",
  "pgpromote_candidate",
];

/**
 * vmstat_text[] node items of 6.12 that 6.1 does not have, each with the item
 * it follows: NR_IOMMU_PAGES (6.11), PGDEMOTE_{KSWAPD,DIRECT,KHUGEPAGED} (a
 * node stat since 6.10; before, vm events).
 */
const NODE_STAT_NAMES_6_12 = NODE_STAT_NAMES.flatMap((n) =>
  n === "nr_sec_page_table_pages"
    ? [n, "nr_iommu_pages"]
    : n === "pgpromote_candidate"
      ? [n, "pgdemote_kswapd", "pgdemote_direct", "pgdemote_khugepaged"]
      : [n],
);

/**
 * vmstat_text[] node items of 7.2 (Debian sid's configs, both arches): 6.12's
 * without NR_WRITEBACK_TEMP, with NR_VMALLOC, PGPROMOTE_CANDIDATE_NRL,
 * PGDEMOTE_PROACTIVE, the reclaim counters that became node stats
 * (PGSTEAL_*, PGSCAN_*, PGREFILL), NR_HUGETLB, NR_BALLOON_PAGES,
 * NR_KERNEL_FILE_PAGES and NR_GPU_ACTIVE/RECLAIM, in 7.2's order.
 */
const NODE_STAT_NAMES_7_2 = NODE_STAT_NAMES_6_12.filter((n) => n !== "nr_writeback_temp").flatMap((n) =>
  n === "nr_foll_pin_released"
    ? [n, "nr_vmalloc"]
    : n === "pgpromote_candidate"
      ? [n, "pgpromote_candidate_nrl"]
      : n === "pgdemote_khugepaged"
        ? [
            n,
            "pgdemote_proactive",
            ...["kswapd", "direct", "khugepaged", "proactive", "anon", "file"].map((w) => `pgsteal_${w}`),
            ...["kswapd", "direct", "khugepaged", "proactive", "anon", "file"].map((w) => `pgscan_${w}`),
            "pgrefill",
            "nr_hugetlb",
            "nr_balloon_pages",
            "nr_kernel_file_pages",
            "nr_gpu_active",
            "nr_gpu_reclaim",
          ]
        : [n],
);

/**
 * What /proc/zoneinfo prints, by release: data, so that a release is one
 * entry (docs/kernel-versions.md has the commits).
 */
interface ZoneinfoFormat {
  /** the per-node items, in order */
  nodeStats: readonly string[];
  /** WMARK_PROMO's line (6.12) */
  promo: boolean;
  /** the zone items: NR_FREE_PAGES_BLOCKS after nr_free_pages, and NR_BOUNCE gone (7.2) */
  freePagesBlocks: boolean;
  noBounce: boolean;
  /** each pageset's high_min and high_max, the labels padded to them (7.2) */
  pcpHighMinMax: boolean;
  /** reserved_highatomic and free_highatomic after start_pfn (7.2) */
  highatomic: boolean;
}

function zoneinfoFormat(k: Kernel): ZoneinfoFormat {
  if (k.atLeast("7.2"))
    return {
      nodeStats: NODE_STAT_NAMES_7_2,
      promo: true,
      freePagesBlocks: true,
      noBounce: true,
      pcpHighMinMax: true,
      highatomic: true,
    };
  const v612 = k.atLeast("6.12");
  return {
    nodeStats: v612 ? NODE_STAT_NAMES_6_12 : NODE_STAT_NAMES,
    promo: v612,
    freePagesBlocks: false,
    noBounce: false,
    pcpHighMinMax: false,
    highatomic: false,
  };
}

/** NR_VM_NUMA_EVENT_ITEMS */
const NUMA_EVENT_NAMES = [
  "numa_hit",
  "numa_miss",
  "numa_foreign",
  "numa_interleave",
  "numa_local",
  "numa_other",
];

/**
 * The zones /proc/zoneinfo lists: ZONE_DEVICE only where the config has it
 * (x86_64; arm64 from Debian 13's 6.12 on).
 */
export function zoneinfoZoneNames(k: Kernel): string[] {
  const names = ZONE_NAMES.slice(0, MAX_NR_ZONES);
  return k.kconfig.zoneDevice ? [...names, "Device"] : names;
}

function stateSum(k: Kernel, state: number): number {
  let n = 0;
  for (const z of k.pgdat.zones) n += z.nrPages[state];
  return n;
}

/** The node counters the model knows (the rest are 0). */
export function nodeStats(k: Kernel): Map<string, number> {
  const anon = stateSum(k, PS_MOVABLE) + stateSum(k, PS_PINNED);
  return new Map([
    ["nr_active_anon", anon],
    ["nr_anon_pages", anon],
    ["nr_slab_reclaimable", stateSum(k, PS_RECLAIMABLE)],
    ["nr_slab_unreclaimable", stateSum(k, PS_KERNEL)],
  ]);
}

function zoneHeader(
  z: Pick<ZoneInfo, "free" | "boost" | "min" | "low" | "high" | "spanned" | "present" | "managed" | "cma">,
  v612: boolean,
): string {
  return (
    `\n  pages free     ${z.free}` +
    `\n        boost    ${z.boost}` +
    `\n        min      ${z.min}` +
    `\n        low      ${z.low}` +
    `\n        high     ${z.high}` +
    // 6.12 prints WMARK_PROMO too (high plus the low-high step)
    (v612 ? `\n        promo    ${z.high + (z.high - z.low)}` : "") +
    `\n        spanned  ${z.spanned}` +
    `\n        present  ${z.present}` +
    `\n        managed  ${z.managed}` +
    `\n        cma      ${z.cma}`
  );
}

/** zoneinfo_show() → zoneinfo_show_print() for every zone of node 0. */
export function zoneinfoShow(k: Kernel): string {
  let out = "";
  const infos = Array.from({ length: MAX_NR_ZONES }, (_, i) => k.alloc.zoneInfo(i));
  const firstPopulated = infos.findIndex((z) => z.present > 0);
  const stats = nodeStats(k);
  const names = zoneinfoZoneNames(k);
  const fmt = zoneinfoFormat(k);
  const v612 = fmt.promo;
  const nodeStatNames = fmt.nodeStats;
  for (let i = 0; i < names.length; i++) {
    out += `Node 0, zone ${names[i].padStart(8)}`;
    if (i === firstPopulated) {
      out += "\n  per-node stats";
      for (const n of nodeStatNames) out += `\n      ${n.padEnd(12)} ${stats.get(n) ?? 0}`;
    }
    if (i >= MAX_NR_ZONES) {
      // ZONE_DEVICE: never populated, no lowmem_reserve of its own.
      out += zoneHeader(
        {
          free: 0,
          boost: 0,
          min: 0,
          low: 0,
          high: 0,
          spanned: 0,
          present: 0,
          managed: 0,
          cma: 0,
        },
        v612,
      );
      out += `\n        protection: (${new Array(names.length).fill(0).join(", ")})\n`;
      continue;
    }
    const z = infos[i];
    out += zoneHeader(z, v612);
    // With ZONE_DEVICE, lowmem_reserve[] has a column for it: the reserve against it equals the one against ZONE_MOVABLE.
    const prot =
      names.length > MAX_NR_ZONES ? [...z.protection, z.protection[MAX_NR_ZONES - 1]] : [...z.protection];
    out += `\n        protection: (${prot.join(", ")})`;
    if (z.present === 0) {
      out += "\n";
      continue;
    }
    for (const [n, v] of Object.entries(z.vmStat)) {
      if (fmt.noBounce && n === "nr_bounce") continue;
      out += `\n      ${n.padEnd(12)} ${v}`;
      if (fmt.freePagesBlocks && n === "nr_free_pages")
        out += `\n      ${"nr_free_pages_blocks".padEnd(12)} ${z.freePagesBlocks}`;
      // NR_UNACCEPTED (6.5, CONFIG_UNACCEPTED_MEMORY, x86_64's only): follows
      // NR_FREE_CMA_PAGES; no TDX/SEV-SNP guest here
      if (k.kconfig.unacceptedMemory && n === "nr_free_cma") out += `\n      ${"nr_unaccepted".padEnd(12)} 0`;
    }
    for (const n of NUMA_EVENT_NAMES) out += `\n      ${n.padEnd(12)} 0`;
    // for_each_online_cpu(): the CPU's per_cpu_pages of the zone
    out += "\n  pagesets";
    for (const p of z.pagesets)
      out += fmt.pcpHighMinMax
        ? `\n    cpu: ${p.cpu}\n              count:    ${p.count}\n              high:     ${p.high}` +
          `\n              batch:    ${p.batch}\n              high_min: ${p.high}\n              high_max: ${p.highMax}`
        : `\n    cpu: ${p.cpu}\n              count: ${p.count}\n              high:  ${p.high}\n              batch: ${p.batch}`;
    // as refresh_zone_stat_thresholds() last set it
    const threshold = k.pgdat.zones[i].statThreshold ?? calculateNormalThreshold(z.managed, k.nrCpus);
    out += `\n  vm stats threshold: ${threshold}`;
    out += `\n  node_unreclaimable:  0\n  start_pfn:           ${z.startPfn}`;
    // no highatomic reserve in the model's runs (no high-order atomic allocation fails)
    if (fmt.highatomic) out += `\n  reserved_highatomic: 0\n  free_highatomic:     0`;
    out += "\n";
  }
  return out;
}
