// Trace comparison (src/scenario/diff.ts) against the contract's "Comparing two
// traces" and "How two traces are compared" (docs/scenario-format.md): exact
// matching by scenario line, except counter files and tablePages compared as
// changes since their first reading, and /proc/iomem reduced to System RAM lines.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  compareTraces,
  diffTraces,
  type Difference,
  formatDifferences,
  iomemSystemRam,
} from "../src/scenario/diff.js";
import { parseScenario } from "../src/scenario/parse.js";
import { formatTrace, readTrace, TraceFormatError } from "../src/scenario/trace.js";
import type { Trace, TraceHeader, TraceRecord } from "../src/scenario/trace.js";

const model: TraceHeader = { op: "system", system: "memhp-model", version: "0.1.0", arch: "x86_64" };
const linux: TraceHeader = { op: "system", system: "linux", version: "6.1.0-47-cloud-amd64", arch: "x86_64" };
const trace = (header: TraceHeader, records: TraceRecord[]): Trace => ({ header, records });
const clone = <T>(x: T): T => structuredClone(x);

const SCENARIO = [
  "machine x86_64 mem=1G maxmem=8G slots=4", // 1
  "boot", // 2
  "ls /sys/devices/system/memory", // 3
  "dimm-add d1 size=1G", // 4
  "write /sys/devices/system/memory/memory32/state online_movable", // 5
  "ls /sys/devices/system/memory", // 6
  "dimm-del d1", // 7
].join("\n");

const base: TraceRecord[] = [
  {
    line: 3,
    op: "ls",
    path: "/sys/devices/system/memory",
    names: ["auto_online_blocks", "block_size_bytes", "memory0"],
  },
  {
    line: 4,
    op: "dimm-add",
    id: "d1",
    result: "ok",
    blocks: { added: ["memory32", "memory33"], removed: [] },
  },
  {
    line: 5,
    op: "write",
    path: "/sys/devices/system/memory/memory32/state",
    value: "online_movable",
    result: "ok",
  },
  {
    line: 6,
    op: "ls",
    path: "/sys/devices/system/memory",
    names: ["auto_online_blocks", "block_size_bytes", "memory0", "memory32", "memory33"],
  },
  {
    line: 7,
    op: "dimm-del",
    id: "d1",
    result: "ok",
    blocks: { added: [], removed: ["memory32", "memory33"] },
  },
];

describe("diffTraces: matching and exact comparison", () => {
  it("finds nothing between identical traces, whatever their headers say", () => {
    assert.deepEqual(diffTraces(trace(model, base), trace(linux, clone(base))), []);
  });

  it("reports a changed write result and changed ls names at their scenario lines", () => {
    const b = clone(base);
    (b[2] as Record<string, unknown>).result = "EBUSY";
    (b[3] as Record<string, unknown>).names = [
      "auto_online_blocks",
      "block_size_bytes",
      "memory0",
      "memory32",
    ];
    const d = diffTraces(trace(model, base), trace(linux, b));
    assert.equal(d.length, 2);
    assert.deepEqual(
      d.map((x) => [x.line, x.op, x.path, x.rule, x.item]),
      [
        [5, "write", "/sys/devices/system/memory/memory32/state", "exact", "result"],
        [6, "ls", "/sys/devices/system/memory", "exact", "names"],
      ],
    );
    assert.equal(d[0].a, "ok");
    assert.equal(d[0].b, "EBUSY");
    assert.match(d[1].message, /memory33/);
  });

  it("reports records missing from either trace and a different op on the same line", () => {
    const truncated = base.slice(0, 3);
    const d = diffTraces(trace(model, base), trace(linux, truncated));
    assert.deepEqual(
      d.map((x) => [x.line, x.rule]),
      [
        [6, "missing"],
        [7, "missing"],
      ],
    );
    assert.equal(d[0].b, undefined);
    assert.match(d[0].message, /only trace a/);

    // b has a record (line 5) that a lacks.
    const gap = base.filter((r) => r.line !== 5);
    const d2 = diffTraces(trace(model, gap), trace(linux, base));
    assert.deepEqual(
      d2.map((x) => [x.line, x.rule, x.a === undefined, x.b === base[2]]),
      [[5, "missing", true, true]],
    );
    assert.match(d2[0].message, /only trace b/);

    const swapped = clone(base);
    swapped[1] = { line: 4, op: "write", path: "/sys/x", value: "1", result: "ok" };
    const d3 = diffTraces(trace(model, base), trace(linux, swapped));
    assert.deepEqual(
      d3.map((x) => [x.line, x.rule, x.a, x.b]),
      [[4, "op", "dimm-add", "write"]],
    );
  });

  it("compares host-event block changes exactly and ignores _annotation keys", () => {
    const b = clone(base);
    (b[1] as Record<string, unknown>).blocks = { added: ["memory32"], removed: [] };
    (b[1] as Record<string, unknown>)._settleMs = 120;
    const d = diffTraces(trace(model, base), trace(linux, b));
    assert.deepEqual(
      d.map((x) => [x.line, x.item]),
      [[4, "blocks"]],
    );
  });

  it("with the scenario, reports statements neither trace reached", () => {
    const s = parseScenario(SCENARIO, "s.mhp");
    const short = base.slice(0, 4);
    const d = diffTraces(trace(model, short), trace(linux, clone(short)), s);
    assert.deepEqual(
      d.map((x) => [x.line, x.rule, x.op]),
      [[7, "missing", "dimm-del"]],
    );
    assert.deepEqual(diffTraces(trace(model, base), trace(linux, clone(base)), s), []);
  });
});

describe("diffTraces: counters compared once, first as values, then as changes", () => {
  const meminfo = (line: number, fields: Record<string, number>): TraceRecord => ({
    line,
    op: "read",
    path: "/proc/meminfo",
    fields,
  });

  it("reports different first readings once, as values, and then compares changes", () => {
    const a = [
      meminfo(3, { MemTotal: 1000000, MemFree: 800000 }),
      meminfo(5, { MemTotal: 2048576, MemFree: 1848576 }),
    ];
    const b = [
      meminfo(3, { MemTotal: 990000, MemFree: 700000 }),
      meminfo(5, { MemTotal: 2038576, MemFree: 1748576 }),
    ];
    const d = diffTraces(trace(model, a), trace(linux, b));
    assert.deepEqual(
      d.map((x) => [x.line, x.item, x.reading, x.a, x.b, x.deltaA]),
      [
        [3, "MemTotal", "first", 1000000, 990000, undefined],
        [3, "MemFree", "first", 800000, 700000, undefined],
      ],
    );
    assert.match(d[0].message, /first reading 1000000 in a but 990000 in b \(\+10000\)/);
    const same = [
      meminfo(3, { MemTotal: 1000000, MemFree: 800000 }),
      meminfo(5, { MemTotal: 2048576, MemFree: 1848576 }),
    ];
    assert.deepEqual(diffTraces(trace(model, a), trace(linux, same)), []);
  });

  it("compares a reading that is the only one of its kind as a value", () => {
    const d = diffTraces(
      trace(model, [meminfo(3, { MemTotal: 1000 })]),
      trace(linux, [meminfo(3, { MemTotal: 1024 })]),
    );
    assert.deepEqual(
      d.map((x) => [x.line, x.item, x.reading]),
      [[3, "MemTotal", "first"]],
    );
    const c = compareTraces(
      trace(model, [meminfo(3, { MemTotal: 1000 })]),
      trace(linux, [meminfo(3, { MemTotal: 1000 })]),
    );
    assert.deepEqual(c.differences, []);
    assert.equal(c.compared.get(3), 1, "one number compared");
  });

  it("reports a field whose change differs, with both changes", () => {
    const a = [meminfo(3, { MemFree: 800000 }), meminfo(5, { MemFree: 1848576 })];
    const b = [meminfo(3, { MemFree: 700000 }), meminfo(5, { MemFree: 1700000 })];
    const d = diffTraces(trace(model, a), trace(linux, b)).filter((x) => x.reading === "change");
    assert.equal(d.length, 1);
    assert.equal(d[0].line, 5);
    assert.equal(d[0].rule, "meminfo-delta");
    assert.equal(d[0].item, "MemFree");
    assert.equal(d[0].deltaA, 1048576);
    assert.equal(d[0].deltaB, 1000000);
    assert.equal(d[0].a, 1848576);
    assert.equal(d[0].b, 1700000);
  });

  it("baselines a field at its first reading, also when the first reading was the whole file", () => {
    const full = (line: number, free: number, total: number, more = ""): TraceRecord => ({
      line,
      op: "read",
      path: "/proc/meminfo",
      value: `MemTotal:        ${total} kB\nMemFree:         ${free} kB\nActive(anon):       1234 kB${more}`,
    });
    // MemFree first read at line 3 (whole file), then by name at line 5.
    const a = [full(3, 800000, 1000000), meminfo(5, { MemFree: 1800000 })];
    const b = [full(3, 700000, 900000), meminfo(5, { MemFree: 1700000 })];
    const later = (x: Difference) => x.line > 3;
    assert.deepEqual(diffTraces(trace(model, a), trace(linux, b)).filter(later), []);
    const b2 = [full(3, 700000, 900000), meminfo(5, { MemFree: 1600000 })];
    const d = diffTraces(trace(model, a), trace(linux, b2)).filter(later);
    assert.deepEqual(
      d.map((x) => [x.line, x.item, x.deltaA, x.deltaB]),
      [[5, "MemFree", 1000000, 900000]],
    );
    // Whole-file readings: a line only one kernel prints is a layout difference.
    const b3 = [full(3, 700000, 900000), full(5, 1700000, 1900000)];
    const a3 = [full(3, 800000, 1000000), full(5, 1800000, 2000000, "\nDirectMap4k:       5000 kB")];
    const d3 = diffTraces(trace(model, a3), trace(linux, b3)).filter(later);
    assert.deepEqual(
      d3.map((x) => [x.line, x.rule, x.item]),
      [[5, "meminfo-delta", "layout"]],
    );
    assert.match(d3[0].message, /DirectMap4k: # kB/);
  });

  it("treats /proc/vmstat the same way", () => {
    const v = (line: number, free: number, pg: number): TraceRecord => ({
      line,
      op: "read",
      path: "/proc/vmstat",
      value: `nr_free_pages ${free}\npgalloc_dma32 ${pg}`,
    });
    const a = [v(3, 100, 5000), v(5, 362244, 6000)];
    const b = [v(3, 90, 7000), v(5, 362234, 8000)];
    assert.deepEqual(
      diffTraces(trace(model, a), trace(linux, b)).map((x) => [x.line, x.item, x.reading]),
      [
        [3, "nr_free_pages", "first"],
        [3, "pgalloc_dma32", "first"],
      ],
    );
    const b2 = [v(3, 90, 7000), v(5, 362234, 8001)];
    const d = diffTraces(trace(model, a), trace(linux, b2)).filter((x) => x.line === 5);
    assert.deepEqual(
      d.map((x) => [x.rule, x.item, x.deltaA, x.deltaB]),
      [["vmstat-delta", "pgalloc_dma32", 1000, 1001]],
    );
  });
});

describe("diffTraces: /proc/zoneinfo", () => {
  // The shape zoneinfo_show_print() (mm/vmstat.c) gives, cut down.
  const zoneinfo = (
    dmaFree: number,
    normalFree: number,
    movable?: { free: number; present: number },
  ): string => {
    const mov = movable ?? { free: 0, present: 0 };
    const lines = [
      "Node 0, zone      DMA",
      "  per-node stats",
      `      nr_inactive_anon ${1000 + dmaFree}`,
      `  pages free     ${dmaFree}`,
      "        min      23",
      "        present  3998",
      "        protection: (0, 975, 975, 975)",
      `      nr_free_pages ${dmaFree}`,
      "  pagesets",
      "    cpu: 0",
      "              count: 0",
      "              high:  0",
      "Node 0, zone    DMA32",
      `  pages free     ${normalFree}`,
      "        min      5000",
      "        present  258048",
      "        protection: (0, 0, 0, 0)",
      `      nr_free_pages ${normalFree}`,
      "  pagesets",
      "    cpu: 0",
      `              count: ${normalFree % 7}`,
      "              high:  1000",
      "Node 0, zone  Movable",
      `  pages free     ${mov.free}`,
      `        present  ${mov.present}`,
      "        protection: (0, 0, 0, 0)",
    ];
    if (movable !== undefined) lines.push(`      nr_free_pages ${mov.free}`);
    return lines.join("\n");
  };
  const zi = (line: number, value: string): TraceRecord => ({
    line,
    op: "read",
    path: "/proc/zoneinfo",
    value,
  });

  it("compares each number of each zone once: first as a value, then as a change", () => {
    const a = [zi(3, zoneinfo(3900, 200000)), zi(5, zoneinfo(3900, 199000))];
    const b = [zi(3, zoneinfo(3800, 210000)), zi(5, zoneinfo(3800, 209000))];
    const first = diffTraces(trace(model, a), trace(linux, b));
    assert.ok(first.every((x) => x.line === 3 && x.reading === "first"));
    assert.deepEqual(first.map((x) => x.item).sort(), [
      "Node 0, zone DMA32: cpu 0 count",
      "Node 0, zone DMA32: nr_free_pages",
      "Node 0, zone DMA32: pages free",
      "Node 0, zone DMA: nr_free_pages",
      "Node 0, zone DMA: nr_inactive_anon",
      "Node 0, zone DMA: pages free",
    ]);

    const b2 = [zi(3, zoneinfo(3800, 210000)), zi(5, zoneinfo(3800, 209500))];
    const d = diffTraces(trace(model, a), trace(linux, b2)).filter((x) => x.line === 5);
    const items = d.map((x) => x.item).sort();
    assert.ok(d.every((x) => x.rule === "zoneinfo-delta" && x.reading === "change"));
    assert.deepEqual(items, [
      "Node 0, zone DMA32: cpu 0 count",
      "Node 0, zone DMA32: nr_free_pages",
      "Node 0, zone DMA32: pages free",
    ]);
    const pf = d.find((x) => x.item === "Node 0, zone DMA32: pages free")!;
    assert.equal(pf.deltaA, -1000);
    assert.equal(pf.deltaB, -500);
  });

  it("counts from 0 the numbers a zone shows once it is populated", () => {
    const movA = { free: 262144, present: 262144 };
    const a = [zi(3, zoneinfo(3900, 200000)), zi(5, zoneinfo(3900, 200000, movA))];
    const b = [zi(3, zoneinfo(3900, 200000)), zi(5, zoneinfo(3900, 200000, movA))];
    assert.deepEqual(diffTraces(trace(model, a), trace(linux, b)), []);
    const movB = { free: 262144 - 4096, present: 262144 };
    const b2 = [zi(3, zoneinfo(3900, 200000)), zi(5, zoneinfo(3900, 200000, movB))];
    const d = diffTraces(trace(model, a), trace(linux, b2));
    assert.deepEqual(d.map((x) => x.item).sort(), [
      "Node 0, zone Movable: nr_free_pages",
      "Node 0, zone Movable: pages free",
    ]);
    const nr = d.find((x) => x.item === "Node 0, zone Movable: nr_free_pages")!;
    assert.equal(nr.deltaA, 262144, "baseline 0: the line was not printed at the first reading");
    assert.equal(nr.deltaB, 258048);
  });

  it("keeps the zone's watermark high apart from each CPU's pageset high", () => {
    const text = (wmark: number, pcp0: number, pcp1: number) =>
      [
        "Node 0, zone   Normal",
        "  pages free     1000",
        "        min      10",
        "        low      12",
        `        high     ${wmark}`,
        "  pagesets",
        "    cpu: 0",
        "              count: 5",
        `              high:  ${pcp0}`,
        "              batch: 63",
        "  vm stats threshold: 24",
        "    cpu: 1",
        "              count: 6",
        `              high:  ${pcp1}`,
        "              batch: 63",
        "  vm stats threshold: 24",
        "  node_unreclaimable:  0",
        "  start_pfn:           1048576",
      ].join("\n");
    const d = diffTraces(trace(model, [zi(3, text(14, 12, 12))]), trace(linux, [zi(3, text(15, 12, 13))]));
    assert.deepEqual(
      d.map((x) => [x.item, x.a, x.b]),
      [
        ["Node 0, zone Normal: high", 14, 15],
        ["Node 0, zone Normal: cpu 1 high", 12, 13],
      ],
    );
    const c = compareTraces(trace(model, [zi(3, text(14, 12, 12))]), trace(linux, [zi(3, text(14, 12, 12))]));
    // pages free, min, low, high, 2 x (count, high, batch, threshold), node_unreclaimable, start_pfn
    assert.equal(c.compared.get(3), 14, "every number has a key of its own");
  });

  it("compares the text around the numbers exactly (up to spacing)", () => {
    const a = [zi(3, zoneinfo(3900, 200000))];
    const b = [
      zi(3, zoneinfo(3900, 200000).replace("high:  1000", "hi:  1000").replace("min      23", "min 23")),
    ];
    const d = diffTraces(trace(model, a), trace(linux, b));
    assert.deepEqual(
      d.map((x) => [x.rule, x.item]),
      [["zoneinfo-delta", "layout"]],
    );
    assert.match(d[0].message, /-a Node 0, zone DMA32: high: #/);
    assert.match(d[0].message, /\+b Node 0, zone DMA32: hi: #/);
  });
});

describe("diffTraces: /proc/iomem System RAM lines", () => {
  const iomem = (opts: { pci?: string; kernel?: string; ram?: string; virtio?: string }): string =>
    [
      "00000000-00000fff : Reserved",
      "00001000-0009fbff : System RAM",
      `000a0000-000bffff : ${opts.pci ?? "PCI Bus 0000:00"}`,
      "00100000-3ffdffff : System RAM",
      `  ${opts.kernel ?? "01000000-01e00816 : Kernel code"}`,
      "  02000000-0262afff : Kernel rodata",
      `${opts.ram ?? "100000000-13fffffff"} : System RAM`,
      `${opts.virtio ?? "140000000-1bfffffff : virtio0"}`,
      "  140000000-147ffffff : System RAM (virtio_mem)",
      "fee00000-fee00fff : Local APIC",
    ].join("\n");
  const rd = (line: number, value: string): TraceRecord => ({ line, op: "read", path: "/proc/iomem", value });

  it("keeps System RAM lines and their parents only", () => {
    assert.deepEqual(iomemSystemRam(iomem({})), [
      "00001000-0009fbff : System RAM",
      "00100000-3ffdffff : System RAM",
      "100000000-13fffffff : System RAM",
      "140000000-1bfffffff : virtio0",
      "  140000000-147ffffff : System RAM (virtio_mem)",
    ]);
  });

  it("ignores other lines but reports a changed System RAM line or parent", () => {
    const a = [rd(3, iomem({}))];
    const other = [rd(3, iomem({ pci: "PCI Bus 0000:01", kernel: "01000000-01e00999 : Kernel code" }))];
    assert.deepEqual(diffTraces(trace(model, a), trace(linux, other)), []);

    const ram = [rd(3, iomem({ ram: "100000000-17fffffff" }))];
    const d = diffTraces(trace(model, a), trace(linux, ram));
    assert.deepEqual(
      d.map((x) => [x.line, x.rule]),
      [[3, "iomem-system-ram"]],
    );
    assert.match(d[0].message, /-a 100000000-13fffffff : System RAM/);
    assert.match(d[0].message, /\+b 100000000-17fffffff : System RAM/);

    const parent = [rd(3, iomem({ virtio: "140000000-1bfffffff : virtio1" }))];
    assert.equal(diffTraces(trace(model, a), trace(linux, parent)).length, 1);
  });
});

describe("diffTraces: ptdump", () => {
  const pt = (line: number, tablePages: number, pa = "0x100000000"): TraceRecord => ({
    line,
    op: "ptdump",
    start: "0x100000000",
    size: "0x40000000",
    linear: [{ va: "0xffff888100000000", size: "0x40000000", level: "pte", pa }],
    vmemmap: [],
    tablePages,
  });

  it("compares tablePages as a change since the first ptdump", () => {
    const a = [pt(3, 1037), pt(5, 524)];
    const b = [pt(3, 2000), pt(5, 1487)];
    assert.deepEqual(
      diffTraces(trace(model, a), trace(linux, b)).map((x) => [x.line, x.rule, x.reading, x.a, x.b]),
      [[3, "tablePages-delta", "first", 1037, 2000]],
    );
    const b2 = [pt(3, 2000), pt(5, 1500)];
    const d = diffTraces(trace(model, a), trace(linux, b2)).filter((x) => x.line === 5);
    assert.deepEqual(
      d.map((x) => [x.line, x.rule, x.deltaA, x.deltaB]),
      [[5, "tablePages-delta", -513, -500]],
    );
  });

  it("compares the runs exactly", () => {
    const d = diffTraces(trace(model, [pt(3, 99)]), trace(linux, [pt(3, 99, "0x100200000")]));
    assert.deepEqual(
      d.map((x) => [x.rule, x.item]),
      [["exact", "linear"]],
    );
  });
});

describe("readTrace and formatDifferences", () => {
  it("reads what formatTrace writes", () => {
    const t = trace(model, base);
    assert.deepEqual(readTrace(formatTrace(t)), t);
  });

  it("rejects a trace without a header or with a malformed record", () => {
    assert.throws(() => readTrace(""), TraceFormatError);
    assert.throws(() => readTrace('{"line":3,"op":"ls"}\n'), /line 1: the first object must be the header/);
    assert.throws(() => readTrace('{"op":"system"}\n{"op":"ls"}\n'), /line 2: a record needs/);
    assert.throws(() => readTrace('{"op":"system"}\n\n{oops\n'), /line 3: not JSON/);
  });

  it("prints each difference under its scenario line", () => {
    const b = clone(base);
    (b[2] as Record<string, unknown>).result = "EBUSY";
    const d = diffTraces(trace(model, base), trace(linux, b));
    const out = formatDifferences(d, SCENARIO);
    const lines = out.trimEnd().split("\n");
    assert.equal(lines[0], "line 5: write /sys/devices/system/memory/memory32/state online_movable");
    assert.equal(lines[1], '  [exact] result: a "ok", b "EBUSY"');
    assert.equal(
      formatDifferences(d).split("\n")[0],
      "line 5: write /sys/devices/system/memory/memory32/state",
    );
    assert.equal(formatDifferences([]), "");
  });
});
