// Looks at what the real kernel holds in one memory block at chosen moments of
// a scenario: runs the scenario on the oracle's guest and, before the
// statements named and after those named with a minus sign, reads the block's
// pages from /proc/kpageflags (fs/proc/page.c: stable_page_flags()) and the
// pageblock counts of /proc/pagetypeinfo and the slab counters of /proc/vmstat.
// Per pageblock it prints how many pages are slab, page tables, PageOffline,
// free in the buddy, on the LRU, and "other" (allocated with no flag kpageflags
// shows: the memmap, the kernel's own page tables, plain alloc_pages(), or
// pages on the per-cpu lists); pageblocks that are wholly free or wholly
// offline are left out. This is the evidence docs/divergences.md cites for the
// busy sub-blocks of virtio-mem (vmem-busy-subblocks).
//
//   node --import tsx scripts/pageblock-probe.ts SCENARIO LINES BLOCK [--kernel 6.12|7.2]
//   node --import tsx scripts/pageblock-probe.ts scenarios/oracle/arm64-vmem-subblocks.mhp 49,-49 18
//
// BLOCK is the memory block's number (memoryN); the block size is the arch's
// (128 MiB). The guest's own probe (dd, od, awk) allocates too: the reading
// before a statement includes the page tables and kernel stacks of those
// processes.

import { readFileSync } from "node:fs";
import { isKernelVersion } from "../src/kernel/linux_version.js";
import { OracleSession } from "../src/oracle/run.js";
import { parseScenario } from "../src/scenario/parse.js";

const PAGES_PER_BLOCK = 32768;
const PAGEBLOCK = 512;
// include/uapi/linux/kernel-page-flags.h
const KPF = { lru: 5, slab: 7, buddy: 10, offline: 23, pgtable: 26 };

function usage(): never {
  process.stderr.write("usage: pageblock-probe.ts SCENARIO LINES BLOCK [--kernel 6.12|7.2]\n");
  process.exit(2);
}

const args = process.argv.slice(2);
const ki = args.indexOf("--kernel");
const version = ki >= 0 ? args.splice(ki, 2)[1] : undefined;
if (version !== undefined && !isKernelVersion(version)) usage();
const [file, lineList, blockArg] = args;
if (!file || !lineList || !blockArg || !/^\d+$/.test(blockArg)) usage();
const lines = lineList.split(",").map(Number);
if (lines.some((n) => !Number.isInteger(n) || n === 0)) usage();
const firstPfn = Number(blockArg) * PAGES_PER_BLOCK;

// One awk pass over the block's 64-bit flag words (od prints each as two 32-bit halves, low first).
const bit = (b: number): number => 2 ** b;
const PROBE = [
  `dd if=/proc/kpageflags bs=4096 skip=${firstPfn / PAGEBLOCK} count=${PAGES_PER_BLOCK / PAGEBLOCK} 2>/dev/null`,
  "od -An -v -t d4",
  `awk '{ for (i = 1; i <= NF; i += 2) { f = $i; pb = int(n / ${PAGEBLOCK}); n++;
      if (and(f, ${bit(KPF.slab)})) s[pb]++; else if (and(f, ${bit(KPF.pgtable)})) t[pb]++;
      else if (and(f, ${bit(KPF.offline)})) o[pb]++; else if (and(f, ${bit(KPF.buddy)})) b[pb]++;
      else if (and(f, ${bit(KPF.lru)})) l[pb]++; else x[pb]++ } }
    END { for (pb = 0; pb < ${PAGES_PER_BLOCK / PAGEBLOCK}; pb++)
      if (b[pb] < ${PAGEBLOCK} && o[pb] < ${PAGEBLOCK})
        printf "  pageblock %2d: slab %d, pgtable %d, offline %d, free %d, lru %d, other %d\\n", pb, s[pb], t[pb], o[pb], b[pb], l[pb], x[pb] }'`,
].join(" | ");
const PROBE_ALL = `${PROBE}; grep -A5 'Number of blocks' /proc/pagetypeinfo; grep -E '^nr_slab_(un)?reclaimable' /proc/vmstat`;

const sc = parseScenario(readFileSync(file, "utf8"), file);
const session = await OracleSession.start(sc, {
  version,
  log: (l) => process.stderr.write(l + "\n"),
});
const probe = async (when: string): Promise<void> => {
  const r = await session.exec(PROBE_ALL);
  process.stdout.write(`== memory${blockArg} ${when}\n${r.out}`);
};
try {
  const last = Math.max(...lines.map(Math.abs));
  for (const st of sc.body) {
    if (st.loc.line > last) break;
    if (lines.includes(st.loc.line)) await probe(`before line ${st.loc.line}`);
    const rec = await session.run(st);
    if (lines.includes(st.loc.line) || lines.includes(-st.loc.line))
      process.stdout.write(`line ${st.loc.line}: ${JSON.stringify(rec)}\n`);
    if (lines.includes(-st.loc.line)) await probe(`after line ${st.loc.line}`);
  }
} finally {
  await session.close();
}
