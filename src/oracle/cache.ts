// Where the oracle's downloaded kernel lives: a cache folder outside git,
// $MEMHP_CACHE, else $XDG_CACHE_HOME/memhp, else ~/.cache/memhp. Filled by
// scripts/oracle-setup.sh, which unpacks Debian's cloud kernel package there
// (dpkg -x); the files are found by glob because the ABI number in the release
// (6.1.0-NN-cloud-amd64) changes with every security update.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Arch } from "../scenario/ast.js";
import { DEFAULT_KERNEL_VERSION, type KernelVersion } from "../kernel/linux_version.js";

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MEMHP_CACHE) return env.MEMHP_CACHE;
  const xdg = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), ".cache");
  return path.join(xdg, "memhp");
}

export interface KernelFiles {
  arch: Arch;
  /** the release series (the patched build: the one its patches apply to) */
  version: KernelVersion;
  /** uname -r, e.g. "6.1.0-56-cloud-amd64" */
  release: string;
  vmlinuz: string;
  config: string;
  /** lib/modules/RELEASE */
  modulesDir: string;
  /** the RFC-patched build (linux-patches/build.sh): virtio built in, the test module its only module */
  patched?: boolean;
}

/** Debian's flavour suffix of the cloud kernel per arch. */
const FLAVOUR: Record<Arch, string> = { x86_64: "cloud-amd64", arm64: "cloud-arm64" };

/** Compares releases such as 6.1.0-9-cloud-amd64 < 6.1.0-56-cloud-amd64 (numeric parts as numbers). */
export function compareReleases(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? "";
    const y = pb[i] ?? "";
    if (x === y) continue;
    const nx = Number(x);
    const ny = Number(y);
    if (x !== "" && y !== "" && Number.isFinite(nx) && Number.isFinite(ny)) return nx - ny;
    return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * The cache folder of Debian's kernel of `version` for `arch`: linux-ARCH for
 * 6.1 (Debian 12's, the first the oracle ran), linux-VERSION-ARCH for the
 * others (linux-6.12-x86_64: Debian 13's).
 */
export function kernelRoot(arch: Arch, dir: string, version: KernelVersion = DEFAULT_KERNEL_VERSION): string {
  return path.join(dir, version === "6.1" ? `linux-${arch}` : `linux-${version}-${arch}`);
}

/** The newest kernel of `arch` and `version` in the cache (boot/vmlinuz-* with its modules), or undefined. */
export function findKernel(
  arch: Arch,
  dir: string = cacheDir(),
  version: KernelVersion = DEFAULT_KERNEL_VERSION,
): KernelFiles | undefined {
  const root = kernelRoot(arch, dir, version);
  const boot = path.join(root, "boot");
  let names: string[];
  try {
    names = fs.readdirSync(boot);
  } catch {
    return undefined;
  }
  const releases = names
    .filter((n) => n.startsWith("vmlinuz-") && n.endsWith(`-${FLAVOUR[arch]}`))
    .map((n) => n.slice("vmlinuz-".length))
    .filter((r) => fs.existsSync(path.join(root, "lib", "modules", r)))
    .sort(compareReleases);
  const release = releases.at(-1);
  if (release === undefined) return undefined;
  return {
    arch,
    version,
    release,
    vmlinuz: path.join(boot, `vmlinuz-${release}`),
    config: path.join(boot, `config-${release}`),
    modulesDir: path.join(root, "lib", "modules", release),
  };
}

/** Which kernel the oracle boots: Debian's cloud kernel, or the RFC-patched build of linux-patches/build.sh. */
export type OracleKernel = "stock" | "patched";

/** The test module of the patched kernel (linux-patches/patches/0008), its only module. */
export const PATCHED_MODULE = "test_memhp.ko";

/**
 * The cache folder of the patched kernel linux-patches/build.sh installs for
 * `arch` and `version`: linux-patched-ARCH (6.1), linux-patched-VERSION-ARCH.
 */
export function patchedKernelRoot(
  arch: Arch,
  dir: string,
  version: KernelVersion = DEFAULT_KERNEL_VERSION,
): string {
  return path.join(
    dir,
    version === DEFAULT_KERNEL_VERSION ? `linux-patched-${arch}` : `linux-patched-${version}-${arch}`,
  );
}

/**
 * The patched kernel linux-patches/build.sh installed for `arch` and `version`
 * (vmlinuz, release, modules/test_memhp.ko), or undefined. Everything else it
 * needs is built in.
 */
export function findPatchedKernel(
  arch: Arch,
  dir: string = cacheDir(),
  version: KernelVersion = DEFAULT_KERNEL_VERSION,
): KernelFiles | undefined {
  const root = patchedKernelRoot(arch, dir, version);
  const vmlinuz = path.join(root, "vmlinuz");
  const modulesDir = path.join(root, "modules");
  if (!fs.existsSync(vmlinuz) || !fs.existsSync(path.join(modulesDir, PATCHED_MODULE))) return undefined;
  let release = "patched";
  try {
    release = fs.readFileSync(path.join(root, "release"), "utf8").trim();
  } catch {
    // an install without its release file still boots
  }
  return {
    arch,
    version,
    release,
    vmlinuz,
    config: path.join(root, "config"),
    modulesDir,
    patched: true,
  };
}

/** The virtio-mem modules in load order (docs/oracle-notes.md), relative to the modules dir. */
export const VIRTIO_MEM_MODULES: readonly string[] = [
  "kernel/drivers/virtio/virtio_ring.ko",
  "kernel/drivers/virtio/virtio.ko",
  "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
  "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
  "kernel/drivers/virtio/virtio_pci.ko",
  "kernel/drivers/virtio/virtio_mem.ko",
];

/** arm64's protocol port: a virtio console (hvc0) on a virtio-mmio transport. */
export const VIRTIO_CONSOLE_MODULES: readonly string[] = [
  "kernel/drivers/virtio/virtio_ring.ko",
  "kernel/drivers/virtio/virtio.ko",
  "kernel/drivers/virtio/virtio_mmio.ko",
  "kernel/drivers/char/virtio_console.ko",
];

/**
 * The modules the guest loads, in order. The virtio-mem stack comes first:
 * virtio device numbers (virtioN, the name of virtio-mem's /proc/iomem
 * resource) are handed out as transports register devices, so with virtio_pci
 * loaded before virtio_mmio the virtio-mem device is virtio0, as in a guest
 * without the arm64 protocol console.
 */
export function guestModuleList(arch: Arch, withVirtioMem: boolean): string[] {
  const list = withVirtioMem ? [...VIRTIO_MEM_MODULES] : [];
  if (arch === "arm64") for (const m of VIRTIO_CONSOLE_MODULES) if (!list.includes(m)) list.push(m);
  return list;
}

/**
 * The guest's modules that `kernel` has as files, in order: a module its
 * configuration builds in (modules.builtin; Debian 13's kernels build in
 * virtio, virtio_pci and virtio_console) is left out. A module neither a file
 * nor built in is an error naming it.
 */
export function kernelModuleList(arch: Arch, withVirtioMem: boolean, kernel: KernelFiles): string[] {
  let builtin: Set<string> | undefined;
  const out: string[] = [];
  for (const m of guestModuleList(arch, withVirtioMem)) {
    if (fs.existsSync(path.join(kernel.modulesDir, m))) {
      out.push(m);
      continue;
    }
    builtin ??= readBuiltin(kernel.modulesDir);
    if (!builtin.has(m))
      throw new Error(
        `${kernel.release}: ${m} is neither in ${kernel.modulesDir} nor built in (modules.builtin)`,
      );
  }
  return out;
}

function readBuiltin(modulesDir: string): Set<string> {
  try {
    return new Set(
      fs
        .readFileSync(path.join(modulesDir, "modules.builtin"), "utf8")
        .split("\n")
        .filter((l) => l !== ""),
    );
  } catch {
    return new Set();
  }
}

/** ELF e_machine of each arch (EM_X86_64, EM_AARCH64). */
const ELF_MACHINE: Record<Arch, number> = { x86_64: 62, arm64: 183 };

/**
 * A static busybox for the guest: x86_64 the host's (package busybox-static;
 * the plain `busybox` package installs a dynamically linked one at the same
 * path, useless in the guest); arm64 the one oracle-setup.sh unpacked from
 * Debian's arm64 busybox-static into the cache (linux-arm64/bin/busybox).
 */
export function findBusybox(
  arch: Arch = "x86_64",
  dir: string = cacheDir(),
  version: KernelVersion = DEFAULT_KERNEL_VERSION,
): string | undefined {
  // arm64: the busybox beside the kernel, else 6.1's (any static arm64 busybox does)
  const roots = [...new Set([kernelRoot(arch, dir, version), kernelRoot(arch, dir)])];
  const candidates =
    arch === "x86_64"
      ? ["/bin/busybox", "/usr/bin/busybox"]
      : roots.flatMap((r) => [path.join(r, "bin", "busybox"), path.join(r, "usr", "bin", "busybox")]);
  for (const p of candidates) {
    if (!fs.existsSync(p)) continue;
    const b = fs.readFileSync(p);
    if (elfMachine(b) === ELF_MACHINE[arch] && !isDynamicElf(b)) return p;
  }
  return undefined;
}

/** e_machine of a 64-bit little-endian ELF, or undefined. */
export function elfMachine(b: Buffer): number | undefined {
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) return undefined;
  return b.readUInt16LE(0x12);
}

/** An ELF with a PT_INTERP program header (needs a dynamic loader). */
export function isDynamicElf(b: Buffer): boolean {
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46) return false;
  if (b[4] !== 2) return false; // 64-bit only (x86_64, arm64)
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) return true;
  return false;
}
