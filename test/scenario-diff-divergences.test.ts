// docs/divergences.md's match blocks (src/scenario/divergences.ts): what each field
// limits, that every block names a rule and an item, that a block's
// afterRemoval covers only the first reading after a removal, and that a block
// nothing needs is found by leaving each out in turn.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diffTraces } from "../src/scenario/diff.js";
import { classify, covers, parseDivergences, redundantBlocks } from "../src/scenario/divergences.js";
import type { Trace, TraceHeader, TraceRecord } from "../src/scenario/trace.js";

const header = (system: string, version: string): TraceHeader => ({
  op: "system",
  system,
  version,
  arch: "x86_64",
});
const mem = (line: number, MemFree: number, MemTotal = 1000000): TraceRecord => ({
  line,
  op: "read",
  path: "/proc/meminfo",
  fields: { MemTotal, MemFree },
});
const del = (line: number): TraceRecord => ({
  line,
  op: "dimm-del",
  id: "d1",
  result: "ok",
  blocks: { added: [], removed: ["memory32"] },
});
const doc = (...blocks: [string, object][]) =>
  blocks.map(([id, m]) => `## ${id}: a test entry\n\n\`\`\`match\n${JSON.stringify(m)}\n\`\`\`\n`).join("\n");

describe("divergence match blocks", () => {
  // Model and kernel: MemFree first 500000 vs 490000, then changes that differ by 100 and 3000.
  const a: Trace = {
    header: header("memhp-model", "0"),
    records: [mem(3, 500000), del(4), mem(5, 600000), mem(6, 700000)],
  };
  const b: Trace = {
    header: header("linux", "6.1.0-56-cloud-amd64"),
    records: [mem(3, 490000), del(4), mem(5, 590100), mem(6, 687000)],
  };
  const diffs = diffTraces(a, b);

  it("the comparison finds the first reading and both changes", () => {
    assert.deepEqual(
      diffs.map((d) => [d.line, d.item, d.reading]),
      [
        [3, "MemFree", "first"],
        [5, "MemFree", "change"],
        [6, "MemFree", "change"],
      ],
    );
  });

  it("reading, tolerance, afterRemoval and kernel each limit a block", () => {
    const [first, after, other, wrongKernel] = parseDivergences(
      doc(
        ["first", { rule: "meminfo-delta", item: "^MemFree$", reading: "first", tolerance: 10000 }],
        [
          "after",
          { rule: "meminfo-delta", item: "^MemFree$", reading: "change", afterRemoval: true, tolerance: 100 },
        ],
        ["other", { rule: "meminfo-delta", item: "^MemFree$", afterRemoval: false, tolerance: 3000 }],
        ["k", { rule: "meminfo-delta", item: "^MemFree$", kernel: "6\\.1\\.0-50-.*" }],
      ),
    );
    const at = (line: number) => diffs.find((d) => d.line === line)!;
    assert.ok(covers(first, "s", at(3), a, b));
    assert.ok(!covers(first, "s", at(5), a, b), "a first-reading block does not cover a change");
    assert.ok(covers(after, "s", at(5), a, b));
    assert.ok(!covers(after, "s", at(6), a, b), "only the first reading after the removal");
    assert.ok(covers(other, "s", at(6), a, b));
    assert.ok(!covers(other, "s", at(5), a, b), "afterRemoval false: not the first reading after it");
    assert.ok(!covers({ ...first, match: { ...first.match, tolerance: 9999 } }, "s", at(3), a, b));
    assert.ok(!covers(wrongKernel, "s", at(3), a, b), "limited to another kernel release");
  });

  it("virtioIndexAfterConsole covers only a virtio device numbered one higher, nothing else", () => {
    const iomem = (line: number, value: string): TraceRecord => ({
      line,
      op: "read",
      path: "/proc/iomem",
      value,
    });
    const ram = (dev: string, extra = "") =>
      `c0000000-dfffffff : ${dev}\n  c0000000-cfffffff : System RAM (virtio_mem)\ne0000000-e7ffffff : System RAM (memhp)${extra}`;
    const model: Trace = { header: header("memhp-model", "0"), records: [iomem(3, ram("virtio0"))] };
    const kernelOf = (v: string): Trace => ({ header: header("linux", "6.1.192"), records: [iomem(3, v)] });
    const [block] = parseDivergences(
      doc(["c", { rule: "iomem-system-ram", item: "^value$", check: "virtioIndexAfterConsole" }]),
    );
    const covered = (v: string) => {
      const k = kernelOf(v);
      const d = diffTraces(model, k);
      assert.equal(d.length, 1, v);
      return covers(block, "s", d[0], model, k);
    };
    assert.ok(covered(ram("virtio1")));
    assert.ok(!covered(ram("virtio2")), "two higher");
    assert.ok(!covered(ram("virtio1", "\ne8000000-efffffff : System RAM (memhp)")), "and a line more");
    assert.ok(!covered(ram("virtio0", "\ne8000000-efffffff : System RAM (memhp)")), "no renumbering at all");
  });

  it("freeCountingPcp adds each side's per-cpu pages: a spilled list is covered, other gaps are not", () => {
    const memPcp = (line: number, MemFree: number, pcp?: number): TraceRecord => ({
      ...mem(line, MemFree),
      ...(pcp === undefined ? {} : { _pcpPages: pcp }),
    });
    const zone = (line: number, free: number, count: number): TraceRecord => ({
      line,
      op: "read",
      path: "/proc/zoneinfo",
      value:
        `Node 0, zone    DMA32\n  pages free     ${free}\n        min      100\n  pagesets\n` +
        `    cpu: 0\n              count: ${count}\n              high:  500\n              batch: 63`,
    });
    // The model keeps 3000 pages on its lists at line 5; the kernel spilled all but 200.
    const model: Trace = {
      header: header("memhp-model", "0"),
      records: [memPcp(3, 500000, 100), memPcp(5, 600000, 3000), zone(6, 10000, 3000)],
    };
    const kernelOf = (free5: number, pcp5: number | undefined, zfree: number): Trace => ({
      header: header("linux", "6.1.0-57-cloud-amd64"),
      records: [memPcp(3, 500000, 100), memPcp(5, free5, pcp5), zone(6, zfree, 200)],
    });
    const [memBlock, zoneBlock] = parseDivergences(
      doc(
        ["m", { rule: "meminfo-delta", item: "^MemFree$", check: "freeCountingPcp", tolerance: 40 }],
        ["z", { rule: "zoneinfo-delta", item: ": pages free$", check: "freeCountingPcp", tolerance: 10 }],
      ),
    );
    const verdict = (k: Trace, line: number, block = memBlock) => {
      const d = diffTraces(model, k).find((x) => x.line === line);
      assert.ok(d, `a difference at line ${line}`);
      return covers(block, "s", d, model, k);
    };
    // 2800 pages spilled: MemFree 11200 kB higher, the lists 2800 pages lower
    assert.ok(verdict(kernelOf(611200, 200, 12800), 5));
    assert.ok(verdict(kernelOf(611240, 200, 12800), 5), "40 kB apart, at the tolerance");
    assert.ok(!verdict(kernelOf(611244, 200, 12800), 5), "44 kB apart");
    assert.ok(!verdict(kernelOf(611200, undefined, 12800), 5), "no _pcpPages on the kernel's reading");
    assert.ok(!verdict(kernelOf(611200, 3000, 12800), 5), "the lists did not shrink: an unexplained 11 MB");
    assert.ok(verdict(kernelOf(611200, 200, 12800), 6, zoneBlock), "the zone's pages free with its pagesets");
    assert.ok(!verdict(kernelOf(611200, 200, 12811), 6, zoneBlock), "11 pages apart");
    // a read of other meminfo fields first (line 2) is not MemFree's baseline:
    // its lists are counted from line 3, MemFree's first reading
    const directMap = (line: number): TraceRecord => ({
      line,
      op: "read",
      path: "/proc/meminfo",
      fields: { DirectMap4k: 2048 },
    });
    const withDirectMap = (t: Trace): Trace => ({ ...t, records: [directMap(2), ...t.records] });
    const m2 = withDirectMap(model);
    const k2 = withDirectMap(kernelOf(611200, 200, 12800));
    const d = diffTraces(m2, k2).find((x) => x.line === 5);
    assert.ok(d && covers(memBlock, "s", d, m2, k2), "the same spill after a DirectMap read");
  });

  it("lines by scenario: each scenario's own lines only", () => {
    const [block] = parseDivergences(
      doc(["l", { rule: "meminfo-delta", item: "^MemFree$", lines: { "s1|s2": [5], s3: [6] } }]),
    );
    const at = (line: number) => diffs.find((d) => d.line === line)!;
    assert.ok(covers(block, "s1", at(5), a, b));
    assert.ok(covers(block, "s3", at(6), a, b));
    assert.ok(!covers(block, "s3", at(5), a, b), "line 5 is s1's and s2's");
    assert.ok(!covers(block, "s4", at(5), a, b), "a scenario the block does not name");
  });

  it("every block names a rule and an item; a heading that is not an entry's is refused", () => {
    assert.throws(
      () => parseDivergences(doc(["x", { item: "^MemFree$" }])),
      /x: a match block needs a "rule"/,
    );
    assert.throws(() => parseDivergences(doc(["x", { rule: "exact" }])), /x: a match block needs a "item"/);
    assert.throws(
      () => parseDivergences("## not.an.id: title\n\n```match\n{}\n```\n"),
      /divergences\.md:1: an entry's heading/,
    );
  });

  it("a block nothing needs is redundant, whichever of two equal blocks comes first", () => {
    const needed = { rule: "meminfo-delta", item: "^MemFree$", tolerance: 10000 };
    const divs = parseDivergences(
      doc(["one", needed], ["two", needed], ["never", { rule: "meminfo-delta", item: "^MemTotal$" }]),
    );
    const cases = [{ scenario: "s", diffs, a, b }];
    assert.equal(classify(divs, "s", diffs, a, b).unexplained.length, 0);
    assert.deepEqual(
      redundantBlocks(divs, cases).map((d) => d.id),
      ["one", "two", "never"],
    );
    assert.deepEqual(redundantBlocks(divs.slice(0, 1), cases), []);
  });
});
