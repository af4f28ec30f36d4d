// memhp export (src/tools/sysroot.ts): the model's memory files as a sysroot,
// and util-linux's lsmem run on the model's export and on the real kernel's
// (memhp oracle --export-sysroot) for the corpus scenarios that hot-add memory.
// Without the oracle (QEMU and Debian's kernels) the live part skips with the
// reason; with MEMHP_ORACLE_LIVE=1 (CI) it runs every such scenario, otherwise
// one per architecture.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseScenario } from "../src/scenario/parse.js";
import { runScenarioKernel } from "../src/scenario/run.js";
import { oracleUnavailable } from "../src/oracle/run.js";
import { defaultOracleJobs } from "../src/oracle/parallel.js";
import {
  decodeDump,
  dumpModel,
  encodeDump,
  exportModel,
  writeSysroot,
  DumpError,
} from "../src/tools/sysroot.js";
import { runOracleExport } from "../src/tools/oracle-export.js";
import type { Arch } from "../src/scenario/ast.js";
import { memhp } from "./support/memhp-cli.js";

const tmp = (tag: string) => fs.mkdtempSync(path.join(os.tmpdir(), `memhp-export-${tag}-`));
const hasLsmem = (() => {
  try {
    execFileSync("lsmem", ["--version"], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
})();

/** The option sets the comparison runs lsmem with. */
export const LSMEM_OPTIONS: string[][] = [
  [],
  ["-a"],
  ["--summary"],
  ["-J"],
  ["-a", "-J"],
  ["-o", "RANGE,SIZE,STATE,REMOVABLE,BLOCK,NODE,ZONES"],
  ["-a", "-o", "RANGE,SIZE,STATE,REMOVABLE,BLOCK,NODE,ZONES"],
  ["-a", "-b", "-n", "-P", "-o", "RANGE,SIZE,STATE,BLOCK,NODE,ZONES"],
  ["--split", "STATE,NODE", "-r"],
];

const lsmem = (root: string, opts: string[]) =>
  execFileSync("lsmem", ["--sysroot", root, ...opts], {
    encoding: "utf8",
    env: { ...process.env, LC_ALL: "C" },
  });

function modelExport(text: string, file: string, dir: string): void {
  exportModel(runScenarioKernel(parseScenario(text, file)), dir);
}

test("a tree dump survives encode/decode, and a malformed one is refused", () => {
  const k = runScenarioKernel(
    parseScenario("machine x86_64 mem=1G maxmem=4G\nboot\ndimm-add d1 size=128M\n", "t"),
  );
  const d = dumpModel(k);
  assert.deepEqual(decodeDump(encodeDump(d)), d);
  assert.ok(d.some((e) => e.path === "/sys/devices/system/memory/memory32/state"));
  assert.throws(() => decodeDump("f ../etc/passwd 644 AA==\n"), DumpError);
  assert.throws(() => decodeDump("x /a\n"), DumpError);
});

test("the model's export: files as cat shows them, symlinks that resolve inside the folder", () => {
  const dir = tmp("model");
  modelExport("machine x86_64 mem=1G maxmem=4G\nboot\ndimm-add d1 size=256M\n", "t", dir);
  const mem = path.join(dir, "sys/devices/system/memory");
  assert.equal(fs.readFileSync(path.join(mem, "memory32/state"), "utf8"), "offline\n");
  assert.equal(fs.readFileSync(path.join(mem, "block_size_bytes"), "utf8"), "8000000\n");
  // memoryN/node0 -> ../../node/node0, a directory of the export
  assert.ok(fs.statSync(path.join(mem, "memory33/node0")).isDirectory());
  assert.match(fs.readFileSync(path.join(dir, "proc/iomem"), "utf8"), /100000000-10fffffff : System RAM/);
  assert.ok(fs.existsSync(path.join(dir, "proc/zoneinfo")));
  // an export never goes into a folder that holds something
  assert.throws(() => writeSysroot(dir, []), DumpError);
});

test("lsmem --sysroot reads the model's export", { skip: hasLsmem ? false : "no lsmem (util-linux)" }, () => {
  const dir = tmp("lsmem");
  modelExport(
    "machine x86_64 mem=1G maxmem=4G\nboot\ndimm-add d1 size=512M\nwrite /sys/devices/system/memory/memory33/state online_movable\n",
    "t",
    dir,
  );
  const out = lsmem(dir, ["-o", "RANGE,SIZE,STATE,BLOCK,ZONES"]);
  assert.match(out, /0x0000000108000000-0x000000010fffffff\s+128M\s+online\s+33\s+Movable/);
  assert.match(out, /0x0000000110000000-0x000000011fffffff\s+256M\s+offline\s+34-35/);
  assert.match(lsmem(dir, ["--summary"]), /Total offline memory:\s+384M/);
});

test("memhp export: from a scenario, from a snapshot, and the usage errors", () => {
  const dir = tmp("cli");
  const snap = path.join(dir, "s.snap");
  const a = path.join(dir, "a");
  const b = path.join(dir, "b");
  let r = memhp(["export", "--sysroot", a, "scenarios/examples/x86-dimm.mhp"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /exported \d+ files and \d+ symlinks/);
  // the example removes its DIMM at the end: boot memory only
  assert.deepEqual(
    fs.readdirSync(path.join(a, "sys/devices/system/memory")).filter((n) => /^memory\d+$/.test(n)).length,
    8,
  );
  const text = "machine arm64 mem=1G maxmem=4G\nboot\ndimm-add d1 size=256M\n";
  const scen = path.join(dir, "s.mhp");
  fs.writeFileSync(scen, text);
  assert.equal(memhp(["snapshot", "save", snap, "--from", scen]).status, 0);
  r = memhp(["export", "--sysroot", b, "--snapshot", snap]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    fs.readFileSync(path.join(b, "sys/devices/system/memory/memory17/state"), "utf8"),
    "offline\n",
  );
  r = memhp(["export", "--sysroot", b, "--snapshot", snap]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /not empty/);
  r = memhp(["export", "--sysroot", path.join(dir, "c")]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /give a scenario file or --snapshot/);
});

/** Corpus scenarios that hot-add memory (a DIMM or a virtio-mem resize), by architecture. */
function hotAddScenarios(): { file: string; arch: Arch }[] {
  const dir = "scenarios/oracle";
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".mhp"))
    .map((f) => path.join(dir, f))
    .filter((f) => /^\s*(dimm-add|vmem-resize)\b/m.test(fs.readFileSync(f, "utf8")))
    .map((file) => ({ file, arch: parseScenario(fs.readFileSync(file, "utf8"), file).machine.arch }));
}

const live = process.env.MEMHP_ORACLE_LIVE === "1";

test("lsmem prints the same for the model and the real kernel", { timeout: 3_600_000 }, async (t) => {
  if (!hasLsmem) return t.skip("no lsmem (util-linux)");
  const all = hotAddScenarios();
  assert.ok(all.some((s) => s.arch === "x86_64") && all.some((s) => s.arch === "arm64"));
  // MEMHP_EXPORT_ONLY=x86-vmem,arm64-vmem: just those scenarios (for re-running one);
  // MEMHP_EXPORT_PART=K/N (live): the scenarios whose index is K modulo N,
  // each architecture's first always (CI takes a third by the commit)
  const only = process.env.MEMHP_EXPORT_ONLY?.split(",");
  const part = /^(\d+)\/(\d+)$/.exec(process.env.MEMHP_EXPORT_PART ?? "");
  const firsts = (["x86_64", "arm64"] as const).map((a) => all.find((s) => s.arch === a)!);
  const chosen = only
    ? all.filter((s) => only.some((o) => s.file.includes(o)))
    : live
      ? all.filter(
          (s, i) => !part || firsts.includes(s) || i % Number(part[2]) === Number(part[1]) % Number(part[2]),
        )
      : firsts;
  if (live && part) t.diagnostic(`MEMHP_EXPORT_PART=${part[0]}: ${chosen.length} of ${all.length} scenarios`);
  // The guests' exports run in defaultOracleJobs() lanes (two on this
  // machine: a guest mostly waits), all started here; each subtest waits for
  // its own and compares, in the scenarios' order.
  const runs = chosen.map(({ file, arch }) => {
    const text = fs.readFileSync(file, "utf8");
    // ptdump reads page tables and changes nothing: left out on both sides
    const noPtdump = text
      .split("\n")
      .map((l) => (/^\s*ptdump\b/.test(l) ? "" : l))
      .join("\n");
    return { file, text, noPtdump, why: oracleUnavailable(arch) };
  });
  const kernelExports = inLanes(
    runs.filter((r) => !r.why),
    defaultOracleJobs(),
    async (r) => {
      const k = tmp("k");
      fs.rmdirSync(k);
      await runOracleExport(parseScenario(r.text, r.file), k, { skipPtdump: true, bootTimeoutMs: 600_000 });
      return k;
    },
  );
  for (const r of runs) {
    await t.test(r.file, async (tt) => {
      if (r.why) return tt.skip(`the oracle is unavailable: ${r.why}`);
      const m = tmp("m");
      modelExport(r.noPtdump, r.file, m);
      const k = await kernelExports.get(r)!;
      let compared = 0;
      for (const o of LSMEM_OPTIONS) {
        const a = lsmem(m, o);
        const b = lsmem(k, o);
        assert.notEqual(b.trim(), "", `lsmem ${o.join(" ")} printed nothing for the kernel`);
        assert.equal(a, b, `lsmem --sysroot ${o.join(" ")}: the model's export differs from the kernel's`);
        compared++;
      }
      assert.equal(compared, LSMEM_OPTIONS.length);
      fs.rmSync(m, { recursive: true, force: true });
      fs.rmSync(k, { recursive: true, force: true });
    });
  }
});

/** `fn` of each item, in `lanes` lanes that each take their items in order; each item's promise. */
function inLanes<T, R>(items: readonly T[], lanes: number, fn: (x: T) => Promise<R>): Map<T, Promise<R>> {
  const tails: Promise<unknown>[] = Array.from({ length: Math.max(1, lanes) }, () => Promise.resolve());
  const out = new Map<T, Promise<R>>();
  items.forEach((x, i) => {
    const lane = i % tails.length;
    const p = tails[lane].then(() => fn(x));
    tails[lane] = p.catch(() => undefined);
    p.catch(() => {}); // its subtest awaits it and reports the error
    out.set(x, p);
  });
  return out;
}
