// An interleaving explorer for memory hotplug's locking. The model runs one
// operation at a time; here a few operations are written as explicit steps, cut
// where the kernel takes or drops a lock or reads state it acts on later, and
// every interleaving of their steps is run (stateless model checking: each
// interleaving replays from a fresh machine; the choices not taken at each
// point are explored after). A step that needs a lock another operation holds
// waits; when every unfinished operation waits, that is a deadlock.
//
// Locks (drivers/base/core.c, mm/memory_hotplug.c; order as in
// src/drivers/base/core.ts):
//   device_hotplug_lock  serialises adding/removing memory against sysfs
//                        online/offline. Sysfs stores take it with
//                        lock_device_hotplug_sysfs(): a trylock that restarts
//                        the system call when it fails, because the remover,
//                        holding it, waits in kernfs_drain() for the store's
//                        active reference.
//   mem_hotplug_lock     held around online_pages()/offline_pages()/
//                        arch_add/remove_memory(); each step that needs it
//                        takes and drops it inside (a whole critical section).
//   kernfs active reference of memoryN/state (kernfs_get_active()): held by a
//                        store in progress; removing the device drains it.
//
// An experiment can remove a lock (taking it always succeeds and excludes
// nobody) or make the sysfs trylock a sleeping lock, to show what each
// protects: the explorer then finds the race or the deadlock.

import { Kernel } from "../kernel/kernel.js";
import {
  MEM_OFFLINE,
  MEM_ONLINE,
  MMOP_OFFLINE,
  MMOP_ONLINE_MOVABLE,
  type MemoryBlock,
} from "../drivers/base/memory.js";
import { PAGE_SIZE, PAGES_PER_SECTION } from "../mm/constants.js";
import { EBUSY, EINVAL, ENOENT } from "../errno.js";

export type LockName = "device_hotplug_lock" | "mem_hotplug_lock";

/** The state of one operation during an interleaving. */
export interface OpCtx {
  readonly name: string;
  /** Locks the operation holds (logically; see Explorer). */
  readonly held: Set<LockName>;
  /** Kernfs active references it holds. */
  readonly refs: Set<string>;
  /** Index of the next step. */
  pc: number;
  /** 0 or -errno once finished. */
  result?: number;
  /** Values steps hand to later steps (a zone chosen, a block id looked up). */
  vars: Record<string, number>;
  /** Parked after a failed trylock until this lock is free (restart_syscall()). */
  parkedOn?: LockName;
}

/** What a step did: go on, finish with a result, or restart the operation. */
export type Outcome = "next" | { done: number } | { restart: LockName };

export interface Step {
  label: string;
  /** Locks taken (sleeping) at the start of the step: it waits while another holds them. */
  lock?: LockName[];
  /** Locks taken with trylock at the start: when held, the operation restarts. */
  trylock?: LockName[];
  /** Locks released at the end of the step. */
  unlock?: LockName[];
  /** Kernfs active references that must drain before the step can run (device removal). */
  drains?: (k: Kernel, ctx: OpCtx) => string[];
  run(k: Kernel, ctx: OpCtx, env: Env): Outcome;
}

export interface OpDef {
  name: string;
  steps: Step[];
}

/** What steps may ask of the explorer. */
export interface Env {
  /** kernfs_get_active(): take an active reference; false when the node is gone. */
  getActive(ctx: OpCtx, ref: string, exists: boolean): boolean;
}

export interface Experiment {
  /** Locks that exclude nobody (taking them always succeeds). */
  removed?: ReadonlySet<LockName>;
  /** lock_device_hotplug_sysfs() as a sleeping lock instead of trylock-and-restart. */
  sleepingSysfsLock?: boolean;
}

export interface CaseDef {
  name: string;
  /** A fresh machine in the starting state. */
  setup(): Kernel;
  /** The operations, created fresh for each interleaving. */
  ops(k: Kernel): OpDef[];
  /** Checks of the final state beyond k.checkInvariants() (messages; empty when fine). */
  check?(k: Kernel, ctxs: readonly OpCtx[]): string[];
}

export interface Finding {
  /** The interleaving: "op:step" labels in the order they ran. */
  trace: string[];
  kind: "invariant" | "exception" | "deadlock";
  message: string;
}

export interface ExploreResult {
  /** Complete interleavings run (leaves of the schedule tree). */
  interleavings: number;
  /** Steps executed over all of them. */
  steps: number;
  deadlocks: number;
  findings: Finding[];
  /** Distinct final outcomes, as "op=result ..." strings. */
  outcomes: Set<string>;
}

/** Run one interleaving: `choices` say which operation steps at each point (beyond them, the first enabled). */
function runSchedule(
  c: CaseDef,
  exp: Experiment,
  choices: readonly number[],
): {
  picks: number[];
  alternatives: number[][];
  trace: string[];
  steps: number;
  finding?: Finding;
  outcome: string;
} {
  const k = c.setup();
  const defs = c.ops(k);
  const ctxs: OpCtx[] = defs.map((d) => ({
    name: d.name,
    held: new Set(),
    refs: new Set(),
    pc: 0,
    vars: {},
  }));
  const holder = new Map<LockName, string>();
  const active = new Map<string, number>();
  const removed = exp.removed ?? new Set<LockName>();
  const trace: string[] = [];
  const alternatives: number[][] = [];
  const picks: number[] = [];
  const env: Env = {
    getActive(ctx, ref, exists) {
      if (!exists) return false;
      ctx.refs.add(ref);
      active.set(ref, (active.get(ref) ?? 0) + 1);
      return true;
    },
  };
  const free = (l: LockName, me: string) =>
    removed.has(l) || holder.get(l) === undefined || holder.get(l) === me;
  const releaseAll = (ctx: OpCtx) => {
    for (const l of ctx.held) if (holder.get(l) === ctx.name) holder.delete(l);
    ctx.held.clear();
    for (const r of ctx.refs) active.set(r, (active.get(r) ?? 1) - 1);
    ctx.refs.clear();
  };
  const enabled = (i: number): boolean => {
    const ctx = ctxs[i];
    if (ctx.result !== undefined) return false;
    if (ctx.parkedOn) {
      if (!free(ctx.parkedOn, ctx.name)) return false;
      ctx.parkedOn = undefined;
    }
    const step = defs[i].steps[ctx.pc];
    const sleeping = [...(step.lock ?? []), ...(exp.sleepingSysfsLock ? (step.trylock ?? []) : [])];
    if (!sleeping.every((l) => free(l, ctx.name))) return false;
    for (const ref of step.drains?.(k, ctx) ?? []) if ((active.get(ref) ?? 0) > 0) return false;
    return true;
  };
  let steps = 0;
  for (let depth = 0; ; depth++) {
    const en = ctxs.map((_, i) => i).filter(enabled);
    if (en.length === 0) {
      const stuck = ctxs.filter((x) => x.result === undefined);
      if (stuck.length === 0) break;
      const why = stuck.map((x) => `${x.name} at "${defs[ctxs.indexOf(x)].steps[x.pc].label}"`).join(", ");
      return {
        picks,
        alternatives,
        trace,
        steps,
        finding: { trace, kind: "deadlock", message: `deadlock: ${why}` },
        outcome: "deadlock",
      };
    }
    const pick = depth < choices.length ? choices[depth] : en[0];
    if (!en.includes(pick)) throw new Error(`explorer: op ${pick} not enabled at depth ${depth}`);
    alternatives.push(en.filter((x) => x > pick));
    picks.push(pick);
    const ctx = ctxs[pick];
    const step = defs[pick].steps[ctx.pc];
    trace.push(`${ctx.name}:${step.label}`);
    steps++;
    // trylock (unless made a sleeping lock): a held lock restarts the operation
    if (!exp.sleepingSysfsLock) {
      const busy = (step.trylock ?? []).find((l) => !free(l, ctx.name));
      if (busy) {
        releaseAll(ctx);
        ctx.pc = 0;
        ctx.parkedOn = busy;
        trace[trace.length - 1] += ` (trylock failed: restart)`;
        continue;
      }
    }
    for (const l of [...(step.lock ?? []), ...(step.trylock ?? [])]) {
      ctx.held.add(l);
      if (!removed.has(l)) holder.set(l, ctx.name);
    }
    // The model's own lock checks (assertHeld) see the running operation's locks.
    const real = [...ctx.held];
    for (const l of real) lockOf(k, l).lock(ctx.name);
    let out: Outcome;
    try {
      out = step.run(k, ctx, env);
    } catch (e) {
      return {
        picks,
        alternatives,
        trace,
        steps,
        finding: {
          trace,
          kind: "exception",
          message: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
        },
        outcome: "exception",
      };
    } finally {
      for (const l of real) if (lockOf(k, l).held) lockOf(k, l).unlock();
    }
    for (const l of step.unlock ?? []) {
      ctx.held.delete(l);
      if (holder.get(l) === ctx.name) holder.delete(l);
    }
    if (out === "next") {
      ctx.pc++;
      if (ctx.pc >= defs[pick].steps.length) ctx.result = 0;
    } else if ("done" in out) ctx.result = out.done;
    else {
      releaseAll(ctx);
      ctx.pc = 0;
      ctx.parkedOn = out.restart;
    }
    if (ctx.result !== undefined) releaseAll(ctx);
  }
  const outcome = ctxs.map((x) => `${x.name}=${x.result}`).join(" ");
  const problems = [...k.checkInvariants(), ...(c.check?.(k, ctxs) ?? [])];
  if (problems.length)
    return {
      picks,
      alternatives,
      trace,
      steps,
      finding: { trace, kind: "invariant", message: problems.slice(0, 8).join("\n") },
      outcome,
    };
  return { picks, alternatives, trace, steps, outcome };
}

function lockOf(k: Kernel, l: LockName) {
  return l === "device_hotplug_lock" ? k.locks.deviceHotplug : k.locks.memHotplug;
}

/** Explore every interleaving of the case's operations (depth-first, replaying each from scratch). */
export function explore(c: CaseDef, exp: Experiment = {}, limit = 100_000): ExploreResult {
  const res: ExploreResult = { interleavings: 0, steps: 0, deadlocks: 0, findings: [], outcomes: new Set() };
  const stack: number[][] = [[]];
  while (stack.length && res.interleavings < limit) {
    const choices = stack.pop()!;
    const r = runSchedule(c, exp, choices);
    res.interleavings++;
    res.steps += r.steps;
    res.outcomes.add(r.outcome);
    if (r.finding) {
      if (r.finding.kind === "deadlock") res.deadlocks++;
      res.findings.push(r.finding);
    }
    // Beyond the forced prefix the run took the first enabled operation; the
    // others enabled there are the siblings still to explore.
    for (let d = r.picks.length - 1; d >= choices.length; d--)
      for (const alt of r.alternatives[d]) stack.push([...r.picks.slice(0, d), alt]);
  }
  return res;
}

// ---- the operations, as steps ----

const MEM = "/sys/devices/system/memory";
const stateRef = (id: number) => `${MEM}/memory${id}/state`;
const blockRange = (k: Kernel, mem: MemoryBlock): [number, number] => [
  k.memory.blockStartPfn(mem) * PAGE_SIZE,
  k.memory.blockSizeBytes,
];

/**
 * `echo online_movable > memoryN/state` (drivers/base/memory.c: state_store() →
 * device_online() → memory_subsys_online() → memory_block_online()).
 */
export function sysfsOnline(name: string, id: number): OpDef {
  return {
    name,
    steps: [
      {
        label: "kernfs_get_active",
        run: (k, ctx, env) =>
          env.getActive(ctx, stateRef(id), k.memory.blocks.has(id)) ? "next" : { done: -ENOENT },
      },
      { label: "lock_device_hotplug_sysfs", trylock: ["device_hotplug_lock"], run: () => "next" },
      {
        label: "device_online: state check, zone",
        run: (k, ctx) => {
          const mem = k.memory.findMemoryBlockById(id)!;
          if (!mem.devOffline) return { done: -EINVAL }; // already online: device_online() → 1 → -EINVAL
          if (mem.state !== MEM_OFFLINE) return { done: -EINVAL };
          if (mem.depopulated) return { done: -EBUSY }; // memhp RFC
          const [start, size] = blockRange(k, mem);
          ctx.vars.zone = k.hotplug.zoneForPfnRange(
            MMOP_ONLINE_MOVABLE,
            mem.nid,
            mem.group,
            start / PAGE_SIZE,
            size / PAGE_SIZE,
          );
          return "next";
        },
      },
      {
        label: "mem_hotplug_begin; online_pages; mem_hotplug_done",
        lock: ["mem_hotplug_lock"],
        unlock: ["mem_hotplug_lock"],
        run: (k, ctx) => {
          const mem = k.memory.findMemoryBlockById(id);
          // The mem the store looked up (the kernel holds a reference; the model's object may be gone).
          const startPfn = id * k.memory.sectionsPerBlock * PAGES_PER_SECTION;
          const rc = k.hotplug.onlinePages(startPfn, k.memory.pagesPerBlock(), ctx.vars.zone, mem?.group);
          if (rc) return { done: rc };
          if (mem) mem.zone = ctx.vars.zone;
          return "next";
        },
      },
      {
        label: "state = online; unlock_device_hotplug",
        unlock: ["device_hotplug_lock"],
        run: (k) => {
          const mem = k.memory.findMemoryBlockById(id);
          if (mem) {
            mem.state = MEM_ONLINE;
            mem.devOffline = false;
            mem.onlineType = MMOP_OFFLINE;
          }
          return "next";
        },
      },
    ],
  };
}

/** mm/memory_hotplug.c: offline_and_remove_memory() of one block (virtio-mem's way). */
export function offlineAndRemove(name: string, id: number): OpDef {
  return {
    name,
    steps: [
      { label: "lock_device_hotplug", lock: ["device_hotplug_lock"], run: () => "next" },
      {
        label: "device_offline (mem_hotplug_lock inside)",
        run: (k) => {
          const mem = k.memory.findMemoryBlockById(id);
          if (!mem) return { done: -EINVAL };
          const rc = k.memory.deviceOffline(mem);
          return rc < 0 ? { done: rc } : "next";
        },
      },
      {
        label: "try_remove_memory: check_memblock_offlined_cb",
        run: (k) => {
          const mem = k.memory.findMemoryBlockById(id);
          if (!mem || mem.state !== MEM_OFFLINE) return { done: -EBUSY };
          return "next";
        },
      },
      {
        label: "remove_memory_block_devices (kernfs_drain)",
        drains: () => [stateRef(id)],
        run: (k) => {
          const mem = k.memory.findMemoryBlockById(id)!;
          const [start, size] = blockRange(k, mem);
          k.memory.removeMemoryBlockDevices(start, size);
          return "next";
        },
      },
      {
        label: "mem_hotplug_begin; arch_remove_memory; release resource; mem_hotplug_done; unlock",
        lock: ["mem_hotplug_lock"],
        unlock: ["mem_hotplug_lock", "device_hotplug_lock"],
        run: (k) => {
          const bs = k.memory.blockSizeBytes;
          const start = id * bs;
          k.arch.archRemoveMemory(k.hotplug, start, bs, undefined);
          k.resources.releaseMemRegionAdjustable(BigInt(start), BigInt(bs));
          return "next";
        },
      },
    ],
  };
}

/**
 * memhp RFC v2: offline_and_depopulate_memory() of one block (docs/rfc-v2.md):
 * device_hotplug_lock from the first check to the end; the checks under
 * mem_hotplug_lock; device_offline() of the block if it is online; then the
 * unmap under mem_hotplug_lock. v1's two calls dropped device_hotplug_lock
 * between the offline and the depopulate: an experiment without the lock
 * shows that window (a sysfs online gets in and the block ends online
 * without its linear map).
 */
export function depopulate(name: string, id: number): OpDef {
  return {
    name,
    steps: [
      { label: "lock_device_hotplug", lock: ["device_hotplug_lock"], run: () => "next" },
      {
        label: "mem_hotplug_begin; check: the block exists; mem_hotplug_done",
        lock: ["mem_hotplug_lock"],
        unlock: ["mem_hotplug_lock"],
        run: (k) => (k.memory.findMemoryBlockById(id) ? "next" : { done: -EINVAL }),
      },
      {
        label: "device_offline() if online",
        run: (k) => {
          const mem = k.memory.findMemoryBlockById(id)!;
          if (mem.state === MEM_OFFLINE) return "next";
          const rc = k.memory.deviceOffline(mem);
          return rc < 0 ? { done: rc } : "next";
        },
      },
      {
        label:
          "mem_hotplug_begin; clean; PageOffline; arch_remove_linear_mapping; mark depopulated; mem_hotplug_done; unlock",
        lock: ["mem_hotplug_lock"],
        unlock: ["mem_hotplug_lock", "device_hotplug_lock"],
        run: (k) => {
          const mem = k.memory.findMemoryBlockById(id)!;
          const [start, size] = blockRange(k, mem);
          k.hw.cache.clean(start / PAGE_SIZE, size / PAGE_SIZE);
          k.arch.archRemoveLinearMapping(start, size);
          mem.depopulated = true;
          return "next";
        },
      },
    ],
  };
}

// ---- the cases ----

const MiB = 2 ** 20;

/** A small x86_64 machine with one offline, driver-managed block (add_memory_driver_managed()). */
function machineWithBlock(): { k: Kernel; id: number } {
  const k = Kernel.boot({ arch: "x86_64", memBytes: 128 * MiB, maxmemBytes: 640 * MiB });
  const bs = k.memory.blockSizeBytes;
  const start = Math.ceil(k.board.deviceMemoryBase / bs) * bs;
  const rc = k.hotplug.addMemoryDriverManaged(0, start, bs, "System RAM (memhp)", 0);
  if (rc) throw new Error(`interleave: add_memory_driver_managed failed: ${rc}`);
  return { k, id: start / bs };
}

/** The block machineWithBlock() added: the first of the device region. */
function firstDeviceBlock(k: Kernel): number {
  return Math.ceil(k.board.deviceMemoryBase / k.memory.blockSizeBytes);
}
const blockOf = firstDeviceBlock;

export const CASES: readonly CaseDef[] = [
  {
    name: "sysfs online of a block vs. offline_and_remove_memory() of it",
    setup: () => machineWithBlock().k,
    ops: (k) => [sysfsOnline("online", blockOf(k)), offlineAndRemove("remove", blockOf(k))],
    check: (k, [on, rm]) => {
      const id = firstDeviceBlock(k);
      const mem = k.memory.findMemoryBlockById(id);
      if (rm.result === 0 && (mem || k.sparse.presentSectionNr(id * k.memory.sectionsPerBlock)))
        return ["the removal succeeded but the block is still there"];
      if (rm.result !== 0 && on.result === 0 && mem?.state !== MEM_ONLINE)
        return ["the store succeeded and the removal failed, but the block is not online"];
      return [];
    },
  },
  {
    name: "sysfs online of a block vs. offline_and_depopulate_memory() of it",
    setup: () => machineWithBlock().k,
    ops: (k) => [sysfsOnline("online", blockOf(k)), depopulate("depopulate", blockOf(k))],
    check: (k) => {
      const mem = k.memory.findMemoryBlockById(blockOf(k));
      return mem?.depopulated && mem.state !== MEM_OFFLINE ? ["a block online without its linear map"] : [];
    },
  },
  {
    name: "two sysfs onlines of the same block",
    setup: () => machineWithBlock().k,
    ops: (k) => [sysfsOnline("online1", blockOf(k)), sysfsOnline("online2", blockOf(k))],
    check: (_k, [a, b]) => (a.result === 0 && b.result === 0 ? ["the block was onlined twice"] : []),
  },
];

/** A larger case: two stores and a removal (explored with the locks; without them it is capped). */
export const CASE_THREE: CaseDef = {
  name: "two sysfs onlines and an offline_and_remove_memory() of one block",
  setup: () => machineWithBlock().k,
  ops: (k) => [
    sysfsOnline("online1", blockOf(k)),
    sysfsOnline("online2", blockOf(k)),
    offlineAndRemove("remove", blockOf(k)),
  ],
  check: (_k, [a, b]) => (a.result === 0 && b.result === 0 ? ["the block was onlined twice"] : []),
};
