// The model next to the real kernel on one scenario a QEMU guest can hold:
// a 4 GiB DIMM on x86_64, its 32 blocks onlined movable and offlined again
// (from the top). The model's time is the host time of those 64 statements;
// the kernel's is the guest's own clock (/proc/uptime, 10 ms steps) around the
// same 64 sysfs writes, run
// in the guest in one go (so no serial round trips count), under QEMU TCG,
// which emulates the CPU: the kernel runs many times slower than natively.

import { GUEST_CENTISECONDS_FN } from "../src/oracle/guest-init.js";
import { parseScenario } from "../src/scenario/parse.js";
import { executeStatement, runScenarioKernel } from "../src/scenario/run.js";
import { OracleSession, oracleUnavailable } from "../src/oracle/run.js";

export interface KernelComparison {
  scenario: string;
  modelMs: number;
  kernelMs: number;
}

const FIRST = 32;
const N = 32;

function scenarioText(): string {
  const lines = ["machine x86_64 mem=2G maxmem=6G slots=2", "boot", "dimm-add d1 size=4G"];
  for (let i = 0; i < N; i++)
    lines.push(`write /sys/devices/system/memory/memory${FIRST + i}/state online_movable`);
  for (let i = N - 1; i >= 0; i--)
    lines.push(`write /sys/devices/system/memory/memory${FIRST + i}/state offline`);
  return lines.join("\n") + "\n";
}

function onModel(text: string): number {
  const sc = parseScenario(text, "bench-kernel.mhp");
  const k = runScenarioKernel({ ...sc, body: sc.body.slice(0, 1) });
  const t0 = performance.now();
  for (const st of sc.body.slice(1)) {
    const rec = executeStatement(k, st) as { result?: string };
    k.tick();
    if (rec.result !== "ok") throw new Error(`model: line ${st.loc.line}: ${rec.result}`);
  }
  return performance.now() - t0;
}

async function onKernel(text: string): Promise<number> {
  const sc = parseScenario(text, "bench-kernel.mhp");
  const s = await OracleSession.start(sc);
  try {
    const add = (await s.run(sc.body[0])) as { result?: string; blocks?: { added: string[] } };
    if (add.result !== "ok" || add.blocks?.added.length !== N)
      throw new Error(`dimm-add on the kernel: ${JSON.stringify(add)}`);
    const writes = sc.body
      .slice(1)
      .map((st) => {
        const w = st as unknown as { path: string; value: string };
        return `echo ${w.value} > ${w.path} || exit 1`;
      })
      .join("\n");
    // /proc/uptime: seconds with two decimals (the guest's busybox date has no %N)
    const csFn = GUEST_CENTISECONDS_FN; // defines `cs`: the guest's uptime in centiseconds
    const cs = "cs";
    const r = await s.exec(`${csFn}\nt0=$(${cs})\n${writes}\nt1=$(${cs})\necho $(( (t1 - t0) * 10 ))`);
    if (r.rc !== 0) throw new Error(`the writes on the kernel failed: ${r.err}`);
    return Number((r.out ?? "").trim());
  } finally {
    await s.close();
  }
}

/** Both times, or why the kernel side cannot run here. */
export async function compareWithKernel(): Promise<KernelComparison | string> {
  const why = oracleUnavailable("x86_64");
  if (why) return why;
  const text = scenarioText();
  const modelMs = onModel(text);
  const kernelMs = await onKernel(text);
  return {
    scenario: `x86_64, 4 GiB DIMM at 4 GiB: online_movable its ${N} blocks, offline them from the top (${2 * N} sysfs writes)`,
    modelMs,
    kernelMs,
  };
}
