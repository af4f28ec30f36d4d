// Tab completion for the shell (node:readline's completer contract: the candidates
// and the text they complete). The first word completes to a command or a
// statement; later words to paths in the model's sysfs/procfs, a directory (or a
// symlink to one) with a trailing '/', as bash does.

import type { Kernfs } from "../fs/kernfs.js";
import { resolvePath } from "./lex.js";

/** [candidates, the word being completed]. */
export type Completion = [string[], string];

export function complete(fs: Kernfs, cwd: string, commands: readonly string[], line: string): Completion {
  // The word under the cursor: after the last blank or '>' (readline hands the text left of the cursor).
  const m = /(?:^|[\s>])([^\s>]*)$/.exec(line);
  const word = m ? m[1] : "";
  const before = line.slice(0, line.length - word.length);
  const isFirst = before.trim() === "";
  if (isFirst) {
    const hits = [...new Set(commands)].filter((c) => c.startsWith(word)).sort();
    return [hits.length === 1 ? [hits[0] + " "] : hits, word];
  }
  const slash = word.lastIndexOf("/");
  const dirPart = slash >= 0 ? word.slice(0, slash + 1) : "";
  const base = word.slice(slash + 1);
  const dirPath = resolvePath(cwd, dirPart === "" ? "." : dirPart);
  const r = fs.resolve(dirPath);
  if ("err" in r || r.node.kind !== "dir") return [[], word];
  const hits: string[] = [];
  for (const name of [...r.node.children.keys()].sort()) {
    if (!name.startsWith(base)) continue;
    const child = fs.resolve(resolvePath(dirPath, name));
    const isDir = !("err" in child) && child.node.kind === "dir";
    hits.push(dirPart + name + (isDir ? "/" : ""));
  }
  // A single file completes with a space after it, like bash.
  if (hits.length === 1 && !hits[0].endsWith("/")) hits[0] += " ";
  return [hits, word];
}
