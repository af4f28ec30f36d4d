// Small machines for the RFC tests: 2 GiB of boot RAM and driver-managed memory
// added after boot in the device-memory region (arm64: from 3 GiB, x86_64: from
// 4 GiB), onlined movable so that offlining succeeds under a workload.

import assert from "node:assert/strict";
import { Kernel } from "../../src/kernel/kernel.js";
import { MHP_NID_IS_MGID, MHP_NONE } from "../../src/mm/memory_hotplug.js";
import { ptdumpRange } from "../../src/mm/ptdump.js";
import type { Arch } from "../../src/scenario/ast.js";

export const M = 2 ** 20;
export const G = 2 ** 30;
export const BLOCK = 128 * M;
export const ARCHES: readonly Arch[] = ["arm64", "x86_64"];
export const DM_NAME = "System RAM (memhp-test)";

export interface Machine {
  k: Kernel;
  /** first address of the device-memory region */
  base: number;
}

export function boot(arch: Arch, cmdline: string[] = [], seed = 7): Machine {
  const k = Kernel.boot({ arch, memBytes: 2 * G, maxmemBytes: 4 * G, cmdline, seed });
  return { k, base: k.board.deviceMemoryBase };
}

const groups = new WeakMap<Kernel, number>();

/** The test driver's static memory group (memory_group_register_static() on first use): its mgid. */
export function driverGroup(k: Kernel): number {
  let mgid = groups.get(k);
  if (mgid === undefined) {
    mgid = k.memory.memoryGroupRegisterStatic(0, k.board.deviceMemorySize / 4096);
    assert.ok(mgid >= 0, "memory_group_register_static");
    groups.set(k, mgid);
  }
  return mgid;
}

/** add_memory_driver_managed(start, size) into the driver's group and online every block movable. */
export function addDriverManaged(
  k: Kernel,
  start: number,
  size: number,
  flags = MHP_NONE,
  online = true,
): void {
  assert.equal(
    k.hotplug.addMemoryDriverManaged(driverGroup(k), start, size, DM_NAME, flags | MHP_NID_IS_MGID),
    0,
    "add_memory_driver_managed",
  );
  if (online) onlineRange(k, start, size);
}

export function blockIds(start: number, size: number): number[] {
  return Array.from({ length: size / BLOCK }, (_, i) => start / BLOCK + i);
}

export function stateOf(k: Kernel, id: number): string {
  return (k.kernfs.read(`/sys/devices/system/memory/memory${id}/state`) as string).trim();
}

/** echo TYPE > memoryN/state: 0 or -errno. */
export function setState(k: Kernel, id: number, type: string): number {
  return k.kernfs.write(`/sys/devices/system/memory/memory${id}/state`, type);
}

export function onlineRange(k: Kernel, start: number, size: number, type = "online_movable"): void {
  for (const id of blockIds(start, size)) assert.equal(setState(k, id, type), 0, `online memory${id}`);
}

export function offlineRange(k: Kernel, start: number, size: number): void {
  for (const id of blockIds(start, size)) assert.equal(setState(k, id, "offline"), 0, `offline memory${id}`);
}

/** The linear-map runs over [start, start + size). */
export function linearRuns(k: Kernel, start: number, size: number) {
  return ptdumpRange(k.arch, BigInt(start), BigInt(size)).linear;
}

export function vmemmapRuns(k: Kernel, start: number, size: number) {
  return ptdumpRange(k.arch, BigInt(start), BigInt(size)).vmemmap;
}

/** The machine's invariants hold. */
export function assertInvariants(k: Kernel): void {
  assert.deepEqual(k.checkInvariants(), []);
}

export function hwOff(k: Kernel, start: number, size: number): void {
  k.hw.setInaccessible(start / 4096, size / 4096);
}

export function hwOn(k: Kernel, start: number, size: number): void {
  k.hw.setAccessible(start / 4096, size / 4096);
}
