// Walking a guest kernel's page tables on the host, from table pages read out
// of guest physical memory (gdbstub.ts reads them). Pure: the pages come from a
// PageReader, so tests build fake tables in Buffers.
//
// Both arches use 4 KiB tables of 512 8-byte entries and four levels, 48-bit
// virtual addresses (x86_64 4-level paging: PGD/PUD/PMD/PTE, the P4D folded;
// arm64 4K granule, VA_BITS=48: levels 0..3). Level numbers here: 0 root, 1
// (1 GiB per entry), 2 (2 MiB), 3 (4 KiB). Leaves can sit at levels 1, 2 and 3:
//   x86_64 (Intel SDM vol. 3, 4.5): bit 0 P; at levels 1 and 2 bit 7 PS makes
//     the entry a 1G / 2M page; address bits 51:12 (51:30, 51:21 for large
//     pages, whose bit 12 is PAT); bit 63 XD.
//   arm64 (Arm ARM D8.3, VMSAv8-64 descriptors): bit 0 valid; bit 1 set = table
//     at levels 0..2, page at level 3; bit 1 clear = block at levels 1 (1G) and
//     2 (2M), invalid at levels 0 and 3; output address bits 47:12 (47:30,
//     47:21 for blocks); bit 52 the contiguous hint.
// Only the kernel half is walked: x86_64 root entries 256..511 (the upper
// half; the lower half of a process PGD is user space), arm64 the whole
// TTBR1 tree (swapper_pg_dir).
//
// Debian 13's and sid's arm64 kernels (6.12, 7.2) are built for 52-bit virtual
// addresses with FEAT_LPA2 (CONFIG_ARM64_VA_BITS_52, CONFIG_ARM64_LPA2,
// five levels), and on QEMU's `max` CPU they use them: TCR_EL1.T1SZ is 12 and
// TCR_EL1.DS is 1. Their tree has a level -1 root of 16 entries (VA bits
// 51:48) above the four levels, and with DS each descriptor carries output
// address bits 51:50 in its bits 9:8 (Arm ARM D8.3, "52-bit output
// addresses with 4KB granule"). arm64WalkSpec() makes the spec from TCR_EL1;
// the "va48" numbers of such a walk are the low 52 bits of the address.

import type { Arch } from "../scenario/ast.js";
import type { PtLevelName } from "../scenario/trace.js";

export type WalkLevel = -1 | 0 | 1 | 2 | 3;
export type LeafLevel = 1 | 2 | 3;

export const ENTRIES = 512;
export const TABLE_BYTES = 4096;
/** Bytes one entry of a table at each level 0..3 covers. */
export const ENTRY_SPAN: readonly number[] = [2 ** 39, 2 ** 30, 2 ** 21, 2 ** 12];
/** Bytes one entry of a table at `level` (-1..3) covers. */
export const entrySpan = (level: WalkLevel): number => 2 ** (12 + 9 * (3 - level));
/** ptdump's names of leaves at levels 1..3 (src/scenario/trace.ts PtLevelName). */
export const LEAF_NAME: Readonly<Record<LeafLevel, PtLevelName>> = { 1: "pud", 2: "pmd", 3: "pte" };

/** A decoded entry: kind 0 none/invalid, 1 next-level table, 2 leaf; pa of the table or of the leaf. */
export interface Decoded {
  kind: 0 | 1 | 2;
  pa: number;
  /** arm64 contiguous hint (bit 52); false on x86 */
  cont: boolean;
}

const NONE: Decoded = { kind: 0, pa: 0, cont: false };
const TWO32 = 2 ** 32;

/** x86_64 4-level paging entry (lo, hi: the two little-endian 32-bit halves) at `level`. */
export function decodeX86(lo: number, hi: number, level: WalkLevel): Decoded {
  if ((lo & 1) === 0) return NONE;
  const high = (hi & 0xfffff) * TWO32;
  if (level === 3) return { kind: 2, pa: high + ((lo & 0xfffff000) >>> 0), cont: false };
  if (level !== 0 && (lo & 0x80) !== 0) {
    const mask = level === 1 ? 0xc0000000 : 0xffe00000;
    return { kind: 2, pa: high + ((lo & mask) >>> 0), cont: false };
  }
  return { kind: 1, pa: high + ((lo & 0xfffff000) >>> 0), cont: false };
}

/** arm64 VMSAv8-64 descriptor, 4K granule, 48-bit output addresses, at `level`. */
export function decodeArm64(lo: number, hi: number, level: WalkLevel): Decoded {
  if ((lo & 1) === 0) return NONE;
  const high = (hi & 0xffff) * TWO32;
  const cont = (hi & (1 << 20)) !== 0;
  const isTableOrPage = (lo & 2) !== 0;
  if (level === 3) return isTableOrPage ? { kind: 2, pa: high + ((lo & 0xfffff000) >>> 0), cont } : NONE;
  if (isTableOrPage) return { kind: 1, pa: high + ((lo & 0xfffff000) >>> 0), cont: false };
  if (level === 0) return NONE;
  const mask = level === 1 ? 0xc0000000 : 0xffe00000;
  return { kind: 2, pa: high + ((lo & mask) >>> 0), cont };
}

/**
 * arm64 VMSAv8-64 descriptor with TCR_EL1.DS = 1 (FEAT_LPA2, 4K granule):
 * output address bits 49:12 in place, 51:50 in bits 9:8. The level -1 root
 * holds tables only; a level 0 block (512 GiB) is not a mapping the kernel
 * makes and reads as none.
 */
export function decodeArm64Lpa2(lo: number, hi: number, level: WalkLevel): Decoded {
  if ((lo & 1) === 0) return NONE;
  const high = (hi & 0x3ffff) * TWO32 + ((lo >>> 8) & 3) * 2 ** 50;
  const cont = (hi & (1 << 20)) !== 0;
  const isTableOrPage = (lo & 2) !== 0;
  if (level === 3) return isTableOrPage ? { kind: 2, pa: high + ((lo & 0xfffff000) >>> 0), cont } : NONE;
  if (isTableOrPage) return { kind: 1, pa: high + ((lo & 0xfffff000) >>> 0), cont: false };
  if (level <= 0) return NONE;
  const mask = level === 1 ? 0xc0000000 : 0xffe00000;
  return { kind: 2, pa: high + ((lo & mask) >>> 0), cont };
}

export interface WalkSpec {
  arch: Arch;
  decode(lo: number, hi: number, level: WalkLevel): Decoded;
  /** first root entry of the kernel half */
  rootFirst: number;
  /** the level of the root table (0; -1 for arm64's 52-bit five-level tree) */
  rootLevel?: WalkLevel;
  /** entries of the root table (512; 16 for a 52-bit arm64 root) */
  rootEntries?: number;
  /** virtual address bits the tree translates (48; 52) */
  vaBits?: number;
  /** the 64-bit virtual address of a walk's va48 (its low vaBits bits) */
  vaOf(va48: number): bigint;
}

const UPPER = 0xffff000000000000n;

export const X86_64_WALK: WalkSpec = {
  arch: "x86_64",
  decode: decodeX86,
  rootFirst: 256,
  vaOf: (va48) => (va48 >= 2 ** 47 ? BigInt(va48) | UPPER : BigInt(va48)),
};

export const ARM64_WALK: WalkSpec = {
  arch: "arm64",
  decode: decodeArm64,
  rootFirst: 0,
  vaOf: (va48) => BigInt(va48) | UPPER,
};

export const WALK_SPECS: Readonly<Record<Arch, WalkSpec>> = { x86_64: X86_64_WALK, arm64: ARM64_WALK };

/** arm64's TTBR1 walk with 52-bit virtual addresses and LPA2 descriptors (Debian's 6.12 and 7.2). */
export const ARM64_WALK_52: WalkSpec = {
  arch: "arm64",
  decode: decodeArm64Lpa2,
  rootFirst: 0,
  rootLevel: -1,
  rootEntries: 16,
  vaBits: 52,
  vaOf: (va52) => BigInt(va52) | 0xfff0000000000000n,
};

/**
 * The arm64 walk TCR_EL1 describes: T1SZ (bits 21:16) gives the TTBR1
 * region's size, 64 - T1SZ bits; DS (bit 59) the LPA2 descriptor format.
 * 48 bits without DS is 6.1's tree; 52 bits with DS the tree of Debian's
 * 52-bit kernels; anything else is an error saying so.
 */
export function arm64WalkSpec(tcr: bigint): WalkSpec {
  const vaBits = 64 - Number((tcr >> 16n) & 63n);
  const ds = ((tcr >> 59n) & 1n) === 1n;
  if (vaBits === 48 && !ds) return ARM64_WALK;
  if (vaBits === 52 && ds) return ARM64_WALK_52;
  throw new Error(
    `TCR_EL1 0x${tcr.toString(16)}: ${vaBits}-bit TTBR1 region, DS ${ds ? 1 : 0}: no walk for it`,
  );
}

/**
 * The root table's physical address from TTBR1_EL1: BADDR in bits 47:1 (a
 * 16-entry 52-bit root is 64-byte aligned), and with DS BADDR[51:48] in bits 5:2.
 */
export function arm64RootPa(ttbr1: bigint, spec: WalkSpec): number {
  if (spec.rootEntries === undefined || spec.rootEntries === ENTRIES)
    return Number(ttbr1 & 0x0000fffffffff000n);
  return Number(ttbr1 & 0x0000ffffffffffc0n) + Number((ttbr1 >> 2n) & 0xfn) * 2 ** 48;
}

/** Low 48 bits of a virtual address. */
export function va48Of(va: bigint): number {
  return Number(va & 0xffffffffffffn);
}

/** Reads 4 KiB pages of guest physical memory, one Buffer per address, in order. */
export type PageReader = (pas: readonly number[]) => Promise<Buffer[]>;

export interface Leaf {
  va48: number;
  level: LeafLevel;
  /** physical address of the leaf's first byte */
  pa: number;
  size: number;
  cont: boolean;
}

export interface WalkResult {
  /** leaves overlapping any of the asked ranges, in address order */
  leaves: Leaf[];
  /** distinct table pages reachable from the root, the root included */
  tablePages: number;
  /** the 48-bit base VA of the span each table (the root excluded) maps, one per distinct table */
  tableBases48: number[];
  /** table pages read */
  pagesRead: number;
}

interface Node {
  pa: number;
  level: WalkLevel;
  base48: number;
}

/** Does [a, a + len) overlap one of the ranges (va48, [start, end))? */
function overlaps(ranges: ReadonlyArray<readonly [number, number]>, a: number, len: number): boolean {
  for (const [s, e] of ranges) if (a < e && a + len > s) return true;
  return false;
}

/**
 * Walks the kernel half of the tree rooted at `rootPa`, level by level (one
 * batch of reads per level). Every table is counted; the tables of levels 1
 * and 2 are read whole, the last-level tables only where they overlap
 * `ranges` (the leaves asked for), since a PTE table's existence is known from
 * its parent entry.
 */
export async function walkKernelTables(
  spec: WalkSpec,
  rootPa: number,
  read: PageReader,
  ranges: ReadonlyArray<readonly [number, number]>,
): Promise<WalkResult> {
  const seen = new Set<number>([rootPa]);
  const tableBases48: number[] = [];
  const leaves: Leaf[] = [];
  const rootLevel = spec.rootLevel ?? 0;
  let frontier: Node[] = [{ pa: rootPa, level: rootLevel, base48: 0 }];
  let pagesRead = 0;
  while (frontier.length > 0) {
    const pas = [...new Set(frontier.map((n) => n.pa))];
    const pages = await read(pas);
    pagesRead += pas.length;
    const byPa = new Map<number, Buffer>();
    pas.forEach((pa, i) => byPa.set(pa, pages[i]));
    const next: Node[] = [];
    for (const node of frontier) {
      const page = byPa.get(node.pa) as Buffer;
      if (page.length < TABLE_BYTES) throw new Error(`short table page at 0x${node.pa.toString(16)}`);
      const span = entrySpan(node.level);
      const isRoot = node.level === rootLevel;
      const first = isRoot ? spec.rootFirst : 0;
      const count = isRoot ? (spec.rootEntries ?? ENTRIES) : ENTRIES;
      for (let i = first; i < count; i++) {
        const lo = page.readUInt32LE(i * 8);
        const hi = page.readUInt32LE(i * 8 + 4);
        if (lo === 0 && hi === 0) continue;
        const d = spec.decode(lo, hi, node.level);
        if (d.kind === 0) continue;
        const va48 = node.base48 + i * span;
        if (d.kind === 2) {
          if (overlaps(ranges, va48, span)) {
            leaves.push({ va48, level: node.level as LeafLevel, pa: d.pa, size: span, cont: d.cont });
          }
          continue;
        }
        const child: Node = { pa: d.pa, level: (node.level + 1) as WalkLevel, base48: va48 };
        const fresh = !seen.has(d.pa);
        if (fresh) {
          seen.add(d.pa);
          tableBases48.push(va48);
        }
        // A shared table is read once per place it is reached only when needed there.
        if (child.level < 3 ? fresh || overlaps(ranges, va48, span) : overlaps(ranges, va48, span)) {
          next.push(child);
        }
      }
    }
    frontier = next;
  }
  leaves.sort((a, b) => a.va48 - b.va48);
  return { leaves, tablePages: seen.size, tableBases48, pagesRead };
}
