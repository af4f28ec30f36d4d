// kernel/: the RFC's patch series is in kernel style. scripts/checkpatch.pl
// --strict of the unpacked 6.1 tree that kernel/build.sh made runs on every
// patch of the series; the only findings allowed are the ones kernel/README.md
// gives reasons for. Skipped when no tree has been built here.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { packagePath } from "../src/paths.js";

const cache = process.env.MEMHP_CACHE ?? path.join(os.homedir(), ".cache", "memhp");
const kbuild = path.join(cache, "kbuild");
const tree = fs.existsSync(kbuild)
  ? fs
      .readdirSync(kbuild)
      .filter((d) => d.startsWith("linux-6.1-patched-"))
      .map((d) => path.join(kbuild, d, "src"))
      .find((d) => fs.existsSync(path.join(d, "scripts", "checkpatch.pl")))
  : undefined;

/** The findings kernel/README.md explains (patch → the findings' texts, each once). */
const EXPLAINED: Record<string, RegExp[]> = {
  // VM_BUG_ON(!mhp_range_allowed()) of arch_add_memory(), moved, not added
  "0002": [/Do not crash the kernel unless it is absolutely unavoidable/],
  // the page-type accessors' own names
  "0007": [/CamelCase: <__SetPageOffline>/, /CamelCase: <__ClearPageOffline>/],
  // the test module's answer to an unknown function name
  "0008": [/ENOSYS means 'invalid syscall nr'/],
  // MAINTAINERS already lists tools/testing/selftests/memory-hotplug/
  "0009": [/does MAINTAINERS need updating/],
};

test(
  "checkpatch --strict: the series is clean but for the findings kernel/README.md explains",
  { skip: !tree && "no patched tree (run kernel/build.sh)" },
  () => {
    const dir = packagePath("kernel", "patches");
    const series = fs
      .readFileSync(path.join(dir, "series"), "utf8")
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith("#"));
    assert.equal(series.length, 9);
    for (const p of series) {
      const r = spawnSync("perl", ["scripts/checkpatch.pl", "--strict", "--no-tree", path.join(dir, p)], {
        cwd: tree,
        encoding: "utf8",
      });
      const findings = r.stdout.split("\n").filter((l) => /^(ERROR|WARNING|CHECK):/.test(l));
      const allowed = EXPLAINED[p.slice(0, 4)] ?? [];
      const unexplained = findings.filter((f) => !allowed.some((a) => a.test(f)));
      assert.deepEqual(unexplained, [], `${p}:\n${r.stdout}`);
      // each explained finding is still there: the explanation is not stale
      for (const a of allowed) assert.equal(findings.filter((f) => a.test(f)).length, 1, `${p}: ${a}`);
      assert.match(r.stdout, /total: 0 errors/, p);
    }
  },
);
