// A bump allocator for the page-table and architecture tests: hands out naturally aligned pages
// from a start PFN inside boot RAM, records every page it hands out and takes
// back, and can be told to fail (failAfter).

import assert from "node:assert/strict";
import { ENOMEM } from "../../src/errno.js";
import type { AllocPurpose, PageAllocator } from "../../src/mm/gfp.js";

export class FakeAlloc implements PageAllocator {
  readonly live = new Map<number, { order: number; purpose: AllocPurpose }>();
  readonly freed: Array<[number, number]> = [];
  failAfter = Infinity;

  constructor(public next: number) {}

  allocPages(order: number, purpose: AllocPurpose): number {
    if (this.failAfter-- <= 0) return -ENOMEM;
    const n = 1 << order;
    this.next = Math.ceil(this.next / n) * n;
    const pfn = this.next;
    this.next += n;
    this.live.set(pfn, { order, purpose });
    return pfn;
  }

  freePages(pfn: number, order: number): void {
    const a = this.live.get(pfn);
    assert.ok(a, `free of pfn ${pfn} that is not allocated`);
    assert.equal(a.order, order, `free of pfn ${pfn} with order ${order}, allocated with ${a.order}`);
    this.live.delete(pfn);
    this.freed.push([pfn, order]);
  }

  count(purpose: AllocPurpose): number {
    return [...this.live.values()].filter((a) => a.purpose === purpose).length;
  }

  /** The PFNs handed out and not freed, of one purpose or all. */
  livePfns(purpose?: AllocPurpose): number[] {
    return [...this.live].filter(([, a]) => !purpose || a.purpose === purpose).map(([p]) => p);
  }

  snapshot(): string[] {
    return [...this.live.keys()].sort((a, b) => a - b).map(String);
  }
}
