// The scenario parser (src/scenario/parse.ts) and size syntax (src/scenario/size.ts)
// against docs/scenario-format.md: every statement parses to the AST the doc
// describes, and each kind of malformed line is reported at its own line and column.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseScenario, ScenarioError, DEFAULT_SLOTS } from "../src/scenario/parse.js";
import { formatSize, parseCount, parseSize, parseSizeBig, SizeError } from "../src/scenario/size.js";

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** The error text parseScenario() throws for `text`, as `file:line:column: message`. */
function errorOf(text: string, file = "t.mhp"): ScenarioError {
  try {
    parseScenario(text, file);
  } catch (e) {
    assert.ok(e instanceof ScenarioError, `expected a ScenarioError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected the scenario to be rejected");
}

/** Asserts the position (and, optionally, words of the message) of the first error. */
function rejects(text: string, where: string, ...words: string[]): void {
  const e = errorOf(text);
  const s = e.toString();
  assert.ok(s.startsWith(`t.mhp:${where}: `), `expected t.mhp:${where}, got: ${s}`);
  for (const w of words) assert.ok(e.message.includes(w), `message lacks "${w}": ${e.message}`);
}

// Columns below are counted by hand on this line:
// machine x86_64 mem=1G maxmem=4G
// 1       9      16     23
const M = "machine x86_64 mem=1G maxmem=4G";

describe("sizes", () => {
  it("reads decimal and hex, with K M G T (either case) and KiB..TiB as powers of 1024", () => {
    assert.equal(parseSize("4096"), 4096);
    assert.equal(parseSize("0x1000"), 4096);
    assert.equal(parseSize("0X1000"), 4096);
    assert.equal(parseSize("1K"), 1024);
    assert.equal(parseSize("1k"), 1024);
    assert.equal(parseSize("128M"), 128 * MiB);
    assert.equal(parseSize("128m"), 128 * MiB);
    assert.equal(parseSize("4G"), 4 * GiB);
    assert.equal(parseSize("2GiB"), 2 * GiB);
    assert.equal(parseSize("1T"), 2 ** 40);
    assert.equal(parseSize("1TiB"), 2 ** 40);
    assert.equal(parseSize("0x10M"), 16 * MiB);
    assert.equal(parseSize("010"), 10, "decimal, not octal");
    assert.equal(parseSize("0"), 0);
  });

  it("rejects negatives, signs, fractions, unknown suffixes and garbage", () => {
    for (const bad of [
      "-1",
      "-1G",
      "+1G",
      "1.5G",
      ".5G",
      "1KB",
      "1Gb",
      "1 G",
      "",
      "G",
      "abc",
      "1_000",
      "0x",
      "1e9",
    ]) {
      assert.throws(() => parseSize(bad), SizeError, bad);
    }
  });

  it("rejects sizes beyond 2^53-1 as numbers and beyond 2^64-1 as bigints", () => {
    assert.equal(parseSize("9007199254740991"), Number.MAX_SAFE_INTEGER);
    assert.throws(() => parseSize("9007199254740992"), SizeError);
    assert.throws(() => parseSize("8192T"), SizeError); // 2^53
    assert.equal(parseSizeBig("9007199254740992"), 2n ** 53n);
    assert.equal(parseSizeBig("0xffffffffffffffff"), 2n ** 64n - 1n);
    assert.throws(() => parseSizeBig("0x10000000000000000"), SizeError);
    assert.throws(() => parseSizeBig("16777216T"), SizeError); // exactly 2^64
  });

  it("counts take no suffix", () => {
    assert.equal(parseCount("12"), 12);
    assert.equal(parseCount("0x10"), 16);
    assert.throws(() => parseCount("1K"), SizeError);
    assert.throws(() => parseCount("-3"), SizeError);
  });

  it("formats sizes with the largest exact unit", () => {
    assert.equal(formatSize(GiB), "1G");
    assert.equal(formatSize(130 * MiB), "130M");
    assert.equal(formatSize(1536 * MiB), "1536M");
    assert.equal(formatSize(4100), "4100");
    assert.equal(formatSize(2n ** 40n), "1T");
  });
});

describe("parseScenario: statements", () => {
  const text = [
    "# a scenario using every statement", // 1
    "machine x86_64 mem=1G maxmem=8G slots=2 # trailing comment", // 2
    "cmdline memhp_default_state=online_movable", // 3
    "cmdline  movable_node   nokaslr", // 4
    "", // 5
    "vmem vm0 size=2G", // 6
    "boot", // 7
    "dimm-add d1 size=1G", // 8
    "write /sys/devices/system/memory/memory32/state online_movable", // 9
    "write /sys/devices/system/memory/probe   0x100000000 extra words  # comment", // 10
    "read /proc/meminfo MemFree Active(anon) DirectMap4k", // 11
    "read /proc/iomem", // 12
    "ls /sys/devices/system/memory", // 13
    "ptdump 0x100000000 1G", // 14
    "vmem-resize vm0 512M", // 15
    "vmem-resize vm0 0", // 16
    "call offline_and_remove_memory 0x100000000 0x8000000", // 17
    "call drain_all_pages", // 18
    "workload 1000 seed=7 mix=alloc-free", // 19
    "dimm-del d1", // 20
    "dimm-add d1 size=512M", // 21: re-plugging an id after its removal
    "\tread /proc/vmstat nr_free_pages", // 22
  ].join("\n");
  const s = parseScenario(text, "every.mhp");

  it("reads the machine, the command line and the boot-time devices", () => {
    assert.equal(s.file, "every.mhp");
    assert.deepEqual(s.machine, {
      op: "machine",
      arch: "x86_64",
      memBytes: GiB,
      maxmemBytes: 8 * GiB,
      slots: 2,
      loc: { file: "every.mhp", line: 2 },
    });
    assert.deepEqual(s.cmdline, ["memhp_default_state=online_movable", "movable_node", "nokaslr"]);
    assert.deepEqual(s.vmems, [
      { op: "vmem", id: "vm0", sizeBytes: 2 * GiB, loc: { file: "every.mhp", line: 6 } },
    ]);
  });

  it("keeps the run statements in order with their lines", () => {
    assert.deepEqual(
      s.body.map((b) => [b.loc.line, b.op]),
      [
        [8, "dimm-add"],
        [9, "write"],
        [10, "write"],
        [11, "read"],
        [12, "read"],
        [13, "ls"],
        [14, "ptdump"],
        [15, "vmem-resize"],
        [16, "vmem-resize"],
        [17, "call"],
        [18, "call"],
        [19, "workload"],
        [20, "dimm-del"],
        [21, "dimm-add"],
        [22, "read"],
      ],
    );
  });

  it("gives each statement its arguments", () => {
    const [add, w1, w2, r1, r2, ls, pt, rs1, rs2, c1, c2, wl, del, add2, r3] = s.body.map(
      ({ loc: _loc, ...st }) => st,
    );
    assert.deepEqual(add, { op: "dimm-add", id: "d1", sizeBytes: GiB });
    assert.deepEqual(w1, {
      op: "write",
      path: "/sys/devices/system/memory/memory32/state",
      value: "online_movable",
    });
    // VALUE is the rest of the line, trimmed, without the comment.
    assert.deepEqual(w2, {
      op: "write",
      path: "/sys/devices/system/memory/probe",
      value: "0x100000000 extra words",
    });
    assert.deepEqual(r1, {
      op: "read",
      path: "/proc/meminfo",
      fields: ["MemFree", "Active(anon)", "DirectMap4k"],
    });
    assert.deepEqual(r2, { op: "read", path: "/proc/iomem", fields: [] });
    assert.deepEqual(ls, { op: "ls", path: "/sys/devices/system/memory" });
    assert.deepEqual(pt, { op: "ptdump", start: 0x100000000n, sizeBytes: 1n << 30n });
    assert.deepEqual(rs1, { op: "vmem-resize", id: "vm0", sizeBytes: 512 * MiB });
    assert.deepEqual(rs2, { op: "vmem-resize", id: "vm0", sizeBytes: 0 });
    assert.deepEqual(c1, { op: "call", fn: "offline_and_remove_memory", args: ["0x100000000", "0x8000000"] });
    assert.deepEqual(c2, { op: "call", fn: "drain_all_pages", args: [] });
    assert.deepEqual(wl, { op: "workload", steps: 1000, options: { seed: "7", mix: "alloc-free" } });
    assert.deepEqual(del, { op: "dimm-del", id: "d1" });
    assert.deepEqual(add2, { op: "dimm-add", id: "d1", sizeBytes: 512 * MiB });
    assert.deepEqual(r3, { op: "read", path: "/proc/vmstat", fields: ["nr_free_pages"] });
  });

  it("defaults slots to 4 when maxmem > mem and to 0 when they are equal (QEMU refuses slots then)", () => {
    assert.equal(DEFAULT_SLOTS, 4);
    assert.equal(parseScenario(`${M}\nboot\n`, "a").machine.slots, 4);
    assert.equal(parseScenario("machine arm64 mem=1G maxmem=1G\nboot", "a").machine.slots, 0);
    assert.equal(parseScenario("machine arm64 maxmem=4G slots=0 mem=1G\nboot", "a").machine.slots, 0);
  });

  it("accepts CRLF line endings and options in any order", () => {
    const t = parseScenario(
      "machine arm64 maxmem=0x100000000 mem=1024M\r\nboot\r\nls /sys/devices\r\n",
      "crlf",
    );
    assert.equal(t.machine.arch, "arm64");
    assert.equal(t.machine.memBytes, GiB);
    assert.equal(t.machine.maxmemBytes, 4 * GiB);
    assert.deepEqual(t.body[0], { op: "ls", path: "/sys/devices", loc: { file: "crlf", line: 3 } });
  });

  it("lets memory freed by dimm-del be plugged again, up to maxmem exactly", () => {
    const t = parseScenario(`${M}\nboot\ndimm-add a size=3G\ndimm-del a\ndimm-add b size=3G\n`, "x");
    assert.deepEqual(
      t.body.map((b) => b.op),
      ["dimm-add", "dimm-del", "dimm-add"],
    );
  });

  it("accepts a repeated dimm-del: the guest may have refused the first one", () => {
    const t = parseScenario(`${M}\nboot\ndimm-add a size=1G\ndimm-del a\ndimm-del a\n`, "x");
    assert.deepEqual(
      t.body.map((b) => `${b.op}@${b.loc.line}`),
      ["dimm-add@3", "dimm-del@4", "dimm-del@5"],
    );
  });
});

describe("parseScenario: errors at file:line:column", () => {
  it("formats ScenarioError as file:line:column: message and keeps the fields", () => {
    const e = errorOf("machine x86_64 mem=1G\n", "dir/x.mhp");
    assert.equal(e.file, "dir/x.mhp");
    assert.equal(e.line, 1);
    assert.equal(e.column, 22);
    assert.equal(e.toString(), `dir/x.mhp:1:22: ${e.message}`);
  });

  it("stops at the first malformed line", () => {
    rejects(`${M}\nboot\nls /tmp\nfrob\n`, "3:4");
  });

  it("statement order and phases", () => {
    rejects("# comment\n\n  boot\n", "3:3", "first statement", "machine");
    rejects("", "1:1", "empty scenario");
    rejects("# only comments\n# here\n", "2:1", "empty scenario");
    rejects(`${M}\ncmdline quiet\n`, "2:1", "no `boot`");
    rejects(`${M}\n${M}\nboot`, "2:1", "twice", "line 1");
    rejects(`${M}\nboot\nboot`, "3:1", "twice", "line 2");
    rejects(`${M}\nboot\ncmdline quiet`, "3:1", "before `boot`");
    rejects(`${M}\nboot\nvmem v size=1G`, "3:1", "before `boot`");
    rejects(`${M}\nboot\n${M}`, "3:1", "before `boot`");
    rejects(`${M}\ndimm-add d1 size=1G\nboot`, "2:1", "after `boot`");
    rejects(`${M}\nread /proc/meminfo\nboot`, "2:1", "after `boot`");
    rejects(`${M}\nboot\n   frobnicate 1 2`, "3:4", "unknown statement", "frobnicate");
  });

  it("machine", () => {
    rejects("machine riscv64 mem=1G maxmem=4G\nboot", "1:9", "riscv64");
    rejects("machine\nboot", "1:8", "too few");
    rejects("machine x86_64 mem=1G\nboot", "1:22", "missing maxmem=");
    rejects("machine x86_64 maxmem=4G\nboot", "1:25", "missing mem=");
    rejects(`${M} cpus=2\nboot`, "1:33", 'unknown option "cpus"');
    rejects(`${M} 4G\nboot`, "1:33", "KEY=VALUE");
    rejects("machine x86_64 mem=1G mem=2G maxmem=4G\nboot", "1:23", "twice");
    rejects("machine x86_64 mem= maxmem=4G\nboot", "1:20", "no value");
    rejects("machine x86_64 mem=lots maxmem=4G\nboot", "1:20", "not a size");
    rejects("machine x86_64 mem=-1G maxmem=4G\nboot", "1:20", "negative");
    rejects("machine x86_64 mem=1.5G maxmem=4G\nboot", "1:20", "fractional");
    rejects("machine x86_64 mem=1GB maxmem=4G\nboot", "1:20", "suffix");
    rejects("machine x86_64 mem=0 maxmem=4G\nboot", "1:20", "more than 0");
    rejects("machine x86_64 mem=1G maxmem=8192T\nboot", "1:30", "too large");
    rejects("machine x86_64 mem=4G maxmem=1G\nboot", "1:30", "less than mem");
    rejects("machine x86_64 mem=1025M maxmem=4G\nboot", "1:20", "2M");
    rejects("machine x86_64 mem=1G maxmem=4097M\nboot", "1:30", "2M");
    rejects(`${M} slots=257\nboot`, "1:39", "256");
    rejects(`${M} slots=two\nboot`, "1:39", "whole number");
    rejects("machine x86_64 mem=1G maxmem=1G slots=2\nboot", "1:39", "maxmem > mem");
    rejects(`${M} slots=1 x=1 y=2 z=3 w=4 v=5\nboot`, "1:53", "unexpected");
    rejects(`${M} rfc=v1\nboot`, "1:37", "only series is v2");
    assert.equal(parseScenario(`${M} rfc=v2\nboot\n`, "t.mhp").machine.rfc, "v2");
    assert.equal(parseScenario(`${M}\nboot\n`, "t.mhp").machine.rfc, undefined, "stock by default");
    // cpu=: QEMU's CPU model; max is the default and reads as no option
    assert.equal(parseScenario(`${M} cpu=max\nboot\n`, "t.mhp").machine.cpu, undefined);
    assert.equal(
      parseScenario("machine arm64 mem=1G maxmem=4G cpu=neoverse-v3\nboot\n", "t.mhp").machine.cpu,
      "neoverse-v3",
    );
    rejects(`${M} cpu=neoverse-v3\nboot`, "1:37", "x86_64 machine's CPU models are max");
    rejects("machine arm64 mem=1G maxmem=4G cpu=a72\nboot", "1:36", "neoverse-v3");
  });

  it("cmdline, vmem and device ids", () => {
    rejects(`${M}\ncmdline\nboot`, "2:8", "too few");
    rejects(`${M}\nvmem v0\nboot`, "2:8", "too few");
    rejects(`${M}\nvmem v0 sz=1G\nboot`, "2:9", 'unknown option "sz"');
    rejects(`${M}\nvmem 0v size=1G\nboot`, "2:6", "bad device id");
    rejects(`${M}\nvmem v0 size=1G\nvmem v0 size=1G\nboot`, "3:6", "twice", "line 2");
    rejects(`${M}\nvmem v0 size=3M\nboot`, "2:14", "2M");
    rejects(`${M}\nvmem v0 size=0\nboot`, "2:14", "more than 0");
    // 1G of boot RAM + 2G + 2G of virtio-mem > maxmem 4G
    rejects(`${M}\nvmem v0 size=2G\nvmem v1 size=2G\nboot`, "3:14", "beyond maxmem", "5G > maxmem 4G");
  });

  it("dimm-add and dimm-del track which DIMMs are present", () => {
    rejects(`${M}\nboot\ndimm-add d1\n`, "3:12", "too few");
    rejects(`${M}\nboot\ndimm-add d1 size=1G extra\n`, "3:21", "unexpected");
    rejects(`${M}\nboot\ndimm-add d1 1G\n`, "3:13", "KEY=VALUE");
    rejects(`${M}\nboot\ndimm-add d/1 size=1G\n`, "3:10", "bad device id");
    rejects(`${M}\nboot\ndimm-add d1 size=1G\ndimm-add d1 size=1G\n`, "4:10", "already plugged", "line 3");
    rejects(`${M}\nvmem d1 size=1G\nboot\ndimm-add d1 size=1G\n`, "4:10", "virtio-mem", "line 2");
    rejects(`${M}\nboot\ndimm-add d1 size=129M\n`, "3:18", "2M");
    rejects(
      `${M}\nboot\ndimm-add d1 size=2G\ndimm-add d2 size=2G\n`,
      "4:18",
      "beyond maxmem",
      "5G > maxmem 4G",
    );
    rejects(`${M}\nvmem v size=2G\nboot\ndimm-add d1 size=2G\n`, "4:18", "virtio-mem 2G", "5G > maxmem 4G");
    rejects("machine x86_64 mem=1G maxmem=1G\nboot\ndimm-add d1 size=128M\n", "3:1", "no DIMM slots");
    rejects(`${M} slots=1\nboot\ndimm-add d1 size=128M\ndimm-add d2 size=128M\n`, "4:1", "all 1 DIMM slots");
    rejects(`${M}\nboot\ndimm-del d9\n`, "3:10", 'no DIMM "d9"');
    rejects(`${M}\nvmem v0 size=1G\nboot\ndimm-del v0\n`, "4:10", "vmem-resize v0 0");
  });

  it("vmem-resize needs a declared device and a size it can hold", () => {
    rejects(`${M}\nboot\nvmem-resize vm0 1G\n`, "3:13", "no virtio-mem device");
    rejects(`${M}\nboot\ndimm-add d1 size=1G\nvmem-resize d1 0\n`, "4:13", "it is a DIMM");
    rejects(`${M}\nvmem vm0 size=1G\nboot\nvmem-resize vm0 2G\n`, "4:17", "exceeds the device size 1G");
    rejects(`${M}\nvmem vm0 size=1G\nboot\nvmem-resize vm0 1M\n`, "4:17", "2M");
    rejects(`${M}\nvmem vm0 size=1G\nboot\nvmem-resize vm0 -2M\n`, "4:17", "negative");
    rejects(`${M}\nvmem vm0 size=1G\nboot\nvmem-resize vm0\n`, "4:16", "too few");
  });

  it("vmem block-size=: QEMU's block-size property, a power of two the sizes are multiples of", () => {
    const s = parseScenario(`${M}\nvmem vm0 size=1G block-size=256M\nboot\nvmem-resize vm0 512M\n`, "t.mhp");
    assert.equal(s.vmems[0].blockSizeBytes, 256 * MiB);
    assert.equal(parseScenario(`${M}\nvmem vm0 size=1G\nboot\n`, "t.mhp").vmems[0].blockSizeBytes, undefined);
    // vmem vm0 size=1G block-size=...
    // 1    6   10      18         29
    rejects(`${M}\nvmem vm0 size=1G block-size=3M\nboot\n`, "2:29", "2M");
    rejects(`${M}\nvmem vm0 size=1G block-size=6M\nboot\n`, "2:29", "not a power of two");
    rejects(`${M}\nvmem vm0 size=1G block-size=2G\nboot\n`, "2:15", "not a multiple of the block-size 2G");
    rejects(`${M}\nvmem vm0 size=1G bs=2M\nboot\n`, "2:18", 'unknown option "bs"');
    rejects(
      `${M}\nvmem vm0 size=1G block-size=256M\nboot\nvmem-resize vm0 128M\n`,
      "4:17",
      "not a multiple of the device's block-size 256M",
    );
  });

  it("paths and fields", () => {
    rejects(`${M}\nboot\nread proc/meminfo\n`, "3:6", "not absolute");
    rejects(`${M}\nboot\nls /tmp\n`, "3:4", "outside /sys/ and /proc/");
    rejects(`${M}\nboot\nls /sys\n`, "3:4", "outside");
    rejects(`${M}\nboot\nls /sys/devices/\n`, "3:4", "empty component");
    rejects(`${M}\nboot\nls /sys//devices\n`, "3:4", "empty component");
    rejects(`${M}\nboot\nls /sys/../etc\n`, "3:4", ". or ..");
    rejects(`${M}\nboot\nls /sys/a /sys/b\n`, "3:11", "unexpected");
    rejects(`${M}\nboot\nwrite /etc/passwd x\n`, "3:7", "outside");
    rejects(`${M}\nboot\nwrite /sys/x\n`, "3:13", "too few");
    rejects(`${M}\nboot\nwrite /sys/x    # only a comment\n`, "3:13", "too few");
    rejects(`${M}\nboot\nread /proc/iomem MemFree\n`, "3:18", "fields can only be named");
    rejects(`${M}\nboot\nread /proc/meminfo MemFree MemFree\n`, "3:28", "twice");
    rejects(`${M}\nboot\nread /proc/meminfo Mem-Free\n`, "3:20", "bad field name");
  });

  it("ptdump, call and workload", () => {
    rejects(`${M}\nboot\nptdump 0x1001 4K\n`, "3:8", "4K-aligned");
    rejects(`${M}\nboot\nptdump 4G 0\n`, "3:11", "more than 0");
    rejects(`${M}\nboot\nptdump 4G 6K\n`, "3:11", "multiple of 4K");
    rejects(`${M}\nboot\nptdump 0x10000000000000000 4K\n`, "3:8", "64 bits");
    rejects(`${M}\nboot\nptdump 0xfffffffffffff000 8K\n`, "3:27", "2^52");
    rejects(`${M}\nboot\nptdump 4G\n`, "3:10", "too few");
    rejects(`${M}\nboot\ncall\n`, "3:5", "too few");
    rejects(`${M}\nboot\ncall 1abc x\n`, "3:6", "bad function name");
    rejects(`${M}\nboot\nworkload 0\n`, "3:10", "at least 1");
    rejects(`${M}\nboot\nworkload many\n`, "3:10", "whole number");
    rejects(`${M}\nboot\nworkload 10 seed\n`, "3:13", "KEY=VALUE");
    rejects(`${M}\nboot\nworkload 10 seed=1 seed=2\n`, "3:20", "twice");
  });

  it("counts a tab as one column", () => {
    rejects(`${M}\nboot\n\tls\t/tmp\n`, "3:5", "outside");
  });
});
