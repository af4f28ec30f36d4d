// The docs stay true where a machine can tell:
//  - no file points outside the repository (the project's documents are its own);
//  - every relative Markdown link of the README and docs resolves;
//  - every repository path the README and docs cite exists;
//  - every `memhp SUBCOMMAND --option` they show is a real subcommand and option;
//  - every `npm run SCRIPT` they show is a script of package.json;
//  - docs/README.md lists every page of docs/;
//  - every MEMHP_* environment variable they name is read by the code;
//  - the counts they give of the corpus and of the regressions are the repository's.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import type { Command } from "commander";
import { buildProgram } from "../src/cli/main.js";
import { packageRoot } from "../src/paths.js";

const ROOT = packageRoot();
const rel = (abs: string) => path.relative(ROOT, abs).split(path.sep).join("/");

/** Folders never read: dependencies, build output, scratch, VCS. */
const SKIP_DIRS = new Set(["node_modules", "dist", ".git", ".tmp", ".cache", "coverage"]);
const TEXT = /\.(md|ts|tsx|js|mjs|cjs|sh|mhp|json|patch|txt|css|html|yml|yaml|config)$|^README|^Makefile$/;

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) walk(path.join(dir, e.name), out);
    } else if (TEXT.test(e.name) && e.name !== "package-lock.json") out.push(path.join(dir, e.name));
  }
  return out;
}

/** The user-facing documents: README, CONTRIBUTING, CHANGELOG and docs/ (generated CLI pages included). */
function docFiles(): string[] {
  const top = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md", "linux-patches/README.md"].map((f) =>
    path.join(ROOT, f),
  );
  return [
    ...top.filter((f) => existsSync(f)),
    ...walk(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md")),
  ];
}

/**
 * References outside the repository that are still there, with the reason. The
 * list only shrinks: an entry whose reference is gone fails the test.
 */
const OUTSIDE_EXCEPTIONS: ReadonlyMap<string, string> = new Map();

const OUTSIDE = /(?:\.\.\/)+shared\/|\bshared\/(?:docs|seed|hooks)\//;

describe("docs: references", () => {
  it("no file points outside the repository (shared/docs, ../shared)", () => {
    const self = rel(new URL(import.meta.url).pathname)
      .replace(/^dist\//, "")
      .replace(/\.js$/, ".ts");
    const found = new Map<string, string[]>();
    for (const f of walk(ROOT)) {
      const r = rel(f);
      if (r === self) continue;
      const lines = readFileSync(f, "utf8").split("\n");
      lines.forEach((l, i) => {
        if (OUTSIDE.test(l)) found.set(r, [...(found.get(r) ?? []), `${r}:${i + 1}: ${l.trim()}`]);
      });
    }
    const bad = [...found].filter(([f]) => !OUTSIDE_EXCEPTIONS.has(f)).flatMap(([, ls]) => ls);
    assert.deepEqual(bad, [], "point at the project's own docs/ instead");
    const stale = [...OUTSIDE_EXCEPTIONS.keys()].filter((f) => !found.has(f));
    assert.deepEqual(stale, [], "remove these from OUTSIDE_EXCEPTIONS: they no longer point outside");
  });

  it("every relative Markdown link resolves", () => {
    const bad: string[] = [];
    let links = 0;
    for (const f of docFiles()) {
      const text = readFileSync(f, "utf8");
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1];
        if (/^[a-z]+:/i.test(target) || target.startsWith("#")) continue;
        links++;
        const file = target.split("#")[0];
        if (!existsSync(path.resolve(path.dirname(f), file))) bad.push(`${rel(f)}: ${target}`);
      }
    }
    assert.ok(links >= 10, `found ${links} relative links`);
    assert.deepEqual(bad, []);
  });

  it("every repository path the docs cite exists", () => {
    const tops = "src|test|docs|scenarios|profiles|bench|scripts|kernel|web|bin";
    // `path` in backticks, or a bare path in running text, that starts with a top-level folder
    const re = new RegExp(`(?<![\\w./~-])((?:${tops})/[\\w./-]*[\\w/])`, "g");
    const bad: string[] = [];
    let paths = 0;
    for (const f of docFiles()) {
      if (rel(f) === "CHANGELOG.md") continue; // history: may name what has since moved
      const text = readFileSync(f, "utf8");
      text.split("\n").forEach((line, i) => {
        for (const m of line.matchAll(re)) {
          const p = m[1].replace(/\.$/, "");
          const after = line.slice(m.index + m[0].length);
          // placeholders and globs: profiles/NAME.json, src/arch/<arch>/, scenarios/oracle/*.mhp, ARCH
          if (/[A-Z]{3,}|[<>*…]/.test(p) || /^[<*…{]/.test(after) || /^[A-Z]{3,}/.test(after)) continue;
          // the kernel's own sources (kernel/resource.c) are not ours
          if (/\.[chS]$/.test(p)) continue;
          paths++;
          const abs = path.join(ROOT, p);
          const ok = existsSync(abs) || existsSync(abs.replace(/\.js$/, ".ts")) || isOutput(p);
          if (!ok) bad.push(`${rel(f)}:${i + 1}: ${p}`);
        }
      });
    }
    assert.ok(paths >= 50, `found ${paths} paths`);
    assert.deepEqual(bad, [], "these paths do not exist in the repository");
  });
});

/** Files and folders that exist only after a build or a run. */
function isOutput(p: string): boolean {
  return /^web-ui\/dist(\/|$)|^dist\//.test(p);
}

function subcommands(): Map<string, Command> {
  const m = new Map<string, Command>();
  const add = (prefix: string, c: Command) => {
    for (const s of c.commands) {
      const name = prefix ? `${prefix} ${s.name()}` : s.name();
      m.set(name, s);
      add(name, s);
    }
  };
  add("", buildProgram());
  return m;
}

/** Options a command takes, with its parents' (--help and --version everywhere). */
function optionsOf(cmd: Command | undefined): Set<string> {
  const s = new Set(["--help", "--version"]);
  for (let c = cmd; c; c = c.parent ?? undefined)
    for (const o of c.options) {
      if (o.long) s.add(o.long);
      if (o.short) s.add(o.short);
      if (o.negate && o.long) s.add(o.long);
    }
  return s;
}

describe("docs: commands", () => {
  it("every `memhp SUBCOMMAND --option` shown in the docs exists", () => {
    const cmds = subcommands();
    assert.ok(cmds.has("run") && cmds.has("snapshot save"), [...cmds.keys()].join(", "));
    const bad: string[] = [];
    let seen = 0;
    for (const f of docFiles()) {
      if (rel(f).startsWith("docs/cli/")) continue; // generated from the CLI itself
      readFileSync(f, "utf8")
        .split("\n")
        .forEach((line, i) => {
          // `memhp X ...` in code spans, and command lines (npx memhp, node bin/memhp.js, code blocks)
          const re = /(?:`|^\s{4,}(?:\$ )?|npx |node bin\/)memhp(?:\.js)? ([a-z][\w-]*)([^`#|]*)/g;
          for (const m of line.matchAll(re)) {
            const words = m[2].trim().split(/\s+/).filter(Boolean);
            let name = m[1];
            if (words.length > 0 && cmds.has(`${name} ${words[0]}`)) name = `${name} ${words.shift()}`;
            if (!cmds.has(name)) {
              bad.push(`${rel(f)}:${i + 1}: memhp ${name}`);
              continue;
            }
            seen++;
            const opts = optionsOf(cmds.get(name));
            for (const w of words) {
              const opt = w.replace(/[=,.;:)].*$/, "");
              if (/^--?[a-zA-Z]/.test(opt) && !opts.has(opt))
                bad.push(`${rel(f)}:${i + 1}: memhp ${name} ${opt}`);
            }
          }
        });
    }
    assert.ok(seen >= 20, `found ${seen} memhp command lines`);
    assert.deepEqual(bad, [], "no such memhp subcommand or option");
  });

  it("every `npm run SCRIPT` shown in the docs is a script of package.json", () => {
    const scripts = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: object })
      .scripts;
    const bad: string[] = [];
    let seen = 0;
    for (const f of docFiles()) {
      for (const m of readFileSync(f, "utf8").matchAll(/npm run ([\w:-]+)/g)) {
        seen++;
        if (!(m[1] in scripts)) bad.push(`${rel(f)}: npm run ${m[1]}`);
      }
    }
    assert.ok(seen >= 3, `found ${seen}`);
    assert.deepEqual(bad, []);
  });

  it("docs/README.md lists every page of docs/", () => {
    const index = readFileSync(path.join(ROOT, "docs", "README.md"), "utf8");
    const pages = readdirSync(path.join(ROOT, "docs")).filter(
      (f) => f.endsWith(".md") && f !== "README.md" && statSync(path.join(ROOT, "docs", f)).isFile(),
    );
    assert.ok(pages.length >= 8, pages.join(" "));
    const missing = pages.filter((p) => !index.includes(`(${p})`));
    assert.deepEqual(missing, [], "add these pages to docs/README.md");
    assert.ok(index.includes("(cli/README.md)"), "docs/README.md links the CLI pages");
  });
});

/** The code that may read an environment variable: sources, tests, scripts, CI. */
function codeFiles(): string[] {
  const dirs = ["src", "test", "scripts", "perf", "linux-patches", "bin", ".ci"].map((d) =>
    path.join(ROOT, d),
  );
  return dirs.filter((d) => existsSync(d)).flatMap((d) => walk(d).concat(extensionless(d)));
}

/** Files without an extension (CI scripts such as .ci/run), which walk() leaves out. */
function extensionless(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) out.push(...extensionless(p));
    } else if (!e.name.includes(".")) out.push(p);
  }
  return out;
}

const mhpFiles = (dir: string): string[] =>
  readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith(".mhp"));

describe("docs: figures and names", () => {
  it("every MEMHP_* variable the docs name is read by the code", () => {
    const named = new Map<string, string>();
    for (const f of docFiles())
      for (const m of readFileSync(f, "utf8").matchAll(/\bMEMHP_[A-Z0-9_]*[A-Z0-9]\b/g))
        if (!named.has(m[0])) named.set(m[0], rel(f));
    assert.ok(named.size >= 5, [...named.keys()].join(" "));
    const code = codeFiles()
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    const unread = [...named].filter(([v]) => !code.includes(v)).map(([v, f]) => `${f}: ${v}`);
    assert.deepEqual(unread, [], "the docs name variables nothing reads");
  });

  /**
   * Counts the docs state, each with the pattern that finds it and the
   * repository's figure. Every pattern must occur (a reworded sentence must
   * bring its check along) and every occurrence must agree.
   */
  const regressions = mhpFiles("scenarios/regressions");
  const knownBugs = regressions.filter((f) =>
    /^# known-bug:/m.test(readFileSync(path.join(ROOT, "scenarios/regressions", f), "utf8")),
  ).length;
  const CLAIMS: { what: string; file: string; re: RegExp; want: number[] }[] = [
    {
      what: "the stock corpus's scenarios",
      file: "README.md",
      re: /`scenarios\/oracle\/`, (\d+) scenarios/g,
      want: [mhpFiles("scenarios/oracle").length],
    },
    {
      what: "the RFC corpus's scenarios",
      file: "README.md",
      re: /`scenarios\/oracle-rfc\/`, (\d+)\s+scenarios/g,
      want: [mhpFiles("scenarios/oracle-rfc").length],
    },
    {
      what: "the regressions, in the table",
      file: "docs/robustness.md",
      re: /(\d+) files: (\d+) model bugs fixed, (\d+) kernel bugs/g,
      want: [regressions.length, regressions.length - knownBugs, knownBugs],
    },
    {
      what: "the regressions, in the figures",
      file: "docs/robustness.md",
      re: /(\d+) files under\s+`scenarios\/regressions\/`, replayed by\s+`npm test`: (\d+) failures fixed in the model, (\d+) kernel bugs/g,
      want: [regressions.length, regressions.length - knownBugs, knownBugs],
    },
  ];

  for (const c of CLAIMS)
    it(`${c.file}: ${c.what} are counted right`, () => {
      const text = readFileSync(path.join(ROOT, c.file), "utf8");
      const found = [...text.matchAll(c.re)].map((m) => m.slice(1).map(Number));
      assert.ok(found.length > 0, `${c.file} no longer says this; move the check with the sentence`);
      for (const got of found) assert.deepEqual(got, c.want, `${c.file}: ${c.re.source}`);
    });
});
