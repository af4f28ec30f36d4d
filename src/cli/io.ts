// Small helpers the CLI subcommands share: reading inputs, exit codes, colour.

import { readFileSync, writeFileSync } from "node:fs";
import { InvalidArgumentError } from "commander";
import { parseScenario, ScenarioError } from "../scenario/parse.js";
import type { Scenario } from "../scenario/ast.js";

/** Exit codes: 0 ok, 1 a difference or failed check, 2 bad usage or input. */
export const EXIT_OK = 0;
export const EXIT_DIFF = 1;
export const EXIT_USAGE = 2;

/** A user error: printed as is, exit code 2. */
export class UsageError extends Error {}

/** A bad option value: names the option, the value and what it may be (exit 2). */
export function badValue(option: string, value: string, valid: string): UsageError {
  return new UsageError(`${option}: invalid value '${value}' (valid: ${valid})`);
}

/** Thrown by a subcommand to end with a given exit code after printing its output. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** A file-system error as one line: "no such file or directory", "is a directory", … */
export function fsErrorText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case "ENOENT":
      return "no such file or directory";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "a component of the path is not a directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EROFS":
      return "read-only file system";
    case "ENOSPC":
      return "no space left on device";
    case "EEXIST":
      return "already exists";
    default:
      return err.code ? `${err.code}: ${err.syscall ?? "cannot access"}` : String(err.message ?? e);
  }
}

/**
 * A text file's contents ("-": stdin); a missing file, a directory or a file with
 * control bytes (a binary file) is a UsageError naming the file (and the place).
 */
export function readText(file: string): string {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (e) {
    throw new UsageError(`${file === "-" ? "<stdin>" : file}: cannot read: ${fsErrorText(e)}`);
  }
  // Tabs, newlines and carriage returns are text; any other control byte is not.
  // eslint-disable-next-line no-control-regex -- control bytes are what this looks for
  const m = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]/.exec(text);
  if (m) {
    const before = text.slice(0, m.index);
    const line = before.split("\n").length;
    const col = m.index - before.lastIndexOf("\n");
    const code =
      m[0] === "\ufffd"
        ? "bytes that are not UTF-8"
        : `byte 0x${m[0].charCodeAt(0).toString(16).padStart(2, "0")}`;
    throw new UsageError(`${file === "-" ? "<stdin>" : file}:${line}:${col}: not a text file (${code})`);
  }
  return text;
}

export function loadScenario(file: string): Scenario {
  return loadScenarioText(file).scenario;
}

/** A scenario file ("-": stdin) parsed, with its text; a mistake is a UsageError with file:line:col. */
export function loadScenarioText(file: string): { scenario: Scenario; text: string } {
  const text = readText(file);
  try {
    return { scenario: parseScenario(text, file === "-" ? "<stdin>" : file), text };
  } catch (e) {
    if (e instanceof ScenarioError) throw new UsageError(e.toString());
    throw e;
  }
}

export function writeOut(text: string, out: string | undefined): void {
  if (out === undefined || out === "-") process.stdout.write(text);
  else writeFileOrFail(out, text);
}

/** writeFileSync(), a failure a UsageError naming the file. */
export function writeFileOrFail(file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (e) {
    throw new UsageError(`${file}: cannot write: ${fsErrorText(e)}`);
  }
}

/** Colour only on a terminal, and never when NO_COLOR is set. */
export function useColour(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR;
}

export function paint(code: number, s: string, on: boolean): string {
  return on ? `\x1b[${code}m${s}\x1b[0m` : s;
}

/**
 * Progress on stderr for work that can take more than a second: only on a
 * terminal, on one line that is cleared when the work is done, and for a job of
 * many steps only once it has run for a second (quick runs print nothing).
 */
export class Progress {
  private readonly startMs = Date.now();
  private shown = false;
  private readonly on: boolean;
  private readonly stream: NodeJS.WriteStream;

  constructor(
    private readonly label: string,
    opts: { quiet?: boolean; stream?: NodeJS.WriteStream } = {},
  ) {
    this.stream = opts.stream ?? process.stderr;
    this.on = Boolean(this.stream.isTTY) && !opts.quiet;
  }

  /** A step of a long job. */
  update(text: string): void {
    if (this.on && Date.now() - this.startMs >= 1000) this.show(text);
  }

  /** One long step that reports nothing inside: shown at once. */
  step(text: string): void {
    if (this.on) this.show(text);
  }

  private show(text: string): void {
    this.stream.write(`\r\x1b[K${this.label}: ${text}`);
    this.shown = true;
  }

  done(): void {
    if (this.shown) this.stream.write("\r\x1b[K");
    this.shown = false;
  }
}

/** commander argParser for --seed: a whole number (a bad one is a usage error, exit 2). */
export function parseSeed(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError("a whole number");
  return n;
}
