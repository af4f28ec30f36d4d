// mm/memory-failure.c, the part a scenario reaches through
// /sys/devices/system/memory/hard_offline_page (drivers/base/memory.c:
// hard_offline_page_store(), CONFIG_MEMORY_FAILURE) and the RFC's
// `call memory_failure`: memory_failure(pfn, MF_SW_SIMULATED) sets
// PageHWPoison, counts the page in num_poisoned_pages (meminfo's
// HardwareCorrupted) and, from 6.2 (5033091de814, "mm/hwpoison: introduce
// per-memory_block hwpoison counter"), in its memory block
// (memblk_nr_poison_inc()), which memory_block_online() refuses on from then
// (drivers/base/memory.ts) and the RFC's populate_and_online_memory() on every
// release (docs/rfc-v2.md).
//
// What happens to the page:
// - a free page in the buddy (is_free_buddy_page()) is taken off it
//   (take_page_off_buddy(), mm/page_alloc.c): "free buddy page: Recovered", 0;
//   it stays PS_HWPOISON, which offlining skips (has_unmovable_pages(),
//   test_pages_isolated(), __offline_isolated_pages() with MEMORY_OFFLINE);
// - a page the kernel holds (slab, page tables, memmap, reserved):
//   get_any_page() cannot handle it and gives up after its retries, "get hwpoison page: Ignored" ("unknown page" on 6.1), -EBUSY;
//   the flag and the count stay;
// - a page already poisoned: -EHWPOISON, not counted again;
// - a page without an online memmap: "memory outside kernel control", -ENXIO.
// Both first drain the zone's per-cpu lists (get_hwpoison_page():
// zone_pcp_disable()/zone_pcp_enable()), so a page that waited on one is a
// free buddy page by the time it is looked at.
//
// soft_offline_page(pfn, 0) (/sys/devices/system/memory/soft_offline_page,
// soft_offline_page_store()) poisons only what it can take away cleanly:
// - a free page: taken off the buddy and counted (page_handle_poison()),
//   0, no message; the node's memory_failure/ counts are action_result()'s
//   and do not move;
// - a page the kernel holds: get_any_page() gives up, "unhandlable page.",
//   -EIO, nothing poisoned;
// - a page already poisoned: 0, "page already poisoned";
// - no memmap: -ENXIO; a memmap that is not online: -EIO.
// Not modelled: user (LRU) pages, whose owners memory_failure() unmaps or
// kills and whose contents soft_offline_page() migrates: refused with -EBUSY
// and said so; /proc/sys/vm/enable_soft_offline (6.11), always 1 here.

import { EBUSY, EHWPOISON, EIO, ENXIO } from "../errno.js";
import type { Kernel } from "../kernel/kernel.js";
import { MAX_ORDER } from "./constants.js";
import { PS_BUDDY, PS_HWPOISON, PS_MOVABLE, PS_PINNED, pfnToOnlinePage } from "./memmap.js";

/** The node's memory_failure/ statistics (6.5+, update_per_node_mf_stats()). */
export interface MfStats {
  total: number;
  ignored: number;
  failed: number;
  delayed: number;
  recovered: number;
}

export class MemoryFailure {
  /** PageHWPoison pages (PFNs). */
  private readonly poisoned = new Set<number>();
  /** num_poisoned_pages: meminfo's HardwareCorrupted, in pages. */
  numPoisonedPages = 0;
  readonly stats: MfStats = { total: 0, ignored: 0, failed: 0, delayed: 0, recovered: 0 };

  constructor(private readonly k: Kernel) {}

  /**
   * memory_failure(pfn, MF_SW_SIMULATED): 0 for a free page taken off the
   * buddy; -EBUSY (poisoned and counted all the same) for a page the kernel
   * holds; -EHWPOISON for a page poisoned before; -ENXIO for a page without
   * an online memmap.
   */
  memoryFailure(pfn: number): number {
    const pr = (text: string) => this.k.printk.prErr(`Memory failure: ${text}`);
    const hex = `0x${pfn.toString(16)}`;
    if (!pfnToOnlinePage(this.k.sparse, pfn)) {
      // 7.2: a PFN without a struct page goes to memory_failure_pfn(), which
      // finds no driver's PFN map that holds it
      if (this.k.atLeast("7.2") && !this.k.sparse.pfnValid(pfn)) {
        pr(`${hex}: recovery action for non struct page pfn: Ignored`);
        return this.k.printk.refuse(-EBUSY, `pfn ${hex} has no struct page and no driver maps it`);
      }
      pr(`${hex}: memory outside kernel control`);
      return this.k.printk.refuse(-ENXIO, `pfn ${hex} has no online memmap: memory outside kernel control`);
    }
    if (this.poisoned.has(pfn)) {
      // TestSetPageHWPoison(): 6.1 says so; from 6.8 action_result() of
      // MF_MSG_ALREADY_POISONED, which counts nothing
      if (this.k.atLeast("6.12")) pr(`${hex}: recovery action for already poisoned page: Failed`);
      else pr(`${hex}: already hardware poisoned`);
      return this.k.printk.refuse(-EHWPOISON, `pfn ${hex} is already hardware poisoned`);
    }
    if (this.isUserPage(pfn))
      return this.k.printk.refuse(
        -EBUSY,
        `pfn ${hex} is a user page: what memory_failure() does to its owners is not modelled`,
      );
    this.drainZonePcp(pfn);
    this.poison(pfn);
    this.stats.total++;
    if (this.takePageOffBuddy(pfn)) {
      this.stats.recovered++;
      pr(`${hex}: recovery action for free buddy page: Recovered`);
      return 0;
    }
    this.stats.ignored++;
    pr(`${hex}: unhandlable page.`);
    pr(`${hex}: recovery action for ${this.k.atLeast("6.12") ? "get hwpoison" : "unknown"} page: Ignored`);
    return this.k.printk.refuse(
      -EBUSY,
      `pfn ${hex} is held by the kernel (slab, page tables, memmap, reserved): poisoned, not recovered`,
    );
  }

  /**
   * soft_offline_page(pfn, 0): 0 for a free page taken off the buddy and for
   * a page poisoned before; -EIO for a page the kernel holds (nothing
   * poisoned) and for a memmap that is not online; -ENXIO without a memmap.
   */
  softOfflinePage(pfn: number): number {
    const hex = `0x${pfn.toString(16)}`;
    if (!this.k.sparse.pfnValid(pfn)) return this.k.printk.refuse(-ENXIO, `pfn ${hex} has no memmap`);
    if (!pfnToOnlinePage(this.k.sparse, pfn))
      return this.k.printk.refuse(
        -EIO,
        `pfn ${hex} is not online memory: only online pages can be soft-offlined`,
      );
    if (this.poisoned.has(pfn)) {
      // 6.1 prints the function's name (soft_offline_page: ...), later ones not
      const what = this.k.atLeast("6.12") ? `${hex}: page` : `soft_offline_page: ${hex} page`;
      this.k.printk.prInfo(`Memory failure: ${what} already poisoned`);
      return 0;
    }
    if (this.isUserPage(pfn))
      return this.k.printk.refuse(
        -EBUSY,
        `pfn ${hex} is a user page: migrating it away (soft_offline_in_use_page()) is not modelled`,
      );
    this.drainZonePcp(pfn);
    // page_handle_poison(page, true, false): take_page_off_buddy(), then
    // SetPageHWPoison() and num_poisoned_pages_inc()
    if (this.takePageOffBuddy(pfn)) {
      this.poison(pfn);
      return 0;
    }
    this.k.printk.prErr(`Memory failure: ${hex}: unhandlable page.`);
    return this.k.printk.refuse(
      -EIO,
      `pfn ${hex} is held by the kernel (slab, page tables, memmap, reserved): soft offline cannot take it away`,
    );
  }

  /** PS_MOVABLE/PS_PINNED: the model's user (LRU) pages. */
  private isUserPage(pfn: number): boolean {
    const state = this.k.alloc.memmap.state(pfn);
    return state === PS_MOVABLE || state === PS_PINNED;
  }

  /**
   * get_hwpoison_page(): zone_pcp_disable() drains every CPU's lists of the
   * page's zone before the page is looked at; zone_pcp_enable() after.
   */
  private drainZonePcp(pfn: number): void {
    const zone = this.k.alloc.zoneOfPfn(pfn);
    this.k.alloc.zonePcpDisable(zone);
    this.k.alloc.zonePcpEnable(zone);
  }

  /** SetPageHWPoison() and num_poisoned_pages_inc() (from 6.2 the block's counter too). */
  private poison(pfn: number): void {
    this.poisoned.add(pfn);
    this.numPoisonedPages++;
    const mem = this.k.memory.findMemoryBlockById(this.k.memory.pfnToBlockId(pfn));
    if (mem) mem.nrHwpoison++;
  }

  /**
   * mm/page_alloc.c: take_page_off_buddy(): the free block that holds pfn
   * leaves the free list, its other halves go back (break_down_buddy_pages(),
   * to the head of the lists), and pfn is PS_HWPOISON, out of NR_FREE_PAGES.
   * false when pfn is in no free block.
   */
  private takePageOffBuddy(pfn: number): boolean {
    const pa = this.k.alloc;
    const m = pa.memmap;
    for (let order = 0; order < MAX_ORDER; order++) {
      const head = pfn - (pfn & ((1 << order) - 1));
      if (m.state(head) === PS_BUDDY && m.order(head) >= order) {
        const zone = pa.zoneOfPfn(head);
        const mt = m.pageblockMigratetype(head);
        pa.takeOffBuddy(zone, head, m.order(head), pfn, mt, PS_HWPOISON);
        return true;
      }
    }
    return false;
  }

  /** PageHWPoison(pfn) */
  isPoisoned(pfn: number): boolean {
    return this.poisoned.has(pfn);
  }

  /** The poisoned pages of [startPfn, endPfn). */
  countPoisoned(startPfn: number, endPfn: number): number {
    let n = 0;
    for (const pfn of this.poisoned) if (pfn >= startPfn && pfn < endPfn) n++;
    return n;
  }

  /**
   * 6.1: online_pages() initialises the memmap of [startPfn, endPfn) again
   * (memmap_init_range()), which clears PageHWPoison without counting it off:
   * HardwareCorrupted keeps the page (6.2's per-block counter came with the
   * refusal to online such a block instead).
   */
  memmapReinitialised(startPfn: number, endPfn: number): void {
    this.forget(startPfn, endPfn);
  }

  /**
   * The memory of [startPfn, endPfn) is removed: 6.1's
   * clear_hwpoisoned_pages() counts off the pages still flagged; from 6.2
   * remove_memory_block_devices() counts off each block's memblk_nr_poison()
   * (the caller passes their sum). The flags go with the memmap.
   */
  removed(startPfn: number, endPfn: number, blocksPoison: number): void {
    const n = this.k.atLeast("6.12") ? blocksPoison : this.countPoisoned(startPfn, endPfn);
    this.numPoisonedPages -= Math.min(n, this.numPoisonedPages);
    this.forget(startPfn, endPfn);
  }

  /** The flags of [startPfn, endPfn) are gone with its memmap. */
  private forget(startPfn: number, endPfn: number): void {
    for (const pfn of [...this.poisoned]) if (pfn >= startPfn && pfn < endPfn) this.poisoned.delete(pfn);
  }
}
