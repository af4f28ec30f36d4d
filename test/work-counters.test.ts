// The work counters (src/kernel/work.ts) checked exactly on small operations,
// each expectation worked out by hand from the kernel's code (Linux 6.1):
//
// - onlining one 128 MiB block: move_pfn_range_to_zone() → memmap_init_range()
//   initialises 32768 struct pages; online_pages_range() hands the same 32768
//   pages to the buddy (generic_online_page() → __free_pages_core()).
// - a 1 GiB DIMM on x86_64 (direct map with 1 GiB pages, the vmemmap with
//   2 MiB pages): 1 PUD leaf for the direct map, 8 PMD leaves (one per 128 MiB
//   section: 32768 × 64 B = 2 MiB of struct pages) for the vmemmap, no table
//   page (the tables covering both already exist at boot).
// - the same DIMM on arm64 with rodata=full: the linear map is page granular
//   (NO_BLOCK_MAPPINGS | NO_CONT_MAPPINGS): 262144 PTEs in 512 PTE tables, hung
//   from 512 PMD entries of one new PMD table, hung from 1 PUD entry; plus the
//   8 PMD blocks of the vmemmap: 513 table pages, 520 PMD entries.
// - removal clears the same entries and frees the same pages; the TLB flushes
//   follow arch/x86/mm/init_64.c (flush_tlb_all() at the end of every
//   remove_pagetable()) and arch/arm64/mm/mmu.c (one TLBI per freed vmemmap
//   leaf and per freed table, flush_tlb_kernel_range() → flush_tlb_all() for a
//   range above MAX_TLBI_OPS pages).
// - each memory block device: kobject + KOBJ_ADD uevent, and the sysfs nodes
//   the model registers (see SYSFS_PER_BLOCK below).

import { test } from "node:test";
import assert from "node:assert/strict";
import { Kernel, type MachineConfig } from "../src/kernel/kernel.js";
import type { WorkCounts, WorkKey } from "../src/kernel/work.js";

const G = 2 ** 30;
const M = 2 ** 20;
const BLOCK_PAGES = (128 * M) / 4096; // 32768
const SECTIONS_PER_G = 8;
/** struct pages of 1 GiB (262144 × 64 B = 16 MiB) in 4 KiB vmemmap pages. */
const VMEMMAP_PAGES_PER_G = ((G / 4096) * 64) / 4096; // 4096

/**
 * sysfs nodes of one hot-added memory block device in the model, derived from
 * what drivers/base/memory.c and the driver core create for it:
 *   memoryN/                                        1 (kobject_add())
 *   phys_index state phys_device removable valid_zones  5 (memory_memblk_attr_group)
 *   online uevent                                   2 (device core attributes)
 *   subsystem                                       1 (link to the bus)
 *   power/                                          1 (dpm_sysfs_add(): an empty group)
 *   node0 → and nodeN/memoryN ←                     2 (register_memory_blocks_under_node())
 * and, for an ACPI DIMM, firmware_node             1 (acpi_bind_memory_blocks())
 */
const SYSFS_PER_BLOCK = 1 + 5 + 2 + 1 + 1 + 2;
const SYSFS_PER_DIMM_BLOCK = SYSFS_PER_BLOCK + 1;

const PT_KEYS: readonly WorkKey[] = [
  "pteWritten",
  "pmdWritten",
  "pudWritten",
  "pgdWritten",
  "pteCleared",
  "pmdCleared",
  "pudCleared",
  "pgdCleared",
  "tablePagesAllocated",
  "tablePagesFreed",
  "tlbFlushPage",
  "tlbFlushRange",
  "tlbFlushAll",
];

function boot(cfg: Partial<MachineConfig> & Pick<MachineConfig, "arch">): Kernel {
  return Kernel.boot({ memBytes: G, maxmemBytes: 8 * G, ...cfg });
}

function measure(k: Kernel, fn: () => unknown): WorkCounts {
  const before = k.work.snapshot();
  fn();
  return k.work.since(before);
}

/** Every key of `keys` has exactly the value of `want` (absent: 0). */
function expectCounts(got: WorkCounts, want: WorkCounts, keys: readonly WorkKey[] = []): void {
  for (const key of new Set<WorkKey>([...(Object.keys(want) as WorkKey[]), ...keys]))
    assert.equal(got[key] ?? 0, want[key] ?? 0, `${key}: got ${got[key] ?? 0}, want ${want[key] ?? 0}`);
}

function write(k: Kernel, path: string, value: string): void {
  const r = k.kernfs.write(path, value);
  assert.ok(typeof r !== "number" || r >= 0, `write ${value} > ${path}: ${r}`);
}

const state = (id: number) => `/sys/devices/system/memory/memory${id}/state`;

test("x86_64: hot-adding a 1 GiB DIMM writes 1 PUD leaf and 8 vmemmap PMD leaves, and 8 block devices", () => {
  const k = boot({ arch: "x86_64" });
  const c = measure(k, () => assert.equal(k.host.dimmAdd("d1", G).err, 0));
  expectCounts(
    c,
    {
      pudWritten: 1,
      pmdWritten: SECTIONS_PER_G,
      vmemmapPagesAllocated: VMEMMAP_PAGES_PER_G,
      sectionsActivated: SECTIONS_PER_G,
      memoryBlocksRegistered: 8,
      kobjects: 8,
      uevents: 8,
      sysfsFiles: 8 * SYSFS_PER_DIMM_BLOCK,
      resourcesRequested: 1,
    },
    [...PT_KEYS, "memmapPagesInit", "pagesToBuddy", "synchronizeRcu", "notifierCalls"],
  );
});

test("x86_64: onlining one 128 MiB block initialises 32768 struct pages and frees 32768 pages to the buddy", () => {
  const k = boot({ arch: "x86_64" });
  k.host.dimmAdd("d1", G); // blocks 32..39 at 4 GiB
  const c = measure(k, () => write(k, state(33), "online_movable"));
  expectCounts(
    c,
    {
      memmapPagesInit: BLOCK_PAGES,
      pagesToBuddy: BLOCK_PAGES,
      zoneSpanUpdates: 1,
      // set_zone_contiguous() runs in move_pfn_range_to_zone(), before
      // online_pages_range() marks the sections online: the first pageblock
      // fails pfn_to_online_page() and the scan stops there.
      pageblocksScanned: 1,
      // ZONE_MOVABLE was empty: online_pages() rebuilds the zonelists.
      zonelistRebuilds: 1,
      uevents: 1, // KOBJ_ONLINE
      notifierCalls: 0, // no memory notifier registered on this x86_64 machine
    },
    [...PT_KEYS, "pagesFromBuddy", "drainAllPages", "lruAddDrainAll", "synchronizeRcuExpedited"],
  );
});

test("x86_64: offlining the block drains every CPU once, waits one expedited grace period and takes the pages back", () => {
  const k = boot({ arch: "x86_64" });
  k.host.dimmAdd("d1", G);
  write(k, state(33), "online_movable");
  const c = measure(k, () => write(k, state(33), "offline"));
  expectCounts(
    c,
    {
      pagesFromBuddy: BLOCK_PAGES, // __offline_isolated_pages()
      pagesIsolated: BLOCK_PAGES, // every page free: all moved to the isolate lists
      drainAllPages: 1, // zone_pcp_disable()
      lruAddDrainAll: 1, // lru_cache_disable()
      synchronizeRcuExpedited: 1, // lru_cache_disable()
      cpusReached: 2 * k.nrCpus,
      zonelistRebuilds: 1, // ZONE_MOVABLE is empty again
      zoneSpanUpdates: 1,
      uevents: 1, // KOBJ_OFFLINE
    },
    [...PT_KEYS, "memmapPagesInit", "pagesToBuddy", "pagesMigrated", "synchronizeRcu"],
  );
});

test("x86_64: removing the DIMM clears what the add wrote, flushes the TLB 9 times and frees the memmap", () => {
  const k = boot({ arch: "x86_64" });
  k.host.dimmAdd("d1", G);
  const tables = k.arch.pgtable.tablePages();
  const c = measure(k, () => assert.equal(k.host.dimmDel("d1").err, 0));
  expectCounts(
    c,
    {
      pudCleared: 1,
      pmdCleared: SECTIONS_PER_G,
      // one remove_pagetable() per section's vmemmap_free(), one for the direct map
      tlbFlushAll: SECTIONS_PER_G + 1,
      vmemmapPagesFreed: VMEMMAP_PAGES_PER_G,
      sectionsDeactivated: SECTIONS_PER_G,
      memoryBlocksUnregistered: 8,
      kobjects: 8,
      uevents: 8, // KOBJ_REMOVE; the blocks were offline, so no KOBJ_OFFLINE
      sysfsFiles: 8 * SYSFS_PER_DIMM_BLOCK,
      resourcesReleased: 1,
    },
    PT_KEYS,
  );
  assert.equal(k.arch.pgtable.tablePages(), tables);
});

test("arm64 rodata=full: a 1 GiB DIMM maps 262144 PTEs in 513 new table pages; removal frees them all", () => {
  const k = boot({ arch: "arm64" });
  const tables = k.arch.pgtable.tablePages();
  const add = measure(k, () => assert.equal(k.host.dimmAdd("d1", G).err, 0));
  expectCounts(
    add,
    {
      pteWritten: G / 4096,
      pmdWritten: 512 + SECTIONS_PER_G, // 512 PTE tables + 8 vmemmap blocks
      pudWritten: 1, // the new PMD table of the linear map
      tablePagesAllocated: 512 + 1,
      vmemmapPagesAllocated: VMEMMAP_PAGES_PER_G,
      sectionsActivated: SECTIONS_PER_G,
      memoryBlocksRegistered: 8,
      sysfsFiles: 8 * SYSFS_PER_DIMM_BLOCK,
    },
    PT_KEYS,
  );
  assert.equal(k.arch.pgtable.tablePages(), tables + 513);
  const del = measure(k, () => assert.equal(k.host.dimmDel("d1").err, 0));
  expectCounts(
    del,
    {
      pteCleared: G / 4096,
      pmdCleared: 512 + SECTIONS_PER_G,
      pudCleared: 1,
      tablePagesFreed: 513,
      // __flush_tlb_kernel_pgtable() per freed table (512 PTE + 1 PMD), one
      // TLBI per freed vmemmap block (8)
      tlbFlushPage: 513 + SECTIONS_PER_G,
      // flush_tlb_kernel_range() of the 1 GiB linear range: > MAX_TLBI_OPS pages
      tlbFlushAll: 1,
      vmemmapPagesFreed: VMEMMAP_PAGES_PER_G,
      sectionsDeactivated: SECTIONS_PER_G,
      memoryBlocksUnregistered: 8,
      sysfsFiles: 8 * SYSFS_PER_DIMM_BLOCK,
    },
    PT_KEYS,
  );
  assert.equal(k.arch.pgtable.tablePages(), tables);
});

test("arm64: the prevent_memory_remove notifier is called for MEM_GOING_ONLINE and MEM_ONLINE", () => {
  const k = boot({ arch: "arm64" });
  k.host.dimmAdd("d1", G); // blocks 16..23 at 2 GiB
  const c = measure(k, () => write(k, state(17), "online_movable"));
  expectCounts(c, { notifierCalls: 2, memmapPagesInit: BLOCK_PAGES, pagesToBuddy: BLOCK_PAGES }, PT_KEYS);
});

test("virtio-mem: one driver-managed block is one section, one device, one merged resource", () => {
  const k = boot({ arch: "x86_64", vmems: [{ id: "vm0", sizeBytes: 2 * G }] });
  const c = measure(k, () => assert.equal(k.host.vmemResize("vm0", 128 * M).err, 0));
  // The direct map of a 128 MiB range at 4 GiB, where nothing is mapped:
  // split_mem_range() gives 2 MiB pages: 64 PMD leaves in a new PMD table,
  // hung from 1 PUD entry. The vmemmap of the one section: one more PMD leaf.
  expectCounts(
    c,
    {
      pmdWritten: 64 + 1,
      pudWritten: 1,
      tablePagesAllocated: 1,
      sectionsActivated: 1,
      vmemmapPagesAllocated: 512,
      memoryBlocksRegistered: 1,
      kobjects: 1,
      uevents: 1,
      sysfsFiles: SYSFS_PER_BLOCK, // no firmware_node: not an ACPI device
      resourcesRequested: 1, // "System RAM (virtio_mem)" inside virtio0
      memmapPagesInit: 0, // not onlined: auto-onlining is off
    },
    PT_KEYS,
  );
});

test("memmap_on_memory: the memmap of a 128 MiB block comes from the block and is initialised when it is onlined", () => {
  const k = boot({ arch: "x86_64", cmdline: ["memory_hotplug.memmap_on_memory=1"] });
  const add = measure(k, () => assert.equal(k.host.dimmAdd("d1", 128 * M).err, 0));
  // 32768 × 64 B = 2 MiB = 512 pages carved from the altmap (one PMD leaf);
  // the direct map of 128 MiB at 4 GiB: 64 PMD leaves in a new PMD table.
  expectCounts(add, {
    vmemmapPagesAllocated: 512,
    pmdWritten: 64 + 1,
    pudWritten: 1,
    tablePagesAllocated: 1,
    sectionsActivated: 1,
  });
  const on = measure(k, () => write(k, state(32), "online_movable"));
  // mhp_init_memmap_on_memory(): 512 struct pages (PageReserved, never freed);
  // online_pages(): the other 32256 are initialised and handed to the buddy.
  expectCounts(on, { memmapPagesInit: BLOCK_PAGES, pagesToBuddy: BLOCK_PAGES - 512, zoneSpanUpdates: 2 });
});
