// The RFC's cycle against remove + add, on the model (predicted with the cost
// profile) and on the RFC-patched kernel under QEMU (measured): 1 GiB of
// driver-managed memory, all 8 blocks online movable; one cycle takes it away
// and gives it back:
//   rfc:        offline each block, depopulate_range_driver_managed(),
//               populate_range_driver_managed(), online each block
//   remove/add: offline each block, remove_memory(),
//               add_memory_driver_managed(), online each block
// Only the ratio rfc / remove-add is compared: QEMU TCG's times are not a real
// CPU's (docs/cost-model.md, Validation). The guest times each kind of cycle
// with /proc/uptime over `reps` cycles run in one shell script (no host round
// trips), the kinds alternating.

import { GUEST_CENTISECONDS_FN } from "../oracle/guest-init.js";
import type { Arch } from "../scenario/ast.js";
import { parseScenario } from "../scenario/parse.js";
import { executeStatement, runScenarioKernel } from "../scenario/run.js";
import { OracleSession, TEST_MODULE_CTL, type OracleOptions } from "../oracle/run.js";
import type { WorkCounts } from "../kernel/work.js";
import { costOf } from "./engine.js";
import type { CostProfile } from "./profile.js";

/** Where each architecture's gigabyte goes (past boot RAM, 1 GiB aligned). */
export const RANGE: Record<Arch, { start: number; firstBlock: number }> = {
  x86_64: { start: 0x140000000, firstBlock: 40 },
  arm64: { start: 0x100000000, firstBlock: 32 },
};
export const BLOCKS = 8;

export const machine = (arch: Arch): string =>
  arch === "x86_64" ? "machine x86_64 mem=2G maxmem=6G" : "machine arm64 mem=2G maxmem=5G";

const hex = (n: number): string => `0x${n.toString(16)}`;

/** The statements of one cycle of `kind` (scenario lines). */
export function cycleLines(arch: Arch, kind: "rfc" | "remove-add", full = true): string[] {
  const { start, firstBlock } = RANGE[arch];
  const state = (b: number, v: string) => `write /sys/devices/system/memory/memory${b}/state ${v}`;
  const blocks = Array.from({ length: BLOCKS }, (_, i) => firstBlock + i);
  const [down, up] =
    kind === "rfc"
      ? [
          `call depopulate_range_driver_managed ${hex(start)} 1G`,
          `call populate_range_driver_managed ${hex(start)} 1G`,
        ]
      : [`call remove_memory ${hex(start)} 1G`, `call add_memory_driver_managed ${hex(start)} 1G`];
  if (!full) return [down, up];
  return [
    ...blocks.map((b) => state(b, "offline")),
    down,
    up,
    ...blocks.map((b) => state(b, "online_movable")),
  ];
}

function setupText(arch: Arch, full = true): string {
  const { start, firstBlock } = RANGE[arch];
  const online = Array.from(
    { length: full ? BLOCKS : 0 },
    (_, i) => `write /sys/devices/system/memory/memory${firstBlock + i}/state online_movable`,
  );
  return (
    [machine(arch), "boot", `call add_memory_driver_managed ${hex(start)} 1G`, ...online].join("\n") + "\n"
  );
}

export interface RfcPrediction {
  rfcNs: number;
  removeAddNs: number;
  counts: Record<"rfc" | "remove-add", WorkCounts>;
}

/** The model's work for one cycle of each kind, and the profile's times for it. */
export function predictRfcCycle(arch: Arch, p: CostProfile, full = true): RfcPrediction {
  const k = runScenarioKernel(parseScenario(setupText(arch, full), "rfc-validate.mhp"));
  const counts = {} as Record<"rfc" | "remove-add", WorkCounts>;
  for (const kind of ["rfc", "remove-add"] as const) {
    const sc = parseScenario(
      `${machine(arch)}\nboot\n${cycleLines(arch, kind, full).join("\n")}\n`,
      "cycle.mhp",
    );
    const before = k.work.snapshot();
    for (const st of sc.body) {
      const rec = executeStatement(k, st) as { result?: string };
      if (rec.result !== "ok") throw new Error(`model, ${kind}: line ${st.loc.line}: ${rec.result}`);
    }
    counts[kind] = k.work.since(before);
  }
  return { rfcNs: costOf(counts.rfc, p).ns, removeAddNs: costOf(counts["remove-add"], p).ns, counts };
}

export interface RfcMeasurement {
  /** with the offline and online of every block (true), or the API calls on offline blocks only */
  full: boolean;
  release: string;
  reps: number;
  /** guest milliseconds over all reps */
  rfcMs: number;
  removeAddMs: number;
  /** the null cycle: two refused writes to the test module (the calls' shell and syscall overhead) */
  nullMs: number;
}

/**
 * cycleLines() as a shell function body, the block writes as loops (the
 * script must stay short: arm64's protocol port, a virtio console, passes
 * lines of at most 4 KiB).
 */
function shellCycle(arch: Arch, kind: "rfc" | "remove-add", full: boolean): string {
  const lines = cycleLines(arch, kind, full);
  const out: string[] = [];
  for (let i = 0; i < lines.length;) {
    const w = /^write \/sys\/devices\/system\/memory\/memory(\d+)\/state (\S+)$/.exec(lines[i]);
    if (w) {
      const blocks: string[] = [];
      while (i < lines.length) {
        const x = /^write \/sys\/devices\/system\/memory\/memory(\d+)\/state (\S+)$/.exec(lines[i]);
        if (!x || x[2] !== w[2]) break;
        blocks.push(x[1]);
        i++;
      }
      out.push(
        `for b in ${blocks.join(" ")}; do echo ${w[2]} > /sys/devices/system/memory/memory$b/state || return 1; done`,
      );
    } else {
      out.push(`echo "${lines[i].slice("call ".length)}" > ${TEST_MODULE_CTL} || return 1`);
      i++;
    }
  }
  return out.join("\n");
}

/** Times `reps` cycles of each kind on the patched kernel under QEMU. */
export async function measureRfcOnKernel(
  arch: Arch,
  reps: number,
  full = true,
  opts: OracleOptions = {},
): Promise<RfcMeasurement> {
  const sc = parseScenario(setupText(arch, full), "rfc-validate.mhp");
  const s = await OracleSession.start(sc, { requestTimeoutMs: 600_000, ...opts, kernel: "patched" });
  try {
    for (const st of sc.body) {
      const rec = (await s.run(st)) as { result?: string };
      if (rec.result !== undefined && rec.result !== "ok")
        throw new Error(`kernel set-up: line ${st.loc.line}: ${rec.result}`);
    }
    const csFn = GUEST_CENTISECONDS_FN; // defines `cs`: the guest's uptime in centiseconds
    const cs = "cs";
    // each kind runs `reps` cycles back to back, timed as a whole (the clock
    // has 10 ms steps); in two rounds of reps/2, the second in the other order,
    // so that neither kind always follows the other. A null cycle (two writes
    // the test module refuses at once, -ENOSYS) measures what the shell and the
    // write syscalls cost by themselves.
    const half = Math.max(1, Math.floor(reps / 2));
    const timed = (fn: string, v: string) =>
      `t0=$(${cs}); i=0; while [ $i -lt ${half} ]; do ${fn} || exit 1; i=$((i + 1)); done; ${v}=$((${v} + $(${cs}) - t0))`;
    const script = [
      csFn,
      "rfc=0; ra=0; nul=0",
      `rfc_cycle() {\n${shellCycle(arch, "rfc", full)}\n}`,
      `ra_cycle() {\n${shellCycle(arch, "remove-add", full)}\n}`,
      `nul_cycle() {\necho "none 0x0 0x0" 2>/dev/null > ${TEST_MODULE_CTL}\necho "none 0x0 0x0" 2>/dev/null > ${TEST_MODULE_CTL}\nreturn 0\n}`,
      timed("rfc_cycle", "rfc"),
      timed("ra_cycle", "ra"),
      timed("nul_cycle", "nul"),
      timed("nul_cycle", "nul"),
      timed("ra_cycle", "ra"),
      timed("rfc_cycle", "rfc"),
      'echo "$rfc $ra $nul"',
    ].join("\n");
    const r = await s.exec(script);
    if (r.rc !== 0) throw new Error(`the cycles failed on the kernel: ${r.err}`);
    const [rfc, ra, nul] = r.out.trim().split(/\s+/).map(Number);
    return {
      full,
      release: s.header.version,
      reps: 2 * half,
      rfcMs: rfc * 10,
      removeAddMs: ra * 10,
      nullMs: nul * 10,
    };
  } finally {
    await s.close();
  }
}

/** A markdown table row set: predicted and measured ratio per architecture. */
export function formatRfcValidation(
  rows: { arch: Arch; profile: string; predicted: RfcPrediction; measured: RfcMeasurement }[],
): string {
  const out = [
    "| arch | cycle | profile | predicted rfc / remove+add | measured under TCG, net of the null cycle | error | TCG times over all cycles |",
    "| --- | --- | --- | ---: | ---: | ---: | --- |",
  ];
  for (const r of rows) {
    const m = r.measured;
    const pred = r.predicted.rfcNs / r.predicted.removeAddNs;
    const meas = (m.rfcMs - m.nullMs) / (m.removeAddMs - m.nullMs);
    out.push(
      `| ${r.arch} | ${m.full ? "offline, down, up, online" : "down, up (blocks offline)"} | ${r.profile} | ${(pred * 100).toFixed(1)} % | ${(meas * 100).toFixed(1)} % | ${((pred / meas - 1) * 100).toFixed(0)} % | rfc ${m.rfcMs} ms, remove+add ${m.removeAddMs} ms, null ${m.nullMs} ms; ${m.reps} cycles |`,
    );
  }
  return out.join("\n");
}
