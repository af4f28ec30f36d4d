// A fuzzed machine: the `machine`, `cmdline` and `vmem` statements of a scenario,
// built from MachineChoices (./schema.ts) so that the result always parses
// (sizes multiples of 2M, devices within maxmem, slots only with room).

import type { Arch } from "../scenario/ast.js";
import {
  ARCHES,
  DEFAULT_STATES,
  EXTRA_MIB,
  MEMMAP_ON_MEMORY,
  MEM_MIB,
  POLICIES,
  RATIOS,
  RODATA,
  SLOTS,
  VMEM_SIZES_MIB,
  type MachineChoices,
} from "./schema.js";

const MiB = 2 ** 20;

export interface MachineSpec {
  arch: Arch;
  memBytes: number;
  maxmemBytes: number;
  slots?: number;
  cmdline: string[];
  vmems: { id: string; sizeBytes: number }[];
  /** the kernel carries the RFC v2 series */
  rfc?: "v2";
}

const at = <T>(table: readonly T[], i: number): T => table[Math.abs(i) % table.length];

export function machineFromChoices(c: MachineChoices): MachineSpec {
  const arch = at(ARCHES, c.arch);
  const memBytes = at(MEM_MIB, c.mem) * MiB;
  const maxmemBytes = memBytes + at(EXTRA_MIB, c.extra) * MiB;
  let slots = at(SLOTS, c.slots);
  if (maxmemBytes === memBytes) slots = undefined; // QEMU: no slots without room
  const vmems: MachineSpec["vmems"] = [];
  let room = maxmemBytes - memBytes;
  for (const [i, v] of [c.vmem0, c.vmem1].entries()) {
    if (v <= 0) continue;
    const size = at(VMEM_SIZES_MIB, v - 1) * MiB;
    if (size > room) continue;
    room -= size;
    vmems.push({ id: `vm${i}`, sizeBytes: size });
  }
  const cmdline: string[] = [];
  const word = (key: string, v: string | undefined) => {
    if (v !== undefined) cmdline.push(`${key}=${v}`);
  };
  word("memhp_default_state", at(DEFAULT_STATES, c.defaultState));
  word("memory_hotplug.memmap_on_memory", at(MEMMAP_ON_MEMORY, c.memmapOnMemory));
  word("memory_hotplug.online_policy", at(POLICIES, c.policy));
  word("memory_hotplug.auto_movable_ratio", at(RATIOS, c.ratio));
  if (c.movableNode % 2) cmdline.push("movable_node");
  if (arch === "arm64") word("rodata", at(RODATA, c.rodata));
  const rfc = c.rfc % 2 ? ("v2" as const) : undefined;
  return { arch, memBytes, maxmemBytes, slots, cmdline, vmems, ...(rfc ? { rfc } : {}) };
}

const sizeText = (bytes: number): string =>
  bytes % (1024 * MiB) === 0 ? `${bytes / (1024 * MiB)}G` : `${bytes / MiB}M`;

/** The set-up part of the scenario, up to and including `boot`. */
export function machineHeader(m: MachineSpec): string[] {
  const lines = [
    `machine ${m.arch} mem=${sizeText(m.memBytes)} maxmem=${sizeText(m.maxmemBytes)}` +
      (m.slots === undefined ? "" : ` slots=${m.slots}`) +
      (m.rfc ? ` rfc=${m.rfc}` : ""),
  ];
  if (m.cmdline.length) lines.push(`cmdline ${m.cmdline.join(" ")}`);
  for (const v of m.vmems) lines.push(`vmem ${v.id} size=${sizeText(v.sizeBytes)}`);
  lines.push("boot");
  return lines;
}

export { sizeText };
