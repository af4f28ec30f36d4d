// `memhp export --sysroot DIR`: the model's memory-hotplug files as plain files
// (src/tools/sysroot.ts), for `lsmem --sysroot DIR`, `chmem` and `memhp import`.

import type { Command } from "commander";
import type { Kernel } from "../kernel/kernel.js";
import { runScenarioKernel } from "../scenario/run.js";
import { readSnapshot, restoreSnapshot, SnapshotError } from "../snapshot/snapshot.js";
import { DumpError, exportModel } from "../tools/sysroot.js";
import { loadScenario, parseSeed, UsageError } from "./io.js";

export function registerExport(program: Command): void {
  program
    .command("export")
    .description("write the model's memory sysfs and procfs files as plain files under a folder (a sysroot)")
    .argument("[file]", "scenario file (.mhp): export the machine it leaves")
    .requiredOption("--sysroot <dir>", "the folder to write (new or empty)")
    .option("--snapshot <snap>", "export the machine of a snapshot instead of a scenario")
    .option("--seed <n>", "seed for every random choice", parseSeed, 1)
    .addHelpText(
      "after",
      `
Writes DIR/sys/devices/system/memory, DIR/sys/devices/system/node (with their
symlinks), DIR/proc/iomem, meminfo, zoneinfo and cmdline, as \`cat\` shows them.
\`memhp oracle --export-sysroot DIR FILE\` writes the real kernel's the same way
(docs/tools.md).

Examples:
  memhp export --sysroot /tmp/m scenarios/examples/x86-dimm.mhp && lsmem --sysroot /tmp/m -a
  memhp export --sysroot /tmp/s --snapshot s.snap`,
    )
    .action((file: string | undefined, opts: { sysroot: string; snapshot?: string; seed: number }) => {
      if ((file === undefined) === (opts.snapshot === undefined))
        throw new UsageError("export: give a scenario file or --snapshot FILE (one of them)");
      let k: Kernel;
      if (opts.snapshot !== undefined) {
        try {
          k = restoreSnapshot(readSnapshot(opts.snapshot), opts.snapshot).kernel;
        } catch (e) {
          if (e instanceof SnapshotError) throw new UsageError(e.message);
          throw e;
        }
      } else k = runScenarioKernel(loadScenario(file as string), opts.seed);
      try {
        const n = exportModel(k, opts.sysroot);
        process.stderr.write(`memhp: exported ${n.files} files and ${n.links} symlinks to ${opts.sysroot}\n`);
      } catch (e) {
        if (e instanceof DumpError) throw new UsageError(e.message);
        throw e;
      }
    });
}
