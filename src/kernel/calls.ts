// `call FN ARGS...`: kernel functions a driver would call, invoked from a scenario
// (the model's side of the test module the RFC patch adds to the real kernel).
// Each returns 0 or a negative errno, as the kernel function does.

import { EINVAL, ENOSYS } from "../errno.js";
import { parseSize } from "../scenario/size.js";
import type { Kernel } from "./kernel.js";
import { MHP_MEMMAP_ON_MEMORY, MHP_MERGE_RESOURCE, MHP_NONE } from "../mm/memory_hotplug.js";

type CallFn = (k: Kernel, args: number[], words: string[]) => number;

function flagsFrom(words: string[]): number {
  let f = MHP_NONE;
  for (const w of words) {
    if (w === "MHP_MERGE_RESOURCE") f |= MHP_MERGE_RESOURCE;
    else if (w === "MHP_MEMMAP_ON_MEMORY") f |= MHP_MEMMAP_ON_MEMORY;
  }
  return f;
}

/** name → [number of address/size arguments, implementation] */
const CALLS: Record<string, [number, CallFn]> = {
  add_memory: [2, (k, [start, size], w) => k.hotplug.addMemory(0, start, size, flagsFrom(w))],
  add_memory_driver_managed: [
    2,
    (k, [start, size], w) =>
      k.hotplug.addMemoryDriverManaged(0, start, size, w.find((x) => x.startsWith("System RAM")) ?? "System RAM (memhp)", flagsFrom(w)),
  ],
  remove_memory: [2, (k, [start, size]) => k.hotplug.removeMemory(start, size)],
  offline_and_remove_memory: [2, (k, [start, size]) => k.hotplug.offlineAndRemoveMemory(start, size)],
};

export class DriverCalls {
  constructor(private readonly k: Kernel) {}

  /** The functions `call` knows. */
  static names(): string[] {
    return Object.keys(CALLS).sort();
  }

  call(fn: string, args: string[]): number {
    const entry = CALLS[fn];
    if (!entry) return -ENOSYS;
    const [nNum, impl] = entry;
    if (args.length < nNum) return -EINVAL;
    const nums: number[] = [];
    for (let i = 0; i < nNum; i++) {
      try {
        nums.push(parseSize(args[i]));
      } catch {
        return -EINVAL;
      }
    }
    return impl(this.k, nums, args.slice(nNum));
  }
}
