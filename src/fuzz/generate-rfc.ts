// Random scenarios of the RFC's API for the patched kernel (`memhp fuzz --oracle
// --kernel patched`; docs/rfc-v2.md): driver-managed memory added by the test
// module (several adds in one GiB, per-block adds as virtio-mem makes them),
// depopulated and populated again (with owners and online types under v2),
// onlined and offlined in between, removed whole or in part, with the reads that
// show it (the depopulated list, /proc/iomem, DirectMap, block states, ptdump).
//
// The oracle gives such a scenario a cold-plugged DIMM no driver adds (docs/
// oracle.md): the memory from the device region's base to maxmem - mem past it
// is where the calls may add. No DIMMs or virtio-mem devices here: they would
// share that region.
//
// v1 or v2: the machine line gets `rfc=v2`, the calls `owner=N` and populate its
// online-type word, when the model's parser accepts `rfc=v2` (rfcV2Accepted()).
// Before that the calls keep v1's form, and removals that would split a 1 GiB
// leaf of the x86 linear map are not generated (v1's kernel crashes there, as
// 6.1 does: scenarios/regressions/x86_64-remove-part-of-1g-leaf.mhp).
//
// With a CPU model (`--cpu`, opts.cpu) the arm64 scenarios also add a GiB at
// once and take and free unmapped allocations of pageblocks (CPU_WEIGHTS): on
// a BBML2_NOABORT CPU the 7.2 series splits the linear map's leaves for them.

import { PAGE_SIZE } from "../mm/constants.js";
import { LEVEL_PUD, LEVEL_SIZE } from "../mm/pgtable.js";
import { Rng } from "../mm/random.js";
import type { Arch } from "../scenario/ast.js";
import { ScenarioError, parseScenario } from "../scenario/parse.js";
import { sizeText } from "./machine.js";
import {
  MEM,
  MiB,
  ScenarioBuilder,
  anyOf,
  choose,
  kernelWord,
  type GenerateOptions,
  type GeneratedScenario,
} from "./generate.js";
import type { Kernel } from "../kernel/kernel.js";

const BLOCK = 128 * MiB;
const hex = (n: number): string => "0x" + n.toString(16);

let v2Cache: boolean | undefined;
/** Does the model's parser take `machine ... rfc=v2` yet? */
export function rfcV2Accepted(): boolean {
  if (v2Cache === undefined) {
    try {
      parseScenario("machine x86_64 mem=1G maxmem=2G rfc=v2\nboot\n", "probe.mhp");
      v2Cache = true;
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      v2Cache = false;
    }
  }
  return v2Cache;
}

interface Add {
  start: number;
  size: number;
  owner: number;
}

/** Does [start, start + size) cover part, not all, of a 1 GiB leaf of the model's linear map? */
function splitsGigaLeaf(k: Kernel, start: number, size: number): boolean {
  for (const pa of [start, start + size - 1]) {
    const l = k.arch.pgtable.lookup(k.arch.physToVirt(pa));
    if (!l || l.level !== LEVEL_PUD) continue;
    const leafStart = pa - (l.pfn - l.leafPfn) * PAGE_SIZE;
    if (leafStart < start || leafStart + LEVEL_SIZE[LEVEL_PUD] > start + size) return true;
  }
  return false;
}

const ONLINE_TYPES: readonly (readonly [number, string | undefined])[] = [
  [3, undefined],
  [2, "offline"],
  [3, "online_movable"],
  [2, "online"],
  [1, "online_kernel"],
];

type RfcKind =
  | "add"
  | "add-gib"
  | "depopulate"
  | "populate"
  | "remove"
  | "offline-remove"
  | "state"
  | "read-depop"
  | "read-block"
  | "read-global"
  | "ptdump"
  | "ls"
  | "add-1g"
  | "unmapped"
  | "unmapped-free";

const RFC_WEIGHTS: readonly (readonly [number, RfcKind])[] = [
  [4, "add"],
  [2, "add-gib"],
  [10, "depopulate"],
  [8, "populate"],
  [3, "remove"],
  [1, "offline-remove"],
  [9, "state"],
  [4, "read-depop"],
  [5, "read-block"],
  [4, "read-global"],
  [3, "ptdump"],
  [1, "ls"],
];

/**
 * With a CPU model (`--cpu`, arm64's BBML2_NOABORT), also the paths that CPU
 * changes in the 7.2 series: a GiB added at once (one 1 GiB leaf) and unmapped
 * allocations of pageblocks inside leaves, which the series splits there.
 * Without one the weights above are all there is, so that the campaigns of
 * Debian's CPUs keep their scenarios.
 */
const CPU_WEIGHTS: readonly (readonly [number, RfcKind])[] = [
  ...RFC_WEIGHTS,
  [3, "add-1g"],
  [6, "unmapped"],
  [3, "unmapped-free"],
];
const PAGEBLOCK = 2 * MiB;

/** A random scenario of the RFC's calls for the patched kernel. */
export function generateRfc(seed: number, opts: GenerateOptions & { v2?: boolean } = {}): GeneratedScenario {
  const rng = new Rng(seed);
  const v2 = opts.v2 ?? rfcV2Accepted();
  const arch: Arch = opts.arch ?? (rng.chance(0.5) ? "x86_64" : "arm64");
  const mem =
    choose(rng, [
      [2, 1024],
      [1, 2048],
    ] as const) * MiB;
  const maxmem =
    mem +
    choose(rng, [
      [2, 2048],
      [1, 3072],
    ] as const) *
      MiB;
  const header = [
    `machine ${arch} mem=${sizeText(mem)} maxmem=${sizeText(maxmem)}${v2 ? " rfc=v2" : ""}${kernelWord(opts.version)}` +
      (opts.cpu !== undefined && arch === "arm64" ? ` cpu=${opts.cpu}` : ""),
  ];
  if (arch === "arm64" && rng.chance(0.4)) header.push("cmdline rodata=off");
  header.push("boot");
  const b = new ScenarioBuilder(header, arch);
  const base = b.k.board.deviceMemoryBase;
  const rawEnd = base + (maxmem - mem);
  const adds: Add[] = [];
  const unmapped: Array<[number, number]> = [];
  const owner = (a?: Add): string => {
    if (!v2) return "";
    const n = a && rng.chance(0.85) ? a.owner : 1 + rng.int(3);
    return n === 1 && rng.chance(0.5) ? "" : ` owner=${n}`;
  };
  const free = (start: number, size: number) =>
    start >= base &&
    start + size <= rawEnd &&
    adds.every((a) => start + size <= a.start || a.start + a.size <= start);
  /** Block-aligned starts where `size` fits, first-fit order. */
  const freeStarts = (size: number): number[] => {
    const out: number[] = [];
    for (let s = base; s + size <= rawEnd; s += BLOCK) if (free(s, size)) out.push(s);
    return out;
  };
  /** 1 GiB-aligned GiBs of the device region that nothing was added to. */
  const freeGibs = (): number[] => {
    const gib = 1024 * MiB;
    const out: number[] = [];
    for (let g = Math.ceil(base / gib) * gib; g + gib <= rawEnd; g += gib) if (free(g, gib)) out.push(g);
    return out;
  };
  /** A range over added memory: a sub-range of one add mostly; across adds, unaligned, or empty now and then. */
  const range = (): [number, number, Add | undefined] | undefined => {
    if (!adds.length) return undefined;
    const a = anyOf(rng, adds);
    const r = rng.next();
    if (r < 0.06) return [a.start + 2 * MiB, BLOCK, a]; // unaligned: -EINVAL
    if (r < 0.1) return [rawEnd, BLOCK, undefined]; // nothing there
    if (r < 0.2 && adds.length > 1) {
      const sorted = [...adds].sort((x, y) => x.start - y.start);
      const lo = sorted[0].start;
      const hi = Math.max(...sorted.map((x) => x.start + x.size));
      return [lo, hi - lo, undefined];
    }
    const blocks = a.size / BLOCK;
    const first = rng.int(blocks);
    const n = 1 + rng.int(blocks - first);
    return [a.start + first * BLOCK, n * BLOCK, a];
  };
  const blockOfAdds = (): number | undefined => {
    const ids: number[] = [];
    for (const a of adds) for (let s = a.start; s < a.start + a.size; s += BLOCK) ids.push(s / BLOCK);
    return ids.length ? anyOf(rng, ids) : undefined;
  };

  const line = (kind: RfcKind): string | undefined => {
    switch (kind) {
      case "add": {
        const size =
          BLOCK *
          choose(rng, [
            [4, 1],
            [3, 2],
            [2, 4],
          ] as const);
        const starts = freeStarts(size);
        if (!starts.length) return undefined;
        const start = rng.chance(0.7) ? starts[0] : anyOf(rng, starts);
        const flags = rng.chance(0.08) ? " MHP_MEMMAP_ON_MEMORY" : "";
        const o = v2 ? 1 + rng.int(3) : 1;
        adds.push({ start, size, owner: o });
        return `call add_memory_driver_managed ${hex(start)} ${sizeText(size)}${v2 && (o !== 1 || rng.chance(0.5)) ? ` owner=${o}` : ""}${flags}`;
      }
      case "add-gib": {
        // several adds in one GiB: the GiB's blocks split into 2-4 adds
        const gibs = freeGibs();
        if (!gibs.length) return undefined;
        const g = anyOf(rng, gibs);
        const cuts = anyOf(rng, [
          [256, 256, 512],
          [128, 384, 512],
          [512, 512],
          [128, 128, 256, 512],
        ]);
        let s = g;
        const o = v2 ? 1 + rng.int(3) : 1;
        for (const c of cuts) {
          const size = c * MiB;
          adds.push({ start: s, size, owner: v2 && rng.chance(0.3) ? 1 + rng.int(3) : o });
          const a = adds[adds.length - 1];
          if (
            !b.add(
              `call add_memory_driver_managed ${hex(s)} ${sizeText(size)}${v2 ? ` owner=${a.owner}` : ""}`,
            )
          )
            adds.pop();
          s += size;
        }
        return undefined; // added above, line by line
      }
      case "depopulate": {
        const r = range();
        if (!r) return undefined;
        return `call depopulate_range_driver_managed ${hex(r[0])} ${sizeText(r[1])}${owner(r[2])}`;
      }
      case "populate": {
        const r = range();
        if (!r) return undefined;
        const type = v2 ? choose(rng, ONLINE_TYPES) : undefined;
        return `call populate_range_driver_managed ${hex(r[0])} ${sizeText(r[1])}${owner(r[2])}${type ? ` ${type}` : ""}`;
      }
      case "remove":
      case "offline-remove": {
        const r = range();
        if (!r) return undefined;
        let [start, size] = r;
        if (rng.chance(0.5) && r[2]) [start, size] = [r[2].start, r[2].size]; // the whole add
        if (!v2 && splitsGigaLeaf(b.k, start, size)) return undefined;
        const fn = kind === "remove" ? "remove_memory" : "offline_and_remove_memory";
        // the record of what is added follows the model: a removal it refuses keeps the add
        const l = `call ${fn} ${hex(start)} ${sizeText(size)}`;
        if (!b.add(l)) return undefined;
        if (!b.k.memory.blocks.has(start / BLOCK)) {
          for (const a of [...adds])
            if (a.start < start + size && start < a.start + a.size) adds.splice(adds.indexOf(a), 1);
        }
        return undefined;
      }
      case "state": {
        const id = blockOfAdds();
        if (id === undefined) return undefined;
        const word = choose(rng, [
          [4, "offline"],
          [4, "online_movable"],
          [2, "online"],
          [1, "online_kernel"],
        ] as const);
        return rng.chance(0.8)
          ? `write ${MEM}/memory${id}/state ${word}`
          : `write ${MEM}/memory${id}/online ${anyOf(rng, ["0", "1"])}`;
      }
      case "read-depop":
        return "read /sys/kernel/debug/memhp/depopulated";
      case "read-block": {
        const id = blockOfAdds();
        if (id === undefined) return undefined;
        return `read ${MEM}/memory${id}/${anyOf(rng, ["state", "valid_zones", "online"])}`;
      }
      case "read-global":
        // arm64 has no DirectMap lines
        return anyOf(rng, [
          "read /proc/iomem",
          "read /proc/meminfo MemTotal",
          "read /proc/meminfo MemTotal MemFree",
          arch === "x86_64" ? "read /proc/meminfo DirectMap4k DirectMap2M DirectMap1G" : `ls ${MEM}`,
        ]);
      case "ptdump": {
        if (!adds.length) return undefined;
        const a = anyOf(rng, adds);
        return `ptdump ${hex(a.start)} ${sizeText(a.size)}`;
      }
      case "ls":
        return `ls ${MEM}`;
      case "add-1g": {
        const gibs = freeGibs();
        if (!gibs.length) return undefined;
        const g = anyOf(rng, gibs);
        const o = v2 ? 1 + rng.int(3) : 1;
        adds.push({ start: g, size: 1024 * MiB, owner: o });
        return `call add_memory_driver_managed ${hex(g)} 1G${v2 ? ` owner=${o}` : ""}`;
      }
      case "unmapped": {
        // pageblocks of one add: a few, a run, a block, or the whole add
        if (!adds.length) return undefined;
        const a = anyOf(rng, adds);
        const blocks = a.size / PAGEBLOCK;
        const n = choose(rng, [
          [4, 1 + rng.int(4)],
          [2, 16],
          [2, BLOCK / PAGEBLOCK],
          [1, blocks],
        ] as const);
        if (n > blocks) return undefined;
        const start = a.start + rng.int(blocks - n + 1) * PAGEBLOCK;
        // the allocation takes online memory: online its offline blocks first, mostly
        if (rng.chance(0.8))
          for (let s = start - (start % BLOCK); s < start + n * PAGEBLOCK; s += BLOCK)
            if (b.k.kernfs.read(`${MEM}/memory${s / BLOCK}/state`) === "offline\n")
              b.add(`write ${MEM}/memory${s / BLOCK}/state online_movable`);
        if (!b.add(`call alloc_contig_range_unmapped ${hex(start)} ${sizeText(n * PAGEBLOCK)}`))
          return undefined;
        if (b.k.unmapped.ranges().some((r) => r.startPfn * PAGE_SIZE === start))
          unmapped.push([start, n * PAGEBLOCK]);
        return undefined;
      }
      case "unmapped-free": {
        if (!unmapped.length) return undefined;
        const [start, size] = unmapped.splice(rng.int(unmapped.length), 1)[0];
        return `call free_contig_range_unmapped ${hex(start)} ${sizeText(size)}`;
      }
    }
  };

  const n = opts.statements ?? 14;
  // start with memory to work on
  if (rng.chance(0.4)) line("add-gib");
  for (let tries = 0; b.body.length < n && tries < n * 8; tries++) {
    const kind: RfcKind =
      adds.length === 0
        ? rng.chance(0.6)
          ? "add"
          : "add-gib"
        : choose(rng, opts.cpu !== undefined && arch === "arm64" ? CPU_WEIGHTS : RFC_WEIGHTS);
    const l = line(kind);
    if (l !== undefined && !b.add(l) && kind === "add") adds.pop();
  }
  return { arch, text: b.text(), seed };
}
