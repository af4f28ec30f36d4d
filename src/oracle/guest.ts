// The host end of the guest protocol (protocol.ts): one request at a time over
// the unix socket of the guest's ttyS1, each answered by one framed reply.

import type net from "node:net";
import { connectUnix } from "./qmp.js";
import { encodeRequest, ReplyParser, type EncodeOptions, type GuestCommand, type Reply } from "./protocol.js";

/** Longest argument (base64 characters) sent in the request line itself. */
export const MAX_INLINE_ARG = 512;

const encodedLength = (a: string): number => 4 * Math.ceil(Buffer.byteLength(a, "utf8") / 3);

/** A request answered only after wait() sent it again. */
export interface Resent {
  seq: number;
  /** ms from the request to its answer */
  ms: number;
  /** how often it went again: after a silence, or at once after the guest's BAD_REQUEST */
  resends: number;
  /** ms from the last time it went to the answer: near 0, sending it again got the answer */
  afterResendMs: number;
}

export class GuestChannel {
  private readonly parser: ReplyParser;
  private waiting: { seq: number; resolve: (r: Reply) => void } | undefined;
  private readonly early = new Map<number, Reply>();
  private seq = 1;
  /** bytes the guest sent so far */
  private received = 0;
  /** requests that were answered only after they went again (wait()) */
  readonly resent: Resent[] = [];
  /** the request line in flight, to send again */
  private inflight = "";
  /** called when the guest says a line arrived with bytes missing */
  private onBad: () => void = () => undefined;
  private closed: Error | undefined;
  private readonly closeListeners = new Set<(e: Error) => void>();

  private constructor(private readonly socket: net.Socket) {
    this.parser = new ReplyParser(
      (r) => {
        if (this.waiting && this.waiting.seq === r.seq) {
          const w = this.waiting;
          this.waiting = undefined;
          w.resolve(r);
        } else if (r.seq === 0 || r.seq >= this.seq) this.early.set(r.seq, r);
        // else: a reply again to a request answered or given up
      },
      () => this.onBad(),
    );
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
   * The request goes again (protocol.ts: the guest runs a request once, and
   * answers it again) at once when the guest says it arrived with bytes
   * missing, and after every `resendMs` without a byte from the guest: a
   * request or a reply that lost bytes on the way is then sent whole, and the
   * receive interrupt also runs the UART's transmit path, so a reply held
   * back by a lost interrupt goes out. A guest still at work reads the copy
   * after its reply and answers it again; that copy is dropped here.
   */
  private wait(seq: number, timeoutMs: number, what: string, resendMs = 0): Promise<Reply> {
    const early = this.early.get(seq);
    if (early) {
      this.early.delete(seq);
      return Promise.resolve(early);
    }
    if (this.closed) return Promise.reject(this.closed);
    const t0 = performance.now();
    const rx0 = this.received;
    const noise0 = this.parser.noise.length;
    let resends = 0;
    let lastRx = this.received;
    let lastRxAt = t0;
    let lastResendAt = t0;
    return new Promise<Reply>((resolve, reject) => {
      const resend = (): void => {
        resends++;
        lastResendAt = performance.now();
        this.socket.write(this.inflight);
      };
      const done = (): void => {
        clearTimeout(timer);
        clearInterval(resender);
        this.onBad = () => undefined;
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
        const sent = resends ? `; sent again ${resends} time${resends === 1 ? "" : "s"}` : "";
        reject(new Error(`guest did not answer ${what} within ${timeoutMs} ms (${partial}${sent})`));
      }, timeoutMs);
      const resender =
        resendMs > 0
          ? setInterval(
              () => {
                const now = performance.now();
                if (this.received !== lastRx) {
                  lastRx = this.received;
                  lastRxAt = now;
                }
                if (now - lastRxAt < resendMs) return;
                lastRxAt = now;
                resend();
              },
              Math.max(50, Math.floor(resendMs / 4)),
            )
          : undefined;
      this.onBad = resend;
      this.closeListeners.add(onClose);
      this.waiting = {
        seq,
        resolve: (r) => {
          done();
          const now = performance.now();
          if (resends)
            this.resent.push({
              seq,
              ms: Math.round(now - t0),
              resends,
              afterResendMs: Math.round(now - lastResendAt),
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

  /** ms of silence from the guest after which wait() sends the request again (0: never) */
  resendMs = 20_000;

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
    const reply = this.wait(seq, timeoutMs, `${cmd} ${args.join(" ").slice(0, 200)}`, this.resendMs);
    this.inflight = encodeRequest(seq, cmd, args, opts);
    this.socket.write(this.inflight);
    return reply;
  }

  close(): void {
    this.socket.destroy();
  }
}
