// Reading the running guest's kernel page tables from the host, for the
// `ptdump` statement (the Debian cloud kernels have no CONFIG_PTDUMP_DEBUGFS).
// Per statement:
//   1. QMP `stop` pauses the guest (no table changes under us);
//   2. a fresh connection to QEMU's gdbstub (-gdb chardev:...): the root
//      register is read with `p` (x86_64 CR3, arm64 TTBR1_EL1, numbered from
//      the target description; gdb-target.ts), `Qqemu.PhyMemMode:1` switches
//      `m` to physical addresses and the table pages are read with pipelined
//      `m` packets (about 2 KiB each);
//   3. the tables are walked on the host (pagewalk.ts) and the record built
//      (ptdump-runs.ts);
//   4. the gdb connection is closed (QEMU 7.2 leaves the guest paused) and
//      QMP `cont` resumes the guest.

import type { Arch } from "../scenario/ast.js";
import { DEFAULT_KERNEL_VERSION, type KernelVersion } from "../kernel/linux_version.js";
import { GdbError, GdbRemote } from "./gdb-remote.js";
import { findRegister, targetRegisters, type GdbRegister } from "./gdb-target.js";
import {
  ARM64_WALK,
  LEAF_NAME,
  TABLE_BYTES,
  WALK_SPECS,
  arm64RootPa,
  arm64WalkSpec,
  walkKernelTables,
  type PageReader,
  type WalkSpec,
} from "./pagewalk.js";
import {
  kernelLayout,
  KERNEL_LAYOUT,
  ptdumpRanges,
  ptdumpRecord,
  type KernelLayout,
  type OraclePtdumpRecord,
} from "./ptdump-runs.js";
import type { QmpSession } from "./qmp.js";

export interface RootRegister {
  /** register name in the target description */
  name: string;
  /**
   * The root table's physical address from the register's value. `pti`: the
   * kernel uses x86 page-table isolation (Debian's does), whose PGDs are 8 KiB
   * pairs: CR3 may hold the user half, and the kernel half is the even page.
   * Without it (the patched build) bit 12 is an address bit.
   */
  rootPa(value: bigint, pti: boolean): number;
}

/**
 * x86_64 CR3: bits 51:12 the PGD, bits 11:0 the PCID. With page-table
 * isolation the user PGD is the kernel PGD + 4 KiB (an order-1, 8 KiB aligned
 * pair; CONFIG_PAGE_TABLE_ISOLATION=y in the cloud kernel), and the user CR3
 * also carries the user PCID bit (X86_CR3_PTI_PCID_USER_BIT, 11): with it set,
 * bit 12 is cleared to get the kernel PGD. A kernel that finds the CPU not
 * vulnerable runs without isolation, and 7.2 then allocates each PGD as one
 * page (pgd_allocation_order() is 0 without X86_FEATURE_PTI): an odd page
 * with bit 11 clear is the PGD itself.
 * arm64 TTBR1_EL1: bits 63:48 the ASID (TCR_EL1.A1 = 1 in Linux), 47:1 the
 * base address, 0 CnP; a 48-bit-VA 4K-granule root is 4 KiB aligned.
 */
export const ROOT_REGISTER: Readonly<Record<Arch, RootRegister>> = {
  x86_64: {
    name: "cr3",
    rootPa: (v, pti) => Number(v & (pti && (v & 0x800n) !== 0n ? 0x000fffffffffe000n : 0x000ffffffffff000n)),
  },
  arm64: { name: "TTBR1_EL1", rootPa: (v) => Number(v & 0x0000fffffffff000n) },
};

/** A little-endian register value. */
export function registerValue(raw: Buffer): bigint {
  let v = 0n;
  for (let i = raw.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]);
  return v;
}

/** Reads pages with up to `concurrency` in flight (each is two `m` packets in QEMU). */
export function gdbPageReader(gdb: GdbRemote, concurrency = 16): PageReader {
  return async (pas) => {
    const out: Buffer[] = new Array<Buffer>(pas.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < pas.length) {
        const i = next++;
        out[i] = await gdb.readMemory(BigInt(pas[i]), TABLE_BYTES, 2);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, pas.length) }, worker));
    return out;
  };
}

export interface GuestTablesStats {
  rootPa: number;
  /** table pages read over the gdbstub */
  pagesRead: number;
  /** leaves found in the asked ranges, by level, and how many carry the arm64 contiguous hint */
  leaves: { pud: number; pmd: number; pte: number; cont: number };
  ms: number;
}

/** One sample of the vCPU: its program counter and the 4 bytes before it (undefined: unreadable). */
export interface PcSample {
  pc: bigint;
  before: Buffer | undefined;
}

/** The program counter's name in QEMU's target description. */
const PC_REGISTER: Readonly<Record<Arch, string>> = { x86_64: "rip", arm64: "pc" };

/** The page-table reader of one running QEMU. */
export class GuestTables {
  private registers: GdbRegister[] | undefined;
  /** figures of the last ptdump (for logs and docs) */
  last: GuestTablesStats | undefined;

  constructor(
    private readonly arch: Arch,
    private readonly gdbSocket: string,
    private readonly qmp: QmpSession,
    /**
     * The kernel has no page-table isolation (the patched build: no
     * CONFIG_PAGE_TABLE_ISOLATION): its PGD is one 4 KiB page, CR3's bit 12 is
     * an address bit.
     */
    private readonly noPti = false,
    /** the release (arm64's vmemmap moved in 6.9: kernelLayout()) */
    readonly version: KernelVersion = DEFAULT_KERNEL_VERSION,
  ) {}

  /** Pauses the guest, runs `fn` with a gdbstub connection, resumes the guest. */
  async paused<T>(fn: (gdb: GdbRemote) => Promise<T>): Promise<T> {
    await this.qmp.execute("stop");
    try {
      const { gdb, socket } = await GdbRemote.connect(this.gdbSocket);
      try {
        return await fn(gdb);
      } finally {
        socket.destroy();
      }
    } finally {
      await this.qmp.execute("cont");
    }
  }

  /** The root table's physical address (the guest must be paused; see paused()). */
  async rootPa(gdb: GdbRemote): Promise<number> {
    return (await this.translation(gdb)).rootPa;
  }

  /**
   * How to walk the guest's tables as it runs now: the walk and address
   * layout, and where the root may be. arm64 reads TCR_EL1 (52-bit LPA2
   * trees on Debian's 6.12 and 7.2: arm64WalkSpec()); a gdbstub without it
   * gets 6.1's 48-bit walk.
   */
  async translation(gdb: GdbRemote): Promise<{ spec: WalkSpec; layout: KernelLayout; rootPa: number }> {
    const value = await this.readRootRegister(gdb);
    if (this.arch === "arm64") {
      const tcrReg = findRegister(this.registers ?? [], "TCR_EL1");
      const spec = tcrReg ? arm64WalkSpec(registerValue(await gdb.readRegister(tcrReg.regnum))) : ARM64_WALK;
      const layout = kernelLayout("arm64", this.version, spec.vaBits);
      return { spec, layout, rootPa: arm64RootPa(value, spec) };
    }
    return {
      spec: WALK_SPECS[this.arch],
      layout: KERNEL_LAYOUT[this.arch],
      rootPa: ROOT_REGISTER[this.arch].rootPa(value, !this.noPti),
    };
  }

  /** The root register's value (CR3, TTBR1_EL1). */
  private readRootRegister(gdb: GdbRemote): Promise<bigint> {
    return this.readNamedRegister(gdb, ROOT_REGISTER[this.arch].name);
  }

  private async readNamedRegister(gdb: GdbRemote, name: string): Promise<bigint> {
    // QEMU answers `p` only after the client read target.xml on this connection
    // (gdb_has_xml), so it is read every time; its includes only once.
    const targetXml = await gdb.qXfer("features", "target.xml");
    this.registers ??= await targetRegisters((annex) =>
      annex === "target.xml" ? Promise.resolve(targetXml) : gdb.qXfer("features", annex),
    );
    const reg = findRegister(this.registers, name);
    if (!reg) throw new GdbError(`the gdbstub's target description has no ${name}`);
    return registerValue(await gdb.readRegister(reg.regnum));
  }

  /**
   * The vCPU's program counter, `count` times `gapMs` apart, the guest
   * running in between, with the instruction bytes just before it: a CPU
   * that halted (x86 HLT, arm64 WFI) stops right after that instruction
   * (hang-probe.ts reads them).
   */
  async pcSamples(count: number, gapMs: number): Promise<PcSample[]> {
    const out: PcSample[] = [];
    for (let i = 0; i < count; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
      out.push(
        await this.paused(async (gdb) => {
          const pc = await this.readNamedRegister(gdb, PC_REGISTER[this.arch]);
          await gdb.virtualMemoryMode();
          const before = await gdb.readMemory(pc - 4n, 4).catch(() => undefined);
          return { pc, before };
        }),
      );
    }
    return out;
  }

  /** The `ptdump START SIZE` record of the guest as it is now. */
  async ptdump(line: number, start: bigint, size: bigint): Promise<OraclePtdumpRecord> {
    const t0 = performance.now();
    return this.paused(async (gdb) => {
      const { spec, layout, rootPa } = await this.translation(gdb);
      const ranges = ptdumpRanges(layout, start, size);
      await gdb.physicalMemoryMode();
      const walk = await walkKernelTables(spec, rootPa, gdbPageReader(gdb), [ranges.linear, ranges.vmemmap]);
      const leaves = { pud: 0, pmd: 0, pte: 0, cont: 0 };
      for (const l of walk.leaves) {
        leaves[LEAF_NAME[l.level] as "pud" | "pmd" | "pte"]++;
        if (l.cont) leaves.cont++;
      }
      this.last = { rootPa, pagesRead: walk.pagesRead, leaves, ms: performance.now() - t0 };
      return ptdumpRecord(line, spec, ranges, start, size, walk, layout);
    });
  }
}
