// Recording the oracle corpus: runs each scenario file on the real kernel and
// saves the trace next to it as NAME.linux-<arch>.jsonl (the traces the model is
// held to); files under scenarios/oracle-rfc/ run on the patched kernel of
// linux-patches/ and go to NAME.linux-patched-<arch>.jsonl. With --kernel 6.12 the
// scenarios run on Debian 13's 6.12 kernel and go to NAME.linux-6.12-<arch>.jsonl
// (the RFC corpus on the series' 6.12 build: NAME.linux-patched-6.12-<arch>.jsonl).
// Usage:
//   node --import tsx src/oracle/record.ts scenarios/oracle/*.mhp scenarios/oracle-rfc/*.mhp
//   node --import tsx src/oracle/record.ts --kernel 6.12 scenarios/oracle/*.mhp
// --out DIR: a live recording elsewhere, DIR/NAME.jsonl (another release's:
// DIR/NAME.linux-6.12.jsonl), as `memhp corpus --traces DIR` reads it.

import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseScenario } from "../scenario/parse.js";
import { liveTraceName, traceFlavour } from "../scenario/corpus.js";
import { formatTrace } from "../scenario/trace.js";
import { runOracle, type OracleOptions } from "./run.js";
import type { OracleKernel } from "./cache.js";
import { defaultOracleJobs } from "./parallel.js";
import { DEFAULT_KERNEL_VERSION, isKernelVersion, type KernelVersion } from "../kernel/linux_version.js";

/**
 * Where the recorded trace of `file` goes: x86-vmem.mhp -> x86-vmem.linux-x86_64.jsonl
 * (6.1), x86-vmem.linux-6.12-x86_64.jsonl (6.12).
 */
export function recordedTracePath(
  file: string,
  arch: string,
  kernel: OracleKernel = "stock",
  version: KernelVersion = DEFAULT_KERNEL_VERSION,
): string {
  return `${file.replace(/\.mhp$/, "")}.${traceFlavour(kernel, version)}-${arch}.jsonl`;
}

/** The RFC corpus (scenarios/oracle-rfc/) is recorded on the patched kernel. */
export function kernelFor(file: string): OracleKernel {
  return path.basename(path.dirname(path.resolve(file))) === "oracle-rfc" ? "patched" : "stock";
}

export async function recordScenarioFile(
  file: string,
  opts: OracleOptions = {},
  outDir?: string,
): Promise<string> {
  const scenario = parseScenario(fs.readFileSync(file, "utf8"), file);
  const kernel = opts.kernel ?? kernelFor(file);
  const version = opts.version ?? scenario.machine.kernel ?? DEFAULT_KERNEL_VERSION;
  const trace = await runOracle(scenario, { ...opts, kernel, version });
  const out = outDir
    ? path.join(outDir, liveTraceName(path.basename(file, ".mhp"), version))
    : recordedTracePath(file, scenario.machine.arch, kernel, version);
  fs.writeFileSync(out, formatTrace(trace));
  return out;
}

async function main(args: string[]): Promise<number> {
  let version: KernelVersion | undefined;
  if (args[0] === "--kernel") {
    if (!isKernelVersion(args[1] ?? "")) {
      process.stderr.write(`record.ts: --kernel ${args[1] ?? ""}: 6.1, 6.12 or 7.2\n`);
      return 2;
    }
    version = args[1] as KernelVersion;
    args = args.slice(2);
  }
  let outDir: string | undefined;
  if (args[0] === "--out" && args[1]) {
    outDir = args[1];
    fs.mkdirSync(outDir, { recursive: true });
    args = args.slice(2);
  }
  const files = args;
  if (files.length === 0) {
    process.stderr.write(
      "usage: node --import tsx src/oracle/record.ts [--kernel 6.1|6.12|7.2] [--out DIR] FILE.mhp...\n",
    );
    return 2;
  }
  // MEMHP_ORACLE_JOBS guests at once (parallel.ts); the traces are the same either way
  const jobs = defaultOracleJobs();
  let next = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const f = files[next++];
      const t0 = performance.now();
      const log = (l: string): boolean => process.stderr.write(`${path.basename(f)}: ${l}\n`);
      try {
        const out = await recordScenarioFile(f, { log, ...(version ? { version } : {}) }, outDir);
        process.stderr.write(`recorded ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      } catch (e) {
        failed++;
        const err = e as Error & { console?: string };
        process.stderr.write(`${f}: ${err.message}\n${err.console ? err.console.slice(-4000) : ""}\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker));
  return failed ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error & { console?: string }) => {
      process.stderr.write(`${e.message}\n${e.console ? e.console.slice(-4000) : ""}\n`);
      process.exit(1);
    },
  );
}
