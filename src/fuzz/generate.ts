// Random scenarios for the real kernel (`memhp fuzz --oracle`): whole scenario
// files, as a person would write them, that run on the model (`memhp run`) and on
// the oracle's kernel (`memhp oracle`) alike.
//
// Unlike the operation lists of ./schema.ts (which feed the invariant fuzzer and
// may use anything the model knows), these hold to what the real kernel can be
// asked: on Debian's kernel no `call`, `workload`, `hw-*` or `audit` (the oracle
// answers ENOSYS), machines that boot in a few seconds under TCG, and reads whose
// comparison rule means something (no per-node meminfo or buddyinfo, which are
// compared exactly and move with the guest's own activity). With the patched
// kernel (--kernel patched) the scenario is a sequence of the RFC's calls
// (docs/rfc-v2.md) instead: ./generate-rfc.ts.
//
// The generator keeps a model machine beside the text it writes: each statement
// is parsed together with everything before it (so the file is valid: devices
// within maxmem, free slots, dimm-del after its dimm-add) and executed on the
// model, so the next statement can name the memory blocks that exist now. The
// same seed gives the same text.

import type { Kernel } from "../kernel/kernel.js";
import { DEFAULT_KERNEL_VERSION, type KernelVersion } from "../kernel/linux_version.js";
import { Rng } from "../mm/random.js";
import type { Arch, Scenario } from "../scenario/ast.js";
import { ScenarioError, parseScenario } from "../scenario/parse.js";
import { bootScenario, executeStatement } from "../scenario/run.js";
import { sizeText } from "./machine.js";
import { AUTO_ONLINE_WORDS, JUNK_PATHS, JUNK_VALUES, ONLINE_WORDS, STATE_WORDS } from "./resolve.js";

const MiB = 2 ** 20;
const GiB = 2 ** 30;
export const MEM = "/sys/devices/system/memory";
const PARAMS = "/sys/module/memory_hotplug/parameters";

export type OracleKernelKind = "stock" | "patched";

export interface GenerateOptions {
  /** Only this architecture (default: drawn, x86_64 and arm64 alike). */
  arch?: Arch;
  /** Statements after `boot` (default 14). */
  statements?: number;
  /** The Linux release of the machine (`machine ... kernel=`; default 6.1). */
  version?: KernelVersion;
  /** arm64 machines' CPU model (`machine ... cpu=`; default QEMU's max). */
  cpu?: string;
}

/** The machine line's `kernel=` word for `version` (none for the default release). */
export function kernelWord(version: KernelVersion | undefined): string {
  return version === undefined || version === DEFAULT_KERNEL_VERSION ? "" : ` kernel=${version}`;
}

export interface GeneratedScenario {
  arch: Arch;
  /** The scenario file's text. */
  text: string;
  /** The seed it came from. */
  seed: number;
}

/** A weighted choice from [weight, value] pairs. */
export function choose<T>(rng: Rng, table: readonly (readonly [number, T])[]): T {
  return table[rng.pick(table.map(([w]) => w))][1];
}

/** A table entry by a random index. */
export function anyOf<T>(rng: Rng, table: readonly T[]): T {
  return table[rng.int(table.length)];
}

/**
 * A scenario under construction: the set-up lines, the body lines, and a model
 * machine that has run them. add() keeps a line only if the whole text still
 * parses, and runs it on the model.
 */
export class ScenarioBuilder {
  readonly body: string[] = [];
  readonly k: Kernel;
  private readonly sc: Scenario;

  constructor(
    readonly header: readonly string[],
    readonly arch: Arch,
  ) {
    this.sc = parseScenario(this.text(), "fuzz.mhp");
    this.k = bootScenario(this.sc, 1);
  }

  text(lines: readonly string[] = this.body): string {
    return [...this.header, ...lines].join("\n") + "\n";
  }

  /** Append `line` if the scenario still parses; returns whether it did. */
  add(line: string | undefined): boolean {
    if (line === undefined) return false;
    let sc: Scenario;
    try {
      sc = parseScenario(this.text([...this.body, line]), "fuzz.mhp");
    } catch (e) {
      if (e instanceof ScenarioError) return false;
      throw e;
    }
    this.body.push(line);
    try {
      executeStatement(this.k, sc.body[sc.body.length - 1]);
      this.k.tick();
    } catch {
      // the model failed on it (a modelled BUG(), an exception): the line stays,
      // the run on both sides will show what happens; later lines still need a machine
    }
    return true;
  }

  /** Memory block ids now, hot-plugged ones first. */
  blocks(): { hot: number[]; boot: number[] } {
    const ids = [...this.k.memory.blocks.keys()].sort((x, y) => x - y);
    const early = (id: number) => this.k.sparse.earlySectionNr(id * this.k.memory.sectionsPerBlock);
    return { hot: ids.filter((id) => !early(id)), boot: ids.filter(early) };
  }
}

// --- the stock kernel's scenarios ---

/** Boot memory (MiB): sizes Debian's kernel boots in 2-4 s under TCG. */
const MEM_CHOICES: readonly (readonly [number, number])[] = [
  [2, 512],
  [4, 1024],
  [1, 1536],
  [2, 2048],
];
/** maxmem - mem (MiB). */
const EXTRA_CHOICES: readonly (readonly [number, number])[] = [
  [2, 1024],
  [4, 2048],
  [2, 4096],
  [1, 512],
];
const SLOT_CHOICES: readonly (readonly [number, number | undefined])[] = [
  [5, undefined],
  [1, 1],
  [1, 2],
  [1, 8],
];
const DEFAULT_STATE_CHOICES: readonly (readonly [number, string | undefined])[] = [
  [5, undefined],
  [2, "online_movable"],
  [2, "online"],
  [1, "online_kernel"],
  [1, "offline"],
];
/** DIMM sizes (MiB): whole blocks mostly; 64 MiB is refused by add_memory() (-EINVAL). */
const DIMM_CHOICES: readonly (readonly [number, number])[] = [
  [5, 128],
  [4, 256],
  [3, 512],
  [2, 1024],
  [1, 384],
  [1, 64],
];
const VMEM_CHOICES: readonly (readonly [number, number])[] = [
  [2, 512],
  [2, 1024],
  [1, 256],
];

/** Fields of /proc/meminfo whose changes the model predicts. */
const MEMINFO_FIELDS: readonly string[] = [
  "MemTotal MemFree",
  "MemTotal",
  "DirectMap4k DirectMap2M DirectMap1G",
  "MemTotal MemFree DirectMap4k DirectMap2M DirectMap1G",
];
const BLOCK_READS: readonly string[] = ["state", "valid_zones", "online", "phys_index", "removable"];
const GLOBAL_READS: readonly string[] = [
  "/proc/iomem",
  `${MEM}/auto_online_blocks`,
  `${MEM}/block_size_bytes`,
  "/proc/zoneinfo",
  `${PARAMS}/online_policy`,
];

/** The machine lines of a stock scenario. */
function stockHeader(rng: Rng, arch: Arch, version?: KernelVersion, cpu?: string): string[] {
  const mem = choose(rng, MEM_CHOICES) * MiB;
  const maxmem = mem + choose(rng, EXTRA_CHOICES) * MiB;
  const slots = choose(rng, SLOT_CHOICES);
  const lines = [
    `machine ${arch} mem=${sizeText(mem)} maxmem=${sizeText(maxmem)}${slots ? ` slots=${slots}` : ""}${kernelWord(version)}` +
      // drawn from no random number, so that a seed's scenario is the same with and without it
      (cpu !== undefined && arch === "arm64" ? ` cpu=${cpu}` : ""),
  ];
  const cmdline: string[] = [];
  const state = choose(rng, DEFAULT_STATE_CHOICES);
  if (state) cmdline.push(`memhp_default_state=${state}`);
  if (rng.chance(0.15)) cmdline.push("memory_hotplug.memmap_on_memory=1");
  if (rng.chance(0.15)) cmdline.push("memory_hotplug.online_policy=auto-movable");
  if (arch === "arm64" && rng.chance(0.3)) cmdline.push("rodata=off");
  if (cmdline.length) lines.push(`cmdline ${cmdline.join(" ")}`);
  let room = maxmem - mem;
  for (const id of ["vm0", "vm1"]) {
    if (!rng.chance(id === "vm0" ? 0.4 : 0.15)) continue;
    const size = choose(rng, VMEM_CHOICES) * MiB;
    if (size > room - 128 * MiB) continue; // leave room for a DIMM
    room -= size;
    lines.push(`vmem ${id} size=${sizeText(size)}`);
  }
  lines.push("boot");
  return lines;
}

type StockKind =
  | "dimm-add"
  | "dimm-del"
  | "vmem-resize"
  | "state"
  | "online"
  | "auto-online"
  | "param"
  | "read-block"
  | "read-global"
  | "meminfo"
  | "ls"
  | "ptdump"
  | "bad-write";

const STOCK_WEIGHTS: readonly (readonly [number, StockKind])[] = [
  [8, "dimm-add"],
  [4, "dimm-del"],
  [6, "vmem-resize"],
  [12, "state"],
  [4, "online"],
  [3, "auto-online"],
  [1, "param"],
  [8, "read-block"],
  [4, "read-global"],
  [5, "meminfo"],
  [3, "ls"],
  [2, "ptdump"],
  [3, "bad-write"],
];

function stockLine(rng: Rng, b: ScenarioBuilder, kind: StockKind, dimms: string[]): string | undefined {
  const { hot, boot } = b.blocks();
  // a block: hot-plugged ones mostly, a boot block now and then, rarely one that does not exist
  const block = (): number => {
    const r = rng.next();
    if (r < 0.05 || (hot.length === 0 && boot.length === 0)) return Math.max(0, ...hot, ...boot) + 1;
    if (hot.length && r < 0.85) return anyOf(rng, hot);
    return anyOf(rng, boot.length ? boot : hot);
  };
  const dir = (): string => `${MEM}/memory${block()}`;
  switch (kind) {
    case "dimm-add": {
      const free = ["d0", "d1", "d2", "d3"].filter((id) => !dimms.includes(id));
      if (!free.length) return undefined;
      return `dimm-add ${anyOf(rng, free)} size=${sizeText(choose(rng, DIMM_CHOICES) * MiB)}`;
    }
    case "dimm-del":
      return dimms.length ? `dimm-del ${anyOf(rng, dimms)}` : undefined;
    case "vmem-resize": {
      const vms = [...b.k.virtioMem.values()];
      if (!vms.length) return undefined;
      const vm = anyOf(rng, vms);
      const blocks = Math.floor(vm.regionSize / (128 * MiB));
      return `vmem-resize ${vm.id} ${sizeText(rng.int(blocks + 1) * 128 * MiB)}`;
    }
    case "state":
      // the valid words five times in six
      return `write ${dir()}/state ${rng.chance(0.85) ? anyOf(rng, STATE_WORDS.slice(0, 6)) : anyOf(rng, STATE_WORDS)}`;
    case "online":
      return `write ${dir()}/online ${rng.chance(0.8) ? anyOf(rng, ["0", "1"]) : anyOf(rng, ONLINE_WORDS)}`;
    case "auto-online":
      return `write ${MEM}/auto_online_blocks ${anyOf(rng, AUTO_ONLINE_WORDS)}`;
    case "param":
      return `write ${PARAMS}/online_policy ${anyOf(rng, ["contig-zones", "auto-movable", "bogus"])}`;
    case "read-block":
      return `read ${dir()}/${anyOf(rng, BLOCK_READS)}`;
    case "read-global":
      return `read ${anyOf(rng, GLOBAL_READS)}`;
    case "meminfo": {
      // arm64's meminfo has no DirectMap lines
      const fields = anyOf(rng, MEMINFO_FIELDS);
      return `read /proc/meminfo ${b.arch === "arm64" ? fields.replace(/ ?DirectMap\S+/g, "") || "MemTotal" : fields}`;
    }
    case "ls":
      return rng.chance(0.6) ? `ls ${MEM}` : `ls ${dir()}`;
    case "ptdump": {
      // hot-plugged memory only: how the boot kernel maps its own image is a known divergence
      if (!hot.length) return undefined;
      const bs = b.k.memory.blockSizeBytes;
      const first = anyOf(rng, hot);
      return `ptdump 0x${(first * bs).toString(16)} ${sizeText(bs * (1 + rng.int(4)))}`;
    }
    case "bad-write": {
      const p = anyOf(rng, JUNK_PATHS);
      const path = p === "B" ? dir() : p.startsWith("B/") ? dir() + p.slice(1) : p;
      return `write ${path} ${anyOf(rng, JUNK_VALUES)}`;
    }
  }
}

/** A random scenario for Debian's kernel. */
export function generateStock(seed: number, opts: GenerateOptions = {}): GeneratedScenario {
  const rng = new Rng(seed);
  const arch: Arch = opts.arch ?? (rng.chance(0.5) ? "x86_64" : "arm64");
  const b = new ScenarioBuilder(stockHeader(rng, arch, opts.version, opts.cpu), arch);
  const n = opts.statements ?? 14;
  const dimms: string[] = [];
  // several devices at once: plug something early
  for (let tries = 0; b.body.length < n && tries < n * 6; tries++) {
    const kind: StockKind =
      b.body.length === 0 && rng.chance(0.7)
        ? b.k.virtioMem.size && rng.chance(0.5)
          ? "vmem-resize"
          : "dimm-add"
        : choose(rng, STOCK_WEIGHTS);
    const line = stockLine(rng, b, kind, dimms);
    if (!b.add(line)) continue;
    const m = /^dimm-(add|del) (\S+)/.exec(line as string);
    if (m?.[1] === "add") dimms.push(m[2]);
    if (m?.[1] === "del") dimms.splice(dimms.indexOf(m[2]), 1);
  }
  return { arch, text: b.text(), seed };
}

export { GiB, MiB };
