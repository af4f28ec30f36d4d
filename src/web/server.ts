// `memhp serve`: a small HTTP server on 127.0.0.1 with a JSON API over one model
// machine, and the web page (web-ui/, built by Vite into web-ui/dist/).
//
//   GET  /api/state     the machine as the page draws it (MachineView)
//   GET  /api/timeline  the operations so far, with their work counts
//   POST /api/command   {"command": "echo online_movable > /sys/…/state"}: any shell line
//   POST /api/reset     boot the machine again from the start; {"kernel": "6.12"}: on
//                       that Linux release (kept for later resets)
//   GET  /api/demo      the strategy comparison (`memhp demo --json`), when one was given
//   GET  /…             the page
//
// Only loopback: the server binds 127.0.0.1, and answers only requests whose Host
// header names it (a page elsewhere cannot reach it through DNS rebinding).
// Malformed requests get a 4xx and {"error": "…"}; bodies are capped.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname, join, resolve, sep } from "node:path";
import type { ShellSession } from "../shell/session.js";
import type { CommandResponse, ErrorResponse } from "./api-types.js";
import { machineView } from "./state.js";
import { isKernelVersion, KERNEL_VERSIONS, type KernelVersion } from "../kernel/linux_version.js";

export const HOST = "127.0.0.1";
/** Request bodies above this are refused with 413. */
export const MAX_BODY_BYTES = 16 * 1024;
/** A command is one line of at most this many characters. */
export const MAX_COMMAND_CHARS = 4096;

export interface ServerOptions {
  /**
   * Boots the machine: at start and on POST /api/reset; with `kernel`, the same
   * machine on that Linux release (the page's release switch). Throws an Error
   * whose message says why when the machine cannot run that release.
   */
  newSession: (o?: { kernel?: KernelVersion }) => ShellSession;
  /** The built page (web-ui/dist); without index.html the page answers 503 with how to build it. */
  webRoot?: string;
  /** The strategy comparison for GET /api/demo. */
  demo?: unknown;
  /**
   * Without `demo`: computes the comparison for the live machine's architecture
   * at the first GET /api/demo (the page's Strategies tab), then keeps it.
   */
  makeDemo?: (arch: string) => unknown;
  maxBodyBytes?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
};

const SECURITY_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Resource-Policy": "same-origin",
};

export class MemhpServer {
  readonly server: Server;
  session: ShellSession;
  private computedDemo: { arch: string; demo: unknown } | undefined;
  /** The release POST /api/reset last switched to (undefined: the machine's own). */
  private kernel: KernelVersion | undefined;
  private readonly maxBody: number;

  constructor(private readonly opts: ServerOptions) {
    this.session = opts.newSession();
    this.maxBody = opts.maxBodyBytes ?? MAX_BODY_BYTES;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => this.fail(res, e));
    });
    // Slow or idle clients do not hold the server.
    this.server.requestTimeout = 10_000;
    this.server.headersTimeout = 5_000;
  }

  /** Listen on 127.0.0.1 (port 0: any free port); resolves to the page's URL. */
  listen(port: number): Promise<string> {
    return new Promise((ok, ko) => {
      this.server.once("error", ko);
      this.server.listen(port, HOST, () => {
        this.server.off("error", ko);
        ok(this.url);
      });
    });
  }

  get port(): number {
    const a = this.server.address();
    return a && typeof a === "object" ? a.port : 0;
  }

  get url(): string {
    return `http://${HOST}:${this.port}/`;
  }

  close(): Promise<void> {
    return new Promise((ok) => {
      this.server.close(() => ok());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = req.headers.host ?? "";
    if (host !== `${HOST}:${this.port}` && host !== `localhost:${this.port}`)
      throw new HttpError(403, `Host "${host}" refused: memhp serve answers only ${HOST}:${this.port}`);
    const url = new URL(req.url ?? "/", `http://${HOST}`);
    const path = url.pathname;
    if (path.startsWith("/api/")) return this.api(req, res, path);
    if (req.method !== "GET" && req.method !== "HEAD")
      throw new HttpError(405, `${req.method} not allowed here`, { Allow: "GET, HEAD" });
    this.staticFile(res, path, req.method === "HEAD");
  }

  private async api(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const route = ROUTES[path];
    if (!route) throw new HttpError(404, `no API endpoint ${path}`);
    if (req.method !== route) throw new HttpError(405, `${path} takes ${route}`, { Allow: route });
    switch (path) {
      case "/api/state":
        return json(res, 200, machineView(this.session));
      case "/api/timeline":
        return json(res, 200, this.session.timeline);
      case "/api/demo": {
        if (this.opts.demo === undefined && this.opts.makeDemo) {
          const arch = this.session.k.board.config.arch;
          this.computedDemo ??= { arch, demo: this.opts.makeDemo(arch) };
          return json(res, 200, this.computedDemo.demo);
        }
        // No comparison is a normal answer (204), not an error the browser logs.
        if (this.opts.demo === undefined) {
          res.writeHead(204, { ...SECURITY_HEADERS, "Cache-Control": "no-store" });
          res.end();
          return;
        }
        return json(res, 200, this.opts.demo);
      }
      case "/api/reset": {
        const kernel = kernelOf(await this.body(req)) ?? this.kernel;
        try {
          this.session = this.opts.newSession(kernel ? { kernel } : {});
        } catch (e) {
          // the machine stays as it was: nothing is half-applied
          throw new HttpError(400, `cannot boot this machine on Linux ${kernel}: ${(e as Error).message}`);
        }
        this.kernel = kernel;
        return json(res, 200, machineView(this.session));
      }
      case "/api/command": {
        const body = await this.body(req);
        const command = commandOf(body);
        const r = this.session.exec(command);
        const out: CommandResponse = { status: r.status, out: r.out, err: r.err };
        if (r.entry) out.entry = r.entry;
        return json(res, 200, out);
      }
    }
  }

  /** The JSON body of a POST, within the size cap. */
  private async body(req: IncomingMessage): Promise<unknown> {
    const type = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (declared > this.maxBody) throw new HttpError(413, `body too large: at most ${this.maxBody} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > this.maxBody) throw new HttpError(413, `body too large: at most ${this.maxBody} bytes`);
      chunks.push(c as Buffer);
    }
    const text = Buffer.concat(chunks).toString("utf8");
    if (text === "") return {};
    if (type !== "application/json") throw new HttpError(415, "send the body as application/json");
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new HttpError(400, `malformed JSON: ${(e as Error).message}`);
    }
  }

  private staticFile(res: ServerResponse, path: string, head: boolean): void {
    const root = this.opts.webRoot;
    if (!root || !existsSync(join(root, "index.html")))
      throw new HttpError(
        503,
        "the page is not built: run `npm run build:web` (or `npm run build`) in the memhp checkout",
      );
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      throw new HttpError(400, "malformed path");
    }
    if (decoded.includes("\0")) throw new HttpError(400, "malformed path");
    const rootAbs = resolve(root);
    const file = resolve(rootAbs, "." + (decoded.endsWith("/") ? decoded + "index.html" : decoded));
    if (file !== rootAbs && !file.startsWith(rootAbs + sep)) throw new HttpError(404, "not found");
    if (!existsSync(file) || !statSync(file).isFile()) throw new HttpError(404, `not found: ${path}`);
    const data = readFileSync(file);
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
      "Content-Length": data.length,
      "Cache-Control": file.endsWith("index.html") ? "no-cache" : "max-age=3600",
      "Content-Security-Policy":
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
    });
    res.end(head ? undefined : data);
  }

  private fail(res: ServerResponse, e: unknown): void {
    const status = e instanceof HttpError ? e.status : 500;
    const message = e instanceof Error ? e.message : String(e);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers = e instanceof HttpError ? e.headers : {};
    // After refusing a body that is still arriving, do not keep reading it.
    if (status === 413) headers.Connection = "close";
    json(res, status, { error: message } satisfies ErrorResponse, headers);
  }
}

/** The method each API endpoint takes. */
const ROUTES: Record<string, "GET" | "POST"> = {
  "/api/state": "GET",
  "/api/timeline": "GET",
  "/api/demo": "GET",
  "/api/command": "POST",
  "/api/reset": "POST",
};

/** POST /api/reset's optional {"kernel": "6.12"}. */
function kernelOf(body: unknown): KernelVersion | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new HttpError(400, 'expected a JSON object, e.g. {"kernel": "6.12"}');
  const kernel = (body as Record<string, unknown>).kernel;
  if (kernel === undefined) return undefined;
  if (typeof kernel !== "string" || !isKernelVersion(kernel))
    throw new HttpError(400, `"kernel" must be one of ${KERNEL_VERSIONS.join(", ")}`);
  return kernel;
}

function commandOf(body: unknown): string {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new HttpError(400, 'expected a JSON object {"command": "..."}');
  const command = (body as Record<string, unknown>).command;
  if (typeof command !== "string") throw new HttpError(400, '"command" must be a string');
  if (command.length > MAX_COMMAND_CHARS)
    throw new HttpError(400, `"command" is longer than ${MAX_COMMAND_CHARS} characters`);
  if (/[\r\n]/.test(command)) throw new HttpError(400, '"command" must be one line');
  if (command.trim() === "") throw new HttpError(400, '"command" is empty');
  return command;
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...headers,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
  });
  res.end(text);
}
