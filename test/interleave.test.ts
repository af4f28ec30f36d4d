// The interleaving explorer (src/fuzz/interleave.ts): every interleaving of small
// cases of concurrent hotplug operations, with the kernel's locks — no
// interleaving breaks an invariant or deadlocks — and with a lock taken away —
// the explorer finds the race (or, with lock_device_hotplug_sysfs() made a
// sleeping lock, the deadlock with kernfs_drain() that its trylock avoids).

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  CASES,
  CASE_THREE,
  explore,
  type CaseDef,
  type LockName,
  type OpDef,
} from "../src/fuzz/interleave.js";
import { Kernel } from "../src/kernel/kernel.js";

const figures = { interleavings: 0, steps: 0 };
const NO_DHL = { removed: new Set<LockName>(["device_hotplug_lock"]) };

describe("the explorer", () => {
  it("enumerates every interleaving exactly once: C(m+n, n) for independent operations", () => {
    const noop = (name: string, n: number): OpDef => ({
      name,
      steps: Array.from({ length: n }, (_, i) => ({ label: `s${i}`, run: () => "next" as const })),
    });
    for (const [m, n] of [
      [1, 1],
      [3, 2],
      [4, 4],
    ]) {
      const c: CaseDef = {
        name: "noop",
        setup: () => Kernel.boot({ arch: "x86_64", memBytes: 128 * 2 ** 20, maxmemBytes: 128 * 2 ** 20 }),
        ops: () => [noop("a", m), noop("b", n)],
      };
      const r = explore(c);
      const binom = (a: number, b: number): number => (b === 0 ? 1 : (binom(a - 1, b - 1) * a) / b);
      assert.equal(r.interleavings, binom(m + n, n), `${m}+${n} steps`);
      assert.equal(r.findings.length, 0);
    }
  });

  it("a step waits for a lock another operation holds (no interleaving puts a step inside the other's critical section)", () => {
    const cs = (name: string): OpDef => ({
      name,
      steps: [
        { label: "lock", lock: ["device_hotplug_lock"], run: () => "next" },
        { label: "work", run: () => "next" },
        { label: "unlock", unlock: ["device_hotplug_lock"], run: () => "next" },
      ],
    });
    const c: CaseDef = {
      name: "critical sections",
      setup: () => Kernel.boot({ arch: "x86_64", memBytes: 128 * 2 ** 20, maxmemBytes: 128 * 2 ** 20 }),
      ops: () => [cs("a"), cs("b")],
    };
    assert.equal(explore(c).interleavings, 2, "a then b, or b then a");
    assert.equal(explore(c, NO_DHL).interleavings, 20, "without the lock: C(6,3)");
  });
});

describe("hotplug operations interleaved", () => {
  for (const c of CASES) {
    it(`${c.name}: with the kernel's locks, no interleaving breaks an invariant or deadlocks`, () => {
      const r = explore(c);
      figures.interleavings += r.interleavings;
      figures.steps += r.steps;
      assert.deepEqual(
        r.findings.map((f) => `${f.kind}: ${f.message}\n  ${f.trace.join("\n  ")}`),
        [],
      );
      assert.ok(r.interleavings >= 5, `${r.interleavings} interleavings`);
      // Each operation wins in some interleaving: both orders were explored.
      assert.ok(r.outcomes.size >= 2, [...r.outcomes].join("; "));
    });

    it(`${c.name}: without device_hotplug_lock the explorer finds the race`, () => {
      const r = explore(c, NO_DHL);
      figures.interleavings += r.interleavings;
      figures.steps += r.steps;
      assert.ok(r.findings.length > 0, "a race must be found");
      assert.equal(r.deadlocks, 0);
      // The race needs the other operation between a check and the action on it.
      const f = r.findings[0];
      assert.ok(f.trace.length >= 4, f.trace.join(", "));
    });
  }

  it(`${CASE_THREE.name}: every interleaving keeps the invariants with the locks, and a race shows without`, () => {
    const r = explore(CASE_THREE);
    figures.interleavings += r.interleavings;
    figures.steps += r.steps;
    assert.deepEqual(
      r.findings.map((f) => `${f.kind}: ${f.message}`),
      [],
    );
    assert.ok(r.interleavings > 500, `${r.interleavings}`);
    const broken = explore(CASE_THREE, NO_DHL, 200);
    figures.interleavings += broken.interleavings;
    figures.steps += broken.steps;
    assert.ok(broken.findings.length > 0);
  });

  it("lock_device_hotplug_sysfs() as a sleeping lock deadlocks a store against a removal (kernfs_drain)", () => {
    const c = CASES[0];
    const r = explore(c, { sleepingSysfsLock: true });
    figures.interleavings += r.interleavings;
    figures.steps += r.steps;
    assert.ok(r.deadlocks > 0);
    const d = r.findings.find((f) => f.kind === "deadlock")!;
    assert.match(d.message, /online at "lock_device_hotplug_sysfs".*remove at "remove_memory_block_devices/);
  });

  it("prints the figures", () => {
    process.stdout.write(`# interleavings: ${figures.interleavings} explored, ${figures.steps} steps\n`);
    assert.ok(figures.interleavings > 200);
  });
});
