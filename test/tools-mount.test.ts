// memhp mount (src/tools/fuse.ts, model-fs.ts, mount.ts): the command mounts a
// model, reads and writes reach it with the kernel's errno, Ctrl-C unmounts,
// and a killed process leaves no stale mount (its watchdog unmounts).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fuseUnavailable } from "../src/tools/mount.js";
import { memhpArgv, ROOT } from "./support/memhp-cli.js";

const why = fuseUnavailable();
const M = "sys/devices/system/memory";

const mounted = (dir: string) =>
  fs
    .readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[1] === dir);

async function until(f: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (f()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return f();
}

function start(dir: string): { p: ChildProcess; stderr: () => string } {
  const p = spawn(
    process.execPath,
    memhpArgv(["mount", dir, "--scenario", "scenarios/examples/x86-dimm.mhp", "--quiet"]),
    { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  p.stderr!.on("data", (d) => (err += d));
  return { p, stderr: () => err };
}

const exited = (p: ChildProcess) =>
  new Promise<number | null>((r) => (p.exitCode !== null ? r(p.exitCode) : p.on("exit", (c) => r(c))));

test(
  "memhp mount: reads, writes with the kernel's errno, Ctrl-C unmounts",
  { skip: why ?? false, timeout: 300_000 },
  async () => {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "memhp-mount-")));
    const { p, stderr } = start(dir);
    const up = await until(() => mounted(dir) && /mounted at/.test(stderr()), 120_000);
    if (!up) p.kill("SIGINT");
    assert.ok(up, stderr());
    // the example's DIMM was removed at its end: boot memory, 8 blocks
    assert.equal(fs.readFileSync(path.join(dir, M, "block_size_bytes"), "utf8"), "8000000\n");
    assert.equal(fs.readdirSync(path.join(dir, M)).filter((n) => /^memory\d+$/.test(n)).length, 8);
    assert.match(fs.readFileSync(path.join(dir, "proc/iomem"), "utf8"), /System RAM/);
    // a write the kernel refuses: EINVAL; a read-only attribute: EACCES at open
    assert.throws(() => fs.writeFileSync(path.join(dir, M, "memory1/state"), "bogus\n"), { code: "EINVAL" });
    assert.throws(() => fs.writeFileSync(path.join(dir, M, "memory1/phys_index"), "1\n"), { code: "EACCES" });
    // offlining memory1 works, and the model shows it
    fs.writeFileSync(path.join(dir, M, "memory1/state"), "offline\n");
    assert.equal(fs.readFileSync(path.join(dir, M, "memory1/state"), "utf8"), "offline\n");
    assert.equal(fs.readlinkSync(path.join(dir, M, "memory1/node0")), "../../node/node0");
    p.kill("SIGINT");
    assert.equal(await exited(p), 0, stderr());
    assert.equal(mounted(dir), false, "still mounted after Ctrl-C");
    assert.match(stderr(), /unmounted .*1 refused|unmounted .*writes/);
    fs.rmdirSync(dir);
  },
);

test(
  "memhp mount: a killed process leaves no stale mount",
  { skip: why ?? false, timeout: 300_000 },
  async () => {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "memhp-mount-")));
    const { p, stderr } = start(dir);
    try {
      // the message comes just after the mount: wait for both
      assert.ok(await until(() => mounted(dir) && /fusermount3 -u /.test(stderr()), 120_000), stderr());
    } finally {
      p.kill("SIGKILL");
    }
    await exited(p);
    assert.ok(await until(() => !mounted(dir), 10_000), "a stale mount stayed behind");
    fs.rmdirSync(dir);
  },
);
