// The field names of the files whose `read` may name fields, where they are known
// whatever the machine: /proc/meminfo's (fs/proc/meminfo.c: meminfo_proc_show() of
// Linux 6.1, every config option's, and the arch_report_meminfo() lines of x86).
// /proc/vmstat's names depend on the kernel's config (mm/vmstat.c: vmstat_text),
// so they are not checked.

export const MEMINFO_FIELDS: ReadonlySet<string> = new Set([
  "MemTotal",
  "MemFree",
  "MemAvailable",
  "Buffers",
  "Cached",
  "SwapCached",
  "Active",
  "Inactive",
  "Active(anon)",
  "Inactive(anon)",
  "Active(file)",
  "Inactive(file)",
  "Unevictable",
  "Mlocked",
  "HighTotal",
  "HighFree",
  "LowTotal",
  "LowFree",
  "MmapCopy",
  "SwapTotal",
  "SwapFree",
  "Zswap",
  "Zswapped",
  "Dirty",
  "Writeback",
  "AnonPages",
  "Mapped",
  "Shmem",
  "KReclaimable",
  "Slab",
  "SReclaimable",
  "SUnreclaim",
  "KernelStack",
  "ShadowCallStack",
  "PageTables",
  "SecPageTables",
  "NFS_Unstable",
  "Bounce",
  "WritebackTmp",
  "CommitLimit",
  "Committed_AS",
  "VmallocTotal",
  "VmallocUsed",
  "VmallocChunk",
  "Percpu",
  "HardwareCorrupted",
  "AnonHugePages",
  "ShmemHugePages",
  "ShmemPmdMapped",
  "FileHugePages",
  "FilePmdMapped",
  "CmaTotal",
  "CmaFree",
  "HugePages_Total",
  "HugePages_Free",
  "HugePages_Rsvd",
  "HugePages_Surp",
  "Hugepagesize",
  "Hugetlb",
  "DirectMap4k",
  "DirectMap2M",
  "DirectMap4M",
  "DirectMap1G",
]);

/** The known fields of PATH, or undefined when they are not known in advance. */
export function knownFields(path: string): ReadonlySet<string> | undefined {
  return path === "/proc/meminfo" ? MEMINFO_FIELDS : undefined;
}

/** The closest known name (edit distance at most 3), for "did you mean". */
export function closestField(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = 4;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
