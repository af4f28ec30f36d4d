// memhp as a package: `npm pack` makes a tarball that installs in an empty
// folder offline (its dependencies are bundled), with no dev dependencies and
// no build step; from that install `npx memhp run` works and the example
// program of docs/tools.md (run as it is printed there) works.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** The example program of docs/tools.md: the first ```js block after "## memhp as a library". */
export function exampleProgram(): string {
  const doc = fs.readFileSync(path.join(ROOT, "docs/tools.md"), "utf8");
  const at = doc.indexOf("## memhp as a library");
  assert.ok(at >= 0, "docs/tools.md has no library section");
  const m = /```js\n([\s\S]*?)```/.exec(doc.slice(at));
  assert.ok(m, "docs/tools.md has no example program");
  return m[1];
}

const built =
  fs.existsSync(path.join(ROOT, "dist/src/index.d.ts")) && fs.existsSync(path.join(ROOT, "web-ui/dist"));

test(
  "npm pack installs offline in an empty folder; npx memhp run and the library example work",
  { skip: built ? false : "not built (npm run build)", timeout: 600_000 },
  () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-pack-"));
    const env = {
      ...process.env,
      npm_config_audit: "false",
      npm_config_fund: "false",
      npm_config_update_notifier: "false",
    };
    // --ignore-scripts: the tree is built already (npm test builds first)
    const packed = JSON.parse(
      execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], {
        cwd: ROOT,
        encoding: "utf8",
        env,
      }),
    ) as { filename: string; files: { path: string }[] }[];
    const files = packed[0].files.map((f) => f.path);
    for (const f of [
      "bin/memhp.js",
      "dist/src/index.js",
      "dist/src/index.d.ts",
      "dist/src/cli/main.js",
      "scenarios/examples/x86-dimm.mhp",
    ])
      assert.ok(files.includes(f), `the tarball lacks ${f}`);
    assert.ok(
      !files.some((f) => f.startsWith("test/") || f.startsWith("dist/test/") || f.startsWith("src/")),
      "tests or sources in the tarball",
    );

    const app = path.join(tmp, "app");
    fs.mkdirSync(app);
    fs.writeFileSync(
      path.join(app, "package.json"),
      JSON.stringify({ name: "app", private: true, type: "module" }),
    );
    execFileSync(
      "npm",
      ["install", "--offline", "--omit=dev", "--ignore-scripts", path.join(tmp, packed[0].filename)],
      { cwd: app, env, stdio: "pipe" },
    );
    const nm = path.join(app, "node_modules");
    for (const dev of ["typescript", "eslint", "vite", "tsx", "playwright-core"])
      assert.ok(!fs.existsSync(path.join(nm, dev)), `dev dependency ${dev} installed`);
    assert.ok(
      fs.existsSync(path.join(nm, "commander")) ||
        fs.existsSync(path.join(nm, "memhp/node_modules/commander")),
      "the bundled dependencies are installed",
    );

    const trace = execFileSync(
      "npx",
      ["--offline", "memhp", "run", "node_modules/memhp/scenarios/examples/x86-dimm.mhp"],
      { cwd: app, encoding: "utf8", env },
    );
    const lines = trace
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { op: string; result?: string });
    assert.equal(lines[0].op, "system");
    assert.ok(lines.some((r) => r.op === "dimm-add" && r.result === "ok"));

    fs.writeFileSync(path.join(app, "example.mjs"), exampleProgram());
    const out = execFileSync("node", ["example.mjs"], { cwd: app, encoding: "utf8", env });
    assert.match(out, /^ok memory16 .* memory23$/m);
    assert.match(out, /^memory16: Movable$/m);
    assert.match(out, /^bogus: EINVAL$/m);
    assert.match(out, /^audit findings: 0 invariant violations: 0$/m);
    fs.rmSync(tmp, { recursive: true, force: true });
  },
);
