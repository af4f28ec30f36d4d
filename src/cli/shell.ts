// `memhp shell`: a root shell on a model machine. Interactive on a terminal
// (node:readline: line editing, Tab completion, history kept in a file), or a
// script: `--script FILE`, or commands on stdin when stdin is not a terminal.

import { readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { complete } from "../shell/complete.js";
import { BUILTINS, statementNames, type ShellSession } from "../shell/session.js";
import { EXIT_DIFF, EXIT_OK, EXIT_USAGE, ExitCode, readText, useColour } from "./io.js";
import { addMachineOptions, sessionFromOptions, type MachineCliOptions } from "./machine-options.js";

interface ShellCliOptions extends MachineCliOptions {
  script?: string;
  errexit?: boolean;
  xtrace?: boolean;
  historyFile?: string | false;
}

const HISTORY_SIZE = 1000;

export function registerShell(program: Command): void {
  const cmd = program
    .command("shell")
    .description("an interactive root shell on a model machine: sysfs, procfs and the scenario statements")
    .option("--script <file>", "run the commands of FILE, then exit (see Exit status)")
    .option("-e, --errexit", "with --script or stdin: stop at the first command that fails")
    .option("-x, --xtrace", "print each command to stderr, after '+ ', before running it")
    .option("--history-file <file>", "where to keep the history (default ~/.memhp_history)")
    .option("--no-history-file", "keep no history file");
  addMachineOptions(cmd).addHelpText(
    "after",
    `
Commands: cat, echo VALUE > FILE, ls [-l], cd [DIR | -], pwd, tree [-L N], lsmem,
dmesg, work (the work counts of the last operation), help, exit; and every run
statement of the scenario language: dimm-add, dimm-del, vmem-resize, write, read,
ptdump, call, workload, … (docs/scenario-format.md). Output can go through
| grep, head, tail, wc, sort; * ? [...] expand to paths (cat memory3*/state).
Errors print as busybox's sh prints them, then what the kernel printed or why:
  sh: write error: Device or resource busy
    reason: memory offlining [mem 0x08000000-0x0fffffff] failed due to unmovable page

Exit status: interactive, the status of the last command (or of \`exit N\`).
With --script FILE (or commands on stdin): 0 when every command succeeded; 1 when
one failed (a refused write, a failed operation, a host refusal such as full DIMM
slots), after running the rest (with -e, at once); 2 when a line is not a command
or is malformed, at once, since the lines after it would run out of context.
Messages are prefixed with FILE:LINE.

Examples:
  memhp shell
  memhp shell --arch arm64 --mem 2G --maxmem 6G --vmem vm0:2G
  memhp shell --scenario scenarios/examples/x86-dimm.mhp
  memhp shell --script session.sh -x
  echo 'dimm-add d0 size=1G
  echo online_movable > /sys/devices/system/memory/memory32/state
  lsmem' | memhp shell`,
  );
  cmd.action(async (opts: ShellCliOptions) => {
    const scriptFile = opts.script;
    const interactive = scriptFile === undefined && Boolean(process.stdin.isTTY);
    const script =
      scriptFile !== undefined ? readText(scriptFile) : interactive ? undefined : await readStdin();
    const session = sessionFromOptions(opts, {
      columns: interactive ? (process.stdout.columns ?? 80) : undefined,
      colour: interactive && useColour(),
    });
    const code =
      script === undefined
        ? await interactiveShell(session, opts)
        : runScript(session, script, scriptFile ?? "<stdin>", opts);
    if (code !== EXIT_OK) throw new ExitCode(code);
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Run a script; the exit status as documented in the help. */
export function runScript(
  session: ShellSession,
  text: string,
  name: string,
  opts: { errexit?: boolean; xtrace?: boolean },
): number {
  const lines = text.split("\n");
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  let failed = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, "");
    if (opts.xtrace && line.trim() && !line.trim().startsWith("#"))
      process.stderr.write(`+ ${line.trim()}\n`);
    const r = session.exec(line);
    process.stdout.write(r.out);
    if (r.err) {
      const prefix = `${name}:${i + 1}: `;
      process.stderr.write(
        r.err
          .replace(/\n$/, "")
          .split("\n")
          .map((l) => prefix + l)
          .join("\n") + "\n",
      );
    }
    if (r.exit !== undefined) return r.exit;
    if (r.status === 2 || r.status === 127) return EXIT_USAGE;
    if (r.status !== 0) {
      failed = true;
      if (opts.errexit) return EXIT_DIFF;
    }
  }
  return failed ? EXIT_DIFF : EXIT_OK;
}

function historyPath(opts: ShellCliOptions): string | undefined {
  if (opts.historyFile === false) return undefined;
  if (typeof opts.historyFile === "string") return opts.historyFile;
  return process.env.MEMHP_HISTFILE ?? join(homedir(), ".memhp_history");
}

function loadHistory(file: string | undefined): string[] {
  if (!file) return [];
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean).slice(-HISTORY_SIZE).reverse();
  } catch {
    return [];
  }
}

function saveHistory(file: string | undefined, history: readonly string[]): void {
  if (!file) return;
  try {
    writeFileSync(file, [...history].reverse().join("\n") + "\n");
  } catch (e) {
    process.stderr.write(`memhp shell: cannot save history to ${file}: ${(e as Error).message}\n`);
  }
}

function interactiveShell(session: ShellSession, opts: ShellCliOptions): Promise<number> {
  const commands = [...Object.keys(BUILTINS), ...statementNames()];
  const histFile = historyPath(opts);
  process.stdout.write(
    `memhp shell: the Linux 6.1 memory hotplug model on ${session.describeMachine()}\n` +
      "`help` lists the commands; Tab completes; Ctrl-D leaves.\n",
  );
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: true,
    history: loadHistory(histFile),
    historySize: HISTORY_SIZE,
    removeHistoryDuplicates: true,
    completer: (line: string) => complete(session.k.kernfs, session.cwd, commands, line),
  });
  const onResize = () => {
    session.columns = process.stdout.columns ?? session.columns;
  };
  process.stdout.on("resize", onResize);
  let history: string[] = [];
  rl.on("history", (h: string[]) => {
    history = h;
  });
  return new Promise((resolve) => {
    let exitCode: number | undefined;
    const prompt = () => {
      rl.setPrompt(session.prompt);
      rl.prompt();
    };
    rl.on("line", (line) => {
      if (opts.xtrace && line.trim()) process.stderr.write(`+ ${line.trim()}\n`);
      const r = session.exec(line);
      process.stdout.write(r.out);
      process.stderr.write(r.err);
      if (r.exit !== undefined) {
        exitCode = r.exit;
        rl.close();
        return;
      }
      prompt();
    });
    rl.on("SIGINT", () => {
      process.stdout.write("^C\n");
      rl.write(null, { ctrl: true, name: "u" });
      prompt();
    });
    rl.on("close", () => {
      process.stdout.off("resize", onResize);
      if (exitCode === undefined) process.stdout.write("\n");
      saveHistory(histFile, history);
      resolve(exitCode ?? session.lastStatus);
    });
    prompt();
  });
}
