// The shell's own commands over the model's sysfs/procfs (fs/kernfs.ts): cat, echo,
// ls, cd, pwd, tree and lsmem. Each prints what busybox (the oracle guest's shell)
// or util-linux would print, errors included, and returns a shell exit status.

import { EACCES, EISDIR, ENOENT, ENOTDIR, errnoMessage } from "../errno.js";
import type { Kernfs, KernfsDir, KernfsNode } from "../fs/kernfs.js";
import { resolvePath, type Redirect } from "./lex.js";

/** What a builtin sees: the file tree, the working directory, and how to print. */
export interface ShellContext {
  fs: Kernfs;
  cwd: string;
  /** Terminal width: `ls` prints columns when set, one name per line otherwise. */
  columns?: number;
  colour: boolean;
}

/** A command's output and exit status (0 ok, 1 failed, 2 bad usage, 127 not found). */
export interface Output {
  out: string;
  err: string;
  status: number;
}

export const ok = (out = ""): Output => ({ out, err: "", status: 0 });
export const fail = (err: string, status = 1, out = ""): Output => ({
  out,
  err: err.endsWith("\n") ? err : err + "\n",
  status,
});

const BLUE = "1;34";
const CYAN = "1;36";
const colour = (ctx: ShellContext, code: string, s: string) => (ctx.colour ? `\x1b[${code}m${s}\x1b[0m` : s);

/** `cat FILE...` (busybox: "cat: can't open 'F': …", "cat: read error: Is a directory"). */
export function cat(ctx: ShellContext, args: string[]): Output {
  if (args.length === 0) return fail("cat: missing file operand (stdin is not supported)", 2);
  let out = "";
  let err = "";
  let status = 0;
  for (const a of args) {
    const text = ctx.fs.read(resolvePath(ctx.cwd, a));
    if (typeof text === "number") {
      err +=
        text === -EISDIR
          ? "cat: read error: Is a directory\n"
          : `cat: can't open '${a}': ${errnoMessage(text)}\n`;
      status = 1;
    } else out += text;
  }
  return { out, err, status };
}

/**
 * `echo [-n] WORD... [> FILE]`. Without a redirection it prints. With one it is
 * the shell's open(O_WRONLY|O_CREAT|O_TRUNC) then write(VALUE "\n"): a failed open
 * prints "sh: can't create F: …", a failed write "sh: write error: …" (ash).
 */
export function echo(
  ctx: ShellContext,
  args: string[],
  redirect: Redirect | undefined,
): Output & { errno?: number } {
  const words = args[0] === "-n" ? args.slice(1) : args;
  const text = words.join(" ");
  if (!redirect) return ok(args[0] === "-n" ? text : text + "\n");
  const path = resolvePath(ctx.cwd, redirect.path);
  const openErr = openForWrite(ctx.fs, path);
  if (openErr) {
    const why = openErr === -ENOENT ? "nonexistent directory" : errnoMessage(openErr);
    return { ...fail(`sh: can't create ${redirect.path}: ${why}`), errno: openErr };
  }
  const err = ctx.fs.write(path, text);
  return err ? { ...fail(`sh: write error: ${errnoMessage(err)}`), errno: err } : ok();
}

/** The errno of opening `path` for writing (0 when the open succeeds): kernfs has no ->create. */
function openForWrite(fs: Kernfs, path: string): number {
  const r = fs.resolve(path);
  if ("err" in r) {
    if (r.err !== -ENOENT) return r.err;
    const parent = fs.resolve(resolvePath(path, ".."));
    return !("err" in parent) && parent.node.kind === "dir" ? -EACCES : -ENOENT;
  }
  const n = r.node;
  if (n.kind === "dir") return -EISDIR;
  if (n.kind === "file" && (!n.ops.store || (n.mode & 0o222) === 0) && n.noWriteErrno === EACCES)
    return -EACCES;
  return 0;
}

/** `cd [DIR]` (busybox: "sh: cd: can't cd to DIR: …"); the new directory or an error. */
export function cd(ctx: ShellContext, args: string[]): Output & { cwd?: string } {
  if (args.length > 1) return fail("sh: cd: too many arguments", 2);
  const target = args[0] ?? "/";
  const path = resolvePath(ctx.cwd, target);
  const r = ctx.fs.resolve(path);
  if ("err" in r) return fail(`sh: cd: can't cd to ${target}: ${errnoMessage(r.err)}`);
  if (r.node.kind !== "dir") return fail(`sh: cd: can't cd to ${target}: ${errnoMessage(-ENOTDIR)}`);
  return { ...ok(), cwd: path };
}

/** The node a path names, following symlinks (the directory a link points to). */
function lookup(fs: Kernfs, path: string): KernfsNode | number {
  const r = fs.resolve(path);
  return "err" in r ? r.err : r.node;
}

function modeString(n: KernfsNode): string {
  if (n.kind === "dir") return "drwxr-xr-x";
  if (n.kind === "link") return "lrwxrwxrwx";
  let s = "-";
  for (const shift of [6, 3, 0]) {
    const bits = (n.mode >> shift) & 7;
    s += (bits & 4 ? "r" : "-") + (bits & 2 ? "w" : "-") + (bits & 1 ? "x" : "-");
  }
  return s;
}

function decorate(ctx: ShellContext, n: KernfsNode): string {
  if (n.kind === "dir") return colour(ctx, BLUE, n.name);
  if (n.kind === "link") return colour(ctx, CYAN, n.name);
  return n.name;
}

/** Names in columns, filled down then across, as ls does on a terminal. */
export function columnate(names: string[], plain: string[], width: number): string {
  if (names.length === 0) return "";
  const colWidth = Math.max(...plain.map((s) => s.length)) + 2;
  const cols = Math.max(1, Math.floor(width / colWidth));
  const rows = Math.ceil(names.length / cols);
  let out = "";
  for (let r = 0; r < rows; r++) {
    let line = "";
    for (let c = 0; c < cols; c++) {
      const i = c * rows + r;
      if (i >= names.length) break;
      const last = c === cols - 1 || (c + 1) * rows + r >= names.length;
      line += last ? names[i] : names[i] + " ".repeat(colWidth - plain[i].length);
    }
    out += line + "\n";
  }
  return out;
}

/** `ls [-l] [-1] [PATH...]` */
export function ls(ctx: ShellContext, args: string[]): Output {
  let long = false;
  let single = ctx.columns === undefined;
  const paths: string[] = [];
  for (const a of args) {
    if (a.startsWith("-") && a.length > 1) {
      for (const f of a.slice(1)) {
        if (f === "l") long = true;
        else if (f === "1") single = true;
        else return fail(`ls: unrecognized option '${a}'\nusage: ls [-l] [-1] [PATH...]`, 2);
      }
    } else paths.push(a);
  }
  if (paths.length === 0) paths.push(".");
  let out = "";
  let err = "";
  let status = 0;
  const many = paths.length > 1;
  for (const p of paths) {
    const abs = resolvePath(ctx.cwd, p);
    const node = lookup(ctx.fs, abs);
    if (typeof node === "number") {
      err += `ls: ${p}: ${errnoMessage(node)}\n`;
      status = 1;
      continue;
    }
    if (node.kind !== "dir") {
      out += long ? `${modeString(node)} ${p}\n` : `${p}\n`;
      continue;
    }
    const kids = [...node.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (many) out += `${out ? "\n" : ""}${p}:\n`;
    if (long) {
      for (const n of kids)
        out += `${modeString(n)} ${decorate(ctx, n)}${n.kind === "link" ? ` -> ${n.target}` : ""}\n`;
    } else if (single) {
      for (const n of kids) out += `${decorate(ctx, n)}\n`;
    } else {
      out += columnate(
        kids.map((n) => decorate(ctx, n)),
        kids.map((n) => n.name),
        ctx.columns ?? 80,
      );
    }
  }
  return { out, err, status };
}

/** `tree [-L DEPTH] [PATH]`: the directory below PATH, symlinks shown, not followed. */
export function tree(ctx: ShellContext, args: string[]): Output {
  let depth = Infinity;
  let path: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-L") {
      const n = Number(args[++i]);
      if (!Number.isInteger(n) || n < 1)
        return fail("tree: -L needs a positive level\nusage: tree [-L DEPTH] [PATH]", 2);
      depth = n;
    } else if (path === undefined) path = args[i];
    else return fail("usage: tree [-L DEPTH] [PATH]", 2);
  }
  const shown = path ?? ".";
  const node = lookup(ctx.fs, resolvePath(ctx.cwd, shown));
  if (typeof node === "number") return fail(`tree: ${shown}: ${errnoMessage(node)}`);
  if (node.kind !== "dir") return ok(`${shown}\n\n0 directories, 1 file\n`);
  const counts = { dirs: 0, files: 0 };
  let out = colour(ctx, BLUE, shown) + "\n";
  const walk = (dir: KernfsDir, prefix: string, level: number) => {
    const kids = [...dir.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    kids.forEach((n, i) => {
      const last = i === kids.length - 1;
      out += `${prefix}${last ? "└── " : "├── "}${decorate(ctx, n)}${n.kind === "link" ? ` -> ${n.target}` : ""}\n`;
      if (n.kind === "dir") {
        counts.dirs++;
        if (level < depth) walk(n, prefix + (last ? "    " : "│   "), level + 1);
      } else counts.files++;
    });
  };
  walk(node, "", 1);
  out += `\n${counts.dirs} director${counts.dirs === 1 ? "y" : "ies"}, ${counts.files} file${counts.files === 1 ? "" : "s"}\n`;
  return ok(out);
}

/** util-linux size_to_human_string() with one-letter suffixes: 128M, 1G, 1.5G, 0B. */
export function humanSize(bytes: number): string {
  const units = ["B", "K", "M", "G", "T", "P"];
  let i = 0;
  let v = bytes;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (Number.isInteger(v)) return `${v}${units[i]}`;
  const r = Math.round(v * 10) / 10;
  return Number.isInteger(r) ? `${r}${units[i]}` : `${r.toFixed(1)}${units[i]}`;
}

const MEMORY = "/sys/devices/system/memory";

/**
 * `lsmem` (util-linux): the memory blocks read from sysfs, adjacent blocks with the
 * same state and zones merged into one range, and the totals. memhp prints the
 * ZONES column (valid_zones) by default.
 */
export function lsmem(ctx: ShellContext, args: string[]): Output {
  if (args.length) return fail("usage: lsmem", 2);
  const read = (p: string): string => {
    const t = ctx.fs.read(p);
    return typeof t === "number" ? "" : t.trim();
  };
  const blockSize = parseInt(read(`${MEMORY}/block_size_bytes`), 16);
  const names = ctx.fs.list(MEMORY);
  if (typeof names === "number" || !blockSize) return fail(`lsmem: failed to read ${MEMORY}`);
  const ids = names
    .filter((n) => /^memory\d+$/.test(n))
    .map((n) => Number(n.slice(6)))
    .sort((a, b) => a - b);
  interface Row {
    first: number;
    last: number;
    state: string;
    removable: string;
    zones: string;
  }
  const rows: Row[] = [];
  let online = 0;
  let offline = 0;
  for (const id of ids) {
    const dir = `${MEMORY}/memory${id}`;
    const state = read(`${dir}/state`);
    const removable = read(`${dir}/removable`) === "1" ? "yes" : "no";
    const zones = read(`${dir}/valid_zones`);
    if (state === "online") online += blockSize;
    else offline += blockSize;
    const prev = rows[rows.length - 1];
    if (
      prev &&
      prev.last === id - 1 &&
      prev.state === state &&
      prev.removable === removable &&
      prev.zones === zones
    )
      prev.last = id;
    else rows.push({ first: id, last: id, state, removable, zones });
  }
  const hex = (v: number) => "0x" + v.toString(16).padStart(16, "0");
  const table = [["RANGE", "SIZE", "STATE", "REMOVABLE", "BLOCK", "ZONES"]];
  for (const r of rows) {
    const start = r.first * blockSize;
    const end = (r.last + 1) * blockSize - 1;
    table.push([
      `${hex(start)}-${hex(end)}`,
      humanSize((r.last - r.first + 1) * blockSize),
      r.state,
      r.removable,
      r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`,
      r.zones,
    ]);
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  const leftAligned = new Set([0, 5]);
  let out = "";
  for (const row of table) {
    out +=
      row
        .map((cell, c) => (leftAligned.has(c) ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
        .join(" ")
        .trimEnd() + "\n";
  }
  const label = (s: string) => s.padEnd(21);
  out += `\n${label("Memory block size:")}${humanSize(blockSize).padStart(8)}\n`;
  out += `${label("Total online memory:")}${humanSize(online).padStart(8)}\n`;
  out += `${label("Total offline memory:")}${humanSize(offline).padStart(8)}\n`;
  return ok(out);
}
