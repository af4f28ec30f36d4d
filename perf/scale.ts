// The scale targets of memhp (docs/performance.md): machines of up to 1 TiB at
// page granularity. Each target is a scenario built here and run on the model
// in a fresh process (so its resident memory is its own); the figures are host
// time and peak resident set size.

import type { BenchKernel, ModelApi } from "./model.js";

const GiB = 1024 ** 3;
const BLOCK = 128 * 1024 ** 2;

export interface TargetResult {
  name: string;
  /** what was measured, in `unit` */
  value: number;
  unit: "s" | "ms" | "MiB";
  limit: number;
  /** free-form details (phases, counts) */
  detail: Record<string, number | string>;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Run the statements after boot, timing each group of lines by its label. */
function runTimed(
  api: ModelApi,
  k: BenchKernel,
  text: string,
  file: string,
  after?: () => void,
): Record<string, number> {
  const sc = api.parseScenario(text, file);
  const times: Record<string, number> = {};
  let label = "other";
  const labels = labelLines(text);
  for (const st of sc.body) {
    label = labels.get(st.loc.line) ?? label;
    const t0 = performance.now();
    const rec = api.executeStatement(k, st);
    k.tick();
    times[label] = (times[label] ?? 0) + (performance.now() - t0);
    after?.();
    const res = (rec as { result?: string }).result;
    if (res !== undefined && res !== "ok") throw new Error(`${file}:${st.loc.line}: ${res}`);
  }
  return times;
}

/** `# phase: NAME` comment lines label the statements that follow. */
function labelLines(text: string): Map<number, string> {
  const m = new Map<number, string>();
  text.split("\n").forEach((l, i) => {
    const r = /^# phase: (\S+)/.exec(l);
    if (r) m.set(i + 2, r[1]);
  });
  return m;
}

/**
 * Driver-managed memory of `sizeBytes` at 64 GiB on a machine with 1/32 as much boot
 * memory: add it, online every block movable (a workload step every 256
 * blocks), run the workload, offline every block from the top, remove it.
 */
export function driverManagedCycleScenario(arch: "arm64" | "x86_64", sizeBytes: number): string {
  // The memmap (64 bytes a page) and the linear map's tables of the added
  // memory come from boot memory: 1 TiB needs 16 GiB + 2 GiB of it.
  const bootGiB = Math.max(2, Math.ceil(sizeBytes / GiB / 32));
  const base = 64 * GiB;
  const first = base / BLOCK;
  const n = sizeBytes / BLOCK;
  // maxmem reaches past the added range: the model's physical address limit (as QEMU's device memory region)
  const out = [`machine ${arch} mem=${bootGiB}G maxmem=${(base + sizeBytes) / GiB}G`];
  if (arch === "arm64") out.push("cmdline rodata=full");
  out.push(
    "boot",
    "# phase: add",
    `call add_memory_driver_managed ${hex(base)} ${sizeBytes / GiB}G`,
    "# phase: online",
  );
  for (let i = 0; i < n; i++) {
    out.push(`write /sys/devices/system/memory/memory${first + i}/state online_movable`);
    if (i % 256 === 255) out.push("workload 1 intensity=64");
  }
  out.push("# phase: workload", "workload 16 intensity=1024");
  out.push("# phase: offline");
  // from the top, as virtio-mem unplugs: ascending order would push the workload's
  // pages into the next block at every step, as the kernel does (docs/performance.md)
  for (let i = n - 1; i >= 0; i--)
    out.push(`write /sys/devices/system/memory/memory${first + i}/state offline`);
  out.push("# phase: remove", `call remove_memory ${hex(base)} ${sizeBytes / GiB}G`);
  return out.join("\n") + "\n";
}

export function bootFor(api: ModelApi, text: string): BenchKernel {
  return api.bootScenario(api.parseScenario(text, "bench"), 1);
}

/** Target 1: arm64, 1 TiB driver-managed, rodata=full, the whole cycle. */
export function arm64Cycle(api: ModelApi, sizeBytes: number): TargetResult {
  const text = driverManagedCycleScenario("arm64", sizeBytes);
  const t0 = performance.now();
  const k = bootFor(api, text);
  const tBoot = performance.now() - t0;
  const times = runTimed(api, k, text, "arm64-cycle");
  const total = Object.values(times).reduce((a, b) => a + b, 0);
  return {
    name: `arm64 ${sizeBytes / GiB} GiB driver-managed add/online/offline/remove (rodata=full, workload)`,
    value: total / 1000,
    unit: "s",
    limit: 10,
    detail: {
      bootMs: Math.round(tBoot),
      ...Object.fromEntries(Object.entries(times).map(([k2, v]) => [`${k2}Ms`, Math.round(v)])),
      pagesMigrated: k.work.total.pagesMigrated,
      pagesScanned: k.work.total.pagesScanned,
      tablePagesAllocated: k.work.total.tablePagesAllocated,
      pteWritten: k.work.total.pteWritten,
    },
  };
}

export function x86VirtioMem(api: ModelApi, sizeBytes: number): TargetResult {
  const gib = sizeBytes / GiB;
  const bootGiB = Math.max(2, Math.ceil(gib / 32)); // the memmap comes from boot memory
  const text = [
    `machine x86_64 mem=${bootGiB}G maxmem=${gib + bootGiB}G`,
    "cmdline memhp_default_state=online_movable",
    `vmem vm0 size=${gib}G`,
    "boot",
    "# phase: plug",
    `vmem-resize vm0 ${gib}G`,
    "# phase: unplug",
    "vmem-resize vm0 0",
  ].join("\n");
  const k = bootFor(api, text);
  const bootPages = k.alloc.totalramPages;
  let pluggedPages = 0;
  const times = runTimed(api, k, text, "x86-vmem", () => {
    pluggedPages = Math.max(pluggedPages, k.alloc.totalramPages - bootPages);
  });
  // the whole device must have been plugged and onlined, and all of it unplugged
  if (pluggedPages * 4096 !== sizeBytes || k.alloc.totalramPages !== bootPages)
    throw new Error(`x86-vmem: plugged ${pluggedPages * 4096} of ${sizeBytes} bytes`);
  const total = Object.values(times).reduce((a, b) => a + b, 0);
  return {
    name: `x86_64 ${gib} GiB virtio-mem plug + unplug`,
    value: total / 1000,
    unit: "s",
    limit: 2,
    detail: Object.fromEntries(Object.entries(times).map(([k2, v]) => [`${k2}Ms`, Math.round(v)])),
  };
}

/**
 * An arm64 machine (rodata=full) with `sizeBytes` of driver-managed memory at
 * 64 GiB, all of it online movable, with a workload holding some of it.
 */
export interface BigMachine {
  api: ModelApi;
  k: BenchKernel;
  first: number;
  n: number;
}

export function bigMachine(api: ModelApi, sizeBytes: number): BigMachine {
  const text = driverManagedCycleScenario("arm64", sizeBytes);
  const upTo = text.indexOf("# phase: offline");
  const k = bootFor(api, text);
  runTimed(api, k, text.slice(0, upTo), "big-machine");
  return { api, k, first: (64 * GiB) / BLOCK, n: sizeBytes / BLOCK };
}

/** Target 3: one block's offline + remove + add + online on a machine of `sizeBytes`, mean of `cycles`. */
export function singleBlockCycle(big: BigMachine, cycles: number): TargetResult {
  const top = big.first + big.n - 1;
  const start = hex(top * BLOCK);
  const text =
    "machine arm64 mem=2G maxmem=4G\nboot\n" +
    `write /sys/devices/system/memory/memory${top}/state offline\n` +
    `call remove_memory ${start} 128M\n` +
    `call add_memory_driver_managed ${start} 128M\n` +
    `write /sys/devices/system/memory/memory${top}/state online_movable\n`;
  // warm up the JIT first (the first few cycles run interpreted code)
  for (let i = 0; i < Math.min(50, cycles); i++) runTimed(big.api, big.k, text, "single-block");
  const t0 = performance.now();
  for (let i = 0; i < cycles; i++) runTimed(big.api, big.k, text, "single-block");
  const ms = (performance.now() - t0) / cycles;
  return {
    name: `one block's offline/remove/add/online on a ${(big.n * BLOCK) / GiB} GiB machine`,
    value: ms,
    unit: "ms",
    limit: 1,
    detail: { cycles },
  };
}

/** Target 4: a full invariant check, and the incremental check after one block's offline. */
export function invariantChecks(big: BigMachine): TargetResult[] {
  const k = big.k;
  const t0 = performance.now();
  const v = k.checkInvariants();
  const full = performance.now() - t0;
  if (v.length) throw new Error(`invariants: ${v.slice(0, 3).join("; ")}`);
  // then five operations (a block offline each, from the top) and the
  // incremental check after each: the median (an older tree without
  // incremental checks makes a full one: its figure says so)
  const incr: number[] = [];
  let full2 = 0;
  for (let b = 0; b < 5; b++) {
    const top = big.first + big.n - 1 - b;
    runTimed(
      big.api,
      k,
      `machine arm64 mem=2G maxmem=4G\nboot\nwrite /sys/devices/system/memory/memory${top}/state offline\n`,
      "op",
    );
    const t1 = performance.now();
    const vi = k.checkInvariants({ incremental: true });
    incr.push(performance.now() - t1);
    const t2 = performance.now();
    const vf = k.checkInvariants();
    full2 = performance.now() - t2;
    if (vi.length || vf.length)
      throw new Error(`invariants after an operation: ${[...vi, ...vf].slice(0, 3).join("; ")}`);
  }
  incr.sort((x, y) => x - y);
  const gib = (big.n * BLOCK) / GiB;
  return [
    {
      name: `full invariant check of a ${gib} GiB machine`,
      value: full / 1000,
      unit: "s",
      limit: 1,
      detail: {},
    },
    {
      name: `incremental invariant check after one block's offline (${gib} GiB, median of 5)`,
      value: incr[2],
      unit: "ms",
      limit: 100,
      detail: { fullCheckAfterMs: Math.round(full2) },
    },
  ];
}
