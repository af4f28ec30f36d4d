// `memhp import`: a real machine's memory layout as a scenario the model boots
// (src/tools/import.ts).

import { Option, type Command } from "commander";
import { parseSize } from "../scenario/size.js";
import { ImportError, importMachine } from "../tools/import.js";
import type { Arch } from "../scenario/ast.js";
import { UsageError, writeOut } from "./io.js";

export function registerImport(program: Command): void {
  program
    .command("import")
    .description("capture this machine's (or a sysroot's) memory layout as a scenario the model can boot")
    .option("--sysroot <dir>", "read DIR/sys and DIR/proc (an export) instead of this machine's")
    .addOption(
      new Option("--arch <arch>", "the machine's architecture (default: guessed)").choices([
        "x86_64",
        "arm64",
      ]),
    )
    .option("--maxmem <size>", "what the machine can grow to (sysfs does not show it)")
    .option("--slots <n>", "DIMM slots (default 4)")
    .option("-o, --out <file>", "write the scenario to a file instead of stdout")
    .addHelpText(
      "after",
      `
Reads /sys/devices/system/memory, /sys/devices/system/node, /proc/iomem,
/proc/zoneinfo and /proc/cmdline; works without root (then /proc/iomem has no
addresses and DIMMs are guessed from runs of blocks). The scenario holds the
machine, the memory-hotplug words of the command line, one dimm-add per
hot-added range and the writes that put every block in its state and zone;
docs/tools.md says what cannot be imported.

Examples:
  memhp import -o here.mhp && memhp shell --scenario here.mhp
  memhp oracle --export-sysroot /tmp/k scenarios/examples/x86-dimm.mhp
  memhp import --sysroot /tmp/k | memhp run /dev/stdin`,
    )
    .action((o: { sysroot?: string; arch?: Arch; maxmem?: string; slots?: string; out?: string }) => {
      let maxmemBytes: number | undefined;
      if (o.maxmem !== undefined) {
        try {
          maxmemBytes = parseSize(o.maxmem);
        } catch (e) {
          throw new UsageError(`--maxmem: ${(e as Error).message}`);
        }
      }
      const slots = o.slots === undefined ? undefined : Number(o.slots);
      if (slots !== undefined && !(Number.isInteger(slots) && slots >= 0))
        throw new UsageError(`--slots: not a count: ${o.slots}`);
      try {
        const r = importMachine({ sysroot: o.sysroot, arch: o.arch, maxmemBytes, slots });
        for (const n of r.notes) process.stderr.write(`memhp import: ${n}\n`);
        writeOut(r.scenario, o.out);
      } catch (e) {
        if (e instanceof ImportError) throw new UsageError(e.message);
        throw e;
      }
    });
}
