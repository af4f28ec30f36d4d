// The foundation's promises, shown on the model itself (the oracle corpus holds the
// same facts against the real kernel): DIMM and virtio-mem hot-add and removal as
// sysfs, procfs and the page tables show them, with every invariant checked after
// every statement.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parseScenario } from "../src/scenario/parse.js";
import { runScenario } from "../src/scenario/run.js";
import { packagePath } from "../src/paths.js";
import { Kernel } from "../src/kernel/kernel.js";
import { toVa48 } from "../src/mm/pgtable.js";

type Rec = Record<string, unknown>;

function run(text: string): Rec[] {
  return runScenario(parseScenario(text, "t.mhp"), { checkInvariants: true }).records as Rec[];
}
function runFile(rel: string): Rec[] {
  const file = packagePath(rel);
  return runScenario(parseScenario(readFileSync(file, "utf8"), file), { checkInvariants: true })
    .records as Rec[];
}
const at = (recs: Rec[], line: number): Rec => {
  const r = recs.find((x) => x.line === line);
  assert.ok(r, `no record for line ${line}`);
  return r;
};
const fields = (r: Rec) => r.fields as Record<string, number>;
const blocks = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `memory${from + i}`);

describe("x86_64 mem=1G: a 1 GiB DIMM", () => {
  const recs = run(
    [
      "machine x86_64 mem=1G maxmem=8G", //1
      "boot", //2
      "read /proc/meminfo MemTotal DirectMap1G", //3
      "dimm-add d1 size=1G", //4
      "read /proc/iomem", //5
      "read /proc/meminfo MemTotal DirectMap1G", //6
      "read /sys/devices/system/memory/memory32/state", //7
      "read /sys/devices/system/memory/memory39/state", //8
      "read /sys/devices/system/memory/memory32/valid_zones", //9
      "dimm-del d1", //10
      "read /proc/iomem", //11
      "read /proc/meminfo MemTotal DirectMap1G", //12
      "ls /sys/devices/system/memory", //13
    ].join("\n"),
  );

  it("appears as memory32..memory39, offline", () => {
    assert.deepEqual((at(recs, 4).blocks as Rec).added, blocks(32, 39));
    assert.equal(at(recs, 7).value, "offline");
    assert.equal(at(recs, 8).value, "offline");
    assert.equal(at(recs, 9).value, "Normal Movable");
  });

  it("adds 100000000-13fffffff : System RAM to /proc/iomem and a 1 GiB direct-map page", () => {
    assert.ok(String(at(recs, 5).value).split("\n").includes("100000000-13fffffff : System RAM"));
    assert.equal(fields(at(recs, 6)).DirectMap1G - fields(at(recs, 3)).DirectMap1G, 1048576);
    // Offline memory is not counted in MemTotal.
    assert.equal(fields(at(recs, 6)).MemTotal, fields(at(recs, 3)).MemTotal);
  });

  it("dimm-del takes all of it away again", () => {
    assert.deepEqual((at(recs, 10).blocks as Rec).removed, blocks(32, 39));
    assert.equal(at(recs, 10).result, "ok");
    assert.ok(!String(at(recs, 11).value).includes("100000000-13fffffff"));
    assert.equal(fields(at(recs, 12)).DirectMap1G, fields(at(recs, 3)).DirectMap1G);
    assert.ok(!(at(recs, 13).names as string[]).includes("memory32"));
  });
});

describe("x86_64: virtio-mem", () => {
  it("a 2 GiB device resized to 512 MiB gives four blocks and System RAM (virtio_mem) under virtio0", () => {
    const recs = runFile("scenarios/examples/x86-vmem.mhp");
    assert.deepEqual((at(recs, 6).blocks as Rec).added, blocks(32, 35));
    const iomem = String(at(recs, 7).value).split("\n");
    const parent = iomem.indexOf("100000000-17fffffff : virtio0");
    assert.ok(parent >= 0, iomem.join("\n"));
    assert.equal(iomem[parent + 1], "  100000000-11fffffff : System RAM (virtio_mem)");
    assert.equal(at(recs, 8).value, "Movable");
    assert.deepEqual((at(recs, 9).blocks as Rec).removed, blocks(32, 35));
    assert.ok(!String(at(recs, 10).value).includes("System RAM (virtio_mem)"));
  });
});

describe("arm64 rodata=full: a 1 GiB DIMM", () => {
  const recs = runFile("scenarios/examples/arm64-dimm.mhp");
  const pt = (line: number) => at(recs, line) as Rec & { linear: Rec[]; vmemmap: Rec[]; tablePages: number };

  it("is mapped with 4 KiB leaves at add time, with 513 new table pages", () => {
    assert.deepEqual(pt(5).linear, []);
    assert.deepEqual(pt(7).linear, [
      { va: "0xffff000080000000", size: "0x40000000", level: "pte", pa: "0x80000000" },
    ]);
    // 262144 PTEs need 512 PTE tables and one PMD table for that GiB (the PUD table exists from boot).
    assert.equal(pt(7).tablePages - pt(5).tablePages, 513);
    assert.deepEqual(
      pt(7).vmemmap.map((r) => r.level),
      ["pmd"],
    );
  });

  it("stays mapped while offline, and every table page is freed on removal", () => {
    assert.deepEqual(pt(10).linear, pt(7).linear);
    assert.deepEqual(pt(12).linear, []);
    assert.deepEqual(pt(12).vmemmap, []);
    assert.equal(pt(12).tablePages, pt(5).tablePages);
  });
});

describe("checkInvariants() catches a broken model", () => {
  it("is empty after boot and reports a corrupted section, block and page table", () => {
    const k = Kernel.boot({ arch: "x86_64", memBytes: 1 << 30, maxmemBytes: 8 * 2 ** 30 });
    assert.deepEqual(k.checkInvariants(), []);
    assert.equal(k.host.dimmAdd("d1", 2 ** 30).err, 0);
    assert.deepEqual(k.checkInvariants(), []);
    // A memory block device whose sections went away.
    const mem = k.memory.blocks.get(33);
    assert.ok(mem);
    k.memory.blocks.set(999, { ...mem, id: 999, startSectionNr: 999 });
    assert.ok(k.checkInvariants().some((v) => v.includes("memory999")));
    k.memory.blocks.delete(999);
    // A leaked page-table page: allocated for page tables, never linked in.
    const pfn = k.alloc.allocPages(0, "pgtable");
    assert.ok(pfn > 0);
    assert.deepEqual(k.checkInvariants(), [], "an allocated page on its own is no leak of the page tables");
    k.alloc.freePages(pfn, 0);
    // The linear map losing a present section.
    k.arch.pgtable.clearLeaves(
      toVa48(k.arch.physToVirt(2 ** 32)),
      toVa48(k.arch.physToVirt(2 ** 32 + 2 ** 30)),
    );
    assert.ok(k.checkInvariants().some((v) => v.includes("not in the linear map")));
  });
});
