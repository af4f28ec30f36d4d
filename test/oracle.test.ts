// The real-kernel oracle (src/oracle/): the pure parts always run (QMP framing,
// the guest protocol, errno texts, settling with a fake clock, the QEMU command
// line, the initramfs archive, statement records from canned guest replies); one
// live test boots Debian's 6.1 cloud kernel under QEMU when it is installed
// (scripts/oracle-setup.sh) and skips with the reason otherwise.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import type { Located, RunStatement, Scenario } from "../src/scenario/ast.js";
import { parseScenario } from "../src/scenario/parse.js";
import { QmpError, QmpFramer, QmpSession, type QmpEvent } from "../src/oracle/qmp.js";
import {
  blockDiff,
  decodeRequest,
  encodeRequest,
  lsNames,
  pickFields,
  ReplyParser,
  snapshotOf,
  type Reply,
  type Snapshot,
} from "../src/oracle/protocol.js";
import { errnoFromErrorText, errnoNameOf } from "../src/oracle/errnos.js";
import { settle, type Clock } from "../src/oracle/settle.js";
import {
  kernelAppend,
  memoryOption,
  PROTOCOL_TTY,
  qemuArgs,
  qemuSize,
  shellQuote,
} from "../src/oracle/qemu.js";
import { cpioNewc, buildInitramfs } from "../src/oracle/initramfs.js";
import { guestInitScript } from "../src/oracle/guest-init.js";
import {
  cacheDir,
  compareReleases,
  elfMachine,
  findBusybox,
  findKernel,
  guestModuleList,
  isDynamicElf,
} from "../src/oracle/cache.js";
import {
  dimmAdd,
  ejectOstErrno,
  finalEjectOst,
  NO_BLOCKS_AFTER_OST_MS,
  qmpRefusalErrno,
} from "../src/oracle/host-events.js";
import {
  failure,
  oracleUnavailable,
  pcpBracketedRead,
  PCP_READ_ATTEMPTS,
  runOracle,
  runStatement,
  type GuestRequester,
} from "../src/oracle/run.js";
import { recordedTracePath } from "../src/oracle/record.js";

const GiB = 2 ** 30;
const MiB = 2 ** 20;

// ---------------------------------------------------------------- QMP

test("QMP: handshake waits for the greeting, then negotiates capabilities", async () => {
  const sent: string[] = [];
  const s = new QmpSession((d) => sent.push(d));
  const hs = s.handshake();
  await Promise.resolve();
  assert.equal(sent.length, 0, "nothing may be sent before the greeting");
  s.feed(
    '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}\r\n',
  );
  await new Promise((r) => setImmediate(r));
  assert.equal(sent.length, 1);
  const cmd = JSON.parse(sent[0]) as { execute: string; id: string };
  assert.equal(cmd.execute, "qmp_capabilities");
  assert.ok(sent[0].endsWith("\r\n"));
  s.feed(`{"return": {}, "id": "${cmd.id}"}\r\n`);
  await hs;
});

test("QMP: replies are matched by id, errors become QmpError, events are dispatched", async () => {
  const sent: string[] = [];
  const s = new QmpSession((d) => sent.push(d));
  const events: QmpEvent[] = [];
  s.onEvent((e) => events.push(e));
  const a = s.execute<number>("qom-get", { path: "/machine/peripheral/vm0", property: "size" });
  const b = s.execute("device_add", { driver: "pc-dimm", id: "d1", memdev: "memd1" });
  const [ida, idb] = sent.map((x) => (JSON.parse(x) as { id: string }).id);
  assert.notEqual(ida, idb);
  assert.deepEqual((JSON.parse(sent[0]) as { arguments: unknown }).arguments, {
    path: "/machine/peripheral/vm0",
    property: "size",
  });
  // Answer out of order, with an event in between, split across chunks.
  const text =
    `{"id": "${idb}", "error": {"class": "GenericError", "desc": "no free slots left"}}\r\n` +
    `{"event": "ACPI_DEVICE_OST", "data": {"info": {"device": "d1", "source": 3, "status": 130}}, "timestamp": {"seconds": 1, "microseconds": 2}}\r\n` +
    `{"return": 536870912, "id": "${ida}"}\r\n`;
  for (let i = 0; i < text.length; i += 7) s.feed(text.slice(i, i + 7));
  assert.equal(await a, 536870912);
  await assert.rejects(b, (e: unknown) => e instanceof QmpError && e.body.desc === "no free slots left");
  assert.equal(events.length, 1);
  assert.equal(events[0].event, "ACPI_DEVICE_OST");
});

test("QMP: the framer handles several objects in one chunk and CRLF", () => {
  const got: unknown[] = [];
  const f = new QmpFramer((m) => got.push(m));
  f.feed('{"a":1}\r\n{"b":');
  assert.equal(got.length, 1);
  f.feed("2}\r\n\r\n");
  assert.deepEqual(got, [{ a: 1 }, { b: 2 }]);
});

test("QMP: closing fails pending commands and later ones", async () => {
  const s = new QmpSession(() => undefined);
  const p = s.execute("query-memory-devices");
  s.close(new Error("gone"));
  await assert.rejects(p, /gone/);
  await assert.rejects(s.execute("quit"), /gone/);
});

// ---------------------------------------------------------------- guest protocol

test("protocol: requests survive spaces, newlines, empty and non-ASCII arguments", () => {
  const args = ["/sys/devices/system/memory/memory32/state", "online movable\nx", "", "é"];
  const line = encodeRequest(7, "W", args);
  assert.ok(line.endsWith("\n"));
  assert.equal(line.slice(0, -1).includes("\n"), false, "one request is one line");
  assert.equal(line.split(" ").length, 3 + args.length, "arguments never contain the separator");
  assert.deepEqual(decodeRequest(line), { seq: 7, cmd: "W", args });
  // the last word is the length of the line before it: a line that lost bytes is told
  const body = line.slice(0, line.lastIndexOf(" "));
  assert.equal(line, `${body} ${body.length}\n`);
  assert.equal(encodeRequest(12, "S", []), "12 S 4\n");
});

const b64 = (s: string): string => Buffer.from(s).toString("base64");

test("protocol: replies are found among console noise, in any chunking", () => {
  const stream =
    "[    3.149694] memory memory33: Offline failed.\r\n" +
    "@@BEGIN 3\n" +
    `rc ${b64("0")}\n` +
    `out ${b64("Normal Movable\n")}\n` +
    "err \n" +
    "@@END 3\n" +
    "garbage line\n" +
    "@@BEGIN 4\n" +
    `rc ${b64("1")}\n` +
    "@@END 5\n"; // a torn frame: dropped
  for (const step of [1, 3, 64, stream.length]) {
    const got: Reply[] = [];
    const p = new ReplyParser((r) => got.push(r));
    for (let i = 0; i < stream.length; i += step) p.feed(Buffer.from(stream.slice(i, i + step), "latin1"));
    assert.equal(got.length, 1, `step ${step}`);
    assert.equal(got[0].seq, 3);
    assert.equal(got[0].fields.get("out"), "Normal Movable\n");
    assert.equal(got[0].fields.get("err"), "");
    assert.ok(p.noise.some((l) => l.includes("Offline failed")));
  }
});

test("protocol: snapshots sort blocks numerically and change signature with the digest", () => {
  const reply = (blocks: string, sig: string): Snapshot =>
    snapshotOf({
      seq: 1,
      fields: new Map([
        ["blocks", blocks],
        ["sig", sig],
      ]),
    });
  const a = reply(" 9 10 32 0 1", "abc  -");
  assert.deepEqual(a.blocks, [0, 1, 9, 10, 32]);
  assert.notEqual(a.sig, reply(" 9 10 32 0 1", "abd  -").sig);
  assert.notEqual(a.sig, reply(" 9 10 0 1", "abc  -").sig);
  assert.deepEqual(blockDiff([9, 10, 32, 33, 100], [9]), ["memory10", "memory32", "memory33", "memory100"]);
});

test("protocol: meminfo and vmstat fields as numbers, in kB as printed", () => {
  const meminfo =
    "MemTotal:         930320 kB\nMemFree:          892736 kB\nActive(anon):       1816 kB\nHugePages_Total:       0\nDirectMap1G:     1048576 kB\n";
  assert.deepEqual(
    pickFields(meminfo, ["DirectMap1G", "MemTotal", "Active(anon)", "HugePages_Total", "Nope"]),
    {
      DirectMap1G: 1048576,
      MemTotal: 930320,
      "Active(anon)": 1816,
      HugePages_Total: 0,
    },
  );
  assert.deepEqual(pickFields("nr_free_pages 223184\nnr_zone_inactive_anon 51\n", ["nr_free_pages"]), {
    nr_free_pages: 223184,
  });
});

test("protocol: ls drops . and .. and sorts in C order", () => {
  assert.deepEqual(lsNames(".\n..\nmemory32\nmemory4\nauto_online_blocks\nuevent\n"), [
    "auto_online_blocks",
    "memory32",
    "memory4",
    "uevent",
  ]);
});

// ---------------------------------------------------------------- errno texts

test("errnos: busybox error texts map back to the kernel's errno names", () => {
  assert.equal(errnoFromErrorText("sh: write error: Invalid argument\n"), "EINVAL");
  assert.equal(errnoFromErrorText("sh: write error: Device or resource busy"), "EBUSY");
  assert.equal(errnoFromErrorText("cat: read error: Operation not supported"), "EOPNOTSUPP");
  assert.equal(errnoFromErrorText("sh: write error: Unknown error 524"), "ENOTSUPP");
  assert.equal(
    errnoFromErrorText("sh: can't create /sys/devices/system/memory/memory99/state: nonexistent directory"),
    "ENOENT",
  );
  assert.equal(errnoFromErrorText("cat: can't open '/x': No such file or directory\n\n"), "ENOENT");
  assert.equal(errnoFromErrorText("sh: write error: Too many references: cannot splice"), "ETOOMANYREFS");
  assert.equal(errnoFromErrorText("sh: something else happened"), undefined);
  assert.equal(errnoFromErrorText(""), undefined);
  assert.equal(errnoNameOf(-16), "EBUSY");
  assert.equal(errnoNameOf(9999), "E9999");
});

test("a write interrupted by the guest's time limit reads as EINTR; unknown texts stay visible", () => {
  assert.equal(failure({ rc: 130, out: "", err: "" }), "EINTR");
  assert.equal(failure({ rc: 1, out: "", err: "sh: write error: Invalid argument\n" }), "EINVAL");
  assert.match(failure({ rc: 1, out: "", err: "weird\n" }), /weird/);
});

// ---------------------------------------------------------------- settling

class FakeClock implements Clock {
  t = 0;
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
  }
}

/** A probe whose signature changes at the given times (ms). */
function probeChangingAt(clock: FakeClock, changes: number[]): () => Promise<Snapshot> {
  return async () => {
    const n = changes.filter((c) => c <= clock.t).length;
    return { blocks: [n], sig: String(n) };
  };
}

const OPTS = { pollMs: 100, stableMs: 1000, limitMs: 20_000 };

test("settle: a quiet guest settles after the stable time", async () => {
  const c = new FakeClock();
  const r = await settle(probeChangingAt(c, []), c, OPTS);
  assert.equal(r.settled, true);
  assert.equal(r.elapsedMs, 1000);
  assert.equal(r.polls, 11);
});

test("settle: stability counts from the last change", async () => {
  const c = new FakeClock();
  // The change at 250 is seen at the 300 poll, the one at 1150 (inside the
  // first quiet second) at the 1200 poll; quiet for 1000 ms after that.
  const r = await settle(probeChangingAt(c, [250, 1150]), c, OPTS);
  assert.equal(r.settled, true);
  assert.deepEqual(r.snapshot.blocks, [2]);
  assert.equal(r.elapsedMs, 2200);
});

test("settle: cannot end before the event's own condition holds, then waits the stable time", async () => {
  const c = new FakeClock();
  const r = await settle(probeChangingAt(c, []), c, OPTS, () => c.t >= 3000);
  assert.equal(r.settled, true);
  assert.equal(r.elapsedMs, 4000);
});

test("settle: once the guest says it finished (final), a short quiet time is enough", async () => {
  const c = new FakeClock();
  // the snapshot changes at 250 (seen at 300), the guest's _OST arrives at 600
  const r = await settle(probeChangingAt(c, [250]), c, { ...OPTS, finalStableMs: 200 }, (s) =>
    c.t >= 600 ? "final" : s.sig !== "0",
  );
  assert.equal(r.settled, true);
  // quiet counted from 300 (the change and the first readiness), 200 ms once final at 600
  assert.equal(r.elapsedMs, 600);
  // a change after "final" still restarts the quiet time
  const c2 = new FakeClock();
  const r2 = await settle(probeChangingAt(c2, [250, 700]), c2, { ...OPTS, finalStableMs: 200 }, () =>
    c2.t >= 600 ? "final" : false,
  );
  assert.equal(r2.elapsedMs, 900);
  assert.deepEqual(r2.snapshot.blocks, [2]);
  // without finalStableMs the stable time is the usual one
  const c3 = new FakeClock();
  const r3 = await settle(probeChangingAt(c3, []), c3, OPTS, () => "final");
  assert.equal(r3.elapsedMs, 1000);
});

test("settle: a guest that never calms down hits the limit", async () => {
  const c = new FakeClock();
  const changes = Array.from({ length: 400 }, (_, i) => i * 50);
  const r = await settle(probeChangingAt(c, changes), c, OPTS);
  assert.equal(r.settled, false);
  assert.equal(r.ready, true);
  assert.equal(r.elapsedMs, 20_000);
});

test("settle: a condition that never holds hits the limit and says so", async () => {
  const c = new FakeClock();
  const r = await settle(probeChangingAt(c, []), c, { ...OPTS, limitMs: 5000 }, async () => false);
  assert.equal(r.settled, false);
  assert.equal(r.ready, false);
  assert.equal(r.elapsedMs, 5000);
});

// ---------------------------------------------------------------- QEMU command line

const loc = (line: number) => ({ file: "t.mhp", line });

function scenario(over: Partial<Scenario["machine"]> = {}, extra: Partial<Scenario> = {}): Scenario {
  return {
    file: "t.mhp",
    machine: { op: "machine", arch: "x86_64", memBytes: GiB, maxmemBytes: 8 * GiB, loc: loc(1), ...over },
    cmdline: [],
    vmems: [],
    body: [],
    ...extra,
  };
}

const PATHS = {
  vmlinuz: "/c/vmlinuz",
  initrd: "/w/initrd.gz",
  qmpSocket: "/w/qmp.sock",
  guestSocket: "/w/guest.sock",
  gdbSocket: "/w/gdb.sock",
};

/** The value following `flag` in args (first occurrence). */
const after = (args: string[], flag: string): string | undefined => args[args.indexOf(flag) + 1];

test("qemu: sizes in QEMU's notation (a bare number would be MiB for -m)", () => {
  assert.equal(qemuSize(GiB), "1G");
  assert.equal(qemuSize(1536 * MiB), "1536M");
  assert.equal(qemuSize(2 ** 40), "1T");
  assert.equal(qemuSize(4096 + 1024), "5K");
  assert.equal(qemuSize(3), "3B");
  assert.equal(qemuSize(0), "0B");
});

test("qemu: the x86_64 command line of a scenario", () => {
  const s = parseScenario(
    "machine x86_64 mem=1G maxmem=8G\ncmdline memhp_default_state=online_movable\nvmem vm0 size=2G\nboot\n",
    "t.mhp",
  );
  const args = qemuArgs(s, PATHS);
  assert.equal(after(args, "-accel"), "tcg");
  assert.equal(after(args, "-cpu"), "max,la57=off");
  assert.equal(after(args, "-smp"), "1");
  assert.equal(after(args, "-m"), "1G,slots=4,maxmem=8G");
  assert.equal(after(args, "-kernel"), "/c/vmlinuz");
  assert.equal(after(args, "-initrd"), "/w/initrd.gz");
  assert.equal(after(args, "-append"), "console=ttyS0 quiet nokaslr memhp_default_state=online_movable");
  assert.equal(after(args, "-net"), "none");
  assert.equal(after(args, "-qmp"), "unix:/w/qmp.sock,server=on,wait=off");
  for (const f of ["-nographic", "-no-reboot"]) assert.ok(args.includes(f), f);
  assert.ok(args.includes("memory-backend-ram,id=vmemvm0,size=2G"));
  assert.ok(args.includes("virtio-mem-pci,id=vm0,memdev=vmemvm0,requested-size=0"));
  // The console stays the first serial port; the protocol is the second.
  const serials = args.flatMap((a, i) => (a === "-serial" ? [args[i + 1]] : []));
  assert.deepEqual(serials, ["stdio", "chardev:memhp"]);
  assert.ok(args.includes("socket,id=memhp,path=/w/guest.sock,server=on,wait=off"));
  // The gdbstub that ptdump reads the page tables through.
  assert.ok(args.includes("socket,id=memhp-gdb,path=/w/gdb.sock,server=on,wait=off"));
  assert.equal(after(args, "-gdb"), "chardev:memhp-gdb");
});

test("qemu: the arm64 command line: virt, UEFI, PL011 console, protocol on a virtio console", () => {
  const s = parseScenario(
    "machine arm64 mem=1G maxmem=8G\ncmdline rodata=off\nvmem vm0 size=2G\nboot\n",
    "t.mhp",
  );
  const args = qemuArgs(s, PATHS);
  assert.equal(after(args, "-machine"), "virt");
  assert.equal(after(args, "-accel"), "tcg");
  assert.match(after(args, "-cpu") ?? "", /^max\b/);
  assert.equal(after(args, "-m"), "1G,slots=4,maxmem=8G");
  assert.equal(after(args, "-bios"), "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd");
  assert.equal(after(args, "-append"), "console=ttyAMA0 quiet nokaslr rodata=off");
  assert.equal(after(args, "-display"), "none");
  assert.equal(after(args, "-gdb"), "chardev:memhp-gdb");
  // One PL011 on stdio; the protocol chardev is a virtconsole on a virtio-mmio bus.
  const serials = args.flatMap((a, i) => (a === "-serial" ? [args[i + 1]] : []));
  assert.deepEqual(serials, ["stdio"]);
  const devices = args.flatMap((a, i) => (a === "-device" ? [args[i + 1]] : []));
  assert.deepEqual(devices, [
    "virtio-serial-device,id=memhp-vser",
    "virtconsole,chardev=memhp,bus=memhp-vser.0",
    "virtio-mem-pci,id=vm0,memdev=vmemvm0,requested-size=0",
  ]);
  assert.equal(PROTOCOL_TTY.arm64, "/dev/hvc0");
  assert.equal(PROTOCOL_TTY.x86_64, "/dev/ttyS1");
});

test("modules: virtio-mem's transport loads before arm64's console transport (virtio0 stays virtio-mem)", () => {
  assert.deepEqual(guestModuleList("x86_64", false), []);
  const x86 = guestModuleList("x86_64", true);
  assert.equal(x86.at(-1), "kernel/drivers/virtio/virtio_mem.ko");
  const arm = guestModuleList("arm64", false).map((m) => path.basename(m));
  assert.deepEqual(arm, ["virtio_ring.ko", "virtio.ko", "virtio_mmio.ko", "virtio_console.ko"]);
  const both = guestModuleList("arm64", true).map((m) => path.basename(m));
  assert.equal(new Set(both).size, both.length, "no module twice");
  assert.ok(both.indexOf("virtio_pci.ko") < both.indexOf("virtio_mmio.ko"));
  assert.ok(both.indexOf("virtio_mem.ko") < both.indexOf("virtio_console.ko"));
  assert.ok(both.indexOf("virtio.ko") < both.indexOf("virtio_pci.ko"));
});

test("qemu: slots from the scenario, or none without room for hotplug", () => {
  assert.equal(memoryOption(scenario({ slots: 2 }).machine), "1G,slots=2,maxmem=8G");
  assert.equal(memoryOption(scenario({ maxmemBytes: GiB, slots: 0 }).machine), "1G");
  assert.equal(memoryOption(scenario({ slots: undefined }).machine), "1G,slots=4,maxmem=8G");
  assert.equal(kernelAppend(scenario({}, { cmdline: ["a=b", "c"] })), "console=ttyS0 quiet nokaslr a=b c");
});

test("qemu: the recorded command line can be pasted into a shell", () => {
  const line = shellQuote(["qemu", "-append", "console=ttyS0 quiet", "it's"]);
  assert.equal(line, `qemu -append 'console=ttyS0 quiet' 'it'\\''s'`);
  const echoed = execFileSync("sh", ["-c", `printf '%s|' ${line.slice(5)}`]).toString();
  assert.equal(echoed, "-append|console=ttyS0 quiet|it's|");
});

// ---------------------------------------------------------------- initramfs

/** An independent reader of newc archives (buffer-format.rst). */
function readNewc(buf: Buffer): Array<{ name: string; mode: number; data: Buffer; rdev: [number, number] }> {
  const out = [];
  let off = 0;
  for (;;) {
    assert.equal(buf.toString("ascii", off, off + 6), "070701", `magic at ${off}`);
    const field = (i: number): number =>
      parseInt(buf.toString("ascii", off + 6 + i * 8, off + 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const namesize = field(11);
    const name = buf.toString("utf8", off + 110, off + 110 + namesize - 1);
    assert.equal(buf[off + 110 + namesize - 1], 0, "name is NUL-terminated");
    let p = off + 110 + namesize;
    p += (4 - (p % 4)) % 4;
    const data = buf.subarray(p, p + size);
    p += size;
    p += (4 - (p % 4)) % 4;
    if (name === "TRAILER!!!") {
      assert.equal(p, buf.length);
      return out;
    }
    out.push({ name, mode, data, rdev: [field(9), field(10)] as [number, number] });
    off = p;
  }
}

test("initramfs: a newc archive with directories, files, a symlink and /dev/console", () => {
  const arch = cpioNewc([
    { kind: "dir", path: "/bin" },
    { kind: "file", path: "init", data: Buffer.from("#!/bin/sh\n"), mode: 0o755 },
    { kind: "file", path: "odd", data: Buffer.from("abcde") },
    { kind: "symlink", path: "bin/sh", target: "busybox" },
    { kind: "char", path: "dev/console", major: 5, minor: 1 },
  ]);
  const e = readNewc(arch);
  assert.deepEqual(
    e.map((x) => x.name),
    ["bin", "init", "odd", "bin/sh", "dev/console"],
  );
  assert.equal(e[0].mode, 0o040755);
  assert.equal(e[1].mode, 0o100755);
  assert.equal(e[2].data.toString(), "abcde");
  assert.equal(e[3].mode, 0o120777);
  assert.equal(e[3].data.toString(), "busybox");
  assert.equal(e[4].mode, 0o020600);
  assert.deepEqual(e[4].rdev, [5, 1]);
});

test("initramfs: gzip of busybox, /init and the modules in load order; cpio(1) reads it", (t) => {
  const gz = buildInitramfs({
    busybox: Buffer.from("\x7fELF fake"),
    init: guestInitScript(),
    modules: [
      ["virtio_ring.ko", Buffer.from("r")],
      ["virtio.ko", Buffer.from("v")],
    ],
  });
  const raw = gunzipSync(gz);
  const e = readNewc(raw);
  const byName = new Map(e.map((x) => [x.name, x]));
  assert.equal(byName.get("init")?.mode, 0o100755);
  assert.equal(byName.get("etc/memhp-modules")?.data.toString(), "virtio_ring.ko\nvirtio.ko\n");
  assert.equal(byName.get("lib/modules/virtio.ko")?.data.toString(), "v");
  assert.ok(byName.has("dev/console"));
  let cpioOk = true;
  try {
    execFileSync("cpio", ["--version"], { stdio: "ignore" });
  } catch {
    cpioOk = false;
  }
  if (!cpioOk) {
    t.diagnostic("cpio(1) not installed: archive not cross-checked");
    return;
  }
  const listed = execFileSync("cpio", ["-it", "--quiet"], { input: raw }).toString().trim().split("\n");
  assert.deepEqual(
    listed,
    e.map((x) => x.name),
  );
});

test("guest /init: arm64 waits for hvc0 and falls back to a plain raw mode on it", () => {
  const s = guestInitScript({ tty: "/dev/hvc0", writeTimeoutS: 30 });
  assert.match(s, /T=\/dev\/hvc0/);
  assert.match(s, /while \[ ! -e \$T \]/);
  assert.match(s, /\|\| stty -F \$T raw -echo/);
  // the wait comes after the modules are loaded (the virtio console is a module)
  assert.ok(s.indexOf("insmod") < s.indexOf("while [ ! -e $T ]"));
});

test("guest /init: serves the protocol on ttyS1 with the write time limit, console on ttyS0 untouched", () => {
  const s = guestInitScript({ tty: "/dev/ttyS1", writeTimeoutS: 12 });
  assert.ok(s.startsWith("#!/bin/sh\n"));
  assert.match(s, /T=\/dev\/ttyS1/);
  assert.match(s, /timeout -s INT 12 sh -c 'echo "\$1" > "\$2"'/);
  assert.match(s, /@@BEGIN 0/);
  assert.doesNotMatch(s, /ttyS0/);
  // busybox sh must accept it
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-init-"));
  try {
    fs.writeFileSync(path.join(dir, "init"), s);
    execFileSync("sh", ["-n", path.join(dir, "init")]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- cache

test("cache: the newest cloud kernel with its modules, by numeric ABI", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-cache-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, "linux-x86_64");
  fs.mkdirSync(path.join(root, "boot"), { recursive: true });
  for (const r of ["6.1.0-9-cloud-amd64", "6.1.0-56-cloud-amd64", "6.1.0-60-cloud-amd64"]) {
    fs.writeFileSync(path.join(root, "boot", `vmlinuz-${r}`), "");
  }
  fs.writeFileSync(path.join(root, "boot", "vmlinuz-6.1.0-99-amd64"), ""); // not the cloud flavour
  fs.mkdirSync(path.join(root, "lib/modules/6.1.0-9-cloud-amd64"), { recursive: true });
  fs.mkdirSync(path.join(root, "lib/modules/6.1.0-56-cloud-amd64"), { recursive: true });
  // 6.1.0-60 has no modules: skipped
  const k = findKernel("x86_64", dir);
  assert.equal(k?.release, "6.1.0-56-cloud-amd64");
  assert.equal(k?.vmlinuz, path.join(root, "boot", "vmlinuz-6.1.0-56-cloud-amd64"));
  assert.equal(findKernel("arm64", dir), undefined);
  assert.ok(compareReleases("6.1.0-9-cloud-amd64", "6.1.0-10-cloud-amd64") < 0);
  assert.equal(cacheDir({ MEMHP_CACHE: "/x" }), "/x");
  assert.equal(cacheDir({ HOME: "/h" }), "/h/.cache/memhp");
  assert.equal(cacheDir({ HOME: "/h", XDG_CACHE_HOME: "/c" }), "/c/memhp");
});

test("cache: a dynamically linked busybox is recognised (useless in the initramfs)", () => {
  const elf = Buffer.alloc(128);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[4] = 2;
  elf.writeBigUInt64LE(64n, 0x20); // phoff
  elf.writeUInt16LE(56, 0x36); // phentsize
  elf.writeUInt16LE(1, 0x38); // phnum
  elf.writeUInt32LE(1, 64); // PT_LOAD
  assert.equal(isDynamicElf(elf), false);
  elf.writeUInt32LE(3, 64); // PT_INTERP
  assert.equal(isDynamicElf(elf), true);
  assert.equal(isDynamicElf(Buffer.from("#!/bin/sh\n")), false);
});

test("cache: the arm64 busybox is the static aarch64 one unpacked into the cache", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-cache-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const elf = (machine: number): Buffer => {
    const b = Buffer.alloc(128);
    b.writeUInt32BE(0x7f454c46, 0);
    b[4] = 2; // 64-bit
    b[5] = 1; // little-endian
    b.writeUInt16LE(machine, 0x12);
    b.writeBigUInt64LE(64n, 0x20);
    b.writeUInt16LE(56, 0x36);
    b.writeUInt16LE(1, 0x38);
    b.writeUInt32LE(1, 64); // PT_LOAD only: static
    return b;
  };
  assert.equal(elfMachine(elf(183)), 183);
  const bin = path.join(dir, "linux-arm64", "bin");
  fs.mkdirSync(bin, { recursive: true });
  assert.equal(findBusybox("arm64", dir), undefined);
  fs.writeFileSync(path.join(bin, "busybox"), elf(62)); // an x86_64 binary: useless in an arm64 guest
  assert.equal(findBusybox("arm64", dir), undefined);
  fs.writeFileSync(path.join(bin, "busybox"), elf(183)); // EM_AARCH64
  assert.equal(findBusybox("arm64", dir), path.join(bin, "busybox"));
});

// ---------------------------------------------------------------- host events

test("host events: QEMU's refusal texts map to the errnos the model gives (src/hw/host.ts)", () => {
  assert.equal(qmpRefusalErrno("Duplicate ID 'd1' for device"), "EINVAL");
  assert.equal(
    qmpRefusalErrno(
      "attempt to add object with the id 'memd1' failed: an object with this id already exists",
    ),
    "EINVAL",
  );
  assert.equal(qmpRefusalErrno("no free slots left"), "ENOSPC");
  assert.equal(
    qmpRefusalErrno(
      "not enough space, currently 0x40000000 in use of total space for memory devices 0x1c0000000",
    ),
    "ENOSPC",
  );
  assert.equal(qmpRefusalErrno("Device 'd9' not found"), "ENODEV");
  assert.equal(qmpRefusalErrno("'requested-size' cannot exceed the memory backend size"), "EINVAL");
});

test("host events: _OST status codes of an eject (drivers/acpi/scan.c: acpi_device_hotplug())", () => {
  assert.equal(ejectOstErrno(0x82), "EBUSY");
  assert.equal(ejectOstErrno(0x80), "EPERM");
  assert.equal(ejectOstErrno(0x1), "EIO");
  assert.equal(ejectOstErrno(0), "ok");
  const ev = (source: number, status: number, device = "d1"): QmpEvent => ({
    event: "ACPI_DEVICE_OST",
    data: { info: { device, source, status, slot: "0", "slot-type": "DIMM" } },
  });
  assert.equal(finalEjectOst(ev(3, 0x84), "d1"), undefined, "eject in progress is not an answer");
  assert.equal(finalEjectOst(ev(3, 0x82), "d1"), 0x82);
  assert.equal(finalEjectOst(ev(0x103, 0x82), "d1"), 0x82);
  assert.equal(finalEjectOst(ev(1, 0), "d1"), undefined, "insertion status is not about the eject");
  assert.equal(finalEjectOst(ev(3, 0x82, "d2"), "d1"), undefined);
  assert.equal(finalEjectOst({ event: "DEVICE_DELETED", data: { device: "d1" } }, "d1"), undefined);
});

/**
 * A QEMU that answers every command with success and, after device_add, sends
 * the insertion's _OST at `ostAt` ms (clock time); the guest's blocks are
 * `blocksAt(t)` and its iomem changes at `iomemAt`.
 */
function fakeDimmHost(c: FakeClock, ostAt: number, iomemAt: number, blocksAt: (t: number) => number[]) {
  let ostSent = false;
  const qmp: QmpSession = new QmpSession((data) => {
    const { id } = JSON.parse(data) as { id: string };
    queueMicrotask(() => qmp.feed(JSON.stringify({ return: {}, id }) + "\r\n"));
  });
  const probe = async (): Promise<Snapshot> => {
    if (!ostSent && c.t >= ostAt) {
      ostSent = true;
      qmp.feed(
        JSON.stringify({ event: "ACPI_DEVICE_OST", data: { info: { device: "d1", source: 1, status: 0 } } }) +
          "\r\n",
      );
    }
    const blocks = blocksAt(c.t);
    return { blocks, sig: `${blocks.join(",")}|${c.t >= iomemAt ? "iomem+" : "iomem"}` };
  };
  return { qmp, probe, clock: c, settle: OPTS };
}

test("dimm-add: done when the blocks exist, not at the first change of /proc/iomem", async () => {
  // arm64, a restored guest on a busy host: the resource is in /proc/iomem at
  // 300 ms, the blocks come 2.5 s later (arch_add_memory() mapping 4 KiB pages)
  const c = new FakeClock();
  const ctx = fakeDimmHost(c, 2900, 300, (t) => (t >= 2800 ? [0, 16, 17] : [0]));
  const r = await dimmAdd(ctx, "d1", 2 ** 28);
  assert.equal(r.result, "ok");
  assert.deepEqual(r.blocks.added, ["memory16", "memory17"]);
  assert.ok(r.settled);
  assert.ok(c.t >= 3800, `a quiet second after the blocks (${c.t} ms)`);

  // a DIMM the kernel does not add (not block-aligned): no block ever comes,
  // the insertion's _OST says the guest handled it; done some time after that
  const c2 = new FakeClock();
  const ctx2 = fakeDimmHost(c2, 500, Infinity, () => [0]);
  const r2 = await dimmAdd(ctx2, "d1", 2 ** 26);
  assert.deepEqual(r2.blocks.added, []);
  assert.ok(r2.settled, "settled, not the limit");
  assert.ok(c2.t >= 500 + NO_BLOCKS_AFTER_OST_MS && c2.t < OPTS.limitMs, `${c2.t} ms`);
});

// ---------------------------------------------------------------- statements from canned replies

/** A guest that answers from a table keyed by "CMD arg0". */
function fakeGuest(table: Record<string, Record<string, string>>): GuestRequester & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async request(cmd, args = []) {
      const key = `${cmd} ${args[0] ?? ""}`;
      asked.push(`${cmd} ${args.join(" ")}`);
      const fields = table[key];
      if (!fields) throw new Error(`unexpected ${key}`);
      return { seq: 1, fields: new Map(Object.entries(fields)) };
    },
  };
}

const unusedCtx = {
  qmp: new QmpSession(() => {
    throw new Error("no QMP in this test");
  }),
  probe: async (): Promise<Snapshot> => ({ blocks: [], sig: "" }),
  clock: new FakeClock(),
  settle: OPTS,
};

test("a MemFree reading is bracketed by the lists' counts, and made again while they move", async () => {
  const zi = (dma: number, dma32: number) =>
    `Node 0, zone      DMA\n  pages free     3808\n  pagesets\n    cpu: 0\n              count: ${dma}\n` +
    `Node 0, zone    DMA32\n  pages free     218207\n  pagesets\n    cpu: 0\n              count: ${dma32}\n`;
  const replies = [
    // vmstat's worker drained 400 pages of DMA32's list between the two counts
    { out0: zi(7, 3549), out2: zi(7, 3149) },
    { out0: zi(7, 3149), out2: zi(7, 3139) },
  ];
  const asked: string[] = [];
  const g: GuestRequester = {
    async request(cmd, args = []) {
      asked.push(`${cmd} ${args.join(" ")}`);
      const r = replies[Math.min(asked.length - 1, replies.length - 1)];
      return {
        seq: asked.length,
        fields: new Map(Object.entries({ rc: "0", out: "MemFree: 1 kB\n", err: "", ...r })),
      };
    },
  };
  const got = await pcpBracketedRead(g, "/proc/meminfo", 1000);
  assert.equal(asked.length, 2, "read again once the lists moved by 400 pages");
  assert.deepEqual(asked[0], "R /proc/meminfo /proc/zoneinfo");
  assert.equal(got.pcpPages, 3151, "the mean of 3156 and 3146");
  // lists that never settle: PCP_READ_ATTEMPTS reads, the tightest pair kept
  replies.splice(0, 2, { out0: zi(7, 3549), out2: zi(7, 3149) }, { out0: zi(7, 3349), out2: zi(7, 3149) });
  asked.length = 0;
  const loose = await pcpBracketedRead(g, "/proc/meminfo", 1000);
  assert.equal(asked.length, PCP_READ_ATTEMPTS);
  assert.equal(loose.pcpPages, 3256);
});

test("statements: write, read, read with fields, ls, and the ENOSYS ones", async () => {
  const STATE = "/sys/devices/system/memory/memory33/state";
  const g = fakeGuest({
    [`W ${STATE}`]: { rc: "1", err: "sh: write error: Device or resource busy\n" },
    "R /proc/meminfo": {
      rc: "0",
      out: "MemTotal:   930320 kB\nMemFree:    892736 kB\n",
      out2:
        "Node 0, zone      DMA\n  pages free     3808\n  pagesets\n    cpu: 0\n              count: 7\n" +
        "Node 0, zone    DMA32\n  pages free     218207\n  pagesets\n    cpu: 0\n              count: 3149\n",
      err: "",
    },
    "R /sys/devices/system/memory/memory32/valid_zones": { rc: "0", out: "Normal Movable\n", err: "" },
    "R /nope": { rc: "1", out: "", err: "cat: can't open '/nope': No such file or directory\n" },
    "L /sys/devices/system/memory/memory32": { rc: "0", out: ".\n..\nstate\nonline\n", err: "" },
  });
  const st = <S extends RunStatement>(line: number, s: S): Located<RunStatement> => ({
    ...s,
    loc: loc(line),
  });
  const run = (s: Located<RunStatement>) => runStatement(s, g, unusedCtx, 1000);
  assert.deepEqual(await run(st(3, { op: "write", path: STATE, value: "offline" })), {
    line: 3,
    op: "write",
    path: STATE,
    value: "offline",
    result: "EBUSY",
  });
  assert.deepEqual(g.asked[0], `W ${STATE} offline`);
  // a MemFree reading carries the pages on the per-cpu lists, read right after it, in the same request
  assert.deepEqual(await run(st(4, { op: "read", path: "/proc/meminfo", fields: ["MemFree"] })), {
    line: 4,
    op: "read",
    path: "/proc/meminfo",
    fields: { MemFree: 892736 },
    _pcpPages: 3156,
  });
  assert.deepEqual(g.asked.slice(1), ["R /proc/meminfo /proc/zoneinfo"]);
  assert.deepEqual(await run(st(4, { op: "read", path: "/proc/meminfo", fields: ["MemTotal"] })), {
    line: 4,
    op: "read",
    path: "/proc/meminfo",
    fields: { MemTotal: 930320 },
  });
  assert.deepEqual(
    await run(st(5, { op: "read", path: "/sys/devices/system/memory/memory32/valid_zones", fields: [] })),
    { line: 5, op: "read", path: "/sys/devices/system/memory/memory32/valid_zones", value: "Normal Movable" },
  );
  assert.deepEqual(await run(st(6, { op: "read", path: "/nope", fields: [] })), {
    line: 6,
    op: "read",
    path: "/nope",
    result: "ENOENT",
  });
  assert.deepEqual(await run(st(7, { op: "ls", path: "/sys/devices/system/memory/memory32" })), {
    line: 7,
    op: "ls",
    path: "/sys/devices/system/memory/memory32",
    names: ["online", "state"],
  });
  const pt = await run(st(8, { op: "ptdump", start: 0x100000000n, sizeBytes: 0x40000000n }));
  assert.deepEqual(pt, { line: 8, op: "ptdump", start: "0x100000000", size: "0x40000000", result: "ENOSYS" });
  const call = await run(st(9, { op: "call", fn: "offline_and_remove_memory", args: ["0x100000000"] }));
  assert.equal((call as Record<string, unknown>).result, "ENOSYS");
  assert.equal(g.asked.length, 6, "ptdump and call never reach the guest");
});

test("record: traces are saved next to the scenario", () => {
  assert.equal(
    recordedTracePath("scenarios/oracle/x86-vmem.mhp", "x86_64"),
    "scenarios/oracle/x86-vmem.linux-x86_64.jsonl",
  );
});

// ---------------------------------------------------------------- live

const why = oracleUnavailable("x86_64");

test("live: a 1 GiB DIMM on the real kernel", { skip: why ?? false, timeout: 120_000 }, async () => {
  const text = [
    "machine x86_64 mem=1G maxmem=4G",
    "boot",
    "dimm-add d1 size=1G",
    "read /sys/devices/system/memory/memory32/valid_zones",
    "write /sys/devices/system/memory/memory32/state bogus",
    "write /sys/devices/system/memory/memory32/state online_movable",
    "ptdump 0x100000000 1G",
    "dimm-del d1",
    "ptdump 0x100000000 1G",
  ].join("\n");
  const trace = await runOracle(parseScenario(text, "live.mhp"));
  assert.equal(trace.header.op, "system");
  assert.equal(trace.header.system, "linux");
  assert.match(trace.header.version, /^6\.1\.0-\d+-cloud-amd64$/);
  assert.match(String(trace.header.qemu), /^\d+\.\d+\.\d+ /);
  assert.match(String(trace.header.commandLine), /^qemu-system-x86_64 .*-cpu max,la57=off/);
  const [add, zones, bogus, online, pt, del, ptAfter] = trace.records as Array<Record<string, unknown>>;
  // mem=1G: device memory starts at 4 GiB; 128 MiB blocks -> memory32..memory39.
  const blocks = Array.from({ length: 8 }, (_, i) => `memory${32 + i}`);
  assert.deepEqual(add, {
    line: 3,
    op: "dimm-add",
    id: "d1",
    result: "ok",
    blocks: { added: blocks, removed: [] },
  });
  // An offline block with no zone around it: the kernel zone first (zone_for_pfn_range()).
  assert.equal(zones.value, "Normal Movable");
  // mhp_online_type_from_str() < 0 -> -EINVAL (drivers/base/memory.c: state_store()).
  assert.equal(bogus.result, "EINVAL");
  assert.equal(online.result, "ok");
  // The direct map of a 1 GiB-aligned gigabyte is one 1G page (x86 init_memory_mapping()
  // with gbpages: -cpu max has pdpe1gb) at PAGE_OFFSET + 4 GiB; its 16 MiB of struct
  // pages (262144 * 64 bytes) are 2 MiB vmemmap pages (vmemmap_populate_hugepages())
  // at 0xffffea0000000000 + 0x100000 * 64, allocated outside the DIMM.
  assert.deepEqual(pt.linear, [
    { va: "0xffff888100000000", size: "0x40000000", level: "pud", pa: "0x100000000" },
  ]);
  assert.deepEqual(pt.vmemmap, [
    { va: "0xffffea0004000000", size: "0x1000000", level: "pmd", inRange: false },
  ]);
  assert.equal(typeof pt.tablePages, "number");
  // Movable blocks can be offlined by the eject: the DIMM goes.
  assert.deepEqual(del, {
    line: 8,
    op: "dimm-del",
    id: "d1",
    result: "ok",
    blocks: { added: [], removed: blocks },
  });
  // arch_remove_memory() unmaps both.
  assert.deepEqual([ptAfter.linear, ptAfter.vmemmap], [[], []]);
});
