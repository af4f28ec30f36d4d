// Property-based testing of the whole model: random machines (both
// arches, sizes, command lines) and random operation sequences — host events,
// sysfs writes valid and invalid, driver calls (the RFC's populate/depopulate
// among them), workload runs, reads — after every step of which no exception
// may escape and k.checkInvariants() must be empty. fast-check generates and
// shrinks; a failure is saved under scenarios/regressions/ and fails this test
// with its signature and file.
//
// At least 100,000 steps run, split over two worker threads (test files run one
// at a time, so this uses the machine's second core). Seeded: the same seed
// runs the same cases. MEMHP_FUZZ_SEED and MEMHP_FUZZ_STEPS change the seed and
// the number of steps (e.g. a longer run before a release; CI: 50,000 steps
// from the commit's seed, .ci/run).

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import type { ShardResult, ShardTask } from "./property-worker.js";

export const PROPERTY_SEED = Number(process.env.MEMHP_FUZZ_SEED ?? 20240901);
export const PROPERTY_STEPS = Number(process.env.MEMHP_FUZZ_STEPS ?? 100_000);
const SHARDS = 2;

function runWorker(task: ShardTask): Promise<ShardResult> {
  // Under tsx the sources are .ts; compiled (npm test) they are .js.
  const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  const url = new URL(`./property-worker${ext}`, import.meta.url);
  // A worker does not inherit tsx's loader: register it before importing the .ts entry.
  const worker =
    ext === ".ts"
      ? new Worker(
          `import("tsx/esm/api").then((t) => { t.register(); return import(${JSON.stringify(url.href)}); });`,
          { eval: true, workerData: task },
        )
      : new Worker(url, { workerData: task });
  return new Promise((resolve, reject) => {
    worker.once("message", (r: ShardResult) => resolve(r));
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (code !== 0) reject(new Error(`property shard ${task.shard} exited with ${code}`));
    });
  });
}

describe("property: random machines and operations keep every invariant", () => {
  it(`runs at least ${PROPERTY_STEPS} steps (seed ${PROPERTY_SEED}) without an exception or an invariant violation`, async () => {
    const tasks: ShardTask[] = Array.from({ length: SHARDS }, (_, shard) => ({
      shard,
      seed: PROPERTY_SEED + 1_000_003 * shard,
      steps: Math.ceil(PROPERTY_STEPS / SHARDS),
      runsPerRound: 40,
      maxOps: 300,
    }));
    const results = await Promise.all(tasks.map(runWorker));
    const steps = results.reduce((n, r) => n + r.steps, 0);
    const cases = results.reduce((n, r) => n + r.cases, 0);
    const known = results.reduce((n, r) => n + (r.known ?? 0), 0);
    const byOp: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.byOp)) byOp[k] = (byOp[k] ?? 0) + v;
    const ms = Math.max(...results.map((r) => r.ms));
    process.stdout.write(
      `# property: ${steps} steps in ${cases} cases (${known} ended in a known kernel behaviour), ${(ms / 1000).toFixed(1)} s on ${SHARDS} threads, seed ${PROPERTY_SEED}\n` +
        `# steps by kind: ${Object.entries(byOp)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")}\n`,
    );
    const findings = results.flatMap((r) => r.findings);
    assert.deepEqual(
      findings.map(
        (f) =>
          `${f.signature} (seed ${f.seed}) → ${f.file ?? "not saved"}\n${f.message}\n${f.lines.join("\n")}`,
      ),
      [],
      "the fuzzer found a failure (shrunk and saved as a regression scenario)",
    );
    assert.ok(steps >= PROPERTY_STEPS, `${steps} steps ran, ${PROPERTY_STEPS} wanted`);
    // Every kind of operation ran, and often.
    for (const kind of [
      "dimm-add",
      "dimm-del",
      "vmem-resize",
      "write state",
      "write online",
      "workload",
      "read",
    ])
      assert.ok((byOp[kind] ?? 0) > steps / 200, `${kind}: ${byOp[kind] ?? 0} steps`);
    for (const fn of [
      "populate_range_driver_managed",
      "depopulate_range_driver_managed",
      "add_memory",
      "remove_memory",
    ])
      assert.ok((byOp[`call ${fn}`] ?? 0) > steps / 1000, `call ${fn}: ${byOp[`call ${fn}`] ?? 0} steps`);
  });
});
