// The model against the real kernel: every corpus scenario (scenarios/oracle/ on
// Debian's kernels, scenarios/oracle-rfc/ on the RFC-patched kernel of kernel/)
// runs on the model and is diffed against the kernel's trace; every difference must
// be covered by an entry of docs/divergences.md. With MEMHP_ORACLE_LIVE=1 (as
// .ci/run sets it) the kernel traces are recorded again on the real kernels under
// QEMU first, so the comparison is with what the kernel does today.

import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
  compareEntry,
  listAllCorpus,
  loadCorpusDivergences,
  recordedTrace,
  summarize,
  type CorpusResult,
} from "../src/scenario/corpus.js";
import { oracleUnavailable } from "../src/oracle/run.js";
import { runOracleAll, type OracleOutcome } from "../src/oracle/parallel.js";
import { diffTraces, readTrace } from "../src/scenario/diff.js";
import type { Trace } from "../src/scenario/trace.js";
import { formatTrace } from "../src/scenario/trace.js";

const live = process.env.MEMHP_ORACLE_LIVE === "1";
const divs = loadCorpusDivergences();
const entries = listAllCorpus();
const results: CorpusResult[] = [];

describe(`oracle corpus (${live ? "recorded again on the real kernels" : "recorded traces"})`, () => {
  // live: every scenario recorded first, two guests at once from saved boots
  // (docs/oracle.md; MEMHP_ORACLE_COLD=1 boots each guest, MEMHP_ORACLE_JOBS sets the guests)
  const liveTraces = new Map<string, OracleOutcome>();
  before(async () => {
    if (!live) return;
    const runnable = entries.filter((e) => !oracleUnavailable(e.scenario.machine.arch, { kernel: e.kernel }));
    const out = await runOracleAll(
      runnable.map((e) => ({ scenario: e.scenario, opts: { kernel: e.kernel } })),
    );
    runnable.forEach((e, i) => liveTraces.set(e.file, out[i]));
  });
  for (const e of entries) {
    it(e.name, async (t) => {
      let kernel: Trace = recordedTrace(e);
      if (live) {
        const why = oracleUnavailable(e.scenario.machine.arch, { kernel: e.kernel });
        if (why) return t.skip(why);
        const o = liveTraces.get(e.file);
        assert.ok(o, "recorded live");
        if ("error" in o) throw o.error;
        kernel = o.trace;
      }
      const r = compareEntry(e, kernel, divs);
      results.push(r);
      const lines = r.unexplained.map((d) => `  line ${d.line} [${d.rule}] ${d.message}`);
      assert.equal(
        r.unexplained.length,
        0,
        `${e.name}: differences not in docs/divergences.md:\n${lines.join("\n")}`,
      );
    });
  }

  it("every divergence entry covers something, and the figures are printed", (t) => {
    const s = summarize(results);
    t.diagnostic(
      `corpus: ${s.scenarios} scenarios, ${s.statements} statements, ${s.agreeing} agree exactly; ` +
        `${s.explainedDiffs} differences covered by docs/divergences.md (${[...s.byDivergence]
          .map(([id, n]) => `${id} ${n}`)
          .join(", ")}), ${s.unexplainedDiffs} not covered`,
    );
    if (results.length < entries.length) return; // a scenario was skipped: no staleness verdict
    const stale = divs.filter((d) => !s.byDivergence.has(d.id)).map((d) => d.id);
    assert.deepEqual(stale, [], "divergence entries that cover nothing");
  });
});

describe("memhp diff catches a wrong model trace", () => {
  const e = entries.find((x) => x.name === "x86-dimm-add-del");
  it("a wrong errno and a missing System RAM line are reported", () => {
    assert.ok(e, "corpus scenario x86-dimm-add-del");
    const kernel = recordedTrace(e);
    const wrong = readTrace(formatTrace(kernel));
    const recs = wrong.records as Record<string, unknown>[];
    const w = recs.find((r) => r.op === "write" && r.result === "EINVAL");
    assert.ok(w);
    w.result = "EBUSY";
    const io = recs.find(
      (r) => r.op === "read" && r.path === "/proc/iomem" && String(r.value).includes("100000000-13fffffff"),
    );
    assert.ok(io);
    io.value = String(io.value)
      .split("\n")
      .filter((l) => !l.includes("100000000-13fffffff"))
      .join("\n");
    const diffs = diffTraces(wrong, kernel, e.scenario);
    assert.ok(diffs.some((d) => d.line === w.line && d.item === "result"));
    assert.ok(diffs.some((d) => d.line === io.line && d.rule === "iomem-system-ram"));
  });
});
