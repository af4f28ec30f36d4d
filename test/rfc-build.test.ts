// The boot of the RFC v2 patched kernel (src/kernel/rfc_build.ts), held to the
// patched kernel's first readings on the oracle's guests (memhp oracle
// --kernel patched, linux-patches/ at 6a8549af96bc, 6 December 2026): MemTotal,
// the zone that holds boot memory, its managed pages and min watermark exactly;
// MemFree within the largest gap seen. And the WARNING lines of the guest's
// dmesg judged against the ones the model predicts (src/fuzz/oracle.ts).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseScenario } from "../src/scenario/parse.js";
import { runScenario } from "../src/scenario/run.js";
import type { Kernel } from "../src/kernel/kernel.js";
import { runOnModel, unexpectedWarnings, WARNING_RE } from "../src/fuzz/oracle.js";
import { problemsOf } from "../src/fuzz/oracle-campaign.js";
import { judge } from "../src/fuzz/oracle.js";
import { warnedFunction } from "../src/kernel/printk.js";
import { swiotlbNslabs, swiotlbPoolPages } from "../src/kernel/dma/swiotlb.js";
import { listedProblem, loadFuzzDivergences } from "../src/fuzz/oracle-divergences.js";

interface Reading {
  machine: string;
  MemTotal: number;
  MemFree: number;
  zone: string;
  managed: number;
  min: number;
}

/** /proc/meminfo and /proc/zoneinfo of the patched kernel right after boot. */
const PATCHED: readonly Reading[] = [
  {
    machine: "x86_64 mem=1G maxmem=3G",
    MemTotal: 1020692,
    MemFree: 1009404,
    zone: "DMA32",
    managed: 255173,
    min: 1007,
  },
  {
    machine: "x86_64 mem=1G maxmem=4G",
    MemTotal: 1020692,
    MemFree: 1009644,
    zone: "DMA32",
    managed: 255173,
    min: 1007,
  },
  {
    machine: "x86_64 mem=2G maxmem=4G",
    MemTotal: 2051348,
    MemFree: 2039544,
    zone: "DMA32",
    managed: 512837,
    min: 1430,
  },
  {
    machine: "x86_64 mem=2G maxmem=5G",
    MemTotal: 2051348,
    MemFree: 2039544,
    zone: "DMA32",
    managed: 512837,
    min: 1430,
  },
  {
    machine: "arm64 mem=1G maxmem=3G",
    MemTotal: 1013312,
    MemFree: 990004,
    zone: "Normal",
    managed: 253328,
    min: 1005,
  },
  {
    machine: "arm64 mem=1G maxmem=4G",
    MemTotal: 1013312,
    MemFree: 990004,
    zone: "Normal",
    managed: 253328,
    min: 1005,
  },
  {
    machine: "arm64 mem=2G maxmem=4G",
    MemTotal: 2040380,
    MemFree: 2016816,
    zone: "Normal",
    managed: 510095,
    min: 1427,
  },
  {
    machine: "arm64 mem=2G maxmem=5G",
    MemTotal: 2040380,
    MemFree: 2016816,
    zone: "Normal",
    managed: 510095,
    min: 1427,
  },
  {
    machine: "arm64 mem=1G maxmem=3G\ncmdline rodata=off",
    MemTotal: 1015336,
    MemFree: 992028,
    zone: "Normal",
    managed: 253834,
    min: 1006,
  },
];

/**
 * The largest first-MemFree gap of PATCHED (kB): the kernel's own boot
 * activity (208 kB), and since memblock's allocations stopped going through
 * the model's per-cpu lists, which side of a per-cpu batch refill (63 pages,
 * 252 kB) the initcalls' allocations end on: x86_64 mem=1G maxmem=4G is 232
 * kB below the kernel, the other three x86_64 machines 8..208 kB; no single
 * allocTotal puts all four within 208.
 */
const FREE_KB = 232;

function bootModel(machine: string): { fields: Record<string, number>; k: Kernel } {
  const [first, ...rest] = machine.split("\n");
  const text = [`machine ${first} rfc=v2`, ...rest, "boot", "read /proc/meminfo MemTotal MemFree", ""].join(
    "\n",
  );
  let k: Kernel | undefined;
  const t = runScenario(parseScenario(text, "rfc-build.mhp"), { onRecord: (_r, kk) => (k = kk) });
  const rec = t.records[t.records.length - 1] as { fields: Record<string, number> };
  return { fields: rec.fields, k: k! };
}

describe("the RFC v2 patched kernel's boot (rfc=v2)", () => {
  for (const r of PATCHED)
    it(`${r.machine.replace("\n", ", ")}: MemTotal, managed and min as the kernel's`, () => {
      const { fields, k } = bootModel(r.machine);
      assert.equal(fields.MemTotal, r.MemTotal);
      assert.ok(Math.abs(fields.MemFree - r.MemFree) <= FREE_KB, `MemFree ${fields.MemFree} vs ${r.MemFree}`);
      const populated = k.pgdat.zones.filter((z) => z.presentPages > 0);
      assert.deepEqual(
        populated.map((z) => [z.name, z.managedPages, z.watermark[0]]),
        [[r.zone, r.managed, r.min]],
      );
    });

  it("a machine without rfc=v2 still boots as Debian's kernel (boot memory in ZONE_DMA)", () => {
    let k: Kernel | undefined;
    runScenario(
      parseScenario("machine arm64 mem=1G maxmem=3G\nboot\nread /proc/meminfo MemTotal\n", "x.mhp"),
      {
        onRecord: (_r, kk) => (k = kk),
      },
    );
    assert.equal(k!.pgdat.zones.find((z) => z.presentPages > 0)?.name, "DMA");
  });
});

/**
 * MemTotal right after boot of the series' 7.2 arm64 build and Debian's 7.2
 * arm64 kernel (memhp oracle, 7 December 2026): with everything in ZONE_DMA,
 * 6.5+'s mem_init() sizes a swiotlb for kmalloc() bouncing by memory (2 MiB on
 * 1 GiB, 4 MiB on 2 GiB), and 6.3+'s nr_kernel_pages halves the early hash
 * tables against 6.1's count on 2 GiB: the model follows both, so the 1 GiB
 * and the 2 GiB guests agree with one calibration.
 */
const V72_ARM64: readonly { machine: string; MemTotal: number }[] = [
  { machine: "arm64 mem=1G maxmem=4G rfc=v2 kernel=7.2", MemTotal: 1011968 },
  { machine: "arm64 mem=1G maxmem=8G rfc=v2 kernel=7.2", MemTotal: 1011968 },
  { machine: "arm64 mem=2G maxmem=4G rfc=v2 kernel=7.2", MemTotal: 2038500 },
  { machine: "arm64 mem=2G maxmem=8G rfc=v2 kernel=7.2", MemTotal: 2038500 },
  { machine: "arm64 mem=1G maxmem=4G kernel=7.2", MemTotal: 979936 },
];

describe("arm64 from 6.12: the boot's swiotlb and hash tables follow the memory size", () => {
  it("swiotlb_adjust_size() and round_up_default_nslabs(): the slabs and pages of the pool", () => {
    assert.equal(swiotlbNslabs(undefined), 32768); // IO_TLB_DEFAULT_SIZE
    assert.equal(swiotlbNslabs(Math.ceil((1114112 * 1024) / 1024)), 1024); // 1 GiB + the 64 MiB bank
    assert.equal(swiotlbNslabs(Math.ceil((2162688 * 1024) / 1024)), 2048);
    assert.equal(swiotlbPoolPages(1024), 512 + 6); // the buffer and 24 KiB of slots
    assert.equal(swiotlbPoolPages(32768), 16384 + 192);
  });

  for (const r of V72_ARM64)
    it(`${r.machine}: MemTotal ${r.MemTotal} kB as the kernel's`, () => {
      const text = `machine ${r.machine}\nboot\nread /proc/meminfo MemTotal\n`;
      const t = runScenario(parseScenario(text, "v72.mhp"));
      const rec = t.records[t.records.length - 1] as { fields: Record<string, number> };
      assert.equal(rec.fields.MemTotal, r.MemTotal);
    });
});

describe("kernel warnings in the fuzz judge", () => {
  // the patched x86_64 kernel's dmesg after `call remove_memory` of a range never added
  const KERNEL = [
    "------------[ cut here ]------------",
    "WARNING: CPU: 0 PID: 214 at ../src/drivers/base/memory.c:942 remove_memory_block_devices+0x62/0x7a",
    "------------[ cut here ]------------",
    "WARNING: CPU: 0 PID: 214 at ../src/mm/memory_hotplug.c:501 __remove_pages+0x71/0x9b",
  ];
  // the 7.2 arm64 build's console, the same call (7 December 2026)
  const KERNEL_72 = [
    "------------[ cut here ]------------",
    "WARNING: ../src/drivers/base/memory.c:932 at remove_memory_block_devices+0x70/0xa8, CPU#0: sh/51",
    "------------[ cut here ]------------",
    "WARNING: ../src/mm/sparse-vmemmap.c:924 at sparse_remove_section+0x28/0x48, CPU#0: sh/51",
  ];
  const text = [
    "machine x86_64 mem=2G maxmem=5G rfc=v2",
    "boot",
    "call add_memory_driver_managed 0x140000000 512M owner=1",
    "call remove_memory 0x1c0000000 128M",
    "",
  ].join("\n");

  it("reads the function of a WARNING line, the kernel's and the model's", () => {
    assert.equal(warnedFunction(KERNEL[1]), "remove_memory_block_devices");
    assert.equal(
      warnedFunction("WARNING: CPU: 0 PID: 1 at mm/memory_hotplug.c __remove_pages"),
      "__remove_pages",
    );
    assert.equal(warnedFunction(KERNEL[0]), undefined);
    // 6.19's banner (28ea295f941e), as the 7.2 build printed it, and the model's of 7.2
    assert.equal(warnedFunction(KERNEL_72[1]), "remove_memory_block_devices");
    assert.equal(warnedFunction(KERNEL_72[3]), "sparse_remove_section");
    assert.equal(
      warnedFunction("WARNING: at memhp_remove_memory+0x10/0x18 [test_memhp], CPU#0: sh/51"),
      "memhp_remove_memory",
    );
    assert.equal(
      warnedFunction("WARNING: mm/sparse-vmemmap.c at sparse_remove_section, CPU#0: sh/1"),
      "sparse_remove_section",
    );
  });

  it("on 7.2 the model predicts them as the 7.2 build prints them: its banner, sparse_remove_section()", () => {
    const sc = parseScenario(text.replace("rfc=v2", "rfc=v2 kernel=7.2"), "w.mhp");
    const m = runOnModel(sc);
    assert.deepEqual(m.warnings?.map(warnedFunction), [
      "remove_memory_block_devices",
      "sparse_remove_section",
    ]);
    assert.ok(m.warnings?.every((l) => /, CPU#0: /.test(l)));
    assert.deepEqual(unexpectedWarnings(KERNEL_72, m.warnings), []);
    // the 7.2 banner is a warning to the oracle's dmesg filter
    assert.ok(KERNEL_72.filter((l) => WARNING_RE.test(l)).length === 4);
  });

  it("the model predicts remove_memory()'s WARN_ON_ONCE()s on a range never added, once each", () => {
    const sc = parseScenario(text + "call remove_memory 0x1c0000000 128M\n", "w.mhp");
    const m = runOnModel(sc);
    assert.deepEqual(m.warnings?.map(warnedFunction), ["remove_memory_block_devices", "__remove_pages"]);
    assert.deepEqual(unexpectedWarnings(KERNEL, m.warnings), []);
  });

  it("a WARNING the model did not predict fails, and so does one it predicted the kernel did not print", () => {
    const sc = parseScenario(text, "w.mhp");
    const m = runOnModel(sc);
    const v = judge("w", sc, m.trace, m.trace, []);
    const quiet = { ...m, warnings: [] };
    assert.deepEqual(
      problemsOf(v, { trace: m.trace, outcome: "ok", warnings: KERNEL }, quiet).map((p) => [
        p.kind,
        p.signature,
      ]),
      [
        ["warning", "warning: WARNING remove_memory_block_devices"],
        ["warning", "warning: WARNING __remove_pages"],
      ],
    );
    assert.deepEqual(
      problemsOf(v, { trace: m.trace, outcome: "ok", warnings: [] }, m).map((p) => p.signature),
      [
        "warning: model predicted WARNING remove_memory_block_devices, the kernel printed none",
        "warning: model predicted WARNING __remove_pages, the kernel printed none",
      ],
    );
    assert.deepEqual(problemsOf(v, { trace: m.trace, outcome: "ok", warnings: KERNEL }, m), []);
  });

  it("other reports count by their text without numbers; the oracle's boot note does not", () => {
    assert.deepEqual(
      unexpectedWarnings([
        "[   20.1] rcu: INFO: rcu_sched self-detected stall on CPU",
        "boot attempt 1 crashed: x",
      ]),
      ["rcu: INFO: rcu_sched self-detected stall on CPU"],
    );
    assert.deepEqual(unexpectedWarnings(["BUG: Bad page state in process sh  pfn:12345"]), [
      "BUG: Bad page state in process sh  pfn:N",
    ]);
  });

  it("docs/divergences.md lists a starved guest's stalls, not a WARNING", () => {
    const { problems } = loadFuzzDivergences();
    const sig = (l: string) => `warning: ${unexpectedWarnings([l])[0]}`;
    assert.equal(
      listedProblem(problems, sig("rcu: INFO: rcu_sched self-detected stall on CPU"))?.id,
      "fuzz-tcg-stall",
    );
    assert.equal(
      listedProblem(problems, sig("watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [sh:1]"))?.id,
      "fuzz-tcg-stall",
    );
    assert.equal(listedProblem(problems, sig(KERNEL[1])), undefined);
  });
});
