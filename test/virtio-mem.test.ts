// virtio-mem's sub-block mode and big-block mode in the model
// (src/drivers/virtio/virtio_mem.ts): the driver's per-block and per-sub-block
// state, what the memory shows of it (MemTotal, the zone's managed pages,
// PageOffline pages), the retry timer, and every invariant after every
// statement. The corpus (scenarios/oracle/*-vmem-subblocks.mhp) holds the same
// behaviour against the real kernel.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EBUSY } from "../src/errno.js";
import type { Kernel } from "../src/kernel/kernel.js";
import { PS_OFFLINE } from "../src/mm/memmap.js";
import { ZONE_MOVABLE, ZONE_NORMAL } from "../src/mm/mmzone.js";
import { parseScenario } from "../src/scenario/parse.js";
import { bootScenario, executeStatement } from "../src/scenario/run.js";
import {
  VIRTIO_MEM_BBM_BB_ADDED,
  VIRTIO_MEM_BBM_BB_UNUSED,
  VIRTIO_MEM_RETRY_TIMER_MAX_MS,
  VIRTIO_MEM_RETRY_TIMER_MIN_MS,
  VIRTIO_MEM_SBM_MB_KERNEL_PARTIAL,
  VIRTIO_MEM_SBM_MB_MOVABLE,
  VIRTIO_MEM_SBM_MB_MOVABLE_PARTIAL,
  VIRTIO_MEM_SBM_MB_OFFLINE_PARTIAL,
  VIRTIO_MEM_SBM_MB_UNUSED,
  type VirtioMem,
} from "../src/drivers/virtio/virtio_mem.js";

const MiB = 2 ** 20;
const PAGES_PER_MIB = MiB / 4096;

/** Boots the scenario's machine and runs its statements one by one, invariants checked after each. */
type Rec = Record<string, unknown>;

function session(text: string): { k: Kernel; vm: (id: string) => VirtioMem; run: (n?: number) => Rec[] } {
  const sc = parseScenario(text, "t.mhp");
  const k = bootScenario(sc);
  let next = 0;
  return {
    k,
    vm: (id) => k.virtioMem.get(id)!,
    run(n = sc.body.length - next) {
      const out: Rec[] = [];
      for (const end = next + n; next < end; next++) {
        out.push(executeStatement(k, sc.body[next]) as Rec);
        k.tick();
        assert.deepEqual(k.checkInvariants(), [], `invariants after line ${sc.body[next].loc.line}`);
      }
      return out;
    },
  };
}

const totalramKb = (k: Kernel): number => k.alloc.totalramPages * 4;
const zone = (k: Kernel, idx: number) => k.pgdat.zones[idx];
/** How many sub-blocks of memory block mbId the driver holds plugged. */
function pluggedSbs(vm: VirtioMem, mbId: number): number {
  let n = 0;
  for (let sb = 0; sb < 64; sb++) if (vm.sbmTestSbPlugged(mbId, sb, 1)) n++;
  return n;
}
function offlinePages(k: Kernel, startPfn: number, nrPages: number): number {
  let n = 0;
  for (let p = startPfn; p < startPfn + nrPages; p++) if (k.memmap.state(p) === PS_OFFLINE) n++;
  return n;
}

const X86 = "machine x86_64 mem=1G maxmem=8G\nvmem vm0 size=1G\n";
const MB32_PFN = (32 * 128 * MiB) / 4096;

describe("virtio-mem sub-block mode", () => {
  it("plugs a partial block: only the plugged sub-blocks are onlined and counted", () => {
    const s = session(
      X86 +
        "boot\nwrite /sys/devices/system/memory/auto_online_blocks online_movable\nvmem-resize vm0 200M\n",
    );
    const before = totalramKb(s.k);
    const [, resize] = s.run();
    const vm = s.vm("vm0");
    assert.ok(vm.inSbm);
    assert.equal(vm.sbm!.sbSize, 2 * MiB);
    assert.deepEqual(resize.blocks, { added: ["memory32", "memory33"], removed: [] });
    assert.equal(resize.settled, undefined);
    assert.equal(vm.sbmGetMbState(32), VIRTIO_MEM_SBM_MB_MOVABLE);
    assert.equal(vm.sbmGetMbState(33), VIRTIO_MEM_SBM_MB_MOVABLE_PARTIAL);
    assert.equal(pluggedSbs(vm, 33), 36);
    assert.equal(totalramKb(s.k) - before, 200 * 1024);
    // present: both blocks; managed: what is plugged
    assert.equal(zone(s.k, ZONE_MOVABLE).presentPages, 256 * PAGES_PER_MIB);
    assert.equal(zone(s.k, ZONE_MOVABLE).managedPages, 200 * PAGES_PER_MIB);
    // the unplugged 56 MiB of memory33 are PageOffline, kept out of the buddy
    assert.equal(offlinePages(s.k, MB32_PFN + 32768, 32768), 56 * PAGES_PER_MIB);
  });

  it("unplugs from ZONE_MOVABLE: the partial block goes first, then sub-blocks from the top", () => {
    const s = session(
      X86 +
        "boot\nwrite /sys/devices/system/memory/auto_online_blocks online_movable\nvmem-resize vm0 200M\nvmem-resize vm0 100M\nvmem-resize vm0 160M\n",
    );
    s.run(2);
    const base = totalramKb(s.k) - 200 * 1024;
    const [shrink] = s.run(1);
    const vm = s.vm("vm0");
    assert.deepEqual(shrink.blocks, { added: [], removed: ["memory33"] });
    assert.equal(vm.sbmGetMbState(32), VIRTIO_MEM_SBM_MB_MOVABLE_PARTIAL);
    assert.equal(pluggedSbs(vm, 32), 50);
    assert.ok(
      vm.sbmTestSbPlugged(32, 0, 50) && !vm.sbmTestSbPlugged(32, 50, 1),
      "the top 14 sub-blocks went",
    );
    assert.equal(totalramKb(s.k) - base, 100 * 1024);
    assert.equal(offlinePages(s.k, MB32_PFN, 32768), 28 * PAGES_PER_MIB);
    assert.equal(
      s.k.contig.held().length,
      1,
      "the fake-offline pages are the driver's (alloc_contig_range())",
    );
    // Plugging again fills memory32 first (fake-onlining its sub-blocks), then memory33 partly.
    const [grow] = s.run(1);
    assert.deepEqual(grow.blocks, { added: ["memory33"], removed: [] });
    assert.equal(vm.sbmGetMbState(32), VIRTIO_MEM_SBM_MB_MOVABLE);
    assert.equal(pluggedSbs(vm, 33), 16);
    assert.equal(offlinePages(s.k, MB32_PFN, 32768), 0);
    assert.equal(s.k.contig.held().length, 0);
    assert.equal(totalramKb(s.k) - base, 160 * 1024);
  });

  it("keeps the busy sub-blocks of a ZONE_NORMAL block, arms the retry timer, and a new request ends it", () => {
    const s = session(
      X86 +
        "boot\nwrite /sys/devices/system/memory/auto_online_blocks online\nvmem-resize vm0 512M\nvmem-resize vm0 0\nvmem-resize vm0 4M\n",
    );
    s.run(2);
    const vm = s.vm("vm0");
    const [shrink] = s.run(1);
    assert.equal(shrink.result, "ok");
    assert.equal(shrink.settled, false);
    assert.equal(vm.lastResult, -EBUSY);
    assert.ok(vm.retryTimerArmed);
    assert.equal(vm.retryTimerMs, VIRTIO_MEM_RETRY_TIMER_MIN_MS);
    // What stays plugged is what holds unmovable pages: memory32's first sub-blocks.
    assert.equal(vm.sbmGetMbState(32), VIRTIO_MEM_SBM_MB_KERNEL_PARTIAL);
    const kept = vm.plugged / (2 * MiB);
    // 2 MiB: the unmovable allocations stole one MAX_ORDER block (4 MiB) and hold
    // pages in its first pageblock only; nothing reclaimable took another block
    // (src/kernel/background.ts; arm64-vmem-subblocks keeps one on every release)
    assert.equal(kept, 1);
    assert.equal(pluggedSbs(vm, 32), kept);
    assert.equal(zone(s.k, ZONE_NORMAL).managedPages, kept * 512);
    assert.equal(zone(s.k, ZONE_NORMAL).presentPages, 32768);
    // The timer fires: the same sub-blocks are still busy, the period doubles.
    vm.retryTimerExpired();
    assert.ok(vm.retryTimerArmed);
    assert.equal(vm.retryTimerMs, 2 * VIRTIO_MEM_RETRY_TIMER_MIN_MS);
    for (let i = 0; i < 5; i++) vm.retryTimerExpired();
    assert.equal(vm.retryTimerMs, VIRTIO_MEM_RETRY_TIMER_MAX_MS);
    assert.deepEqual(s.k.checkInvariants(), []);
    // A request for what is plugged: the run cancels the timer and succeeds.
    const [settle] = s.run(1);
    assert.equal(settle.settled, undefined);
    assert.equal(vm.retryTimerArmed, false);
    assert.equal(vm.retryTimerMs, VIRTIO_MEM_RETRY_TIMER_MIN_MS);
  });

  it("offlines a partially plugged block by hand and onlines it again with the same sub-blocks", () => {
    const s = session(
      X86 +
        "boot\nwrite /sys/devices/system/memory/auto_online_blocks online_movable\nvmem-resize vm0 100M\n" +
        "write /sys/devices/system/memory/memory32/state offline\nwrite /sys/devices/system/memory/memory32/state online_movable\n" +
        "write /sys/devices/system/memory/memory32/state offline\nvmem-resize vm0 40M\n",
    );
    s.run(2);
    const vm = s.vm("vm0");
    const online = totalramKb(s.k);
    const [off, on] = s.run(2);
    assert.equal(off.result, "ok");
    assert.equal(on.result, "ok");
    assert.equal(totalramKb(s.k), online, "onlining again counts only the 50 plugged sub-blocks");
    assert.equal(offlinePages(s.k, MB32_PFN, 32768), 28 * PAGES_PER_MIB);
    // Unplugging from an offline partial block: no fake-offline, the bits and the device only.
    const [off2, shrink] = s.run(2);
    assert.equal(off2.result, "ok");
    assert.equal(shrink.settled, undefined);
    assert.equal(vm.sbmGetMbState(32), VIRTIO_MEM_SBM_MB_OFFLINE_PARTIAL);
    assert.equal(pluggedSbs(vm, 32), 20);
    assert.equal(vm.plugged, 40 * MiB);
  });

  it("denies onlining a block the driver no longer has plugged", () => {
    const s = session(X86 + "boot\nvmem-resize vm0 128M\nvmem-resize vm0 0\nls /sys/devices/system/memory\n");
    const [add, remove] = s.run(2);
    assert.deepEqual(add.blocks, { added: ["memory32"], removed: [] });
    assert.deepEqual(remove.blocks, { added: [], removed: ["memory32"] });
    assert.equal(s.vm("vm0").sbmGetMbState(32), VIRTIO_MEM_SBM_MB_UNUSED);
  });
});

describe("virtio-mem big-block mode", () => {
  it("with a 256 MiB block size plugs, adds, removes and unplugs two memory blocks at a time", () => {
    const s = session(
      "machine x86_64 mem=1G maxmem=8G\nvmem vm1 size=1G block-size=256M\nboot\n" +
        "write /sys/devices/system/memory/auto_online_blocks online_movable\nvmem-resize vm1 512M\nvmem-resize vm1 256M\n",
    );
    const vm = s.vm("vm1");
    assert.equal(vm.inSbm, false);
    assert.equal(vm.bbm!.bbSize, 256 * MiB);
    const before = totalramKb(s.k);
    const [, grow, shrink] = s.run();
    assert.deepEqual(grow.blocks, {
      added: ["memory32", "memory33", "memory34", "memory35"],
      removed: [],
    });
    assert.deepEqual(shrink.blocks, { added: [], removed: ["memory34", "memory35"] });
    assert.equal(vm.bbmGetBbState(16), VIRTIO_MEM_BBM_BB_ADDED);
    assert.equal(vm.bbmGetBbState(17), VIRTIO_MEM_BBM_BB_UNUSED);
    assert.equal(totalramKb(s.k) - before, 256 * 1024);
    assert.equal(s.k.contig.held().length, 0);
  });

  it("keeps a big block whose ZONE_NORMAL memory cannot be fake-offlined (-EBUSY)", () => {
    const s = session(
      "machine x86_64 mem=1G maxmem=8G\nvmem vm1 size=1G block-size=256M\nboot\n" +
        "write /sys/devices/system/memory/auto_online_blocks online\nvmem-resize vm1 256M\nvmem-resize vm1 0\n",
    );
    const [, , shrink] = s.run();
    const vm = s.vm("vm1");
    assert.equal(shrink.settled, false);
    assert.equal(vm.lastResult, -EBUSY);
    assert.equal(vm.bbmGetBbState(16), VIRTIO_MEM_BBM_BB_ADDED, "rolled back from fake-offline");
    assert.equal(vm.plugged, 256 * MiB);
    assert.equal(zone(s.k, ZONE_NORMAL).managedPages, zone(s.k, ZONE_NORMAL).presentPages);
  });
});
