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
} from "../snapshot/snapshot.js";
import { loadScenario, readText, UsageError, writeOut } from "./io.js";

function usage(e: unknown): never {
  if (e instanceof SnapshotError) throw new UsageError(e.message);
  throw e;
}

/**
 * The statements after `boot` of scenario `file`, run on the restored machine;
 * the file's set-up must describe the snapshot's machine. Its statements are
 * parsed after the snapshot's own (a dimm-del may name a DIMM the snapshot added).
 */
function continueFromFile(r: Restored, setup: readonly string[], file: string): TraceRecord[] {
  const lines = readText(file).split("\n");
  const bootIdx = lines.findIndex((l) => l.replace(/#.*$/, "").trim() === "boot");
  if (bootIdx < 0) throw new UsageError(`${file}: no \`boot\` line`);
  let own;
  try {
    own = parseScenario(lines.slice(0, bootIdx + 1).join("\n") + "\n", file);
  } catch (e) {
    if (e instanceof ScenarioError) throw new UsageError(e.toString());
    throw e;
  }
  if (setupLines(own).join("\n") !== setup.join("\n"))
    throw new UsageError(`${file}: its machine is not the snapshot's (${setup.join("; ")})`);
  const before = r.text.split("\n").length - 1;
  try {
    return continueWith(r, lines.slice(bootIdx + 1));
  } catch (e) {
    if (e instanceof ScenarioError)
      throw new UsageError(`${file}:${bootIdx + 1 + e.line - before}:${e.column}: ${e.message}`);
    throw e;
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
      if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed: not an integer: ${opts.seed}`);
      const sc = loadScenario(opts.from);
      const k = runScenarioKernel(sc, seed);
      const body = makeSnapshot(k, setupLines(sc), seed, scenarioJournal(sc, readText(opts.from)));
      saveSnapshot(file, body);
      process.stderr.write(`memhp: saved ${file}: ${body.summary}, digest ${body.digest.slice(0, 16)}\n`);
    });

  snap
    .command("load")
    .description("restore a snapshot (refused unless the state matches), optionally continue with a scenario")
    .argument("<file>", "snapshot file")
    .option(
      "--continue <scenario>",
      "then run this scenario's statements (its machine must be the snapshot's)",
    )
    .option("-t, --trace <out>", "where the continued statements' trace goes (default stdout)")
    .option("--save <file>", "save the state after continuing as a new snapshot")
    .action((file: string, opts: { continue?: string; trace?: string; save?: string }) => {
      let r;
      try {
        r = restoreSnapshot(readSnapshot(file), file);
      } catch (e) {
        usage(e);
      }
      const body = readSnapshot(file);
      process.stderr.write(`memhp: restored ${file}: ${body.summary}, state digest verified\n`);
      if (opts.continue !== undefined) {
        const records = continueFromFile(r, body.setup, opts.continue);
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
        saveSnapshot(opts.save, next);
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
