// Numbers the way a kernel engineer reads them, and the page's colours.

/** 0x100000000 */
export const hex = (v: number): string => "0x" + v.toString(16);

/** 0x0_4000_0000-style fixed width for row labels (9 hex digits covers 64 GiB, more when needed). */
export function hexAddr(v: number, digits = 9): string {
  return "0x" + v.toString(16).padStart(digits, "0");
}

/** 128M, 1G, 1.5G, 4K */
export function size(bytes: number): string {
  const units = ["B", "K", "M", "G", "T", "P"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)}${units[i]}`;
}

export const ZONE_COLOURS: Record<string, string> = {
  DMA: "#7e57c2",
  DMA32: "#42a5f5",
  Normal: "#1565c0",
  Movable: "#2e7d32",
};

export const STATE_COLOURS: Record<string, string> = {
  offline: "#cfd4da",
  "going-offline": "#ef6c00",
};

/** Linear-map and vmemmap leaf sizes. */
export const LEAF_COLOURS: Record<string, string> = {
  pud: "#4a148c",
  pmd: "#8e63c8",
  pte: "#d3c2ef",
};
export const VMEMMAP_COLOURS: Record<string, string> = {
  pud: "#004d40",
  pmd: "#00897b",
  pte: "#80cbc4",
};
export const LEAF_NAMES: Record<string, string> = {
  pgd: "PGD",
  p4d: "P4D",
  pud: "1G PUD",
  pmd: "2M PMD",
  pte: "4K PTE",
};

/** The colour of a block: its zone when online (two zones split), grey when offline. */
export function blockBackground(state: string, zones: string[]): string {
  if (state !== "online") return STATE_COLOURS[state] ?? "#e57373";
  if (zones.length === 0) return "#90a4ae";
  if (zones.length === 1) return ZONE_COLOURS[zones[0]] ?? "#90a4ae";
  const step = 100 / zones.length;
  const stops = zones.map((z, i) => `${ZONE_COLOURS[z] ?? "#90a4ae"} ${i * step}% ${(i + 1) * step}%`);
  return `linear-gradient(90deg, ${stops.join(", ")})`;
}

/** Short labels for the work counters (src/kernel/work.ts). */
export const WORK_LABELS: Record<string, string> = {
  memmapPagesInit: "struct pages init",
  pagesToBuddy: "pages → buddy",
  pagesFromBuddy: "pages ← buddy",
  pagesIsolated: "isolated",
  pagesScanned: "scanned",
  pagesMigrated: "migrated",
  bytesCopied: "bytes copied",
  pteWritten: "PTE set",
  pmdWritten: "PMD set",
  pudWritten: "PUD set",
  p4dWritten: "P4D set",
  pgdWritten: "PGD set",
  pteCleared: "PTE clear",
  pmdCleared: "PMD clear",
  pudCleared: "PUD clear",
  p4dCleared: "P4D clear",
  pgdCleared: "PGD clear",
  tablePagesAllocated: "table pages +",
  tablePagesFreed: "table pages −",
  tlbFlushPage: "TLB flush page",
  tlbFlushRange: "TLB flush range",
  tlbFlushAll: "TLB flush all",
  vmemmapPagesAllocated: "vmemmap pages +",
  vmemmapPagesFreed: "vmemmap pages −",
  sectionsActivated: "sections +",
  sectionsDeactivated: "sections −",
  memoryBlocksRegistered: "blocks +",
  memoryBlocksUnregistered: "blocks −",
  kobjects: "kobjects",
  sysfsFiles: "sysfs files",
  uevents: "uevents",
  resourcesRequested: "resources +",
  resourcesReleased: "resources −",
  zoneSpanUpdates: "zone span",
  pageblocksScanned: "pageblocks scanned",
  zonelistRebuilds: "zonelist rebuilds",
  synchronizeRcu: "synchronize_rcu",
  lruAddDrainAll: "lru_add_drain_all",
  drainAllPages: "drain_all_pages",
  cpusReached: "CPUs reached",
  notifierCalls: "notifier calls",
};

export const num = (n: number): string => n.toLocaleString("en-US");
