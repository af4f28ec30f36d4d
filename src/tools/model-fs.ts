// The model's sysfs/procfs (src/fs/kernfs.ts) as the operations of a FUSE file
// system (./fuse.ts): what `cat`, `ls` and `echo … >` see on the mount is what
// they see in `memhp shell`, with the kernel's errno on a refused open or
// write. One file is added that no kernel has: MARKER, whose content names the
// mount, so a test can prove a bind mount shows the model before it writes.

import { EACCES, EISDIR, ENOENT, ENOTDIR, EIO, EINVAL } from "../errno.js";
import type { Kernel } from "../kernel/kernel.js";
import type { FuseAttr, FuseOps } from "./fuse.js";

export const MARKER_DIR = "/sys/devices/system/memory";
export const MARKER_NAME = ".memhp-model";
export const MARKER = `${MARKER_DIR}/${MARKER_NAME}`;

export interface ModelFsStats {
  reads: number;
  writes: number;
  failedWrites: number;
}

/** FUSE operations over the current kernel of `machine` (a getter: a shell may load a snapshot). */
export function modelFsOps(machine: () => Kernel, markerText: string): FuseOps & { stats: ModelFsStats } {
  const stats: ModelFsStats = { reads: 0, writes: 0, failedWrites: 0 };
  const fs = () => machine().kernfs;
  return {
    stats,
    getattr(path: string): FuseAttr | number {
      if (path === MARKER) return { kind: "file", mode: 0o444, size: markerText.length };
      const r = fs().resolve(path, false);
      if ("err" in r) return -r.err;
      const n = r.node;
      if (n.kind === "link") return { kind: "link", mode: 0o777, size: n.target.length };
      if (n.kind === "file")
        return { kind: "file", mode: n.mode, size: path.startsWith("/proc/") ? 0 : 4096 };
      return { kind: "dir", mode: 0o755, size: 0 };
    },
    readdir(path: string): string[] | number {
      const names = fs().list(path);
      if (typeof names === "number") return -names;
      return path === MARKER_DIR ? [MARKER_NAME, ...names] : names;
    },
    readlink(path: string): string | number {
      const r = fs().resolve(path, false);
      if ("err" in r) return -r.err;
      return r.node.kind === "link" ? r.node.target : EINVAL;
    },
    open(path: string, write: boolean, read: boolean): number {
      if (path === MARKER) return write ? EACCES : 0;
      const r = fs().resolve(path);
      if ("err" in r) return -r.err;
      const n = r.node;
      if (n.kind === "dir") return write ? EISDIR : 0;
      if (n.kind !== "file") return ENOENT;
      // kernfs_fop_open(): a write open needs a store op and a write bit, a read
      // open a show op and a read bit; procfs refuses at write time (EIO)
      if (write && (!n.ops.store || (n.mode & 0o222) === 0) && n.noWriteErrno === EACCES) return EACCES;
      if (read && (!n.ops.show || (n.mode & 0o444) === 0)) return EACCES;
      return 0;
    },
    read(path: string): string | number {
      if (path === MARKER) return markerText;
      stats.reads++;
      const v = fs().read(path);
      return typeof v === "number" ? -v : v;
    },
    write(path: string, data: Buffer): number {
      if (path === MARKER) return -EACCES;
      stats.writes++;
      const k = machine();
      const r = k.kernfs.resolve(path);
      let ret: number;
      if ("err" in r) ret = r.err;
      else if (r.node.kind === "dir") ret = -EISDIR;
      else if (r.node.kind !== "file") ret = -ENOTDIR;
      else if (!r.node.ops.store || (r.node.mode & 0o222) === 0) ret = -r.node.noWriteErrno;
      else {
        // kernfs_fop_write_iter(): the store op gets this write(2)'s bytes
        ret = r.node.ops.store(data.toString("utf8"));
        if (ret === 0) ret = -EIO;
      }
      // the writing process ran: the guest's background activity moves on
      k.tick();
      if (ret < 0) stats.failedWrites++;
      return ret < 0 ? ret : Math.min(ret, data.length);
    },
  };
}
