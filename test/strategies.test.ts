// The five power-down strategies (src/drivers/memory/strategies.ts) on both
// architectures: each cycle succeeds and leaves every invariant true; the auditor
// flags exactly the ones that leave powered-down memory mapped; each does the
// work the kernel's rules say it must (worked out below from the page-table
// shapes: arm64 rodata=full maps 4 KiB pages, 512 entries a table; x86_64 maps a
// 1 GiB-aligned GiB with one 1G page). And `memhp demo`, which runs them all.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EBUSY, EINVAL, EOPNOTSUPP } from "../src/errno.js";
import type { Kernel } from "../src/kernel/kernel.js";
import type { WorkCounts, WorkKey } from "../src/kernel/work.js";
import {
  STRATEGY_KINDS,
  createStrategy,
  type PhaseResult,
  type StrategyKind,
} from "../src/drivers/memory/strategies.js";
import { MHP_MEMMAP_ON_MEMORY, MHP_MERGE_RESOURCE } from "../src/mm/memory_hotplug.js";
import {
  ARCHES,
  BLOCK,
  G,
  addDriverManaged,
  assertInvariants,
  boot,
  onlineRange,
  stateOf,
} from "./support/rfc-machine.js";
import { memhp } from "./support/memhp-cli.js";

const PAGES_PER_GIB = G / 4096;

function total(phases: readonly PhaseResult[]): WorkCounts {
  const out: WorkCounts = {};
  for (const p of phases)
    for (const [k, v] of Object.entries(p.work) as [WorkKey, number][]) out[k] = (out[k] ?? 0) + v;
  return out;
}
const get = (w: WorkCounts, k: WorkKey): number => w[k] ?? 0;

/** 2 GiB of boot RAM and 1 GiB of driver-managed memory at the first 1 GiB-aligned device address, online movable. */
function machine(arch: "arm64" | "x86_64"): { k: Kernel; start: number } {
  const { k, base } = boot(arch);
  addDriverManaged(k, base, G);
  k.runWorkload(10, { intensity: "256" });
  return { k, start: base };
}

/** The auditor's verdict with the memory off: the strategies that leave it mapped. */
const EXPOSED: Readonly<Record<StrategyKind, boolean>> = {
  offline: true,
  remove: false,
  depopulate: false,
  memtrace: false,
  "fake-offline": true,
  "depopulate-whole": false,
  unmapped: false,
};

/**
 * Every finding at power-off (docs/rfc-v2.md's three besides the mapping):
 * nothing cleaned the caches of offline-only, removed and fake-offlined
 * memory (dirty-cache); offline-only memory is System RAM whose pages are not
 * PageOffline (crash-dump). The RFC v2 and memtrace clean and mark PageOffline.
 */
const AT_POWER_OFF: Readonly<Record<StrategyKind, readonly string[]>> = {
  offline: ["linear-map", "crash-dump", "dirty-cache"],
  remove: ["dirty-cache"],
  depopulate: [],
  memtrace: [],
  "fake-offline": ["linear-map", "dirty-cache"],
  "depopulate-whole": [],
  unmapped: [],
};

for (const arch of ARCHES) {
  describe(`${arch}: power-down / power-up under each strategy`, () => {
    for (const kind of STRATEGY_KINDS) {
      it(`${kind}: both directions succeed, the auditor ${EXPOSED[kind] ? "flags" : "clears"} it, invariants hold`, () => {
        const { k, start } = machine(arch);
        const memTotal = k.alloc.totalramPages;
        const s = createStrategy(k, kind);
        // the auditor after every phase: only a mapping of the memory once it is off, and only where expected
        const seen: string[] = [];
        const audit = (p: PhaseResult) => {
          for (const f of k.auditor.audit()) seen.push(`${p.name}: ${f.kind}`);
        };
        const down = s.powerDown(start, G, audit);
        assert.deepEqual(
          seen,
          AT_POWER_OFF[kind].map((x) => `power-off: ${x}`),
        );
        assert.equal(down.err, 0);
        assert.equal(down.phases[down.phases.length - 1].name, "power-off");
        assert.equal(k.hw.inaccessiblePages(start / 4096, PAGES_PER_GIB), PAGES_PER_GIB);
        assertInvariants(k);
        k.runWorkload(4, { intensity: "256" });
        const f = k.auditor.audit();
        const mapped = f.filter((x) => x.kind === "linear-map").reduce((n, x) => n + Number(x.size), 0);
        assert.equal(mapped, EXPOSED[kind] ? G : 0, "bytes of powered-down memory in the linear map");
        assert.deepEqual(
          f.filter((x) => x.kind !== "linear-map" && x.kind !== "crash-dump"),
          [],
          "no other finding: no page in use, no access",
        );
        assert.equal(
          f.some((x) => x.kind === "crash-dump"),
          kind === "offline",
          "a crash dump would read offline-only memory",
        );
        seen.length = 0;
        const up = s.powerUp(start, G, audit);
        assert.deepEqual(seen, [], "nothing after power-on");
        assert.equal(up.err, 0);
        assert.equal(up.phases[0].name, "power-on");
        assert.equal(k.alloc.totalramPages, memTotal, "MemTotal is back");
        assert.deepEqual(k.auditor.audit(), []);
        assert.deepEqual(k.workload.checkInvariants(), []);
        assertInvariants(k);
      });
    }

    it("the work each strategy does follows from the page-table shapes and the memmap", () => {
      const w: Partial<Record<StrategyKind, { down: WorkCounts; up: WorkCounts }>> = {};
      for (const kind of STRATEGY_KINDS) {
        const { k, start } = machine(arch);
        const s = createStrategy(k, kind);
        const down = s.powerDown(start, G);
        const up = s.powerUp(start, G);
        assert.equal(down.err + up.err, 0);
        w[kind] = { down: total(down.phases), up: total(up.phases) };
      }
      const blocks = G / BLOCK;
      // The linear map of the GiB: arm64 262144 PTEs in 512 PTE tables + 1 PMD table;
      // x86_64 one 1G page in the (never freed) PUD table.
      const leafW: WorkKey = arch === "arm64" ? "pteWritten" : "pudWritten";
      const leafC: WorkKey = arch === "arm64" ? "pteCleared" : "pudCleared";
      const leaves = arch === "arm64" ? PAGES_PER_GIB : 1;
      const tables = arch === "arm64" ? 512 + 1 : 0;
      // RFC v2 populates block by block: on x86_64 the GiB comes back as 512 2M
      // pages in a new PMD table (never a leaf across a memory block)
      const byBlock = (kind: StrategyKind) =>
        (kind === "depopulate" || kind === "depopulate-whole") && arch === "x86_64";
      const upLeafW = (kind: StrategyKind): WorkKey => (byBlock(kind) ? "pmdWritten" : leafW);
      const upLeaves = (kind: StrategyKind) => (byBlock(kind) ? G / (2 * 2 ** 20) : leaves);
      const upTables = (kind: StrategyKind) => (byBlock(kind) ? 1 : tables);
      for (const kind of ["depopulate", "memtrace", "depopulate-whole", "unmapped"] as const) {
        assert.equal(get(w[kind]!.down, leafC), leaves, `${kind}: leaves cleared`);
        assert.equal(get(w[kind]!.down, "tablePagesFreed"), tables, `${kind}: tables freed`);
        assert.equal(get(w[kind]!.up, upLeafW(kind)), upLeaves(kind), `${kind}: leaves written`);
        assert.equal(get(w[kind]!.up, "tablePagesAllocated"), upTables(kind), `${kind}: tables allocated`);
        // the clean of the data cache over the GiB (64-byte lines), and PageOffline both ways
        assert.equal(get(w[kind]!.down, "cacheLinesCleaned"), G / 64, `${kind}: cache lines cleaned`);
        assert.equal(get(w[kind]!.down, "pagesMarkedOffline"), PAGES_PER_GIB, `${kind}: PageOffline set`);
        assert.equal(get(w[kind]!.up, "pagesMarkedOffline"), PAGES_PER_GIB, `${kind}: PageOffline cleared`);
        assert.equal(
          get(w[kind]!.down, "memoryBlocksUnregistered") + get(w[kind]!.up, "memoryBlocksRegistered"),
          0,
        );
      }
      for (const kind of ["offline", "fake-offline"] as const)
        for (const dir of ["down", "up"] as const)
          assert.equal(
            get(w[kind]![dir], leafC) + get(w[kind]![dir], leafW),
            0,
            `${kind} ${dir}: no page-table work`,
          );
      // remove + add: the block devices and the memmap (one 2 MiB vmemmap block per 128 MiB section) go and come back
      assert.equal(get(w.remove!.down, "memoryBlocksUnregistered"), blocks);
      assert.equal(get(w.remove!.up, "memoryBlocksRegistered"), blocks);
      assert.equal(get(w.remove!.down, "vmemmapPagesFreed"), blocks * 512);
      assert.equal(get(w.remove!.up, "vmemmapPagesAllocated"), blocks * 512);
      assert.equal(get(w.remove!.up, leafW), leaves);
      // onlining initialises every struct page of the GiB; memtrace and fake-offline never offline
      for (const kind of ["offline", "remove", "depopulate", "depopulate-whole"] as const)
        assert.equal(get(w[kind]!.up, "memmapPagesInit"), PAGES_PER_GIB, `${kind}: struct pages initialised`);
      // the unmapped allocation invalidates the caches over the range before it gives it back
      assert.equal(get(w.unmapped!.up, "cacheLinesCleaned"), G / 64, "unmapped: cache invalidated on free");
      for (const kind of ["memtrace", "fake-offline", "unmapped"] as const)
        assert.equal(get(w[kind]!.up, "memmapPagesInit") + get(w[kind]!.down, "memmapPagesInit"), 0);
      // the RFC keeps what remove + add rebuilds
      for (const key of ["memoryBlocksRegistered", "vmemmapPagesAllocated", "resourcesRequested"] as const)
        assert.equal(get(w.depopulate!.up, key), 0, `depopulate: no ${key}`);
    });

    it("a refusal changes nothing: depopulate of memmap_on_memory memory (-EOPNOTSUPP) leaves it online", () => {
      const { k, base } = boot(arch, ["memory_hotplug.memmap_on_memory=1"]);
      for (let s = base; s < base + 2 * BLOCK; s += BLOCK)
        addDriverManaged(k, s, BLOCK, MHP_MEMMAP_ON_MEMORY | MHP_MERGE_RESOURCE, false);
      onlineRange(k, base, 2 * BLOCK);
      const r = createStrategy(k, "depopulate").powerDown(base, 2 * BLOCK);
      assert.equal(r.err, -EOPNOTSUPP);
      assert.deepEqual(
        r.phases.map((p) => [p.name, p.err]),
        [["offline_and_depopulate_memory", -EOPNOTSUPP]],
      );
      assert.equal(stateOf(k, base / BLOCK), "online");
      assert.equal(stateOf(k, base / BLOCK + 1), "online");
      assert.ok(!k.hw.anyInaccessible, "not powered off");
      // memtrace cannot take the block's own memmap pages (PageReserved): -EBUSY, nothing taken
      assert.equal(createStrategy(k, "memtrace").powerDown(base, 2 * BLOCK).err, -EBUSY);
      assert.deepEqual(k.contig.held(), []);
      // remove + add goes block by block there, as 6.1 requires
      const s = createStrategy(k, "remove");
      assert.equal(s.powerDown(base, 2 * BLOCK).err, 0);
      assert.equal(s.powerUp(base, 2 * BLOCK).err, 0);
      assert.ok(
        k.memory.findMemoryBlockById(base / BLOCK)!.nrVmemmapPages > 0,
        "added again with its memmap inside",
      );
      assertInvariants(k);
    });
  });
}

describe("alloc_contig_range() / free_contig_range()", () => {
  it("an unmovable page in the range fails it with -EBUSY and nothing stays isolated or held", () => {
    // x86_64 with 2 GiB: ZONE_NORMAL is empty until memory above 4 GiB is onlined to it,
    // so the next GFP_KERNEL page comes from the block onlined here.
    const { k, base } = boot("x86_64");
    const start = base + BLOCK;
    addDriverManaged(k, start, BLOCK, 0, false);
    onlineRange(k, start, BLOCK, "online_kernel");
    const pfn = k.alloc.allocPages(0, "kernel");
    const first = start / 4096;
    const end = first + BLOCK / 4096;
    assert.ok(pfn >= first && pfn < end, "the kernel page is in the block");
    assert.equal(k.contig.allocContigRange(first, end), -EBUSY);
    assert.deepEqual(k.contig.held(), []);
    assertInvariants(k);
    k.alloc.freePages(pfn, 0);
    assert.equal(k.contig.allocContigRange(first, end), 0);
    assert.deepEqual(k.contig.held(), [{ startPfn: first, endPfn: end }]);
    assert.equal(k.contig.freeContigRange(first, 10), 0, "a part can be given back");
    assert.equal(k.contig.freeContigRange(first, 10), -EINVAL, "but only once");
    assertInvariants(k);
    assert.equal(k.contig.freeContigRange(first + 10, end - first - 10), 0);
    assert.deepEqual(k.contig.held(), []);
    assertInvariants(k);
  });
});

describe("memhp demo", () => {
  it("prints the side-by-side table and, with --json, numbers from the model", () => {
    const args = [
      "demo",
      "--strategy",
      "offline,depopulate",
      "--range",
      "256M",
      "--steps",
      "2,1,1",
      "--intensity",
      "64",
    ];
    const table = memhp(args);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /1 offline only\s+2 RFC depopulate/);
    assert.match(table.stdout, /^correct\s+NO\s+yes/m);
    const json = memhp([...args, "--json"]);
    assert.equal(json.status, 0, json.stderr);
    const r = JSON.parse(json.stdout) as {
      machine: { arch: string };
      strategies: Array<{ kind: string; correct: boolean; windows: unknown[]; down: PhaseResult[] }>;
    };
    assert.equal(r.machine.arch, "arm64");
    const [off, dep] = r.strategies;
    assert.deepEqual([off.kind, off.correct, off.windows.length], ["offline", false, 1]);
    assert.deepEqual([dep.kind, dep.correct, dep.windows.length], ["depopulate", true, 0]);
    // 256 MiB with 4 KiB PTEs: 65536 entries cleared by the depopulate phase
    const phase = dep.down.find((p) => p.name === "offline_and_depopulate_memory")!;
    assert.equal(phase.work.pteCleared, 65536);
  });
});
