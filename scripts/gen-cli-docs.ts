// Writes docs/cli/*.md from the CLI's --help (npm run docs:cli).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { cliDocPages } from "../src/cli/docs.js";
import { packagePath } from "../src/paths.js";

const dir = packagePath("docs", "cli");
mkdirSync(dir, { recursive: true });
const pages = cliDocPages();
for (const f of readdirSync(dir)) if (f.endsWith(".md") && !pages.has(f)) rmSync(path.join(dir, f));
for (const [name, text] of pages) writeFileSync(path.join(dir, name), text);
console.log(`wrote ${pages.size} pages to ${path.relative(process.cwd(), dir) || dir}`);
