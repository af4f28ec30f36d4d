// A FUSE file system server speaking the kernel's FUSE protocol itself over
// /dev/fuse (include/uapi/linux/fuse.h, protocol 7.31), without libfuse: the
// request and reply structures, the mount (mount(8) with fd=N, as libfuse does
// as root) and the unmount. docs/tools.md says why not a binding.
//
// Only what a read/write pseudo file system needs: LOOKUP, FORGET, GETATTR,
// SETATTR (accepted, changes nothing: sysfs ignores O_TRUNC), READLINK, OPEN,
// READ, WRITE, RELEASE, FLUSH, FSYNC, OPENDIR, READDIR, RELEASEDIR, STATFS,
// ACCESS, INIT, DESTROY; everything else is ENOSYS.

import fs from "node:fs";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";

export const FUSE_ROOT_ID = 1n;

const OP = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  DESTROY: 38,
  BATCH_FORGET: 42,
} as const;

const FUSE_ATOMIC_O_TRUNC = 1 << 3;
/** fuse_open_out.open_flags: bypass the page cache (sizes are not known ahead, as in sysfs). */
const FOPEN_DIRECT_IO = 1 << 0;
const ENOSYS = 38;
const EACCES = 13;
const EPERM = 1;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

export interface FuseAttr {
  kind: "dir" | "file" | "link";
  /** permission bits */
  mode: number;
  size: number;
}

/** The file system behind the mount; errors are positive errno values thrown as FuseErrno. */
export interface FuseOps {
  /** attributes of an absolute path (no symlink followed), or an errno */
  getattr(path: string): FuseAttr | number;
  readdir(path: string): string[] | number;
  readlink(path: string): string | number;
  /** open a file: 0 or an errno (kernfs checks read/write permission at open) */
  open(path: string, write: boolean, read: boolean): number;
  /** the whole content (generated at the first read of an open file, as seq_file) */
  read(path: string): string | number;
  /** one write(2): bytes taken or an errno */
  write(path: string, data: Buffer): number;
}

interface OpenFile {
  path: string;
  content?: Buffer;
}

/** A mounted FUSE connection serving `ops`. */
export class FuseServer {
  private fd: number;
  private readonly paths = new Map<bigint, string>([[FUSE_ROOT_ID, "/"]]);
  private readonly ids = new Map<string, bigint>([["/", FUSE_ROOT_ID]]);
  private nextId = 2n;
  private readonly files = new Map<bigint, OpenFile>();
  private nextFh = 1n;
  private readonly buf = Buffer.alloc((1 << 20) + 0x2000);
  private stopped = false;
  /** resolves when the connection ends (unmounted or aborted) */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  /** requests served, by opcode */
  readonly served = new Map<number, number>();

  private constructor(
    fd: number,
    private readonly ops: FuseOps,
  ) {
    this.fd = fd;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** Open /dev/fuse and mount it on `dir` (root, or CAP_SYS_ADMIN in the mount's user namespace). */
  static mount(dir: string, ops: FuseOps, fsname = "memhp"): FuseServer {
    const fd = fs.openSync("/dev/fuse", "r+");
    const opts = `fd=3,rootmode=40000,user_id=${process.getuid?.() ?? 0},group_id=${process.getgid?.() ?? 0},allow_other`;
    // mount -i: no /sbin/mount.fuse helper; the kernel sees type fuse.memhp with our fd
    const r = spawnSync("mount", ["-i", "-t", "fuse.memhp", "-o", opts, fsname, dir], {
      stdio: ["ignore", "pipe", "pipe", fd],
      encoding: "utf8",
    });
    if (r.status !== 0) {
      fs.closeSync(fd);
      throw new Error(`mount ${dir} failed: ${(r.stderr || r.error?.message || "").trim()}`);
    }
    const s = new FuseServer(fd, ops);
    s.loop();
    return s;
  }

  private loop(): void {
    fs.read(this.fd, this.buf, 0, this.buf.length, null, (err, n) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // ENOENT: the request was interrupted; EINTR/EAGAIN: read again
        if (code === "ENOENT" || code === "EINTR" || code === "EAGAIN") return this.loop();
        return this.finish(); // ENODEV: unmounted
      }
      try {
        this.handle(Buffer.from(this.buf.subarray(0, n)));
      } catch (e) {
        process.stderr.write(`memhp mount: ${String((e as Error).stack ?? e)}\n`);
      }
      if (!this.stopped) this.loop();
    });
  }

  private finish(): void {
    if (this.stopped) return;
    this.stopped = true;
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
    this.resolveDone();
  }

  private reply(unique: bigint, error: number, body?: Buffer): void {
    const len = 16 + (body?.length ?? 0);
    const h = Buffer.alloc(16);
    h.writeUInt32LE(len, 0);
    h.writeInt32LE(error === 0 ? 0 : -Math.abs(error), 4);
    h.writeBigUInt64LE(unique, 8);
    try {
      fs.writeSync(this.fd, body ? Buffer.concat([h, body]) : h);
    } catch {
      // ENOENT: the request was interrupted meanwhile
    }
  }

  private idOf(path: string): bigint {
    let id = this.ids.get(path);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(path, id);
      this.paths.set(id, path);
    }
    return id;
  }

  private attr(id: bigint, a: FuseAttr): Buffer {
    const b = Buffer.alloc(88);
    b.writeBigUInt64LE(id, 0); // ino
    b.writeBigUInt64LE(BigInt(a.size), 8);
    b.writeBigUInt64LE(BigInt(Math.ceil(a.size / 512)), 16);
    const now = BigInt(Math.floor(Date.now() / 1000));
    b.writeBigUInt64LE(now, 24);
    b.writeBigUInt64LE(now, 32);
    b.writeBigUInt64LE(now, 40);
    const type = a.kind === "dir" ? S_IFDIR : a.kind === "link" ? S_IFLNK : S_IFREG;
    b.writeUInt32LE(type | a.mode, 60);
    b.writeUInt32LE(a.kind === "dir" ? 2 : 1, 64); // nlink
    b.writeUInt32LE(0, 68); // uid
    b.writeUInt32LE(0, 72); // gid
    b.writeUInt32LE(4096, 80); // blksize
    return b;
  }

  /** fuse_entry_out; validity 0: the model changes under us, the kernel asks again. */
  private entry(id: bigint, a: FuseAttr): Buffer {
    const h = Buffer.alloc(40);
    h.writeBigUInt64LE(id, 0);
    return Buffer.concat([h, this.attr(id, a)]);
  }

  private attrOut(id: bigint, a: FuseAttr): Buffer {
    return Buffer.concat([Buffer.alloc(16), this.attr(id, a)]);
  }

  private handle(req: Buffer): void {
    const opcode = req.readUInt32LE(4);
    const unique = req.readBigUInt64LE(8);
    const nodeid = req.readBigUInt64LE(16);
    const arg = req.subarray(40);
    this.served.set(opcode, (this.served.get(opcode) ?? 0) + 1);
    const path = this.paths.get(nodeid);
    const r = (e: number, b?: Buffer) => this.reply(unique, e, b);
    const child = (name: string) => (path === "/" ? `/${name}` : `${path}/${name}`);
    switch (opcode) {
      case OP.INIT: {
        const major = arg.readUInt32LE(0);
        const flags = arg.readUInt32LE(12);
        const out = Buffer.alloc(64);
        out.writeUInt32LE(7, 0);
        out.writeUInt32LE(31, 4);
        out.writeUInt32LE(0, 8); // max_readahead
        out.writeUInt32LE(flags & FUSE_ATOMIC_O_TRUNC, 12);
        out.writeUInt16LE(16, 16); // max_background
        out.writeUInt16LE(12, 18); // congestion_threshold
        out.writeUInt32LE(1 << 20, 20); // max_write
        out.writeUInt32LE(1, 24); // time_gran
        out.writeUInt16LE(256, 28); // max_pages
        if (major !== 7) return r(EPERM);
        return r(0, out);
      }
      case OP.DESTROY:
        r(0);
        return this.finish();
      case OP.FORGET:
      case OP.BATCH_FORGET:
      case OP.INTERRUPT:
        return; // no reply
      case OP.LOOKUP: {
        if (path === undefined) return r(2);
        const name = arg.subarray(0, arg.indexOf(0)).toString("utf8");
        const p = child(name);
        const a = this.ops.getattr(p);
        if (typeof a === "number") return r(a);
        return r(0, this.entry(this.idOf(p), a));
      }
      case OP.GETATTR:
      case OP.SETATTR: {
        if (path === undefined) return r(2);
        const a = this.ops.getattr(path);
        if (typeof a === "number") return r(a);
        return r(0, this.attrOut(nodeid, a));
      }
      case OP.READLINK: {
        if (path === undefined) return r(2);
        const t = this.ops.readlink(path);
        return typeof t === "number" ? r(t) : r(0, Buffer.from(t, "utf8"));
      }
      case OP.OPEN: {
        if (path === undefined) return r(2);
        const flags = arg.readUInt32LE(0);
        const acc = flags & 3;
        const e = this.ops.open(path, acc !== 0, acc !== 1);
        if (e !== 0) return r(e);
        const fh = this.nextFh++;
        this.files.set(fh, { path });
        const out = Buffer.alloc(16);
        out.writeBigUInt64LE(fh, 0);
        out.writeUInt32LE(FOPEN_DIRECT_IO, 8);
        return r(0, out);
      }
      case OP.READ: {
        const fh = arg.readBigUInt64LE(0);
        const offset = Number(arg.readBigUInt64LE(8));
        const size = arg.readUInt32LE(16);
        const f = this.files.get(fh);
        if (!f) return r(9); // EBADF
        if (f.content === undefined || offset === 0) {
          const c = this.ops.read(f.path);
          if (typeof c === "number") return r(c);
          f.content = Buffer.from(c, "utf8");
        }
        return r(0, f.content.subarray(offset, offset + size));
      }
      case OP.WRITE: {
        const fh = arg.readBigUInt64LE(0);
        const size = arg.readUInt32LE(16);
        const f = this.files.get(fh);
        if (!f) return r(9);
        const n = this.ops.write(f.path, arg.subarray(40, 40 + size));
        if (n < 0) return r(-n);
        const out = Buffer.alloc(8);
        out.writeUInt32LE(n, 0);
        return r(0, out);
      }
      case OP.RELEASE: {
        this.files.delete(arg.readBigUInt64LE(0));
        return r(0);
      }
      case OP.FLUSH:
      case OP.FSYNC:
      case OP.FSYNCDIR:
      case OP.RELEASEDIR:
      case OP.ACCESS:
        return r(0);
      case OP.OPENDIR: {
        if (path === undefined) return r(2);
        const a = this.ops.getattr(path);
        if (typeof a === "number") return r(a);
        return r(0, Buffer.alloc(16));
      }
      case OP.READDIR: {
        if (path === undefined) return r(2);
        const offset = Number(arg.readBigUInt64LE(8));
        const size = arg.readUInt32LE(16);
        const names = this.ops.readdir(path);
        if (typeof names === "number") return r(names);
        const all = [".", "..", ...names];
        const parts: Buffer[] = [];
        let len = 0;
        for (let i = offset; i < all.length; i++) {
          const name = Buffer.from(all[i], "utf8");
          const recLen = (24 + name.length + 7) & ~7;
          if (len + recLen > size) break;
          const d = Buffer.alloc(recLen);
          const p = all[i] === "." ? path : all[i] === ".." ? path : child(all[i]);
          const a = this.ops.getattr(p);
          const kind = typeof a === "number" ? "file" : a.kind;
          d.writeBigUInt64LE(i < 2 ? nodeid : this.idOf(p), 0);
          d.writeBigUInt64LE(BigInt(i + 1), 8); // the offset of the next entry
          d.writeUInt32LE(name.length, 16);
          d.writeUInt32LE(kind === "dir" ? 4 : kind === "link" ? 10 : 8, 20);
          name.copy(d, 24);
          parts.push(d);
          len += recLen;
        }
        return r(0, Buffer.concat(parts));
      }
      case OP.STATFS: {
        const out = Buffer.alloc(80);
        out.writeUInt32LE(4096, 40); // bsize
        out.writeUInt32LE(255, 44); // namelen
        out.writeUInt32LE(4096, 48); // frsize
        return r(0, out);
      }
      case OP.CREATE:
      case OP.MKNOD:
      case OP.MKDIR:
        // kernfs directories have no ->create / ->mkdir
        return r(EACCES);
      case OP.UNLINK:
      case OP.RMDIR:
        return r(EPERM);
      default:
        return r(ENOSYS);
    }
  }
}

/** Unmount `dir` (umount as root, else fusermount3 -u); the server's loop then ends. */
export function unmount(dir: string): Promise<boolean> {
  return new Promise((resolve) => {
    const tryCmd = (cmd: string, args: string[], next?: () => void) => {
      const p = spawn(cmd, args, { stdio: "ignore" });
      p.on("error", () => (next ? next() : resolve(false)));
      p.on("exit", (code) => (code === 0 ? resolve(true) : next ? next() : resolve(false)));
    };
    tryCmd("umount", [dir], () => tryCmd("fusermount3", ["-u", dir], () => tryCmd("umount", ["-l", dir])));
  });
}

/**
 * A detached watchdog that unmounts `dir` lazily when this process dies in any
 * way (its stdin, a pipe from us, reaches EOF), so no stale mount stays behind.
 */
export function unmountWatchdog(dir: string): ChildProcess {
  const w = spawn(
    "sh",
    ["-c", 'read _ ; umount -l "$1" 2>/dev/null || fusermount3 -uz "$1" 2>/dev/null', "sh", dir],
    {
      stdio: ["pipe", "ignore", "ignore"],
      detached: true,
    },
  );
  w.unref();
  (w.stdin as unknown as { unref?: () => void }).unref?.();
  return w;
}
