// `memhp import`: a Linux machine's memory layout, read from its sysfs and
// procfs (or from a sysroot export, ./sysroot.ts), turned into a scenario the
// model boots: the `machine` line, the memory-hotplug words of the command
// line, `boot`, a `dimm-add` per hot-added range, and the writes that put each
// block in its state and zone. docs/tools.md lists what cannot be imported
// (allocations, counters, page tables, virtio-mem, the history) and how the
// model fills it.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Arch } from "../scenario/ast.js";
import { createBoard } from "../hw/board.js";

const GiB = 2 ** 30;

export class ImportError extends Error {}

export interface ImportOptions {
  /** read DIR/sys/... and DIR/proc/... instead of the live machine's */
  sysroot?: string;
  /** the machine's architecture (default: the live machine's, or guessed from /proc/iomem) */
  arch?: Arch;
  /** what the machine could grow to: not visible in sysfs (default: see guessMaxmem()) */
  maxmemBytes?: number;
  slots?: number;
}

export interface ImportedBlock {
  id: number;
  state: string;
  /** the zone an online block is in (its valid_zones) */
  zone?: string;
}

export interface Imported {
  arch: Arch;
  blockSize: number;
  memBytes: number;
  maxmemBytes: number;
  slots: number;
  cmdline: string[];
  autoOnline: string;
  blocks: ImportedBlock[];
  /** hot-added ranges, one DIMM each: [start, end) */
  dimms: [number, number][];
  /** what was guessed, or could not be imported */
  notes: string[];
  /** the scenario text */
  scenario: string;
}

/** Command-line words the model acts on (src/kernel/params.ts); the rest stay behind. */
const CMDLINE_KEYS =
  /^(memhp_default_state|memory_hotplug\.[a-z_]+|movable_node|rodata|memhp\.[a-z_0-9]+)(=|$)/;

interface Ram {
  start: number;
  end: number;
  name: string;
}

/** Top-level /proc/iomem "System RAM" entries (all zero without root: then none). */
function iomemRam(text: string): Ram[] {
  const out: Ram[] = [];
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) : (System RAM.*)$/.exec(line);
    if (!m) continue;
    const start = parseInt(m[1], 16);
    const end = parseInt(m[2], 16) + 1;
    if (end > 1) out.push({ start, end, name: m[3] });
  }
  return out;
}

/** The machine's memory files, from a sysroot or the live machine. */
export function importMachine(opts: ImportOptions = {}): Imported {
  const root = opts.sysroot ?? "/";
  const at = (p: string) => path.join(root, p);
  const read = (p: string): string | undefined => {
    try {
      return fs.readFileSync(at(p), "utf8");
    } catch {
      return undefined;
    }
  };
  const notes: string[] = [];
  const memDir = "/sys/devices/system/memory";
  const bsText = read(`${memDir}/block_size_bytes`);
  if (bsText === undefined)
    throw new ImportError(
      `${at(memDir)}/block_size_bytes: cannot read (no memory hotplug, or not a sysroot)`,
    );
  const blockSize = parseInt(bsText.trim(), 16);
  const blocks: ImportedBlock[] = fs
    .readdirSync(at(memDir))
    .filter((n) => /^memory\d+$/.test(n))
    .map((n) => Number(n.slice(6)))
    .sort((a, b) => a - b)
    .map((id) => {
      const state = (read(`${memDir}/memory${id}/state`) ?? "").trim();
      const zones = (read(`${memDir}/memory${id}/valid_zones`) ?? "").trim();
      return state === "online" && zones !== "" ? { id, state, zone: zones.split(" ")[0] } : { id, state };
    });
  if (blocks.length === 0) throw new ImportError(`${at(memDir)}: no memory blocks`);
  const iomem = read("/proc/iomem") ?? "";
  const ram = iomemRam(iomem);
  if (ram.length === 0)
    notes.push(
      "/proc/iomem has no addresses (not root?): boot memory and DIMMs are guessed from runs of blocks (a DIMM right after boot memory counts as boot memory)",
    );

  const arch: Arch =
    opts.arch ??
    (opts.sysroot === undefined
      ? os.machine() === "aarch64"
        ? "arm64"
        : "x86_64"
      : ram.some((r) => r.start < 0x100000) || /: (System ROM|Video ROM|IOAPIC|Local APIC)/.test(iomem)
        ? "x86_64"
        : "arm64");

  // Boot memory: the largest mem= whose board puts its RAM on present blocks and
  // every other present block in the device-memory region (where DIMMs go).
  const present = new Set(blocks.map((b) => b.id));
  const blockOf = (a: number) => Math.floor(a / blockSize);
  let memBytes = 0;
  let board;
  for (let m = blocks.length * blockSize; m >= blockSize; m -= blockSize) {
    const b = createBoard({ arch, memBytes: m, maxmemBytes: m + GiB, slots: 1 });
    // RAM blocks must be present; firmware-kept (nomap) memory may have blocks too (arm64's flash)
    const ramBlocks = new Set<number>();
    const bootBlocks = new Set<number>();
    for (const r of b.firmwareMap.filter((f) => f.kind !== "reserved"))
      for (let i = blockOf(r.start); i <= blockOf(r.end - 1); i++) {
        bootBlocks.add(i);
        if (r.kind === "ram") ramBlocks.add(i);
      }
    if (![...ramBlocks].every((i) => present.has(i))) continue;
    // with addresses, each boot RAM range lies in one System RAM entry (a DIMM
    // right after boot memory is a separate entry, so mem= is not overestimated)
    const ramRanges = b.firmwareMap.filter((f) => f.kind === "ram");
    if (ram.length > 0 && !ramRanges.every((f) => ram.some((r) => r.start <= f.start && f.end <= r.end)))
      continue;
    if (!blocks.every((x) => bootBlocks.has(x.id) || x.id * blockSize >= b.deviceMemoryBase)) continue;
    memBytes = m;
    board = b;
    break;
  }
  if (!board)
    throw new ImportError(
      "no machine of the model's boards has these memory blocks (not a QEMU pc/virt layout?)",
    );
  const base = board.deviceMemoryBase;
  const hot = blocks.filter((b) => b.id * blockSize >= base);

  // One DIMM per hot-added System RAM entry of /proc/iomem, else per run of blocks.
  const dimms: [number, number][] = [];
  const hotRam = ram.filter((r) => r.start >= base);
  if (hotRam.some((r) => r.name !== "System RAM"))
    notes.push("virtio-mem or driver-managed memory is not imported (only DIMMs)");
  if (hotRam.length > 0)
    for (const r of hotRam.filter((x) => x.name === "System RAM")) dimms.push([r.start, r.end]);
  else
    for (const b of hot) {
      const last = dimms[dimms.length - 1];
      if (last && last[1] === b.id * blockSize) last[1] += blockSize;
      else dimms.push([b.id * blockSize, (b.id + 1) * blockSize]);
    }
  if (dimms.length > 0 && dimms[0][0] !== base)
    notes.push(
      "the first DIMM does not start at the device-memory base (a removed DIMM before it?): placement differs",
    );

  const hotTotal = dimms.reduce((s, [a, b]) => s + b - a, 0);
  const slots = opts.slots ?? Math.max(4, dimms.length);
  let maxmemBytes = opts.maxmemBytes;
  if (maxmemBytes === undefined) {
    // x86 (QEMU pc): the 64-bit PCI window starts at ROUND_UP(base + maxmem - mem + slots GiB, 1 GiB)
    const pci = /^([0-9a-f]+)-[0-9a-f]+ : PCI Bus/gm;
    let guess: number | undefined;
    for (let m = pci.exec(iomem); m; m = pci.exec(iomem)) {
      const s = parseInt(m[1], 16);
      if (arch === "x86_64" && s > base) {
        guess = s - base - slots * GiB + memBytes;
        break;
      }
    }
    maxmemBytes =
      guess !== undefined && guess >= memBytes + hotTotal ? guess : Math.max(8 * GiB, memBytes + hotTotal);
    notes.push(
      guess !== undefined && guess === maxmemBytes
        ? `maxmem ${maxmemBytes / GiB}G inferred from the 64-bit PCI window with ${slots} slots`
        : `maxmem is not visible: ${maxmemBytes / GiB}G assumed (--maxmem sets it)`,
    );
  }

  const cmdline = (read("/proc/cmdline") ?? "")
    .trim()
    .split(/\s+/)
    .filter((w) => CMDLINE_KEYS.test(w));
  const autoOnline = (read(`${memDir}/auto_online_blocks`) ?? "offline").trim();

  const size = (b: number) => (b % GiB === 0 ? `${b / GiB}G` : `${b / 2 ** 20}M`);
  const lines = [
    `# imported by memhp import from ${opts.sysroot ?? "this machine"} (docs/tools.md)`,
    `machine ${arch} mem=${size(memBytes)} maxmem=${size(maxmemBytes)} slots=${slots}`,
  ];
  if (cmdline.length) lines.push(`cmdline ${cmdline.join(" ")}`);
  lines.push("boot");
  // DIMMs are added offline whatever auto_online_blocks says, then put in their state
  lines.push(`write ${memDir}/auto_online_blocks offline`);
  dimms.forEach(([a, b], i) => lines.push(`dimm-add d${i} size=${size(b - a)}`));
  const onlineWord = (zone: string | undefined) =>
    zone === "Movable" ? "online_movable" : zone === undefined ? "online" : "online_kernel";
  // Kernel zones first, then Movable: the order the zone rules accept in any layout
  for (const kernelPass of [true, false])
    for (const b of hot)
      if (b.state === "online" && (b.zone !== "Movable") === kernelPass)
        lines.push(`write ${memDir}/memory${b.id}/state ${onlineWord(b.zone)}`);
  for (const b of blocks)
    if (b.id * blockSize < base && b.state === "offline")
      lines.push(`write ${memDir}/memory${b.id}/state offline`);
  if (autoOnline !== "offline") lines.push(`write ${memDir}/auto_online_blocks ${autoOnline}`);
  return {
    arch,
    blockSize,
    memBytes,
    maxmemBytes,
    slots,
    cmdline,
    autoOnline,
    blocks,
    dimms,
    notes,
    scenario: lines.join("\n") + "\n",
  };
}
