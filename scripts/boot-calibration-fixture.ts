// Reduces the output of scripts/boot-calibration.ts (JSON lines, one per machine)
// to the boot-calibration fixture (test/fixtures/boot-calibration.json): per
// machine, the first reading's numbers the stricter judge compares as values
// (MemTotal, MemFree, DirectMap*, each zone's spanned/present/managed, free
// pages, watermarks, protection, per-cpu high and batch), and the boot log's
// "Memory:" and hash-table lines. With --compare, prints instead how the model's
// boot differs from each machine's numbers.
//
//   node --import tsx scripts/boot-calibration-fixture.ts out.jsonl... > test/fixtures/boot-calibration.json
//   node --import tsx scripts/boot-calibration-fixture.ts --compare out.jsonl...

import { readFileSync } from "node:fs";
import { counterNumbers } from "../src/scenario/diff.js";
import {
  bootCalibrationMachine,
  compareBootCalibration,
  type BootCalibration,
} from "../test/support/boot-calibration.js";

const KEEP =
  /^(MemTotal|MemFree|DirectMap4k|DirectMap2M|DirectMap1G)$|: (spanned|present|managed|pages free|nr_free_pages|min|low|high|protection: .*|cpu 0 high|cpu 0 batch)$/;

const ABOUT =
  "First readings of /proc/meminfo and /proc/zoneinfo right after boot on Debian's 6.1 cloud kernels (memhp oracle, QEMU TCG), and the boot log's reservation lines; made by scripts/boot-calibration.ts and scripts/boot-calibration-fixture.ts (issue 16).";

interface Raw {
  arch: string;
  mem: string;
  maxmem: string;
  slots: string | null;
  release: string;
  records: { path: string; value: string }[];
  dmesg: string;
}

const args = process.argv.slice(2);
const compare = args[0] === "--compare";
const exact = args[1] === "--exact";
const files = args.slice((compare ? 1 : 0) + (exact ? 1 : 0));
const machines: BootCalibration["machines"] = [];
for (const f of files)
  for (const line of readFileSync(f, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as Raw;
    const numbers: Record<string, number> = {};
    for (const rec of r.records)
      for (const [k, v] of counterNumbers(rec.path, rec.value)) if (KEEP.test(k)) numbers[k] = v;
    // zones with no memory (all their numbers 0) say nothing
    for (const zone of new Set(Object.keys(numbers).map((k) => /^(Node \d+, zone \w+): /.exec(k)?.[1])))
      if (zone && numbers[`${zone}: spanned`] === 0)
        for (const k of Object.keys(numbers)) if (k.startsWith(`${zone}: `)) delete numbers[k];
    const log = r.dmesg
      .split("\n")
      .map((l) => l.replace(/^\[[ 0-9.]+\] /, ""))
      .filter((l) =>
        /^Memory: |^(Dentry cache|Inode-cache|TCP established) hash table|IO TLB: mapped|cma: Reserved|^Freeing (initrd|unused)/.test(
          l,
        ),
      );
    machines.push({
      arch: r.arch as "x86_64" | "arm64",
      mem: r.mem,
      maxmem: r.maxmem,
      ...(r.slots ? { slots: Number(r.slots) } : {}),
      release: r.release,
      numbers,
      log,
    });
  }
if (compare) {
  for (const m of machines) {
    const diffs = compareBootCalibration(m, bootCalibrationMachine(m), exact ? () => 0 : undefined);
    process.stdout.write(`${m.arch} mem=${m.mem} maxmem=${m.maxmem}: ${diffs.length ? "" : "agrees"}\n`);
    for (const d of diffs)
      process.stdout.write(
        `  ${d.key}: model ${d.model} kernel ${d.kernel} (${d.model - d.kernel > 0 ? "+" : ""}${d.model - d.kernel})\n`,
      );
  }
} else {
  const out: BootCalibration = { about: ABOUT, machines };
  // one machine a line: a small file that diffs well
  const lines = out.machines.map((m) => "  " + JSON.stringify(m));
  process.stdout.write(
    `{\n "about": ${JSON.stringify(out.about)},\n "machines": [\n${lines.join(",\n")}\n ]\n}\n`,
  );
}
