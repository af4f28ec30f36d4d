// arch/arm64/kernel/cpufeature.c as memory hotplug sees it: the CPU's MIDR_EL1
// and cpu_supports_bbml2_noabort(), the allow-list of CPUs that change a
// linear-map block's size without TLB conflict aborts (ARM64_HAS_BBML2_NOABORT,
// 7.2). On such a CPU 7.2 keeps block mappings in the linear map under
// rodata=full (arch/arm64/mm/mmu.c: force_pte_mapping(), src/arch/arm64/mmu.ts).
//
// The CPU models are the oracle's QEMU ones (`machine arm64 ... cpu=`,
// docs/scenario-format.md): QEMU has no CPU on the list, so `neoverse-v3` is
// QEMU's `max` reporting Neoverse V3 r0p2's MIDR (QEMU's `midr` property). The
// kernel decides BBML2_NOABORT from the MIDR alone; it ignores
// ID_AA64MMFR2_EL1.BBM.

import { kernelAtLeast, type KernelVersion } from "../../kernel/linux_version.js";

/** MIDR_EL1 of each CPU model the machine may have; the first is the default. */
export const ARM64_CPU_MIDR: Readonly<Record<string, number>> = {
  // QEMU's max (target/arm/tcg/cpu64.c): implementer 0, architecture 0xf, part 'Q'
  max: 0x000f0510,
  // implementer 0x41 (Arm), variant 0, part 0xd84 (MIDR_NEOVERSE_V3), revision 2
  "neoverse-v3": 0x410fd842,
};

interface MidrRange {
  implementer: number;
  part: number;
  /** variant << 4 | revision, inclusive; the whole range when absent (MIDR_ALL_VERSIONS) */
  from?: number;
  to?: number;
}

/** cpu_supports_bbml2_noabort(): supports_bbml2_noabort_list[] of 7.2 */
const BBML2_NOABORT_LIST: readonly MidrRange[] = [
  { implementer: 0x41, part: 0xd82, from: 0x02, to: 0x0f }, // Cortex-X4 r0p2..
  { implementer: 0x41, part: 0xd84, from: 0x02, to: 0x0f }, // Neoverse V3 r0p2..
  { implementer: 0x41, part: 0xd83, from: 0x02, to: 0x0f }, // Neoverse V3AE r0p2..
  { implementer: 0x4e, part: 0x010 }, // NVIDIA Olympus
  { implementer: 0xc0, part: 0xac3 }, // AmpereOne
  { implementer: 0xc0, part: 0xac4 }, // AmpereOne AC04
];

/** is_midr_in_range_list() */
function midrInRangeList(midr: number, list: readonly MidrRange[]): boolean {
  const implementer = (midr >>> 24) & 0xff;
  const part = (midr >>> 4) & 0xfff;
  const rv = (((midr >>> 20) & 0xf) << 4) | (midr & 0xf);
  return list.some(
    (r) =>
      r.implementer === implementer &&
      r.part === part &&
      (r.from === undefined || (rv >= r.from && rv <= (r.to ?? 0xff))),
  );
}

/**
 * cpu_supports_bbml2_noabort() on the model's single CPU. The capability and
 * its use for the linear map are not in 6.1 or 6.12 (the linear map's block
 * mappings under rodata=full came in 6.18).
 */
export function cpuSupportsBbml2Noabort(cpu: string, version: KernelVersion): boolean {
  const midr = ARM64_CPU_MIDR[cpu];
  if (midr === undefined) throw new Error(`unknown arm64 CPU model "${cpu}"`);
  return kernelAtLeast(version, "7.2") && midrInRangeList(midr, BBML2_NOABORT_LIST);
}
