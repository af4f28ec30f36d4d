// The scenario-file parser: text to a Scenario (./ast.ts), or a ScenarioError on
// the first malformed line, so nothing runs for a bad file. The language is the
// fixed core of docs/scenario-format.md plus memhp's additions; every
// rule the parser enforces is listed in docs/scenario-format.md.
//
// Host-side rules mirror what QEMU 7.2 would refuse at start-up or at device_add
// (hw/core/machine.c: machine_set_mem(), hw/mem/pc-dimm.c: pc_dimm_get_free_slot(),
// hw/mem/memory-device.c: memory_device_check_addable(), hw/virtio/virtio-mem.c
// requested-size checks), so a scenario that parses can be run under QEMU. What
// the guest kernel refuses (an unaligned DIMM, a busy block) is not checked here:
// that is behaviour to observe, and both the model and the oracle report it.

import type { Arch, Located, MachineStmt, RunStatement, Scenario, Statement, VmemStmt } from "./ast.js";
import { closestField, knownFields } from "./fields.js";
import { SizeError, formatSize, parseCount, parseSize, parseSizeBig } from "./size.js";
import { KERNEL_VERSIONS, isKernelVersion, type KernelVersion } from "../kernel/linux_version.js";
import { archSetup } from "../arch/index.js";

/** `file:line:column: message`; line and column are 1-based. */
export class ScenarioError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    message: string,
  ) {
    super(message);
    this.name = "ScenarioError";
  }

  override toString(): string {
    return `${this.file}:${this.line}:${this.column}: ${this.message}`;
  }
}

/** QEMU: ACPI_MAX_RAM_SLOTS (include/hw/acpi/acpi_dev_interface.h), checked by pc and virt. */
export const MAX_SLOTS = 256;
/** memhp's default for `slots=` when maxmem > mem (QEMU's own default, 0, allows no DIMM). */
export const DEFAULT_SLOTS = 4;
/** mem, maxmem, DIMM and virtio-mem sizes must be multiples of this (virtio-mem's default block size). */
export const SIZE_ALIGN = 2 * 1024 * 1024;
/** ptdump START and SIZE must be multiples of the base page size. */
export const PTDUMP_ALIGN = 4096n;
/** ptdump ranges must end at or below 2^52, the widest physical address of either arch. */
export const PTDUMP_PHYS_LIMIT = 1n << 52n;
/** The files whose `read` may name fields (shared contract: `read PATH [FIELD...]`). */
export const FIELD_PATHS: readonly string[] = ["/proc/meminfo", "/proc/vmstat"];

const ARCHES: readonly Arch[] = ["x86_64", "arm64"];
/** QEMU's id_wellformed() (util/id.c): a letter, then letters, digits, '-', '.', '_'. */
const ID_RE = /^[A-Za-z][A-Za-z0-9._-]*$/;
const FN_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const OPTION_KEY_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
/** /proc/meminfo names include parentheses: Active(anon). */
const FIELD_RE = /^[A-Za-z0-9_()]+$/;

export const USAGE: Readonly<Record<Statement["op"], string>> = {
  machine: "machine ARCH mem=SIZE maxmem=SIZE [slots=N] [rfc=v2] [kernel=6.1|6.12|7.2] [cpu=MODEL]",
  cmdline: "cmdline WORD...",
  vmem: "vmem ID size=SIZE [block-size=SIZE]",
  boot: "boot",
  "dimm-add": "dimm-add ID size=SIZE",
  "dimm-del": "dimm-del ID",
  "vmem-resize": "vmem-resize ID SIZE",
  write: "write PATH VALUE",
  read: "read PATH [FIELD...]",
  ls: "ls PATH",
  ptdump: "ptdump START SIZE",
  call: "call FN [ARG...]",
  workload: "workload STEPS [KEY=VALUE...]",
  "hw-off": "hw-off START SIZE",
  "hw-on": "hw-on START SIZE",
  audit: "audit",
};
const SETUP_OPS = new Set<string>(["machine", "cmdline", "vmem", "boot"]);
const isOp = (s: string): s is Statement["op"] => Object.hasOwn(USAGE, s);

interface Token {
  text: string;
  /** 1-based column of the first character. */
  col: number;
  /** 0-based index just past the token (= 1-based column of its last character). */
  end: number;
}

interface Option {
  tok: Token;
  value: string;
  /** column of the value, after `key=` */
  valueCol: number;
}

/** The statement text with any `#` comment removed. */
function stripComment(line: string): string {
  const hash = line.indexOf("#");
  return hash < 0 ? line : line.slice(0, hash);
}

function tokenize(content: string): Token[] {
  const out: Token[] = [];
  for (const m of content.matchAll(/\S+/g)) {
    const index = m.index ?? 0;
    out.push({ text: m[0], col: index + 1, end: index + m[0].length });
  }
  return out;
}

interface DimmState {
  sizeBytes: number;
  /** line of the dimm-add */
  addLine: number;
  /** line of the dimm-del, once deleted */
  delLine?: number;
}

class Parser {
  private machine?: Located<MachineStmt>;
  private readonly cmdline: string[] = [];
  private readonly vmems = new Map<string, Located<VmemStmt>>();
  private vmemBytes = 0;
  private readonly dimms = new Map<string, DimmState>();
  private bootLine?: number;
  private readonly body: Located<RunStatement>[] = [];
  // per line
  private lineNo = 0;
  private content = "";
  private toks: Token[] = [];

  constructor(private readonly file: string) {}

  parse(text: string): Scenario {
    const lines = text.split("\n");
    if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
    for (let i = 0; i < lines.length; i++) {
      this.lineNo = i + 1;
      this.content = stripComment(lines[i].replace(/\r$/, ""));
      this.toks = tokenize(this.content);
      if (this.toks.length > 0) this.statement();
    }
    const lastLine = Math.max(lines.length, 1);
    if (this.machine === undefined) {
      throw new ScenarioError(
        this.file,
        lastLine,
        1,
        `empty scenario: it must start with \`${USAGE.machine}\``,
      );
    }
    if (this.bootLine === undefined) {
      throw new ScenarioError(this.file, lastLine, 1, "no `boot` statement: every scenario boots once");
    }
    return {
      file: this.file,
      machine: this.machine,
      cmdline: this.cmdline,
      vmems: [...this.vmems.values()],
      body: this.body,
    };
  }

  private fail(col: number, message: string): never {
    throw new ScenarioError(this.file, this.lineNo, col, message);
  }

  private loc(): { file: string; line: number } {
    return { file: this.file, line: this.lineNo };
  }

  private statement(): void {
    const kw = this.toks[0];
    const op = kw.text;
    if (!isOp(op)) this.fail(kw.col, `unknown statement "${op}"`);
    if (this.machine === undefined && op !== "machine") {
      this.fail(kw.col, `the first statement must be \`${USAGE.machine}\`, not "${op}"`);
    }
    if (op === "boot" && this.bootLine !== undefined) {
      this.fail(kw.col, `\`boot\` given twice (first at line ${this.bootLine})`);
    }
    if (SETUP_OPS.has(op) && this.bootLine !== undefined) {
      this.fail(kw.col, `\`${op}\` must come before \`boot\` (line ${this.bootLine})`);
    }
    if (!SETUP_OPS.has(op) && this.bootLine === undefined) {
      this.fail(kw.col, `\`${op}\` is a run statement: it must come after \`boot\``);
    }
    switch (op) {
      case "machine":
        return this.machineStmt();
      case "cmdline":
        return this.cmdlineStmt();
      case "vmem":
        return this.vmemStmt();
      case "boot":
        this.arity(0, 0);
        this.bootLine = this.lineNo;
        return;
      case "dimm-add":
        return this.dimmAdd();
      case "dimm-del":
        return this.dimmDel();
      case "vmem-resize":
        return this.vmemResize();
      case "write":
        return this.write();
      case "read":
        return this.read();
      case "ls":
        this.arity(1, 1);
        this.push({ op: "ls", path: this.path(this.toks[1]) });
        return;
      case "ptdump":
        return this.ptdump();
      case "call":
        return this.call();
      case "workload":
        return this.workload();
      case "hw-off":
      case "hw-on":
        return this.hw(op);
      case "audit":
        this.arity(0, 0);
        this.push({ op: "audit" });
        return;
      default: {
        const never: never = op;
        throw new Error(`unhandled statement ${String(never)}`);
      }
    }
  }

  private push(stmt: RunStatement): void {
    this.body.push({ ...stmt, loc: this.loc() });
  }

  /** Checks the number of arguments after the keyword. */
  private arity(min: number, max: number): void {
    const op = this.toks[0].text as Statement["op"];
    const n = this.toks.length - 1;
    if (n < min) {
      const last = this.toks[this.toks.length - 1];
      this.fail(last.end + 1, `too few arguments: usage: ${USAGE[op]}`);
    }
    if (n > max) {
      const extra = this.toks[max + 1];
      this.fail(extra.col, `unexpected "${extra.text}": usage: ${USAGE[op]}`);
    }
  }

  /** KEY=VALUE tokens; keys outside `allowed` (when given) are errors. */
  private options(toks: Token[], allowed?: readonly string[]): Map<string, Option> {
    const op = this.toks[0].text as Statement["op"];
    const out = new Map<string, Option>();
    for (const tok of toks) {
      const eq = tok.text.indexOf("=");
      if (eq <= 0) this.fail(tok.col, `expected KEY=VALUE, got "${tok.text}": usage: ${USAGE[op]}`);
      const key = tok.text.slice(0, eq);
      const value = tok.text.slice(eq + 1);
      if (allowed !== undefined && !allowed.includes(key)) {
        const list = allowed.map((k) => `${k}=`).join(", ");
        this.fail(tok.col, `unknown option "${key}" for ${op} (expected ${list})`);
      }
      if (!OPTION_KEY_RE.test(key)) this.fail(tok.col, `bad option name "${key}"`);
      if (out.has(key)) this.fail(tok.col, `option "${key}" given twice`);
      if (value === "") this.fail(tok.col + eq + 1, `option "${key}" has no value`);
      out.set(key, { tok, value, valueCol: tok.col + eq + 1 });
    }
    return out;
  }

  private required(opts: Map<string, Option>, key: string): Option {
    const o = opts.get(key);
    if (o === undefined) {
      const op = this.toks[0].text as Statement["op"];
      const last = this.toks[this.toks.length - 1];
      this.fail(last.end + 1, `missing ${key}=SIZE: usage: ${USAGE[op]}`);
    }
    return o;
  }

  private size(text: string, col: number): number {
    try {
      return parseSize(text);
    } catch (e) {
      if (e instanceof SizeError) this.fail(col, e.message);
      throw e;
    }
  }

  private bigSize(text: string, col: number): bigint {
    try {
      return parseSizeBig(text);
    } catch (e) {
      if (e instanceof SizeError) this.fail(col, e.message);
      throw e;
    }
  }

  /** A memory size: > 0 (unless zeroOk) and a multiple of SIZE_ALIGN. */
  private memSize(what: string, text: string, col: number, zeroOk = false): number {
    const bytes = this.size(text, col);
    if (bytes === 0 && !zeroOk) this.fail(col, `${what} must be more than 0`);
    if (bytes % SIZE_ALIGN !== 0) this.fail(col, `${what} ${text} is not a multiple of 2M`);
    return bytes;
  }

  private id(tok: Token): string {
    if (!ID_RE.test(tok.text)) {
      this.fail(tok.col, `bad device id "${tok.text}": a letter, then letters, digits, '-', '.' or '_'`);
    }
    return tok.text;
  }

  private path(tok: Token): string {
    const p = tok.text;
    if (!p.startsWith("/")) this.fail(tok.col, `path "${p}" is not absolute`);
    if (!p.startsWith("/sys/") && !p.startsWith("/proc/")) {
      this.fail(tok.col, `path "${p}" is outside /sys/ and /proc/`);
    }
    const parts = p.split("/").slice(1);
    if (parts.some((s) => s === ""))
      this.fail(tok.col, `path "${p}" has an empty component (// or a trailing /)`);
    if (parts.some((s) => s === "." || s === "..")) this.fail(tok.col, `path "${p}" has a . or .. component`);
    return p;
  }

  private presentDimmBytes(): number {
    let sum = 0;
    for (const d of this.dimms.values()) if (d.delLine === undefined) sum += d.sizeBytes;
    return sum;
  }

  /** memory_device_check_addable(): mem + plugged devices + the new one must fit in maxmem. */
  private checkFits(kind: string, bytes: number, col: number): void {
    const m = this.machine!;
    const dimms = this.presentDimmBytes();
    const total = m.memBytes + this.vmemBytes + dimms + bytes;
    if (total > m.maxmemBytes) {
      const parts = [`mem ${formatSize(m.memBytes)}`];
      if (this.vmemBytes > 0) parts.push(`virtio-mem ${formatSize(this.vmemBytes)}`);
      if (dimms > 0) parts.push(`DIMMs present ${formatSize(dimms)}`);
      parts.push(`this ${kind} ${formatSize(bytes)}`);
      this.fail(
        col,
        `memory beyond maxmem: ${parts.join(" + ")} = ${formatSize(total)} > maxmem ${formatSize(m.maxmemBytes)}`,
      );
    }
  }

  private machineStmt(): void {
    if (this.machine !== undefined) {
      this.fail(this.toks[0].col, `\`machine\` given twice (first at line ${this.machine.loc.line})`);
    }
    this.arity(1, 7);
    const archTok = this.toks[1];
    if (!(ARCHES as readonly string[]).includes(archTok.text)) {
      this.fail(archTok.col, `unknown arch "${archTok.text}" (expected x86_64 or arm64)`);
    }
    const arch = archTok.text as Arch;
    const opts = this.options(this.toks.slice(2), ["mem", "maxmem", "slots", "rfc", "kernel", "cpu"]);
    const mem = this.required(opts, "mem");
    const maxmem = this.required(opts, "maxmem");
    const memBytes = this.memSize("mem", mem.value, mem.valueCol);
    const maxmemBytes = this.memSize("maxmem", maxmem.value, maxmem.valueCol);
    if (maxmemBytes < memBytes) {
      this.fail(maxmem.valueCol, `maxmem=${maxmem.value} is less than mem=${mem.value}`);
    }
    let slots = maxmemBytes > memBytes ? DEFAULT_SLOTS : 0;
    const slotsOpt = opts.get("slots");
    if (slotsOpt !== undefined) {
      try {
        slots = parseCount(slotsOpt.value);
      } catch (e) {
        if (e instanceof SizeError) this.fail(slotsOpt.valueCol, e.message);
        throw e;
      }
      if (slots > MAX_SLOTS) this.fail(slotsOpt.valueCol, `slots=${slots}: QEMU allows at most ${MAX_SLOTS}`);
      if (slots > 0 && maxmemBytes === memBytes) {
        this.fail(slotsOpt.valueCol, `slots=${slots} needs maxmem > mem (QEMU refuses slots without room)`);
      }
    }
    const rfcOpt = opts.get("rfc");
    if (rfcOpt !== undefined && rfcOpt.value !== "v2")
      this.fail(rfcOpt.valueCol, `rfc=${rfcOpt.value}: the only series is v2 (docs/rfc-v2.md)`);
    const kernelOpt = opts.get("kernel");
    if (kernelOpt !== undefined && !isKernelVersion(kernelOpt.value))
      this.fail(
        kernelOpt.valueCol,
        `kernel=${kernelOpt.value}: memhp models Linux ${KERNEL_VERSIONS.join(", ")} (docs/kernel-versions.md)`,
      );
    const cpuOpt = opts.get("cpu");
    const cpuModels = archSetup(arch).cpuModels;
    if (cpuOpt !== undefined && !cpuModels.includes(cpuOpt.value))
      this.fail(
        cpuOpt.valueCol,
        `cpu=${cpuOpt.value}: the ${arch} machine's CPU models are ${cpuModels.join(", ")}`,
      );
    this.machine = {
      op: "machine",
      arch,
      memBytes,
      maxmemBytes,
      slots,
      ...(rfcOpt ? { rfc: "v2" as const } : {}),
      ...(kernelOpt ? { kernel: kernelOpt.value as KernelVersion } : {}),
      // cpu=max is the default and is left out, so that it reads as no option
      ...(cpuOpt && cpuOpt.value !== cpuModels[0] ? { cpu: cpuOpt.value } : {}),
      loc: this.loc(),
    };
  }

  private cmdlineStmt(): void {
    this.arity(1, Infinity);
    for (const t of this.toks.slice(1)) this.cmdline.push(t.text);
  }

  private vmemStmt(): void {
    this.arity(2, 3);
    const id = this.id(this.toks[1]);
    const prev = this.vmems.get(id);
    if (prev !== undefined)
      this.fail(this.toks[1].col, `virtio-mem "${id}" declared twice (line ${prev.loc.line})`);
    const opts = this.options(this.toks.slice(2), ["size", "block-size"]);
    const size = this.required(opts, "size");
    const sizeBytes = this.memSize("size", size.value, size.valueCol);
    // QEMU's virtio-mem block-size property (hw/virtio/virtio-mem.c): a power of
    // two (here at least the 2 MiB default), and the memdev a multiple of it.
    const bs = opts.get("block-size");
    let blockSizeBytes: number | undefined;
    if (bs !== undefined) {
      blockSizeBytes = this.memSize("block-size", bs.value, bs.valueCol);
      if (!Number.isInteger(Math.log2(blockSizeBytes)))
        this.fail(bs.valueCol, `block-size ${bs.value} is not a power of two`);
      if (sizeBytes % blockSizeBytes !== 0)
        this.fail(size.valueCol, `size ${size.value} is not a multiple of the block-size ${bs.value}`);
    }
    this.checkFits("virtio-mem", sizeBytes, size.valueCol);
    this.vmemBytes += sizeBytes;
    this.vmems.set(id, {
      op: "vmem",
      id,
      sizeBytes,
      ...(blockSizeBytes !== undefined ? { blockSizeBytes } : {}),
      loc: this.loc(),
    });
  }

  private dimmAdd(): void {
    this.arity(2, 2);
    const idTok = this.toks[1];
    const id = this.id(idTok);
    const vm = this.vmems.get(id);
    if (vm !== undefined) {
      this.fail(idTok.col, `id "${id}" is taken by the virtio-mem device of line ${vm.loc.line}`);
    }
    const prev = this.dimms.get(id);
    if (prev !== undefined && prev.delLine === undefined) {
      this.fail(idTok.col, `DIMM "${id}" is already plugged (dimm-add at line ${prev.addLine})`);
    }
    const size = this.required(this.options(this.toks.slice(2), ["size"]), "size");
    const sizeBytes = this.memSize("size", size.value, size.valueCol);
    const slots = this.machine!.slots ?? 0;
    let present = 0;
    for (const d of this.dimms.values()) if (d.delLine === undefined) present++;
    if (slots === 0) {
      this.fail(
        this.toks[0].col,
        "the machine has no DIMM slots (give `machine ... slots=N` with maxmem > mem)",
      );
    }
    if (present >= slots) this.fail(this.toks[0].col, `all ${slots} DIMM slots are in use`);
    this.checkFits("DIMM", sizeBytes, size.valueCol);
    this.dimms.set(id, { sizeBytes, addLine: this.lineNo });
    this.push({ op: "dimm-add", id, sizeBytes });
  }

  private dimmDel(): void {
    this.arity(1, 1);
    const idTok = this.toks[1];
    const id = this.id(idTok);
    if (this.vmems.has(id)) {
      this.fail(idTok.col, `"${id}" is a virtio-mem device: unplug its memory with \`vmem-resize ${id} 0\``);
    }
    const d = this.dimms.get(id);
    if (d === undefined) this.fail(idTok.col, `no DIMM "${id}" (dimm-add it first)`);
    // A repeated dimm-del is legal: the guest may have refused the first one
    // (acpi_scan_try_to_offline() → -EBUSY), and then the DIMM is still there.
    d.delLine ??= this.lineNo;
    this.push({ op: "dimm-del", id });
  }

  private vmemResize(): void {
    this.arity(2, 2);
    const idTok = this.toks[1];
    const id = this.id(idTok);
    const vm = this.vmems.get(id);
    if (vm === undefined) {
      const hint = this.dimms.has(id)
        ? "it is a DIMM"
        : `declare it with \`vmem ${id} size=SIZE\` before boot`;
      this.fail(idTok.col, `no virtio-mem device "${id}" (${hint})`);
    }
    const sizeTok = this.toks[2];
    const sizeBytes = this.memSize("requested size", sizeTok.text, sizeTok.col, true);
    if (sizeBytes > vm.sizeBytes) {
      this.fail(
        sizeTok.col,
        `requested size ${sizeTok.text} exceeds the device size ${formatSize(vm.sizeBytes)}`,
      );
    }
    if (vm.blockSizeBytes !== undefined && sizeBytes % vm.blockSizeBytes !== 0) {
      this.fail(
        sizeTok.col,
        `requested size ${sizeTok.text} is not a multiple of the device's block-size ${formatSize(vm.blockSizeBytes)}`,
      );
    }
    this.push({ op: "vmem-resize", id, sizeBytes });
  }

  private write(): void {
    this.arity(1, Infinity);
    const pathTok = this.toks[1];
    const path = this.path(pathTok);
    const value = this.content.slice(pathTok.end).trim();
    if (value === "") this.fail(pathTok.end + 1, `too few arguments: usage: ${USAGE.write}`);
    this.push({ op: "write", path, value });
  }

  private read(): void {
    this.arity(1, Infinity);
    const path = this.path(this.toks[1]);
    const fieldToks = this.toks.slice(2);
    if (fieldToks.length > 0 && !FIELD_PATHS.includes(path)) {
      this.fail(fieldToks[0].col, `fields can only be named for ${FIELD_PATHS.join(" and ")}`);
    }
    const fields: string[] = [];
    for (const t of fieldToks) {
      if (!FIELD_RE.test(t.text)) this.fail(t.col, `bad field name "${t.text}"`);
      if (fields.includes(t.text)) this.fail(t.col, `field "${t.text}" named twice`);
      const known = knownFields(path);
      if (known && !known.has(t.text)) {
        const near = closestField(t.text, known);
        this.fail(t.col, `${path} has no field "${t.text}"${near ? ` (did you mean ${near}?)` : ""}`);
      }
      fields.push(t.text);
    }
    this.push({ op: "read", path, fields });
  }

  private ptdump(): void {
    this.arity(2, 2);
    const [, startTok, sizeTok] = this.toks;
    const start = this.bigSize(startTok.text, startTok.col);
    const sizeBytes = this.bigSize(sizeTok.text, sizeTok.col);
    if (start % PTDUMP_ALIGN !== 0n) this.fail(startTok.col, `START ${startTok.text} is not 4K-aligned`);
    if (sizeBytes === 0n) this.fail(sizeTok.col, "SIZE must be more than 0");
    if (sizeBytes % PTDUMP_ALIGN !== 0n)
      this.fail(sizeTok.col, `SIZE ${sizeTok.text} is not a multiple of 4K`);
    if (start + sizeBytes > PTDUMP_PHYS_LIMIT) {
      this.fail(sizeTok.col, `range ends beyond 2^52, past any physical address`);
    }
    this.push({ op: "ptdump", start, sizeBytes });
  }

  private call(): void {
    this.arity(1, Infinity);
    const fnTok = this.toks[1];
    if (!FN_RE.test(fnTok.text)) this.fail(fnTok.col, `bad function name "${fnTok.text}"`);
    this.push({ op: "call", fn: fnTok.text, args: this.toks.slice(2).map((t) => t.text) });
  }

  /** `hw-off START SIZE` / `hw-on START SIZE`: whole pages, as `ptdump`. */
  private hw(op: "hw-off" | "hw-on"): void {
    this.arity(2, 2);
    const [, startTok, sizeTok] = this.toks;
    const start = this.size(startTok.text, startTok.col);
    const sizeBytes = this.size(sizeTok.text, sizeTok.col);
    if (start % Number(PTDUMP_ALIGN) !== 0)
      this.fail(startTok.col, `START ${startTok.text} is not 4K-aligned`);
    if (sizeBytes === 0) this.fail(sizeTok.col, "SIZE must be more than 0");
    if (sizeBytes % Number(PTDUMP_ALIGN) !== 0)
      this.fail(sizeTok.col, `SIZE ${sizeTok.text} is not a multiple of 4K`);
    if (BigInt(start) + BigInt(sizeBytes) > PTDUMP_PHYS_LIMIT)
      this.fail(sizeTok.col, `range ends beyond 2^52, past any physical address`);
    this.push({ op, start, sizeBytes });
  }

  private workload(): void {
    this.arity(1, Infinity);
    const stepsTok = this.toks[1];
    let steps: number;
    try {
      steps = parseCount(stepsTok.text);
    } catch (e) {
      if (e instanceof SizeError) this.fail(stepsTok.col, e.message);
      throw e;
    }
    if (steps < 1) this.fail(stepsTok.col, "STEPS must be at least 1");
    // fromEntries defines own properties, so even a key like __proto__ stays data.
    const opts = this.options(this.toks.slice(2));
    const options: Record<string, string> = Object.fromEntries([...opts].map(([k, o]) => [k, o.value]));
    this.push({ op: "workload", steps, options });
  }
}

/** Parses a whole scenario file; throws ScenarioError at the first malformed line. */
export function parseScenario(text: string, file: string): Scenario {
  return new Parser(file).parse(text);
}
