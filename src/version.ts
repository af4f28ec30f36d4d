// memhp's version, read from package.json: the one place it is written. Trace
// headers, snapshots and `memhp --version` all show this.

import { readFileSync } from "node:fs";
import { packagePath } from "./paths.js";

function readVersion(): string {
  const pkg = JSON.parse(readFileSync(packagePath("package.json"), "utf8")) as { version?: unknown };
  if (typeof pkg.version !== "string") throw new Error("memhp: package.json has no version");
  return pkg.version;
}

export const MODEL_VERSION: string = readVersion();
