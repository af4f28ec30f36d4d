// `npm run perf` (perf/main.ts) at its --quick sizes: every scale target of
// docs/performance.md is measured and printed with its limit. No figure is
// asserted (speed is for the benchmark to report, not for a test to time);
// what is checked is that each target runs to the end on the model and
// reports a figure.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const main = path.join(here, "..", "perf", "main.js");

describe("npm run perf", { skip: !fs.existsSync(main) && "perf/ not built (run npm run build)" }, () => {
  it("measures every scale target at its quick size and prints figure, limit and ratio", () => {
    const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "memhp-bench-")), "bench.json");
    const r = spawnSync(process.execPath, [main, "--quick", "--no-oracle", "--json", json], {
      encoding: "utf8",
    });
    assert.ok(r.status === 0 || r.status === 1, r.stderr);
    const report = JSON.parse(fs.readFileSync(json, "utf8")) as {
      rows: { name: string; value: number; limit: number; unit: string }[];
    };
    const names = report.rows.map((x) => x.name).join("\n");
    for (const want of [
      /arm64 8 GiB driver-managed/,
      /resident memory/,
      /x86_64 8 GiB virtio-mem/,
      /one block's/,
      /full invariant check/,
      /incremental invariant check/,
    ])
      assert.match(names, want);
    for (const row of report.rows) {
      assert.ok(row.value > 0 && Number.isFinite(row.value), `${row.name}: ${row.value}`);
      assert.match(
        r.stdout,
        new RegExp(`${row.name.slice(0, 30).replace(/[()]/g, ".")}.*${row.unit}.*(met|MISSED)`),
      );
    }
  });
});
