// The filters a shell line may pipe into: grep, head, tail, wc, sort (busybox's
// options that people reach for first). They read the text the command before
// them printed; the machine is not involved.

import { fail, ok, type Output } from "./builtins.js";

export const FILTERS = ["grep", "head", "tail", "wc", "sort"] as const;

/** Lines of text without the final newline's empty line. */
function lines(text: string): string[] {
  if (text === "") return [];
  return text.replace(/\n$/, "").split("\n");
}

const joined = (ls: string[]) => (ls.length ? ls.join("\n") + "\n" : "");

function count(cmd: string, args: string[]): number | string {
  let n = 10;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    let v: string | undefined;
    if (a === "-n") v = args[++i];
    else if (/^-n\d+$/.test(a)) v = a.slice(2);
    else if (/^-\d+$/.test(a)) v = a.slice(1);
    else return `${cmd}: unsupported argument '${a}' (use -n N)`;
    if (v === undefined || !/^\d+$/.test(v)) return `${cmd}: invalid number of lines: '${v ?? ""}'`;
    n = Number(v);
  }
  return n;
}

/** Run filter `words` on `input`; status 1 for grep without a match, 2 for bad usage. */
export function runFilter(words: string[], input: string): Output {
  const [cmd, ...args] = words;
  const ls = lines(input);
  switch (cmd) {
    case "grep": {
      let invert = false;
      let icase = false;
      let countOnly = false;
      let extended = false;
      let pattern: string | undefined;
      for (const a of args) {
        if (pattern === undefined && /^-[vicE]+$/.test(a)) {
          invert ||= a.includes("v");
          icase ||= a.includes("i");
          countOnly ||= a.includes("c");
          extended ||= a.includes("E");
        } else if (pattern === undefined) pattern = a;
        else return fail("grep: only standard input can be searched here (no FILE after the pattern)", 2);
      }
      if (pattern === undefined) return fail("usage: grep [-v] [-i] [-c] [-E] PATTERN", 2);
      let re: RegExp;
      try {
        // basic regular expressions: \| \( \) are the operators, | ( ) + ? literal
        const src = extended
          ? pattern
          : pattern.replace(/\\([|()+?{}])|([|()+?{}])/g, (_m, esc: string, lit: string) =>
              esc !== undefined ? esc : `\\${lit}`,
            );
        re = new RegExp(src, icase ? "i" : "");
      } catch {
        return fail(`grep: bad regular expression '${pattern}'`, 2);
      }
      const hits = ls.filter((l) => re.test(l) !== invert);
      const out = countOnly ? `${hits.length}\n` : joined(hits);
      return { out, err: "", status: hits.length ? 0 : 1 };
    }
    case "head":
    case "tail": {
      const n = count(cmd, args);
      if (typeof n === "string") return fail(n, 2);
      return ok(joined(cmd === "head" ? ls.slice(0, n) : n === 0 ? [] : ls.slice(-n)));
    }
    case "wc": {
      const flags = args.join("");
      if (args.some((a) => !/^-[lwc]+$/.test(a))) return fail("usage: wc [-l] [-w] [-c]", 2);
      const nl = ls.length;
      const nw = input.split(/\s+/).filter(Boolean).length;
      const nc = Buffer.byteLength(input);
      const parts: number[] = [];
      if (!flags || flags.includes("l")) parts.push(nl);
      if (!flags || flags.includes("w")) parts.push(nw);
      if (!flags || flags.includes("c")) parts.push(nc);
      return ok(parts.map((p) => String(p).padStart(parts.length > 1 ? 7 : 0)).join(" ") + "\n");
    }
    case "sort": {
      if (args.some((a) => !/^-[rnu]+$/.test(a))) return fail("usage: sort [-r] [-n] [-u]", 2);
      const f = args.join("");
      let out = [...ls];
      if (f.includes("n")) out.sort((a, b) => parseFloat(a) - parseFloat(b) || (a < b ? -1 : a > b ? 1 : 0));
      else out.sort();
      if (f.includes("u")) out = out.filter((l, i) => i === 0 || l !== out[i - 1]);
      if (f.includes("r")) out.reverse();
      return ok(joined(out));
    }
    default:
      return fail(`sh: ${cmd}: not found (after | the shell has ${FILTERS.join(", ")})`, 127);
  }
}
