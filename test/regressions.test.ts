// Replays every scenario under scenarios/regressions/ (failures the fuzzer found,
// shrunk; src/fuzz/regression.ts writes them) the way `memhp run --check` does:
// each must now run without an exception and with every invariant holding after
// every statement. A file marked `# known-bug:` documents a failure that is not
// fixed (or that the real kernel has too) and must still fail — when it stops
// failing, the marker should go.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { KNOWN_BUG, REGRESSION_DIR, repoRoot } from "../src/fuzz/regression.js";
import { replayText } from "../src/fuzz/shrink.js";

const dir = join(repoRoot(), REGRESSION_DIR);
const files = existsSync(dir)
  ? readdirSync(dir)
      .filter((f) => f.endsWith(".mhp"))
      .sort()
  : [];

describe("regression scenarios found by the fuzzer", () => {
  it("the folder holds regression scenarios", () => {
    assert.ok(files.length > 0, `no .mhp files in ${dir}`);
  });
  for (const f of files) {
    const text = readFileSync(join(dir, f), "utf8");
    const known = text.split("\n").find((l) => l.startsWith(KNOWN_BUG));
    it(`${f}${known ? " (known bug: must still fail)" : ""}`, () => {
      const failure = replayText(text);
      assert.notEqual(failure, "unparseable", `${f} does not parse`);
      if (known) assert.ok(failure, `${f} no longer fails: remove its "${KNOWN_BUG}" line`);
      else
        assert.equal(
          failure,
          undefined,
          `${f}: ${failure && failure !== "unparseable" ? failure.message : ""}`,
        );
    });
  }
});
