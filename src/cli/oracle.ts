// `memhp oracle FILE`: the same scenario on the real Linux 6.1, 6.12 or 7.2 kernel under QEMU.

import { Option, type Command } from "commander";
import { OracleError, oracleUnavailable, runOracle } from "../oracle/run.js";
import { formatTrace } from "../scenario/trace.js";
import { runOracleExport } from "../tools/oracle-export.js";
import type { OracleKernel } from "../oracle/cache.js";
import { KERNEL_VERSIONS, isKernelVersion } from "../kernel/linux_version.js";
import { EXIT_DIFF, EXIT_USAGE, ExitCode, loadScenario, writeOut } from "./io.js";

export function registerOracle(program: Command): void {
  program
    .command("oracle")
    .description(
      "run a scenario file on Debian's Linux 6.1, 6.12 or 7.2 kernel under QEMU (TCG) and print its trace",
    )
    .argument("<file>", "scenario file (.mhp)")
    .option("-t, --trace <out>", "write the trace to a file instead of stdout")
    .option("--console <log>", "also write the guest console to this file")
    .addOption(
      new Option(
        "--kernel <which>",
        "stock: Debian's cloud kernel of the scenario's release (machine ... kernel=, default 6.1); patched: the RFC patch series' build of it (linux-patches/); 6.1, 6.12 or 7.2: that release instead. Default: the scenario's own (patched for machine ... rfc=v2)",
      ).choices(["stock", "patched", ...KERNEL_VERSIONS]),
    )
    .option("--export-sysroot <dir>", "also export the guest's memory files at the end (docs/tools.md)")
    .option("-q, --quiet", "no progress on stderr")
    .addHelpText(
      "after",
      `
Needs QEMU and the kernel: bash scripts/oracle-setup.sh (installs them, once;
\`scripts/oracle-setup.sh all 6.12\` or \`all 7.2\` for Debian 13's 6.12 or sid's 7.2 kernels).
--kernel patched boots the RFC-patched build of linux-patches/build.sh ARCH; its test
module carries out the scenario's \`call\` statements (linux-patches/README.md).

Examples:
  memhp oracle scenarios/oracle/x86-dimm-add-del.mhp --trace kernel.jsonl
  memhp run scenarios/oracle/x86-dimm-add-del.mhp --trace model.jsonl
  memhp diff model.jsonl kernel.jsonl -s scenarios/oracle/x86-dimm-add-del.mhp
  memhp oracle --kernel 6.12 scenarios/oracle/x86-dimm-add-del.mhp
  memhp oracle --kernel patched scenarios/oracle-rfc/x86-rfc-path.mhp`,
    )
    .action(
      async (
        file: string,
        opts: {
          trace?: string;
          console?: string;
          quiet?: boolean;
          kernel?: OracleKernel | (typeof KERNEL_VERSIONS)[number];
          exportSysroot?: string;
        },
      ) => {
        const sc = loadScenario(file);
        // an rfc=v2 machine runs on the series' build unless Debian's kernel is asked for
        const kernel: OracleKernel =
          opts.kernel === "patched" || (opts.kernel !== "stock" && sc.machine.rfc !== undefined)
            ? "patched"
            : "stock";
        const version =
          opts.kernel !== undefined && isKernelVersion(opts.kernel) ? opts.kernel : sc.machine.kernel;
        const why = oracleUnavailable(sc.machine.arch, { kernel, version });
        if (why) {
          process.stderr.write(`memhp oracle: ${why}\n`);
          throw new ExitCode(EXIT_USAGE);
        }
        const log = opts.quiet ? undefined : (l: string) => process.stderr.write(`${l}\n`);
        try {
          const o = { log, consoleLog: opts.console, kernel, version };
          const trace =
            opts.exportSysroot === undefined
              ? await runOracle(sc, o)
              : (await runOracleExport(sc, opts.exportSysroot, o)).trace;
          writeOut(formatTrace(trace), opts.trace);
        } catch (e) {
          if (e instanceof OracleError) {
            process.stderr.write(`memhp oracle: ${e.message}\n${e.console}\n`);
            throw new ExitCode(EXIT_DIFF);
          }
          throw e;
        }
      },
    );
}
