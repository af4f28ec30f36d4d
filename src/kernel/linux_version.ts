// Which Linux release the model is: include/generated/uapi/linux/version.h's
// LINUX_VERSION_CODE, as the scenario's `machine ... kernel=6.12` names it. 6.1
// (Debian 12's) is the default; 6.12 is Debian 13's, 7.2 Debian unstable's
// (sid). Hotplug code that behaves differently between them asks
// `kernelAtLeast()`, and docs/kernel-versions.md lists each difference with the
// commit that made it.

/** The releases memhp models, oldest first. */
export const KERNEL_VERSIONS = ["6.1", "6.12", "7.2"] as const;
export type KernelVersion = (typeof KERNEL_VERSIONS)[number];

/** The release a machine is when its scenario names none. */
export const DEFAULT_KERNEL_VERSION: KernelVersion = "6.1";

export function isKernelVersion(s: string): s is KernelVersion {
  return (KERNEL_VERSIONS as readonly string[]).includes(s);
}

/** KERNEL_VERSION(a, b, 0) of "a.b". */
export function versionCode(v: KernelVersion): number {
  const [a, b] = v.split(".").map(Number);
  return (a << 16) + (b << 8);
}

/** LINUX_VERSION_CODE >= KERNEL_VERSION(of "want"). */
export function kernelAtLeast(have: KernelVersion, want: KernelVersion): boolean {
  return versionCode(have) >= versionCode(want);
}
