// The options `memhp shell` and `memhp serve` share to say which machine to boot:
// --arch/--mem/--maxmem/--slots/--cmdline/--vmem, or --scenario FILE; --kernel with either.

import { Option, type Command } from "commander";
import { ScenarioError } from "../scenario/parse.js";
import { ShellSession } from "../shell/session.js";
import {
  DEFAULT_MACHINE,
  MachineOptionError,
  machineScenarioText,
  withKernel,
  type MachineOptions,
} from "../shell/machine.js";
import { parseSeed, Progress, readText, UsageError } from "./io.js";
import { DEFAULT_KERNEL_VERSION, KERNEL_VERSIONS } from "../kernel/linux_version.js";

export interface MachineCliOptions extends MachineOptions {
  scenario?: string;
  seed: number;
  quiet?: boolean;
}

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];
const MACHINE_KEYS = ["arch", "mem", "maxmem", "slots", "cmdline", "vmem"];

export function addMachineOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--arch <arch>", `x86_64 or arm64 (default ${DEFAULT_MACHINE.arch})`))
    .addOption(new Option("--mem <size>", `boot memory (default ${DEFAULT_MACHINE.mem})`))
    .addOption(
      new Option("--maxmem <size>", `memory the machine can grow to (default ${DEFAULT_MACHINE.maxmem})`),
    )
    .addOption(new Option("--slots <n>", "DIMM slots (default 4 when maxmem > mem)"))
    .addOption(
      new Option(
        "--kernel <version>",
        `the Linux release the model runs: ${KERNEL_VERSIONS.join(", ")} (default ${DEFAULT_KERNEL_VERSION}; with --scenario: instead of the file's)`,
      ),
    )
    .addOption(
      new Option("--cmdline <words>", 'kernel command line, e.g. "memhp_default_state=online_movable"'),
    )
    .addOption(
      new Option("--vmem <id:size>", "a virtio-mem device present from boot (repeatable)").argParser(collect),
    )
    .addOption(
      new Option(
        "-s, --scenario <file>",
        "boot the machine of a scenario file and run its statements first",
      ).conflicts(MACHINE_KEYS),
    )
    .option("--seed <n>", "seed for every random choice", parseSeed, 1)
    .option("-q, --quiet", "no progress on stderr");
}

/** Boot the machine the options describe; a bad option or scenario is a UsageError. */
export function sessionFromOptions(
  o: MachineCliOptions,
  extra: { columns?: number; colour?: boolean } = {},
): ShellSession {
  const seed = o.seed;
  let text: string;
  let file: string;
  try {
    if (o.scenario !== undefined) {
      text = readText(o.scenario);
      if (o.kernel !== undefined) text = withKernel(text, o.kernel);
      file = o.scenario;
    } else {
      text = machineScenarioText({ ...o, vmem: o.vmem });
      file = "<options>";
    }
  } catch (e) {
    if (e instanceof MachineOptionError) throw new UsageError(e.message);
    throw e;
  }
  const progress = new Progress("memhp", { quiet: o.quiet });
  progress.step(
    o.scenario ? `booting the machine of ${o.scenario} and running its statements…` : "booting the model…",
  );
  try {
    return new ShellSession(text, file, { seed, ...extra });
  } catch (e) {
    if (e instanceof ScenarioError) {
      // Options become scenario text: point at the option, not at a line of it.
      throw new UsageError(o.scenario ? e.toString() : `bad machine options: ${e.message}`);
    }
    throw e;
  } finally {
    progress.done();
  }
}
