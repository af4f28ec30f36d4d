// docs/cli/ is generated from --help: it must match what the CLI prints now.

import { it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { cliDocPages } from "../src/cli/docs.js";
import { ROOT } from "./support/memhp-cli.js";

const DIR = path.join(ROOT, "docs", "cli");

it("docs/cli has one current page per subcommand (npm run docs:cli rewrites them)", () => {
  const pages = cliDocPages();
  const stale: string[] = [];
  for (const [name, text] of pages) {
    const f = path.join(DIR, name);
    if (!existsSync(f) || readFileSync(f, "utf8") !== text) stale.push(name);
  }
  const extra = existsSync(DIR) ? readdirSync(DIR).filter((f) => f.endsWith(".md") && !pages.has(f)) : [];
  assert.deepEqual({ stale, extra }, { stale: [], extra: [] }, "run `npm run docs:cli` and commit docs/cli/");
  // Each subcommand page holds its usage line and its examples.
  for (const [name, text] of pages) {
    if (name === "README.md") continue;
    assert.match(text, new RegExp(`^Usage: memhp ${name.replace(".md", "")} `, "m"));
    assert.match(text, /^Examples:$/m);
  }
});
