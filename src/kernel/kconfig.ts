// The Kconfig options generic code tests, for the build the machine boots:
// Debian's cloud kernel of the release (its config, per arch), or the RFC
// series' own build (`machine ... rfc=v2`: `make tinyconfig` and
// linux-patches/config/, on the same release's source; src/kernel/rfc_build.ts).

import type { Arch } from "../arch/arch.js";
import { kernelAtLeast, type KernelVersion } from "./linux_version.js";

export interface Kconfig {
  /** CONFIG_MEMORY_FAILURE: the hard/soft_offline_page files, the node's memory_failure/ (6.5+) */
  readonly memoryFailure: boolean;
  /** CONFIG_ZONE_DEVICE: /proc/zoneinfo lists the "Device" zone */
  readonly zoneDevice: boolean;
  /** CONFIG_CRASH_HOTPLUG (6.6+): the memory root's crash_hotplug file */
  readonly crashHotplug: boolean;
  /** CONFIG_UNACCEPTED_MEMORY (6.5+): zoneinfo's nr_unaccepted */
  readonly unacceptedMemory: boolean;
  /**
   * Hot-added memory is onlined by default (mhp_get_default_online_type()):
   * Debian 13's and sid's configs (CONFIG_MHP_DEFAULT_ONLINE_TYPE_ONLINE_AUTO);
   * neither Debian 12's nor tinyconfig's.
   */
  readonly mhpDefaultOnline: boolean;
  /** arm64 CONFIG_ARM64_VA_BITS_52 (LPA2): Debian's 6.12 and 7.2 */
  readonly arm64VaBits52: boolean;
  /** CONFIG_KFENCE=y with no early pool (Debian's 6.12 and 7.2; arm64 forcePteMapping()) */
  readonly kfenceLateInit: boolean;
  /**
   * CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC (6.5+, arm64 selects
   * ARCH_WANT_KMALLOC_DMA_BOUNCE): with all RAM inside ZONE_DMA, arm64's
   * mem_init() still sets up a swiotlb, sized by memory (swiotlbPages()).
   */
  readonly dmaBounceUnalignedKmalloc: boolean;
}

/** Which arches select ARCH_WANT_KMALLOC_DMA_BOUNCE (from 6.5). */
const KMALLOC_DMA_BOUNCE: Record<Arch, boolean> = { x86_64: false, arm64: true };

/**
 * The RFC build's options on 6.12 and 7.2 (linux-patches/config/: tinyconfig,
 * CONFIG_MEMORY_FAILURE in arm64.config, CONFIG_ARM64_VA_BITS_48, no KFENCE,
 * no kexec/crash dump, no ZONE_DEVICE). On 6.1 the model of the build keeps
 * Debian 12's arch options, which the RFC corpus recorded on 6.1 agrees with.
 */
const RFC_MEMORY_FAILURE: Record<Arch, boolean> = { x86_64: false, arm64: true };

function rfcBuild(arch: Arch): Kconfig {
  return {
    memoryFailure: RFC_MEMORY_FAILURE[arch],
    zoneDevice: false,
    crashHotplug: false,
    unacceptedMemory: false,
    mhpDefaultOnline: false,
    arm64VaBits52: false,
    kfenceLateInit: false,
    dmaBounceUnalignedKmalloc: KMALLOC_DMA_BOUNCE[arch],
  };
}

/**
 * Debian 12's 6.1 configs: arm64 sets CONFIG_MEMORY_FAILURE, amd64
 * CONFIG_ZONE_DEVICE (oracle: ls /sys/devices/system/memory, /proc/zoneinfo);
 * Debian 13's set both on both, and amd64's alone CONFIG_CRASH_HOTPLUG and
 * CONFIG_UNACCEPTED_MEMORY (docs/kernel-versions.md).
 */
const DEBIAN: Record<Arch, { memoryFailure: boolean; zoneDevice: boolean; amd64Only612: boolean }> = {
  x86_64: { memoryFailure: false, zoneDevice: true, amd64Only612: true },
  arm64: { memoryFailure: true, zoneDevice: false, amd64Only612: false },
};

export function kernelKconfig(arch: Arch, version: KernelVersion, rfc: boolean): Kconfig {
  const v612 = kernelAtLeast(version, "6.12");
  if (rfc && v612) return rfcBuild(arch);
  const d = DEBIAN[arch];
  return {
    memoryFailure: d.memoryFailure || v612,
    zoneDevice: d.zoneDevice || v612,
    crashHotplug: v612 && d.amd64Only612,
    unacceptedMemory: v612 && d.amd64Only612,
    mhpDefaultOnline: v612,
    arm64VaBits52: v612,
    kfenceLateInit: v612,
    dmaBounceUnalignedKmalloc: v612 && KMALLOC_DMA_BOUNCE[arch],
  };
}
