// The host end of the guest protocol (protocol.ts): one request at a time over
// the unix socket of the guest's ttyS1, each answered by one framed reply.

import type net from "node:net";
import { connectUnix } from "./qmp.js";
import { encodeRequest, ReplyParser, type EncodeOptions, type GuestCommand, type Reply } from "./protocol.js";

/** Longest argument (base64 characters) sent in the request line itself. */
export const MAX_INLINE_ARG = 512;

const encodedLength = (a: string): number => 4 * Math.ceil(Buffer.byteLength(a, "utf8") / 3);

/**
 * The nudge: the guest sends its last reply again (guest-init.ts). It runs
 * nothing, so it is safe at any moment: a guest still at work reads it after
 * sending its reply, and the copy is dropped here.
 */
export const NUDGE = "- P\n";

/** A request answered only after wait() nudged the guest. */
export interface Nudged {
  seq: number;
  /** ms from the request to its answer */
  ms: number;
  nudges: number;
  /** ms from the last nudge to the answer: near 0, the nudge released it */
  afterNudgeMs: number;
}

export class GuestChannel {
  private readonly parser: ReplyParser;
  private waiting: { seq: number; resolve: (r: Reply) => void } | undefined;
  private readonly early = new Map<number, Reply>();
  private seq = 1;
  /** bytes the guest sent so far */
  private received = 0;
  /** requests that were answered only after a nudge, with how long each took (ms) */
  readonly nudged: Nudged[] = [];
  private closed: Error | undefined;
  private readonly closeListeners = new Set<(e: Error) => void>();

  private constructor(private readonly socket: net.Socket) {
    this.parser = new ReplyParser((r) => {
      if (this.waiting && this.waiting.seq === r.seq) {
        const w = this.waiting;
        this.waiting = undefined;
        w.resolve(r);
      } else if (r.seq === 0 || r.seq >= this.seq) this.early.set(r.seq, r);
      // else: a reply again (a nudge's) to a request answered or given up
    });
    socket.on("data", (d) => {
      this.received += d.length;
      this.parser.feed(d);
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.closed = new Error("guest protocol port closed");
      for (const l of this.closeListeners) l(this.closed);
    });
  }

  static async connect(path: string, timeoutMs = 10_000): Promise<GuestChannel> {
    return new GuestChannel(await connectUnix(path, timeoutMs));
  }

  /** Lines the guest sent outside any frame. */
  get noise(): readonly string[] {
    return this.parser.noise;
  }

  /**
   * Waits for reply `seq`, failing after `timeoutMs` or when the port closes.
   * After every `nudgeMs` without a byte from the guest, it is nudged
   * (NUDGE): asked for its last reply again, whole. A reply that lost bytes
   * on the way (a torn frame is dropped: protocol.ts) comes again; and the
   * receive interrupt also runs the UART's transmit path, so a reply held
   * back by a lost interrupt goes out. A guest that is busy or sleeping is not
   * disturbed by it.
   */
  private wait(seq: number, timeoutMs: number, what: string, nudgeMs = 0): Promise<Reply> {
    const early = this.early.get(seq);
    if (early) {
      this.early.delete(seq);
      return Promise.resolve(early);
    }
    if (this.closed) return Promise.reject(this.closed);
    const t0 = performance.now();
    const rx0 = this.received;
    const noise0 = this.parser.noise.length;
    let nudges = 0;
    let lastRx = this.received;
    let lastRxAt = t0;
    let lastNudgeAt = t0;
    return new Promise<Reply>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        clearInterval(nudger);
        this.closeListeners.delete(onClose);
      };
      const onClose = (e: Error): void => {
        done();
        this.waiting = undefined;
        reject(e);
      };
      const timer = setTimeout(() => {
        done();
        this.waiting = undefined;
        const got = this.received - rx0;
        const noise = this.parser.noise.slice(noise0).slice(-3);
        const partial = got
          ? `${got} bytes came, no whole reply` +
            (noise.length
              ? `; torn lines ${noise.map((l) => JSON.stringify(l.slice(0, 80))).join(", ")}`
              : "")
          : "no byte came after the request";
        const sent = nudges ? `; ${nudges} nudge${nudges === 1 ? "" : "s"} sent` : "";
        reject(new Error(`guest did not answer ${what} within ${timeoutMs} ms (${partial}${sent})`));
      }, timeoutMs);
      const nudger =
        nudgeMs > 0
          ? setInterval(
              () => {
                const now = performance.now();
                if (this.received !== lastRx) {
                  lastRx = this.received;
                  lastRxAt = now;
                }
                if (now - lastRxAt < nudgeMs) return;
                lastRxAt = now;
                nudges++;
                lastNudgeAt = now;
                this.socket.write(NUDGE);
              },
              Math.max(50, Math.floor(nudgeMs / 4)),
            )
          : undefined;
      this.closeListeners.add(onClose);
      this.waiting = {
        seq,
        resolve: (r) => {
          done();
          const now = performance.now();
          if (nudges)
            this.nudged.push({
              seq,
              ms: Math.round(now - t0),
              nudges,
              afterNudgeMs: Math.round(now - lastNudgeAt),
            });
          resolve(r);
        },
      };
    });
  }

  /** The guest's hello (reply 0): its `uname -r` and `uname -v`. */
  async ready(timeoutMs: number): Promise<{ release: string; build: string }> {
    const r = await this.wait(0, timeoutMs, "the boot hello");
    return { release: r.fields.get("release") ?? "", build: r.fields.get("build") ?? "" };
  }

  /** ms of silence from the guest after which wait() nudges it (0: never) */
  nudgeMs = 20_000;

  async request(cmd: GuestCommand, args: readonly string[] = [], timeoutMs = 60_000): Promise<Reply> {
    if (this.waiting) throw new Error("guest request already in flight");
    // A long argument goes ahead in chunks, each acknowledged: the guest's
    // terminal (arm64's virtio console above all) drops input beyond what its
    // 4 KiB buffer holds while the guest's shell reads it slowly.
    const long = args.findIndex((a) => encodedLength(a) > MAX_INLINE_ARG);
    if (long < 0) return this.send(cmd, args, timeoutMs, {});
    const b64 = Buffer.from(args[long], "utf8").toString("base64");
    for (let i = 0; i < b64.length; i += MAX_INLINE_ARG) {
      const ack = await this.send("A", [b64.slice(i, i + MAX_INLINE_ARG)], timeoutMs, { raw: true });
      if (ack.fields.get("rc") !== "0") throw new Error("the guest refused an argument chunk");
    }
    return this.send(cmd, args, timeoutMs, { fromFile: long });
  }

  private send(
    cmd: GuestCommand,
    args: readonly string[],
    timeoutMs: number,
    opts: EncodeOptions,
  ): Promise<Reply> {
    const seq = this.seq++;
    const reply = this.wait(seq, timeoutMs, `${cmd} ${args.join(" ").slice(0, 200)}`, this.nudgeMs);
    this.socket.write(encodeRequest(seq, cmd, args, opts));
    return reply;
  }

  close(): void {
    this.socket.destroy();
  }
}
