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

/** Thrown by a subcommand to end with a given exit code after printing its output. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(
      `${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String(e)}`,
    );
  }
}

export function loadScenario(file: string): Scenario {
  const text = readText(file);
  try {
    return parseScenario(text, file);
  } catch (e) {
    if (e instanceof ScenarioError) throw new UsageError(e.toString());
    throw e;
  }
}

export function writeOut(text: string, out: string | undefined): void {
  if (out === undefined || out === "-") process.stdout.write(text);
  else writeFileSync(out, text);
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
