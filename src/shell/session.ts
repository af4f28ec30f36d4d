// The command interpreter of `memhp shell` (and of the web page's operations): one
// booted model machine, a working directory, and a line at a time. A line is a
// shell command (cat, echo … > FILE, ls, cd, pwd, tree, lsmem, work, help, exit) or
// any run statement of the scenario language (dimm-add, vmem-resize, call …, and
// whatever the parser learns later), parsed by the scenario parser itself against
// the statements before it, so the host-side rules (free slots, maxmem, known
// device ids) hold in the shell exactly as they do in a file.

import { errnoName } from "../errno.js";
import { DEFAULT_KERNEL_VERSION, type KernelVersion } from "../kernel/linux_version.js";
import type { Kernel } from "../kernel/kernel.js";
import type { WorkCounts } from "../kernel/work.js";
import { kernelPageTablesText } from "../mm/ptdump.js";
import type { Located, RunStatement, Scenario } from "../scenario/ast.js";
import { parseScenario, ScenarioError, USAGE } from "../scenario/parse.js";
import { bootScenario, executeStatement, GUEST_REFUSED } from "../scenario/run.js";
import type { BlockChanges } from "../scenario/trace.js";
import { cat, cd, echo, fail, lsmem, ls, ok, tree, type Output, type ShellContext } from "./builtins.js";
import { formatRecord } from "./format.js";
import { KERN_WARNING, type LogRecord } from "../kernel/printk.js";
import { LexError, lexLine, resolvePath, type Redirect } from "./lex.js";
import { expandGlob } from "./glob.js";
import { DriverCalls } from "../kernel/calls.js";
import { FILTERS, runFilter } from "./filters.js";
import { DumpError, exportModel } from "../tools/sysroot.js";
import {
  Journal,
  SnapshotError,
  TICK,
  makeSnapshot,
  readSnapshot,
  restoreSnapshot,
  saveSnapshot,
  setupLines,
} from "../snapshot/snapshot.js";

/** A scenario line without its comment. */
function stripComment(line: string): string {
  const i = line.indexOf("#");
  return (i < 0 ? line : line.slice(0, i)).trim();
}

/** One operation that changed (or tried to change) the machine, with the work it did. */
export interface TimelineEntry {
  seq: number;
  /** The command as typed. */
  command: string;
  /** The statement kind ("write" for `echo … > FILE`). */
  op: string;
  /** "ok" or the errno name. */
  result: string;
  /** Why it was refused (the kernel's message, or the model's reason). */
  reason?: string;
  /** Exact work counts (kernel/work.ts) of the operation, non-zero ones only. */
  counts: WorkCounts;
  blocks?: BlockChanges;
}

export interface CommandResult extends Output {
  /** Set by `exit`: the shell should end with this status. */
  exit?: number;
  /** Set when the command was an operation on the machine. */
  entry?: TimelineEntry;
}

export interface SessionOptions {
  seed?: number;
  /** Terminal width for `ls` columns; one name per line when unset. */
  columns?: number;
  colour?: boolean;
}

export const BUILTINS: Readonly<Record<string, string>> = {
  cat: "cat FILE...",
  echo: "echo VALUE [> FILE]",
  ls: "ls [-l] [-1] [PATH...]",
  cd: "cd [DIR | -]",
  pwd: "pwd",
  tree: "tree [-L DEPTH] [PATH]",
  lsmem: "lsmem",
  dmesg: "dmesg           (the kernel's log: what it printed, e.g. why it refused)",
  work: "work            (work counts of the last operation)",
  snapshot: "snapshot save FILE | snapshot load FILE",
  export: "export DIR      (the memory files as a sysroot for lsmem --sysroot DIR)",
  help: "help",
  exit: "exit [STATUS]",
};

/** What to do instead of a set-up statement in the shell (its options). */
const SETUP_HINT: Readonly<Record<string, string>> = {
  machine: "the machine is booted: start the shell with --arch, --mem, --maxmem, --slots",
  cmdline: "the machine is booted: start the shell with --cmdline WORDS",
  vmem: "virtio-mem devices exist from boot: start the shell with --vmem ID:SIZE",
  boot: "the machine is already booted",
};

/** The parser's refusals that depend on the machine's state, not on the line's form. */
const HOST_REFUSAL =
  /DIMM slots are in use|is already plugged|no DIMM "|no virtio-mem device|memory beyond maxmem|is taken by the virtio-mem|exceeds the device size|has no DIMM slots|is a virtio-mem device/;

/** Statements that only belong before `boot`. */
const SETUP_OPS = new Set(["machine", "cmdline", "vmem", "boot"]);
/** Statements whose parsing depends on nothing before them: not kept in the parse history. */
const STATELESS_OPS = new Set(["write", "read", "ls", "ptdump", "call", "workload"]);
/** Statements that only look: not operations on the timeline. */
const LOOKING_OPS = new Set(["read", "ls", "ptdump"]);

/** Run statements the scenario parser knows, in its order. */
export function statementNames(): string[] {
  return Object.keys(USAGE).filter((op) => !SETUP_OPS.has(op));
}

export class ShellSession {
  /** The machine; replaced by `snapshot load`. */
  k: Kernel;
  scenario: Scenario;
  cwd = "/";
  /** The directory before the last `cd` ($OLDPWD, for `cd -`). */
  private oldCwd: string | undefined;
  readonly timeline: TimelineEntry[] = [];
  lastStatus = 0;
  columns: number | undefined;
  colour: boolean;
  /** Scenario text the next statement is parsed after (setup + stateful statements). */
  private history: string[];
  /** Everything applied after boot, for `snapshot save` (src/snapshot/snapshot.ts). */
  private journal = new Journal();
  private readonly seed: number;

  /**
   * Boot the machine a scenario describes and run its statements (they go on the
   * timeline; their output is not printed). Throws ScenarioError for a bad file.
   */
  constructor(text: string, file: string, opts: SessionOptions = {}) {
    this.scenario = parseScenario(text, file);
    this.seed = opts.seed ?? 1;
    this.k = bootScenario(this.scenario, this.seed);
    this.columns = opts.columns;
    this.colour = opts.colour ?? false;
    this.history = text.split("\n");
    const lines = this.history;
    for (const st of this.scenario.body) {
      const text = stripComment(lines[st.loc.line - 1] ?? st.op);
      this.runStatement(st, text, text);
    }
  }

  /** The Linux release the model runs (`machine ... kernel=`). */
  get kernelVersion(): KernelVersion {
    return this.scenario.machine.kernel ?? DEFAULT_KERNEL_VERSION;
  }

  /** "x86_64 mem=1G maxmem=8G, 4 DIMM slots, virtio-mem vm0 2G" */
  describeMachine(): string {
    const m = this.scenario.machine;
    const size = (b: number) => (b % 2 ** 30 === 0 ? `${b / 2 ** 30}G` : `${b / 2 ** 20}M`);
    const slots = this.k.board.config.slots;
    const vmems = this.scenario.vmems
      .map(
        (v) =>
          `, virtio-mem ${v.id} ${size(v.sizeBytes)}` +
          (v.blockSizeBytes !== undefined ? ` (block size ${size(v.blockSizeBytes)})` : ""),
      )
      .join("");
    const cmdline = this.scenario.cmdline.length ? `, cmdline "${this.scenario.cmdline.join(" ")}"` : "";
    const kernel =
      (m.kernel !== undefined ? ` kernel=${m.kernel}` : "") + (m.cpu !== undefined ? ` cpu=${m.cpu}` : "");
    return `${m.arch} mem=${size(m.memBytes)} maxmem=${size(m.maxmemBytes)}${kernel}, ${slots} DIMM slot${slots === 1 ? "" : "s"}${vmems}${cmdline}`;
  }

  private get ctx(): ShellContext {
    return { fs: this.k.kernfs, cwd: this.cwd, columns: this.columns, colour: this.colour };
  }

  get prompt(): string {
    const p = `memhp:${this.cwd}# `;
    return this.colour ? `\x1b[1;32mmemhp\x1b[0m:\x1b[1;34m${this.cwd}\x1b[0m# ` : p;
  }

  /** Execute one line. */
  exec(line: string): CommandResult {
    const res = this.dispatch(line);
    this.lastStatus = res.status;
    return res;
  }

  private dispatch(line: string): CommandResult {
    let lexed;
    try {
      lexed = lexLine(line);
    } catch (e) {
      if (e instanceof LexError) return fail(`sh: ${e.message}`, 2);
      throw e;
    }
    const { redirect, globs, pipe } = lexed;
    // Pathname expansion of the arguments (cat memory3*/state)
    const words = globs
      ? lexed.words.flatMap((w, i) =>
          i > 0 && globs.includes(i) ? expandGlob(this.k.kernfs, this.cwd, w) : [w],
        )
      : lexed.words;
    if (words.length === 0) return redirect ? fail("sh: syntax error: nothing to redirect", 2) : ok();
    for (const f of pipe ?? [])
      if (!(FILTERS as readonly string[]).includes(f[0]))
        return fail(`sh: ${f[0]}: not found (after | the shell has ${FILTERS.join(", ")})`, 127);
    // Into a pipe, ls prints one name per line (as it does off a terminal).
    const columns = this.columns;
    if (pipe) this.columns = undefined;
    let res: CommandResult;
    try {
      res = this.command(words, redirect, line);
    } finally {
      this.columns = columns;
    }
    for (const f of pipe ?? []) {
      const r = runFilter(f, res.out);
      res = { ...res, out: r.out, err: res.err + r.err, status: r.status };
    }
    return res;
  }

  private command(words: string[], redirect: Redirect | undefined, line: string): CommandResult {
    const [cmd, ...args] = words;
    if (redirect && cmd !== "echo")
      return fail(`sh: ${cmd}: output redirection is only supported for echo`, 2);
    const ctx = this.ctx;
    switch (cmd) {
      case "cat":
        return this.ticking(cat(ctx, args));
      case "echo": {
        if (!redirect) return echo(ctx, args, undefined);
        const before = this.k.work.snapshot();
        const seq = this.k.printk.begin();
        const r = explain(echo(ctx, args, redirect), this.k.printk.since(seq), this.k.printk.reason);
        // What reached the file is a scenario `write` (a failed open writes nothing).
        const value = (args[0] === "-n" ? args.slice(1) : args).join(" ");
        if (!/^sh: can't create /.test(r.err ?? "") && value.trim() !== "")
          this.journal.statement(`write ${resolvePath(this.cwd, redirect.path)} ${value}`);
        const entry = this.record(
          line.trim(),
          "write",
          r.errno ? errnoName(r.errno) : "ok",
          this.k.work.since(before),
          undefined,
          r.errno ? this.k.printk.reason : undefined,
        );
        return { out: r.out, err: r.err, status: r.status, entry: this.ticking(entry) };
      }
      case "ls":
        return this.ticking(ls(ctx, args));
      case "tree":
        return tree(ctx, args);
      case "lsmem":
        return this.ticking(lsmem(ctx, args));
      case "cd": {
        if (args.length === 1 && args[0] === "-") {
          // POSIX: cd to $OLDPWD and print it
          if (this.oldCwd === undefined) return fail("sh: cd: OLDPWD not set");
          const r = cd(ctx, [this.oldCwd]);
          if (r.cwd === undefined) return { out: r.out, err: r.err, status: r.status };
          [this.oldCwd, this.cwd] = [this.cwd, r.cwd];
          return ok(this.cwd + "\n");
        }
        const r = cd(ctx, args);
        if (r.cwd !== undefined) [this.oldCwd, this.cwd] = [this.cwd, r.cwd];
        return { out: r.out, err: r.err, status: r.status };
      }
      case "pwd":
        return ok(this.cwd + "\n");
      case "dmesg":
        return ok(this.k.printk.dmesgText());
      case "work":
        return this.work();
      case "snapshot":
        return this.snapshot(args);
      case "export":
        return this.exportSysroot(args);
      case "help":
        return ok(helpText());
      case "exit": {
        const n = args.length ? Number(args[0]) : this.lastStatus;
        if (!Number.isInteger(n)) return fail(`sh: exit: Illegal number: ${args[0]}`, 2);
        return { ...ok(), exit: n & 0xff };
      }
      default:
        return this.statement(cmd, args, line);
    }
  }

  /** The guest keeps running between commands that start a process (kernel/background.ts). */
  private ticking<T>(r: T): T {
    this.k.tick();
    this.journal.tick();
    return r;
  }

  private statement(cmd: string, args: string[], line: string): CommandResult {
    if (SETUP_OPS.has(cmd))
      return fail(`sh: ${cmd}: ${SETUP_HINT[cmd] ?? "the machine is already booted"}`, 2);
    if (cmd === "ptdump" && args.length === 0) return ok(kernelPageTablesText(this.k.arch));
    // Relative paths are the shell's idea: the scenario language takes absolute ones.
    const words = [cmd, ...args];
    if ((cmd === "read" || cmd === "write") && args[0] !== undefined)
      words[1] = resolvePath(this.cwd, args[0]);
    const text = words.join(" ");
    let st: Located<RunStatement> | undefined;
    try {
      const sc = parseScenario([...this.history, text].join("\n"), "<shell>");
      const last = sc.body[sc.body.length - 1];
      if (last && last.loc.line === this.history.length + 1) st = last;
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      if (e.message.startsWith("unknown statement")) return fail(`sh: ${cmd}: not found`, 127);
      // Line numbers point into the session's hidden scenario text: leave them out.
      const msg = e.message
        .replace(/\s*\([^()]*\bline \d+\)/g, "")
        .replace(
          /declare it with `vmem (\S+) size=SIZE` before boot/,
          "virtio-mem devices exist from boot: start the shell with --vmem $1:SIZE",
        );
      // What the host refuses in this state (QEMU: no free slot, no room) is a failed
      // command (status 1, a script goes on); a malformed line is a usage error (2).
      return fail(`sh: ${cmd}: ${msg}`, HOST_REFUSAL.test(msg) ? 1 : 2);
    }
    if (st === undefined) return ok();
    if (!STATELESS_OPS.has(st.op)) this.history.push(text);
    const res = this.runStatement(st, line.trim(), text);
    return res;
  }

  private runStatement(st: Located<RunStatement>, command: string, scenarioText: string): CommandResult {
    const before = this.k.work.snapshot();
    const seq = this.k.printk.begin();
    const rec = executeStatement(this.k, st);
    const counts = this.k.work.since(before);
    this.journal.statement(scenarioText);
    this.k.tick();
    this.journal.tick();
    let out = explain(formatRecord(rec), this.k.printk.since(seq), rec.reason);
    if (st.op === "dimm-add" && typeof rec.reason === "string" && rec.reason.startsWith(GUEST_REFUSED)) {
      // QEMU plugged it (status 0), the guest added nothing: say so, with what the kernel printed
      const said = explain(
        { out: "", err: `dimm-add: ${st.id}: plugged, but the guest added no memory\n`, status: 1 },
        this.k.printk.since(seq),
        undefined,
      );
      out = { ...out, err: said.err };
    }
    if (LOOKING_OPS.has(st.op)) return out;
    const r = rec as { result?: unknown; blocks?: BlockChanges };
    const result = typeof r.result === "string" ? r.result : "ok";
    return { ...out, entry: this.record(command, st.op, result, counts, r.blocks, rec.reason) };
  }

  /** `export DIR`: the machine's memory files as plain files (src/tools/sysroot.ts). */
  private exportSysroot(args: string[]): CommandResult {
    if (args.length !== 1) return fail("usage: export DIR", 2);
    try {
      const n = exportModel(this.k, args[0]);
      return ok(`exported ${n.files} files and ${n.links} symlinks to ${args[0]}\n`);
    } catch (e) {
      if (e instanceof DumpError) return fail(`export: ${e.message}`, 1);
      const err = e as NodeJS.ErrnoException;
      if (err.code) return fail(`export: ${err.message}`, 1);
      throw e;
    }
  }

  /** `snapshot save FILE` / `snapshot load FILE` (the format of `memhp snapshot`). */
  private snapshot(args: string[]): CommandResult {
    const [verb, file] = args;
    if ((verb !== "save" && verb !== "load") || !file || args.length !== 2)
      return fail("usage: snapshot save FILE | snapshot load FILE", 2);
    try {
      if (verb === "save") {
        saveSnapshot(file, makeSnapshot(this.k, setupLines(this.scenario), this.seed, this.journal.entries));
        return ok(`saved ${file}\n`);
      }
      const r = restoreSnapshot(readSnapshot(file), file);
      this.k = r.kernel;
      this.scenario = r.scenario;
      this.history = r.text.replace(/\n$/, "").split("\n");
      this.journal = new Journal();
      for (const e of r.journal) {
        if (e === TICK) this.journal.tick();
        else this.journal.statement(e);
      }
      return ok(`loaded ${file}: ${r.kernel.memory.blocks.size} memory blocks\n`);
    } catch (e) {
      if (e instanceof SnapshotError) return fail(`snapshot: ${e.message}`, 1);
      throw e;
    }
  }

  private record(
    command: string,
    op: string,
    result: string,
    counts: WorkCounts,
    blocks?: BlockChanges,
    reason?: string,
  ): TimelineEntry {
    const entry: TimelineEntry = { seq: this.timeline.length + 1, command, op, result, counts };
    if (reason !== undefined && result !== "ok") entry.reason = reason;
    if (blocks && (blocks.added.length || blocks.removed.length)) entry.blocks = blocks;
    this.timeline.push(entry);
    return entry;
  }

  private work(): CommandResult {
    const last = this.timeline[this.timeline.length - 1];
    if (!last) return ok("no operation yet\n");
    const rows = Object.entries(last.counts);
    const w = Math.max(0, ...rows.map(([k]) => k.length));
    let out = `#${last.seq} ${last.command}  →  ${last.result}\n`;
    for (const [k, v] of rows) out += `  ${k.padEnd(w)}  ${String(v).padStart(10)}\n`;
    if (rows.length === 0) out += "  (no work counted)\n";
    return ok(out);
  }
}

/**
 * A failed command's output, then what the kernel printed meanwhile (as on its
 * console: warnings and errors) and, when the kernel said nothing of it, the reason.
 */
export function explain<T extends Output>(res: T, kmsg: readonly LogRecord[], reason: string | undefined): T {
  if (res.status === 0) return res;
  const printed = kmsg.filter((r) => r.level <= KERN_WARNING).map((r) => r.text);
  let err = res.err;
  for (const t of printed) err += `  kernel: ${t}\n`;
  if (reason !== undefined && !printed.includes(reason)) err += `  reason: ${reason}\n`;
  return { ...res, err };
}

const FILTER_USAGE: Record<(typeof FILTERS)[number], string> = {
  grep: "grep [-vicE] PATTERN",
  head: "head [-n N]",
  tail: "tail [-n N]",
  wc: "wc [-lwc]",
  sort: "sort [-rnu]",
};

/** Words wrapped to `width` columns, each line indented. */
function wrap(text: string, width: number, indent: string): string {
  const out: string[] = [];
  let line = "";
  for (const w of text.split(" ")) {
    if (line && indent.length + line.length + 1 + w.length > width) {
      out.push(indent + line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) out.push(indent + line);
  return out.join("\n");
}

export function helpText(): string {
  const b = Object.values(BUILTINS)
    .map((u) => `  ${u}`)
    .join("\n");
  const s = statementNames()
    .map((op) => `  ${USAGE[op as keyof typeof USAGE]}`)
    .join("\n");
  return `Shell commands:
${b}

Scenario statements (docs/scenario-format.md), run on the model as in a file:
${s}
  ptdump            (no range: /sys/kernel/debug/kernel_page_tables)

Functions of \`call FN ARG...\` (docs/scenario-format.md):
${wrap(DriverCalls.names().join(", "), 76, "  ")}

After | : ${FILTERS.map((f) => FILTER_USAGE[f]).join(", ")}.
Wildcards * ? [...] expand to the paths they match: cat memory3*/state

Paths are relative to the working directory; Tab completes commands and paths.
`;
}
