// The kernel's own page-table dump (CONFIG_PTDUMP_DEBUGFS, which the patched
// kernel has and Debian's cloud kernel does not), held against the host-side
// walk of the same tables (guest-tables.ts): for a `ptdump START SIZE` record,
// the leaves the kernel prints over the record's linear-map and vmemmap ranges
// must be the record's, level by level. x86_64 prints
//   0xffff888108000000-0xffff888128000000   512M  RW  PSE  GLB NX pmd
// (arch/x86/mm/dump_pagetables.c: the level last; a range with no RW/ro
// is not present), arm64
//   0xffff000000000000-0xffff000000200000   2M PMD  rw NX SHD AF  BLK UXN MEM/NORMAL
// (arch/arm64/mm/ptdump.c: the level third). Both print a range that maps
// nothing with its size and level but no attributes.

import type { Arch } from "../scenario/ast.js";
import type { PtRun, PtdumpRecord } from "../scenario/trace.js";

/** Where the kernel's dump of its own tables is (debugfs). */
export const KERNEL_PTDUMP_PATH: Record<Arch, string> = {
  x86_64: "/sys/kernel/debug/page_tables/kernel",
  arm64: "/sys/kernel/debug/kernel_page_tables",
};

/** A range of present leaves of one level. */
export interface VaRun {
  va: bigint;
  end: bigint;
  level: string;
}

const LEVELS = new Set(["pgd", "p4d", "pud", "pmd", "pte"]);

/** The present leaf ranges of a kernel page-table dump, in address order. */
export function parseKernelPtdump(text: string): VaRun[] {
  const out: VaRun[] = [];
  for (const line of text.split("\n")) {
    const m = /^0x([0-9a-f]+)-0x([0-9a-f]+)\s+\S+\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const words = m[3].trim().split(/\s+/);
    // x86_64: attributes, then the level; arm64: the level, then the attributes.
    // A range that is not mapped has no attributes (no RW or ro) on both.
    const last = words[words.length - 1];
    const level = LEVELS.has(last) ? last : (words[0] ?? "").toLowerCase();
    if (!LEVELS.has(level)) continue;
    if (words.includes("RW") || words.includes("ro"))
      out.push({ va: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), level });
  }
  return out;
}

/** runs clipped to [start, end), adjacent runs of one level merged. */
export function clipRuns(runs: readonly VaRun[], start: bigint, end: bigint): VaRun[] {
  const out: VaRun[] = [];
  for (const r of runs) {
    const a = r.va > start ? r.va : start;
    const b = r.end < end ? r.end : end;
    if (a >= b) continue;
    const last = out[out.length - 1];
    if (last && last.end === a && last.level === r.level) last.end = b;
    else out.push({ va: a, end: b, level: r.level });
  }
  return out;
}

function recordRuns(runs: readonly PtRun[]): VaRun[] {
  return runs.map((r) => {
    const va = BigInt(r.va);
    return { va, end: va + BigInt(r.size), level: r.level };
  });
}

const show = (r: VaRun): string => `0x${r.va.toString(16)}-0x${r.end.toString(16)} ${r.level}`;

/**
 * The differences between a ptdump record (host-side walk) and the kernel's
 * own dump over the same ranges; [] when they agree. The ranges are those the
 * record's runs cover (linear map and vmemmap of [START, START+SIZE)).
 */
export function compareWithKernelPtdump(
  rec: PtdumpRecord,
  kernelDump: string,
  ranges: { linear: [bigint, bigint]; vmemmap: [bigint, bigint] },
): string[] {
  const kernel = parseKernelPtdump(kernelDump);
  const out: string[] = [];
  for (const part of ["linear", "vmemmap"] as const) {
    const [s, e] = ranges[part];
    const host = clipRuns(recordRuns(rec[part]), s, e).map(show);
    const own = clipRuns(kernel, s, e).map(show);
    if (host.join("\n") !== own.join("\n"))
      out.push(
        `ptdump line ${rec.line} ${part}: the host walk has [${host.join(", ")}], the kernel's own dump [${own.join(", ")}]`,
      );
  }
  return out;
}
