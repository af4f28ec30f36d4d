// Collects boot calibration data on the real kernel (issue 16): for each machine
// given as "ARCH MEM MAXMEM [SLOTS]" on stdin, boots the oracle's guest cold,
// reads /proc/meminfo and /proc/zoneinfo at once, and takes the boot log's lines
// that say what the kernel reserved (the "Memory:" line, hash tables, swiotlb,
// percpu, CMA). One JSON object per machine on stdout.
//
//   printf 'x86_64 512M 1G\narm64 1G 2G\n' | node --import tsx scripts/boot-calibration.ts > out.jsonl
//
// Reduce the output to test/fixtures/boot-calibration.json with
// scripts/boot-calibration-fixture.ts.

import { createInterface } from "node:readline";
import { OracleSession } from "../src/oracle/run.js";
import { parseScenario } from "../src/scenario/parse.js";

const DMESG =
  "dmesg | grep -E 'Memory:|hash table entries|software IO TLB|swiotlb|percpu:|cma:|Reserved memory|Kernel command line|Zone ranges|node +0: \\[mem|DMA|Normal|Movable|initrd|RAMDISK|Freeing|reserved|NODE_DATA|On node 0|Built 1 zonelists|mem auto-init|crashkernel|e820: update|BIOS-e820|efi: mem'";

async function one(line: string): Promise<object> {
  const [arch, mem, maxmem, slots] = line.trim().split(/\s+/);
  const text = [
    `machine ${arch} mem=${mem} maxmem=${maxmem}${slots ? ` slots=${slots}` : ""}`,
    "boot",
    "read /proc/meminfo",
    "read /proc/zoneinfo",
    "",
  ].join("\n");
  const sc = parseScenario(text, "calib.mhp");
  const t0 = Date.now();
  const s = await OracleSession.start(sc, {
    savedBoot: false,
    bootTimeoutMs: 600_000,
    requestTimeoutMs: 120_000,
  });
  try {
    const records = [];
    for (const st of sc.body) records.push(await s.run(st));
    const dmesg = await s.exec(DMESG);
    return {
      arch,
      mem,
      maxmem,
      slots: slots ?? null,
      release: s.header.version,
      ms: Date.now() - t0,
      records,
      dmesg: dmesg.out,
    };
  } finally {
    await s.close();
  }
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim() || line.startsWith("#")) continue;
  try {
    process.stdout.write(JSON.stringify(await one(line)) + "\n");
    process.stderr.write(`done: ${line}\n`);
  } catch (e) {
    process.stderr.write(`failed: ${line}: ${(e as Error).message.split("\n")[0]}\n`);
  }
}
