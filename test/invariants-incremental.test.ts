// Incremental invariant checks (Kernel.checkInvariants({ incremental: true }),
// docs/performance.md) reuse what the last check found in memmap sections,
// sparse sections and PTE tables that were not written since. They must find
// what a full check finds: here after every step of random operation sequences,
// and for corruptions made after a clean check.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { caseFromSeed } from "../src/fuzz/campaign.js";
import { runCase } from "../src/fuzz/driver.js";
import { parseScenario } from "../src/scenario/parse.js";
import { runScenarioKernel } from "../src/scenario/run.js";
import { PS_KERNEL, PS_BUDDY } from "../src/mm/memmap.js";
import { ZONE_MOVABLE } from "../src/mm/mmzone.js";

describe("incremental invariant checks", () => {
  it("equal the full check after every step of 40 random cases", () => {
    let steps = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const { machine, ops } = caseFromSeed(seed * 7919, 40);
      const r = runCase(machine, ops, {
        afterStep: (k) => {
          steps++;
          const inc = k.checkInvariants({ incremental: true });
          const full = k.checkInvariants();
          assert.deepEqual(inc, full, `seed ${seed}, step ${steps}`);
          return undefined;
        },
      });
      // the incremental and the full check agreed up to the end; a case may end in a
      // known stock-kernel behaviour (src/fuzz/known.ts), never in a model bug
      assert.ok(!r.failure || r.failure.behaviour, r.failure?.message);
    }
    assert.ok(steps > 400, `only ${steps} steps ran`);
  });

  const machine = () =>
    runScenarioKernel(
      parseScenario(
        "machine x86_64 mem=2G maxmem=4G\nboot\ndimm-add d1 size=1G\n" +
          "write /sys/devices/system/memory/memory32/state online_movable\n",
        "t.mhp",
      ),
    );

  it("find a page whose state changed behind the allocator's back after a clean check", () => {
    const k = machine();
    assert.deepEqual(k.checkInvariants(), []);
    assert.deepEqual(k.checkInvariants({ incremental: true }), []);
    // a free buddy head of the onlined block becomes a kernel page, uncounted
    const start = 32 * 32768;
    let pfn = start;
    while (k.memmap.state(pfn) !== PS_BUDDY) pfn++;
    k.memmap.setState(pfn, PS_KERNEL);
    const inc = k.checkInvariants({ incremental: true });
    assert.ok(inc.length > 0, "the incremental check missed the corruption");
    assert.deepEqual(inc, k.checkInvariants());
  });

  it("find a zone counter changed without any page write", () => {
    const k = machine();
    assert.deepEqual(k.checkInvariants(), []);
    k.pgdat.zones[ZONE_MOVABLE].nrPages[PS_KERNEL] += 1;
    const inc = k.checkInvariants({ incremental: true });
    assert.ok(
      inc.some((e) => e.includes("kernel pages counted")),
      inc.join("\n"),
    );
  });

  it("find a linear-map page table emptied behind the page table's back", () => {
    const k = machine();
    assert.deepEqual(k.checkInvariants(), []);
    const pt = k.arch.pgtable;
    // clear one 2 MiB leaf of the DIMM's direct map: the table is written, so re-checked
    const va = k.arch.physToVirt(4 * 2 ** 30 + 2 ** 21);
    const hit = pt.lookup(va);
    assert.ok(hit, "the DIMM is mapped");
    const id = pt.tableAt(hit.leafVa48, hit.level);
    pt.clear(id, Number((BigInt(hit.leafVa48) >> BigInt(12 + 9 * (3 - hit.level))) % 512n));
    const inc = k.checkInvariants({ incremental: true });
    assert.ok(
      inc.some((e) => e.includes("not in the linear map")),
      inc.join("\n"),
    );
  });
});
