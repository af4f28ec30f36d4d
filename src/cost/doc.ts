// The tables of docs/cost-model.md that come from the profiles, generated so that
// the document and the profiles cannot drift apart (test/cost.test.ts checks it).
// After fillConstantsTables(), run Prettier on the document: it pads the cells,
// which tableRowsIn() trims again.

import { WORK_KEYS } from "../kernel/work.js";
import type { CostProfile } from "./profile.js";

const cell = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

function ns(n: number): string {
  if (n >= 1e6) return `${n / 1e6} ms`;
  if (n >= 1e3) return `${n / 1e3} µs`;
  return `${n} ns`;
}

/** The rows of a profile's constants table: counter, time per unit, kind of source, source. */
export function constantsRows(p: CostProfile): string[][] {
  return WORK_KEYS.map((key) => {
    const c = p.constants[key];
    return c
      ? [key, ns(c.ns), c.source.kind, cell(c.source.detail)]
      : [key, "-", "none", "no constant: costs 0"];
  });
}

/** The markdown table of a profile's constants, between its markers. */
export function constantsTable(p: CostProfile): string {
  return [
    `<!-- constants:${p.name} (generated from profiles/${p.name}.json by src/cost/doc.ts) -->`,
    "",
    "| counter | per unit | source | detail |",
    "| --- | ---: | --- | --- |",
    ...constantsRows(p).map((r) => `| ${r.join(" | ")} |`),
    "",
    `<!-- /constants:${p.name} -->`,
  ].join("\n");
}

/** `md` with the text between each profile's markers replaced by its table (markers included). */
export function fillConstantsTables(md: string, profiles: readonly CostProfile[]): string {
  let out = md;
  for (const p of profiles) {
    const open = `<!-- constants:${p.name} `;
    const close = `<!-- /constants:${p.name} -->`;
    const a = out.indexOf(open);
    const b = out.indexOf(close);
    if (a < 0 || b < a) throw new Error(`no constants markers for ${p.name}`);
    out = out.slice(0, a) + constantsTable(p) + out.slice(b + close.length);
  }
  return out;
}

/** The rows of the table between a profile's markers in `md`, cells trimmed. */
export function tableRowsIn(md: string, name: string): string[][] {
  const a = md.indexOf(`<!-- constants:${name} `);
  const b = md.indexOf(`<!-- /constants:${name} -->`);
  if (a < 0 || b < a) return [];
  return md
    .slice(a, b)
    .split("\n")
    .filter((l) => l.startsWith("|"))
    .slice(2)
    .map((l) =>
      l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
}
