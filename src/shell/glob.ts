// Pathname expansion (POSIX 2.13.3): a word with an unquoted `*`, `?` or `[...]`
// becomes the sorted paths of the file tree it matches; a word that matches
// nothing stays as it is (the command then says the file does not exist).

import type { Kernfs } from "../fs/kernfs.js";
import { resolvePath } from "./lex.js";

const hasGlob = (s: string) => /[*?[]/.test(s);

/** A segment's pattern as a RegExp: `*` any run, `?` one character, `[...]` / `[!...]` a class. */
function segmentRe(seg: string): RegExp {
  let re = "";
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const close = seg.indexOf("]", i + 2);
      if (close < 0) re += "\\[";
      else {
        let body = seg.slice(i + 1, close);
        if (body.startsWith("!")) body = "^" + body.slice(1);
        re += `[${body.replace(/\\/g, "\\\\")}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

const join = (dir: string, name: string) => (dir === "" ? name : dir === "/" ? `/${name}` : `${dir}/${name}`);

export function expandGlob(fs: Kernfs, cwd: string, word: string): string[] {
  if (!hasGlob(word)) return [word];
  const segs = word.split("/").filter((s) => s !== "");
  let paths = [word.startsWith("/") ? "/" : ""];
  for (const seg of segs) {
    const next: string[] = [];
    for (const p of paths) {
      if (!hasGlob(seg)) {
        const q = join(p, seg);
        if (!("err" in fs.resolve(resolvePath(cwd, q)))) next.push(q);
        continue;
      }
      const names = fs.list(resolvePath(cwd, p === "" ? "." : p));
      if (typeof names === "number") continue;
      const re = segmentRe(seg);
      for (const n of [...names].sort())
        if (re.test(n) && (seg.startsWith(".") || !n.startsWith("."))) next.push(join(p, n));
    }
    paths = next;
    if (paths.length === 0) return [word];
  }
  return paths;
}
