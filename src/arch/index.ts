// The architectures' public face: createArchMm() gives generic code the
// ArchMm of the machine's architecture (x86_64: arch/x86/mm, arm64:
// arch/arm64/mm), archSetup() its setup_arch() side. These are the only
// places that switch on the architecture (test/layering.test.ts). Generic code keeps to the ArchMm interface; the extra
// members of ArchMmImpl are for boot set-up, /proc/meminfo and tests.

import type { PageAllocator } from "../mm/gfp.js";
import type { Work } from "../kernel/work.js";
import type { Arch, ArchSetup } from "./arch.js";
import { X86Mm } from "./x86_64/init_64.js";
import { Arm64Mm } from "./arm64/mmu.js";
import { x86Setup } from "./x86_64/setup.js";
import { arm64Setup } from "./arm64/setup.js";

export { X86Mm } from "./x86_64/init_64.js";
export { Arm64Mm } from "./arm64/mmu.js";

export interface CreateArchMmOptions {
  arch: Arch;
  /** Where table pages and vmemmap blocks come from. */
  alloc: PageAllocator;
  work: Work;
  /** arm64: rodata=full (default true: page-granular linear map). */
  rodataFull?: boolean;
  /** x86_64: 1 GiB direct-map pages (gbpages, PDPE1GB; default true). */
  gbpages?: boolean;
  /** x86_64: 2 MiB pages (X86_FEATURE_PSE; default true). */
  pse?: boolean;
  /** x86_64: X86_FEATURE_HYPERVISOR, for the memory block size above 64 GiB (default true). */
  hypervisor?: boolean;
  /** arm64: memstart_addr, 1 GiB aligned (default 0, the QEMU virt guest). */
  memstartAddr?: number;
  /** arm64: CONFIG_ARM64_VA_BITS, 48 (Debian 12's 6.1, default) or 52 (6.12, 7.2) */
  vaBits?: 48 | 52;
  /** arm64 6.9+: the vmemmap ends at -1 GiB (Arm64MmOptions) */
  vmemmapAtTop?: boolean;
  /** arm64: KFENCE without an early pool (Debian's 6.12 and 7.2 configs) */
  kfenceLateInit?: boolean;
  /** arm64: ARM64_HAS_BBML2_NOABORT (archSetup().bbml2Noabort()) */
  bbml2Noabort?: boolean;
}

export type ArchMmImpl = X86Mm | Arm64Mm;

export function createArchMm(opts: CreateArchMmOptions): ArchMmImpl {
  switch (opts.arch) {
    case "x86_64":
      return new X86Mm({
        alloc: opts.alloc,
        work: opts.work,
        gbpages: opts.gbpages,
        pse: opts.pse,
        hypervisor: opts.hypervisor,
      });
    case "arm64":
      return new Arm64Mm({
        alloc: opts.alloc,
        work: opts.work,
        rodataFull: opts.rodataFull,
        memstartAddr: opts.memstartAddr,
        vaBits: opts.vaBits,
        vmemmapAtTop: opts.vmemmapAtTop,
        kfenceLateInit: opts.kfenceLateInit,
        bbml2Noabort: opts.bbml2Noabort,
      });
    default: {
      const never: never = opts.arch;
      throw new Error(`unknown arch ${String(never)}`);
    }
  }
}

/** The arch's setup_arch() side (src/arch/<arch>/setup.ts): what boot asks before the page tables exist. */
export function archSetup(arch: Arch): ArchSetup {
  switch (arch) {
    case "x86_64":
      return x86Setup;
    case "arm64":
      return arm64Setup;
    default: {
      const never: never = arch;
      throw new Error(`unknown arch ${String(never)}`);
    }
  }
}
