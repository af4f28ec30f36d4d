// The model against the real kernel: every corpus scenario (scenarios/oracle/ on
// Debian's kernels, scenarios/oracle-rfc/ on the RFC-patched kernel of linux-patches/)
// runs on the model of the trace's release (6.1, or 6.12 / 7.2 for NAME.linux-6.12-ARCH.jsonl / NAME.linux-7.2-ARCH.jsonl)
// and is diffed against the kernel's trace; every difference must
// be covered by an entry of docs/divergences.md. With MEMHP_ORACLE_LIVE=1 (as
// .ci/run sets it) the kernel traces are recorded again on the real kernels under
// QEMU first, so the comparison is with what the kernel does today; a scenario the
// oracle cannot run then is compared with its recorded trace, and the run fails.
// A live recording with a difference not covered is recorded once more, from a
// cold boot: the guest's own activity now and then moves a few MiB at a moment
// that offsets every later free-memory change of a scenario (docs/oracle.md,
// "Recorded again"). The scenario passes only if that second recording has no
// such difference; the first one's differences are printed and its trace kept
// under .tmp/corpus-live/, and more than MAX_RECORDED_AGAIN of them fail the run.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { before, describe, it } from "node:test";
import {
  compareEntry,
  entryLabel,
  listAllCorpus,
  loadCorpusDivergences,
  recordedTrace,
  summarize,
  type CorpusEntry,
  type CorpusResult,
} from "../src/scenario/corpus.js";
import { isKernelVersion, KERNEL_VERSIONS } from "../src/kernel/linux_version.js";
import { appliesToSomeKernel, blockName, redundantBlocks } from "../src/scenario/divergences.js";
import { oracleUnavailable } from "../src/oracle/run.js";
import { runOracleAllAgainOnce, type OracleOutcome } from "../src/oracle/parallel.js";
import { formatTrace, type Trace } from "../src/scenario/trace.js";
import { packagePath } from "../src/paths.js";

const live = process.env.MEMHP_ORACLE_LIVE === "1";
// Which releases live mode records again (MEMHP_ORACLE_LIVE_VERSIONS, default
// every release memhp models, as .ci/run records). A release memhp
// does not model is an error here rather than a silent skip.
// The RFC corpus on the series' builds (linux-patches/build.sh ARCH normal
// VERSION): MEMHP_ORACLE_LIVE_PATCHED, default the same releases (.ci/run
// records 7.2's).
function versionList(name: string, fallback: string): string[] {
  const list = (process.env[name] ?? fallback).split(",");
  for (const v of list)
    if (!isKernelVersion(v))
      throw new Error(`${name}: ${v}: memhp models Linux ${KERNEL_VERSIONS.join(", ")}`);
  return list;
}
const liveVersions = versionList("MEMHP_ORACLE_LIVE_VERSIONS", KERNEL_VERSIONS.join(","));
const livePatched = versionList("MEMHP_ORACLE_LIVE_PATCHED", liveVersions.join(","));
// ... and of which arches (MEMHP_ORACLE_LIVE_PATCHED_ARCHES, default both;
// .ci/run builds one of the two by the commit's seed)
const livePatchedArches = (process.env.MEMHP_ORACLE_LIVE_PATCHED_ARCHES ?? "x86_64,arm64").split(",");
for (const a of livePatchedArches)
  if (a !== "x86_64" && a !== "arm64")
    throw new Error(`MEMHP_ORACLE_LIVE_PATCHED_ARCHES: ${a}: x86_64 or arm64`);
const liveFor = (e: CorpusEntry): boolean =>
  live &&
  (e.kernel === "patched"
    ? livePatched.includes(e.version) && livePatchedArches.includes(e.scenario.machine.arch)
    : liveVersions.includes(e.version));
const divs = loadCorpusDivergences();
const entries = listAllCorpus();
const results: CorpusResult[] = [];
/** Live runs: the same entries compared with their recorded traces, which stay evidence. */
const recordedResults: CorpusResult[] = [];
/** Live mode: the scenarios compared with their recorded trace instead, and why. */
const fellBack: string[] = [];
/** Live mode: at most this many scenarios may need a second recording in one run. */
const MAX_RECORDED_AGAIN = 3;
/** Live mode: the scenarios recorded again, with the first recording's differences. */
const recordedAgain: string[] = [];

describe(`oracle corpus (${live ? "recorded again on the real kernels" : "recorded traces"})`, () => {
  // live: every scenario recorded first, two guests at once from saved boots
  // (docs/oracle.md; MEMHP_ORACLE_COLD=1 boots each guest, MEMHP_ORACLE_JOBS sets the guests)
  const liveTraces = new Map<string, OracleOutcome>();
  before(async () => {
    if (!live) return;
    const runnable = entries.filter(
      (e) =>
        liveFor(e) && !oracleUnavailable(e.scenario.machine.arch, { kernel: e.kernel, version: e.version }),
    );
    // a recording with an uncovered difference: once more, from a cold boot
    const { outcomes, firsts } = await runOracleAllAgainOnce(
      runnable.map((e) => ({ scenario: e.scenario, opts: { kernel: e.kernel, version: e.version } })),
      (i, trace) => compareEntry(runnable[i], trace, divs).unexplained.length > 0,
    );
    runnable.forEach((e, i) => liveTraces.set(e.kernelTraceFile, outcomes[i]));
    if (!firsts.size) return;
    const keep = packagePath(".tmp", "corpus-live");
    mkdirSync(keep, { recursive: true });
    for (const [i, first] of firsts) {
      const e = runnable[i];
      const r = compareEntry(e, first, divs);
      const file = path.join(keep, path.basename(e.kernelTraceFile).replace(/\.jsonl$/, ".first.jsonl"));
      writeFileSync(file, formatTrace(first));
      recordedAgain.push(
        `${entryLabel(e)} (first recording: ${file}):\n` +
          r.unexplained.map((d) => `    line ${d.line} [${d.rule}] ${d.message}`).join("\n"),
      );
    }
  });
  for (const e of entries) {
    it(entryLabel(e), async (t) => {
      const recorded: Trace = recordedTrace(e);
      let kernel: Trace = recorded;
      if (live && !liveFor(e))
        t.diagnostic(
          `${entryLabel(e)}: not in ${e.kernel === "patched" ? "MEMHP_ORACLE_LIVE_PATCHED(_ARCHES)" : "MEMHP_ORACLE_LIVE_VERSIONS"}; compared with the recorded trace`,
        );
      if (liveFor(e)) {
        const why = oracleUnavailable(e.scenario.machine.arch, { kernel: e.kernel, version: e.version });
        if (why) {
          fellBack.push(`${entryLabel(e)}: ${why}`);
          t.diagnostic(`${e.name}: the oracle cannot run it (${why}); compared with the recorded trace`);
        } else {
          const o = liveTraces.get(e.kernelTraceFile);
          assert.ok(o, "recorded live");
          if ("error" in o) throw o.error;
          kernel = o.trace;
        }
      }
      const r = compareEntry(e, kernel, divs);
      results.push(r);
      if (kernel !== recorded) recordedResults.push(compareEntry(e, recorded, divs));
      const lines = r.unexplained.map((d) => `  line ${d.line} [${d.rule}] ${d.message}`);
      assert.equal(
        r.unexplained.length,
        0,
        `${e.name}: differences not in docs/divergences.md:\n${lines.join("\n")}`,
      );
    });
  }

  it("every tolerance is the largest gap observed plus the kernel's own spread", () => {
    for (const d of divs.filter((x) => x.match.tolerance !== undefined)) {
      const name = blockName(d, divs);
      assert.equal(typeof d.match.observed, "number", `${name}: no observed gap`);
      assert.equal(
        d.match.tolerance,
        d.match.observed! + (d.match.spread ?? 0),
        `${name}: tolerance is not the largest gap observed plus the spread between recordings`,
      );
    }
  });

  if (live)
    it("a second recording was needed by few scenarios, and they are named", (t) => {
      for (const line of recordedAgain) t.diagnostic(`recorded again: ${line}`);
      assert.ok(
        recordedAgain.length <= MAX_RECORDED_AGAIN,
        `${recordedAgain.length} scenarios needed a second recording (at most ${MAX_RECORDED_AGAIN}):\n${recordedAgain.join("\n")}`,
      );
    });

  if (live)
    it("every scenario was recorded again on its kernel", () => {
      assert.deepEqual(
        fellBack,
        [],
        "MEMHP_ORACLE_LIVE=1, but these were compared with their recorded trace",
      );
    });

  it("every scenario was compared, every match block is needed, and the figures are printed", (t) => {
    const s = summarize(results);
    t.diagnostic(
      `corpus: ${s.scenarios} scenarios, ${s.statements} statements, ${s.compared} compared something, ` +
        `${s.agreeing} agree exactly; ${s.explainedDiffs} differences covered by docs/divergences.md ` +
        `(${[...s.byDivergence].map(([id, n]) => `${id} ${n}`).join(", ")}), ${s.unexplainedDiffs} not covered`,
    );
    assert.deepEqual(
      entries
        .filter((e) => !results.some((r) => r.name === e.name && r.version === e.version))
        .map((e) => entryLabel(e)),
      [],
      "scenarios not compared (an earlier test failed before comparing): no verdict on the entries",
    );
    // Left out in turn, each block must leave some difference uncovered: a block that
    // covers nothing, or only what other blocks cover too, is stale. A live run
    // judges the recorded traces too: a tolerance set from the guest's noise is
    // still needed when today's recording happened not to need it.
    const cases = [...results, ...recordedResults].map((r) => ({
      scenario: r.name,
      diffs: r.differences,
      a: r.model,
      b: r.kernel,
    }));
    const unjudged = divs.filter((d) => !appliesToSomeKernel(d, cases)).map((d) => blockName(d, divs));
    if (unjudged.length) t.diagnostic(`not judged (for kernels not run here): ${unjudged.join(", ")}`);
    assert.deepEqual(
      redundantBlocks(divs, cases).map((d) => blockName(d, divs)),
      [],
      "match blocks of docs/divergences.md that nothing needs",
    );
  });
  // The README's figures are the recorded traces' (a live run differs by the
  // guest's noise, so only the recorded comparison checks them).
  it(
    "the README's corpus figures are these",
    { skip: live ? "live traces: the README counts the recorded ones" : false },
    () => {
      // the README's first sentence counts 6.1's runs; the ones after it 6.12's and 7.2's
      const on61 = results.filter((r) => r.version === "6.1");
      const s = summarize(on61);
      const rfcNames = new Set(entries.filter((e) => e.kernel !== "stock").map((e) => e.name));
      const rfc = summarize(on61.filter((r) => rfcNames.has(r.name)));
      const readme = readFileSync(packagePath("README.md"), "utf8").replace(/\s+/g, " ");
      // 6.12's and 7.2's figures are Debian's kernels' (the series' builds of
      // those releases are the RFC corpus's, counted apart)
      const s612 = summarize(results.filter((r) => r.version === "6.12" && !rfcNames.has(r.name)));
      const m612 = /at the last count (\d+) of the (\d+) statements agree exactly there/.exec(readme);
      assert.ok(m612, "the README no longer states the 6.12 figures in the sentence this test reads");
      assert.deepEqual(m612.slice(1).map(Number), [s612.agreeing, s612.compared]);
      const s72 = summarize(results.filter((r) => r.version === "7.2" && !rfcNames.has(r.name)));
      const m72 =
        /7\.2 kernels the same scenarios (?:and `[a-z0-9-]+` )?agree exactly in (\d+) of their (\d+) statements/.exec(
          readme,
        );
      assert.ok(m72, "the README no longer states the 7.2 figures in the sentence this test reads");
      assert.deepEqual(m72.slice(1).map(Number), [s72.agreeing, s72.compared]);
      const m =
        /all (\d+) statement records compared something and (\d+) agree exactly \((\d+) of the RFC corpus's (\d+)\); the (\d+) differences on the other (\d+)/.exec(
          readme,
        );
      assert.ok(m, "the README no longer states the corpus figures in the sentence this test reads");
      assert.deepEqual(m.slice(1).map(Number), [
        s.compared,
        s.agreeing,
        rfc.agreeing,
        rfc.compared,
        s.explainedDiffs + s.unexplainedDiffs,
        s.compared - s.agreeing,
      ]);
      assert.equal(s.compared, s.statements, "the README says all statement records compared something");
    },
  );
});
