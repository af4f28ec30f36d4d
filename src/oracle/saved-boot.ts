// Saved boots: a booted, idle oracle guest kept in the memhp cache as a QEMU
// migration stream, so that a scenario starts by restoring it (`-incoming`)
// instead of booting (docs/oracle.md, "Saved boots"). One per QEMU command
// line: the key is a digest of everything the guest's state depends on — the
// QEMU binary and its version, the arguments (machine, memory, devices such as
// virtio-mem, the kernel command line; the per-run socket paths left out), the
// kernel image, the initramfs (busybox, /init, modules) and the firmware — so
// a change to any of them makes a new one. The sockets (QMP, gdbstub, the
// protocol port) are chardevs, which migration does not carry: they are the
// new QEMU's own.

import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** Bump when what is saved or how it is restored changes. */
export const SAVED_BOOT_FORMAT = 1;

/** Where the saved boots live: CACHE/saved-boots/KEY/{state,initrd.gz,meta.json}. */
export function savedBootsDir(cache: string): string {
  return path.join(cache, "saved-boots");
}

/** Saved boots are off when MEMHP_ORACLE_COLD=1 (every scenario boots its guest). */
export function savedBootsWanted(opt: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (opt !== undefined) return opt;
  return env.MEMHP_ORACLE_COLD !== "1";
}

const versions = new Map<string, string>();

/** `QEMU --version`'s first line (cached per binary for the process). */
export function qemuVersion(binary: string): string {
  let v = versions.get(binary);
  if (v === undefined) {
    try {
      v = execFileSync(binary, ["--version"], { encoding: "utf8" }).split("\n")[0];
    } catch {
      v = "?";
    }
    versions.set(binary, v);
  }
  return v;
}

const fileDigests = new Map<string, { key: string; digest: string }>();

/** sha256 of a file, cached while its size and mtime stay the same. */
export function fileDigest(file: string): string {
  const st = fs.statSync(file);
  const stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
  const c = fileDigests.get(file);
  if (c && c.key === stamp) return c.digest;
  const digest = createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  fileDigests.set(file, { key: stamp, digest });
  return digest;
}

export interface SavedBootInputs {
  binary: string;
  /** the QEMU arguments of the cold boot */
  args: readonly string[];
  /** the per-run folder of the sockets and the initramfs (left out of the key) */
  workDir: string;
  /** files the arguments name whose contents count (kernel, firmware) */
  files: readonly string[];
  /** digests of other inputs (the initramfs image) */
  digests?: readonly string[];
}

/** The key of a saved boot: 24 hex digits of a sha256 over its inputs. */
export function savedBootKey(i: SavedBootInputs): string {
  const h = createHash("sha256");
  h.update(`memhp saved boot ${SAVED_BOOT_FORMAT}\n${i.binary}\n${qemuVersion(i.binary)}\n`);
  for (const a of i.args) h.update(a.split(i.workDir).join("WORK") + "\0");
  for (const f of i.files) h.update(`${path.basename(f)} ${fileDigest(f)}\n`);
  for (const d of i.digests ?? []) h.update(`${d}\n`);
  return h.digest("hex").slice(0, 24);
}

/** What is kept beside the migration stream. */
export interface SavedBootMeta {
  format: number;
  key: string;
  /** the guest's hello when it was saved */
  release: string;
  build: string;
  /** the cold boot's command line (work folder as WORK) */
  args: string[];
  /** ms from QEMU's start to the hello, on the cold boot */
  bootMs: number;
  savedAt: string;
}

export interface SavedBoot {
  dir: string;
  state: string;
  initrd: string;
  meta: SavedBootMeta;
}

export function savedBootPaths(
  cache: string,
  key: string,
): { dir: string; state: string; initrd: string; meta: string } {
  const dir = path.join(savedBootsDir(cache), key);
  return {
    dir,
    state: path.join(dir, "state"),
    initrd: path.join(dir, "initrd.gz"),
    meta: path.join(dir, "meta.json"),
  };
}

/** The saved boot of `key`, when it is there whole. */
export function findSavedBoot(cache: string, key: string): SavedBoot | undefined {
  const p = savedBootPaths(cache, key);
  try {
    const meta = JSON.parse(fs.readFileSync(p.meta, "utf8")) as SavedBootMeta;
    if (meta.format !== SAVED_BOOT_FORMAT || meta.key !== key) return undefined;
    if (!fs.existsSync(p.state) || !fs.existsSync(p.initrd)) return undefined;
    return { dir: p.dir, state: p.state, initrd: p.initrd, meta };
  } catch {
    return undefined;
  }
}

/** How long a saved boot nobody restored stays (pruneSavedBoots()). */
export const SAVED_BOOT_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/** Marks a saved boot as used now (its meta.json's time), so that pruning keeps it. */
export function touchSavedBoot(saved: SavedBoot, now: Date = new Date()): void {
  try {
    fs.utimesSync(path.join(saved.dir, "meta.json"), now, now);
  } catch {
    // a saved boot another process just dropped
  }
}

/**
 * Removes the saved boots not made or restored for `maxAgeMs` (by their
 * meta.json's time; a folder without one by its own), except `keep`. Every
 * change of the kernel, the initramfs or QEMU makes new keys, and the old
 * ones (100 to 180 MiB each) would stay for good. Returns the keys removed.
 */
export function pruneSavedBoots(
  cache: string,
  keep: string,
  maxAgeMs: number = SAVED_BOOT_MAX_AGE_MS,
  now: number = Date.now(),
): string[] {
  const root = savedBootsDir(cache);
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (name === keep) continue;
    const dir = path.join(root, name);
    let t: number;
    try {
      const st = fs.statSync(dir);
      if (!st.isDirectory()) continue;
      t = fs.existsSync(path.join(dir, "meta.json"))
        ? fs.statSync(path.join(dir, "meta.json")).mtimeMs
        : st.mtimeMs;
    } catch {
      continue;
    }
    if (now - t <= maxAgeMs) continue;
    fs.rmSync(dir, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** Drops a saved boot that did not restore. */
export function dropSavedBoot(cache: string, key: string): void {
  fs.rmSync(savedBootPaths(cache, key).dir, { recursive: true, force: true });
}
