// `memhp serve`: the web page over a model machine, on 127.0.0.1 only.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import { packagePath } from "../paths.js";
import { HOST, MemhpServer } from "../web/server.js";
import { readText, UsageError } from "./io.js";
import { DEFAULT_DEMO, runDemo } from "./demo.js";
import type { Arch } from "../scenario/ast.js";
import { addMachineOptions, sessionFromOptions, type MachineCliOptions } from "./machine-options.js";

interface ServeCliOptions extends MachineCliOptions {
  port: number;
  demo?: string;
  webRoot?: string;
}

export const DEFAULT_PORT = 8061;

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535)
    throw new InvalidArgumentError("a port number 0-65535 (0: any free port)");
  return n;
}

export function registerServe(program: Command): void {
  const cmd = program
    .command("serve")
    .description(`serve the web page of a model machine on ${HOST} (the memory map, operations, timeline)`)
    .option("-p, --port <n>", "TCP port on 127.0.0.1 (0: any free port)", parsePort, DEFAULT_PORT)
    .option(
      "--demo <file>",
      "a strategy comparison to show (the output of `memhp demo --json`; default: one computed for the machine's arch)",
    )
    .option("--web-root <dir>", "serve the page from this directory (default: web-ui/dist of the package)");
  addMachineOptions(cmd).addHelpText(
    "after",
    `
The server binds ${HOST} only and answers only requests addressed to it. The page
shows the physical address space as memory blocks coloured by state and zone, the
resources of /proc/iomem over them, which ranges the linear map and the vmemmap
cover and with which leaf sizes, the page-table page count, and the timeline of
operations with their work counts. Click a block for its operations.

JSON API: GET /api/state, GET /api/timeline, POST /api/command {"command": LINE}
(any memhp shell line), POST /api/reset (body {"kernel": "6.12"}: boot the machine
again on that Linux release), GET /api/demo.

Examples:
  memhp serve                                  then open http://${HOST}:${DEFAULT_PORT}/
  memhp serve --port 9000 --arch arm64 --mem 2G --maxmem 6G --vmem vm0:2G
  memhp demo --json > demo.json && memhp serve --demo demo.json`,
  );
  cmd.action(async (opts: ServeCliOptions) => {
    let demo: unknown;
    if (opts.demo !== undefined) {
      try {
        demo = JSON.parse(readText(opts.demo)) as unknown;
      } catch (e) {
        if (e instanceof UsageError) throw e;
        throw new UsageError(`${opts.demo}: not JSON: ${(e as Error).message}`);
      }
    }
    // the page's release switch boots the same machine on another release
    const newSession = (o: { kernel?: string } = {}) =>
      sessionFromOptions({ ...opts, kernel: o.kernel ?? opts.kernel });
    const webRoot = opts.webRoot ?? packagePath("web-ui", "dist");
    // Without --demo the Strategies tab shows a comparison computed for the live machine's
    // architecture (a shorter run than memhp demo's default: 1 GiB, fewer workload steps).
    const makeDemo = (arch: string) =>
      runDemo({ ...DEFAULT_DEMO, arch: arch as Arch, rangeBytes: 2 ** 30, steps: [8, 2, 2] });
    const server = new MemhpServer({ newSession, webRoot, demo, makeDemo });
    let url: string;
    try {
      url = await server.listen(opts.port);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE")
        throw new UsageError(`port ${opts.port} is in use: choose another with --port`);
      if (code === "EACCES")
        throw new UsageError(`port ${opts.port} needs privileges: choose another with --port`);
      throw e;
    }
    if (!existsSync(join(webRoot, "index.html")))
      process.stderr.write(
        `memhp serve: no page in ${webRoot}: run \`npm run build:web\`; the API works without it\n`,
      );
    process.stdout.write(`memhp serve: ${url}  (${server.session.describeMachine()}); Ctrl-C stops\n`);
    await new Promise<void>((done) => {
      const stop = () => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        void server.close().then(done);
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
  });
}
