// The GDB remote serial protocol client of the oracle (src/oracle/gdb-remote.ts)
// and the register numbering from target descriptions (gdb-target.ts), against
// byte strings written from the GDB manual ("Remote Protocol": packets,
// checksums, escapes, run-length encoding) and a fake stub.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  GdbPacketParser,
  GdbRemote,
  gdbChecksum,
  gdbDecodePayload,
  gdbEncodePacket,
  gdbEscape,
  hexBytes,
  isStopReply,
  type GdbFrame,
} from "../src/oracle/gdb-remote.js";
import { findRegister, targetRegisters } from "../src/oracle/gdb-target.js";
import { registerValue, ROOT_REGISTER } from "../src/oracle/guest-tables.js";

// ---------------------------------------------------------------- framing

test("gdb: checksums are the byte sum mod 256, two lowercase hex digits", () => {
  // Classic examples: "OK" -> 0x4f + 0x4b = 0x9a; "g" -> 0x67.
  assert.equal(gdbEncodePacket("OK").toString(), "$OK#9a");
  assert.equal(gdbEncodePacket("g").toString(), "$g#67");
  assert.equal(gdbEncodePacket("").toString(), "$#00");
  // 0xff * 2 = 0x1fe -> 0xfe (wraps)
  assert.equal(gdbChecksum(Buffer.from([0xff, 0xff])), 0xfe);
  assert.equal(gdbEncodePacket("m1000,800").toString(), "$m1000,800#" + sum("m1000,800"));
});

function sum(s: string): string {
  let n = 0;
  for (const c of Buffer.from(s, "latin1")) n += c;
  return (n % 256).toString(16).padStart(2, "0");
}

test("gdb: '#', '$', '}' and '*' are escaped as '}' + byte^0x20, checksum over the escaped bytes", () => {
  assert.deepEqual([...gdbEscape(Buffer.from("a#b$c}d*e"))], [...Buffer.from("a}\x03b}\x04c}]d}\x0ae")]);
  const pkt = gdbEncodePacket(Buffer.from("X#"));
  assert.equal(pkt.toString("latin1"), "$X}\x03#" + sum("X}\x03"));
  // decoding undoes it
  assert.equal(gdbDecodePayload(gdbEscape(Buffer.from("#$}*plain"))).toString(), "#$}*plain");
});

test("gdb: run-length encoding X*N repeats X N-29 more times", () => {
  // "0* " : ' ' is 32 -> 3 more zeros, "0000"
  assert.equal(gdbDecodePayload(Buffer.from("0* ")).toString(), "0000");
  // '"' is 34 -> 5 more: "aaaaaa"
  assert.equal(gdbDecodePayload(Buffer.from('a*"b')).toString(), "aaaaaab");
  // a register of zeros as QEMU sends it: "00000000000000" == "0*'" (39 - 29 = 10 more)
  assert.equal(gdbDecodePayload(Buffer.from("0*'0")).toString(), "0".repeat(12));
});

test("gdb: the parser finds acks, packets and notifications in any chunking, and checks checksums", () => {
  const frames: GdbFrame[] = [];
  const p = new GdbPacketParser((f) => frames.push(f));
  const stream = Buffer.from("+$OK#9a-%Stop:T05#" + sum("Stop:T05") + "junk$E01#00");
  for (const b of stream) p.feed(Buffer.from([b])); // one byte at a time
  assert.deepEqual(
    frames.map((f) => (f.kind === "ack" ? `ack ${f.ok}` : `${f.kind} ${f.payload.toString()}`)),
    ["ack true", "packet OK", "ack false", "notification Stop:T05", "packet E01"],
  );
  const last = frames.at(-1);
  assert.ok(last?.kind === "packet" && !last.checksumOk, "E01#00 has a wrong checksum (0xa6)");
  assert.ok(frames[1].kind === "packet" && frames[1].checksumOk);
});

test("gdb: stop replies are told from answers (they may come unasked after a vm stop)", () => {
  assert.ok(isStopReply("T02thread:p01.01;"));
  assert.ok(isStopReply("S05"));
  assert.ok(isStopReply("W00"));
  // Memory and register answers are hex; qXfer answers start with l/m; OK; errors.
  for (const r of ["0f00", "l<target/>", "m<?xml", "OK", "E22", ""]) assert.ok(!isStopReply(r), r);
  assert.throws(() => hexBytes("0g"), /not hex/);
  assert.deepEqual([...hexBytes("00ff10")], [0, 255, 16]);
});

// ---------------------------------------------------------------- a fake stub

/** A stub that answers each packet through `answer`, acking while acks are on. */
function fakeStub(answer: (p: string) => string | string[]): { gdb: GdbRemote; sent: string[] } {
  const sent: string[] = [];
  let noAck = false;
  const parser = new GdbPacketParser((f) => {
    if (f.kind !== "packet") return;
    const p = f.payload.toString("latin1");
    sent.push(p);
    const reply = p === "QStartNoAckMode" ? "OK" : answer(p);
    const out = Array.isArray(reply) ? reply : [reply];
    setImmediate(() => {
      for (const r of out)
        gdb.feed(Buffer.concat([noAck ? Buffer.alloc(0) : Buffer.from("+"), gdbEncodePacket(r)]));
      if (p === "QStartNoAckMode") noAck = true;
    });
  });
  const gdb = new GdbRemote((b) => {
    if (b.length === 1 && (b[0] === 0x2b || b[0] === 0x2d)) return; // client's acks
    parser.feed(b);
  });
  return { gdb, sent };
}

test("gdb: handshake learns PacketSize and turns acks off; m reads are split and pipelined", async () => {
  const mem = Buffer.alloc(8192);
  for (let i = 0; i < mem.length; i++) mem[i] = (i * 7) & 0xff;
  const { gdb, sent } = fakeStub((p) => {
    if (p.startsWith("qSupported")) return "PacketSize=1000;qXfer:features:read+;QStartNoAckMode+";
    if (p === "Qqemu.PhyMemMode:1") return "OK";
    const m = /^m([0-9a-f]+),([0-9a-f]+)$/.exec(p);
    if (m) {
      const a = parseInt(m[1], 16) - 0x1000;
      const n = parseInt(m[2], 16);
      return mem.subarray(a, a + n).toString("hex");
    }
    return "";
  });
  await gdb.handshake();
  assert.equal(gdb.packetSize, 0x1000);
  assert.equal(gdb.maxReadBytes, 2048, "a hex reply of N bytes is 2N characters");
  await gdb.physicalMemoryMode();
  const got = await gdb.readMemory(0x1000n, 5000, 4);
  assert.deepEqual(got, mem.subarray(0, 5000));
  const reads = sent.filter((p) => p.startsWith("m"));
  assert.deepEqual(reads, ["m1000,800", "m1800,800", "m2000,388"]);
  assert.deepEqual(sent.slice(0, 2), ["qSupported:xmlRegisters=i386,arm;multiprocess+", "QStartNoAckMode"]);
});

test("gdb: an unasked stop reply before an answer is skipped; error replies reject", async () => {
  const { gdb } = fakeStub((p) => {
    if (p.startsWith("qSupported")) return "PacketSize=1000";
    if (p === "p1d") return ["T02thread:p01.01;", "0030040000000000"];
    if (p === "p99") return "E45";
    return "";
  });
  await gdb.handshake();
  assert.deepEqual([...(await gdb.readRegister(0x1d))], [0, 0x30, 4, 0, 0, 0, 0, 0]);
  await assert.rejects(gdb.readRegister(0x99), /E45/);
});

test("gdb: qXfer reads a document in pieces until the 'l' reply", async () => {
  const doc = "<target>" + "x".repeat(600) + "</target>";
  const { gdb, sent } = fakeStub((p) => {
    if (p.startsWith("qSupported")) return "PacketSize=110"; // 272 bytes per packet
    const m = /^qXfer:features:read:target\.xml:([0-9a-f]+),([0-9a-f]+)$/.exec(p);
    if (!m) return "";
    const off = parseInt(m[1], 16);
    const len = parseInt(m[2], 16);
    const part = doc.slice(off, off + len);
    return (off + len >= doc.length ? "l" : "m") + part;
  });
  await gdb.handshake();
  assert.equal(await gdb.qXfer("features", "target.xml"), doc);
  assert.equal(sent.filter((p) => p.startsWith("qXfer")).length, 3);
});

// ---------------------------------------------------------------- target descriptions

test("target description: registers are numbered in document order across includes, regnum resets", async () => {
  const files: Record<string, string> = {
    "target.xml":
      '<?xml version="1.0"?><target><architecture>i386:x86-64</architecture>' +
      '<xi:include href="core.xml"/><xi:include href="sys.xml"/></target>',
    // <!-- <reg name="cs_base"/> --> must not count (QEMU's i386-64bit.xml has such comments)
    "core.xml":
      '<feature name="org.gnu.gdb.i386.core"><reg name="rax" bitsize="64" regnum="0"/>' +
      '<reg name="rbx" bitsize="64"/><!--reg name="cs_base" bitsize="64"/--><reg name="cr3" bitsize="64"/></feature>',
    "sys.xml":
      '<feature name="org.qemu.gdb.arm.sys.regs"><reg name="TTBR1_EL1" bitsize="64" regnum="100"/>' +
      '<reg name="TCR_EL1" bitsize="64"/></feature>',
  };
  const regs = await targetRegisters(async (a) => files[a] ?? "");
  assert.deepEqual(
    regs.map((r) => [r.name, r.regnum, r.feature]),
    [
      ["rax", 0, "org.gnu.gdb.i386.core"],
      ["rbx", 1, "org.gnu.gdb.i386.core"],
      ["cr3", 2, "org.gnu.gdb.i386.core"],
      ["TTBR1_EL1", 100, "org.qemu.gdb.arm.sys.regs"],
      ["TCR_EL1", 101, "org.qemu.gdb.arm.sys.regs"],
    ],
  );
  assert.equal(findRegister(regs, "ttbr1_el1")?.regnum, 100);
  assert.equal(findRegister(regs, "cr4"), undefined);
});

test("root registers: CR3 without PCID and the PTI user bit; TTBR1 without ASID and CnP", () => {
  // little-endian register bytes
  assert.equal(registerValue(Buffer.from([0x01, 0x30, 0x5b, 0x05, 0, 0, 0, 0])), 0x055b3001n);
  // CR3 = user PGD (kernel + 4 KiB) with PCID 0x801: kernel PGD 0x55b2000
  assert.equal(ROOT_REGISTER.x86_64.rootPa(0x55b3801n, true), 0x55b2000);
  // without page-table isolation a PGD may sit on an odd page: bit 12 stays
  assert.equal(ROOT_REGISTER.x86_64.rootPa(0x55b3801n, false), 0x55b3000);
  // no isolation at run time (kernel PCID 1, bit 11 clear): 7.2's one-page PGD may be odd
  assert.equal(ROOT_REGISTER.x86_64.rootPa(0x55b3001n, true), 0x55b3000);
  assert.equal(ROOT_REGISTER.x86_64.name, "cr3");
  // TTBR1_EL1 = ASID 0x0005 << 48 | 0x78790000 | CnP
  assert.equal(ROOT_REGISTER.arm64.rootPa(0x0005000078790001n, false), 0x78790000);
  assert.equal(ROOT_REGISTER.arm64.name, "TTBR1_EL1");
});
