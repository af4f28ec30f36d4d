// Bad input everywhere: scenario files a person could type wrongly, and
// sysfs/procfs writes the kernel refuses.
//
// - `memhp run BAD.mhp` for each kind of mistake prints `file:line:column:
//   message` on stderr, exits 2 and runs nothing (stdout stays empty).
// - Any text at all given to the parser either parses or fails with a
//   ScenarioError that points inside the file; nothing else is ever thrown.
// - Any write to any path (real files, missing ones, directories, links, junk
//   values) returns 0 or an errno, never throws, and keeps every invariant.
// - The errnos agree with the real kernel's: the model's trace of
//   scenarios/oracle/x86-bad-writes.mhp equals the recorded one.
//
// (Malformed web requests belong to `memhp serve` and are tested there.)

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { runMain } from "./support/capture.js";
import { parseScenario, ScenarioError } from "../src/scenario/parse.js";
import { runScenario } from "../src/scenario/run.js";
import { diffTraces } from "../src/scenario/diff.js";
import { readTrace } from "../src/scenario/trace.js";
import { Kernel } from "../src/kernel/kernel.js";
import type { KernfsDir } from "../src/fs/kernfs.js";
import { repoRoot } from "../src/fuzz/regression.js";
import { EACCES, EINVAL, EIO, EISDIR, ENOENT, ENOTDIR } from "../src/errno.js";

/** Figures for docs/robustness.md. */
const figures = { cliFiles: 0, parserInputs: 0, writes: 0 };

/** Run the CLI with stdout and stderr captured. */
const cli = runMain;

const dir = mkdtempSync(join(tmpdir(), "memhp-bad-"));
const H = "machine x86_64 mem=1G maxmem=4G\n";

/** [what, file text, expected "line:column", words the message must contain] */
const BAD_FILES: [string, string, string, string[]][] = [
  ["unknown statement", `${H}boot\nfrobnicate 1\n`, "3:1", ["unknown statement", "frobnicate"]],
  ["misspelt statement", `${H}boot\ndim-add d1 size=1G\n`, "3:1", ["unknown statement"]],
  ["bad size", `${H}boot\ndimm-add d1 size=1.5G\n`, "3:18", []],
  ["size with a unit typo", `${H}boot\ndimm-add d1 size=1GB\n`, "3:18", []],
  ["size not a multiple of 2M", `${H}boot\ndimm-add d1 size=3M\n`, "3:18", ["multiple of 2M"]],
  ["zero size", `${H}boot\ndimm-add d1 size=0\n`, "3:18", ["more than 0"]],
  ["negative size", `${H}boot\ndimm-add d1 size=-1G\n`, "3:18", []],
  ["negative workload steps", `${H}boot\nworkload -5\n`, "3:10", []],
  ["huge size", `${H}boot\ndimm-add d1 size=99999999999999T\n`, "3:18", []],
  ["huge number of steps", `${H}boot\nworkload 99999999999999999999\n`, "3:10", []],
  ["huge slot count", "machine x86_64 mem=1G maxmem=4G slots=100000\nboot\n", "1:39", ["256"]],
  ["missing boot", `${H}cmdline quiet\n`, "2:1", ["boot"]],
  ["empty file", "", "1:1", ["empty scenario"]],
  ["only comments", "# nothing\n\n", "2:1", ["empty scenario"]],
  ["run statement before boot", `${H}dimm-add d1 size=1G\nboot\n`, "2:1", ["after `boot`"]],
  ["set-up statement after boot", `${H}boot\ncmdline quiet\n`, "3:1", ["before `boot`"]],
  ["boot twice", `${H}boot\nboot\n`, "3:1", ["twice"]],
  ["no machine first", "boot\n", "1:1", ["first statement"]],
  ["unknown arch", "machine riscv64 mem=1G maxmem=4G\nboot\n", "1:9", ["unknown arch"]],
  ["maxmem below mem", "machine x86_64 mem=4G maxmem=1G\nboot\n", "1:30", ["less than"]],
  ["DIMM beyond maxmem", `${H}boot\ndimm-add d1 size=4G\n`, "3:18", ["beyond maxmem"]],
  [
    "devices together beyond maxmem",
    `${H}vmem v0 size=2G\nboot\ndimm-add d1 size=2G\n`,
    "4:18",
    ["beyond maxmem"],
  ],
  [
    "the same DIMM id twice (overlapping devices)",
    `${H}boot\ndimm-add d1 size=1G\ndimm-add d1 size=1G\n`,
    "4:10",
    ["already plugged"],
  ],
  [
    "a DIMM id taken by a virtio-mem device",
    `${H}vmem v0 size=1G\nboot\ndimm-add v0 size=1G\n`,
    "4:10",
    ["taken"],
  ],
  ["a virtio-mem device declared twice", `${H}vmem v0 size=1G\nvmem v0 size=1G\nboot\n`, "3:6", ["twice"]],
  ["resize beyond the device", `${H}vmem v0 size=1G\nboot\nvmem-resize v0 2G\n`, "4:16", ["exceeds"]],
  ["dimm-del of a DIMM never added", `${H}boot\ndimm-del d9\n`, "3:10", ["no DIMM"]],
  ["a ptdump beyond any physical address", `${H}boot\nptdump 0x10000000000000 0x1000\n`, "3:25", ["2^52"]],
  [
    "a relative path",
    `${H}boot\nwrite sys/devices/system/memory/memory0/state online\n`,
    "3:7",
    ["not absolute"],
  ],
  ["a path outside /sys and /proc", `${H}boot\nwrite /etc/passwd x\n`, "3:7", ["outside"]],
  [
    "a write without a value",
    `${H}boot\nwrite /sys/devices/system/memory/auto_online_blocks\n`,
    "3:52",
    ["too few"],
  ],
  ["a bad device id", `${H}boot\ndimm-add 1d size=1G\n`, "3:10", ["bad device id"]],
  ["garbage bytes", `${H}boot\n\u0000\u0001\u00ff\n`, "3:1", ["not a text file (byte 0x00)"]],
];

describe("bad scenario files: file:line:column on stderr, exit 2, nothing run", () => {
  for (const [what, text, where, words] of BAD_FILES) {
    it(what, async () => {
      const file = join(dir, `${what.replace(/\W+/g, "-")}.mhp`);
      writeFileSync(file, text);
      const r = await cli(["run", file]);
      figures.cliFiles++;
      assert.equal(r.code, 2, `exit code (stderr: ${r.err})`);
      assert.equal(r.out, "", "nothing may run or be printed on stdout");
      assert.ok(
        r.err.startsWith(`memhp: ${file}:${where}: `),
        `expected ${file}:${where}: ..., got ${r.err}`,
      );
      assert.equal(r.err.trimEnd().split("\n").length, 1, "one line");
      for (const w of words) assert.ok(r.err.includes(w), `message lacks "${w}": ${r.err}`);
    });
  }

  it("a missing file", async () => {
    const r = await cli(["run", join(dir, "no-such-file.mhp")]);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    assert.match(r.err, /no such file/);
  });

  it("a valid file runs (the same harness sees success)", async () => {
    const file = join(dir, "good.mhp");
    writeFileSync(file, `${H}boot\nread /sys/devices/system/memory/block_size_bytes\n`);
    const r = await cli(["run", file]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /"value":"8000000"/);
  });
});

describe("the parser never fails but with a ScenarioError inside the file", () => {
  const good = readFileSync(join(repoRoot(), "scenarios/oracle/x86-dimm-add-del.mhp"), "utf8").split("\n");
  const check = (text: string): void => {
    figures.parserInputs++;
    try {
      parseScenario(text, "f.mhp");
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      const lines = text.split("\n").length;
      assert.ok(e.line >= 1 && e.line <= Math.max(1, lines), `line ${e.line} of ${lines}`);
      assert.ok(e.column >= 1, `column ${e.column}`);
      assert.ok(e.toString().startsWith(`f.mhp:${e.line}:${e.column}: `));
    }
  };

  it("arbitrary text", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 300 }), check), { seed: 9, numRuns: 2000 });
  });

  it("lines of a real scenario, mutated: dropped, swapped, duplicated, with tokens replaced", () => {
    const token = fc.oneof(
      fc.constantFrom(
        "boot",
        "machine",
        "dimm-add",
        "size=",
        "size=1G",
        "-1",
        "0x",
        "1T",
        "#",
        "=",
        "x86_64",
        "/sys/",
      ),
      fc.string({ maxLength: 8 }),
      fc.integer().map(String),
    );
    const mutation = fc.record({
      line: fc.nat(good.length - 1),
      kind: fc.nat(4),
      tok: token,
      pos: fc.nat(6),
    });
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (muts) => {
        const lines = [...good];
        for (const m of muts) {
          const i = m.line % lines.length;
          if (m.kind === 0) lines.splice(i, 1);
          else if (m.kind === 1) lines.splice(i, 0, lines[(i + 1) % lines.length] ?? "");
          else if (m.kind === 2) [lines[i], lines[0]] = [lines[0], lines[i]];
          else {
            const toks = (lines[i] ?? "").split(" ");
            toks[m.pos % Math.max(1, toks.length)] = m.tok;
            lines[i] = toks.join(" ");
          }
        }
        check(lines.join("\n"));
      }),
      { seed: 11, numRuns: 2000 },
    );
  });
});

describe("sysfs and procfs writes: an errno, never an exception, invariants kept", () => {
  const ERRNOS = new Set([
    0,
    -EACCES,
    -EINVAL,
    -EIO,
    -EISDIR,
    -ENOENT,
    -ENOTDIR,
    -34,
    -16,
    -12,
    -22,
    -4,
    -95,
    -1,
  ]);

  it("every path of the tree and some that are not, with junk values", () => {
    const k = Kernel.boot({ arch: "x86_64", memBytes: 128 * 2 ** 20, maxmemBytes: 640 * 2 ** 20 });
    assert.equal(k.host.dimmAdd("d1", 256 * 2 ** 20).err, 0);
    const paths: string[] = [];
    const walk = (d: KernfsDir, prefix: string): void => {
      for (const [name, n] of d.children) {
        const p = `${prefix}/${name}`;
        paths.push(p);
        if (n.kind === "dir" && paths.length < 5000) walk(n, p);
      }
    };
    walk(k.kernfs.root, "");
    // Writes that change state (onlining, removing) are the fuzzer's business;
    // here every other file, and nonexistent and malformed paths.
    const skip = /\/(state|online|auto_online_blocks|online_policy|auto_movable_ratio|uevent)$/;
    const targets = [
      ...paths.filter((p) => !skip.test(p)),
      "/sys/devices/system/memory/memory999/state",
      "/sys/x",
      "/proc/x/y",
      "relative/path",
      "",
      "/",
      "//sys//devices",
      "/sys/devices/system/memory/../memory/block_size_bytes",
      "/sys/devices/system/memory/block_size_bytes/x",
    ];
    const values = ["1", "0", "", "online", "junk junk", "\u0000", "x".repeat(5000), "-1", "0x8000000"];
    for (const p of targets) {
      for (const v of values) {
        const rc = k.kernfs.write(p, v);
        figures.writes++;
        assert.ok(ERRNOS.has(rc), `write ${p} ${JSON.stringify(v.slice(0, 20))} → ${rc}`);
      }
    }
    assert.deepEqual(k.checkInvariants(), []);
  });

  it("random values to the writable memory files keep the invariants", () => {
    const k = Kernel.boot({ arch: "x86_64", memBytes: 128 * 2 ** 20, maxmemBytes: 640 * 2 ** 20 });
    assert.equal(k.host.dimmAdd("d1", 256 * 2 ** 20).err, 0);
    const files = [
      "/sys/devices/system/memory/memory32/state",
      "/sys/devices/system/memory/memory33/online",
      "/sys/devices/system/memory/auto_online_blocks",
      "/sys/module/memory_hotplug/parameters/auto_movable_ratio",
      "/sys/module/memory_hotplug/parameters/online_policy",
      "/sys/devices/system/memory/memory32/uevent",
    ];
    fc.assert(
      fc.property(fc.nat(files.length - 1), fc.string({ maxLength: 40 }), (i, v) => {
        const rc = k.kernfs.write(files[i], v);
        figures.writes++;
        assert.ok(rc <= 0 && Number.isInteger(rc));
      }),
      { seed: 5, numRuns: 3000 },
    );
    assert.deepEqual(k.checkInvariants(), []);
    // the policy is still one of the two, the ratio a number
    assert.match(
      String(k.kernfs.read("/sys/module/memory_hotplug/parameters/online_policy")),
      /^(contig-zones|auto-movable)\n$/,
    );
    assert.match(
      String(k.kernfs.read("/sys/module/memory_hotplug/parameters/auto_movable_ratio")),
      /^\d+\n$/,
    );
  });

  it("agrees with the real kernel on scenarios/oracle/x86-bad-writes.mhp", () => {
    const root = repoRoot();
    const file = join(root, "scenarios/oracle/x86-bad-writes.mhp");
    const sc = parseScenario(readFileSync(file, "utf8"), file);
    const linux = readTrace(
      readFileSync(join(root, "scenarios/oracle/x86-bad-writes.linux-x86_64.jsonl"), "utf8"),
    );
    const diffs = diffTraces(runScenario(sc, { checkInvariants: true }), linux, sc);
    assert.deepEqual(diffs, []);
    figures.writes += sc.body.filter((s) => s.op === "write").length;
  });

  it("prints the figures", () => {
    process.stdout.write(
      `# bad input: ${figures.cliFiles} bad scenario files through the CLI, ${figures.parserInputs} parser inputs, ` +
        `${figures.writes} writes\n`,
    );
    assert.ok(figures.writes > 1000);
  });
});
