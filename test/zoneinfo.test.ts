// /proc/zoneinfo's "pagesets" of a booted machine: the count, high and batch of
// each CPU's per_cpu_pages (mm/vmstat.c: zoneinfo_show_print()), against the
// page allocator's state and the numbers the real 6.1 kernel shows for the same
// machine (scenarios/oracle/x86-dimm-add-del.linux-x86_64.jsonl: batch 1 for DMA,
// 63 for DMA32 of a 1 GiB x86_64 guest).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { zoneinfoShow } from "../src/fs/zoneinfo.js";
import { Kernel } from "../src/kernel/kernel.js";
import { ZONE_DMA, ZONE_DMA32 } from "../src/mm/mmzone.js";

const G = 2 ** 30;

/** The pagesets numbers of one zone section: [count, high, batch] per CPU. */
function pagesets(text: string, zone: string): number[][] {
  const sec = text.split(/^Node 0, zone\s+/m).find((s) => s.startsWith(zone + "\n"));
  assert.ok(sec, `zone ${zone} in zoneinfo`);
  const out: number[][] = [];
  const re = /cpu: (\d+)\n\s+count: (\d+)\n\s+high:\s+(\d+)\n\s+batch: (\d+)/g;
  for (let m = re.exec(sec); m; m = re.exec(sec)) out.push([Number(m[2]), Number(m[3]), Number(m[4])]);
  return out;
}

describe("/proc/zoneinfo pagesets", () => {
  it("prints the model's pcp count, high and batch (batch 1 for DMA, 63 for DMA32 as on the kernel)", () => {
    const k = Kernel.boot({ arch: "x86_64", memBytes: G, maxmemBytes: 8 * G });
    const dma32 = k.pgdat.zones[ZONE_DMA32];
    const pcp = k.alloc.pcpOf(dma32);
    assert.equal(pcp.batch, 63);
    assert.equal(pcp.high, dma32.watermark[1 /* WMARK_LOW */]);
    assert.equal(k.alloc.pcpOf(k.pgdat.zones[ZONE_DMA]).batch, 1);
    // a free lands on the list and shows in the count
    const p = k.alloc.allocPages(0, "kernel");
    k.alloc.freePages(p, 0);
    const text = zoneinfoShow(k);
    assert.deepEqual(pagesets(text, "DMA32"), [[pcp.count, pcp.high, 63]]);
    assert.ok(pcp.count > 0);
    assert.equal(pagesets(text, "DMA")[0][2], 1);
    assert.deepEqual(pagesets(text, "Movable"), []); // not populated: no pagesets printed
  });

  it("after dimm-del the DIMM's vmemmap (8 order-9 blocks) waits on the DMA32 list, out of MemFree", () => {
    const k = Kernel.boot({ arch: "x86_64", memBytes: G, maxmemBytes: 8 * G });
    const dma32 = k.pgdat.zones[ZONE_DMA32];
    assert.equal(k.host.dimmAdd("d1", G).err, 0);
    const count = k.alloc.pcpOf(dma32).count;
    const free = k.alloc.globalFreePages();
    assert.equal(k.host.dimmDel("d1").err, 0);
    // 8 sections × 2 MiB of struct pages, freed as order-9 pages: below high (~13.8k), no spill.
    // (The 1 GiB linear map at 4 GiB is one PUD leaf: no page-table page is freed with it.)
    assert.equal(k.alloc.pcpOf(dma32).count - count, 8 * 512);
    assert.equal(k.alloc.globalFreePages(), free);
    assert.deepEqual(k.checkInvariants(), []);
  });
});
