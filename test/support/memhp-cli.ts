// How tests run the memhp command: the built CLI (bin/memhp.js) when the tests run
// compiled from dist/test (as `npm test` does, after the build), the sources
// through tsx when a test file runs on its own (node --import tsx --test …).

import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import path from "node:path";
import { packageRoot } from "../../src/paths.js";

export const ROOT = packageRoot();
const compiled = import.meta.url.includes("/dist/test/");

/** argv (after the node binary) that runs `memhp ARGS...`. */
export function memhpArgv(args: readonly string[]): string[] {
  if (compiled) return [path.join(ROOT, "bin", "memhp.js"), ...args];
  const entry = path.join(ROOT, "src", "cli", "main.ts");
  const code = `import { main } from ${JSON.stringify(entry)}; process.exitCode = await main(process.argv.slice(1));`;
  return ["--import", "tsx", "--input-type=module", "-e", code, "--", ...args];
}

/** A shell-quoted command line for memhp ARGS (for tmux). */
export function memhpCommandLine(args: readonly string[]): string {
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return [process.execPath, ...memhpArgv(args)].map(q).join(" ");
}

export function memhp(
  args: readonly string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv } = {},
): SpawnSyncReturns<string> & { status: number } {
  const r = spawnSync(process.execPath, memhpArgv(args), {
    cwd: ROOT,
    encoding: "utf8",
    input: opts.input ?? "",
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return r as SpawnSyncReturns<string> & { status: number };
}
