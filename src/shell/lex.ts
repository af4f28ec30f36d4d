// The words of one shell line, the way a POSIX shell splits them for the few
// forms memhp's shell knows: words separated by blanks, '…' and "…" quoting,
// backslash escapes, a `#` comment at the start of a word, and one output
// redirection `> PATH` or `>> PATH` (sysfs files are written the same either way).

export interface Redirect {
  path: string;
  append: boolean;
}

export interface Lexed {
  words: string[];
  redirect?: Redirect;
  /** Indices of the words with an unquoted `*`, `?` or `[` (to expand against the file tree). */
  globs?: number[];
  /** The commands after `|`, each a list of words (filters: grep, head, tail, wc, sort). */
  pipe?: string[][];
}

export class LexError extends Error {}

/** Splits a line into words and a redirection; throws LexError on an unclosed quote or a `>` without a file. */
export function lexLine(line: string): Lexed {
  const words: string[] = [];
  let redirect: Redirect | undefined;
  let pendingRedirect: boolean | undefined; // append flag, while waiting for the file name
  let cur = "";
  let inWord = false;
  let curGlob = false;
  const globs: number[] = [];
  const pipe: string[][] = [];
  let target = words; // the words of the current command of the pipeline

  const endWord = () => {
    if (!inWord) return;
    if (pendingRedirect !== undefined) {
      if (redirect) throw new LexError("only one redirection is supported");
      redirect = { path: cur, append: pendingRedirect };
      pendingRedirect = undefined;
    } else {
      if (curGlob && target === words) globs.push(words.length);
      target.push(cur);
    }
    cur = "";
    inWord = false;
    curGlob = false;
  };

  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === " " || c === "\t") {
      endWord();
    } else if (c === "#" && !inWord) {
      break;
    } else if (c === "|") {
      endWord();
      if (pendingRedirect !== undefined) throw new LexError('syntax error: unexpected "|"');
      if (target.length === 0) throw new LexError('syntax error: unexpected "|"');
      target = [];
      pipe.push(target);
    } else if (c === ">") {
      endWord();
      if (target !== words) throw new LexError("redirection after a pipe is not supported");
      if (pendingRedirect !== undefined || redirect)
        throw new LexError("syntax error: unexpected redirection");
      pendingRedirect = line[i + 1] === ">";
      if (pendingRedirect) i++;
    } else if (c === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0) throw new LexError("syntax error: unterminated quoted string");
      cur += line.slice(i + 1, close);
      inWord = true;
      i = close;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === "\\" && j + 1 < line.length && '"\\$`'.includes(line[j + 1])) j++;
        cur += line[j];
      }
      if (j >= line.length) throw new LexError("syntax error: unterminated quoted string");
      inWord = true;
      i = j;
    } else if (c === "\\" && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else {
      if (c === "*" || c === "?" || c === "[") curGlob = true;
      cur += c;
      inWord = true;
    }
  }
  endWord();
  if (pendingRedirect !== undefined) throw new LexError("syntax error: unexpected newline");
  if (pipe.length && pipe[pipe.length - 1].length === 0)
    throw new LexError("syntax error: unexpected end of file");
  const out: Lexed = { words };
  if (redirect) out.redirect = redirect;
  if (globs.length) out.globs = globs;
  if (pipe.length) out.pipe = pipe;
  return out;
}

/** Joins `cwd` and `path` and folds `.` and `..` the way a shell's logical `cd` does. */
export function resolvePath(cwd: string, path: string): string {
  const parts = (path.startsWith("/") ? path : `${cwd}/${path}`).split("/");
  const out: string[] = [];
  for (const p of parts) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return "/" + out.join("/");
}
