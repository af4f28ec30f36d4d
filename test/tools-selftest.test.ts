// The kernel's own memory-hotplug selftest and util-linux's chmem on the model
// (src/tools/mount.ts): mem-on-off-test.sh, taken unmodified from Debian's
// linux-source-6.1 at test time, and chmem, run in a private mount namespace
// with the model's tree bind-mounted over /sys/devices/system/memory
// (test/support/model-ns.ts proves the bind took effect before anything
// writes, and leaves the rest of /sys read-only). Skips when not root, without
// FUSE, or without the kernel source package.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseScenario } from "../src/scenario/parse.js";
import { runScenarioKernel } from "../src/scenario/run.js";
import type { Kernel } from "../src/kernel/kernel.js";
import { fuseUnavailable, mountModel, type MountedModel } from "../src/tools/mount.js";
import { hostBlockStates, namespaceUnavailable, runOverModel, SAFETY_FAILED } from "./support/model-ns.js";

const SOURCE = "/usr/src/linux-source-6.1.tar.xz";
const SELFTEST = "linux-source-6.1/tools/testing/selftests/memory-hotplug/mem-on-off-test.sh";

function unavailable(): string | undefined {
  return (
    fuseUnavailable() ??
    namespaceUnavailable() ??
    (fs.existsSync(SOURCE) ? undefined : `no ${SOURCE} (apt-get install linux-source-6.1)`) ??
    (["bash", "bc", "chmem"].every((c) => {
      try {
        execFileSync("sh", ["-c", `command -v ${c}`], { stdio: "pipe" });
        return true;
      } catch {
        return false;
      }
    })
      ? undefined
      : "bash, bc or chmem missing")
  );
}

const why = unavailable();
let script: string | undefined;
/** The selftest, extracted from the source package once per run (never kept in the repo). */
function selftest(): string {
  if (script) return script;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-kselftest-"));
  script = path.join(dir, "mem-on-off-test.sh");
  fs.writeFileSync(script, execFileSync("tar", ["-xJf", SOURCE, "-O", SELFTEST], { maxBuffer: 1 << 20 }));
  return script;
}

const MACHINES = {
  // a hot-added DIMM, offline: the selftest onlines it, offlines 2% of the online blocks, onlines again
  x86_64: { text: "machine x86_64 mem=1G maxmem=8G\nboot\ndimm-add d1 size=1G\n", added: [32, 39] },
  arm64: { text: "machine arm64 mem=1G maxmem=8G\nboot\ndimm-add d1 size=1G\n", added: [16, 23] },
} as const;

async function withMount<T>(k: Kernel, f: (m: MountedModel) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-mnt-"));
  const m = mountModel(dir, () => k, "selftest machine");
  try {
    return await f(m);
  } finally {
    await m.close();
    fs.rmdirSync(dir);
  }
}

const state = (k: Kernel, n: number) => k.kernfs.read(`/sys/devices/system/memory/memory${n}/state`);

for (const [arch, mc] of Object.entries(MACHINES)) {
  test(
    `mem-on-off-test.sh (kselftest, unmodified) passes on an ${arch} model`,
    { skip: why ?? false, timeout: 600_000 },
    async () => {
      const host = hostBlockStates();
      const k = runScenarioKernel(parseScenario(mc.text, arch));
      const [first, last] = mc.added;
      for (let n = first; n <= last; n++) assert.equal(state(k, n), "offline\n");
      const r = await withMount(k, (m) => runOverModel(m, ["bash", selftest()]));
      assert.notEqual(r.code, SAFETY_FAILED, `the safety checks failed: ${r.stderr}`);
      assert.equal(r.code, 0, `mem-on-off-test.sh failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
      // it onlined every hot-added block, offlined some, and onlined them again
      for (let n = first; n <= last; n++) {
        assert.match(r.stdout, new RegExp(`offline->online memory${n}\\b`));
        assert.equal(state(k, n), "online\n", `memory${n} after the test`);
      }
      assert.match(r.stdout, /online->offline memory\d+\n-> Success/);
      // the error-injection part needs debugfs and a kernel module: skipped (docs/tools.md)
      assert.match(r.stderr, /skip extra tests: debugfs is not mounted/);
      assert.equal(hostBlockStates(), host, "this machine's memory blocks changed");
    },
  );

  test(
    `chmem onlines and offlines ${arch} model blocks through the mount`,
    { skip: why ?? false, timeout: 300_000 },
    async () => {
      const host = hostBlockStates();
      const k = runScenarioKernel(parseScenario(mc.text, arch));
      const [first] = mc.added;
      const b = (i: number) => String(first + i);
      await withMount(k, async (m) => {
        let r = await runOverModel(m, ["chmem", "-v", "-e", "-b", `${b(0)}-${b(1)}`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(state(k, first), "online\n");
        assert.equal(state(k, first + 1), "online\n");
        r = await runOverModel(m, ["chmem", "-v", "-e", "-z", "Movable", "-b", b(3)]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(k.kernfs.read(`/sys/devices/system/memory/memory${first + 3}/valid_zones`), "Movable\n");
        r = await runOverModel(m, ["chmem", "-v", "-d", "-b", b(1)]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(state(k, first + 1), "offline\n");
        // memory0 holds the kernel: the model refuses to offline it, and chmem says so
        r = await runOverModel(m, ["chmem", "-d", "-b", "0"]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /[Mm]emory [Bb]lock 0/);
        assert.equal(state(k, 0), "online\n");
      });
      assert.equal(hostBlockStates(), host, "this machine's memory blocks changed");
    },
  );
}

test(
  "the namespace guard refuses to run anything when the bind mount does not show the model",
  { skip: why ?? false },
  async () => {
    const k = runScenarioKernel(parseScenario(MACHINES.x86_64.text, "guard"));
    await withMount(k, async (m) => {
      const r = await runOverModel({ ...m, marker: "some other tree\n" }, ["sh", "-c", "echo RAN"]);
      assert.equal(r.code, SAFETY_FAILED);
      assert.doesNotMatch(r.stdout, /RAN/);
      assert.match(r.stderr, /SAFETY: the bind mount does not show the model/);
      // and with the right marker the command runs, /sys outside the model read-only
      const ok = await runOverModel(m, ["sh", "-c", "echo RAN; echo 1 > /sys/kernel/mm/ksm/run"]);
      assert.equal(ok.code !== SAFETY_FAILED && /RAN/.test(ok.stdout), true, ok.stderr);
      assert.match(ok.stderr, /Read-only file system/);
    });
  },
);
