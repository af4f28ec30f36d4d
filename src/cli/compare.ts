// `memhp compare FILE`: one scenario on each model release (6.1, 6.12), and
// where the later ones differ from the first: what changes for a driver.

import type { Command } from "commander";
import { formatDifferences } from "../scenario/diff.js";
import { compareVersions, parseVersionList } from "../scenario/versions.js";
import { KERNEL_VERSIONS } from "../kernel/linux_version.js";
import { EXIT_DIFF, ExitCode, loadScenarioText, parseSeed, UsageError } from "./io.js";

export function registerCompare(program: Command): void {
  program
    .command("compare")
    .description("run a scenario on each modelled Linux release and print where they differ")
    .argument("<file>", "scenario file (.mhp); - reads it from stdin")
    .option("--kernel <list>", "the releases, comma-separated, the first the base", KERNEL_VERSIONS.join(","))
    .option("--seed <n>", "seed for every random choice", parseSeed, 1)
    .option("--json", "print {base, others: [{version, differences}]} as JSON")
    .addHelpText(
      "after",
      `
The scenario runs once per release, its \`machine ... kernel=\` set to each
(docs/kernel-versions.md lists what differs and why); every later release's
trace is compared with the first's by the rules \`memhp diff\` uses. Exit 0 when
all agree, 1 when a release differs.

Examples:
  memhp compare scenarios/oracle/x86-v612-auto-online.mhp
  memhp compare --kernel 6.12,6.1 scenarios/oracle/x86-memmap-on-memory.mhp`,
    )
    .action((file: string, opts: { kernel: string; seed: number; json?: boolean }) => {
      let versions;
      try {
        versions = parseVersionList(opts.kernel);
      } catch (e) {
        throw new UsageError(`--kernel ${(e as Error).message}`);
      }
      const { scenario, text } = loadScenarioText(file);
      const c = compareVersions(scenario, versions, opts.seed);
      const differ = c.others.some((o) => o.differences.length > 0);
      if (opts.json) {
        process.stdout.write(
          JSON.stringify(
            {
              base: c.base.version,
              others: c.others.map((o) => ({ version: o.run.version, differences: o.differences })),
            },
            null,
            2,
          ) + "\n",
        );
      } else {
        for (const o of c.others) {
          const n = o.differences.length;
          process.stdout.write(
            n === 0
              ? `${c.base.version} and ${o.run.version} agree\n`
              : `${c.base.version} (a) and ${o.run.version} (b) differ: ${n} difference${n === 1 ? "" : "s"}\n` +
                  formatDifferences(o.differences, text),
          );
        }
      }
      if (differ) throw new ExitCode(EXIT_DIFF);
    });
}
