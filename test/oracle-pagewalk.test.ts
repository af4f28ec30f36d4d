// Walking guest kernel page tables on the host (src/oracle/pagewalk.ts) and
// turning the leaves into ptdump records (ptdump-runs.ts). The tables are built
// by hand in Buffers, entry by entry, from the architecture manuals' formats
// (Intel SDM vol. 3 4.5; Arm ARM D8.3), and the expected runs worked out by hand.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ARM64_WALK,
  ARM64_WALK_52,
  arm64RootPa,
  arm64WalkSpec,
  decodeArm64Lpa2,
  decodeArm64,
  decodeX86,
  walkKernelTables,
  X86_64_WALK,
  type PageReader,
} from "../src/oracle/pagewalk.js";
import { ARM64_LAYOUT_52, KERNEL_LAYOUT, ptdumpRanges, ptdumpRecord } from "../src/oracle/ptdump-runs.js";

const K = 2n ** 10n;
const M = K * K;
const G = M * K;

/** Guest physical memory made of table pages. */
class FakeMemory {
  readonly pages = new Map<number, Buffer>();
  readonly reads: number[] = [];

  table(pa: number): Buffer {
    let b = this.pages.get(pa);
    if (!b) {
      b = Buffer.alloc(4096);
      this.pages.set(pa, b);
    }
    return b;
  }

  set(tablePa: number, index: number, entry: bigint): void {
    this.table(tablePa).writeBigUInt64LE(entry, index * 8);
  }

  reader: PageReader = async (pas) =>
    pas.map((pa) => {
      this.reads.push(pa);
      const b = this.pages.get(pa);
      if (!b) throw new Error(`read of 0x${pa.toString(16)}, which the walk did not need`);
      return b;
    });
}

// x86_64 entry bits
const P = 1n;
const RW = 2n;
const PS = 0x80n;
const PAT_LARGE = 0x1000n;
const NX = 1n << 63n;
const x86Table = (pa: number): bigint => BigInt(pa) | P | RW;

test("decode x86_64: present, PS at PUD/PMD, address masks (PAT bit 12 of large pages, NX)", () => {
  assert.deepEqual(decodeX86(0, 0, 1), { kind: 0, pa: 0, cont: false });
  // not present but other bits set: still nothing
  assert.equal(decodeX86(0x80, 0x1, 2).kind, 0);
  const e = (v: bigint): [number, number] => [Number(v & 0xffffffffn), Number(v >> 32n)];
  // a 1G page at 4 GiB with NX
  assert.deepEqual(decodeX86(...e(0x100000000n | P | PS | NX), 1), { kind: 2, pa: 0x100000000, cont: false });
  // a 2M page with PAT (bit 12) set: bit 12 is not an address bit
  assert.deepEqual(decodeX86(...e(0x140200000n | P | PS | PAT_LARGE), 2), {
    kind: 2,
    pa: 0x140200000,
    cont: false,
  });
  // PS is ignored at the PGD (no 512G pages): a table
  assert.equal(decodeX86(...e(0x5000n | P | PS), 0).kind, 1);
  // bit 7 of a PTE is PAT, not PS: still a 4K page
  assert.deepEqual(decodeX86(...e(0xfffff000n | P | 0x80n), 3), { kind: 2, pa: 0xfffff000, cont: false });
  // a table high in memory (address bits 51:32)
  assert.deepEqual(decodeX86(...e(0xfffff00001000n | P | NX), 2), {
    kind: 1,
    pa: 0xfffff00001000,
    cont: false,
  });
});

// arm64 descriptor bits
const VALID = 1n;
const TABLE = 3n; // also "page" at level 3
const BLOCK = 1n;
const AF = 1n << 10n;
const CONT = 1n << 52n;
const PXN = 1n << 53n;
const UXN = 1n << 54n;

test("decode arm64: table/block/page by bits 1:0 and level, output address masks, contiguous hint", () => {
  const e = (v: bigint): [number, number] => [Number(v & 0xffffffffn), Number(v >> 32n)];
  assert.equal(decodeArm64(0, 0, 2).kind, 0);
  assert.deepEqual(decodeArm64(...e(0x12000n | TABLE), 0), { kind: 1, pa: 0x12000, cont: false });
  // a level-0 block does not exist with a 4K granule (48-bit OA): invalid
  assert.equal(decodeArm64(...e(0x8000000000n | BLOCK), 0).kind, 0);
  assert.deepEqual(decodeArm64(...e(0xc0000000n | BLOCK | AF | PXN | UXN), 1), {
    kind: 2,
    pa: 0xc0000000,
    cont: false,
  });
  assert.deepEqual(decodeArm64(...e(0x80200000n | BLOCK | AF | CONT), 2), {
    kind: 2,
    pa: 0x80200000,
    cont: true,
  });
  assert.deepEqual(decodeArm64(...e(0x80001000n | TABLE | AF | CONT | UXN), 3), {
    kind: 2,
    pa: 0x80001000,
    cont: true,
  });
  // bits 1:0 = 01 at level 3 is reserved: invalid
  assert.equal(decodeArm64(...e(0x80001000n | VALID), 3).kind, 0);
  // bits 55+ (software bits) and the ASID-free upper attributes do not leak into the address
  assert.equal(decodeArm64(...e(0x0000ffff00000000n | (0x7fn << 55n) | TABLE), 1).pa, 0xffff00000000);
});

/**
 * x86_64 tables:
 *   PGD 0x1000: [0] user half -> 0x9000 (not the kernel's);
 *     [273] (0xffff888000000000) -> PUD 0x2000; [468] (0xffffea0000000000) -> PUD 0x5000
 *   PUD 0x2000: [4] 1G page at 4 GiB; [5] -> PMD 0x3000
 *   PMD 0x3000: [0] 2M at 0x140000000; [1] -> PTE 0x4000; [2] 2M at 0x140400000;
 *     [10] -> PTE 0x7000 (outside the range: counted, never read)
 *   PTE 0x4000: 512 pages from 0x140200000, except [100] -> 0x50000000
 *   PUD 0x5000: [0] -> PMD 0x6000, whose [32..39] are the 2M vmemmap leaves of
 *     PFNs 0x100000.. (0x100000 * 64 = 0x4000000 = 32 * 2M); [32..35] backed
 *     inside the range, [36..39] outside.
 */
function x86Tables(): FakeMemory {
  const m = new FakeMemory();
  m.set(0x1000, 0, x86Table(0x9000));
  m.set(0x9000, 0, x86Table(0xa000));
  m.set(0x1000, 273, x86Table(0x2000));
  m.set(0x1000, 468, x86Table(0x5000));
  m.set(0x2000, 4, 0x100000000n | P | RW | PS | NX);
  m.set(0x2000, 5, x86Table(0x3000));
  m.set(0x3000, 0, 0x140000000n | P | RW | PS | NX);
  m.set(0x3000, 1, x86Table(0x4000));
  m.set(0x3000, 2, 0x140400000n | P | RW | PS | NX | PAT_LARGE);
  m.set(0x3000, 10, x86Table(0x7000));
  for (let i = 0; i < 512; i++) {
    const pa = i === 100 ? 0x50000000n : 0x140200000n + BigInt(i) * 4096n;
    m.set(0x4000, i, pa | P | RW | NX);
  }
  m.set(0x5000, 0, x86Table(0x6000));
  for (let i = 32; i < 40; i++) {
    const pa = i < 36 ? 0x100000000n + BigInt(i - 32) * 2n * M : 0x3000000n + BigInt(i - 36) * 2n * M;
    m.set(0x6000, i, pa | P | RW | PS | NX);
  }
  return m;
}

test("x86_64 walk: kernel half only, every table counted, PTE tables read only where asked", async () => {
  const m = x86Tables();
  const start = 0x100000000n;
  const size = G + 6n * M; // up to 0x140600000
  const ranges = ptdumpRanges(KERNEL_LAYOUT.x86_64, start, size);
  assert.deepEqual(ranges.linear, [0x888100000000, 0x888140600000]);
  // struct pages of PFNs 0x100000..0x140600: 64 bytes each from 0xffffea0000000000
  assert.deepEqual(ranges.vmemmap, [0xea0004000000, 0xea0004000000 + 0x40600 * 64]);
  const walk = await walkKernelTables(X86_64_WALK, 0x1000, m.reader, [ranges.linear, ranges.vmemmap]);
  // root, PUD 0x2000, PMD 0x3000, PTE 0x4000, PTE 0x7000, PUD 0x5000, PMD 0x6000; not 0x9000/0xa000
  assert.equal(walk.tablePages, 7);
  assert.ok(!m.reads.includes(0x9000) && !m.reads.includes(0x7000));
  assert.equal(walk.pagesRead, 6);

  const rec = ptdumpRecord(8, X86_64_WALK, ranges, start, size, walk, KERNEL_LAYOUT.x86_64);
  // PUD 0x2000, PMD 0x3000, PTEs 0x4000 and 0x7000 map the direct map; PUD 0x5000 and PMD
  // 0x6000 the vmemmap; the root is the rest
  assert.deepEqual(rec._tablePages, { linearMap: 4, vmemmap: 2, other: 1 });
  assert.deepEqual(rec.linear, [
    { va: "0xffff888100000000", size: "0x40000000", level: "pud", pa: "0x100000000" },
    { va: "0xffff888140000000", size: "0x200000", level: "pmd", pa: "0x140000000" },
    // the PTE run breaks where the physical addresses stop continuing
    { va: "0xffff888140200000", size: "0x64000", level: "pte", pa: "0x140200000" },
    { va: "0xffff888140264000", size: "0x1000", level: "pte", pa: "0x50000000" },
    { va: "0xffff888140265000", size: "0x19b000", level: "pte", pa: "0x140265000" },
    // not merged with the first PMD run: the PTE run lies between them
    { va: "0xffff888140400000", size: "0x200000", level: "pmd", pa: "0x140400000" },
  ]);
  // vmemmap leaves 32..39 overlap [0xea0004000000, 0xea0005018000): all eight, whole
  assert.deepEqual(rec.vmemmap, [
    { va: "0xffffea0004000000", size: "0x800000", level: "pmd", inRange: true },
    { va: "0xffffea0004800000", size: "0x800000", level: "pmd", inRange: false },
  ]);
  assert.equal(rec.tablePages, 7);
  assert.deepEqual(
    { line: rec.line, op: rec.op, start: rec.start, size: rec.size },
    { line: 8, op: "ptdump", start: "0x100000000", size: "0x40600000" },
  );
});

test("x86_64 walk: a range with nothing mapped gives empty runs; a leaf partly inside is reported whole", async () => {
  const m = x86Tables();
  const empty = ptdumpRanges(KERNEL_LAYOUT.x86_64, 0x200000000n, G);
  const w1 = await walkKernelTables(X86_64_WALK, 0x1000, m.reader, [empty.linear, empty.vmemmap]);
  const r1 = ptdumpRecord(1, X86_64_WALK, empty, 0x200000000n, G, w1);
  assert.deepEqual([r1.linear, r1.vmemmap, r1.tablePages], [[], [], 7]);
  // 128 MiB in the middle of the 1G page: the whole 1G leaf
  const part = ptdumpRanges(KERNEL_LAYOUT.x86_64, 0x108000000n, 128n * M);
  const w2 = await walkKernelTables(X86_64_WALK, 0x1000, m.reader, [part.linear, part.vmemmap]);
  const r2 = ptdumpRecord(2, X86_64_WALK, part, 0x108000000n, 128n * M, w2);
  assert.deepEqual(r2.linear, [
    { va: "0xffff888100000000", size: "0x40000000", level: "pud", pa: "0x100000000" },
  ]);
  // its struct pages (PFN 0x108000 -> +0x4200000) sit in vmemmap leaf 33, backed at 0x100200000:
  // outside [0x108000000, 0x110000000)
  assert.deepEqual(r2.vmemmap, [
    { va: "0xffffea0004200000", size: "0x200000", level: "pmd", inRange: false },
  ]);
  // size 0: nothing asked
  const none = ptdumpRanges(KERNEL_LAYOUT.x86_64, 0x100000000n, 0n);
  const w3 = await walkKernelTables(X86_64_WALK, 0x1000, m.reader, [none.linear, none.vmemmap]);
  assert.equal(w3.leaves.length, 0);
});

/**
 * arm64 tables (TTBR1, VA_BITS 48, 4K granule):
 *   L0 0x10000: [0] (0xffff000000000000) -> L1 0x11000; [504] (0xfffffc0000000000) -> L1 0x14000
 *   L1 0x11000: [1] -> L2 0x16000 (boot RAM at 1 GiB, outside the range); [2] -> L2 0x12000;
 *     [3] 1G block at 0xc0000000
 *   L2 0x12000: [0] -> L3 0x13000 (pages 0x80000000.., the first 16 with the contiguous hint);
 *     [1] 2M block at 0x80200000
 *   L2 0x16000: [0] -> L3 0x17000 (counted, not read)
 *   L1 0x14000: [0] -> L2 0x15000: [16..23] 2M vmemmap blocks for PFNs 0x80000.. (0x80000 * 64 =
 *     0x2000000 = 16 * 2M), backed at 0x7e000000.. (boot memory, outside the range)
 */
function arm64Tables(): FakeMemory {
  const m = new FakeMemory();
  const t = (pa: number): bigint => BigInt(pa) | TABLE;
  m.set(0x10000, 0, t(0x11000));
  m.set(0x10000, 504, t(0x14000));
  m.set(0x11000, 1, t(0x16000));
  m.set(0x16000, 0, t(0x17000));
  m.set(0x11000, 2, t(0x12000));
  m.set(0x11000, 3, 0xc0000000n | BLOCK | AF | PXN | UXN);
  m.set(0x12000, 0, t(0x13000));
  for (let i = 0; i < 512; i++)
    m.set(0x13000, i, (0x80000000n + BigInt(i) * 4096n) | TABLE | AF | PXN | UXN | (i < 16 ? CONT : 0n));
  m.set(0x12000, 1, 0x80200000n | BLOCK | AF | PXN | UXN);
  m.set(0x14000, 0, t(0x15000));
  for (let i = 16; i < 24; i++)
    m.set(0x15000, i, (0x7e000000n + BigInt(i - 16) * 2n * M) | BLOCK | AF | PXN | UXN);
  return m;
}

test("arm64 walk: the whole TTBR1 tree, blocks at levels 1 and 2, pages at 3, contiguous hints seen", async () => {
  const m = arm64Tables();
  const start = 0x80000000n;
  const size = 2n * G; // 0x80000000..0x100000000
  const ranges = ptdumpRanges(KERNEL_LAYOUT.arm64, start, size);
  assert.deepEqual(ranges.linear, [0x80000000, 0x100000000]);
  // VMEMMAP_START 0xfffffc0000000000 + PFN * 64, memstart_addr 0
  assert.deepEqual(ranges.vmemmap, [0xfc0000000000 + 0x80000 * 64, 0xfc0000000000 + 0x100000 * 64]);
  const walk = await walkKernelTables(ARM64_WALK, 0x10000, m.reader, [ranges.linear, ranges.vmemmap]);
  // 0x10000 0x11000 0x12000 0x13000 0x14000 0x15000 0x16000 0x17000
  assert.equal(walk.tablePages, 8);
  assert.ok(!m.reads.includes(0x17000), "a PTE table outside the range is not read");
  assert.equal(walk.leaves.filter((l) => l.cont).length, 16);
  const rec = ptdumpRecord(3, ARM64_WALK, ranges, start, size, walk, KERNEL_LAYOUT.arm64);
  // L1 0x11000 (base 0), L2 0x12000, L3 0x13000, L2 0x16000, L3 0x17000: linear map;
  // L1 0x14000, L2 0x15000: vmemmap; the root: other
  assert.deepEqual(rec._tablePages, { linearMap: 5, vmemmap: 2, other: 1 });
  assert.deepEqual(rec.linear, [
    { va: "0xffff000080000000", size: "0x200000", level: "pte", pa: "0x80000000" },
    { va: "0xffff000080200000", size: "0x200000", level: "pmd", pa: "0x80200000" },
    { va: "0xffff0000c0000000", size: "0x40000000", level: "pud", pa: "0xc0000000" },
  ]);
  assert.deepEqual(rec.vmemmap, [
    { va: "0xfffffc0002000000", size: "0x1000000", level: "pmd", inRange: false },
  ]);
});

test("arm64 walk: a table reached twice is counted once", async () => {
  const m = arm64Tables();
  // L1[4] points at the same L2 table as L1[2]: the 4..5 GiB VAs alias 2..3 GiB
  m.set(0x11000, 4, 0x12000n | TABLE);
  const ranges = ptdumpRanges(KERNEL_LAYOUT.arm64, 0x100000000n, 4n * M);
  const walk = await walkKernelTables(ARM64_WALK, 0x10000, m.reader, [ranges.linear, ranges.vmemmap]);
  assert.equal(walk.tablePages, 8);
  const rec = ptdumpRecord(1, ARM64_WALK, ranges, 0x100000000n, 4n * M, walk);
  // through the alias, the same leaves show at the aliasing VAs (with their own PAs)
  assert.deepEqual(rec.linear, [
    { va: "0xffff000100000000", size: "0x200000", level: "pte", pa: "0x80000000" },
    { va: "0xffff000100200000", size: "0x200000", level: "pmd", pa: "0x80200000" },
  ]);
});

test("arm64 52-bit/LPA2 (Debian's 6.12 and 7.2): TCR_EL1 picks the walk, TTBR1 the 16-entry root", () => {
  // TCR_EL1 and TTBR1_EL1 as a 7.2 guest on QEMU's max CPU had them: T1SZ 12, DS 1
  assert.equal(arm64WalkSpec(0x0d5001f6b54c350cn), ARM64_WALK_52);
  assert.equal(arm64RootPa(0x400007709c001n, ARM64_WALK_52), 0x7709c000);
  // BADDR[51:48] in bits 5:2, a 64-byte aligned root
  assert.equal(arm64RootPa(0x7709c040n | (0x3n << 2n), ARM64_WALK_52), 3 * 2 ** 48 + 0x7709c040);
  // 6.1: T1SZ 16, no DS
  assert.equal(arm64WalkSpec(16n << 16n), ARM64_WALK);
  assert.equal(arm64RootPa(0x0005000078790001n, ARM64_WALK), 0x78790000);
  assert.throws(() => arm64WalkSpec(25n << 16n), /39-bit TTBR1 region/);
  const e = (v: bigint): [number, number] => [Number(v & 0xffffffffn), Number(v >> 32n)];
  // output address bits 51:50 in descriptor bits 9:8
  assert.deepEqual(decodeArm64Lpa2(...e(0x40200000n | (1n << 8n) | BLOCK | AF), 2), {
    kind: 2,
    pa: 2 ** 50 + 0x40200000,
    cont: false,
  });
  // bits 9:8 are shareability without LPA2, not address bits
  assert.equal(decodeArm64(...e(0x40200000n | (3n << 8n) | BLOCK | AF), 2).pa, 0x40200000);
  // the level -1 root holds tables only
  assert.equal(decodeArm64Lpa2(...e(0x7ffff000n | TABLE), -1).kind, 1);
  assert.equal(decodeArm64Lpa2(...e(0x7ffff000n | BLOCK), -1).kind, 0);
});

test("arm64 52-bit walk: five levels from a 16-entry root, the linear map at 0xfff0..., the vmemmap below -1 GiB", async () => {
  const mem = new FakeMemory();
  const root = 0x7709c000;
  // the linear map: root entry 0 -> level 0 -> level 1; PA 0x40000000 is VA 0xfff0000040000000
  mem.set(root, 0, 0x10000n | TABLE);
  mem.set(0x10000, 0, 0x11000n | TABLE);
  mem.set(0x11000, 1, 0x12000n | TABLE); // 1 GiB .. 2 GiB in 2M blocks
  for (let i = 0; i < 512; i++) mem.set(0x12000, i, BigInt(0x40000000 + i * 0x200000) | BLOCK | AF);
  // the vmemmap: root entry 15 (0xffff...), VMEMMAP_START 0xffffc1ffc0000000
  const vmemmapPfn0 = 0xfc1ffc0000000;
  const l0 = Math.floor(vmemmapPfn0 / 2 ** 39) % 512;
  mem.set(root, 15, 0x20000n | TABLE);
  mem.set(0x20000, l0, 0x21000n | TABLE);
  // struct pages of PFN 0x40000.. (PA 1 GiB): VA vmemmap + 0x40000 * 64
  const vm = vmemmapPfn0 + 0x40000 * 64;
  const l1 = Math.floor(vm / 2 ** 30) % 512;
  const l2 = Math.floor(vm / 2 ** 21) % 512;
  mem.set(0x21000, l1, 0x22000n | TABLE);
  for (let i = 0; i < 8; i++) mem.set(0x22000, l2 + i, BigInt(0x7e000000 + i * 0x200000) | BLOCK | AF);
  const ranges = ptdumpRanges(ARM64_LAYOUT_52, 0x40000000n, G);
  const walk = await walkKernelTables(ARM64_WALK_52, root, mem.reader, [ranges.linear, ranges.vmemmap]);
  assert.equal(walk.tablePages, 7);
  const rec = ptdumpRecord(9, ARM64_WALK_52, ranges, 0x40000000n, G, walk, ARM64_LAYOUT_52);
  assert.deepEqual(rec.linear, [
    { va: "0xfff0000040000000", size: "0x40000000", level: "pmd", pa: "0x40000000" },
  ]);
  // the struct pages sit in the range they describe (PA 0x7e000000): inRange
  assert.deepEqual(rec.vmemmap, [
    { va: "0xffffc1ffc1000000", size: "0x1000000", level: "pmd", inRange: true },
  ]);
  // by the base of the span each table maps: root entry 15 starts at 0xffff000000000000,
  // still below PAGE_END (linear); the level-1 table above the vmemmap starts below VMEMMAP_START
  assert.deepEqual(rec._tablePages, { linearMap: 4, vmemmap: 1, other: 2 });
});
