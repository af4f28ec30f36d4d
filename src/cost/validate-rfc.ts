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

import type { Arch } from "../scenario/ast.js";
import { parseScenario } from "../scenario/parse.js";
import { executeStatement, runScenarioKernel } from "../scenario/run.js";
import { OracleSession, TEST_MODULE_CTL, type OracleOptions } from "../oracle/run.js";
import type { WorkCounts } from "../kernel/work.js";
import { costOf } from "./engine.js";
import type { CostProfile } from "./profile.js";

/** Where each architecture's gigabyte goes (past boot RAM, 1 GiB aligned). */
const RANGE: Record<Arch, { start: number; firstBlock: number }> = {
  x86_64: { start: 0x140000000, firstBlock: 40 },
  arm64: { start: 0x100000000, firstBlock: 32 },
};
const BLOCKS = 8;

const machine = (arch: Arch): string =>
  arch === "x86_64" ? "machine x86_64 mem=2G maxmem=6G" : "machine arm64 mem=2G maxmem=5G";

const hex = (n: number): string => `0x${n.toString(16)}`;

/** The statements of one cycle of `kind` (scenario lines). */
export function cycleLines(arch: Arch, kind: "rfc" | "remove-add"): string[] {
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
  return [
    ...blocks.map((b) => state(b, "offline")),
    down,
    up,
    ...blocks.map((b) => state(b, "online_movable")),
  ];
}

function setupText(arch: Arch): string {
  const { start, firstBlock } = RANGE[arch];
  const online = Array.from(
    { length: BLOCKS },
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
export function predictRfcCycle(arch: Arch, p: CostProfile): RfcPrediction {
  const k = runScenarioKernel(parseScenario(setupText(arch), "rfc-validate.mhp"));
  const counts = {} as Record<"rfc" | "remove-add", WorkCounts>;
  for (const kind of ["rfc", "remove-add"] as const) {
    const sc = parseScenario(`${machine(arch)}\nboot\n${cycleLines(arch, kind).join("\n")}\n`, "cycle.mhp");
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
  release: string;
  reps: number;
  /** guest milliseconds over all reps */
  rfcMs: number;
  removeAddMs: number;
}

function shellCycle(arch: Arch, kind: "rfc" | "remove-add"): string {
  return cycleLines(arch, kind)
    .map((l) => {
      const w = /^write (\S+) (\S+)$/.exec(l);
      if (w) return `echo ${w[2]} > ${w[1]} || exit 1`;
      return `echo "${l.slice("call ".length)}" > ${TEST_MODULE_CTL} || exit 1`;
    })
    .join("\n");
}

/** Times `reps` cycles of each kind on the patched kernel under QEMU. */
export async function measureRfcOnKernel(
  arch: Arch,
  reps: number,
  opts: OracleOptions = {},
): Promise<RfcMeasurement> {
  const sc = parseScenario(setupText(arch), "rfc-validate.mhp");
  const s = await OracleSession.start(sc, { requestTimeoutMs: 600_000, ...opts, kernel: "patched" });
  try {
    for (const st of sc.body) {
      const rec = (await s.run(st)) as { result?: string };
      if (rec.result !== undefined && rec.result !== "ok")
        throw new Error(`kernel set-up: line ${st.loc.line}: ${rec.result}`);
    }
    const cs = 'read u _ < /proc/uptime; echo "${u%.*}${u#*.}"';
    const script = [
      "rfc=0; ra=0",
      `for i in $(seq ${reps}); do`,
      `t0=$(${cs})`,
      shellCycle(arch, "rfc"),
      `t1=$(${cs})`,
      shellCycle(arch, "remove-add"),
      `t2=$(${cs})`,
      "rfc=$((rfc + t1 - t0)); ra=$((ra + t2 - t1))",
      "done",
      'echo "$rfc $ra"',
    ].join("\n");
    const r = await s.exec(script);
    if (r.rc !== 0) throw new Error(`the cycles failed on the kernel: ${r.err}`);
    const [rfc, ra] = r.out.trim().split(/\s+/).map(Number);
    return { release: s.header.version, reps, rfcMs: rfc * 10, removeAddMs: ra * 10 };
  } finally {
    await s.close();
  }
}

/** A markdown table row set: predicted and measured ratio per architecture. */
export function formatRfcValidation(
  rows: { arch: Arch; profile: string; predicted: RfcPrediction; measured: RfcMeasurement }[],
): string {
  const out = [
    "| arch | profile | predicted rfc / remove+add | measured under TCG (patched kernel) | error | TCG times (all reps) |",
    "| --- | --- | ---: | ---: | ---: | --- |",
  ];
  for (const r of rows) {
    const pred = r.predicted.rfcNs / r.predicted.removeAddNs;
    const meas = r.measured.rfcMs / r.measured.removeAddMs;
    out.push(
      `| ${r.arch} | ${r.profile} | ${(pred * 100).toFixed(1)} % | ${(meas * 100).toFixed(1)} % | ${((pred / meas - 1) * 100).toFixed(0)} % | rfc ${r.measured.rfcMs} ms, remove+add ${r.measured.removeAddMs} ms over ${r.measured.reps} cycles |`,
    );
  }
  return out.join("\n");
}
