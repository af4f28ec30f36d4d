// What a guest that stopped answering was doing. Its program counter is
// sampled through QEMU's gdbstub (guest-tables.ts pcSamples()). A CPU that
// sits right after a halt instruction (x86 HLT, arm64 WFI) is idle: the guest
// waits for the host (the protocol lost what resending could not bring back),
// or the statement's task sleeps in the kernel. A CPU busy in the kernel is
// stuck there, e.g. offline_pages() retrying a migration.
// Addresses are named from the kernel's System.map when it has a real one
// (the patched builds; Debian's is a stub): the oracle boots with nokaslr
// (qemu.ts), so the map's addresses are the running ones.

import fs from "node:fs";
import path from "node:path";
import type { Arch } from "../scenario/ast.js";
import type { KernelFiles } from "./cache.js";
import type { PcSample } from "./guest-tables.js";

/** The text symbols of one kernel, sorted by address. */
export interface KernelSymbols {
  addrs: bigint[];
  names: string[];
}

/** Text symbols (t, T, w, W) of a System.map. */
export function parseSystemMap(text: string): KernelSymbols {
  const rows: [bigint, string][] = [];
  for (const line of text.split("\n")) {
    const m = /^([0-9a-fA-F]+) ([tTwW]) (\S+)/.exec(line);
    if (m) rows.push([BigInt("0x" + m[1]), m[3]]);
  }
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { addrs: rows.map((r) => r[0]), names: rows.map((r) => r[1]) };
}

/** `pc` as `function+0xoffset`, or the bare address outside the kernel's text. */
export function symbolize(syms: KernelSymbols, pc: bigint): string {
  const { addrs, names } = syms;
  if (addrs.length === 0 || pc < addrs[0]) return `0x${pc.toString(16)}`;
  let lo = 0;
  let hi = addrs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (addrs[mid] <= pc) lo = mid;
    else hi = mid - 1;
  }
  // past the last symbol by more than any function is long: not kernel text
  if (pc - addrs[lo] > 0x100000n) return `0x${pc.toString(16)}`;
  return `${names[lo]}+0x${(pc - addrs[lo]).toString(16)}`;
}

/** The System.map next to `k`'s vmlinuz (Debian's boot/System.map-RELEASE, the patched build's System.map), if it has symbols. */
export function systemMapOf(k: KernelFiles): string | undefined {
  const dir = path.dirname(k.vmlinuz);
  const candidates = [path.join(dir, `System.map-${k.release}`), path.join(dir, "System.map")];
  // Debian ships a one-line stub pointing at its -dbg package
  return candidates.find((p) => fs.existsSync(p) && fs.statSync(p).size > 4096);
}

/** Did the CPU of `s` stop at a halt: the instruction before its PC is HLT (x86_64) or WFI (arm64)? */
export function haltedAt(arch: Arch, s: PcSample): boolean {
  if (!s.before || s.before.length < 4) return false;
  return arch === "x86_64" ? s.before[3] === 0xf4 : s.before.readUInt32LE(0) === 0xd503207f;
}

/** Is `pc` a kernel address (the upper half on both architectures)? */
const inKernel = (pc: bigint): boolean => pc >= 0xffff800000000000n;

/** A one-line account of the samples: idle, user space, or where in the kernel. */
export function describeSamples(arch: Arch, samples: readonly PcSample[], syms?: KernelSymbols): string {
  const n = samples.length;
  if (n === 0) return "its CPU could not be sampled";
  const name = (s: PcSample): string =>
    haltedAt(arch, s)
      ? "halted"
      : !inKernel(s.pc)
        ? "user space"
        : syms
          ? symbolize(syms, s.pc).replace(/\+0x[0-9a-f]+$/, "")
          : `0x${s.pc.toString(16)}`;
  const counts = new Map<string, number>();
  for (const s of samples) counts.set(name(s), (counts.get(name(s)) ?? 0) + 1);
  const where = [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([f, k]) => `${f} ${k}`)
    .join(", ");
  const idle = counts.get("halted") ?? 0;
  // a timer tick may be caught running now and then
  if (idle * 4 >= n * 3)
    return `its CPU was halted in ${idle} of ${n} samples: nothing ran (the guest waited for the host, or a task slept in the kernel)`;
  return `its CPU ran in ${n - idle} of ${n} samples (${where})`;
}
