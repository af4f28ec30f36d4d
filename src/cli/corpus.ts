// `memhp corpus`: the model against every recorded real-kernel trace of the corpus.

import type { Command } from "commander";
import {
  blockEvidence,
  compareTracesOf,
  entryModelTrace,
  entryLabel,
  listAllCorpus,
  loadCorpusDivergences,
  recordedTrace,
  summarize,
  traceIn,
  type CorpusEntry,
  type CorpusResult,
} from "../scenario/corpus.js";
import { EXIT_DIFF, ExitCode, readText, UsageError } from "./io.js";
import { parseDivergences, type Divergence } from "../scenario/divergences.js";
import { existsSync } from "node:fs";
import type { Trace } from "../scenario/trace.js";

interface CorpusOpts {
  json?: boolean;
  verbose?: boolean;
  traces?: string[];
  recorded?: boolean;
  divergences?: string;
}

export function registerCorpus(program: Command): void {
  program
    .command("corpus")
    .description(
      "compare the model with the recorded real-kernel traces of the corpus (scenarios/oracle*/: 6.1, 6.12, 7.2)",
    )
    .option("--json", "print the figures as JSON")
    .option("--divergences <file>", "the list of known divergences (default: docs/divergences.md)")
    .option("-v, --verbose", "print every difference, covered or not")
    .option(
      "--traces <dir...>",
      "compare with the traces in DIR (NAME.jsonl, as `memhp oracle -t` writes them) instead of the recorded ones; several DIRs: each in turn",
    )
    .option("--recorded", "with --traces: the recorded traces too, as one more source")
    .addHelpText(
      "after",
      `
Every difference must be covered by docs/divergences.md; exit 1 when one is not.
A statement agrees when it compared at least one value (a number, an errno, a
System RAM line...) and found no difference. The table at the end gives, per
match block of docs/divergences.md, how many differences it covered and the
largest gap among them and, with several DIRs, the spread: the largest
difference between two recordings' gaps at one reading (the evidence its
tolerance is set from: the largest gap plus the spread). A scenario
with no trace in a DIR is left out of that DIR's comparison and said so.

Examples:
  memhp corpus
  memhp corpus --json
  memhp corpus --traces live1 live2 live3
  memhp corpus --recorded --traces live1 live2 --divergences loose.md`,
    )
    .action((opts: CorpusOpts) => {
      let divs: Divergence[];
      try {
        divs =
          opts.divergences === undefined
            ? loadCorpusDivergences()
            : parseDivergences(readText(opts.divergences));
      } catch (e) {
        if (e instanceof UsageError) throw e;
        throw new UsageError(`${opts.divergences}: ${(e as Error).message}`);
      }
      const entries = listAllCorpus();
      for (const d of opts.traces ?? []) if (!existsSync(d)) throw new UsageError(`${d}: no such directory`);
      const sources: (string | undefined)[] =
        opts.traces === undefined ? [undefined] : [...(opts.recorded ? [undefined] : []), ...opts.traces];
      const results: CorpusResult[] = [];
      const models = new Map<CorpusEntry, Trace>();
      const out = (s: string) => {
        if (!opts.json) process.stdout.write(s);
      };
      for (const dir of sources) {
        if (opts.traces !== undefined) out(`${dir ?? "recorded"}:\n`);
        for (const e of entries) {
          const kernel = dir === undefined ? recordedTrace(e) : traceIn(dir, e);
          const label = entryLabel(e);
          if (kernel === undefined) {
            out(`${label.padEnd(32)} no trace in ${dir}: left out\n`);
            continue;
          }
          // the model runs once per scenario, however many trace sources there are
          const model = models.get(e) ?? entryModelTrace(e);
          models.set(e, model);
          const r = compareTracesOf(e, model, kernel, divs);
          results.push(r);
          const covered = r.covered.length;
          out(
            `${label.padEnd(32)} ${r.arch.padEnd(7)} ${String(r.agreeing).padStart(3)}/${r.statements} agree` +
              `  ${covered} covered  ${r.unexplained.length} not covered\n`,
          );
          for (const d of r.unexplained) out(`  line ${d.line} [${d.rule}] ${d.message}\n`);
          if (opts.verbose)
            for (const { diff: d, by } of r.covered) out(`  line ${d.line} (${by.id}) ${d.message}\n`);
        }
      }
      const s = summarize(results);
      const evidence = blockEvidence(results, divs);
      if (opts.json) {
        process.stdout.write(
          JSON.stringify(
            {
              ...s,
              byDivergence: Object.fromEntries(s.byDivergence),
              blocks: Object.fromEntries(evidence),
            },
            null,
            2,
          ) + "\n",
        );
      } else {
        process.stdout.write(
          `\n${s.scenarios} scenario runs, ${s.statements} statements, ${s.compared} compared something: ` +
            `${s.agreeing} agree exactly; ${s.explainedDiffs} differences covered by docs/divergences.md, ` +
            `${s.unexplainedDiffs} not covered\n`,
        );
        // per release, when more than one was compared
        const versions = [...new Set(results.map((r) => r.version))];
        if (versions.length > 1)
          for (const v of versions) {
            const sv = summarize(results.filter((r) => r.version === v));
            process.stdout.write(
              `  on ${v}: ${sv.scenarios} scenario runs, ${sv.compared} compared something, ` +
                `${sv.agreeing} agree exactly, ${sv.explainedDiffs} covered, ${sv.unexplainedDiffs} not covered\n`,
            );
          }
        for (const [name, ev] of evidence)
          process.stdout.write(
            `  ${name.padEnd(28)} ${String(ev.covered).padStart(4)} covered` +
              (ev.tolerance === undefined
                ? "  (no tolerance)"
                : `  largest gap ${ev.largestGap ?? "-"}` +
                  (ev.spread === undefined ? "" : `, spread ${ev.spread}`) +
                  ` of tolerance ${ev.tolerance}`) +
              "\n",
          );
      }
      if (s.unexplainedDiffs) throw new ExitCode(EXIT_DIFF);
    });
}
