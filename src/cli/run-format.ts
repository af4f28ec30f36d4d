// `memhp run`'s output for people (the default on a terminal): each statement as
// written in the file, then what it did: the file's contents as the kernel prints
// them, the blocks a host event added or removed, or the errno with its text and
// the reason. The trace (JSON Lines, --json or a pipe) is the data.

import type { Trace } from "../scenario/trace.js";
import { formatRecord } from "../shell/format.js";
import { paint } from "./io.js";
import { errnoFromName, errnoMessage } from "../errno.js";

/** The human form of one file's trace; `lines` is the scenario's text split into lines. */
export function formatRunHuman(
  file: string,
  trace: Trace,
  lines: readonly string[],
  colour: boolean,
): string {
  const h = trace.header as Record<string, unknown>;
  const m = h.machine as { memBytes: number; maxmemBytes: number; slots: number } | undefined;
  const size = (b: number) => (b % 2 ** 30 === 0 ? `${b / 2 ** 30}G` : `${b / 2 ** 20}M`);
  const cmdline = Array.isArray(h.cmdline) && h.cmdline.length ? `, cmdline "${h.cmdline.join(" ")}"` : "";
  let out = paint(
    1,
    `${file}: ${String(h.arch)}${m ? ` mem=${size(m.memBytes)} maxmem=${size(m.maxmemBytes)}, ${m.slots} DIMM slots` : ""}${cmdline} (model ${String(h.version)}, seed ${String(h.seed)})`,
    colour,
  );
  out += "\n";
  const width = String(lines.length).length;
  for (const rec of trace.records) {
    const src = (lines[rec.line - 1] ?? rec.op).replace(/\s+#.*$/, "").trim();
    out += `\n${paint(2, String(rec.line).padStart(width), colour)}  ${paint(1, src, colour)}\n`;
    const f = formatRecord(rec);
    const result = (rec as { result?: unknown }).result;
    const failed = typeof result === "string" && result !== "ok";
    const n = failed ? errnoFromName(result) : undefined;
    const body = failed
      ? `${result}${n === undefined ? "" : ` (${errnoMessage(n)})`}\n` +
        (rec.reason ? `reason: ${rec.reason}\n` : "")
      : f.out + f.err;
    const shown = body === "" ? (failed ? String(result) : "ok") + "\n" : body;
    const pad = " ".repeat(width + 2);
    const text =
      shown
        .replace(/\n$/, "")
        .split("\n")
        .map((l) => pad + l)
        .join("\n") + "\n";
    out += failed ? paint(31, text.replace(/\n$/, ""), colour) + "\n" : text;
  }
  return out;
}
