// Saved boots (src/oracle/saved-boot.ts): the key follows every input and
// nothing else; and, live, a restored guest is the same guest as a cold-booted
// one: a sample of corpus scenarios on both architectures, recorded from cold
// boots and from restored guests, agree under `memhp diff` except for the
// guest-activity noise listed here (free-page counters and page-table pages of
// the guest's own processes, which differ between any two boots too).

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  pruneSavedBoots,
  SAVED_BOOT_MAX_AGE_MS,
  savedBootKey,
  savedBootsDir,
  savedBootsWanted,
  touchSavedBoot,
} from "../src/oracle/saved-boot.js";
import { oracleUnavailable } from "../src/oracle/run.js";
import {
  runOracleAll,
  runOracleAllAgainOnce,
  type OracleJob,
  type OracleOutcome,
} from "../src/oracle/parallel.js";
import { parseScenario } from "../src/scenario/parse.js";
import { listCorpus } from "../src/scenario/corpus.js";
import { DEFAULT_KERNEL_VERSION } from "../src/kernel/linux_version.js";
import { diffTraces, type Difference } from "../src/scenario/diff.js";
import { formatTrace, type Trace, type TraceRecord } from "../src/scenario/trace.js";

test("saved boots: those unused for a week are pruned, the one just made and those restored lately stay", () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-prune-"));
  const root = savedBootsDir(cache);
  const now = Date.now();
  const day = 24 * 3600 * 1000;
  const make = (key: string, ageDays: number, meta = true): string => {
    const dir = path.join(root, key);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "state"), "x");
    const t = new Date(now - ageDays * day);
    if (meta) {
      fs.writeFileSync(path.join(dir, "meta.json"), "{}");
      fs.utimesSync(path.join(dir, "meta.json"), t, t);
    }
    fs.utimesSync(dir, t, t);
    return dir;
  };
  make("old", 30);
  make("recent", 2);
  make("new-but-old-clock", 30);
  const restored = make("restored", 30);
  make("half", 30, false);
  // restoring marks it used
  touchSavedBoot({ dir: restored, state: "", initrd: "", meta: {} as never }, new Date(now));
  const removed = pruneSavedBoots(cache, "new-but-old-clock", SAVED_BOOT_MAX_AGE_MS, now);
  assert.deepEqual(removed.sort(), ["half", "old"]);
  assert.deepEqual(fs.readdirSync(root).sort(), ["new-but-old-clock", "recent", "restored"]);
  // no saved-boots folder: nothing to do
  assert.deepEqual(pruneSavedBoots(path.join(cache, "none"), "k"), []);
});

test("saved boots: the key follows the arguments and file contents, not the per-run folder", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-sb-"));
  try {
    const k = path.join(dir, "vmlinuz");
    fs.writeFileSync(k, "kernel 1");
    const key = (work: string, args: string[], digests: string[] = ["i1"]): string =>
      savedBootKey({ binary: "/bin/true", args, workDir: work, files: [k], digests });
    const a = key("/tmp/w1", ["-m", "1G", "-qmp", "unix:/tmp/w1/qmp.sock"]);
    assert.equal(a, key("/tmp/w2", ["-m", "1G", "-qmp", "unix:/tmp/w2/qmp.sock"]), "sockets do not count");
    assert.notEqual(a, key("/tmp/w1", ["-m", "2G", "-qmp", "unix:/tmp/w1/qmp.sock"]), "memory");
    assert.notEqual(a, key("/tmp/w1", ["-m", "1G", "-qmp", "unix:/tmp/w1/qmp.sock"], ["i2"]), "initramfs");
    fs.writeFileSync(k, "kernel 2");
    fs.utimesSync(k, new Date(), new Date(Date.now() + 5000));
    assert.notEqual(a, key("/tmp/w1", ["-m", "1G", "-qmp", "unix:/tmp/w1/qmp.sock"]), "kernel contents");
    assert.equal(savedBootsWanted(undefined, {}), true);
    assert.equal(savedBootsWanted(undefined, { MEMHP_ORACLE_COLD: "1" }), false);
    assert.equal(savedBootsWanted(true, { MEMHP_ORACLE_COLD: "1" }), true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Differences between two boots of the same kernel that come from what the
 * guest itself does, not from memory hotplug: free and cached page counts
 * (the guest's shell, page cache, per-CPU lists) and ptdump's `tablePages`
 * (vmalloc'd stacks of the guest's processes: docs/oracle.md, "Reading the
 * page tables"); and `settled`, which follows the host's speed. Everything
 * else must agree exactly. (The traces of the last run are kept in
 * $TMPDIR/memhp-saved-boot-test/.)
 */
export const GUEST_ACTIVITY_NOISE: ReadonlyArray<(d: Difference) => boolean> = [
  (d) => d.rule === "tablePages-delta",
  // host speed, not the guest: `settled: false` says the guest had not finished
  // within the settle limit (20 s), which a loaded host makes happen
  (d) => d.rule === "exact" && d.item === "settled",
  (d) =>
    d.rule === "meminfo-delta" &&
    /^(MemFree|MemAvailable|Buffers|Cached|Active|Inactive|Active\(anon\)|Inactive\(anon\)|Active\(file\)|Inactive\(file\)|AnonPages|Mapped|Shmem|KReclaimable|Slab|SReclaimable|SUnreclaim|KernelStack|PageTables|Committed_AS|VmallocUsed|Percpu|DirectMap4k|DirectMap2M)$/.test(
      d.item,
    ),
  (d) => d.rule === "vmstat-delta",
  (d) =>
    d.rule === "zoneinfo-delta" &&
    !/: (spanned|present|managed|start_pfn|protection)/.test(d.item) &&
    d.item !== "layout",
];

const isNoise = (d: Difference): boolean => GUEST_ACTIVITY_NOISE.some((f) => f(d));

/** The corpus scenarios the live comparison records both ways. */
const SAMPLE: Record<string, string[]> = {
  x86_64: ["x86-dimm-add-del", "x86-vmem", "x86-ptdump"],
  arm64: ["arm64-dimm-add-del", "arm64-vmem"],
};

for (const arch of ["x86_64", "arm64"] as const) {
  const why = oracleUnavailable(arch);
  test(
    `live ${arch}: restored guests record the same traces as cold-booted ones (${SAMPLE[arch].join(", ")})`,
    {
      skip: why ?? false,
      timeout: 900_000,
    },
    async (t) => {
      const entries = listCorpus().filter(
        (e) => SAMPLE[arch].includes(e.name) && e.version === DEFAULT_KERNEL_VERSION,
      );
      assert.equal(entries.length, SAMPLE[arch].length, "the sample is in the corpus");
      const jobs = entries.flatMap((e) => [
        { scenario: e.scenario, opts: { savedBoot: false } },
        { scenario: e.scenario, opts: { savedBoot: true } },
      ]);
      // a busy host (load 20-30 on 2 cores) took more than the usual 20 s settle limit
      const outcomes = await runOracleAll(jobs, { settle: { limitMs: 60_000 } });
      for (let i = 0; i < entries.length; i++) {
        const [cold, warm] = [outcomes[2 * i], outcomes[2 * i + 1]];
        if ("error" in cold) throw cold.error;
        if ("error" in warm) throw warm.error;
        assert.equal(warm.trace.header.savedBoot !== undefined, true, "the second run restored a saved boot");
        assert.equal(cold.trace.header.savedBoot, undefined);
        const name = entries[i].name;
        const keep = path.join(os.tmpdir(), "memhp-saved-boot-test");
        fs.mkdirSync(keep, { recursive: true });
        fs.writeFileSync(path.join(keep, `${name}.cold.jsonl`), formatTrace(cold.trace));
        fs.writeFileSync(path.join(keep, `${name}.restored.jsonl`), formatTrace(warm.trace));
        const diffs = diffTraces(cold.trace as Trace, warm.trace as Trace, entries[i].scenario);
        // a host event that hit the settle limit on either side reports the blocks
        // changed by then: how far the guest got follows the host's speed
        const unsettled = new Set(
          [...cold.trace.records, ...warm.trace.records]
            .filter((r) => (r as Record<string, unknown>).settled === false)
            .map((r) => r.line),
        );
        const noisy = (d: Difference): boolean =>
          isNoise(d) || (unsettled.has(d.line) && d.rule === "exact" && d.item === "blocks");
        const noise = diffs.filter(noisy);
        const real = diffs.filter((d) => !noisy(d));
        t.diagnostic(
          `${name}: ${entries[i].scenario.body.length} statements, ${real.length} differences, ${noise.length} guest-activity noise (${[...new Set(noise.map((d) => d.item))].join(", ")})`,
        );
        assert.deepEqual(
          real.map((d) => `line ${d.line} [${d.rule}] ${d.message}`),
          [],
          `${name}: restored vs cold`,
        );
        // the comparison compared something: every statement has a record on both sides
        assert.equal(cold.trace.records.length, entries[i].scenario.body.length);
        assert.equal(warm.trace.records.length, entries[i].scenario.body.length);
      }
    },
  );
}

test("live mode's second recording: only the rejected traces run again, from a cold boot, and the first is kept", async () => {
  const sc = (n: number) => parseScenario(`machine x86_64 mem=1G maxmem=2G\nboot\n# ${n}\n`, `s${n}.mhp`);
  const trace = (tag: string): Trace => ({
    header: { op: "system" } as Trace["header"],
    records: [{ line: 0, op: "read", path: tag, value: tag } as TraceRecord],
  });
  const calls: { tags: string[]; saved: (boolean | undefined)[] }[] = [];
  let round = 0;
  const runAll = async (jobs: readonly OracleJob[]): Promise<OracleOutcome[]> => {
    round++;
    calls.push({ tags: jobs.map((j) => j.scenario.file), saved: jobs.map((j) => j.opts?.savedBoot) });
    return jobs.map((j) =>
      j.scenario.file === "s2.mhp"
        ? { error: new Error("no answer") }
        : { trace: trace(`${j.scenario.file}#${round}`) },
    );
  };
  const list = [0, 1, 2, 3].map((n) => ({ scenario: sc(n), opts: { version: "7.2" as const } }));
  // the first recordings of s1 and s3 show a difference; s2 failed outright (not run again: an error is its own verdict)
  const { outcomes, firsts } = await runOracleAllAgainOnce(
    list,
    (i, t) => (i === 1 || i === 3 || i === 2) && (t.records[0] as { value: string }).value.endsWith("#1"),
    runAll,
  );
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[1], { tags: ["s1.mhp", "s3.mhp"], saved: [false, false] });
  assert.deepEqual([...firsts.keys()], [1, 3]);
  assert.equal((firsts.get(1)!.records[0] as { value: string }).value, "s1.mhp#1");
  assert.equal(((outcomes[1] as { trace: Trace }).trace.records[0] as { value: string }).value, "s1.mhp#2");
  assert.equal(((outcomes[0] as { trace: Trace }).trace.records[0] as { value: string }).value, "s0.mhp#1");
  assert.ok("error" in outcomes[2]);
  // nothing rejected: one round only
  calls.length = 0;
  round = 0;
  await runOracleAllAgainOnce(list, () => false, runAll);
  assert.equal(calls.length, 1);
});
