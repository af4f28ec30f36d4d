// A small QMP client (QEMU Machine Protocol, docs/interop/qmp-spec.rst in QEMU):
// JSON objects separated by CRLF over a unix socket. The server greets with
// {"QMP": ...}; the client must send qmp_capabilities before anything else.
// Replies are {"return": ...} or {"error": {"class", "desc"}}, in request order
// (we tag each with an id anyway); {"event": ...} objects may come at any time.

import net from "node:net";

export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export interface QmpErrorBody {
  class: string;
  desc: string;
}

export class QmpError extends Error {
  constructor(
    readonly command: string,
    readonly body: QmpErrorBody,
  ) {
    super(`QMP ${command}: ${body.class}: ${body.desc}`);
  }
}

type QmpMessage = Record<string, unknown>;

/** Splits a QMP byte stream into parsed JSON objects (one per line). */
export class QmpFramer {
  private buf = "";
  constructor(private readonly onMessage: (m: QmpMessage) => void) {}

  feed(chunk: string | Buffer): void {
    this.buf += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line !== "") this.onMessage(JSON.parse(line) as QmpMessage);
    }
  }
}

interface Pending {
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/**
 * The protocol state of one QMP session, independent of the transport: feed it
 * the bytes read, it calls `send` with the bytes to write. Tested without QEMU.
 */
export class QmpSession {
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly framer: QmpFramer;
  private greeted: ((v: unknown) => void) | undefined;
  private readonly greeting: Promise<unknown>;
  /** every event seen, in order */
  readonly events: QmpEvent[] = [];
  private readonly eventListeners = new Set<(e: QmpEvent) => void>();
  private closedWith: Error | undefined;

  constructor(private readonly send: (data: string) => void) {
    this.framer = new QmpFramer((m) => this.message(m));
    this.greeting = new Promise((resolve) => (this.greeted = resolve));
  }

  feed(chunk: string | Buffer): void {
    this.framer.feed(chunk);
  }

  /** Waits for the greeting and negotiates capabilities. */
  async handshake(): Promise<void> {
    await this.greeting;
    await this.execute("qmp_capabilities");
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = `memhp-${this.nextId++}`;
    const msg: Record<string, unknown> = { execute: command, id };
    if (args !== undefined) msg.arguments = args;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject });
      this.send(JSON.stringify(msg) + "\r\n");
    });
  }

  onEvent(fn: (e: QmpEvent) => void): () => void {
    this.eventListeners.add(fn);
    return () => this.eventListeners.delete(fn);
  }

  /** Fails every pending command (the socket closed). */
  close(err: Error): void {
    this.closedWith = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private message(m: QmpMessage): void {
    if ("QMP" in m) {
      this.greeted?.(m.QMP);
      return;
    }
    if (typeof m.event === "string") {
      const ev: QmpEvent = {
        event: m.event,
        data: (m.data as Record<string, unknown> | undefined) ?? {},
        timestamp: m.timestamp as QmpEvent["timestamp"],
      };
      this.events.push(ev);
      for (const l of this.eventListeners) l(ev);
      return;
    }
    const id = typeof m.id === "string" ? m.id : undefined;
    const p = id !== undefined ? this.pending.get(id) : undefined;
    if (p === undefined || id === undefined) return;
    this.pending.delete(id);
    if ("error" in m) p.reject(new QmpError(p.command, m.error as QmpErrorBody));
    else p.resolve(m.return);
  }
}

/** Connects to QEMU's QMP socket (retrying while QEMU creates it) and negotiates. */
export async function connectQmp(
  path: string,
  timeoutMs = 10_000,
): Promise<{ session: QmpSession; socket: net.Socket }> {
  const socket = await connectUnix(path, timeoutMs);
  const session = new QmpSession((d) => socket.write(d));
  socket.on("data", (d) => session.feed(d));
  socket.on("close", () => session.close(new Error("QMP socket closed")));
  socket.on("error", () => undefined);
  await session.handshake();
  return { session, socket };
}

/** Connects to a unix socket that a just-started process will create. */
export async function connectUnix(path: string, timeoutMs: number): Promise<net.Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const s = net.createConnection(path);
        s.once("connect", () => {
          s.removeAllListeners("error");
          resolve(s);
        });
        s.once("error", reject);
      });
    } catch (e) {
      if (Date.now() > deadline) {
        throw new Error(`cannot connect to ${path}: ${(e as Error).message}`, { cause: e });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
