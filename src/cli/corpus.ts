// `memhp corpus`: the model against every recorded real-kernel trace of the corpus.

import type { Command } from "commander";
import {
  compareEntry,
  listAllCorpus,
  loadCorpusDivergences,
  recordedTrace,
  summarize,
} from "../scenario/corpus.js";
import { EXIT_DIFF, ExitCode } from "./io.js";

export function registerCorpus(program: Command): void {
  program
    .command("corpus")
    .description("compare the model with the recorded real-kernel traces of scenarios/oracle/")
    .option("--json", "print the figures as JSON")
    .option("-v, --verbose", "print every difference, covered or not")
    .addHelpText(
      "after",
      `
Every difference must be covered by docs/divergences.md; exit 1 when one is not.

Examples:
  memhp corpus
  memhp corpus --json`,
    )
    .action((opts: { json?: boolean; verbose?: boolean }) => {
      const divs = loadCorpusDivergences();
      const results = listAllCorpus().map((e) => {
        const r = compareEntry(e, recordedTrace(e), divs);
        if (!opts.json) {
          const covered = [...r.explained.values()].reduce((n, l) => n + l.length, 0);
          process.stdout.write(
            `${(e.kernel === "patched" ? `${r.name} (patched)` : r.name).padEnd(32)} ${r.arch.padEnd(7)} ${String(r.agreeing).padStart(3)}/${r.statements} agree` +
              `  ${covered} covered  ${r.unexplained.length} not covered\n`,
          );
          for (const d of r.unexplained) process.stdout.write(`  line ${d.line} [${d.rule}] ${d.message}\n`);
          if (opts.verbose)
            for (const [id, list] of r.explained)
              for (const d of list) process.stdout.write(`  line ${d.line} (${id}) ${d.message}\n`);
        }
        return r;
      });
      const s = summarize(results);
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({ ...s, byDivergence: Object.fromEntries(s.byDivergence) }, null, 2) + "\n",
        );
      } else {
        process.stdout.write(
          `\n${s.scenarios} scenarios, ${s.statements} statements: ${s.agreeing} agree exactly; ` +
            `${s.explainedDiffs} differences covered by docs/divergences.md, ${s.unexplainedDiffs} not covered\n`,
        );
        for (const [id, n] of s.byDivergence) process.stdout.write(`  ${id}: ${n}\n`);
      }
      if (s.unexplainedDiffs) throw new ExitCode(EXIT_DIFF);
    });
}
