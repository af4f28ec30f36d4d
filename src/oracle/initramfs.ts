// The guest's initramfs: a gzip-compressed cpio archive in the "newc" format
// (the kernel's Documentation/driver-api/early-userspace/buffer-format.rst),
// written directly from Node so that no cpio run (and no root, for /dev/console)
// is needed. It holds busybox-static, the /init script and the kernel modules
// the scenario needs.

import { gzipSync } from "node:zlib";

export type CpioEntry =
  | { kind: "dir"; path: string; mode?: number }
  | { kind: "file"; path: string; data: Buffer; mode?: number }
  | { kind: "symlink"; path: string; target: string }
  | { kind: "char"; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const hex8 = (n: number): string => n.toString(16).padStart(8, "0");
const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);

function header(ino: number, mode: number, size: number, name: string, rdevMajor = 0, rdevMinor = 0): Buffer {
  const nameBytes = Buffer.from(name + "\0", "utf8");
  const fields = [ino, mode, 0, 0, 1, 0, size, 0, 0, rdevMajor, rdevMinor, nameBytes.length, 0];
  const head = Buffer.from("070701" + fields.map(hex8).join(""), "ascii");
  return Buffer.concat([head, nameBytes, pad4(head.length + nameBytes.length)]);
}

/** An uncompressed newc archive of `entries` (paths without a leading "/"), with its trailer. */
export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, "");
    switch (e.kind) {
      case "dir":
        parts.push(header(ino++, S_IFDIR | (e.mode ?? 0o755), 0, path));
        break;
      case "file":
        parts.push(
          header(ino++, S_IFREG | (e.mode ?? 0o644), e.data.length, path),
          e.data,
          pad4(e.data.length),
        );
        break;
      case "symlink": {
        const t = Buffer.from(e.target, "utf8");
        parts.push(header(ino++, S_IFLNK | 0o777, t.length, path), t, pad4(t.length));
        break;
      }
      case "char":
        parts.push(header(ino++, S_IFCHR | (e.mode ?? 0o600), 0, path, e.major, e.minor));
        break;
      default: {
        const never: never = e;
        throw new Error(`unknown cpio entry ${JSON.stringify(never)}`);
      }
    }
  }
  parts.push(header(ino, 0, 0, "TRAILER!!!"));
  return Buffer.concat(parts);
}

export interface InitramfsInput {
  /** the static busybox binary */
  busybox: Buffer;
  /** the /init script */
  init: string;
  /** kernel modules, loaded in this order by /init: [file name, contents] */
  modules: ReadonlyArray<readonly [string, Buffer]>;
}

/** The gzip-compressed initramfs. */
export function buildInitramfs(input: InitramfsInput): Buffer {
  const entries: CpioEntry[] = [
    ...[
      "bin",
      "sbin",
      "usr",
      "usr/bin",
      "usr/sbin",
      "dev",
      "proc",
      "sys",
      "tmp",
      "lib",
      "lib/modules",
      "etc",
    ].map((path): CpioEntry => ({ kind: "dir", path })),
    { kind: "char", path: "dev/console", major: 5, minor: 1 },
    { kind: "file", path: "bin/busybox", data: input.busybox, mode: 0o755 },
    { kind: "symlink", path: "bin/sh", target: "busybox" },
    { kind: "file", path: "init", data: Buffer.from(input.init, "utf8"), mode: 0o755 },
    ...input.modules.map(([name, data]): CpioEntry => ({ kind: "file", path: `lib/modules/${name}`, data })),
    {
      kind: "file",
      path: "etc/memhp-modules",
      data: Buffer.from(input.modules.map(([name]) => name + "\n").join(""), "utf8"),
    },
  ];
  return gzipSync(cpioNewc(entries), { level: 6 });
}
