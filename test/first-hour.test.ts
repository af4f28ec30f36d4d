// A new user's first hour (issue 19): output for people, messages instead of
// stack traces, option errors that name the option, the value and the choices,
// and continuation files whose trace lines are their own.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memhp } from "./support/memhp-cli.js";
import { formatRunHuman } from "../src/cli/run-format.js";
import { parseScenario, ScenarioError } from "../src/scenario/parse.js";
import { runScenario } from "../src/scenario/run.js";

const EXAMPLE = "scenarios/examples/x86-dimm.mhp";
const dir = mkdtempSync(join(tmpdir(), "memhp-first-hour-"));

/** One line on stderr, exit 2, no stack trace. */
function oneLineError(r: { status: number; stderr: string }, pattern: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
  assert.match(r.stderr.trimEnd(), pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at |Error:/);
}

describe("memhp run: output for people (item 3)", () => {
  it("the human form shows each statement as written and the file contents as the kernel prints them", () => {
    const text = `machine x86_64 mem=1G maxmem=8G
boot
read /proc/meminfo MemTotal HugePages_Total
dimm-add d1 size=1G
read /proc/iomem
write /sys/devices/system/memory/memory0/state offline
`;
    const trace = runScenario(parseScenario(text, "h.mhp"));
    const out = formatRunHuman("h.mhp", trace, text.split("\n"), false);
    assert.match(out, /^h\.mhp: x86_64 mem=1G maxmem=8G, 4 DIMM slots/);
    assert.match(
      out,
      /\n3 {2}read \/proc\/meminfo MemTotal HugePages_Total\n {3}MemTotal: +\d+ kB\n {3}HugePages_Total: +0\n/,
    );
    assert.match(out, /\n4 {2}dimm-add d1 size=1G\n {3}added memory32-memory39\n/);
    // /proc/iomem as lines, not one escaped string
    assert.match(out, /\n {3}100000000-13fffffff : System RAM\n/);
    assert.doesNotMatch(out, /\\n/);
    assert.match(
      out,
      /\n6 {2}write \S+ offline\n {3}EINVAL \(Invalid argument\)\n {3}reason: memory0 spans more than one zone/,
    );
  });

  it("on a pipe the output is the JSON Lines trace; --json too", () => {
    for (const args of [
      ["run", EXAMPLE],
      ["run", "--json", EXAMPLE],
    ]) {
      const r = memhp(args);
      assert.equal(r.status, 0, r.stderr);
      for (const line of r.stdout.trimEnd().split("\n")) JSON.parse(line);
    }
  });

  it("several files and - for stdin: one trace after another, each with its header", () => {
    const r = memhp(["run", EXAMPLE, "-"], {
      input: "machine arm64 mem=2G maxmem=4G\nboot\nread /proc/meminfo MemTotal\n",
    });
    assert.equal(r.status, 0, r.stderr);
    const recs = r.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { op: string; arch?: string });
    assert.deepEqual(
      recs.filter((x) => x.op === "system").map((x) => x.arch),
      ["x86_64", "arm64"],
    );
  });

  it("an unknown /proc/meminfo field is a parse error at its column, with a suggestion", () => {
    assert.throws(
      () =>
        parseScenario("machine x86_64 mem=1G maxmem=2G\nboot\nread /proc/meminfo MemFree MemTotl\n", "f.mhp"),
      (e: unknown) =>
        e instanceof ScenarioError &&
        e.toString() === 'f.mhp:3:28: /proc/meminfo has no field "MemTotl" (did you mean MemTotal?)',
    );
    const f = join(dir, "typo.mhp");
    writeFileSync(f, "machine x86_64 mem=1G maxmem=2G\nboot\nread /proc/meminfo MemTotl\n");
    const r = memhp(["run", f]);
    oneLineError(r, /typo\.mhp:3:20: \/proc\/meminfo has no field "MemTotl"/);
    assert.equal(r.stdout, "");
  });
});

describe("files that cannot be opened: a one-line message, exit 2 (item 5)", () => {
  it("a trace file in a missing directory, a directory as the trace file", () => {
    oneLineError(
      memhp(["run", EXAMPLE, "-t", "/nonexistent/dir/x.jsonl"]),
      /x\.jsonl: cannot write: no such file/,
    );
    oneLineError(memhp(["run", EXAMPLE, "-t", tmpdir()]), /cannot write: is a directory/);
  });

  it("a snapshot in a missing directory", () => {
    oneLineError(
      memhp(["snapshot", "save", "/nonexistent/s.snap", "--from", EXAMPLE]),
      /\/nonexistent\/s\.snap: cannot write: its directory does not exist/,
    );
  });

  it("a directory or a binary file as the scenario", () => {
    oneLineError(memhp(["run", tmpdir()]), /cannot read: is a directory/);
    const bin = join(dir, "bin.mhp");
    writeFileSync(bin, Buffer.from([0x6d, 0x61, 0x0a, 0x7f, 0x45, 0x4c, 0x46, 0x01, 0x1b, 0x5b]));
    const r = memhp(["run", bin]);
    oneLineError(r, /bin\.mhp:2:1: not a text file \(byte 0x7f\)/);
    assert.ok(!r.stderr.includes("\x1b"), "no raw control bytes echoed");
  });
});

describe("option errors name the option, the value and the choices (item 9)", () => {
  const cases: [string[], RegExp][] = [
    [["demo", "--arch", "riscv"], /^memhp: --arch: invalid value 'riscv' \(valid: x86_64, arm64\)$/],
    [["demo", "--strategy", "foo"], /--strategy: invalid value 'foo' \(valid: .*offline, remove, depopulate/],
    [["fuzz", "--steps", "-5"], /--steps: invalid value '-5' \(valid: a whole number >= 1\)/],
    [["bench", "--strategy", "x"], /--strategy: invalid value 'x'/],
    [["demo", "--steps", "1,2"], /--steps: invalid value '1,2' \(valid: three whole numbers/],
  ];
  for (const [args, re] of cases)
    it(args.join(" "), () => {
      oneLineError(memhp(args), re);
    });

  it("a parser error is followed by a pointer to --help, not by the whole help", () => {
    const r = memhp(["run", "--frobnicate", EXAMPLE]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown option '--frobnicate'/);
    assert.doesNotMatch(r.stderr, /Usage:/);
    assert.ok(r.stderr.trimEnd().split("\n").length <= 2, r.stderr);
  });
});

describe("snapshot load --continue (item 6)", () => {
  const snap = join(dir, "s.snap");
  const setup = "machine x86_64 mem=1G maxmem=8G\nboot\n";
  writeFileSync(join(dir, "first.mhp"), setup + "dimm-add d1 size=1G\n");

  it("statements only: the trace's lines are the continuation file's own", () => {
    assert.equal(memhp(["snapshot", "save", snap, "--from", join(dir, "first.mhp")]).status, 0);
    const more = join(dir, "more.mhp");
    writeFileSync(more, "# after the snapshot\n\nwrite /sys/devices/system/memory/memory32/state online\n");
    const r = memhp(["snapshot", "load", snap, "--continue", more]);
    assert.equal(r.status, 0, r.stderr);
    const recs = r.stdout
      .trimEnd()
      .split("\n")
      .slice(1)
      .map((l) => JSON.parse(l) as { line: number; result: string });
    assert.deepEqual(
      recs.map((x) => [x.line, x.result]),
      [[3, "ok"]],
    );
  });

  it("a whole scenario repeating the set-up: lines are the file's own", () => {
    const more = join(dir, "more2.mhp");
    writeFileSync(more, setup + "write /sys/devices/system/memory/memory33/state online\n");
    const r = memhp(["snapshot", "load", snap, "--continue", more]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout.trimEnd().split("\n")[1]) as { line: number }).line, 3);
  });

  it("a different set-up, or a machine without boot, says what a continuation file is", () => {
    const other = join(dir, "other.mhp");
    writeFileSync(other, "machine x86_64 mem=2G maxmem=8G\nboot\nls /\n");
    oneLineError(
      memhp(["snapshot", "load", snap, "--continue", other]),
      /statements only, or repeats the snapshot's set-up/,
    );
    const half = join(dir, "half.mhp");
    writeFileSync(half, "machine x86_64 mem=1G maxmem=8G\nls /\n");
    oneLineError(
      memhp(["snapshot", "load", snap, "--continue", half]),
      /half\.mhp:1:1: `machine` without `boot`/,
    );
  });
});

describe("memhp demo fits 100 columns (item 7)", () => {
  it("columns as wide as their widest cell; strategies that do not fit go to a second table", async () => {
    const { layoutTables } = await import("../src/cli/demo.js");
    const heads = ["1 a", "2 a much longer strategy title", "3 c", "4 d"];
    const t = layoutTables(
      heads,
      [
        { section: "section" },
        { label: "  row", cells: ["x".repeat(30), "y", "a cell wider than its title", "z"] },
      ],
      80,
    );
    assert.ok(
      t.every((l) => l.length <= 80),
      t.join("\n"),
    );
    assert.ok(t.includes(""), "a second table");
    for (const h of heads) assert.equal(t.filter((l) => l.includes(h)).length, 1, h);
    assert.equal(t.filter((l) => l.startsWith("  row")).length, 2, "labels repeat in each table");
    // cells never run together: at least two spaces between columns
    assert.match(
      t.find((l) => l.includes("xxxx"))!,
      /x {2,}y/,
    );
  });

  it("the real demo, with two strategies and with all five: no line over 100 columns", () => {
    for (const args of [["--strategy", "offline,depopulate"], []]) {
      const r = memhp(["demo", "--range", "256M", "--steps", "2,1,1", ...args]);
      assert.equal(r.status, 0, r.stderr);
      const long = r.stdout.split("\n").filter((l) => [...l].length > 100);
      assert.deepEqual(long, []);
      assert.match(r.stdout, /^ {2}from → to +power-off→power-on {2,}-/m);
    }
  });
});

describe("docs a new user starts from (item 10)", () => {
  it("docs/cli/README.md starts with a 'Start here' path before the list of every command", async () => {
    const { cliDocPages } = await import("../src/cli/docs.js");
    const index = cliDocPages().get("README.md")!;
    const start = index.indexOf("## Start here");
    assert.ok(start > 0 && start < index.indexOf("## Every command"));
    assert.match(index, /1\. \[`memhp run scenarios\/examples\/x86-dimm\.mhp`\]\(run\.md\)/);
  });

  it("the README's account of dimm-del holds: MemFree ends ~16 MiB low, the freed vmemmap on the per-cpu lists", async () => {
    const { readFileSync } = await import("node:fs");
    const { packagePath } = await import("../src/paths.js");
    const readme = readFileSync(packagePath("README.md"), "utf8").replace(/\s+/g, " ");
    assert.match(readme, /MemFree ends about 16 MiB below its boot value/);
    assert.match(readme, /per-cpu lists/);
    const text = `machine x86_64 mem=1G maxmem=8G
boot
read /proc/zoneinfo
dimm-add d1 size=1G
write /sys/devices/system/memory/memory32/state online_movable
write /sys/devices/system/memory/memory32/state offline
dimm-del d1
read /proc/zoneinfo
`;
    const recs = runScenario(parseScenario(text, "r.mhp")).records as { value?: string }[];
    const sum = (v: string, re: RegExp) => [...v.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0);
    const [a, b] = [recs[0].value!, recs[recs.length - 1].value!];
    const freeDrop = sum(a, /pages free\s+(\d+)/g) - sum(b, /pages free\s+(\d+)/g);
    const pcpGain = sum(b, /count:\s+(\d+)/g) - sum(a, /count:\s+(\d+)/g);
    assert.ok(
      freeDrop * 4096 >= 16 * 2 ** 20 && freeDrop * 4096 < 17 * 2 ** 20,
      `MemFree drop ${freeDrop} pages`,
    );
    assert.ok(pcpGain >= 0.95 * freeDrop, `per-cpu lists gained ${pcpGain} of ${freeDrop} pages`);
  });
});
