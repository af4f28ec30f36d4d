// fs/kernfs: the in-memory tree behind sysfs and debugfs (and, in memhp, procfs):
// directories, attribute files with show/store callbacks, and symlinks. Reading,
// writing and listing go through the same checks the VFS and kernfs make, so a bad
// access fails with the errno a shell would see.

import { EACCES, EINVAL, EIO, EISDIR, ENOENT, ENOTDIR } from "../errno.js";

/** show(): the file's text; store(buf): bytes consumed or -errno (kernfs_fop_write_iter()). */
export interface FileOps {
  show?: () => string;
  store?: (buf: string) => number;
}

export type KernfsNode = KernfsDir | KernfsFile | KernfsLink;

export interface KernfsFile {
  kind: "file";
  name: string;
  mode: number;
  ops: FileOps;
  /** What a write does when the file has no store op: sysfs EACCES at open, procfs EIO at write. */
  noWriteErrno: number;
}

export interface KernfsLink {
  kind: "link";
  name: string;
  /** Relative or absolute target path. */
  target: string;
}

export class KernfsDir {
  readonly kind = "dir";
  readonly children = new Map<string, KernfsNode>();
  constructor(
    readonly name: string,
    readonly parent: KernfsDir | undefined,
  ) {}
}

export type Resolved = { node: KernfsNode; path: string } | { err: number };

export class Kernfs {
  readonly root = new KernfsDir("", undefined);
  /** Every node created and removed, for the work counters. */
  nodesCreated = 0;
  nodesRemoved = 0;

  /** Create the directories of an absolute path (mkdir -p); returns the last one. */
  mkdirs(path: string): KernfsDir {
    let dir = this.root;
    for (const part of splitPath(path)) {
      let next = dir.children.get(part);
      if (next === undefined) {
        next = new KernfsDir(part, dir);
        dir.children.set(part, next);
        this.nodesCreated++;
      }
      if (next.kind !== "dir") throw new Error(`kernfs: ${path}: ${part} is not a directory`);
      dir = next;
    }
    return dir;
  }

  /** sysfs_create_file(): an attribute in directory `dir`. */
  addFile(dir: string | KernfsDir, name: string, mode: number, ops: FileOps, noWriteErrno = EACCES): void {
    const d = typeof dir === "string" ? this.mkdirs(dir) : dir;
    d.children.set(name, { kind: "file", name, mode, ops, noWriteErrno });
    this.nodesCreated++;
  }

  /** sysfs_create_link() */
  addLink(dir: string | KernfsDir, name: string, target: string): void {
    const d = typeof dir === "string" ? this.mkdirs(dir) : dir;
    d.children.set(name, { kind: "link", name, target });
    this.nodesCreated++;
  }

  /** Remove a node and everything below it (kernfs_remove()). */
  remove(path: string): boolean {
    const parts = splitPath(path);
    const name = parts.pop();
    if (name === undefined) return false;
    const parent = this.lookupDir(parts);
    if (parent === undefined) return false;
    const node = parent.children.get(name);
    if (node === undefined) return false;
    this.nodesRemoved += countNodes(node);
    parent.children.delete(name);
    return true;
  }

  private lookupDir(parts: string[]): KernfsDir | undefined {
    let dir = this.root;
    for (const p of parts) {
      const next = dir.children.get(p);
      if (next === undefined || next.kind !== "dir") return undefined;
      dir = next;
    }
    return dir;
  }

  /** Path walk following symlinks, as the VFS does (at most 40 links). */
  resolve(path: string, followLast = true): Resolved {
    if (!path.startsWith("/")) return { err: -ENOENT };
    let parts = splitPath(path);
    let dir = this.root;
    let cur: string[] = [];
    let links = 0;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (part === "..") {
        if (dir.parent) dir = dir.parent;
        cur.pop();
        continue;
      }
      const node = dir.children.get(part);
      if (node === undefined) return { err: -ENOENT };
      const last = i === parts.length - 1;
      if (node.kind === "link" && (!last || followLast)) {
        if (++links > 40) return { err: -ENOENT };
        const base = node.target.startsWith("/") ? [] : [...cur];
        parts = [...base, ...splitPath(node.target), ...parts.slice(i + 1)];
        dir = this.root;
        cur = [];
        i = -1;
        continue;
      }
      if (last) return { node, path: "/" + [...cur, part].join("/") };
      if (node.kind !== "dir") return { err: -ENOTDIR };
      dir = node;
      cur.push(part);
    }
    return { node: dir, path: "/" + cur.join("/") };
  }

  /** `cat PATH`: the text or -errno. */
  read(path: string): string | number {
    const r = this.resolve(path);
    if ("err" in r) return r.err;
    const n = r.node;
    if (n.kind === "dir") return -EISDIR;
    if (n.kind !== "file") return -ENOENT;
    if (!n.ops.show || (n.mode & 0o444) === 0) return -EACCES;
    return n.ops.show();
  }

  /**
   * `echo VALUE > PATH`: the shell opens with O_CREAT|O_TRUNC and writes VALUE
   * plus a newline. 0 or -errno.
   */
  write(path: string, value: string): number {
    const r = this.resolve(path);
    if ("err" in r) {
      // A missing last component: kernfs directories have no ->create (fs/namei.c:
      // lookup_open() → -EACCES); procfs lookups fail first (fs/proc/generic.c:
      // proc_lookup_de() → -ENOENT), as the oracle shows for /proc/nonexistent.
      if (r.err === -ENOENT && this.parentExists(path) && !path.startsWith("/proc/")) return -EACCES;
      return r.err;
    }
    const n = r.node;
    if (n.kind === "dir") return -EISDIR;
    if (n.kind !== "file") return -EINVAL;
    if (!n.ops.store || (n.mode & 0o222) === 0) return -n.noWriteErrno;
    const buf = value + "\n";
    const ret = n.ops.store(buf);
    if (ret < 0) return ret;
    if (ret === 0) return -EIO;
    return 0;
  }

  /** `ls PATH`: sorted names, or -errno. */
  list(path: string): string[] | number {
    const r = this.resolve(path);
    if ("err" in r) return r.err;
    if (r.node.kind !== "dir") return -ENOTDIR;
    return [...r.node.children.keys()].sort();
  }

  private parentExists(path: string): boolean {
    const parts = splitPath(path);
    parts.pop();
    const r = this.resolve("/" + parts.join("/"));
    return !("err" in r) && r.node.kind === "dir";
  }
}

function splitPath(path: string): string[] {
  return path.split("/").filter((p) => p !== "" && p !== ".");
}

function countNodes(n: KernfsNode): number {
  if (n.kind !== "dir") return 1;
  let c = 1;
  for (const ch of n.children.values()) c += countNodes(ch);
  return c;
}

// --- helpers shared by attribute stores ---

/** lib/string.c: sysfs_streq() — equal, ignoring one trailing newline on either side. */
export function sysfsStreq(a: string, b: string): boolean {
  const strip = (s: string) => (s.endsWith("\n") ? s.slice(0, -1) : s);
  return strip(a) === strip(b);
}

/** lib/kstrtox.c: kstrtobool() (6.1: decides on the first one or two characters). */
export function kstrtobool(s: string): boolean | number {
  const c0 = s[0];
  switch (c0) {
    case "y":
    case "Y":
    case "1":
      return true;
    case "n":
    case "N":
    case "0":
      return false;
    case "o":
    case "O":
      if (s[1] === "n" || s[1] === "N") return true;
      if (s[1] === "f" || s[1] === "F") return false;
      return -EINVAL;
    default:
      return -EINVAL;
  }
}

/**
 * lib/kstrtox.c: kstrtoull() — base 0 (0x hex, 0 octal, else decimal), one
 * trailing newline allowed, nothing else; -EINVAL or -ERANGE.
 */
export function kstrtoull(s: string, base = 0): bigint | number {
  let str = s.endsWith("\n") ? s.slice(0, -1) : s;
  if (str.startsWith("+")) str = str.slice(1);
  let b = base;
  if (b === 0) {
    if (/^0[xX][0-9a-fA-F]/.test(str)) {
      b = 16;
      str = str.slice(2);
    } else if (str.startsWith("0") && str.length > 1) {
      b = 8;
      str = str.slice(1);
    } else b = 10;
  } else if (b === 16 && /^0[xX]/.test(str)) str = str.slice(2);
  const digits = b === 16 ? /^[0-9a-fA-F]+$/ : b === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!digits.test(str)) return -EINVAL;
  let v = 0n;
  for (const ch of str) {
    v = v * BigInt(b) + BigInt(parseInt(ch, 16));
    if (v > 0xffffffffffffffffn) return -34; // -ERANGE
  }
  return v;
}

const KOBJECT_ACTIONS = ["add", "remove", "change", "move", "online", "offline", "bind", "unbind"];
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/;

/**
 * lib/kobject_uevent.c: kobject_synth_uevent() as a uevent attribute's store
 * (drivers/base/core.c: uevent_store()): an action word (kobject_action_type()),
 * optionally followed by " UUID[ KEY=VALUE...]" with alphanumeric keys and values
 * (kobject_action_args()). 0 or -EINVAL; the event itself goes nowhere.
 */
export function kobjectSynthUevent(buf: string): number {
  const s = buf.endsWith("\n") || buf.endsWith("\0") ? buf.slice(0, -1) : buf;
  if (s === "") return -EINVAL;
  const sp = s.indexOf(" ");
  const action = sp < 0 ? s : s.slice(0, sp);
  if (!KOBJECT_ACTIONS.includes(action)) return -EINVAL;
  if (sp < 0) return 0;
  const args = s.slice(sp + 1);
  if (args === "" || !UUID_RE.test(args)) return -EINVAL;
  const rest = args.slice(36);
  return rest === "" || /^( [A-Za-z0-9]+=[A-Za-z0-9]+)+$/.test(rest) ? 0 : -EINVAL;
}
