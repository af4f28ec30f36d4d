// The host <-> guest protocol of the oracle. It runs over its own serial port
// (the guest's ttyS1, a unix socket on the host), so kernel messages on the
// console (ttyS0) never mix with it; the framing still skips any stray line.
//
// Host -> guest, one request a line:   SEQ CMD bARG1 bARG2 ... LEN
//   each argument is "b" + base64 of its bytes (the "b" keeps empty arguments);
//   LEN is the length of the line before it and its space. A line of another
//   length lost bytes on the way (a 16550 under load lost a request's first 16):
//   the guest answers it with the lone line @@BAD and the host sends the
//   request again. A request whose SEQ is the last one the guest ran is not
//   run again: its reply is sent again. So the host may send a request again
//   at any time (guest.ts does, after a silence).
// Guest -> host, one framed reply per request:
//   @@BEGIN SEQ
//   KEY BASE64          (any number of fields; the value is base64 of the bytes)
//   @@END SEQ
// The guest announces itself with the same frame and SEQ 0 (field "release").
//
// Commands (guest-init.ts implements them):
//   W PATH VALUE  `echo VALUE > PATH`          -> rc, err
//   R PATH [PATH2] `cat PATH` (with PATH2: `cat PATH2` right before and right after it,
//                 nothing run between) -> rc, out, [out0, out2], err
//   L PATH        `ls -1a PATH`                -> rc, out, err
//   S             memory-block snapshot        -> blocks ("32 33 ..."), sig
//   X SCRIPT      `sh -c SCRIPT` (diagnostics) -> rc, out, err
//   A CHUNK       append CHUNK (base64 text) to the guest's argument file -> rc
// An argument longer than 512 base64 characters is sent ahead in A chunks
// (each acknowledged) and written as "f" in the request: a guest terminal
// holds 4 KiB of input, and arm64's virtio console drops what does not fit
// while the guest's shell is slow to read it.

export type GuestCommand = "W" | "R" | "L" | "S" | "X" | "A";

export interface Reply {
  seq: number;
  fields: Map<string, string>;
}

/** One request line, newline included. */
export interface EncodeOptions {
  /** the arguments are base64 already (A chunks) */
  raw?: boolean;
  /** this argument was sent ahead in A chunks: it is written as "f" */
  fromFile?: number;
}

export function encodeRequest(
  seq: number,
  cmd: GuestCommand,
  args: readonly string[],
  opts: EncodeOptions = {},
): string {
  const enc = args.map((a, i) =>
    i === opts.fromFile ? "f" : "b" + (opts.raw ? a : Buffer.from(a, "utf8").toString("base64")),
  );
  const body = [String(seq), cmd, ...enc].join(" ");
  return `${body} ${body.length}\n`;
}

/** The guest's answer to a request line that arrived with bytes missing. */
export const BAD_REQUEST = "@@BAD";

/** The inverse of encodeRequest (used by tests and diagnostics). */
export function decodeRequest(line: string): { seq: number; cmd: string; args: string[] } {
  const [seq, cmd, ...rest] = line.trimEnd().split(" ").slice(0, -1);
  return {
    seq: Number(seq),
    cmd: cmd ?? "",
    args: rest.map((a) => Buffer.from(a.slice(1), "base64").toString("utf8")),
  };
}

const BEGIN = /^@@BEGIN (\d+)$/;
const END = /^@@END (\d+)$/;
const FIELD = /^([A-Za-z0-9_]+) ?([A-Za-z0-9+/=]*)$/;

/**
 * Splits the guest's byte stream into replies. Lines outside a frame (and
 * malformed lines inside one) are kept as noise for diagnostics; a frame whose
 * END does not match its BEGIN is dropped.
 */
export class ReplyParser {
  private buf = "";
  private current: Reply | undefined;
  readonly noise: string[] = [];

  constructor(
    private readonly onReply: (r: Reply) => void,
    /** the guest's BAD_REQUEST line */
    private readonly onBad: () => void = () => undefined,
  ) {}

  feed(chunk: string | Buffer): void {
    this.buf += typeof chunk === "string" ? chunk : chunk.toString("latin1");
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, "");
      this.buf = this.buf.slice(nl + 1);
      this.line(line);
    }
  }

  private line(line: string): void {
    const b = BEGIN.exec(line);
    if (b) {
      this.current = { seq: Number(b[1]), fields: new Map() };
      return;
    }
    const cur = this.current;
    if (cur === undefined) {
      if (line === BAD_REQUEST) this.onBad();
      else if (line !== "") this.noise.push(line);
      return;
    }
    const e = END.exec(line);
    if (e) {
      this.current = undefined;
      if (Number(e[1]) === cur.seq) this.onReply(cur);
      else this.noise.push(`(dropped frame ${cur.seq}, END ${e[1]})`);
      return;
    }
    const f = FIELD.exec(line);
    if (f) cur.fields.set(f[1], Buffer.from(f[2], "base64").toString("utf8"));
    else this.noise.push(line);
  }
}

/** The outcome of one guest file operation (W, R, L, X). */
export interface FileOpResult {
  rc: number;
  out: string;
  err: string;
}

export function fileOpResult(r: Reply): FileOpResult {
  return {
    rc: Number(r.fields.get("rc") ?? "-1"),
    out: r.fields.get("out") ?? "",
    err: r.fields.get("err") ?? "",
  };
}

/** Memory blocks present in the guest and a digest of everything settling watches. */
export interface Snapshot {
  /** block numbers (memoryN), ascending */
  blocks: number[];
  /** changes whenever the block list, a block's state or /proc/iomem changes */
  sig: string;
}

export function snapshotOf(r: Reply): Snapshot {
  const blocks = (r.fields.get("blocks") ?? "")
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .sort((a, b) => a - b);
  return { blocks, sig: `${blocks.join(",")}|${r.fields.get("sig") ?? ""}` };
}

/**
 * `name: 123 kB` (/proc/meminfo) or `name 123` (/proc/vmstat) lines: the named
 * fields as numbers, in the order asked. Repeated names (as in /proc/zoneinfo)
 * give the first occurrence. Names not found are left out.
 */
export function pickFields(text: string, names: readonly string[]): Record<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Za-z0-9_()]+):?\s+(-?\d+)(?:\s+kB)?\s*$/.exec(line);
    if (m && !found.has(m[1])) found.set(m[1], Number(m[2]));
  }
  const out: Record<string, number> = {};
  for (const n of names) {
    const v = found.get(n);
    if (v !== undefined) out[n] = v;
  }
  return out;
}

/** `ls -1a` output: names without "." and "..", sorted by code unit (C locale). */
export function lsNames(out: string): string[] {
  return out
    .split("\n")
    .filter((n) => n !== "" && n !== "." && n !== "..")
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** "memory32" names of the blocks in `a` and not in `b`, numerically sorted. */
export function blockDiff(a: readonly number[], b: readonly number[]): string[] {
  const inB = new Set(b);
  return a
    .filter((n) => !inB.has(n))
    .sort((x, y) => x - y)
    .map((n) => `memory${n}`);
}
