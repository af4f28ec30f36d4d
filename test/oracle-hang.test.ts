// A guest that stops answering is a result with a reason, not a bare
// timeout: the oracle samples its CPU through QEMU's gdbstub
// (src/oracle/hang-probe.ts, guest-tables.ts pcSamples()).

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  describeSamples,
  haltedAt,
  parseSystemMap,
  symbolize,
  systemMapOf,
} from "../src/oracle/hang-probe.js";
import { findKernel } from "../src/oracle/cache.js";
import {
  isTransportStall,
  OracleError,
  OracleHang,
  OracleSession,
  oracleUnavailable,
  retryStalls,
} from "../src/oracle/run.js";
import { parseScenario } from "../src/scenario/parse.js";
import type { Located, RunStatement } from "../src/scenario/ast.js";

const MAP = [
  "ffffffff81000000 T _stext",
  "ffffffff81000000 T _text",
  "ffffffff812a0000 T offline_pages",
  "ffffffff812a0800 t scan_movable_pages",
  "ffffffff812a1000 D some_data",
  "ffffffff81c00000 W default_idle",
  "ffffffff81c00100 T _etext",
].join("\n");

test("System.map: text symbols only, a PC named function+offset, addresses outside the text bare", () => {
  const syms = parseSystemMap(MAP);
  assert.deepEqual(syms.names, [
    "_stext",
    "_text",
    "offline_pages",
    "scan_movable_pages",
    "default_idle",
    "_etext",
  ]);
  assert.equal(symbolize(syms, 0xffffffff812a01f3n), "offline_pages+0x1f3");
  assert.equal(symbolize(syms, 0xffffffff812a0800n), "scan_movable_pages+0x0");
  assert.equal(symbolize(syms, 0xffffffff80000000n), "0xffffffff80000000");
  assert.equal(symbolize(syms, 0xffffffff90000000n), "0xffffffff90000000");
  assert.equal(symbolize(parseSystemMap(""), 0xffffffff81000000n), "0xffffffff81000000");
});

test("System.map: Debian's one-line stub is no map; a real one next to the kernel is", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-map-"));
  const k = {
    arch: "x86_64" as const,
    version: "6.1" as const,
    release: "r1",
    vmlinuz: path.join(dir, "vmlinuz-r1"),
    config: "",
    modulesDir: "",
  };
  fs.writeFileSync(
    path.join(dir, "System.map-r1"),
    "ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n",
  );
  assert.equal(systemMapOf(k), undefined);
  fs.writeFileSync(path.join(dir, "System.map-r1"), MAP.repeat(200));
  assert.equal(systemMapOf(k), path.join(dir, "System.map-r1"));
});

test("samples: a PC right after HLT (x86_64) or WFI (arm64) is a halted CPU; the account says where it ran", () => {
  const hlt = { pc: 0xffffffff81c00011n, before: Buffer.from([0x90, 0x90, 0xfb, 0xf4]) };
  const wfi = { pc: 0xffff800008010004n, before: Buffer.from([0x7f, 0x20, 0x03, 0xd5]) };
  const busy = { pc: 0xffffffff812a01f3n, before: Buffer.from([0x48, 0x89, 0xc7, 0x90]) };
  const user = { pc: 0x4012a0n, before: Buffer.from([0, 0, 0, 0]) };
  assert.equal(haltedAt("x86_64", hlt), true);
  assert.equal(haltedAt("x86_64", busy), false);
  assert.equal(haltedAt("arm64", wfi), true);
  assert.equal(haltedAt("arm64", hlt), false);
  assert.equal(haltedAt("x86_64", { pc: 1n, before: undefined }), false);
  assert.equal(
    describeSamples("x86_64", [hlt, hlt, hlt]),
    "its CPU was halted in 3 of 3 samples: nothing ran (the guest waited for the host, or a task slept in the kernel)",
  );
  const syms = parseSystemMap(MAP);
  assert.equal(
    describeSamples("x86_64", [busy, busy, hlt, user], syms),
    "its CPU ran in 3 of 4 samples (offline_pages 2, halted 1, user space 1)",
  );
  assert.equal(
    describeSamples("x86_64", [busy], undefined),
    "its CPU ran in 1 of 1 samples (0xffffffff812a01f3 1)",
  );
  assert.equal(
    describeSamples("x86_64", [hlt, hlt, hlt, busy], syms),
    "its CPU was halted in 3 of 4 samples: nothing ran (the guest waited for the host, or a task slept in the kernel)",
  );
  assert.equal(describeSamples("arm64", []), "its CPU could not be sampled");
});

test("a hang with the CPU halted is run again on a fresh guest, once by default; any other error is the result", async () => {
  const halted = new OracleHang(
    51,
    "guest did not answer W",
    "",
    "its CPU was halted in 8 of 8 samples: nothing ran (the guest waited for the host, or a task slept in the kernel)",
  );
  const busy = new OracleHang(
    51,
    "guest did not answer W",
    "",
    "its CPU ran in 8 of 8 samples (user space 8)",
  );
  assert.equal(isTransportStall(halted), true);
  assert.equal(isTransportStall(busy), false);
  assert.equal(isTransportStall(new OracleHang(51, "x")), false);
  assert.equal(isTransportStall(new OracleError("line 51: ...halted")), false);
  const run = (errors: Error[], stallRetries?: number) => {
    const logs: string[] = [];
    let calls = 0;
    const p = retryStalls(
      async () => {
        const e = errors[calls++];
        if (e) throw e;
        return calls;
      },
      { log: (l) => logs.push(l), stallRetries },
    );
    return { p, logs, calls: () => calls };
  };
  let r = run([halted]);
  assert.equal(await r.p, 2);
  assert.equal(r.logs.length, 1);
  assert.match(
    r.logs[0],
    /^oracle: line 51: the guest stopped answering.*halted.*: running the scenario again on a fresh guest$/,
  );
  r = run([halted, halted]);
  await assert.rejects(r.p, (e) => e === halted);
  assert.equal(r.calls(), 2);
  r = run([halted, halted], 2);
  assert.equal(await r.p, 3);
  r = run([halted], 0);
  await assert.rejects(r.p, (e) => e === halted);
  r = run([busy]);
  await assert.rejects(r.p, (e) => e === busy);
  assert.equal(r.calls(), 1);
  assert.deepEqual(r.logs, []);
});

// ---------------------------------------------------------------- live

const why = oracleUnavailable("x86_64");

test(
  "live: a write that never returns is a hang on its line, with the CPU halted (a sleep) or running (a busy loop)",
  { skip: why ?? false, timeout: 240_000 },
  async () => {
    assert.ok(findKernel("x86_64"));
    const sc = parseScenario("machine x86_64 mem=1G maxmem=2G\nboot\n", "live-hang.mhp");
    // A write to a FIFO nobody reads sleeps in the kernel forever.
    const toFifo = (line: number): Located<RunStatement> =>
      ({
        op: "write",
        path: "/tmp/memhp-fifo",
        value: "x",
        loc: { file: "live-hang.mhp", line },
      }) as Located<RunStatement>;
    const hangOf = async (s: OracleSession, line: number): Promise<OracleHang> => {
      const e = await s.run(toFifo(line)).then(
        () => assert.fail("the write returned"),
        (err: unknown) => err,
      );
      assert.ok(e instanceof OracleHang, String(e));
      assert.equal(e.line, line);
      return e;
    };
    let s = await OracleSession.start(sc, { requestTimeoutMs: 4_000 });
    try {
      assert.equal((await s.exec("mkfifo /tmp/memhp-fifo")).rc, 0);
      // a ptdump first: it leaves the gdbstub in physical memory mode, which
      // the samples must switch off to read the bytes before the PC
      await s.tables.ptdump(2, 0x1000000n, 0x200000n);
      const e = await hangOf(s, 3);
      assert.match(
        e.where ?? "",
        /^its CPU was halted in [6-8] of 8 samples: nothing ran \(the guest waited for the host, or a task slept in the kernel\)$/,
      );
      assert.match(e.message, /line 3: the guest stopped answering.*; its CPU was halted/);
    } finally {
      await s.close();
    }
    s = await OracleSession.start(sc, { requestTimeoutMs: 4_000 });
    try {
      assert.equal((await s.exec("mkfifo /tmp/memhp-fifo; (while :; do :; done) >/dev/null 2>&1 &")).rc, 0);
      const e = await hangOf(s, 4);
      assert.match(e.where ?? "", /^its CPU ran in [5-8] of 8 samples \(/);
      assert.match(e.where ?? "", /user space/);
    } finally {
      await s.close();
    }
  },
);
