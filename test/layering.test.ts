// Layers that hold: the model (src/mm, src/kernel, src/drivers, src/fs, src/arch,
// src/hw) never imports a front end or tool (src/scenario, src/cli, src/oracle,
// src/cost, src/fuzz, src/shell, src/web, src/snapshot). Tools may import the
// model; both may import the neutral modules (src/*.ts, src/lib/), which import
// neither.
//
// Generic model code (outside src/arch) does not branch on the architecture
// either; it calls the arch hooks (see the second describe below).
//
// The test reads every .ts file under src/, takes the specifier of every static
// import and export-from, side-effect import and dynamic import(), resolves the
// relative ones and fails on any model → tool edge not listed in EXCEPTIONS. An
// exception that no longer occurs fails too, so the list can only shrink.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { packageRoot } from "../src/paths.js";

const ROOT = packageRoot();
const SRC = path.join(ROOT, "src");

const MODEL = ["mm", "kernel", "drivers", "fs", "arch", "hw"] as const;
const TOOLS = ["scenario", "cli", "oracle", "cost", "fuzz", "shell", "web", "snapshot", "tools"] as const;
/** Folders that belong to neither side; anyone may import them. */
const NEUTRAL = ["lib"] as const;

/**
 * Known model → tool imports, as "from → to" (paths relative to src/), each with
 * the reason it is still there. Empty today; add nothing here without a reason,
 * and remove the entry with the import.
 */
const EXCEPTIONS: ReadonlyMap<string, string> = new Map<string, string>([]);

type Layer = "model" | "tool" | "neutral";

function layerOf(rel: string): Layer | undefined {
  const top = rel.split("/")[0];
  if (rel === "index.ts") return "tool"; // the package's library entry: a front end
  if (!rel.includes("/")) return "neutral"; // src/errno.ts, src/paths.ts, ...
  if ((MODEL as readonly string[]).includes(top)) return "model";
  if ((TOOLS as readonly string[]).includes(top)) return "tool";
  if ((NEUTRAL as readonly string[]).includes(top)) return "neutral";
  return undefined;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out.sort();
}

/** Block and line comments out, so that an import written in a comment does not count. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

/** The module specifiers a TypeScript file imports or re-exports. */
export function importSpecifiers(text: string): string[] {
  const code = stripComments(text);
  const specs: string[] = [];
  const patterns = [
    /\bimport\s+(?:type\s+)?[\w*{}\s,$]*?\s+from\s+["']([^"']+)["']/g, // import x from "…"
    /\bexport\s+(?:type\s+)?(?:\*(?:\s+as\s+\w+)?|\{[^}]*\})\s+from\s+["']([^"']+)["']/g, // export … from "…"
    /\bimport\s+["']([^"']+)["']/g, // import "…"
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g, // import("…")
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) specs.push(m[1]);
  return specs;
}

/** The file an import resolves to, relative to src/ ("arch/arch.ts"), or undefined outside src/. */
function resolveInSrc(fromAbs: string, spec: string): string | undefined {
  if (!spec.startsWith(".")) return undefined; // a package or node: builtin
  const abs = path.resolve(path.dirname(fromAbs), spec).replace(/\.js$/, ".ts");
  const rel = path.relative(SRC, abs);
  if (rel.startsWith("..")) return undefined;
  return rel.split(path.sep).join("/");
}

interface Edge {
  from: string;
  to: string;
}

/** Imports from files of layer `from` into files of a layer in `into`. */
function edgesBetween(
  from: Layer,
  into: readonly Layer[],
): { edges: Edge[]; files: number; imports: number } {
  const edges: Edge[] = [];
  let imports = 0;
  const files = walk(SRC);
  for (const abs of files) {
    const rel = path.relative(SRC, abs).split(path.sep).join("/");
    if (layerOf(rel) !== from) continue;
    for (const spec of importSpecifiers(readFileSync(abs, "utf8"))) {
      const to = resolveInSrc(abs, spec);
      if (to === undefined) continue;
      imports++;
      const l = layerOf(to);
      if (l !== undefined && into.includes(l)) edges.push({ from: rel, to });
    }
  }
  return { edges, files: files.length, imports };
}

const modelToToolEdges = () => edgesBetween("model", ["tool"]);

describe("layering: the model never imports the tools", () => {
  it("every top-level folder of src/ is assigned a layer", () => {
    const dirs = readdirSync(SRC, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    const unknown = dirs.filter((d) => layerOf(`${d}/x.ts`) === undefined);
    assert.deepEqual(unknown, [], `add these folders to MODEL, TOOLS or NEUTRAL in test/layering.test.ts`);
  });

  it("the parser finds the imports it must (so that an empty result means something)", () => {
    const sample = [
      'import type { Arch } from "../arch/arch.js";',
      'import { a, b } from "./x.js";',
      "import * as ns from '../y.js';",
      'import def, { c } from "../z.js";',
      'export { d } from "../w.js";',
      'export type { E } from "../v.js";',
      'export * from "../u.js";',
      'import "../side.js";',
      'const m = await import("../dyn.js");',
      '// import { no } from "../comment.js";',
      '/* import { no } from "../block.js"; */',
      'const s = "http://example"; import { yes } from "../after-url.js";',
    ].join("\n");
    assert.deepEqual(importSpecifiers(sample).sort(), [
      "../after-url.js",
      "../arch/arch.js",
      "../dyn.js",
      "../side.js",
      "../u.js",
      "../v.js",
      "../w.js",
      "../y.js",
      "../z.js",
      "./x.js",
    ]);
  });

  it("no model file imports a tool, except the listed exceptions", () => {
    const { edges, files, imports } = modelToToolEdges();
    assert.ok(files > 100, `walked ${files} files under src/`);
    assert.ok(imports > 150, `found ${imports} relative imports in the model`);
    const bad = edges.filter((e) => !EXCEPTIONS.has(`${e.from} → ${e.to}`));
    assert.deepEqual(
      bad.map((e) => `${e.from} → ${e.to}`),
      [],
      "the model (src/mm, kernel, drivers, fs, arch, hw) must not import the tools; " +
        "move the shared type or function into the model or src/lib/ and re-export it from the tool",
    );
  });

  it("the neutral modules (src/*.ts, src/lib/) import neither the model nor the tools", () => {
    const { edges, imports } = edgesBetween("neutral", ["model", "tool"]);
    assert.ok(imports >= 1, `found ${imports} relative imports in the neutral modules`);
    assert.deepEqual(
      edges.map((e) => `${e.from} → ${e.to}`),
      [],
    );
  });

  it("every listed exception still occurs (the list only shrinks)", () => {
    const seen = new Set(modelToToolEdges().edges.map((e) => `${e.from} → ${e.to}`));
    const stale = [...EXCEPTIONS.keys()].filter((k) => !seen.has(k));
    assert.deepEqual(stale, [], "remove these entries from EXCEPTIONS: the import is gone");
  });
});

// Generic code does not ask which architecture it runs on: it calls the arch's
// hooks (ArchMm, ArchSetup in src/arch/arch.ts), as mm/ calls arch_add_memory()
// and friends. The only switches on the arch are src/arch/index.ts's
// createArchMm() and archSetup(), and the host's choice of QEMU machine below.

/** Folders of the model outside src/arch that must not branch on the arch. */
const GENERIC = ["mm", "kernel", "drivers", "fs", "hw"] as const;

/**
 * Known arch branches outside src/arch, as "file: line text", each with the
 * reason it is there. Remove an entry with its branch.
 */
const ARCH_BRANCHES_ALLOWED: ReadonlyMap<string, string> = new Map<string, string>([
  [
    'hw/board.ts: case "x86_64":',
    "the host, not the guest kernel: QEMU's machine type (pc for x86_64, virt for arm64) is the host's per-arch choice",
  ],
  ['hw/board.ts: case "arm64":', "the same switch (createBoard())"],
]);

/** The lines of a file that branch on the architecture (comments left out). */
export function archBranches(text: string): string[] {
  const out: string[] = [];
  for (const line of stripComments(text).split("\n")) {
    const t = line.trim();
    if (
      /["'`](x86_64|arm64)["'`]/.test(t) || // a literal arch name: a comparison, a case, a key
      /\barch\s*[!=]==/.test(t) || // arch === ..., config.arch !== ...
      /[!=]==\s*[\w.]*\barch\b/.test(t) // ... === cfg.arch
    )
      out.push(t);
  }
  return out;
}

describe("layering: generic code calls arch hooks instead of branching on the arch", () => {
  it("the scanner finds the branches it must", () => {
    const sample = [
      'if (arch === "arm64") x();',
      "const y = cfg.arch !== other ? 1 : 2;",
      "if (a === board.config.arch) z();",
      '  case "x86_64":',
      "const t = { x86_64: 1 }[arch];",
      '// if (arch === "arm64") in a comment',
      "const archName = k.arch.arch;",
      "k.arch.archAddMemory(ctx, 0, 0, 0, {});",
    ].join("\n");
    assert.deepEqual(archBranches(sample), [
      'if (arch === "arm64") x();',
      "const y = cfg.arch !== other ? 1 : 2;",
      "if (a === board.config.arch) z();",
      'case "x86_64":',
    ]);
  });

  it("no file of src/{mm,kernel,drivers,fs,hw} branches on the arch, except the listed places", () => {
    const found: string[] = [];
    let files = 0;
    for (const abs of walk(SRC)) {
      const rel = path.relative(SRC, abs).split(path.sep).join("/");
      if (!(GENERIC as readonly string[]).includes(rel.split("/")[0])) continue;
      files++;
      for (const line of archBranches(readFileSync(abs, "utf8"))) found.push(`${rel}: ${line}`);
    }
    assert.ok(files > 40, `scanned ${files} generic model files`);
    assert.deepEqual(
      found.filter((f) => !ARCH_BRANCHES_ALLOWED.has(f)),
      [],
      "generic code must not ask which arch it runs on: add a hook to ArchMm or ArchSetup (src/arch/arch.ts) " +
        "and implement it in src/arch/<arch>/",
    );
    const stale = [...ARCH_BRANCHES_ALLOWED.keys()].filter((k) => !found.includes(k));
    assert.deepEqual(stale, [], "remove these entries from ARCH_BRANCHES_ALLOWED: the branch is gone");
  });

  it("the host does not construct the guest's drivers", () => {
    const host = readFileSync(path.join(SRC, "hw", "host.ts"), "utf8");
    const driverImports = importSpecifiers(host).filter((s) => s.includes("/drivers/"));
    assert.deepEqual(driverImports, [], "src/hw/host.ts holds devices; the guest's drivers bind to them");
  });
});

describe("file headers", () => {
  it("every file of src/ starts with a comment that says what it is (CONTRIBUTING.md)", () => {
    const files = walk(SRC);
    const bare = files
      .filter((f) => !/^\s*(\/\/|\/\*)/.test(readFileSync(f, "utf8")))
      .map((f) => path.relative(SRC, f));
    assert.ok(files.length > 100);
    assert.deepEqual(bare, [], "start these files with a comment naming what they model or do");
  });
});
