// linux-patches/: the RFC's patch series is in kernel style. scripts/checkpatch.pl
// --strict of each release's unpacked tree that linux-patches/build.sh made runs on
// every patch of that release's series; the only findings allowed are the ones
// linux-patches/README.md gives reasons for. Skipped when no tree has been built here.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { packagePath } from "../src/paths.js";

const cache = process.env.MEMHP_CACHE ?? path.join(os.homedir(), ".cache", "memhp");
const kbuild = path.join(cache, "kbuild");
/** The unpacked, patched tree of `version` that linux-patches/build.sh made, if any. */
const treeOf = (version: string): string | undefined =>
  fs.existsSync(kbuild)
    ? fs
        .readdirSync(kbuild)
        .filter((d) => d.startsWith(`linux-${version}-patched-`))
        .map((d) => path.join(kbuild, d, "src"))
        .find((d) => fs.existsSync(path.join(d, "scripts", "checkpatch.pl")))
    : undefined;

/** The findings linux-patches/README.md explains (patch → the findings' texts, each once). */
const EXPLAINED: Record<string, RegExp[]> = {
  // VM_BUG_ON(!mhp_range_allowed()) of arch_add_memory(), moved, not added
  "0002": [/Do not crash the kernel unless it is absolutely unavoidable/],
  // the page-type accessors' own names
  "0007": [/CamelCase: <__SetPageOffline>/, /CamelCase: <__ClearPageOffline>/],
  // the test module's answer to an unknown function name
  "0008": [/ENOSYS means 'invalid syscall nr'/],
  // MAINTAINERS already lists tools/testing/selftests/memory-hotplug/
  "0009": [/does MAINTAINERS need updating/],
  // the same for the second script (issue 18)
  "0013": [/does MAINTAINERS need updating/],
};

/**
 * Each release's series, checked with that release's checkpatch.pl: 6.12's
 * 0006 cites upstream's hwpoison counter (5033091de814), which --no-tree
 * cannot look up (linux-patches/rebase-6.12.md).
 */
const SERIES: { version: string; dir: string; extra: Record<string, RegExp[]> }[] = [
  { version: "6.1", dir: "patches", extra: {} },
  { version: "6.12", dir: "patches-6.12", extra: { "0006": [/Unknown commit id '5033091de814'/] } },
  { version: "7.2", dir: "patches-7.2", extra: {} },
];

for (const { version, dir: sub, extra } of SERIES) {
  const tree = treeOf(version);
  test(
    `checkpatch --strict: the ${version} series is clean but for the findings linux-patches/README.md explains`,
    { skip: !tree && `no patched ${version} tree (run linux-patches/build.sh ARCH normal ${version})` },
    () => {
      const dir = packagePath("linux-patches", sub);
      const series = fs
        .readFileSync(path.join(dir, "series"), "utf8")
        .split("\n")
        .filter((l) => l.trim() && !l.startsWith("#"));
      // RFC v2 (0001-0009), then the unmapped allocation and the whole-range
      // depopulate (0010-0013, docs/unmapped-alloc.md)
      assert.equal(series.length, 13);
      for (const p of series) {
        const r = spawnSync("perl", ["scripts/checkpatch.pl", "--strict", "--no-tree", path.join(dir, p)], {
          cwd: tree,
          encoding: "utf8",
        });
        const findings = r.stdout.split("\n").filter((l) => /^(ERROR|WARNING|CHECK):/.test(l));
        const allowed = [...(EXPLAINED[p.slice(0, 4)] ?? []), ...(extra[p.slice(0, 4)] ?? [])];
        const unexplained = findings.filter((f) => !allowed.some((a) => a.test(f)));
        assert.deepEqual(unexplained, [], `${p}:\n${r.stdout}`);
        // each explained finding is still there: the explanation is not stale
        for (const a of allowed) assert.equal(findings.filter((f) => a.test(f)).length, 1, `${p}: ${a}`);
        assert.match(r.stdout, /total: 0 errors/, p);
      }
    },
  );
}

// linux-patches/console-check.sh: what linux-patches/selftest.sh counts as the kernel
// complaining, held against saved consoles (test/support/console/).
const consoleDir = packagePath("test", "support", "console");
const consoleCheck = (text: string): { status: number | null; stdout: string } => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-console-"));
  try {
    const log = path.join(dir, "console.log");
    fs.writeFileSync(log, text);
    const r = spawnSync("bash", [packagePath("linux-patches", "console-check.sh"), log], {
      encoding: "utf8",
    });
    return { status: r.status, stdout: r.stdout };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
};

test("console-check: the arm64 debug kernel's Bad page state at insmod is a complaint", () => {
  const r = consoleCheck(fs.readFileSync(path.join(consoleDir, "arm64-debug-bad-page-state.txt"), "utf8"));
  assert.equal(r.status, 1);
  assert.match(r.stdout, /^BUG: Bad page state in process insmod {2}pfn:bf7fe$/m);
  assert.match(r.stdout, /^Call trace:$/m);
});

test("console-check: every 6.1 report format (lockdep, RCU, KASAN, BUG, WARN, ...) is a complaint alone", () => {
  const text = fs.readFileSync(path.join(consoleDir, "debug-reports.txt"), "utf8");
  const sections = text.split(/^=== /m).slice(1);
  assert.ok(sections.length >= 20, `${sections.length} sections`);
  for (const s of sections) {
    const [title, ...lines] = s.split("\n");
    const r = consoleCheck(lines.join("\n"));
    assert.equal(r.status, 1, `${title}: not detected`);
    assert.notEqual(r.stdout, "", title);
  }
});

test("console-check: a clean debug-kernel selftest console is not a complaint", () => {
  const text = fs.readFileSync(path.join(consoleDir, "arm64-debug-selftest-clean.txt"), "utf8");
  // the console of a whole run: boot, the test module, the KTAP lines
  assert.match(text, /^ok 1 /m);
  assert.match(text, /memhp-selftest: exit=0/);
  assert.match(text, /Memory failure: 0x[0-9a-f]+: recovery action/);
  const r = consoleCheck(text);
  assert.equal(r.status, 0, r.stdout);
  assert.equal(consoleCheck("").status, 0);
});

test("linux-patches/fixes: each listed fix is git format-patch output that says which mainline commit it carries", () => {
  const dir = packagePath("linux-patches", "fixes");
  const listed = fs
    .readFileSync(path.join(dir, "series"), "utf8")
    .split("\n")
    .filter((l) => l.trim() && !l.startsWith("#"));
  assert.ok(listed.length >= 1);
  for (const p of listed) {
    const text = fs.readFileSync(path.join(dir, p), "utf8");
    assert.match(text, /^From 0{40} Mon Sep 17 00:00:00 2001\nFrom: .+\nDate: .+\nSubject: \[PATCH\] /, p);
    assert.match(text, /Mainline fixed it in commit [0-9a-f]{12} \(/, p);
    assert.match(text, /^Signed-off-by: /m, p);
  }
  // build.sh applies them before the series and hashes them (6.1's in fixes/,
  // patches/; a newer release's in fixes-VERSION/, patches-VERSION/)
  const build = fs.readFileSync(packagePath("linux-patches", "build.sh"), "utf8");
  assert.match(build, /6\.1\) [^\n]*patchdir="\$here\/patches" fixdir="\$here\/fixes"/);
  const apply = (what: string) => build.indexOf(`<"$${what}/$p"`);
  assert.ok(apply("fixdir") > 0 && apply("fixdir") < apply("patchdir"));
  assert.ok(build.indexOf('cat "$fixdir/$p"') > 0 && build.indexOf('cat "$patchdir/$p"') > 0);
});

// docs/unmapped-alloc.md is the contract the model follows (issue 18): the
// functions it names are the ones patches 0010-0011 declare, with the same
// parameters, and the test-module words it gives are the ones 0012 parses.
test("docs/unmapped-alloc.md names what patches 0010-0012 declare and parse", () => {
  const dir = packagePath("linux-patches", "patches");
  const patch = (n: string): string => {
    const f = fs.readdirSync(dir).find((p) => p.startsWith(n));
    assert.ok(f, `no patch ${n}`);
    return fs.readFileSync(path.join(dir, f), "utf8");
  };
  const doc = fs.readFileSync(packagePath("docs", "unmapped-alloc.md"), "utf8");
  const squash = (s: string): string => s.replace(/\s+/g, " ").replace(/\( /g, "(").trim();
  // the prototypes the patches add to include/linux/memory_hotplug.h
  const protos = (text: string): string[] =>
    [...text.matchAll(/^\+int ((?:alloc|free|offline_and_depopulate)_\w+\([^)]*\));/gms)].map((m) =>
      squash(m[1].replace(/\n\+/g, " ")),
    );
  const declared = [...protos(patch("0010")), ...protos(patch("0011"))];
  assert.deepEqual(
    declared.map((d) => d.replace(/\(.*/, "")),
    ["alloc_contig_range_unmapped", "free_contig_range_unmapped", "offline_and_depopulate_memory_whole"],
  );
  const docText = squash(doc);
  for (const d of declared)
    assert.ok(docText.includes(`int ${d};`), `docs/unmapped-alloc.md lacks: int ${d};`);
  // the test module's words
  const tm = patch("0012");
  for (const w of ["alloc_contig_range_unmapped", "free_contig_range_unmapped"]) {
    assert.match(tm, new RegExp(`^\\+\\s*\\{ "${w}", memhp_\\w+ \\},`, "m"), w);
    assert.match(doc, new RegExp(`^    ${w} START SIZE$`, "m"), w);
  }
  assert.match(tm, /^\+\s*if \(!strcmp\(word, "whole"\)\) \{/m);
  assert.match(doc, /^ {4}depopulate_range_driver_managed START SIZE \[owner=N\] whole/m);
});

test("debug-check.sh --verify: a recorded pass holds for its hash only; a changed patch needs a new run", () => {
  // A copy of linux-patches/, so that a patch can be changed.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-debug-check-"));
  try {
    const lp = path.join(dir, "linux-patches");
    fs.cpSync(packagePath("linux-patches"), lp, { recursive: true });
    const sh = (...args: string[]) =>
      spawnSync("bash", [path.join(lp, ...args.slice(0, 1)), ...args.slice(1)], { encoding: "utf8" });
    const hash = sh("build.sh", "--print-hash", "7.2").stdout.trim();
    assert.match(hash, /^[0-9a-f]{12}$/);
    assert.equal(sh("build.sh", "--print-hash", "6.12").stdout.trim() === hash, false, "a hash per release");
    const runs = path.join(lp, "debug-runs.txt");
    const header = "# version hash arch release date ok skipped not-ok qemu-seconds\n";
    const pass = (arch: string, h = hash) => `7.2 ${h} ${arch} 7.2.13 2026-12-07 170 1 0 900\n`;

    fs.writeFileSync(runs, header + pass("arm64"));
    let r = sh("debug-check.sh", "--verify", "7.2");
    assert.equal(r.status, 1, "x86_64 has no recorded pass");
    assert.match(r.stderr, /7\.2 x86_64 debug at hash [0-9a-f]{12}: no passing run recorded/);
    assert.match(r.stderr, /7\.2 arm64 debug at hash [0-9a-f]{12}: passed on 2026-12-07/);

    fs.writeFileSync(runs, header + pass("arm64") + pass("x86_64"));
    r = sh("debug-check.sh", "--verify", "7.2");
    assert.equal(r.status, 0, r.stderr);

    // a pass recorded for another hash does not count
    fs.writeFileSync(runs, header + pass("arm64", "0123456789ab") + pass("x86_64"));
    assert.equal(sh("debug-check.sh", "--verify", "7.2").status, 1);

    // one changed line in one patch: a new hash, and the old record no longer holds
    fs.writeFileSync(runs, header + pass("arm64") + pass("x86_64"));
    const series = path.join(lp, "patches-7.2");
    const patch = fs.readdirSync(series).find((f) => f.endsWith(".patch"))!;
    fs.appendFileSync(path.join(series, patch), "\n");
    assert.notEqual(sh("build.sh", "--print-hash", "7.2").stdout.trim(), hash);
    r = sh("debug-check.sh", "--verify", "7.2");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /changed since the last debug run/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
