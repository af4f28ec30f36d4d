// The memhp command as a tool: --help with examples on every subcommand, exit codes
// 0 (ok), 1 (a difference or failed check), 2 (bad usage or input), JSON where
// the output is data, no colour or progress when the output is not a terminal.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildProgram } from "../src/cli/main.js";
import { memhp, memhpArgv, ROOT } from "./support/memhp-cli.js";

const EXAMPLE = path.join(ROOT, "scenarios", "examples", "x86-dimm.mhp");

describe("memhp --help", () => {
  const names = buildProgram().commands.map((c) => c.name());

  it("has the subcommands the issue names", () => {
    for (const n of ["run", "diff", "oracle", "ptdump", "shell", "serve"]) assert.ok(names.includes(n), n);
  });

  for (const name of names) {
    it(`memhp ${name} --help: usage and examples, exit 0`, () => {
      const r = memhp([name, "--help"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage: memhp ${name} `));
      assert.match(r.stdout, /\nExamples:\n {2}memhp /);
    });
  }

  it("memhp --help lists every subcommand; --version prints the version", () => {
    const r = memhp(["--help"]);
    assert.equal(r.status, 0);
    for (const n of names) assert.match(r.stdout, new RegExp(`^ {2}${n}\\b`, "m"));
    const v = memhp(["--version"]);
    assert.equal(v.status, 0);
    assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});

describe("exit codes", () => {
  it("2 for bad usage: no subcommand, an unknown one, an unknown option, a missing argument", () => {
    for (const args of [[], ["frobnicate"], ["run", "--frobnicate", EXAMPLE], ["run"], ["diff", "a.jsonl"]]) {
      const r = memhp(args);
      assert.equal(r.status, 2, `memhp ${args.join(" ")}: ${r.stderr}`);
      assert.notEqual(r.stderr, "", "says why on stderr");
    }
  });

  it("2 for bad input: a missing file, a bad seed, a bad range, a malformed scenario", () => {
    const r = memhp(["run", "no-such-file.mhp"]);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, "memhp: no-such-file.mhp: cannot read: no such file or directory\n");
    assert.equal(memhp(["run", EXAMPLE, "--seed", "x"]).status, 2);
    assert.equal(memhp(["ptdump", EXAMPLE, "--range", "zz"]).status, 2);
    assert.equal(memhp(["serve", "--port", "99999"]).status, 2);
    const dir = mkdtempSync(path.join(tmpdir(), "memhp-cli-"));
    try {
      const bad = path.join(dir, "bad.mhp");
      writeFileSync(bad, "machine x86_64 mem=1G maxmem=2G\nboot\nfrobnicate\n");
      const p = memhp(["run", bad]);
      assert.equal(p.status, 2);
      assert.match(p.stderr, /bad\.mhp:3:1: unknown statement "frobnicate"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("0 and 1 from diff: agreeing and differing traces", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "memhp-cli-"));
    try {
      const a = path.join(dir, "a.jsonl");
      const b = path.join(dir, "b.jsonl");
      assert.equal(memhp(["run", EXAMPLE, "--trace", a]).status, 0);
      assert.equal(memhp(["run", EXAMPLE, "--trace", b, "--seed", "1"]).status, 0);
      const same = memhp(["diff", a, b]);
      assert.equal(same.status, 0);
      assert.equal(same.stdout, "traces agree\n");
      assert.deepEqual(JSON.parse(memhp(["diff", a, b, "--json"]).stdout), []);
      // The example's read of memory32/valid_zones, changed: a difference.
      const lines = memhp(["run", EXAMPLE]).stdout.split("\n");
      const i = lines.findIndex((l) => l.includes("valid_zones"));
      lines[i] = lines[i].replace(/"value":"[^"]*"/, '"value":"DMA"');
      writeFileSync(b, lines.join("\n"));
      const differ = memhp(["diff", a, b, "--json"]);
      assert.equal(differ.status, 1);
      const diffs = JSON.parse(differ.stdout) as { line: number }[];
      assert.equal(diffs.length, 1);
      assert.match(memhp(["diff", a, b]).stdout, /\n1 difference\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("data output", () => {
  it("run prints a JSON Lines trace, quietly and without colour off a terminal", () => {
    const r = memhp(["run", EXAMPLE, "--counts"], { env: { NO_COLOR: "" } });
    assert.equal(r.status, 0);
    assert.equal(r.stderr, "", "no progress when stderr is not a terminal");
    assert.ok(!r.stdout.includes("\x1b["), "no escape codes");
    const recs = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { op: string; counts?: Record<string, number> });
    assert.equal(recs[0].op, "system");
    const add = recs.find((x) => x.op === "dimm-add");
    // A 1 GiB DIMM on x86_64: eight 128 MiB memory block devices.
    assert.equal(add?.counts?.memoryBlocksRegistered, 8);
  });

  it("ptdump --json and --range print the runs as JSON", () => {
    const all = JSON.parse(memhp(["ptdump", EXAMPLE, "--json"]).stdout) as {
      linear: { pa: string }[];
      tablePages: number;
    };
    assert.ok(all.linear.length > 0 && all.tablePages > 0);
    // The example unplugs its DIMM at the end: nothing maps 4 GiB any more.
    const r = JSON.parse(memhp(["ptdump", EXAMPLE, "--range", "0x100000000:1G"]).stdout) as {
      linear: unknown[];
    };
    assert.deepEqual(r.linear, []);
    const text = memhp(["ptdump", EXAMPLE]);
    assert.match(text.stdout, /^---\[ (Low Kernel Mapping|Kernel Mapping|.*) \]---$/m);
  });
});

describe("memhp serve", () => {
  let child: ReturnType<typeof spawn> | undefined;
  let url = "";
  before(async () => {
    child = spawn(process.execPath, memhpArgv(["serve", "--port", "0", "--quiet"]), {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    url = await new Promise<string>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`no URL from memhp serve: ${out}`)), 30_000);
      child!.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child!.on("exit", (code) => reject(new Error(`memhp serve exited ${code}: ${out}`)));
    });
  });
  after(() => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
  });

  it("serves the API on 127.0.0.1 and stops with exit 0 on SIGTERM", async () => {
    const state = (await (await fetch(url + "api/state")).json()) as { arch: string; blocks: unknown[] };
    assert.equal(state.arch, "x86_64");
    // The default machine: 1 GiB of boot RAM, eight 128 MiB blocks.
    assert.equal(state.blocks.length, 8);
    const exited = new Promise<number | null>((resolve) => child!.on("exit", (code) => resolve(code)));
    child!.kill("SIGTERM");
    assert.equal(await exited, 0);
  });
});
