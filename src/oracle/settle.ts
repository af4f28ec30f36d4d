// Settling after a host event: the guest reacts asynchronously (ACPI hotplug
// work, the virtio-mem driver's workqueue), so after each event the oracle polls
// a snapshot of the guest (memory-block list, each block's state, /proc/iomem)
// until it has not changed for `stableMs`, counted from the later of the last
// change and the moment the event's own completion condition (`ready`) first
// held, or until `limitMs` has passed.

import type { Snapshot } from "./protocol.js";

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

export interface SettleOptions {
  /** time between two snapshots */
  pollMs: number;
  /** how long nothing may change */
  stableMs: number;
  /** give up after this long (the result then says settled: false) */
  limitMs: number;
  /**
   * how long nothing may change once the guest itself said it finished (the
   * event's condition answered "final": its _OST status, DEVICE_DELETED)
   */
  finalStableMs?: number;
}

export const DEFAULT_SETTLE: SettleOptions = {
  pollMs: 100,
  stableMs: 1000,
  limitMs: 20_000,
  finalStableMs: 200,
};

export interface SettleResult {
  /** the last snapshot taken */
  snapshot: Snapshot;
  /** false when the limit was reached first */
  settled: boolean;
  /** whether `ready` held at the end */
  ready: boolean;
  elapsedMs: number;
  polls: number;
}

/**
 * Polls `probe` until settled. `ready` is the event's completion condition (the
 * device reached its requested size, QEMU reported the DIMM deleted, ...); it is
 * asked after each snapshot, and settling cannot end before it holds.
 */
export async function settle(
  probe: () => Promise<Snapshot>,
  clock: Clock,
  opts: SettleOptions = DEFAULT_SETTLE,
  ready: (s: Snapshot) => boolean | "final" | Promise<boolean | "final"> = () => true,
): Promise<SettleResult> {
  const start = clock.now();
  let snapshot = await probe();
  let polls = 1;
  let lastChange = start;
  let readyAt: number | undefined;
  let final = false;
  for (;;) {
    const now = clock.now();
    if (!final) {
      const r = await ready(snapshot);
      if (r && readyAt === undefined) readyAt = now;
      if (r === "final") final = true;
    }
    const quietSince = Math.max(lastChange, readyAt ?? Infinity);
    const stableMs = final ? Math.min(opts.stableMs, opts.finalStableMs ?? opts.stableMs) : opts.stableMs;
    if (now - quietSince >= stableMs) {
      return { snapshot, settled: true, ready: true, elapsedMs: now - start, polls };
    }
    if (now - start >= opts.limitMs) {
      return { snapshot, settled: false, ready: readyAt !== undefined, elapsedMs: now - start, polls };
    }
    await clock.sleep(opts.pollMs);
    const next = await probe();
    polls++;
    if (next.sig !== snapshot.sig) lastChange = clock.now();
    snapshot = next;
  }
}
