// `memhp snapshot save|load|info`: a model machine's whole state in a file
// (src/snapshot/snapshot.ts: a replay journal checked by a state digest).

import type { Command } from "commander";
import { parseScenario, ScenarioError } from "../scenario/parse.js";
import { runScenarioKernel } from "../scenario/run.js";
import { formatTrace, type TraceRecord } from "../scenario/trace.js";
import { MODEL_VERSION } from "../kernel/kernel.js";
import {
  SnapshotError,
  TICK,
  continueWith,
  makeSnapshot,
  readSnapshot,
  restoreSnapshot,
  saveSnapshot,
  scenarioJournal,
  setupLines,
  type Restored,
  type SnapshotBody,
} from "../snapshot/snapshot.js";
import { badValue, loadScenario, readText, UsageError, writeOut } from "./io.js";

function usage(e: unknown): never {
  if (e instanceof SnapshotError) throw new UsageError(e.message);
  throw e;
}

/**
 * A continuation file (docs/cli/snapshot.md): either statements only, which run
 * on the restored machine after the snapshot's own, or a whole scenario whose
 * set-up (machine, cmdline, vmem, boot) is the snapshot's, whose statements after
 * `boot` run. Its statements are parsed after the snapshot's (a dimm-del may name
 * a DIMM the snapshot added); the trace's line numbers are the file's own.
 */
interface Continuation {
  file: string;
  lines: string[];
  /** The file's line index of its first statement. */
  first: number;
}

/** Read and check a continuation file (before the snapshot is restored: a mistake costs nothing). */
function readContinuation(setup: readonly string[], file: string): Continuation {
  const lines = readText(file).split("\n");
  const words = lines.map((l) => l.replace(/#.*$/, "").trim().split(/\s+/)[0]);
  const bootIdx = words.indexOf("boot");
  const setupIdx = words.findIndex((w) => w === "machine" || w === "cmdline" || w === "vmem");
  if (bootIdx < 0 && setupIdx >= 0)
    throw new UsageError(
      `${file}:${setupIdx + 1}:1: \`${words[setupIdx]}\` without \`boot\`: a continuation file holds ` +
        "statements only, or repeats the snapshot's set-up up to `boot`",
    );
  if (bootIdx >= 0) {
    let own;
    try {
      own = parseScenario(lines.slice(0, bootIdx + 1).join("\n") + "\n", file);
    } catch (e) {
      if (e instanceof ScenarioError) throw new UsageError(e.toString());
      throw e;
    }
    if (setupLines(own).join("\n") !== setup.join("\n"))
      throw new UsageError(
        `${file}: its set-up (${setupLines(own).join("; ")}) is not the snapshot's (${setup.join("; ")}); ` +
          "a continuation file holds statements only, or repeats the snapshot's set-up exactly",
      );
  }
  return { file, lines, first: bootIdx + 1 };
}

function runContinuation(r: Restored, { file, lines, first }: Continuation): TraceRecord[] {
  const before = r.text.split("\n").length - 1;
  try {
    const records = continueWith(r, lines.slice(first));
    for (const rec of records) rec.line = rec.line - before + first;
    return records;
  } catch (e) {
    if (e instanceof ScenarioError)
      throw new UsageError(`${file}:${first + e.line - before}:${e.column}: ${e.message}`);
    throw e;
  }
}

function readSnapshot0(file: string): SnapshotBody {
  try {
    return readSnapshot(file);
  } catch (e) {
    usage(e);
  }
}

function save(file: string, body: SnapshotBody): void {
  try {
    saveSnapshot(file, body);
  } catch (e) {
    usage(e);
  }
}

export function registerSnapshot(program: Command): void {
  const snap = program
    .command("snapshot")
    .description("save a model machine's state to a file, or restore it (exactly, or not at all)")
    .addHelpText(
      "after",
      `
A snapshot is the machine's set-up, its seed and the journal of what was
applied since boot, with a digest of the whole state; loading replays the
journal and refuses the result unless the digest matches (docs/robustness.md).

A continuation file (--continue) is either statements only (no machine, no
boot), run after the snapshot's own; or a whole scenario whose set-up
(machine, cmdline, vmem, boot) is exactly the snapshot's, whose statements after
boot run. The trace's "line" numbers are the continuation file's own.

Examples:
  memhp snapshot save s.snap --from scenarios/examples/x86-dimm.mhp
  memhp snapshot info s.snap
  memhp snapshot load s.snap --continue more.mhp --save s2.snap`,
    );

  snap
    .command("save")
    .description("run a scenario and save the machine it leaves as a snapshot")
    .argument("<file>", "snapshot file to write (atomically)")
    .requiredOption("--from <scenario>", "the scenario to run")
    .option("--seed <n>", "seed for every random choice", "1")
    .action((file: string, opts: { from: string; seed: string }) => {
      const seed = Number(opts.seed);
      if (!/^\d+$/.test(opts.seed) || !Number.isSafeInteger(seed))
        throw badValue("--seed", opts.seed, "a whole number");
      const sc = loadScenario(opts.from);
      const k = runScenarioKernel(sc, seed);
      const body = makeSnapshot(k, setupLines(sc), seed, scenarioJournal(sc, readText(opts.from)));
      save(file, body);
      process.stderr.write(`memhp: saved ${file}: ${body.summary}, digest ${body.digest.slice(0, 16)}\n`);
    });

  snap
    .command("load")
    .description("restore a snapshot (refused unless the state matches), optionally continue with a scenario")
    .argument("<file>", "snapshot file")
    .option(
      "--continue <scenario>",
      "then run this file's statements (statements only, or a scenario repeating the snapshot's set-up)",
    )
    .option("-t, --trace <out>", "where the continued statements' trace goes (default stdout)")
    .option("--save <file>", "save the state after continuing as a new snapshot")
    .action((file: string, opts: { continue?: string; trace?: string; save?: string }) => {
      const cont =
        opts.continue === undefined ? undefined : readContinuation(readSnapshot0(file).setup, opts.continue);
      let r;
      try {
        r = restoreSnapshot(readSnapshot(file), file);
      } catch (e) {
        usage(e);
      }
      const body = readSnapshot(file);
      process.stderr.write(`memhp: restored ${file}: ${body.summary}, state digest verified\n`);
      if (cont !== undefined) {
        const records = runContinuation(r, cont);
        const header = {
          op: "system" as const,
          system: "memhp-model",
          version: MODEL_VERSION,
          arch: r.scenario.machine.arch,
          restoredFrom: file,
          seed: body.seed,
        };
        writeOut(formatTrace({ header, records }), opts.trace);
      }
      if (opts.save !== undefined) {
        const next = makeSnapshot(r.kernel, body.setup, body.seed, r.journal);
        save(opts.save, next);
        process.stderr.write(`memhp: saved ${opts.save}: ${next.summary}\n`);
      }
    });

  snap
    .command("info")
    .description("check a snapshot file's format and checksum and describe it, without restoring it")
    .argument("<file>", "snapshot file")
    .action((file: string) => {
      let body;
      try {
        body = readSnapshot(file);
      } catch (e) {
        usage(e);
      }
      process.stdout.write(
        `${file}: memhp snapshot, model ${body.model}, seed ${body.seed}\n` +
          `  ${body.summary ?? ""}\n  ${body.setup.join("\n  ")}\n` +
          `  ${body.journal.filter((e) => e !== TICK).length} statements, digest ${body.digest}\n`,
      );
    });
}
