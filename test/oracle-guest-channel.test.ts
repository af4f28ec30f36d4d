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

test("long arguments go ahead in acknowledged chunks; short ones inline", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-guest-"));
  const sock = path.join(dir, "guest.sock");
  const lines: string[] = [];
  let argFile = "";
  const server = net.createServer((c) => {
    c.write(frame(0, { release: "6.1.192", build: "#1" }));
    let buf = "";
    c.on("data", (d) => {
      buf += d.toString("latin1");
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        const [seq, cmd, ...args] = line.split(" ");
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
    assert.match(lines[lines.length - 1], /^\d+ X f$/);
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

test("a silent guest is nudged for its last reply; a reply held back or torn is taken then, a hang says what came", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-guest-"));
  const sock = path.join(dir, "guest.sock");
  const lines: string[] = [];
  // The fake guest plays guest-init.ts: a nudge ("- P") gets its last reply
  // again. It holds its reply to "hold" until the next line arrives (a
  // transmit that waits for an interrupt), tears its reply to "tear" (a byte
  // of its END line lost on the way), never answers "never", and answers
  // "half" with the start of a frame only.
  const server = net.createServer((c) => {
    c.write(frame(0, { release: "6.1.192", build: "#1" }));
    let held: string | undefined;
    let last = "";
    let buf = "";
    c.on("data", (d) => {
      buf += d.toString("latin1");
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (held) {
          c.write(held);
          held = undefined;
        }
        const [seq, cmd, arg] = line.split(" ");
        if (cmd === "P") {
          c.write(last);
          continue;
        }
        const what = Buffer.from(arg.slice(1), "base64").toString("utf8");
        // "never" and "half" never finish: their reply is not the last one
        const reply = frame(Number(seq), { rc: "0", out: what, err: "" });
        if (what === "half") c.write(`@@BEGIN ${seq}\nrc MA==\n`);
        if (what === "never" || what === "half") continue;
        last = reply;
        if (what === "hold") held = reply;
        else if (what === "tear") c.write(reply.replace(/@@END/, "@@ND"));
        else c.write(reply);
      }
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const g = await GuestChannel.connect(sock);
  try {
    await g.ready(2000);
    g.nudgeMs = 200;
    assert.equal((await g.request("X", ["now"], 2000)).fields.get("out"), "now");
    assert.equal(g.nudged.length, 0);
    assert.equal((await g.request("X", ["hold"], 2000)).fields.get("out"), "hold");
    assert.equal(g.nudged.length, 1);
    assert.equal(g.nudged[0].nudges, 1);
    assert.ok(g.nudged[0].ms >= 200, `answered after ${g.nudged[0].ms} ms`);
    // the held reply and the nudge's copy both came; the copy was dropped
    assert.equal(lines.filter((l) => l === "- P").length, 1);
    assert.equal((await g.request("X", ["tear"], 2000)).fields.get("out"), "tear");
    assert.equal(g.nudged.length, 2);
    assert.ok(g.nudged[1].afterNudgeMs < 150, `${g.nudged[1].afterNudgeMs} ms after the nudge`);
    assert.equal((await g.request("X", ["now"], 2000)).fields.get("out"), "now");
    await assert.rejects(
      g.request("X", ["never"], 1000),
      /did not answer X never within 1000 ms \(\d+ bytes came, no whole reply; [3-5] nudges sent\)/,
    );
    await assert.rejects(
      g.request("X", ["half"], 1000),
      /did not answer X half within 1000 ms \(\d+ bytes came, no whole reply; [3-5] nudges sent\)/,
    );
    // nudging off: nothing but the requests goes to the guest
    g.nudgeMs = 0;
    const before = lines.length;
    await assert.rejects(g.request("X", ["never"], 500), /\(no byte came after the request\)$/);
    assert.equal(lines.length, before + 1);
  } finally {
    g.close();
    server.close();
  }
});
