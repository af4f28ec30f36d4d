// `memhp diff --divergences`: the help's example (the model's trace of
// x86-dimm-add-del against the kernel's recorded trace) exits 0 with every
// difference listed under the entry of docs/divergences.md that covers it; a
// difference nothing covers, or no divergences at all, makes it exit 1.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { memhp, memhpArgv, ROOT } from "./support/memhp-cli.js";

const SCENARIO = path.join(ROOT, "scenarios", "oracle", "x86-dimm-add-del.mhp");
const KERNEL = path.join(ROOT, "scenarios", "oracle", "x86-dimm-add-del.linux-x86_64.jsonl");

describe("memhp diff with docs/divergences.md", () => {
  let dir = "";
  let model = "";
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "memhp-diffdiv-"));
    model = path.join(dir, "model.jsonl");
    assert.equal(memhp(["run", SCENARIO, "--trace", model]).status, 0);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("the help's example exits 0 and lists the covered differences with their entries", () => {
    const r = memhp(["diff", model, KERNEL, "--scenario", SCENARIO]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^covered by docs\/divergences\.md:\nline \d+: /);
    assert.match(
      r.stdout,
      /\[meminfo-delta\] MemFree: first reading \d+ in a but \d+ in b \([+-]\d+\) \(boot-allocations#1\)/,
    );
    assert.match(r.stdout, /\(activity-counters\)\n/);
    assert.match(r.stdout, /\n\d+ differences, every one a known divergence\n$/);
    const json = JSON.parse(memhp(["diff", model, KERNEL, "--json"]).stdout) as { coveredBy?: string }[];
    assert.ok(json.length > 0 && json.every((d) => typeof d.coveredBy === "string"));
  });

  it("a difference nothing covers is printed first and exits 1", () => {
    const lines = readFileSync(model, "utf8").split("\n");
    const i = lines.findIndex((l) => l.includes('"result":"EINVAL"'));
    assert.ok(i > 0, "the scenario has a refused write");
    lines[i] = lines[i].replace('"result":"EINVAL"', '"result":"EBUSY"');
    const wrong = path.join(dir, "wrong.jsonl");
    writeFileSync(wrong, lines.join("\n"));
    const r = memhp(["diff", wrong, KERNEL, "--scenario", SCENARIO]);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stdout, /^line \d+: write .*\n {2}\[exact\] result: a "EBUSY", b "EINVAL"\n\ncovered by /);
    assert.match(r.stdout, /\n1 difference not covered, \d+ covered\n$/);
  });

  it("--no-divergences, an empty list, or running outside the project: every difference counts", () => {
    const none = memhp(["diff", model, KERNEL, "--no-divergences"]);
    assert.equal(none.status, 1);
    assert.doesNotMatch(none.stdout, /covered by/);
    const empty = path.join(dir, "empty.md");
    writeFileSync(empty, "# nothing known\n");
    assert.equal(memhp(["diff", model, KERNEL, "--divergences", empty]).status, 1);
    const outside = spawnSync(process.execPath, memhpArgv(["diff", model, KERNEL]), {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    assert.equal(outside.status, 1, outside.stdout + outside.stderr);
    const explicit = spawnSync(
      process.execPath,
      memhpArgv(["diff", model, KERNEL, "--divergences", path.join(ROOT, "docs", "divergences.md")]),
      { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } },
    );
    assert.equal(explicit.status, 0, explicit.stdout + explicit.stderr);
  });

  it("a match block without a rule or an item is refused, exit 2", () => {
    const bad = path.join(dir, "bad.md");
    writeFileSync(bad, '## loose: covers anything\n\n```match\n{ "scenarios": ".*" }\n```\n');
    const r = memhp(["diff", model, KERNEL, "--divergences", bad]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /loose: a match block needs a "rule"/);
  });
});
