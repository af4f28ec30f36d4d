// memhp's version is written once, in package.json: the model's MODEL_VERSION,
// the CLI's --version, the trace header and the newest CHANGELOG entry agree with it.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";
import { MODEL_VERSION } from "../src/kernel/kernel.js";
import { packagePath } from "../src/paths.js";
import { memhp } from "./support/memhp-cli.js";

const pkg = JSON.parse(readFileSync(packagePath("package.json"), "utf8")) as { version: string };

it("MODEL_VERSION is package.json's version", () => {
  assert.match(pkg.version, /^\d+\.\d+\.\d+/);
  assert.equal(MODEL_VERSION, pkg.version);
});

it("no source file writes the version again", () => {
  const kernel = readFileSync(packagePath("src", "kernel", "kernel.ts"), "utf8");
  assert.doesNotMatch(kernel, /MODEL_VERSION\s*=\s*["']/);
});

it("memhp --version and the trace header print it", () => {
  const v = memhp(["--version"]);
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stdout.trim(), pkg.version);
  const run = memhp(["run", "scenarios/examples/x86-dimm.mhp"]);
  assert.equal(run.status, 0, run.stderr);
  const header = JSON.parse(run.stdout.split("\n")[0]) as { op: string; version: string };
  assert.equal(header.op, "system");
  assert.equal(header.version, pkg.version);
});

it("the newest CHANGELOG entry is this version", () => {
  const log = readFileSync(packagePath("CHANGELOG.md"), "utf8");
  const first = /^## (\S+)/m.exec(log);
  assert.ok(first, "CHANGELOG.md has a `## VERSION` entry");
  assert.equal(first[1], pkg.version);
});
