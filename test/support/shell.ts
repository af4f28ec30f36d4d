// memhp shell in tests (test/shell.test.ts, test/shell-first-hour.test.ts): a
// session of the interpreter on a booted machine, and the interactive shell
// run in a tmux terminal, driven by keys and read back from the screen as a
// person would see it.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ShellSession } from "../../src/shell/session.js";
import { machineScenarioText } from "../../src/shell/machine.js";
import { memhpCommandLine } from "./memhp-cli.js";

export const MEM = "/sys/devices/system/memory";

/** A shell session on a freshly booted machine (machineScenarioText() options). */
export const bootShell = (opts: Parameters<typeof machineScenarioText>[0] = {}) =>
  new ShellSession(machineScenarioText(opts), "<test>");

/** Why the terminal tests skip here, or false when tmux is installed. */
export const tmuxMissing: string | false = spawnSync("tmux", ["-V"]).error
  ? "tmux is not installed (apt-get install -y tmux)"
  : false;

export interface TerminalOptions {
  /** The tmux server's socket name (one per test file and process). */
  socket: string;
  width: number;
  height: number;
  /** capture-pane -J: wrapped lines joined, as a copy from the terminal would give them. */
  joinWrapped?: boolean;
}

/**
 * `memhp shell` in a detached tmux session with its own HOME (for the history
 * file), NO_COLOR and TERM=xterm-256color; after it exits, "[exit N]" shows
 * on the screen. start() in before(), stop() in after().
 */
export function tmuxShell(opts: TerminalOptions) {
  const session = "sh";
  let home = "";
  const tmux = (...args: string[]) => {
    const r = spawnSync("tmux", ["-L", opts.socket, "-f", "/dev/null", ...args], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`tmux ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const screen = () => tmux("capture-pane", "-p", ...(opts.joinWrapped ? ["-J"] : []), "-t", session);
  return {
    /** The HOME the shell runs with. */
    home: () => home,
    screen,
    keys: (...k: string[]) => tmux("send-keys", "-t", session, ...k),
    /** Wait until the screen matches; fail with the screen after 20 s. */
    waitFor: async (re: RegExp): Promise<string> => {
      const until = Date.now() + 20_000;
      for (;;) {
        const s = screen();
        if (re.test(s)) return s;
        if (Date.now() > until) assert.fail(`screen never matched ${re}:\n${s}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    lastLine: () => screen().trimEnd().split("\n").pop() ?? "",
    start: () => {
      home = mkdtempSync(path.join(tmpdir(), "memhp-home-"));
      const cmd = `env HOME=${home} TERM=xterm-256color NO_COLOR=1 ${memhpCommandLine(["shell"])}; echo "[exit $?]"; sleep 30`;
      tmux("new-session", "-d", "-s", session, "-x", String(opts.width), "-y", String(opts.height), cmd);
    },
    stop: () => {
      spawnSync("tmux", ["-L", opts.socket, "kill-server"]);
      if (home) rmSync(home, { recursive: true, force: true });
    },
  };
}
