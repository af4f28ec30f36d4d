// `memhp mount DIR`: a running model machine as a live FUSE file system
// (./fuse.ts over ./model-fs.ts): DIR/sys/... and DIR/proc/... as the model
// shows them, writes applied to the model. Unmounted on SIGINT/SIGTERM, and by a
// watchdog when this process dies any other way.

import fs from "node:fs";
import type { Kernel } from "../kernel/kernel.js";
import { FuseServer, unmount, unmountWatchdog } from "./fuse.js";
import { MARKER, modelFsOps, type ModelFsStats } from "./model-fs.js";

export interface MountedModel {
  dir: string;
  server: FuseServer;
  stats: ModelFsStats;
  /** the marker file's text (MARKER under DIR) */
  marker: string;
  /** unmount and wait for the server to end */
  close(): Promise<void>;
}

/** Why a FUSE mount cannot be made here, or undefined. */
export function fuseUnavailable(): string | undefined {
  if (!fs.existsSync("/dev/fuse")) return "no /dev/fuse (FUSE is not available)";
  try {
    fs.closeSync(fs.openSync("/dev/fuse", "r+"));
  } catch (e) {
    return `cannot open /dev/fuse: ${(e as Error).message}`;
  }
  if (process.getuid?.() !== 0) return "mounting needs root (or run under `unshare -rm`)";
  return undefined;
}

/** Mount the machine `machine()` on `dir` (an existing directory). */
export function mountModel(dir: string, machine: () => Kernel, describe: string): MountedModel {
  if (!fs.statSync(dir).isDirectory()) throw new Error(`${dir}: not a directory`);
  const marker = `memhp model mounted at ${fs.realpathSync(dir)} by pid ${process.pid}: ${describe}\n`;
  const ops = modelFsOps(machine, marker);
  const server = FuseServer.mount(dir, ops);
  const watchdog = unmountWatchdog(dir);
  let closing: Promise<void> | undefined;
  return {
    dir,
    server,
    stats: ops.stats,
    marker,
    close() {
      closing ??= (async () => {
        await unmount(dir);
        await server.done;
        watchdog.kill();
      })();
      return closing;
    },
  };
}

export { MARKER };
