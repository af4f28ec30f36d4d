// How the shell prints what a scenario statement did (its trace record): quiet on
// success unless there is something to see, and on failure the errno the kernel
// returned, as a shell or a kernel engineer would want to read it.

import { errnoFromName, errnoMessage } from "../errno.js";
import type { PtRun, TraceRecord } from "../scenario/trace.js";
import { columnate, type Output } from "./builtins.js";

/** "memory32-memory39" for a run of consecutive blocks. */
export function blockRanges(names: readonly string[]): string {
  const ids = names.map((n) => Number(n.slice(6))).sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < ids.length;) {
    let j = i;
    while (j + 1 < ids.length && ids[j + 1] === ids[j] + 1) j++;
    parts.push(i === j ? `memory${ids[i]}` : `memory${ids[i]}-memory${ids[j]}`);
    i = j + 1;
  }
  return parts.join(" ");
}

/** The message of an errno name from a trace ("EBUSY" → "Device or resource busy"). */
function message(result: string): string {
  const n = errnoFromName(result);
  return n === undefined ? result : errnoMessage(n);
}

function runsTable(title: string, runs: readonly PtRun[]): string {
  if (runs.length === 0) return `${title}: no leaves\n`;
  const last = runs.some((r) => r.pa !== undefined) ? "pa" : "backing";
  const rows = [["va", "size", "level", last]];
  for (const r of runs) {
    const size = BigInt(r.size);
    const human =
      size % (1n << 30n) === 0n
        ? `${size >> 30n}G`
        : size % (1n << 20n) === 0n
          ? `${size >> 20n}M`
          : `${size >> 10n}K`;
    rows.push([r.va, human, r.level, r.pa ?? (r.inRange ? "in range (memmap_on_memory)" : "elsewhere")]);
  }
  const w = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return (
    `${title}:\n` +
    rows
      .map(
        (row) =>
          "  " +
          row
            .map((c, i) => c.padEnd(w[i]))
            .join("  ")
            .trimEnd(),
      )
      .join("\n") +
    "\n"
  );
}

/** Output for one executed statement. */
export function formatRecord(rec: TraceRecord): Output {
  const r = rec as TraceRecord & Record<string, unknown>;
  const result = typeof r.result === "string" ? r.result : "ok";
  const failed = result !== "ok";
  switch (rec.op) {
    case "dimm-add":
    case "dimm-del":
    case "vmem-resize": {
      if (failed) return { out: "", err: `${rec.op}: ${String(r.id)}: ${message(result)}\n`, status: 1 };
      const blocks = r.blocks as { added: string[]; removed: string[] } | undefined;
      let out = "";
      if (blocks?.added.length) out += `added ${blockRanges(blocks.added)}\n`;
      if (blocks?.removed.length) out += `removed ${blockRanges(blocks.removed)}\n`;
      return { out, err: "", status: 0 };
    }
    case "write":
      return failed
        ? { out: "", err: `sh: write error: ${message(result)}\n`, status: 1 }
        : { out: "", err: "", status: 0 };
    case "read": {
      if (failed)
        return { out: "", err: `read: can't open '${String(r.path)}': ${message(result)}\n`, status: 1 };
      if (r.fields) {
        const fields = r.fields as Record<string, number>;
        // As the kernel prints the lines: meminfo_proc_show()'s "%-16s%8lu kB", vmstat's "name value".
        const meminfo = r.path === "/proc/meminfo";
        const line = ([k, v]: [string, number]) =>
          !meminfo
            ? `${k} ${v}\n`
            : k.startsWith("HugePages_")
              ? `${`${k}:`.padEnd(16)}${String(v).padStart(5)}\n`
              : `${`${k}:`.padEnd(16)}${String(v).padStart(8)} kB\n`;
        return {
          out: Object.entries(fields).map(line).join(""),
          err: "",
          status: 0,
        };
      }
      const value = String(r.value ?? "");
      return { out: value === "" ? "" : value + "\n", err: "", status: 0 };
    }
    case "ls": {
      if (failed) return { out: "", err: `ls: ${String(r.path)}: ${message(result)}\n`, status: 1 };
      const names = (r.names as string[] | undefined) ?? [];
      return { out: columnate(names, names, 80), err: "", status: 0 };
    }
    case "ptdump": {
      const out =
        runsTable(`linear map of ${String(r.start)}+${String(r.size)}`, r.linear as PtRun[]) +
        runsTable("vmemmap of its struct pages", r.vmemmap as PtRun[]) +
        `page-table pages: ${String(r.tablePages)}\n`;
      return { out, err: "", status: 0 };
    }
    case "call": {
      const args = (r.args as string[]).join(", ");
      if (!failed) return { out: `${String(r.fn)}(${args}) = 0\n`, err: "", status: 0 };
      const n = errnoFromName(result);
      const ret = n === undefined ? result : `-${n} (${result}: ${errnoMessage(n)})`;
      return { out: "", err: `${String(r.fn)}(${args}) = ${ret}\n`, status: 1 };
    }
    default: {
      // Statements added later (workload, the auditor, …): the result, then any other fields.
      const rest = Object.entries(r).filter(([k]) => !["line", "op", "result"].includes(k));
      const out = rest
        .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v, null, 2) : String(v)}\n`)
        .join("");
      if (failed) return { out, err: `${rec.op}: ${message(result)}\n`, status: 1 };
      return { out: rec.op === "workload" ? "" : out, err: "", status: 0 };
    }
  }
}
