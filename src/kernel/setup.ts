// What setup_arch() makes of the firmware's memory map: iomem resources
// (arch/x86/kernel/e820.c: e820__reserve_resources(); arch/arm64/kernel/setup.c:
// request_standard_resources()) with the kernel image under the System RAM that
// holds it, and the range the kernel image occupies (memblock-reserved). The
// arch's parts (its kernel image, firmware resources, low-memory reservation)
// come from src/arch/<arch>/setup.ts.

import type { Board } from "../hw/board.js";
import type { Arch } from "../arch/arch.js";
import { archSetup } from "../arch/index.js";
import type { PfnSpan } from "../mm/page_alloc.js";
import { IORESOURCE_BUSY, IORESOURCE_MEM, IORESOURCE_SYSTEM_RAM, Resource, type ResourceTree } from "./resource.js";
import { DEFAULT_KERNEL_VERSION, kernelAtLeast, type KernelVersion } from "./linux_version.js";

const PAGE = 4096;

/** The PFN range the kernel image occupies (reserved at boot, never in the buddy). */
export function kernelImageRange(arch: Arch): PfnSpan {
  const parts = archSetup(arch).kernelImage;
  const start = Math.min(...parts.map((p) => p.start));
  const end = Math.max(...parts.map((p) => p.end)) + 1;
  return { startPfn: Math.floor(start / PAGE), endPfn: Math.ceil(end / PAGE) };
}

export function insertFirmwareResources(tree: ResourceTree, board: Board): void {
  const setup = archSetup(board.config.arch);
  for (const r of board.firmwareMap) {
    // arm64 request_standard_resources(): NOMAP memory shows as "reserved".
    const ram = r.kind === "ram";
    const res = new Resource(
      ram ? "System RAM" : "Reserved",
      BigInt(r.start),
      BigInt(r.end - 1),
      ram ? (IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY) >>> 0 : (IORESOURCE_MEM | IORESOURCE_BUSY) >>> 0,
    );
    tree.insertResource(tree.root, res);
  }
  for (const f of setup.firmwareResources)
    tree.insertResource(tree.root, new Resource(f.name, BigInt(f.start), BigInt(f.end), IORESOURCE_MEM));
  const inRam = (a: number) => board.firmwareMap.some((r) => r.kind === "ram" && r.start <= a && a < r.end);
  for (const k of setup.kernelImage) {
    if (!inRam(k.start)) continue;
    const res = new Resource(k.name, BigInt(k.start), BigInt(k.end), (IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY) >>> 0);
    tree.insertResource(tree.root, res);
  }
}

/**
 * Boot-time memblock reservations the model does not model one by one (the
 * swiotlb buffer, per-cpu areas, the early memmap and page tables, ACPI tables,
 * the initrd until it is freed ...), as one range at the top of the first RAM
 * bank, where memblock allocates top-down. Its size is calibrated so that a
 * 1 GiB guest's managed pages equal the oracle's (x86_64: DMA32 managed 228740,
 * arm64: DMA managed 248774); x86_64 also keeps the first 1 MiB, as 6.1 always
 * does (setup_arch(): "reserve the first 1M").
 */
const CALIBRATED_RESERVED_PAGES: Record<Arch, number> = { x86_64: 19036, arm64: 4810 };

/**
 * What Debian 13's 6.12 cloud kernel reserves at boot beyond 6.1's (a larger
 * image and more boot-time allocations): measured on the same 1 GiB guests
 * (x86_64: DMA32 managed 227380 against 6.1's 228740; arm64: DMA managed
 * 246806 against 248774).
 */
const EXTRA_RESERVED_PAGES_6_12: Record<Arch, number> = { x86_64: 1360, arm64: 1968 };

/**
 * Memory the kernel frees late in boot, page by page through the per-cpu lists
 * (free_initmem() and free_initrd_mem() → free_reserved_area() → __free_page()):
 * the __init sections and the initramfs. Calibrated so that a 1 GiB guest holds
 * the oracle's number of pages on its per-cpu lists at the first reading
 * (x86_64 DMA32: 2649, arm64 DMA: 1364).
 */
const LATE_FREED_PAGES: Record<Arch, number> = { x86_64: 2649, arm64: 1364 };

/** The reserved range whose pages late boot gives back (see LATE_FREED_PAGES). */
export function lateFreedRange(board: Board, version: KernelVersion = DEFAULT_KERNEL_VERSION): PfnSpan {
  const all = bootReservations(board, version);
  const top = all[all.length - 1];
  return { startPfn: top.startPfn - LATE_FREED_PAGES[board.config.arch], endPfn: top.startPfn };
}

export function bootReservations(board: Board, version: KernelVersion = DEFAULT_KERNEL_VERSION): PfnSpan[] {
  const out: PfnSpan[] = [];
  const ram = board.firmwareMap.filter((r) => r.kind === "ram");
  out.push(...archSetup(board.config.arch).reserveLowMemory(ram));
  // The bank that holds most of boot memory (x86: 1 MiB .. the low-memory split; arm64: from 1 GiB).
  const bank = ram.reduce((a, b) => (b.end - b.start > a.end - a.start ? b : a));
  const endPfn = Math.floor(bank.end / PAGE);
  const arch = board.config.arch;
  const want = CALIBRATED_RESERVED_PAGES[arch] + (kernelAtLeast(version, "6.12") ? EXTRA_RESERVED_PAGES_6_12[arch] : 0);
  const n = Math.min(want, Math.floor((endPfn - Math.ceil(bank.start / PAGE)) / 4));
  out.push({ startPfn: endPfn - n, endPfn });
  return out;
}

/** Everything reserved at boot, including what late boot frees again. */
export function bootReservationsWithInit(board: Board, version: KernelVersion = DEFAULT_KERNEL_VERSION): PfnSpan[] {
  return [...bootReservations(board, version), lateFreedRange(board, version)];
}
