// Kernel crashes and warnings on the guest console. The oracle watches the
// console (x86_64 ttyS0, arm64 ttyAMA0) while a statement runs; what the
// kernel's report functions print becomes part of the statement's record
// (docs/scenario-format.md, "Kernel crashes and warnings"):
//   - BUG()/BUG_ON(): "kernel BUG at FILE:LINE!" (lib/bug.c: report_bug()),
//     then the oops (x86 "invalid opcode", arm64 "Internal error: Oops - BUG")
//   - other oopses: x86 "BUG: kernel NULL pointer dereference", "BUG: unable to
//     handle page fault", "general protection fault" followed by "Oops:";
//     arm64 "Unable to handle kernel ..." followed by "Internal error: Oops"
//   - panic(): "Kernel panic - not syncing: MESSAGE" (kernel/panic.c)
//   - WARN(): "WARNING: CPU: N PID: N at FILE:LINE FUNC+0x../0x.." (kernel/panic.c:
//     __warn(); from 6.19 "WARNING: FILE:LINE at FUNC+0x../0x.., CPU#N: COMM/PID")
//   - other reports that do not stop the guest: "BUG: soft lockup", "BUG:
//     sleeping function called from invalid context", "INFO: task ... blocked"
// The function is the one the report names: x86 `RIP: 0010:FUNC+0x..`, arm64
// `pc : FUNC+0x..`; a panic without registers gives the caller of panic() in
// its call trace.

import type { CrashInfo, CrashKind } from "../scenario/trace.js";

export interface ConsoleEvent {
  kind: CrashKind;
  /** BUG, Oops and panic stop the statement (the kernel killed it, or halted) */
  fatal: boolean;
  /** the report's first line, without the printk time stamp */
  message: string;
  /** the faulting function (RIP / pc), without offset and module */
  function?: string;
  /** FUNC+0xOFF/0xLEN as the report printed it */
  at?: string;
  /** the panic that followed an oops ("Fatal exception") */
  panic?: string;
  /** the report's lines as printed (at most MAX_LINES) */
  lines: string[];
  /** its end marker ("---[ end trace") was seen */
  complete: boolean;
}

const MAX_LINES = 80;
const STAMP = /^\s*\[\s*\d+\.\d+\]\s?/;
const CUT_HERE = /^-+\[ cut here \]-+$/;
const END = /^-+\[ end (trace|Kernel panic)/;
const KERNEL_BUG = /^kernel BUG at /;
const WARNING = /^WARNING: /;
const BUG_REPORT = /(^|: )BUG: /;
const OOPS_LINE = /^(Oops[: ]|Internal error: |general protection fault|invalid opcode: )/;
const UNABLE = /^Unable to handle kernel /;
const PANIC = /^Kernel panic - not syncing: /;
const HUNG = /^INFO: task .* blocked for more than /;
const X86_RIP = /^RIP: [0-9a-f]{4}:(([A-Za-z0-9_.$]+)\+0x[0-9a-f]+\/0x[0-9a-f]+)/;
const ARM64_PC = /^pc : (([A-Za-z0-9_.$]+)\+0x[0-9a-f]+\/0x[0-9a-f]+)/;
// "at FILE:LINE FUNC+.." until 6.18, "FILE:LINE at FUNC+.., CPU#N" from 6.19 (28ea295f941e)
const WARN_AT = / at (?:\S+:\d+ )?(([A-Za-z0-9_.$]+)\+0x[0-9a-f]+\/0x[0-9a-f]+)/;
const FRAME = /^\s*(\?\s+)?(([A-Za-z0-9_.$]+)\+0x[0-9a-f]+\/0x[0-9a-f]+)/;

/**
 * Follows the console text and collects the kernel's crash and warning
 * reports in order. Feed it everything the console prints.
 */
export class ConsoleWatch {
  readonly events: ConsoleEvent[] = [];
  private buf = "";
  /** the event lines are added to, until its end marker */
  private open: ConsoleEvent | undefined;
  /** a "cut here" line waiting for the line that says what follows */
  private cut = false;
  /** the last frame was panic(): the next reliable frame is its caller */
  private afterPanicFrame = false;
  private readonly listeners = new Set<(e: ConsoleEvent) => void>();

  feed(text: string): void {
    this.buf += text;
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const raw = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      this.line(raw.replace(/\r/g, "").replace(STAMP, ""));
    }
  }

  /** Called on every change of an event (start, more lines, end). Returns the unsubscribe function. */
  onChange(f: (e: ConsoleEvent) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  private changed(e: ConsoleEvent): void {
    for (const f of this.listeners) f(e);
  }

  private start(kind: CrashKind, fatal: boolean, message: string): ConsoleEvent {
    const e: ConsoleEvent = { kind, fatal, message, lines: [], complete: false };
    this.events.push(e);
    this.open = e;
    this.afterPanicFrame = false;
    return e;
  }

  private line(l: string): void {
    if (CUT_HERE.test(l)) {
      if (this.open) this.open.complete = true;
      this.open = undefined;
      this.cut = true;
      return;
    }
    const cut = this.cut;
    this.cut = false;
    let e = this.open;
    if (KERNEL_BUG.test(l)) e = this.start("BUG", true, l);
    else if (WARNING.test(l)) {
      e = this.start("WARNING", false, l);
      const m = WARN_AT.exec(l);
      if (m) [e.at, e.function] = [m[1], m[2]];
    } else if (PANIC.test(l)) {
      // the panic that ends an oops (oops_end(): "Fatal exception") belongs to it
      const last = this.events.at(-1);
      if (last && last.fatal && !last.panic && last.kind !== "panic") {
        last.panic = l;
        e = this.open = last;
      } else if (!e || !e.fatal) e = this.start("panic", true, l);
    } else if (OOPS_LINE.test(l)) {
      // the oops of a BUG() or of a fault reported just before
      if (e && !e.complete && (e.kind === "BUG" || e.kind === "Oops" || e.kind === "report")) {
        if (e.kind === "report") e.kind = "Oops";
        e.fatal = true;
      } else e = this.start("Oops", true, l);
    } else if (UNABLE.test(l)) e = this.start("Oops", true, l);
    else if (BUG_REPORT.test(l) || HUNG.test(l)) e = this.start("report", false, l);
    else if (cut) e = undefined; // a "cut here" followed by something unknown
    if (!e) return;
    if (e.lines.length < MAX_LINES) e.lines.push(l);
    const reg = X86_RIP.exec(l) ?? ARM64_PC.exec(l);
    if (reg && (e.at === undefined || e.kind !== "WARNING")) [e.at, e.function] = [reg[1], reg[2]];
    const frame = FRAME.exec(l);
    if (frame && !frame[1]) {
      if (this.afterPanicFrame && e.kind === "panic" && e.function === undefined)
        [e.at, e.function] = [frame[2], frame[3]];
      this.afterPanicFrame = frame[3] === "panic";
    }
    if (END.test(l)) {
      e.complete = true;
      this.open = undefined;
    }
    this.changed(e);
  }
}

/** What a trace record says of a console event: kind, first line and function. */
export function crashInfo(e: ConsoleEvent): CrashInfo {
  const out: CrashInfo = { kind: e.kind, message: e.message };
  if (e.function !== undefined) out.function = e.function;
  if (e.at !== undefined) out._at = e.at;
  if (e.panic !== undefined) out._panic = e.panic;
  return out;
}
