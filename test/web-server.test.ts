// memhp serve's HTTP server (src/web/server.ts): the JSON API over a model machine,
// and its refusals: loopback only, foreign Host headers, malformed requests, big
// bodies, unknown paths and methods, paths outside the page's folder.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { MAX_BODY_BYTES, MemhpServer } from "../src/web/server.js";
import { ShellSession } from "../src/shell/session.js";
import { machineScenarioText, withKernel } from "../src/shell/machine.js";
import type { CommandResponse, MachineView } from "../src/web/api-types.js";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP request (fetch would not let a test send a foreign Host header). */
function send(
  port: number,
  method: string,
  p: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method,
        path: p,
        headers: { "content-type": "application/json", ...headers },
      },
      (res) => {
        let data = "";
        res.on("data", (d: Buffer) => (data += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
      },
    );
    req.on("error", (e: NodeJS.ErrnoException) => {
      // The server may close the connection after refusing a large body mid-stream.
      if (e.code === "EPIPE" || e.code === "ECONNRESET") resolve({ status: -1, headers: {}, body: "" });
      else reject(e);
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const errorOf = (r: Reply) => (JSON.parse(r.body) as { error: string }).error;

describe("memhp serve API", () => {
  let server: MemhpServer;
  let port: number;
  let web: string;
  const demo = { machine: "arm64 8G", strategies: [{ name: "rfc", correct: true }] };

  before(async () => {
    web = mkdtempSync(path.join(tmpdir(), "memhp-web-"));
    mkdirSync(path.join(web, "assets"));
    writeFileSync(path.join(web, "index.html"), "<!doctype html><title>memhp</title>");
    writeFileSync(path.join(web, "assets", "app.js"), "console.log(1)");
    writeFileSync(path.join(path.dirname(web), "secret.txt"), "not for the page");
    server = new MemhpServer({
      newSession: (o = {}) =>
        new ShellSession(machineScenarioText({ vmem: ["vm0:1G"], kernel: o.kernel }), "<test>"),
      webRoot: web,
      demo,
    });
    await server.listen(0);
    port = server.port;
  });
  after(async () => {
    await server.close();
    rmSync(web, { recursive: true, force: true });
  });

  it("binds 127.0.0.1 only", () => {
    const a = server.server.address();
    assert.ok(a && typeof a === "object");
    assert.equal(a.address, "127.0.0.1");
    assert.equal(server.url, `http://127.0.0.1:${port}/`);
  });

  it("GET /api/state describes the machine", async () => {
    const r = await send(port, "GET", "/api/state");
    assert.equal(r.status, 200);
    assert.equal(r.headers["cache-control"], "no-store");
    const v = JSON.parse(r.body) as MachineView;
    assert.equal(v.blockSizeBytes, 128 << 20);
    assert.deepEqual(
      v.blocks.map((b) => b.id),
      [0, 1, 2, 3, 4, 5, 6, 7],
    );
    // Boot memory is online; x86_64 boot RAM below 4 GiB is ZONE_DMA32 past the first 16 MiB (ZONE_DMA).
    assert.deepEqual(v.blocks[0].zones, ["DMA", "DMA32"]);
    assert.deepEqual(v.blocks[1].zones, ["DMA32"]);
    assert.equal(v.devices.length, 1);
    assert.equal(v.devices[0].kind, "virtio-mem");
    assert.ok(
      v.linear.some((l) => l.start === 0),
      "the linear map starts at physical 0",
    );
    assert.ok(v.tablePages > 0);
    // Every block has struct pages mapped in the vmemmap.
    for (const b of v.blocks)
      assert.ok(
        v.vmemmap.some((l) => l.start <= b.start && l.start + l.size >= b.start + b.size),
        `memory${b.id}`,
      );
  });

  it("POST /api/command runs a shell line and puts it on the timeline", async () => {
    const r = await send(port, "POST", "/api/command", JSON.stringify({ command: "dimm-add d0 size=256M" }));
    assert.equal(r.status, 200);
    const c = JSON.parse(r.body) as CommandResponse;
    assert.equal(c.status, 0);
    // The DIMM goes after the 1 GiB virtio-mem device at 4 GiB: memory40-41.
    assert.equal(c.out, "added memory40-memory41\n");
    assert.equal(c.entry?.counts.memoryBlocksRegistered, 2);
    const online = JSON.parse(
      (
        await send(
          port,
          "POST",
          "/api/command",
          JSON.stringify({ command: "echo online_movable > /sys/devices/system/memory/memory40/state" }),
        )
      ).body,
    ) as CommandResponse;
    assert.equal(online.status, 0);
    const busy = JSON.parse(
      (
        await send(
          port,
          "POST",
          "/api/command",
          JSON.stringify({ command: "echo bogus > /sys/devices/system/memory/memory40/state" }),
        )
      ).body,
    ) as CommandResponse;
    assert.equal(busy.status, 1);
    assert.equal(
      busy.err,
      'sh: write error: Invalid argument\n  reason: "bogus" is not a state: write online, online_kernel, online_movable or offline\n',
    );
    assert.match(busy.entry?.reason ?? "", /"bogus" is not a state/);
    const v = JSON.parse((await send(port, "GET", "/api/state")).body) as MachineView;
    assert.deepEqual(
      v.timeline.map((e) => [e.op, e.result]),
      [
        ["dimm-add", "ok"],
        ["write", "ok"],
        ["write", "EINVAL"],
      ],
    );
    assert.ok(
      v.blocks.some(
        (b) => b.id === 40 && b.state === "online" && b.zones.join() === "Movable" && b.device === "d0",
      ),
    );
    assert.ok(v.blocks.some((b) => b.id === 41 && b.state === "offline" && b.validZones.includes("Movable")));
    const t = JSON.parse((await send(port, "GET", "/api/timeline")).body) as unknown[];
    assert.equal(t.length, 3);
  });

  it("POST /api/reset boots the machine again", async () => {
    const r = await send(port, "POST", "/api/reset");
    assert.equal(r.status, 200);
    const v = JSON.parse(r.body) as MachineView;
    assert.equal(v.timeline.length, 0);
    assert.ok(!v.blocks.some((b) => b.id === 40));
  });

  it("POST /api/reset {kernel} boots the machine on that release, and later resets keep it", async () => {
    const state = async () => JSON.parse((await send(port, "GET", "/api/state")).body) as MachineView;
    assert.equal((await state()).kernel, "6.1");
    assert.deepEqual((await state()).kernels, ["6.1", "6.12", "7.2"]);
    const r = await send(port, "POST", "/api/reset", JSON.stringify({ kernel: "7.2" }));
    assert.equal(r.status, 200);
    const v = JSON.parse(r.body) as MachineView;
    assert.equal(v.kernel, "7.2");
    assert.match(v.title, /^x86_64 mem=1G maxmem=8G kernel=7\.2, /);
    // 7.2 prints the per-cpu lists' high_min and high_max, 6.1 does not
    const zoneinfo = async () =>
      (
        JSON.parse(
          (await send(port, "POST", "/api/command", JSON.stringify({ command: "cat /proc/zoneinfo" }))).body,
        ) as CommandResponse
      ).out;
    assert.match(await zoneinfo(), /high_min:/);
    assert.equal((JSON.parse((await send(port, "POST", "/api/reset")).body) as MachineView).kernel, "7.2");
    const bad = await send(port, "POST", "/api/reset", JSON.stringify({ kernel: "6.6" }));
    assert.equal(bad.status, 400);
    assert.match(
      (JSON.parse(bad.body) as { error: string }).error,
      /"kernel" must be one of 6\.1, 6\.12, 7\.2/,
    );
    assert.equal((await state()).kernel, "7.2", "a refused switch leaves the machine as it was");
    await send(port, "POST", "/api/reset", JSON.stringify({ kernel: "6.1" }));
    assert.doesNotMatch(await zoneinfo(), /high_min:/);
  });

  it("an rfc=v2 machine switches release: the series' build of that release", async () => {
    const rfc = new MemhpServer({
      newSession: (o = {}) =>
        new ShellSession(
          withKernel("machine x86_64 mem=1G maxmem=8G rfc=v2\nboot\n", o.kernel ?? "6.1"),
          "<t>",
        ),
    });
    await rfc.listen(0);
    try {
      const r = await send(rfc.port, "POST", "/api/reset", JSON.stringify({ kernel: "6.12" }));
      assert.equal(r.status, 200, r.body);
      assert.equal((JSON.parse(r.body) as MachineView).kernel, "6.12");
    } finally {
      await rfc.close();
    }
  });

  it("a machine that cannot boot on the release asked for is refused with the parser's reason, and stays", async () => {
    // a session factory whose 6.12 machine does not parse (no real machine of
    // the page is refused by a release now: rfc=v2 exists on each)
    const bad = new MemhpServer({
      newSession: (o = {}) =>
        new ShellSession(
          o.kernel === "6.12"
            ? "machine x86_64 mem=1G maxmem=8G kernel=6.12 slots=2 slots=3\nboot\n"
            : "machine x86_64 mem=1G maxmem=8G\nboot\n",
          "<t>",
        ),
    });
    await bad.listen(0);
    try {
      const r = await send(bad.port, "POST", "/api/reset", JSON.stringify({ kernel: "6.12" }));
      assert.equal(r.status, 400);
      assert.match(
        (JSON.parse(r.body) as { error: string }).error,
        /cannot boot this machine on Linux 6\.12: .*slots/,
      );
      const v = JSON.parse((await send(bad.port, "GET", "/api/state")).body) as MachineView;
      assert.equal(v.kernel, "6.1");
    } finally {
      await bad.close();
    }
  });

  it("GET /api/demo returns the comparison it was given", async () => {
    const r = await send(port, "GET", "/api/demo");
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), demo);
  });

  it("rejects malformed commands with 400 and a message", async () => {
    const cases: [string, RegExp][] = [
      ["{not json", /^malformed JSON/],
      ["[1,2]", /expected a JSON object/],
      ["{}", /"command" must be a string/],
      [JSON.stringify({ command: 7 }), /"command" must be a string/],
      [JSON.stringify({ command: "cat /proc/meminfo\ndimm-add x size=1G" }), /one line/],
      [JSON.stringify({ command: "   " }), /empty/],
      [JSON.stringify({ command: "x".repeat(5000) }), /longer than 4096/],
    ];
    for (const [body, re] of cases) {
      const r = await send(port, "POST", "/api/command", body);
      assert.equal(r.status, 400, body);
      assert.match(errorOf(r), re);
      assert.match(String(r.headers["content-type"]), /^application\/json/);
    }
  });

  it("refuses other content types (415) and bodies over the cap (413)", async () => {
    const r = await send(port, "POST", "/api/command", "command=ls", {
      "content-type": "application/x-www-form-urlencoded",
    });
    assert.equal(r.status, 415);
    const big = JSON.stringify({ command: "ls", pad: "x".repeat(MAX_BODY_BYTES) });
    const b = await send(port, "POST", "/api/command", big);
    assert.ok(b.status === 413 || b.status === -1, `status ${b.status}`);
    if (b.status === 413) assert.match(errorOf(b), /body too large/);
    // The server still answers afterwards.
    assert.equal((await send(port, "GET", "/api/state")).status, 200);
  });

  it("404 for unknown endpoints, 405 with Allow for the wrong method", async () => {
    const r = await send(port, "GET", "/api/nope");
    assert.equal(r.status, 404);
    assert.match(errorOf(r), /no API endpoint \/api\/nope/);
    const m = await send(port, "GET", "/api/command");
    assert.equal(m.status, 405);
    assert.equal(m.headers.allow, "POST");
    assert.equal((await send(port, "DELETE", "/")).status, 405);
  });

  it("answers only requests addressed to 127.0.0.1 or localhost (no DNS rebinding)", async () => {
    const r = await send(port, "GET", "/api/state", undefined, { host: "attacker.example:80" });
    assert.equal(r.status, 403);
    assert.match(errorOf(r), /Host "attacker\.example:80" refused/);
    assert.equal(
      (await send(port, "GET", "/api/state", undefined, { host: `localhost:${port}` })).status,
      200,
    );
  });

  it("serves the page's files and nothing outside its folder", async () => {
    const index = await send(port, "GET", "/");
    assert.equal(index.status, 200);
    assert.match(String(index.headers["content-type"]), /^text\/html/);
    assert.match(String(index.headers["content-security-policy"]), /default-src 'self'/);
    assert.equal((await send(port, "GET", "/assets/app.js")).body, "console.log(1)");
    for (const p of [
      "/../secret.txt",
      "/%2e%2e/secret.txt",
      "/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
      "/nope.js",
    ]) {
      const r = await send(port, "GET", p);
      assert.equal(r.status, 404, p);
      assert.ok(!r.body.includes("not for the page"), p);
    }
    assert.equal((await send(port, "GET", "/%E0%A4%A")).status, 400);
  });

  it("503 with how to build the page when it is not built", async () => {
    const bare = new MemhpServer({
      newSession: () => new ShellSession(machineScenarioText({}), "<test>"),
      webRoot: path.join(web, "missing"),
    });
    await bare.listen(0);
    try {
      const r = await send(bare.port, "GET", "/");
      assert.equal(r.status, 503);
      assert.match(errorOf(r), /npm run build:web/);
      assert.equal(
        (await send(bare.port, "GET", "/api/demo")).status,
        204,
        "no comparison: nothing, not an error",
      );
    } finally {
      await bare.close();
    }
  });
});
