// The oracle on the RFC-patched kernel (linux-patches/, `memhp oracle --kernel
// patched`): `call` statements go to the test module's debugfs file, the
// scenario's driver-managed memory is a cold-plugged DIMM no driver adds, and
// ptdump records are held against the kernel's own page-table dump. Tested
// without QEMU; the RFC corpus (test/corpus.test.ts) runs them on the kernel.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Located, RunStatement } from "../src/scenario/ast.js";
import { parseScenario } from "../src/scenario/parse.js";
import { QmpSession } from "../src/oracle/qmp.js";
import { kernelAppend, needsRawMemory, qemuArgs, rawMemoryBytes } from "../src/oracle/qemu.js";
import { PATCHED_MODULE, findPatchedKernel } from "../src/oracle/cache.js";
import { TEST_MODULE_CTL, oracleUnavailable, runStatement, type GuestRequester } from "../src/oracle/run.js";
import { clipRuns, compareWithKernelPtdump, parseKernelPtdump } from "../src/oracle/kernel-ptdump.js";
import { kernelFor, recordedTracePath } from "../src/oracle/record.js";
import { listAllCorpus } from "../src/scenario/corpus.js";
import { memhp } from "./support/memhp-cli.js";
import type { PtdumpRecord } from "../src/scenario/trace.js";
import type { Snapshot } from "../src/oracle/protocol.js";

const PATHS = {
  vmlinuz: "/k/vmlinuz",
  initrd: "/k/initrd.gz",
  qmpSocket: "/t/qmp",
  guestSocket: "/t/guest",
  gdbSocket: "/t/gdb",
};

test("driver-managed memory for the test module: a cold-plugged DIMM and acpi_no_memhotplug, only when the scenario adds memory itself", () => {
  const calls = parseScenario(
    "machine x86_64 mem=2G maxmem=6G\nboot\ncall add_memory_driver_managed 0x108000000 512M\n",
    "a.mhp",
  );
  const plain = parseScenario("machine x86_64 mem=2G maxmem=6G\nboot\ndimm-add d1 size=1G\n", "b.mhp");
  assert.equal(needsRawMemory(calls), true);
  assert.equal(needsRawMemory(plain), false);
  assert.equal(rawMemoryBytes(calls), 4 * 2 ** 30);
  const args = qemuArgs(calls, PATHS, { rawMemory: true }).join(" ");
  assert.match(args, /memory-backend-ram,id=memhp-raw,size=4G -device pc-dimm,id=memhp-raw,memdev=memhp-raw/);
  assert.match(args, /-append console=ttyS0 quiet nokaslr acpi_no_memhotplug/);
  assert.match(args, /-m 2G,slots=4,maxmem=6G/);
  const stock = qemuArgs(calls, PATHS).join(" ");
  assert.doesNotMatch(stock, /pc-dimm|acpi_no_memhotplug/);
  assert.equal(kernelAppend(plain), "console=ttyS0 quiet nokaslr");
  // arm64 takes the same DIMM (virt's device memory starts past boot RAM)
  const arm = parseScenario(
    "machine arm64 mem=2G maxmem=4G\nboot\ncall add_memory 0xc0000000 128M\n",
    "c.mhp",
  );
  assert.match(qemuArgs(arm, PATHS, { rawMemory: true }).join(" "), /size=2G -device pc-dimm/);
  // with virtio-mem: the devices come first (QEMU places them in that order),
  // at the start of the device-memory region as in the model; the DIMM the rest
  const vmem = parseScenario(
    "machine x86_64 mem=2G maxmem=8G rfc=v2\nvmem vm0 size=512M\nboot\ncall add_memory_driver_managed 0x120000000 128M\n",
    "d.mhp",
  );
  assert.equal(rawMemoryBytes(vmem), 5.5 * 2 ** 30);
  assert.match(
    qemuArgs(vmem, PATHS, { rawMemory: true }).join(" "),
    /-device virtio-mem-pci,id=vm0,memdev=vmemvm0,requested-size=0 -object memory-backend-ram,id=memhp-raw,size=5632M -device pc-dimm/,
  );
});

function fakeGuest(replies: Record<string, { rc: string; err?: string; out?: string }>) {
  const asked: string[] = [];
  const g: GuestRequester = {
    async request(cmd, args = []) {
      asked.push(`${cmd} ${args.join(" | ")}`);
      const r = replies[`${cmd} ${args[1] ?? args[0] ?? ""}`];
      if (!r) throw new Error(`unexpected ${cmd} ${args.join(" ")}`);
      return { seq: 1, fields: new Map(Object.entries({ out: "", err: "", ...r })) };
    },
  };
  return { g, asked };
}

const ctx = {
  qmp: new QmpSession(() => {
    throw new Error("no QMP in this test");
  }),
  probe: async (): Promise<Snapshot> => ({ blocks: [], sig: "" }),
  clock: { now: () => 0, sleep: async () => undefined },
  settle: { pollMs: 1, stableMs: 1, limitMs: 1 },
};

test("call: the patched kernel's test module gets `FN ARGS` and the write's errno is the result", async () => {
  const sc = parseScenario(
    "machine x86_64 mem=2G maxmem=6G\nboot\n" +
      "call depopulate_range_driver_managed 0x110000000 128M\ncall populate_range_driver_managed 0x110000000 128M\n",
    "t.mhp",
  );
  const [dep, pop] = sc.body as Located<RunStatement>[];
  const { g, asked } = fakeGuest({
    "W depopulate_range_driver_managed 0x110000000 128M": {
      rc: "1",
      err: "sh: write error: Device or resource busy\n",
    },
    "W populate_range_driver_managed 0x110000000 128M": { rc: "0" },
  });
  const r1 = await runStatement(dep, g, ctx as never, 1000, undefined, true);
  assert.equal((r1 as { result: string }).result, "EBUSY");
  const r2 = await runStatement(pop, g, ctx as never, 1000, undefined, true);
  assert.equal((r2 as { result: string }).result, "ok");
  assert.deepEqual(asked, [
    `W ${TEST_MODULE_CTL} | depopulate_range_driver_managed 0x110000000 128M`,
    `W ${TEST_MODULE_CTL} | populate_range_driver_managed 0x110000000 128M`,
  ]);
  // Debian's kernel has no test module: ENOSYS without asking the guest
  const { g: g2, asked: asked2 } = fakeGuest({});
  assert.equal(((await runStatement(dep, g2, ctx as never, 1000)) as { result: string }).result, "ENOSYS");
  assert.deepEqual(asked2, []);
});

// x86_64's arch/x86/mm/dump_pagetables.c output after depopulating memory34 (seen on the patched kernel)
const X86_DUMP = `---[ Low Kernel Mapping ]---
0xffff888001c00000-0xffff88807fe00000        2018M     RW         PSE     GLB NX pmd
0xffff88807ffe0000-0xffff888080000000         128K                               pte
0xffff888080000000-0xffff888100000000           2G                               pud
0xffff888100000000-0xffff888108000000         128M                               pmd
0xffff888108000000-0xffff888110000000         128M     RW         PSE     GLB NX pmd
0xffff888110000000-0xffff888118000000         128M                               pmd
0xffff888118000000-0xffff888128000000         256M     RW         PSE     GLB NX pmd
0xffff888128000000-0xffff888140000000         384M                               pmd
---[ Vmemmap ]---
0xffffea0004200000-0xffffea0004a00000           8M     RW         PSE     GLB NX pmd
`;

// arm64's arch/arm64/mm/ptdump.c output (seen on the patched kernel)
const ARM64_DUMP = `0xffff0000bc400000-0xffff0000bc440000         256K PTE       RW NX SHD AF    CON     UXN    MEM/NORMAL-TAGGED
0xffff0000bc440000-0xffff0000bc730000        3008K PTE
0xffff0000bc730000-0xffff0000bc800000         832K PTE       RW NX SHD AF    CON     UXN    MEM/NORMAL-TAGGED
`;

test("the kernel's own page-table dump: present ranges only, both architectures' formats", () => {
  const x = parseKernelPtdump(X86_DUMP);
  assert.deepEqual(
    x.map((r) => `${r.va.toString(16)}-${r.end.toString(16)} ${r.level}`),
    [
      "ffff888001c00000-ffff88807fe00000 pmd",
      "ffff888108000000-ffff888110000000 pmd",
      "ffff888118000000-ffff888128000000 pmd",
      "ffffea0004200000-ffffea0004a00000 pmd",
    ],
  );
  const a = parseKernelPtdump(ARM64_DUMP);
  assert.deepEqual(
    a.map((r) => `${r.va.toString(16)} ${r.level}`),
    ["ffff0000bc400000 pte", "ffff0000bc730000 pte"],
  );
  // clipping to a range merges adjacent runs of one level
  const c = clipRuns(x, 0xffff888108000000n, 0xffff888120000000n);
  assert.deepEqual(
    c.map((r) => `${r.va.toString(16)}-${r.end.toString(16)}`),
    ["ffff888108000000-ffff888110000000", "ffff888118000000-ffff888120000000"],
  );
});

test("a ptdump record agrees with the kernel's dump, and a hole only one of them has is reported", () => {
  const rec: PtdumpRecord = {
    line: 17,
    op: "ptdump",
    start: "0x108000000",
    size: "0x20000000",
    linear: [
      { va: "0xffff888108000000", size: "0x8000000", level: "pmd", pa: "0x108000000" },
      { va: "0xffff888118000000", size: "0x10000000", level: "pmd", pa: "0x118000000" },
    ],
    vmemmap: [{ va: "0xffffea0004200000", size: "0x800000", level: "pmd", inRange: false }],
    tablePages: 9,
  };
  const ranges = {
    linear: [0xffff888108000000n, 0xffff888128000000n] as [bigint, bigint],
    vmemmap: [0xffffea0004200000n, 0xffffea0004a00000n] as [bigint, bigint],
  };
  assert.deepEqual(compareWithKernelPtdump(rec, X86_DUMP, ranges), []);
  const mapped = {
    ...rec,
    linear: [{ va: "0xffff888108000000", size: "0x20000000", level: "pmd" as const }],
  };
  const d = compareWithKernelPtdump(mapped, X86_DUMP, ranges);
  assert.equal(d.length, 1);
  assert.match(d[0], /line 17 linear: the host walk has \[0xffff888108000000-0xffff888128000000 pmd\]/);
});

test("the patched kernel in the cache, the RFC corpus and where its traces go", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-patched-"));
  assert.equal(findPatchedKernel("x86_64", dir), undefined);
  assert.match(
    oracleUnavailable("x86_64", { cacheDir: dir, kernel: "patched" }) ?? "",
    /linux-patches\/build.sh x86_64/,
  );
  const k = path.join(dir, "linux-patched-x86_64");
  fs.mkdirSync(path.join(k, "modules"), { recursive: true });
  fs.writeFileSync(path.join(k, "vmlinuz"), "");
  fs.writeFileSync(path.join(k, "release"), "6.1.192\n");
  fs.writeFileSync(path.join(k, "modules", PATCHED_MODULE), "");
  const found = findPatchedKernel("x86_64", dir);
  assert.equal(found?.release, "6.1.192");
  assert.equal(found?.patched, true);
  assert.equal(kernelFor("scenarios/oracle-rfc/x86-rfc-path.mhp"), "patched");
  assert.equal(kernelFor("scenarios/oracle/x86-vmem.mhp"), "stock");
  assert.equal(
    recordedTracePath("scenarios/oracle-rfc/x86-rfc-path.mhp", "x86_64", "patched"),
    "scenarios/oracle-rfc/x86-rfc-path.linux-patched-x86_64.jsonl",
  );
  const rfc = listAllCorpus().filter((e) => e.kernel === "patched");
  assert.ok(rfc.length >= 4, `RFC corpus entries: ${rfc.map((e) => e.name).join(", ")}`);
  for (const e of rfc)
    assert.ok(
      e.scenario.body.some((st) => st.op === "call"),
      `${e.name} calls the API`,
    );
});

test("memhp oracle runs an rfc=v2 machine on the series' build unless Debian's kernel is asked for", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-patched-cli-"));
  try {
    const file = path.join(dir, "v2.mhp");
    fs.writeFileSync(
      file,
      "machine arm64 mem=1G maxmem=2G rfc=v2 kernel=7.2\nboot\nread /proc/meminfo MemTotal\n",
    );
    const env = { MEMHP_CACHE: path.join(dir, "cache") };
    // an empty cache: the refusal names the kernel each choice would boot
    const byDefault = memhp(["oracle", "-q", file], { env });
    assert.equal(byDefault.status, 2, byDefault.stderr);
    assert.match(byDefault.stderr, /no patched 7\.2 arm64 kernel .*build\.sh arm64 normal 7\.2/);
    const stock = memhp(["oracle", "-q", "--kernel", "stock", file], { env });
    assert.equal(stock.status, 2, stock.stderr);
    assert.match(stock.stderr, /no 7\.2 arm64 kernel .*oracle-setup\.sh arm64 7\.2/);
    const release = memhp(["oracle", "-q", "--kernel", "6.12", file], { env });
    assert.match(release.stderr, /no patched 6\.12 arm64 kernel/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
