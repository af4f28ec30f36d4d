// The README's promise, through the installed command: `memhp run` on the README's
// scenario prints a trace that `memhp diff` accepts against itself and rejects
// against an edited copy.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { it } from "node:test";
import { packagePath } from "../src/paths.js";

const bin = packagePath("bin", "memhp.js");
const memhp = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });

it("memhp run | memhp diff: a trace agrees with itself and not with an edited copy", () => {
  const readme = readFileSync(packagePath("README.md"), "utf8");
  const m = /npx memhp run (\S+\.mhp)/.exec(readme);
  assert.ok(m, "the README names a scenario");
  const dir = mkdtempSync(path.join(tmpdir(), "memhp-readme-"));
  const a = path.join(dir, "a.jsonl");
  const run = memhp("run", packagePath(m[1]), "--trace", a);
  assert.equal(run.status, 0, run.stderr);
  const trace = readFileSync(a, "utf8");
  assert.match(trace, /"op":"dimm-add".*"memory32"/);

  const same = memhp("diff", a, a);
  assert.equal(same.status, 0, same.stdout + same.stderr);

  const b = path.join(dir, "b.jsonl");
  writeFileSync(b, trace.replace('"value":"Normal Movable"', '"value":"Movable"'));
  assert.notEqual(trace, readFileSync(b, "utf8"), "the edit changed the trace");
  const differ = memhp("diff", a, b, "--scenario", packagePath(m[1]));
  assert.equal(differ.status, 1, differ.stdout + differ.stderr);
  assert.match(differ.stdout, /valid_zones/);
});

it("a malformed scenario line: file:line:column, exit 2, nothing run", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "memhp-bad-"));
  const f = path.join(dir, "bad.mhp");
  writeFileSync(f, "machine x86_64 mem=1G maxmem=8G\nboot\ndimm-add d1 size=12Q\n");
  const r = memhp("run", f);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, new RegExp(`${f.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:3:\\d+: `));
});
