// A small client of the GDB remote serial protocol (GDB manual, "Remote
// Protocol"), enough to read registers and physical memory from QEMU's gdbstub
// while the guest is paused:
//   packet   $DATA#CS   CS = two hex digits, the sum of DATA's bytes mod 256;
//            in DATA, '#', '$', '}' and '*' are escaped as '}' + (byte ^ 0x20).
//   replies  may be run-length encoded: X*N repeats X (N - 29) more times.
//   acks     '+' / '-' after each packet until QStartNoAckMode is accepted.
// QEMU specifics: `Qqemu.PhyMemMode:1` makes `m` read physical memory; the
// register numbers come from the target description (`qXfer:features:read`),
// see gdb-target.ts.

import type net from "node:net";
import { connectUnix } from "./qmp.js";

const ESCAPED = new Set([0x23, 0x24, 0x7d, 0x2a]); // # $ } *

/** The checksum of a packet's (escaped) data: the byte sum mod 256. */
export function gdbChecksum(data: Buffer): number {
  let sum = 0;
  for (const b of data) sum = (sum + b) & 0xff;
  return sum;
}

/** Escapes '#', '$', '}' and '*' (binary data, e.g. of an X packet). */
export function gdbEscape(data: Buffer): Buffer {
  const out: number[] = [];
  for (const b of data) {
    if (ESCAPED.has(b)) out.push(0x7d, b ^ 0x20);
    else out.push(b);
  }
  return Buffer.from(out);
}

/** The raw payload of a received packet: '}'-escapes undone and X*N run-lengths expanded. */
export function gdbDecodePayload(data: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === 0x7d && i + 1 < data.length) {
      out.push(data[++i] ^ 0x20);
    } else if (b === 0x2a && out.length > 0 && i + 1 < data.length) {
      const n = data[++i] - 29;
      const prev = out[out.length - 1];
      for (let k = 0; k < n; k++) out.push(prev);
    } else out.push(b);
  }
  return Buffer.from(out);
}

/** A whole packet for `payload` (a string is taken as latin1 bytes). */
export function gdbEncodePacket(payload: string | Buffer): Buffer {
  const data = gdbEscape(typeof payload === "string" ? Buffer.from(payload, "latin1") : payload);
  const cs = gdbChecksum(data).toString(16).padStart(2, "0");
  return Buffer.concat([Buffer.from("$"), data, Buffer.from("#" + cs)]);
}

export type GdbFrame =
  | { kind: "packet"; payload: Buffer; checksumOk: boolean }
  | { kind: "notification"; payload: Buffer }
  | { kind: "ack"; ok: boolean };

/**
 * Splits the byte stream from the stub into acks ('+', '-'), packets
 * ($...#CS, with the checksum checked on the escaped bytes) and notifications
 * (%...#CS). Bytes outside any of these are skipped.
 */
export class GdbPacketParser {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (f: GdbFrame) => void) {}

  feed(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let i = 0;
    while (i < this.buf.length) {
      const c = this.buf[i];
      if (c === 0x2b || c === 0x2d) {
        this.onFrame({ kind: "ack", ok: c === 0x2b });
        i++;
        continue;
      }
      if (c !== 0x24 && c !== 0x25) {
        i++;
        continue;
      }
      const hash = this.buf.indexOf(0x23, i + 1);
      if (hash < 0 || hash + 2 >= this.buf.length) break; // incomplete
      const raw = this.buf.subarray(i + 1, hash);
      const cs = parseInt(this.buf.subarray(hash + 1, hash + 3).toString("latin1"), 16);
      const payload = gdbDecodePayload(raw);
      if (c === 0x25) this.onFrame({ kind: "notification", payload });
      else this.onFrame({ kind: "packet", payload, checksumOk: cs === gdbChecksum(raw) });
      i = hash + 3;
    }
    this.buf = this.buf.subarray(i);
  }
}

/** A stop reply ("T05thread:01;", "S02", "W00", "X09"), which the stub may send unasked. */
export function isStopReply(payload: string): boolean {
  return /^[TS][0-9a-fA-F]{2}/.test(payload) || /^[WX][0-9a-fA-F]{2}(;|$)/.test(payload);
}

/** An error reply: "E NN" (or "E.text"). */
export function isErrorReply(payload: string): boolean {
  return /^E[0-9a-fA-F]{2}$/.test(payload) || payload.startsWith("E.");
}

/** Bytes of a hex string ("0a1b..."). */
export function hexBytes(hex: string): Buffer {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new Error(`not hex: ${hex.slice(0, 40)}`);
  return Buffer.from(hex, "hex");
}

export class GdbError extends Error {}

interface Waiter {
  what: string;
  resolve: (p: string) => void;
  reject: (e: Error) => void;
}

/**
 * A connection to a gdbstub. Requests may be pipelined: replies come back in
 * request order, and each request gets the next reply that is not an unasked
 * stop reply.
 */
export class GdbRemote {
  private readonly parser: GdbPacketParser;
  private readonly waiters: Waiter[] = [];
  private noAck = false;
  private closed: Error | undefined;
  /** the stub's PacketSize (from qSupported), default 4096 as in QEMU */
  packetSize = 4096;
  private physMode = false;

  constructor(private readonly send: (b: Buffer) => void) {
    this.parser = new GdbPacketParser((f) => this.frame(f));
  }

  /** Connects to a gdbstub on a unix socket (QEMU: -chardev socket,path=P,server=on -gdb chardev:ID). */
  static async connect(path: string, timeoutMs = 10_000): Promise<{ gdb: GdbRemote; socket: net.Socket }> {
    const socket = await connectUnix(path, timeoutMs);
    const gdb = new GdbRemote((b) => socket.write(b));
    socket.on("data", (d) => gdb.feed(d));
    socket.on("error", () => undefined);
    socket.on("close", () => gdb.close(new GdbError("gdbstub connection closed")));
    await gdb.handshake();
    return { gdb, socket };
  }

  feed(chunk: Buffer): void {
    this.parser.feed(chunk);
  }

  close(err: Error): void {
    this.closed = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private frame(f: GdbFrame): void {
    if (f.kind !== "packet") return;
    if (!this.noAck) this.send(Buffer.from(f.checksumOk ? "+" : "-"));
    if (!f.checksumOk) return; // the stub sends it again
    const payload = f.payload.toString("latin1");
    if (isStopReply(payload) && !(this.waiters[0]?.what === "?")) return;
    const w = this.waiters.shift();
    w?.resolve(payload);
  }

  /** Sends one packet and resolves with its reply's payload. */
  request(payload: string): Promise<string> {
    if (this.closed) return Promise.reject(this.closed);
    return new Promise<string>((resolve, reject) => {
      this.waiters.push({ what: payload, resolve, reject });
      this.send(gdbEncodePacket(payload));
    });
  }

  /** Like request(), but an error reply ("E16") rejects. */
  async ok(payload: string): Promise<string> {
    const r = await this.request(payload);
    if (isErrorReply(r)) throw new GdbError(`gdbstub: ${payload.slice(0, 40)} -> ${r}`);
    return r;
  }

  /** qSupported (learns PacketSize) and QStartNoAckMode when offered. */
  async handshake(): Promise<void> {
    const sup = await this.request("qSupported:xmlRegisters=i386,arm;multiprocess+");
    const ps = /PacketSize=([0-9a-fA-F]+)/.exec(sup);
    if (ps) this.packetSize = parseInt(ps[1], 16);
    if (/QStartNoAckMode\+/.test(sup) && (await this.request("QStartNoAckMode")) === "OK") this.noAck = true;
  }

  /** The whole of an object read with qXfer (e.g. features "target.xml"). */
  async qXfer(object: string, annex: string): Promise<string> {
    let out = "";
    const chunk = Math.max(256, this.packetSize - 16);
    for (;;) {
      const r = await this.ok(
        `qXfer:${object}:read:${annex}:${out.length.toString(16)},${chunk.toString(16)}`,
      );
      if (r === "") throw new GdbError(`qXfer ${object} ${annex}: empty reply (not supported)`);
      out += r.slice(1);
      if (r[0] === "l") return out;
      if (r[0] !== "m") throw new GdbError(`qXfer ${object} ${annex}: bad reply ${r.slice(0, 20)}`);
    }
  }

  /** The raw bytes of register `regnum` (target byte order: little-endian on x86_64 and arm64). */
  async readRegister(regnum: number): Promise<Buffer> {
    const r = await this.ok(`p${regnum.toString(16)}`);
    // QEMU answers "" when the client has not read the target description yet.
    if (r === "") throw new GdbError(`gdbstub: register ${regnum} not available`);
    return hexBytes(r);
  }

  /** Makes `m` packets read guest physical memory (QEMU's Qqemu.PhyMemMode). */
  async physicalMemoryMode(): Promise<void> {
    if (this.physMode) return;
    const r = await this.request("Qqemu.PhyMemMode:1");
    if (r !== "OK")
      throw new GdbError(`gdbstub does not offer physical memory mode (Qqemu.PhyMemMode -> "${r}")`);
    this.physMode = true;
  }

  /**
   * Makes `m` packets read through the CPU's own page tables. QEMU keeps
   * PhyMemMode for the stub, not for the connection: a ptdump's earlier
   * connection leaves it on.
   */
  async virtualMemoryMode(): Promise<void> {
    const r = await this.request("Qqemu.PhyMemMode:0");
    if (r !== "OK") throw new GdbError(`gdbstub: Qqemu.PhyMemMode:0 -> "${r}"`);
    this.physMode = false;
  }

  /** Largest `m` read per packet: the hex reply must fit in PacketSize (QEMU: at most half of it). */
  get maxReadBytes(): number {
    return Math.max(64, Math.floor(this.packetSize / 2) & ~63);
  }

  /**
   * Reads memory (physical after physicalMemoryMode()) in `m` packets, up to
   * `window` of them in flight at once.
   */
  async readMemory(addr: bigint, length: number, window = 32): Promise<Buffer> {
    const out = Buffer.alloc(length);
    const step = this.maxReadBytes;
    const parts: Array<{ off: number; len: number }> = [];
    for (let off = 0; off < length; off += step) parts.push({ off, len: Math.min(step, length - off) });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < parts.length) {
        const p = parts[next++];
        const a = addr + BigInt(p.off);
        const r = await this.ok(`m${a.toString(16)},${p.len.toString(16)}`);
        const b = hexBytes(r);
        if (b.length !== p.len) throw new GdbError(`m ${a.toString(16)}: ${b.length} bytes, wanted ${p.len}`);
        b.copy(out, p.off);
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, parts.length) }, worker));
    return out;
  }
}
