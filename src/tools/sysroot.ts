// A machine's memory-hotplug files as a "sysroot": the trees and files that
// util-linux's lsmem/chmem (--sysroot DIR) and memhp import read, written as
// plain files, directories and (relative) symlinks under DIR. The model's tree
// (kernfs) and a real guest's tree (oracle, ./oracle-export.ts) are first turned
// into the same line format (a "tree dump"), then one writer makes the folder,
// so both exports are made the same way and compare file by file.
//
// Tree dump, one entry per line, paths absolute:
//   d PATH MODE            a directory (MODE octal)
//   l PATH TARGET          a symlink (TARGET as the kernel shows it)
//   f PATH MODE BASE64     a readable file and its bytes
//   e PATH MODE            a file that cannot be read (write-only, EIO ...)

import fs from "node:fs";
import path from "node:path";
import type { Kernel } from "../kernel/kernel.js";
import type { KernfsDir, KernfsNode } from "../fs/kernfs.js";

/** The trees (recursively) and single files a sysroot export holds. */
export const EXPORT_TREES = ["/sys/devices/system/memory", "/sys/devices/system/node"] as const;
export const EXPORT_FILES = ["/proc/iomem", "/proc/meminfo", "/proc/zoneinfo", "/proc/cmdline"] as const;

export type DumpEntry =
  | { kind: "d"; path: string; mode: number }
  | { kind: "l"; path: string; target: string }
  | { kind: "f"; path: string; mode: number; data: string }
  | { kind: "e"; path: string; mode: number };

export class DumpError extends Error {}

export function encodeDump(entries: readonly DumpEntry[]): string {
  return entries
    .map((e) => {
      switch (e.kind) {
        case "d":
          return `d ${e.path} ${e.mode.toString(8)}`;
        case "l":
          return `l ${e.path} ${e.target}`;
        case "f":
          return `f ${e.path} ${e.mode.toString(8)} ${Buffer.from(e.data, "utf8").toString("base64")}`;
        case "e":
          return `e ${e.path} ${e.mode.toString(8)}`;
      }
    })
    .map((l) => l + "\n")
    .join("");
}

export function decodeDump(text: string): DumpEntry[] {
  const out: DumpEntry[] = [];
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const w = line.split(" ");
    const bad = (): never => {
      throw new DumpError(`tree dump line ${i + 1}: malformed: ${line.slice(0, 120)}`);
    };
    const p = w[1];
    if (!p || !p.startsWith("/") || p.split("/").includes("..")) bad();
    const mode = () => (/^[0-7]+$/.test(w[2] ?? "") ? parseInt(w[2], 8) : bad());
    switch (w[0]) {
      case "d":
        out.push({ kind: "d", path: p, mode: mode() });
        break;
      case "l":
        if (!w[2]) bad();
        out.push({ kind: "l", path: p, target: w[2] });
        break;
      case "f":
        out.push({
          kind: "f",
          path: p,
          mode: mode(),
          data: Buffer.from(w[3] ?? "", "base64").toString("utf8"),
        });
        break;
      case "e":
        out.push({ kind: "e", path: p, mode: mode() });
        break;
      default:
        bad();
    }
  });
  return out;
}

/** The model's export trees and files as a tree dump (what `cat`/`ls` show). */
export function dumpModel(k: Kernel): DumpEntry[] {
  const out: DumpEntry[] = [];
  const fs = k.kernfs;
  const walk = (p: string, n: KernfsNode): void => {
    if (n.kind === "link") out.push({ kind: "l", path: p, target: n.target });
    else if (n.kind === "file") {
      const v = fs.read(p);
      if (typeof v === "string") out.push({ kind: "f", path: p, mode: n.mode, data: v });
      else out.push({ kind: "e", path: p, mode: n.mode });
    } else {
      out.push({ kind: "d", path: p, mode: 0o755 });
      const dir = n as KernfsDir;
      for (const name of [...dir.children.keys()].sort()) walk(`${p}/${name}`, dir.children.get(name)!);
    }
  };
  for (const t of EXPORT_TREES) {
    const r = fs.resolve(t, false);
    if (!("err" in r)) walk(t, r.node);
  }
  for (const f of EXPORT_FILES) {
    if (f === "/proc/cmdline") continue;
    const v = fs.read(f);
    if (typeof v === "string") out.push({ kind: "f", path: f, mode: 0o444, data: v });
  }
  // /proc/cmdline: the model's kernel command line (what `cmdline` set).
  out.push({ kind: "f", path: "/proc/cmdline", mode: 0o444, data: k.params.words.join(" ") + "\n" });
  return out;
}

/**
 * Write a tree dump under `root` (created; it must be empty or missing). Parent
 * directories of the export trees are created as plain directories; absolute
 * link targets become relative so they resolve inside `root`.
 */
export function writeSysroot(root: string, entries: readonly DumpEntry[]): { files: number; links: number } {
  if (fs.existsSync(root) && fs.readdirSync(root).length > 0)
    throw new DumpError(`${root}: not empty (an export goes into an empty or new folder)`);
  fs.mkdirSync(root, { recursive: true });
  let files = 0;
  let links = 0;
  const at = (p: string) => path.join(root, p);
  for (const e of entries) {
    fs.mkdirSync(path.dirname(at(e.path)), { recursive: true });
    if (e.kind === "d") fs.mkdirSync(at(e.path), { recursive: true });
    else if (e.kind === "l") {
      const target = e.target.startsWith("/")
        ? path.relative(path.dirname(e.path), e.target) || "."
        : e.target;
      fs.symlinkSync(target, at(e.path));
      links++;
    } else {
      fs.writeFileSync(at(e.path), e.kind === "f" ? e.data : "");
      // Keep the read bits the kernel shows; the owner may always write (a plain
      // folder, not a kernel interface).
      fs.chmodSync(at(e.path), (e.mode & 0o555) | 0o200);
      files++;
    }
  }
  return { files, links };
}

/** The model's tree written as a sysroot. */
export function exportModel(k: Kernel, root: string): { files: number; links: number } {
  return writeSysroot(root, dumpModel(k));
}
