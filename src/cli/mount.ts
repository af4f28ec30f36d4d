// `memhp mount DIR`: a live FUSE file system over a running model machine
// (src/tools/mount.ts).

import { Option, type Command } from "commander";
import type { Kernel } from "../kernel/kernel.js";
import { readSnapshot, restoreSnapshot, SnapshotError } from "../snapshot/snapshot.js";
import { fuseUnavailable, mountModel } from "../tools/mount.js";
import { addMachineOptions, sessionFromOptions, type MachineCliOptions } from "./machine-options.js";
import { EXIT_USAGE, ExitCode, UsageError } from "./io.js";

export function registerMount(program: Command): void {
  const cmd = program
    .command("mount")
    .description("mount a running model machine as a FUSE file system: reads show its files, writes go to it")
    .argument("<dir>", "an existing empty directory to mount on");
  addMachineOptions(cmd)
    .addOption(new Option("--snapshot <snap>", "boot the machine of a snapshot").conflicts(["scenario"]))
    .addHelpText(
      "after",
      `
DIR/sys/devices/system/memory, DIR/proc/meminfo ... are the model's; \`echo
online > DIR/sys/devices/system/memory/memory32/state\` onlines a block and a
refused write fails with the kernel's errno. Runs until Ctrl-C (or SIGTERM),
then unmounts. If the process is killed, a watchdog unmounts DIR; should a
mount ever stay behind: fusermount3 -u DIR (or umount -l DIR).
Needs root (or: unshare -rm memhp mount DIR) and /dev/fuse.

Examples:
  memhp mount /mnt/m --scenario scenarios/examples/x86-dimm.mhp
  lsmem --sysroot /mnt/m -a
  memhp mount /mnt/m --snapshot s.snap`,
    )
    .action(async (dir: string, o: MachineCliOptions & { snapshot?: string }) => {
      const why = fuseUnavailable();
      if (why) {
        process.stderr.write(`memhp mount: ${why}\n`);
        throw new ExitCode(EXIT_USAGE);
      }
      let k: Kernel;
      let describe: string;
      if (o.snapshot !== undefined) {
        try {
          k = restoreSnapshot(readSnapshot(o.snapshot), o.snapshot).kernel;
        } catch (e) {
          if (e instanceof SnapshotError) throw new UsageError(e.message);
          throw e;
        }
        describe = `snapshot ${o.snapshot}`;
      } else {
        const s = sessionFromOptions(o);
        k = s.k;
        describe = s.describeMachine();
      }
      let m;
      try {
        m = mountModel(dir, () => k, describe);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      process.stderr.write(
        `memhp: ${describe} mounted at ${dir}; Ctrl-C unmounts (if killed: fusermount3 -u ${dir})\n`,
      );
      const stop = () => void m.close();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      await m.server.done;
      await m.close();
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      process.stderr.write(
        `memhp: unmounted ${dir} (${m.stats.reads} reads, ${m.stats.writes} writes, ${m.stats.failedWrites} refused)\n`,
      );
    });
}
