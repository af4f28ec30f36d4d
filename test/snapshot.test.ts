// Snapshots (src/snapshot/): the whole model state round-trips exactly — a trace
// continued from a restored snapshot equals the same statements run straight
// through, and the state digests agree — files are written atomically, and a
// corrupt, truncated, foreign or tampered file is refused with a clear message.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { parseScenario } from "../src/scenario/parse.js";
import { runScenario, runScenarioKernel } from "../src/scenario/run.js";
import type { TraceRecord } from "../src/scenario/trace.js";
import {
  SNAPSHOT_MAGIC,
  SnapshotError,
  TICK,
  continueWith,
  decodeSnapshot,
  encodeSnapshot,
  kernelDigest,
  makeSnapshot,
  readSnapshot,
  restoreSnapshot,
  saveSnapshot,
  scenarioJournal,
  setupLines,
  type SnapshotBody,
} from "../src/snapshot/snapshot.js";
import { runMain } from "./support/capture.js";

const dir = mkdtempSync(join(tmpdir(), "memhp-snap-"));

const SCENARIOS: Record<string, string> = {
  x86_64: `machine x86_64 mem=512M maxmem=3G
cmdline memory_hotplug.memmap_on_memory=1
vmem vm0 size=512M
boot
dimm-add d1 size=256M
write /sys/devices/system/memory/memory36/state online_movable
vmem-resize vm0 256M
workload 30 fill=0.5
call add_memory_driver_managed 0x200000000 0x8000000
call depopulate_range_driver_managed 0x200000000 0x8000000
write /sys/devices/system/memory/memory32/online 1
dimm-add d2 size=128M
workload 10 kernel=70 user=30
call populate_range_driver_managed 0x200000000 0x8000000
write /sys/devices/system/memory/memory36/state offline
dimm-del d1
vmem-resize vm0 0
read /proc/meminfo MemFree MemTotal
read /proc/iomem
`,
  arm64: `machine arm64 mem=256M maxmem=2G
vmem vm0 size=256M
boot
dimm-add d1 size=256M
write /sys/devices/system/memory/memory18/state online_movable
workload 20 fill=0.6
vmem-resize vm0 128M
write /sys/devices/system/memory/memory19/online 1
write /sys/devices/system/memory/memory18/state offline
dimm-del d1
read /proc/zoneinfo
ls /sys/devices/system/memory
`,
};

const noLine = (r: TraceRecord) => {
  const { line: _line, ...rest } = r as TraceRecord & { line: number };
  return rest;
};

describe("snapshots restore the exact state", () => {
  for (const [arch, text] of Object.entries(SCENARIOS)) {
    it(`${arch}: a trace continued from a snapshot equals one run straight through, at every split`, () => {
      const full = parseScenario(text, "full.mhp");
      const straight = runScenario(full).records.map(noLine);
      const lines = text.split("\n");
      const bootLine = lines.indexOf("boot");
      const n = full.body.length;
      for (let split = 0; split <= n; split += 3) {
        // The first `split` statements, snapshotted, saved, loaded.
        const head = lines.slice(0, bootLine + 1 + split).join("\n") + "\n";
        const sc = parseScenario(head, "head.mhp");
        const k = runScenarioKernel(sc, 1);
        const file = join(dir, `${arch}-${split}.snap`);
        saveSnapshot(file, makeSnapshot(k, setupLines(sc), 1, scenarioJournal(sc, head)));
        const r = restoreSnapshot(readSnapshot(file), file);
        assert.equal(kernelDigest(r.kernel), kernelDigest(k), "restored state = saved state");
        const rest = continueWith(r, lines.slice(bootLine + 1 + split)).map(noLine);
        assert.deepEqual(rest, straight.slice(split), `split after ${split} statements`);
        assert.equal(r.kernel.checkInvariants().length, 0);
      }
    });
  }

  it("the digest covers the state: equal for equal runs, different after one more step", () => {
    const sc = parseScenario(SCENARIOS.x86_64, "x.mhp");
    const a = runScenarioKernel(sc, 1);
    const b = runScenarioKernel(sc, 1);
    assert.equal(kernelDigest(a), kernelDigest(b), "the model is deterministic");
    const d = kernelDigest(a);
    a.tick();
    assert.notEqual(kernelDigest(a), d, "a background step changes the digest");
    assert.notEqual(kernelDigest(runScenarioKernel(sc, 2)), kernelDigest(b), "another seed, another state");
    // a single write to a module parameter
    const c = runScenarioKernel(sc, 1);
    c.kernfs.write("/sys/module/memory_hotplug/parameters/auto_movable_ratio", "300");
    assert.notEqual(kernelDigest(c), kernelDigest(b));
  });

  it("a snapshot of a snapshot's continuation restores too (journals chain)", () => {
    const text = SCENARIOS.arm64;
    const lines = text.split("\n");
    const bootLine = lines.indexOf("boot");
    const head = lines.slice(0, bootLine + 3).join("\n") + "\n";
    const sc = parseScenario(head, "h.mhp");
    const r = restoreSnapshot(
      decodeSnapshot(
        encodeSnapshot(makeSnapshot(runScenarioKernel(sc, 1), setupLines(sc), 1, scenarioJournal(sc, head))),
      ),
    );
    continueWith(r, lines.slice(bootLine + 3, bootLine + 6));
    r.kernel.tick(); // an extra tick, as the shell does after `cat`
    const body2 = makeSnapshot(r.kernel, setupLines(sc), 1, [...r.journal, TICK]);
    const r2 = restoreSnapshot(decodeSnapshot(encodeSnapshot(body2)));
    assert.equal(kernelDigest(r2.kernel), kernelDigest(r.kernel));
  });
});

describe("snapshot files", () => {
  const sc = parseScenario(SCENARIOS.arm64, "a.mhp");
  const body = makeSnapshot(
    runScenarioKernel(sc, 1),
    setupLines(sc),
    1,
    scenarioJournal(sc, SCENARIOS.arm64),
  );
  const good = encodeSnapshot(body);

  const refused = (text: string, words: RegExp): void => {
    assert.throws(
      () => {
        const b = decodeSnapshot(text, "f.snap");
        restoreSnapshot(b, "f.snap");
      },
      (e: unknown) => e instanceof SnapshotError && e.message.startsWith("f.snap: ") && words.test(e.message),
    );
  };

  it("are written atomically: a temporary file renamed over the target, nothing left behind", () => {
    const file = join(dir, "atomic.snap");
    writeFileSync(file, "old contents");
    const inode = statSync(file).ino;
    saveSnapshot(file, body);
    assert.equal(readFileSync(file, "utf8"), good);
    assert.notEqual(statSync(file).ino, inode, "replaced by rename, not rewritten in place");
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes("atomic") && f !== "atomic.snap"),
      [],
      "no temporary file left",
    );
  });

  it(
    "a failed write leaves the old file whole and no temporary file",
    { skip: process.getuid?.() === 0 },
    () => {
      const sub = mkdtempSync(join(dir, "ro-"));
      const file = join(sub, "s.snap");
      writeFileSync(file, "old contents");
      chmodSync(sub, 0o500);
      try {
        assert.throws(() => saveSnapshot(file, body));
        assert.equal(readFileSync(file, "utf8"), "old contents");
        assert.deepEqual(readdirSync(sub), ["s.snap"]);
      } finally {
        chmodSync(sub, 0o700);
      }
    },
  );

  it("a rename that fails (the target is a directory) leaves the target as it was and no temporary file", () => {
    const sub = mkdtempSync(join(dir, "busy-"));
    const target = join(sub, "s.snap");
    mkdirSync(join(target, "inside"), { recursive: true });
    assert.throws(() => saveSnapshot(target, body));
    assert.deepEqual(readdirSync(sub), ["s.snap"]);
    assert.deepEqual(readdirSync(target), ["inside"]);
    assert.throws(
      () => saveSnapshot(join(sub, "no-such-dir", "s.snap"), body),
      /its directory does not exist/,
    );
  });

  it("refuses foreign files", () => {
    refused("", /not a memhp snapshot/);
    refused(SCENARIOS.x86_64, /not a memhp snapshot/);
    refused("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", /not a memhp snapshot/);
    refused('{"model":"0.1.0"}\n', /not a memhp snapshot/);
    refused(`${SNAPSHOT_MAGIC} x\n`, /bad version/);
    refused(
      good.replace(`${SNAPSHOT_MAGIC} 1`, `${SNAPSHOT_MAGIC} 2`),
      /format 2; this memhp reads format 1/,
    );
  });

  it("refuses every truncation and every flipped byte", () => {
    let tried = 0;
    for (let cut = 0; cut < good.length; cut += Math.max(1, Math.floor(good.length / 97))) {
      refused(good.slice(0, cut), /not a memhp snapshot|corrupt|version/);
      tried++;
    }
    for (let i = 0; i < good.length; i += Math.max(1, Math.floor(good.length / 211))) {
      const c = good.charCodeAt(i);
      const flipped = good.slice(0, i) + String.fromCharCode(c === 0x30 ? 0x31 : c ^ 1) + good.slice(i + 1);
      refused(flipped, /not a memhp snapshot|corrupt|version|format/);
      tried++;
    }
    refused(good + "extra\n", /corrupt/);
    assert.ok(tried > 200);
  });

  it("refuses a well-formed file whose replay does not give the saved state", () => {
    const forge = (b: SnapshotBody): string => {
      const head = `${SNAPSHOT_MAGIC} 1\n${JSON.stringify(b)}\n`;
      return `${head}sha256 ${createHash("sha256").update(head).digest("hex")}\n`;
    };
    refused(forge({ ...body, journal: body.journal.slice(0, -2) }), /did not reproduce the saved state/);
    refused(forge({ ...body, seed: 2 }), /did not reproduce/);
    refused(forge({ ...body, model: "0.0.1", digest: "0".repeat(64) }), /taken with memhp 0\.0\.1/);
    refused(forge({ ...body, journal: ["frobnicate 1"] }), /journal does not parse/);
    const noDigest: Partial<SnapshotBody> = { ...body };
    delete noDigest.digest;
    refused(forge(noDigest as SnapshotBody), /lacks a field/);
  });

  it("the CLI: save, info and load; a bad file is a clear message and exit 2", async () => {
    const scen = join(dir, "cli.mhp");
    writeFileSync(scen, SCENARIOS.arm64);
    const snap = join(dir, "cli.snap");
    const io = runMain;
    assert.equal((await io(["snapshot", "save", snap, "--from", scen])).code, 0);
    const info = await io(["snapshot", "info", snap]);
    assert.equal(info.code, 0);
    assert.match(info.out, /memhp snapshot, model .*9 statements/s);
    const load = await io(["snapshot", "load", snap]);
    assert.equal(load.code, 0, load.err);
    assert.match(load.err, /state digest verified/);
    const bad = join(dir, "bad.snap");
    writeFileSync(bad, good.slice(0, good.length - 10));
    for (const cmd of ["load", "info"]) {
      const r = await io(["snapshot", cmd, bad]);
      assert.equal(r.code, 2);
      assert.equal(r.out, "");
      assert.match(r.err, /^memhp: .*bad\.snap: corrupt snapshot/);
    }
    const missing = await io(["snapshot", "load", join(dir, "nope.snap")]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /no such file/);
  });
});
