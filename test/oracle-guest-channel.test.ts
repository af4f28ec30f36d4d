// The host side of the oracle's guest protocol (src/oracle/guest.ts): a long
// argument is sent ahead in acknowledged A chunks of at most 512 base64
// characters and written as "f" in its request, so that no request line
// exceeds what the guest's terminal holds (arm64's virtio console dropped
// input past its 4 KiB buffer: a 3.5 KiB script arrived cut, and about one 2
// KiB script in 270 was lost). A fake guest on a unix socket plays the
// guest's side as guest-init.ts does.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { GuestChannel, MAX_INLINE_ARG } from "../src/oracle/guest.js";

function frame(seq: number, fields: Record<string, string>): string {
  const body = Object.entries(fields)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString("base64")}\n`)
    .join("");
  return `@@BEGIN ${seq}\n${body}@@END ${seq}\n`;
}

/** Calls `fn` with each line the host sends (without its newline), as the guest's `read` sees them. */
function onLines(c: net.Socket, fn: (line: string) => void): void {
  let buf = "";
  c.on("data", (d) => {
    buf += d.toString("latin1");
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      fn(line);
    }
  });
}

test("long arguments go ahead in acknowledged chunks; short ones inline", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-guest-"));
  const sock = path.join(dir, "guest.sock");
  const lines: string[] = [];
  let argFile = "";
  const server = net.createServer((c) => {
    c.write(frame(0, { release: "6.1.192", build: "#1" }));
    onLines(c, (line) => {
      lines.push(line);
      const [seq, cmd, ...args] = line.split(" ").slice(0, -1);
      const arg = (a: string) =>
        a === "f"
          ? Buffer.from(argFile, "base64").toString("utf8")
          : Buffer.from(a.slice(1), "base64").toString("utf8");
      if (cmd === "A") {
        argFile += args[0].slice(1);
        c.write(frame(Number(seq), { rc: "0" }));
      } else if (cmd === "X") {
        const script = arg(args[0]);
        if (args[0] === "f") argFile = "";
        c.write(frame(Number(seq), { rc: "0", out: `${script.length} ${script.slice(-8)}`, err: "" }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const g = await GuestChannel.connect(sock);
  try {
    await g.ready(2000);
    const long = "echo " + "0123456789abcdef".repeat(300) + " # end";
    const r = await g.request("X", [long], 2000);
    assert.equal(r.fields.get("rc"), "0");
    assert.equal(r.fields.get("out"), `${long.length} ${long.slice(-8)}`);
    const chunks = lines.filter((l) => l.split(" ")[1] === "A");
    assert.equal(chunks.length, Math.ceil((4 * Math.ceil(long.length / 3)) / MAX_INLINE_ARG));
    for (const l of lines)
      assert.ok(l.length <= MAX_INLINE_ARG + 32, `request line of ${l.length} characters`);
    assert.match(lines[lines.length - 1], /^\d+ X f \d+$/);
    // a short one is sent inline, as before
    lines.length = 0;
    const s = await g.request("X", ["echo hi"], 2000);
    assert.equal(s.fields.get("out"), "7 echo hi");
    assert.deepEqual(
      lines.map((l) => l.split(" ")[1]),
      ["X"],
    );
  } finally {
    g.close();
    server.close();
  }
});

test("a request goes again after a silence or a BAD answer; the guest runs it once; a hang says what came", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-guest-"));
  const sock = path.join(dir, "guest.sock");
  const lines: string[] = [];
  const ran: string[] = [];
  // The fake guest plays guest-init.ts: it checks each line's length (@@BAD
  // when it is off) and answers a request whose seq it ran last with the same
  // reply, without running it again. Requests: "hold" (its reply waits for the
  // next line: a transmit that waits for an interrupt), "tear" (its reply's
  // END loses a byte, the first time), "lose" (the request loses its first
  // 16 bytes, the first time), "never" (no answer), "half" (the start of a
  // frame, then nothing).
  const server = net.createServer((c) => {
    c.write(frame(0, { release: "6.1.192", build: "#1" }));
    let held: string | undefined;
    let lastSeq = "";
    let lastReply = "";
    const first = new Set<string>();
    const handle = (line: string): void => {
      if (held) {
        c.write(held);
        held = undefined;
      }
      const body = line.slice(0, line.lastIndexOf(" "));
      if (String(body.length) !== line.slice(line.lastIndexOf(" ") + 1)) {
        c.write("@@BAD\n");
        return;
      }
      const [seq, , arg] = body.split(" ");
      if (seq === lastSeq) {
        c.write(lastReply);
        return;
      }
      const what = Buffer.from(arg.slice(1), "base64").toString("utf8");
      ran.push(what);
      if (what === "half") c.write(`@@BEGIN ${seq}\nrc MA==\n`);
      if (what === "never" || what === "half") return;
      lastSeq = seq;
      lastReply = frame(Number(seq), { rc: "0", out: what, err: "" });
      if (what === "hold") held = lastReply;
      else if (what === "tear" && !first.has(what)) c.write(lastReply.replace(/@@END/, "@@ND"));
      else c.write(lastReply);
      first.add(what);
    };
    onLines(c, (got) => {
      let line = got;
      lines.push(line);
      if (line.includes(` ${b64("lose")} `) && !first.has("lose")) {
        first.add("lose");
        line = line.slice(16);
      }
      handle(line);
    });
  });
  const b64 = (x: string): string => "b" + Buffer.from(x).toString("base64");
  await new Promise<void>((r) => server.listen(sock, r));
  const g = await GuestChannel.connect(sock);
  try {
    await g.ready(2000);
    g.resendMs = 200;
    assert.equal((await g.request("X", ["now"], 2000)).fields.get("out"), "now");
    assert.equal(g.resent.length, 0);
    // a reply held back: the copy of the request releases it, and is not run again
    assert.equal((await g.request("X", ["hold"], 2000)).fields.get("out"), "hold");
    assert.equal(g.resent.length, 1);
    assert.equal(g.resent[0].resends, 1);
    assert.ok(g.resent[0].ms >= 200, `answered after ${g.resent[0].ms} ms`);
    // a torn reply: sent again after the silence, the reply comes again whole
    assert.equal((await g.request("X", ["tear"], 2000)).fields.get("out"), "tear");
    assert.equal(g.resent.length, 2);
    assert.ok(g.resent[1].afterResendMs < 150, `${g.resent[1].afterResendMs} ms after it went again`);
    // a request that lost bytes: BAD, and it goes again at once
    const t0 = performance.now();
    assert.equal((await g.request("X", ["lose"], 2000)).fields.get("out"), "lose");
    assert.ok(performance.now() - t0 < 150, "no wait for the silence");
    assert.equal(g.resent[2].resends, 1);
    assert.deepEqual(ran, ["now", "hold", "tear", "lose"], "each ran once");
    await assert.rejects(
      g.request("X", ["never"], 1000),
      /did not answer X never within 1000 ms \(no byte came after the request; sent again [3-5] times\)/,
    );
    await assert.rejects(
      g.request("X", ["half"], 1000),
      /did not answer X half within 1000 ms \(\d+ bytes came, no whole reply; sent again [3-5] times\)/,
    );
    // resending off: nothing but the request goes to the guest
    g.resendMs = 0;
    const before = lines.length;
    await assert.rejects(g.request("X", ["never"], 500), /\(no byte came after the request\)$/);
    assert.equal(lines.length, before + 1);
  } finally {
    g.close();
    server.close();
  }
});
