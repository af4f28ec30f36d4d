// Turning an abstract FuzzOp (./schema.ts) into the scenario line it stands for,
// against the machine as it is now: which blocks exist, where the device region
// is, which DIMMs the host has, which driver calls the model knows.
//
// Every line goes through the scenario parser before it runs (together with the
// set-up and the host events so far, the only statements whose validity depends
// on what came before), so the statement executed is exactly the one a saved
// regression file holds, and every saved file parses. An operation the parser
// would refuse (a DIMM beyond maxmem, no free slot) is skipped.

import { DriverCalls } from "../kernel/calls.js";
import type { Kernel } from "../kernel/kernel.js";
import { STRATEGY_KINDS } from "../drivers/memory/strategies.js";
import { PAGE_SIZE, SECTION_SIZE } from "../mm/constants.js";
import type { Located, RunStatement } from "../scenario/ast.js";
import { ScenarioError, parseScenario } from "../scenario/parse.js";
import { machineHeader, sizeText, type MachineSpec } from "./machine.js";
import { DIMM_SIZES_MIB, type FuzzOp } from "./schema.js";

const MiB = 2 ** 20;
const MEM = "/sys/devices/system/memory";
const PARAMS = "/sys/module/memory_hotplug/parameters";

const at = <T>(table: readonly T[], i: number): T => table[Math.abs(i) % table.length];
const hex = (n: number): string => "0x" + n.toString(16);

/** Words written to memoryN/state: the valid ones first. */
export const STATE_WORDS: readonly string[] = [
  "online",
  "offline",
  "online_movable",
  "online_kernel",
  "offline",
  "online_movable",
  "online_movable junk",
  "ONLINE",
  "1",
  "offlinex",
];
/** Words written to memoryN/online (kstrtobool()). */
export const ONLINE_WORDS: readonly string[] = ["1", "0", "yes", "no", "on", "off", "1x", "2", "o", "x"];
export const AUTO_ONLINE_WORDS: readonly string[] = [
  "offline",
  "online_movable",
  "online",
  "online_kernel",
  "bogus",
  "online junk",
];
/** [file, values] of the writable module parameters. */
export const PARAM_WRITES: readonly (readonly [string, readonly string[]])[] = [
  ["online_policy", ["contig-zones", "auto-movable", "bogus", "auto-movable junk"]],
  ["auto_movable_ratio", ["301", "0", "100", "12x", "4294967296", "0x12d"]],
  ["auto_movable_numa_aware", ["Y", "N", "maybe"]],
];
/** Files that refuse a write, and paths that do not exist ("B" is a block's directory). */
export const JUNK_PATHS: readonly string[] = [
  "B/phys_index",
  "B/valid_zones",
  "B/removable",
  "B/nonexistent",
  "B",
  "B/power",
  "B/subsystem",
  "B/uevent",
  `${MEM}/block_size_bytes`,
  `${MEM}/uevent`,
  `${MEM}/memory99999/state`,
  `${PARAMS}/memmap_on_memory`,
  "/sys/devices/system/node/node0/meminfo",
  "/proc/meminfo",
  "/proc/iomem",
  "/proc/nonexistent",
];
export const JUNK_VALUES: readonly string[] = ["1", "junk", "change", "add", "online", "0x8000000"];
export const READ_PATHS: readonly string[] = [
  "B/state",
  "B/valid_zones",
  "/proc/meminfo",
  "/proc/zoneinfo",
  "/proc/iomem",
  "B/online",
  "/proc/vmstat",
  "/proc/buddyinfo",
  "B/phys_index",
  "B/removable",
  "B/phys_device",
  "B/uevent",
  "B/node0/state",
  "/sys/devices/system/node/node0/meminfo",
  `${MEM}/block_size_bytes`,
  `${MEM}/auto_online_blocks`,
  `${PARAMS}/online_policy`,
  `${PARAMS}/memmap_on_memory`,
];
export const LS_PATHS: readonly string[] = [
  MEM,
  "B",
  "/sys/devices/system/node/node0",
  "/sys/bus/memory",
  "B/power",
];
/** `workload` options: the plain run first; the last is refused (-EINVAL). */
export const WORKLOAD_OPTIONS: readonly string[] = [
  "",
  "fill=0.6",
  "kernel=60 user=40",
  "pinned=20 user=80",
  "thp=50",
  "fill=0.9 intensity=128",
  "longevity=0.99 kernel=90",
  "bogus=1",
];
/** Flag words of add_memory*() calls. */
export const CALL_FLAGS: readonly string[] = [
  "",
  "MHP_MERGE_RESOURCE",
  "MHP_MEMMAP_ON_MEMORY",
  "MHP_MERGE_RESOURCE MHP_MEMMAP_ON_MEMORY",
];
/** Words of `call populate_range_driver_managed` after START SIZE: the online type (none: offline). */
export const POPULATE_WORDS: readonly string[] = [
  "",
  "online_movable",
  "online",
  "online_kernel",
  "offline",
  "bogus",
];
/** Owners of the test module's memory groups (owner=N); 5 is out of range (-EINVAL). */
export const OWNER_WORDS: readonly string[] = ["", "owner=2", "", "owner=1", "owner=5"];

/** The words some calls take after START SIZE; every other call gets START SIZE only. */
const CALL_WORDS: Readonly<Record<string, readonly string[]>> = {
  add_memory: CALL_FLAGS,
  add_memory_driver_managed: CALL_FLAGS,
  power_down: [...STRATEGY_KINDS, "bogus"],
  power_up: [...STRATEGY_KINDS, "bogus"],
  depopulate_range_driver_managed: OWNER_WORDS,
  offline_and_depopulate_memory: OWNER_WORDS,
  populate_range_driver_managed: POPULATE_WORDS,
  populate_and_online_memory: POPULATE_WORDS,
};

export class Resolver {
  private readonly header: string[];
  /** Host-event lines accepted so far (the parser tracks DIMMs across them). */
  private readonly hostLines: string[] = [];
  private readonly dimmIds = new Set<string>();
  private readonly callNames: string[];

  constructor(readonly machine: MachineSpec) {
    this.header = machineHeader(machine);
    // The calls the model knows now (the RFC's are drawn here and, with
    // structured ranges, by the "rfc" operation).
    this.callNames = [...DriverCalls.names(), "no_such_function"];
  }

  /** The line number the next statement gets in the saved scenario. */
  lineOf(index: number): number {
    return this.header.length + index + 1;
  }

  /** The scenario line for `op` now, or undefined when it would not parse (skipped). */
  lineFor(k: Kernel, op: FuzzOp): string | undefined {
    switch (op.kind) {
      case "state":
        return `write ${this.blockDir(k, op.a)}/state ${at(STATE_WORDS, op.b)}`;
      case "online":
        return `write ${this.blockDir(k, op.a)}/online ${at(ONLINE_WORDS, op.b)}`;
      case "auto-online":
        return `write ${MEM}/auto_online_blocks ${at(AUTO_ONLINE_WORDS, op.a)}`;
      case "param": {
        const [file, values] = at(PARAM_WRITES, op.a);
        return `write ${PARAMS}/${file} ${at(values, op.b)}`;
      }
      case "junk":
        return `write ${this.path(k, at(JUNK_PATHS, op.a), op.c)} ${at(JUNK_VALUES, op.b)}`;
      case "read":
        return `read ${this.path(k, at(READ_PATHS, op.a), op.b)}`;
      case "ls":
        return `ls ${this.path(k, at(LS_PATHS, op.a), op.b)}`;
      case "ptdump": {
        const bs = k.memory.blockSizeBytes;
        return `ptdump ${hex(this.blockId(k, op.a) * bs)} ${hex(bs * (1 + (op.b % 2)))}`;
      }
      case "workload": {
        const opts = at(WORKLOAD_OPTIONS, op.b);
        return `workload ${1 + (op.a % 8)}${opts ? " " + opts : ""}`;
      }
      case "call":
        return this.callLine(k, op);
      case "rfc":
        return this.rfcLine(k, op);
      case "dimm-add":
        return this.dimmAdd(op);
      case "dimm-del": {
        const ids = [...this.dimmIds].sort();
        return ids.length ? `dimm-del ${at(ids, op.a)}` : undefined;
      }
      case "vmem-resize":
        return this.vmemResize(k, op);
      default: {
        const never: never = op.kind;
        throw new Error(`unknown op ${String(never)}`);
      }
    }
  }

  /**
   * The parsed statement of `line` (as statement number `index` of the body), or
   * undefined when the parser refuses it. Host events that parse are remembered.
   */
  parse(line: string, index: number): Located<RunStatement> | undefined {
    const host = /^(dimm-add|dimm-del|vmem-resize) /.test(line);
    const text = [...this.header, ...(host ? this.hostLines : []), line].join("\n") + "\n";
    let st: Located<RunStatement>;
    try {
      const sc = parseScenario(text, "fuzz.mhp");
      st = sc.body[sc.body.length - 1];
    } catch (e) {
      if (e instanceof ScenarioError) return undefined;
      throw e;
    }
    if (host) {
      this.hostLines.push(line);
      if (st.op === "dimm-add") this.dimmIds.add(st.id);
    }
    return { ...st, loc: { file: "fuzz.mhp", line: this.lineOf(index) } };
  }

  // --- operands ---

  /** Block ids with the hot-plugged ones first (they are the interesting ones). */
  private blockIds(k: Kernel): number[] {
    const ids = [...k.memory.blocks.keys()].sort((x, y) => x - y);
    const early = (id: number) => k.sparse.earlySectionNr(id * k.memory.sectionsPerBlock);
    return [...ids.filter((id) => !early(id)), ...ids.filter(early)];
  }

  /** A block id: mostly an existing one; one choice in eight names a block that does not exist. */
  private blockId(k: Kernel, a: number): number {
    const ids = this.blockIds(k);
    if (ids.length === 0 || a % 8 === 7) return Math.max(-1, ...ids) + 1 + ((a >> 3) % 3);
    return ids[(a >> 3) % ids.length];
  }

  private blockDir(k: Kernel, a: number): string {
    return `${MEM}/memory${this.blockId(k, a)}`;
  }

  private path(k: Kernel, template: string, a: number): string {
    if (template === "B") return this.blockDir(k, a);
    if (template.startsWith("B/")) return this.blockDir(k, a) + template.slice(1);
    return template;
  }

  /**
   * START and SIZE for a driver call: a hot-added block, a block of a virtio-mem
   * region (memory a driver owns), a range alloc_contig_range() handed out, a
   * boot block, a 2 MiB piece of a hot-added block, or a bad range (unaligned,
   * beyond the machine, at 0). Not a free slot of the DIMM region: a driver that
   * adds memory where the host later plugs a DIMM makes the real kernel BUG()
   * (acpi_memory_enable_device() takes the resulting -EEXIST for success, and
   * the eject's try_remove_memory() then hits BUG_ON(check_hotplug_memory_range())).
   */
  private callRange(k: Kernel, a: number, b: number): [number, number] {
    const bs = k.memory.blockSizeBytes;
    const hot = this.blockIds(k).filter((id) => !k.sparse.earlySectionNr(id * k.memory.sectionsPerBlock));
    const size = at([bs, 2 * bs, 4 * bs, 2 * MiB, 0], b);
    const i = a >> 3;
    const vms = [...k.virtioMem.values()];
    // With nothing hot-added yet: a virtio-mem region, else a boot block (never a free DIMM slot).
    const fallback = vms.length ? Math.ceil(at(vms, i).addr / bs) * bs : (this.blockIds(k).at(-1) ?? 0) * bs;
    const hotStart = () => (hot.length ? at(hot, i) * bs : fallback);
    switch (a % 8) {
      case 0:
        return [hotStart(), size];
      case 1: {
        if (!vms.length) return [hotStart(), size];
        const v = at(vms, i);
        const first = Math.ceil(v.addr / bs) * bs;
        return [first + ((i >> 2) % Math.max(1, Math.floor(v.regionSize / bs))) * bs, size];
      }
      case 2: {
        const held = k.contig.held();
        if (!held.length) return [hotStart(), size];
        const h = at(held, i);
        return [h.startPfn * PAGE_SIZE, (h.endPfn - h.startPfn) * PAGE_SIZE];
      }
      case 3: {
        const ids = this.blockIds(k);
        return [ids.length ? at(ids, i) * bs : 0, size];
      }
      case 4:
        return [fallback + 2 * MiB, size];
      case 5:
        return [Math.ceil(k.maxPhysAddr / SECTION_SIZE) * SECTION_SIZE + (i % 4) * bs, size];
      case 6:
        return [hotStart() + ((i >> 2) % (bs / (2 * MiB))) * 2 * MiB, 2 * MiB];
      default:
        return [0, size];
    }
  }

  private callLine(k: Kernel, op: FuzzOp): string | undefined {
    const fn = at(this.callNames, op.c);
    let [start, size] = this.callRange(k, op.a, op.b);
    if (fn === "arch_create_linear_mapping") {
      // The kernel function checks nothing: only a range alloc_contig_range()
      // handed out and arch_remove_linear_mapping() unmapped (memtrace's way).
      const unmapped = k.contig
        .held()
        .filter((h) => k.arch.pgtable.lookup(k.arch.physToVirt(h.startPfn * PAGE_SIZE)) === undefined);
      if (!unmapped.length) return undefined;
      const h = at(unmapped, op.a);
      [start, size] = [h.startPfn * PAGE_SIZE, (h.endPfn - h.startPfn) * PAGE_SIZE];
    }
    // remove_memory() of no whole block BUG()s (try_remove_memory()'s
    // BUG_ON(check_hotplug_memory_range())): a caller's bug the model predicts
    // (./known.ts), not worth finding in every campaign; offline_and_remove_memory()
    // checks the range and answers -EINVAL.
    const bs = k.memory.blockSizeBytes;
    if (fn === "remove_memory" && (size <= 0 || !bs || start % bs || size % bs)) return undefined;
    // No steering: ranges that split a 1 GiB leaf or take memory an ACPI DIMM
    // owns are drawn like any other; what stock 6.1 does there is reported as
    // a finding named after that behaviour (./known.ts).
    let line = `call ${fn} ${hex(start)} ${hex(size)}`;
    const words = CALL_WORDS[fn];
    if (words) {
      const w = at(words, op.c >> 4);
      if (w) line += " " + w;
    }
    return line;
  }

  /**
   * An RFC v2 / strategy step on the test module's memory in the device
   * region's first two GiB: several adds in one GiB (a block to 512 MiB, owner
   * 1 or 2), offline_and_depopulate / populate_and_online of an add, of a
   * block, or of a whole GiB across adds, remove_memory() of part of an add or
   * of all of it, and the power strategies over an add; onlines and offlines
   * in between come from the state operations.
   */
  private rfcLine(k: Kernel, op: FuzzOp): string | undefined {
    const bs = k.memory.blockSizeBytes;
    const GiB = 1024 * MiB;
    // Where the test module adds: next to its earlier adds (several in one
    // GiB), else the device region's first free 1 GiB-aligned GiB, else its
    // first free block; never over a DIMM or a virtio-mem region.
    const base = k.board.deviceMemoryBase;
    const regionEnd = base + k.board.deviceMemorySize;
    const devices: Array<[number, number]> = [];
    for (const v of k.virtioMem.values()) devices.push([v.addr, v.addr + v.regionSize]);
    for (const d of k.acpi.devices.values()) devices.push([d.startAddr, d.startAddr + d.length]);
    const overlaps = (r: readonly [number, number][], s: number, n: number) =>
      r.some(([a, b]) => a < s + n && s < b);
    const taken = [...k.hotplug.addedRanges, ...devices];
    const free = (s: number, n: number) => s + n <= regionEnd && !overlaps(taken, s, n);
    const mine = k.hotplug.addedRanges.filter(([s, e]) => s >= base && !overlaps(devices, s, e - s));
    let gib = mine.length ? Math.floor(mine[0][0] / GiB) * GiB : Math.ceil(base / GiB) * GiB;
    if (!mine.length && !free(gib, bs)) {
      for (let s = Math.ceil(base / bs) * bs; s + bs <= regionEnd; s += bs)
        if (free(s, bs)) {
          gib = s;
          break;
        }
    }
    const room = Math.max(bs, Math.min(GiB, regionEnd - gib));
    const add = mine.length ? at(mine, op.b >> 4) : ([gib, gib + Math.min(room, 4 * bs)] as const);
    const owner = at(OWNER_WORDS, op.c >> 1);
    const w = (words: string) => (words ? " " + words : "");
    const range = (): [number, number] => {
      switch ((op.b >> 2) % 4) {
        case 0:
          return [add[0], add[1] - add[0]]; // one add
        case 1:
          return [gib, GiB]; // the GiB, across adds
        case 2:
          return [add[0] + ((op.c >> 4) % Math.max(1, (add[1] - add[0]) / bs)) * bs, bs]; // one block
        default:
          return [add[0], Math.max(bs, Math.floor((add[1] - add[0]) / 2 / bs) * bs)]; // part of an add
      }
    };
    switch (op.a % 7) {
      case 0:
      case 1: {
        const size = at([bs, 2 * bs, 4 * bs, 512 * MiB, GiB], op.b);
        const start = size === GiB ? gib : gib + ((op.b >> 3) % Math.max(1, room / bs)) * bs;
        return `call add_memory_driver_managed ${hex(start)} ${hex(size)}${w(owner)}`;
      }
      case 2: {
        const [s, n] = range();
        return `call depopulate_range_driver_managed ${hex(s)} ${hex(n)}${w(owner)}`;
      }
      case 3: {
        const [s, n] = range();
        return `call populate_range_driver_managed ${hex(s)} ${hex(n)}${w(owner)}${w(at(POPULATE_WORDS, op.c >> 3))}`;
      }
      case 4: {
        const [s, n] = range();
        // remove_memory() of no whole block BUG()s in 6.1 (try_remove_memory()'s
        // BUG_ON(check_hotplug_memory_range()), a caller's bug the model predicts);
        // offline_and_remove_memory() checks the range itself and answers -EINVAL
        const removable = n > 0 && s % bs === 0 && n % bs === 0;
        return `call ${op.c % 4 && removable ? "remove_memory" : "offline_and_remove_memory"} ${hex(s)} ${hex(n)}`;
      }
      default: {
        const [s, n] = op.b % 2 ? range() : [add[0], add[1] - add[0]];
        return `call ${op.a % 7 === 5 ? "power_down" : "power_up"} ${hex(s)} ${hex(n)} ${at(STRATEGY_KINDS, op.c >> 2)}`;
      }
    }
  }

  private dimmAdd(op: FuzzOp): string | undefined {
    const size = at(DIMM_SIZES_MIB, op.b) * MiB;
    for (let j = 0; j < 6; j++) {
      const id = `d${(op.a + j) % 6}`;
      const line = `dimm-add ${id} size=${sizeText(size)}`;
      if (this.wouldParse(line)) return line;
    }
    return undefined;
  }

  private wouldParse(hostLine: string): boolean {
    try {
      parseScenario([...this.header, ...this.hostLines, hostLine].join("\n") + "\n", "fuzz.mhp");
      return true;
    } catch (e) {
      if (e instanceof ScenarioError) return false;
      throw e;
    }
  }

  private vmemResize(k: Kernel, op: FuzzOp): string | undefined {
    const vms = this.machine.vmems;
    if (vms.length === 0) return undefined;
    const vm = at(vms, op.a);
    const bs = k.memory.blockSizeBytes;
    const sizes = [0];
    for (let s = bs; s <= vm.sizeBytes; s += bs) sizes.push(s);
    if (vm.sizeBytes % bs) sizes.push(vm.sizeBytes);
    sizes.push(2 * MiB);
    return `vmem-resize ${vm.id} ${sizeText(at(sizes, op.b))}`;
  }
}
