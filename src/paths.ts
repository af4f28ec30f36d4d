// Where the package's own files are (scenarios, docs, profiles), whether the code
// runs compiled from dist/ or from the sources.

import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

let root: string | undefined;

/** The folder holding memhp's package.json. */
export function packageRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error("memhp: cannot find the package root");
    dir = up;
  }
  root = dir;
  return dir;
}

export function packagePath(...parts: string[]): string {
  return path.join(packageRoot(), ...parts);
}
