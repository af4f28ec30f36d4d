// Snapshots of a model machine, saved as "replay": the machine's set-up (the
// `machine`, `cmdline` and `vmem` lines), the model seed, and the journal of
// what was applied since boot — scenario statements and the guest's background
// ticks between them — plus the digest of the whole state (./digest.ts) at the
// moment of the snapshot. Loading boots the machine, replays the journal (the
// model is deterministic) and refuses the result unless its digest is the one
// saved, so a snapshot either restores the exact state or is refused.
//
// File format (version 1), text:
//   line 1  MEMHP-SNAPSHOT 1
//   line 2  the body: one line of JSON (SnapshotBody)
//   line 3  sha256 <hex of SHA-256 over lines 1 and 2, newlines included>
// Written atomically: a temporary file in the same folder, fsync, rename.
//
// Why replay: every subsystem keeps its state in its own typed arrays and
// objects; a structural dump would need a serialiser per module (and a loader
// that rebuilds closures such as the sysfs show/store callbacks). Replay needs
// nothing from the modules, and the digest makes it exact. Its cost is restore
// time proportional to the history, and a snapshot taken with one model
// version may not reproduce under another (then the digest refuses it).

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { dirname, basename, join } from "node:path";
import { Kernel, MODEL_VERSION } from "../kernel/kernel.js";
import type { Scenario } from "../scenario/ast.js";
import { parseScenario, ScenarioError } from "../scenario/parse.js";
import { bootScenario, executeStatement } from "../scenario/run.js";
import type { TraceRecord } from "../scenario/trace.js";
import { stateDigest } from "./digest.js";

export const SNAPSHOT_MAGIC = "MEMHP-SNAPSHOT";
export const SNAPSHOT_VERSION = 1;
/** The journal entry for one step of the guest's background activity (Kernel.tick()). */
export const TICK = "@tick";

export interface SnapshotBody {
  /** memhp's model version when the snapshot was taken. */
  model: string;
  /** The set-up lines: machine, cmdline, vmem (without `boot`). */
  setup: string[];
  seed: number;
  /** Statement lines and TICK entries, in the order they were applied after boot. */
  journal: string[];
  /** stateDigest() of the kernel after the journal. */
  digest: string;
  /** For people reading the file: what the machine is. */
  summary?: string;
}

export class SnapshotError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "SnapshotError";
  }
}

/** The digest of a kernel's whole state. */
export function kernelDigest(k: Kernel): string {
  return stateDigest(k);
}

/** What is applied to a machine after boot, recorded for a snapshot. */
export class Journal {
  readonly entries: string[] = [];
  /** A statement (scenario line text) was executed. */
  statement(line: string): void {
    if (line.includes("\n") || line.trim() === "" || line.trim() === TICK)
      throw new Error(`journal: not a statement line: ${JSON.stringify(line)}`);
    this.entries.push(line.trim());
  }
  /** Kernel.tick() ran. */
  tick(): void {
    this.entries.push(TICK);
  }
}

/** The set-up lines of a scenario (what goes before `boot`). */
export function setupLines(sc: Scenario): string[] {
  const m = sc.machine;
  const lines = [
    `machine ${m.arch} mem=${m.memBytes} maxmem=${m.maxmemBytes}` +
      (m.slots === undefined ? "" : ` slots=${m.slots}`) +
      (m.rfc === undefined ? "" : ` rfc=${m.rfc}`) +
      (m.kernel === undefined ? "" : ` kernel=${m.kernel}`) +
      (m.cpu === undefined ? "" : ` cpu=${m.cpu}`),
  ];
  if (sc.cmdline.length) lines.push(`cmdline ${sc.cmdline.join(" ")}`);
  for (const v of sc.vmems) lines.push(`vmem ${v.id} size=${v.sizeBytes}`);
  return lines;
}

/** The journal of running `sc` the way `memhp run` does: each statement, then a tick. */
export function scenarioJournal(sc: Scenario, text: string): string[] {
  const lines = text.split("\n");
  const out: string[] = [];
  for (const st of sc.body) {
    out.push(stripComment(lines[st.loc.line - 1] ?? "").trim());
    out.push(TICK);
  }
  return out;
}

function stripComment(line: string): string {
  const i = line.indexOf("#");
  return (i < 0 ? line : line.slice(0, i)).replace(/\r$/, "");
}

export function makeSnapshot(
  k: Kernel,
  setup: string[],
  seed: number,
  journal: readonly string[],
): SnapshotBody {
  const c = k.board.config;
  return {
    model: MODEL_VERSION,
    setup: [...setup],
    seed,
    journal: [...journal],
    digest: kernelDigest(k),
    summary: `${c.arch}, ${c.memBytes / 2 ** 20} MiB, ${k.memory.blocks.size} memory blocks, ${
      journal.filter((e) => e !== TICK).length
    } statements`,
  };
}

/** The file's text: magic line, body line, checksum line. */
export function encodeSnapshot(body: SnapshotBody): string {
  const head = `${SNAPSHOT_MAGIC} ${SNAPSHOT_VERSION}\n${JSON.stringify(body)}\n`;
  return `${head}sha256 ${createHash("sha256").update(head).digest("hex")}\n`;
}

/** Parse and check a snapshot file's text; SnapshotError with a clear message when it is not one. */
export function decodeSnapshot(text: string, file = "<snapshot>"): SnapshotBody {
  if (!text.startsWith(SNAPSHOT_MAGIC + " "))
    throw new SnapshotError(file, `not a memhp snapshot (it does not start with "${SNAPSHOT_MAGIC}")`);
  const lines = text.split("\n");
  const version = lines[0].slice(SNAPSHOT_MAGIC.length + 1);
  if (!/^\d+$/.test(version))
    throw new SnapshotError(file, `not a memhp snapshot (bad version "${version}")`);
  if (Number(version) !== SNAPSHOT_VERSION)
    throw new SnapshotError(file, `snapshot format ${version}; this memhp reads format ${SNAPSHOT_VERSION}`);
  if (lines.length !== 4 || lines[3] !== "" || !lines[2].startsWith("sha256 "))
    throw new SnapshotError(file, "corrupt snapshot: truncated or extra data (expected 3 lines)");
  const head = `${lines[0]}\n${lines[1]}\n`;
  const sum = createHash("sha256").update(head).digest("hex");
  if (lines[2] !== `sha256 ${sum}`)
    throw new SnapshotError(file, "corrupt snapshot: the checksum does not match");
  let body: unknown;
  try {
    body = JSON.parse(lines[1]);
  } catch {
    throw new SnapshotError(file, "corrupt snapshot: the body is not JSON");
  }
  const b = body as Partial<SnapshotBody>;
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === "string");
  if (
    typeof b !== "object" ||
    b === null ||
    typeof b.model !== "string" ||
    !strings(b.setup) ||
    !Number.isSafeInteger(b.seed) ||
    !strings(b.journal) ||
    typeof b.digest !== "string" ||
    !/^[0-9a-f]{64}$/.test(b.digest)
  )
    throw new SnapshotError(file, "corrupt snapshot: the body lacks a field or has a wrong type");
  return b as SnapshotBody;
}

/** Write atomically: a temporary file next to `file`, flushed, then renamed over it. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const fd = openSync(tmp, "wx", 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, file);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
}

export function saveSnapshot(file: string, body: SnapshotBody): void {
  try {
    writeFileAtomic(file, encodeSnapshot(body));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === undefined) throw e;
    const why: Record<string, string> = {
      ENOENT: "its directory does not exist",
      ENOTDIR: "a component of the path is not a directory",
      EISDIR: "is a directory",
      EACCES: "permission denied",
      EROFS: "read-only file system",
      ENOSPC: "no space left on device",
    };
    throw new SnapshotError(file, `cannot write: ${why[code] ?? code}`);
  }
}

export function readSnapshot(file: string): SnapshotBody {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SnapshotError(
      file,
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "is a directory"
          : `cannot read (${code ?? String(e)})`,
    );
  }
  return decodeSnapshot(text, file);
}

export interface Restored {
  kernel: Kernel;
  /** The scenario of the set-up and the journal's statements (for continuing). */
  scenario: Scenario;
  /** The text of that scenario. */
  text: string;
  journal: string[];
}

/**
 * Boot the snapshot's machine and replay its journal; SnapshotError unless the
 * state's digest is the one saved.
 */
export function restoreSnapshot(body: SnapshotBody, file = "<snapshot>"): Restored {
  const statements = body.journal.filter((e) => e !== TICK);
  const text = [...body.setup, "boot", ...statements].join("\n") + "\n";
  let sc: Scenario;
  try {
    sc = parseScenario(text, file);
  } catch (e) {
    if (e instanceof ScenarioError)
      throw new SnapshotError(file, `corrupt snapshot: its journal does not parse (${e.message})`);
    throw e;
  }
  const k = bootScenario(sc, body.seed);
  let next = 0;
  for (const entry of body.journal) {
    if (entry === TICK) k.tick();
    else executeStatement(k, sc.body[next++]);
  }
  const digest = kernelDigest(k);
  if (digest !== body.digest) {
    const why =
      body.model === MODEL_VERSION
        ? "the replay did not reproduce the saved state (the model is not deterministic here: a bug)"
        : `it was taken with memhp ${body.model}; this is memhp ${MODEL_VERSION}, whose replay gives another state`;
    throw new SnapshotError(file, `refused: ${why}`);
  }
  return { kernel: k, scenario: sc, text, journal: [...body.journal] };
}

/** Continue a restored machine with more statements (each followed by a tick, as `memhp run` does). */
export function continueWith(r: Restored, moreLines: readonly string[]): TraceRecord[] {
  const text = r.text + moreLines.map((l) => l + "\n").join("");
  const sc = parseScenario(text, "<continue>");
  const first = r.scenario.body.length;
  const out: TraceRecord[] = [];
  for (const st of sc.body.slice(first)) {
    out.push(executeStatement(r.kernel, st));
    r.kernel.tick();
    r.journal.push(stripComment(text.split("\n")[st.loc.line - 1]).trim(), TICK);
  }
  r.scenario = sc;
  r.text = text;
  return out;
}
