// What setup_arch() makes of the firmware's memory map: iomem resources
// (arch/x86/kernel/e820.c: e820__reserve_resources(); arch/arm64/kernel/setup.c:
// request_standard_resources()) with the kernel image under the System RAM that
// holds it, and the range the kernel image occupies (memblock-reserved).

import type { Board } from "../hw/board.js";
import type { Arch } from "../arch/arch.js";
import type { PfnSpan } from "../mm/page_alloc.js";
import { IORESOURCE_BUSY, IORESOURCE_MEM, IORESOURCE_SYSTEM_RAM, Resource, type ResourceTree } from "./resource.js";

const PAGE = 4096;

/**
 * The kernel image of the Debian 6.1 cloud kernels with nokaslr, as the oracle's
 * /proc/iomem shows it (x86_64: "Kernel code" at 0x1000000 ... "Kernel bss" up to
 * 0x37fffff). arm64's is placed by the EFI stub; the model puts it at the start of
 * RAM + 2 MiB.
 */
const KERNEL_IMAGE: Record<Arch, { name: string; start: number; end: number }[]> = {
  x86_64: [
    { name: "Kernel code", start: 0x01000000, end: 0x01e01ef1 },
    { name: "Kernel rodata", start: 0x02000000, end: 0x02826fff },
    { name: "Kernel data", start: 0x02a00000, end: 0x02c45dff },
    { name: "Kernel bss", start: 0x032b1000, end: 0x037fffff },
  ],
  // The EFI stub places the image near the top of RAM; these are the oracle's
  // addresses for a 1 GiB guest.
  arm64: [
    { name: "Kernel code", start: 0x77410000, end: 0x7878ffff },
    { name: "Kernel data", start: 0x78c10000, end: 0x78eaffff },
  ],
};

/** The PFN range the kernel image occupies (reserved at boot, never in the buddy). */
export function kernelImageRange(arch: Arch): PfnSpan {
  const parts = KERNEL_IMAGE[arch];
  const start = Math.min(...parts.map((p) => p.start));
  const end = Math.max(...parts.map((p) => p.end)) + 1;
  return { startPfn: Math.floor(start / PAGE), endPfn: Math.ceil(end / PAGE) };
}

/** Firmware ranges that are not RAM, named as the kernel names them. */
const X86_FIXED: { name: string; start: number; end: number; children?: { name: string; start: number; end: number }[] }[] =
  [
    { name: "PCI Bus 0000:00", start: 0x000a0000, end: 0x000bffff },
    { name: "Video ROM", start: 0x000c0000, end: 0x000c9bff },
    { name: "Adapter ROM", start: 0x000ca000, end: 0x000ca5ff },
    { name: "IOAPIC 0", start: 0xfec00000, end: 0xfec003ff },
    { name: "HPET 0", start: 0xfed00000, end: 0xfed003ff },
    { name: "Local APIC", start: 0xfee00000, end: 0xfee00fff },
  ];

export function insertFirmwareResources(tree: ResourceTree, board: Board): void {
  const arch = board.config.arch;
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
  if (arch === "x86_64") {
    for (const f of X86_FIXED)
      tree.insertResource(tree.root, new Resource(f.name, BigInt(f.start), BigInt(f.end), IORESOURCE_MEM));
  }
  const inRam = (a: number) => board.firmwareMap.some((r) => r.kind === "ram" && r.start <= a && a < r.end);
  for (const k of KERNEL_IMAGE[arch]) {
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
 * Memory the kernel frees late in boot, page by page through the per-cpu lists
 * (free_initmem() and free_initrd_mem() → free_reserved_area() → __free_page()):
 * the __init sections and the initramfs. Calibrated so that a 1 GiB guest holds
 * the oracle's number of pages on its per-cpu lists at the first reading
 * (x86_64 DMA32: 2649, arm64 DMA: 1364).
 */
const LATE_FREED_PAGES: Record<Arch, number> = { x86_64: 2649, arm64: 1364 };

/** The reserved range whose pages late boot gives back (see LATE_FREED_PAGES). */
export function lateFreedRange(board: Board): PfnSpan {
  const all = bootReservations(board);
  const top = all[all.length - 1];
  return { startPfn: top.startPfn - LATE_FREED_PAGES[board.config.arch], endPfn: top.startPfn };
}

export function bootReservations(board: Board): PfnSpan[] {
  const out: PfnSpan[] = [];
  const ram = board.firmwareMap.filter((r) => r.kind === "ram");
  if (board.config.arch === "x86_64") {
    const low = ram.find((r) => r.start < 0x100000);
    if (low) out.push({ startPfn: Math.ceil(low.start / PAGE), endPfn: Math.floor(Math.min(low.end, 0x100000) / PAGE) });
  }
  // The bank that holds most of boot memory (x86: 1 MiB .. the low-memory split; arm64: from 1 GiB).
  const bank = ram.reduce((a, b) => (b.end - b.start > a.end - a.start ? b : a));
  const endPfn = Math.floor(bank.end / PAGE);
  const n = Math.min(CALIBRATED_RESERVED_PAGES[board.config.arch], Math.floor((endPfn - Math.ceil(bank.start / PAGE)) / 4));
  out.push({ startPfn: endPfn - n, endPfn });
  return out;
}

/** Everything reserved at boot, including what late boot frees again. */
export function bootReservationsWithInit(board: Board): PfnSpan[] {
  return [...bootReservations(board), lateFreedRange(board)];
}
