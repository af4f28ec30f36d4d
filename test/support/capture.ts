// Run memhp's CLI in this process with its stdout and stderr captured, for tests
// that check what a subcommand prints and its exit code without spawning a
// process (test/support/memhp-cli.ts spawns one).

import { main } from "../../src/cli/main.js";

export interface Captured<T> {
  result: T;
  out: string;
  err: string;
}

/** Run fn with process.stdout and process.stderr writes collected; both are restored after. */
export async function captureOutput<T>(fn: () => Promise<T>): Promise<Captured<T>> {
  let out = "";
  let err = "";
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => (
    (out += String(s)),
    true
  )) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => (
    (err += String(s)),
    true
  )) as typeof process.stderr.write;
  try {
    const result = await fn();
    return { result, out, err };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}

/** `memhp ARGV...` in this process: its exit code and what it printed. */
export async function runMain(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { result, out, err } = await captureOutput(() => main(argv));
  return { code: result, out, err };
}
