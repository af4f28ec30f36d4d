// `snapshot save FILE` / `snapshot load FILE` in the shell (and so in the web
// page's shell console): a machine saved mid-session and loaded into a fresh
// session continues exactly as the original does.

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { it } from "node:test";
import { ShellSession } from "../src/shell/session.js";
import { kernelDigest } from "../src/snapshot/snapshot.js";

const MACHINE = "machine x86_64 mem=1G maxmem=8G\nboot\n";

it("a shell session saved and loaded continues as the original does", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "memhp-shell-snap-"));
  const file = path.join(dir, "m.snap");
  const a = new ShellSession(MACHINE, "<a>");
  for (const line of [
    "dimm-add d1 size=1G",
    "cd /sys/devices/system/memory",
    "echo online_movable > memory32/state",
    "workload 20 user=100 kernel=10",
    "cat /proc/meminfo",
    "echo online > memory33/state",
  ])
    assert.equal(a.exec(line).status, 0, line);
  const saved = a.exec(`snapshot save ${file}`);
  assert.equal(saved.status, 0, saved.err);

  const b = new ShellSession(MACHINE, "<b>");
  const loaded = b.exec(`snapshot load ${file}`);
  assert.equal(loaded.status, 0, loaded.err);
  assert.equal(kernelDigest(b.k), kernelDigest(a.k), "the loaded machine is the saved one");

  // The same commands on both give the same answers and the same state.
  for (const line of [
    "echo offline > /sys/devices/system/memory/memory33/state",
    "echo offline > /sys/devices/system/memory/memory32/state",
    "cat /proc/zoneinfo",
    "cat /sys/devices/system/memory/memory32/state",
    "dimm-del d1",
  ]) {
    const ra = a.exec(line);
    const rb = b.exec(line);
    assert.deepEqual([rb.status, rb.out, rb.err], [ra.status, ra.out, ra.err], line);
  }
  assert.equal(kernelDigest(b.k), kernelDigest(a.k));
});

it("refuses a damaged snapshot with a message and keeps the machine", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "memhp-shell-snap-"));
  const file = path.join(dir, "bad.snap");
  writeFileSync(file, "not a snapshot\n");
  const s = new ShellSession(MACHINE, "<s>");
  const before = kernelDigest(s.k);
  const r = s.exec(`snapshot load ${file}`);
  assert.equal(r.status, 1);
  assert.match(r.err ?? "", /^snapshot: /);
  assert.equal(kernelDigest(s.k), before);
  assert.equal(s.exec("snapshot").status, 2, "usage");
});
