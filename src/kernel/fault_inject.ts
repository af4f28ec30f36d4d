// lib/fault-inject.c, the model's way: make chosen allocations fail at a chosen
// point, so every failure path can be driven. A site is named ("pgtable",
// "vmemmap", "memory_block", "resource", ...); a rule fails its Nth call from now
// (and optionally the following ones). Nothing fails unless a rule says so.
//
// The sites the model has (docs/robustness.md lists the errno each one gives):
//   "pgtable"       a page-table page (the arch's __get_free_page()/pgtable_alloc())
//   "vmemmap"       a vmemmap block from the page allocator (vmemmap_alloc_block())
//   "memmap"        populate_section_memmap() as a whole (mm/sparse.c: section_activate())
//   "section_usage" the mem_section_usage of a new section (section_activate())
//   "resource"      alloc_resource() in __request_region() (register_memory_resource())
//   "memory_block"  the memory block device (drivers/base/memory.c: add_memory_block())

import { ENOMEM } from "../errno.js";
import type { AllocPurpose, PageAllocator } from "../mm/gfp.js";

/** What an allocation site asks (should_fail()). */
export interface FaultSite {
  shouldFail(site: string): boolean;
}

export interface FaultRule {
  site: string;
  /** Fail the call number `nth` (1-based) counted from when the rule was added. */
  nth: number;
  /** How many consecutive calls fail from there (default 1). */
  times: number;
}

export class FaultInjector implements FaultSite {
  private readonly rules: { rule: FaultRule; seen: number; failed: number }[] = [];
  /** How many failures were injected, by site. */
  readonly injected = new Map<string, number>();
  /** How many times each site was reached (failed or not), for sweeping every call. */
  readonly reached = new Map<string, number>();

  add(site: string, nth = 1, times = 1): void {
    this.rules.push({ rule: { site, nth, times }, seen: 0, failed: 0 });
  }

  clear(): void {
    this.rules.length = 0;
  }

  /** should_fail(): called at each allocation site; true means "fail this one". */
  shouldFail(site: string): boolean {
    this.reached.set(site, (this.reached.get(site) ?? 0) + 1);
    let fail = false;
    for (const r of this.rules) {
      if (r.rule.site !== site) continue;
      r.seen++;
      if (r.seen >= r.rule.nth && r.failed < r.rule.times) {
        r.failed++;
        fail = true;
      }
    }
    if (fail) this.injected.set(site, (this.injected.get(site) ?? 0) + 1);
    return fail;
  }
}

/**
 * mm/fail_page_alloc.c: should_fail_alloc_page(), filtered by what the pages are
 * for: the allocator the arch code allocates from (page tables, vmemmap blocks),
 * whose allocPages() fails with -ENOMEM when the injector fails the site named
 * after the purpose ("pgtable", "vmemmap").
 */
export function withFaultInjection(inner: PageAllocator, faults: FaultSite): PageAllocator {
  return {
    allocPages: (order: number, purpose: AllocPurpose, nid?: number): number =>
      faults.shouldFail(purpose) ? -ENOMEM : inner.allocPages(order, purpose, nid),
    freePages: (pfn: number, order: number): void => inner.freePages(pfn, order),
  };
}
