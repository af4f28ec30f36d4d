// What a fuzz failure stands for in the real kernel. Stock 6.1 has paths the
// model follows to the point where the kernel corrupts memory or BUG()s; the
// model stops there with an invariant violation or a KernelBug, and the fuzzer
// used to steer around them. Now it walks into them and names each failure
// after the kernel behaviour it shows, so a campaign reports "stock 6.1 does X
// here" instead of a model bug. A failure this file does not recognise is a
// model bug (or a new kernel behaviour to add here).

import type { Kernel } from "../kernel/kernel.js";
import type { ExposureFinding } from "../mm/exposure_audit.js";
import type { Failure } from "./driver.js";

/** The kernel behaviours a failure can stand for, by the evidence the model leaves. */
export const KNOWN_BEHAVIOURS = {
  pud: "stock 6.1 remove_pud_table() would walk a 1G leaf as a PMD table (x86_64: remove_memory() of part of a 1 GiB direct-map page)",
  pmd: "stock 6.1 remove_pmd_table() frees the memory a partly covered 2M direct-map leaf maps as if it were memmap (x86_64)",
  arm64Block:
    "stock 6.1 arm64 unmap_hotplug_range() clears a partly covered block mapping whole: memory outside the removed range loses its linear map",
  acpiEexist:
    "6.1 try_remove_memory() hits BUG_ON(check_hotplug_memory_range()) on a range that is not whole memory blocks: remove_memory() of an unaligned range, or ACPI's eject after acpi_memory_enable_device() took add_memory()'s -EEXIST for success",
} as const;

/**
 * The kernel behaviour `f` stands for on machine k (after the failing step), or
 * undefined for an unrecognised failure. `removals` are the auditor's findings
 * since the case started (leaf-split: a removal that went ahead across a leaf).
 */
export function knownBehaviour(
  k: Kernel | undefined,
  f: Failure,
  findings: readonly ExposureFinding[],
): string | undefined {
  if (f.kind === "kernel-bug" && /__remove_memory|check_hotplug_memory_range/.test(f.message))
    return KNOWN_BEHAVIOURS.acpiEexist;
  if (!k || (f.kind !== "invariant" && f.kind !== "kernel-bug")) return undefined;
  const warnings = (k.arch as { warnings?: string[] }).warnings ?? [];
  if (warnings.some((w) => w.startsWith("remove_pud_table: partial 1G leaf"))) return KNOWN_BEHAVIOURS.pud;
  if (warnings.some((w) => w.startsWith("remove_pmd_table: partial direct-map 2M leaf")))
    return KNOWN_BEHAVIOURS.pmd;
  const split = findings.some((x) => x.kind === "leaf-split");
  if (split && k.arch.arch === "arm64" && /not in the linear map|not present but mapped/.test(f.message))
    return KNOWN_BEHAVIOURS.arm64Block;
  if (split && k.arch.arch === "x86_64") return KNOWN_BEHAVIOURS.pud;
  return undefined;
}
