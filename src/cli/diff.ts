// `memhp diff A B`: compare two traces with the contract's rules, and classify the
// differences with docs/divergences.md (covered by an entry, or not).

import type { Command } from "commander";
import { existsSync } from "node:fs";
import path from "node:path";
import { diffTraces, formatDifferences, type Difference } from "../scenario/diff.js";
import { readTrace } from "../scenario/trace.js";
import { blockName, classify, parseDivergences, type Divergence } from "../scenario/divergences.js";
import { packagePath, packageRoot } from "../paths.js";
import { EXIT_DIFF, ExitCode, loadScenario, paint, readText, UsageError, useColour } from "./io.js";

const RED = 31;
const GREEN = 32;
const YELLOW = 33;
const BOLD = 1;

/** docs/divergences.md of the project, when the command runs inside it. */
function defaultDivergences(): string | undefined {
  const file = packagePath("docs", "divergences.md");
  const rel = path.relative(packageRoot(), process.cwd());
  const inside = rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
  return inside && existsSync(file) ? file : undefined;
}

/** The scenario's name the divergences' `scenarios` patterns see: the scenario file's, else trace b's, up to its first dot. */
function scenarioName(scenarioFile: string | undefined, b: string): string {
  const base = path.basename(scenarioFile ?? b);
  const dot = base.indexOf(".");
  return dot < 0 ? base : base.slice(0, dot);
}

export function registerDiff(program: Command): void {
  program
    .command("diff")
    .description(
      "compare two traces; exit 0 when they agree or every difference is a known divergence, 1 otherwise",
    )
    .argument("<a>", "first trace (JSON Lines): the model's")
    .argument("<b>", "second trace (JSON Lines): the kernel's")
    .option(
      "-s, --scenario <file>",
      "the scenario file: each difference printed under its line, statements neither trace has reported",
    )
    .option(
      "--divergences <file>",
      "classify the differences with this list of known divergences (default: docs/divergences.md when run inside the project)",
    )
    .option("--no-divergences", "classify nothing: every difference counts")
    .option(
      "--json",
      "print the differences as JSON (an array; empty when the traces agree); a covered one has coveredBy",
    )
    .addHelpText(
      "after",
      `
Differences a known divergence covers (its match block names the rule, the item and,
for numbers, a tolerance the gap is within) are printed apart, each with the entry
that covers it; they do not make the exit code 1. The scenario's name, which entries
may be limited to, is the scenario file's (or trace b's) up to its first dot.

Examples:
  memhp run scenarios/oracle/x86-dimm-add-del.mhp --trace model.jsonl
  memhp diff model.jsonl scenarios/oracle/x86-dimm-add-del.linux-x86_64.jsonl \\
      --scenario scenarios/oracle/x86-dimm-add-del.mhp
  memhp diff model.jsonl kernel.jsonl --no-divergences --json`,
    )
    .action(
      (a: string, b: string, opts: { scenario?: string; json?: boolean; divergences?: string | false }) => {
        const load = (f: string) => {
          try {
            return readTrace(readText(f));
          } catch (e) {
            if (e instanceof UsageError) throw e;
            throw new UsageError(`${f}: ${(e as Error).message}`);
          }
        };
        const divFile = opts.divergences === false ? undefined : (opts.divergences ?? defaultDivergences());
        let divs: Divergence[] = [];
        if (divFile !== undefined) {
          try {
            divs = parseDivergences(readText(divFile));
          } catch (e) {
            if (e instanceof UsageError) throw e;
            throw new UsageError(`${divFile}: ${(e as Error).message}`);
          }
        }
        const ta = load(a);
        const tb = load(b);
        const scenario = opts.scenario ? loadScenario(opts.scenario) : undefined;
        const diffs = diffTraces(ta, tb, scenario);
        const { covered, unexplained } = classify(divs, scenarioName(opts.scenario, b), diffs, ta, tb);
        const by = new Map<Difference, string>(covered.map((c) => [c.diff, blockName(c.by, divs)]));
        const scenarioText = opts.scenario ? readText(opts.scenario) : undefined;
        const colour = useColour();
        const bold = (text: string) => text.replace(/^(line \d+:.*)$/gm, (l) => paint(BOLD, l, colour));
        const plural = (n: number, s: string) => `${n} ${s}${n === 1 ? "" : "s"}`;
        if (opts.json) {
          const out = diffs.map((d) => (by.has(d) ? { ...d, coveredBy: by.get(d) } : d));
          process.stdout.write(JSON.stringify(out, null, 2) + "\n");
        } else {
          if (unexplained.length) process.stdout.write(bold(formatDifferences(unexplained, scenarioText)));
          if (covered.length) {
            const list = covered.map(({ diff }) => ({
              ...diff,
              message: `${diff.message} (${by.get(diff)})`,
            }));
            process.stdout.write(
              `${unexplained.length ? "\n" : ""}covered by ${path.relative(process.cwd(), divFile!) || divFile}:\n` +
                bold(formatDifferences(list, scenarioText)),
            );
          }
          const summary =
            diffs.length === 0
              ? paint(GREEN, "traces agree", colour)
              : unexplained.length === 0
                ? paint(
                    YELLOW,
                    `${plural(covered.length, "difference")}, every one a known divergence`,
                    colour,
                  )
                : paint(
                    RED,
                    covered.length
                      ? `${plural(unexplained.length, "difference")} not covered, ${covered.length} covered`
                      : plural(unexplained.length, "difference"),
                    colour,
                  );
          process.stdout.write(`${diffs.length ? "\n" : ""}${summary}\n`);
        }
        if (unexplained.length) throw new ExitCode(EXIT_DIFF);
      },
    );
}
