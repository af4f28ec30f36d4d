// memhp import (src/tools/import.ts): a machine's memory layout read back into
// a scenario. Always: the model's own export imports into a machine whose
// lsmem is the same. With the oracle: the real kernel's tree after a hot-add
// and onlining is imported, the model boots the import, the rest of the
// scenario runs on both, and their records must agree (sysfs reads, writes'
// errnos, ls, DIMM events; /proc reads are left out: boot-time counters differ,
// docs/divergences.md).

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseScenario } from "../src/scenario/parse.js";
import { runScenario, runScenarioKernel } from "../src/scenario/run.js";
import { OracleSession, oracleUnavailable } from "../src/oracle/run.js";
import { exportModel, writeSysroot } from "../src/tools/sysroot.js";
import { dumpGuest } from "../src/tools/oracle-export.js";
import { importMachine } from "../src/tools/import.js";
import type { TraceRecord } from "../src/scenario/trace.js";
import type { Arch } from "../src/scenario/ast.js";

const tmp = (tag: string) => fs.mkdtempSync(path.join(os.tmpdir(), `memhp-import-${tag}-`));
const M = "/sys/devices/system/memory";

test("the model's export imports into the same layout", () => {
  const text = `machine x86_64 mem=2G maxmem=8G
boot
dimm-add a size=512M
dimm-add b size=1G
write ${M}/memory32/state online_movable
write ${M}/memory36/state online
write ${M}/memory37/state online_movable
write ${M}/memory5/state offline
`;
  const dir = tmp("m");
  exportModel(runScenarioKernel(parseScenario(text, "t")), dir);
  const r = importMachine({ sysroot: dir });
  assert.equal(r.arch, "x86_64");
  assert.equal(r.memBytes, 2 * 2 ** 30);
  assert.deepEqual(
    r.dimms.map(([a, b]) => [a.toString(16), (b - a) / 2 ** 20]),
    [
      ["100000000", 512],
      ["120000000", 1024],
    ],
  );
  const again = tmp("again");
  exportModel(runScenarioKernel(parseScenario(r.scenario, "import")), again);
  const states = (d: string) =>
    fs
      .readdirSync(path.join(d, M))
      .filter((n) => n.startsWith("memory"))
      .sort()
      .map((n) =>
        ["state", "valid_zones"].map((f) => fs.readFileSync(path.join(d, M, n, f), "utf8")).join(" "),
      );
  assert.deepEqual(states(again), states(dir));
  assert.ok(r.notes.some((n) => /maxmem/.test(n)));
});

const ROUND_TRIP: Record<Arch, { prefix: string; rest: string }> = {
  x86_64: {
    prefix: `machine x86_64 mem=1G maxmem=8G
boot
dimm-add d0 size=1G
write ${M}/memory32/state online_movable
write ${M}/memory33/state online
`,
    // Only ZONE_MOVABLE blocks are offlined: whether a ZONE_NORMAL block can be
    // offlined depends on where each boot put its unmovable pages, which an
    // import cannot carry (docs/tools.md).
    rest: `read ${M}/memory32/valid_zones
read ${M}/memory34/valid_zones
read ${M}/memory33/state
write ${M}/memory34/state online_movable
write ${M}/memory32/state offline
read ${M}/memory33/valid_zones
read ${M}/memory36/valid_zones
dimm-add d1 size=512M
ls ${M}
read ${M}/memory40/valid_zones
dimm-del d1
write ${M}/memory34/state offline
ls ${M}
`,
  },
  arm64: {
    prefix: `machine arm64 mem=1G maxmem=8G
boot
dimm-add d0 size=1G
write ${M}/memory16/state online_movable
write ${M}/memory17/state online
`,
    rest: `read ${M}/memory16/valid_zones
read ${M}/memory18/valid_zones
read ${M}/memory17/state
write ${M}/memory18/state online_movable
write ${M}/memory16/state offline
read ${M}/memory16/valid_zones
dimm-add d1 size=512M
ls ${M}
read ${M}/memory24/valid_zones
dimm-del d1
write ${M}/memory18/state offline
ls ${M}
`,
  },
};

/** What the comparison holds equal: everything but /proc reads (counters of each boot). */
function comparable(recs: TraceRecord[]): unknown[] {
  return recs
    .filter((r) => !(r.op === "read" && String((r as { path?: string }).path).startsWith("/proc/")))
    .map((r) => {
      const { line: _line, ...rest } = r as TraceRecord & { line: number; settled?: boolean };
      delete (rest as { settled?: boolean }).settled;
      delete (rest as { reason?: string }).reason; // the model's why, never compared
      return rest;
    });
}

for (const arch of ["x86_64", "arm64"] as const) {
  test(
    `import round trip on the real ${arch} kernel: import after hot-add, then the same statements on both`,
    { timeout: 900_000 },
    async (t) => {
      const why = oracleUnavailable(arch);
      if (why) return t.skip(`the oracle is unavailable: ${why}`);
      const { prefix, rest } = ROUND_TRIP[arch];
      const full = parseScenario(prefix + rest, `${arch}-round-trip`);
      const nPrefix = parseScenario(prefix, "prefix").body.length;
      const session = await OracleSession.start(full, { requestTimeoutMs: 300_000, bootTimeoutMs: 600_000 });
      const kernel: TraceRecord[] = [];
      let imported;
      try {
        for (const st of full.body.slice(0, nPrefix)) await session.run(st);
        const dir = tmp("k");
        fs.rmdirSync(dir);
        writeSysroot(dir, await dumpGuest(session));
        imported = importMachine({ sysroot: dir });
        for (const st of full.body.slice(nPrefix)) kernel.push(await session.run(st));
      } finally {
        await session.close();
      }
      assert.equal(imported.arch, arch);
      assert.match(imported.scenario, new RegExp(`machine ${arch} mem=1G maxmem=8G`));
      // the model boots the import and runs the rest
      const text = imported.scenario + rest;
      const sc = parseScenario(text, "imported");
      const model = runScenario(sc).records.slice(sc.body.length - kernel.length);
      assert.equal(model.length, kernel.length);
      assert.deepEqual(comparable(model), comparable(kernel));
      assert.ok(comparable(kernel).length >= 10, "the comparison compares something");
    },
  );
}

test(
  "memhp import reads a live machine without failing",
  { skip: fs.existsSync(`${M}/block_size_bytes`) ? false : "no memory hotplug sysfs here" },
  () => {
    // This machine's layout need not be a QEMU board's: either a scenario or a clear refusal.
    try {
      const out = execFileSync("node", ["bin/memhp.js", "import"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
      assert.match(out, /^machine (x86_64|arm64) mem=/m);
    } catch (e) {
      const err = e as { status: number; stderr: string };
      assert.equal(err.status, 2);
      assert.match(err.stderr, /memhp: no machine of the model's boards/);
    }
  },
);
