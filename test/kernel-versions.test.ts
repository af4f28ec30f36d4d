// The model by release (machine ... kernel=6.12 or 7.2, docs/kernel-versions.md):
// the machine key, the differences modelled, `memhp compare`, and where the
// oracle finds the 6.12 and 7.2 kernels and their modules.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { parseScenario } from "../src/scenario/parse.js";
import { ScenarioError } from "../src/scenario/parse.js";
import { runScenario } from "../src/scenario/run.js";
import { compareVersions, parseVersionList } from "../src/scenario/versions.js";
import { findBusybox, findKernel, kernelModuleList, kernelRoot } from "../src/oracle/cache.js";
import { recordedTracePath } from "../src/oracle/record.js";
import { kernelAtLeast } from "../src/kernel/linux_version.js";
import { cpuSupportsBbml2Noabort } from "../src/arch/arm64/cpufeature.js";
import { arm64CpuOption } from "../src/oracle/qemu.js";
import { listCorpus, entryScenario } from "../src/scenario/corpus.js";
import { packagePath } from "../src/paths.js";
import { setupLines } from "../src/snapshot/snapshot.js";
import type { TraceRecord } from "../src/scenario/trace.js";
import { Kernel } from "../src/kernel/kernel.js";
import { MHP_NID_IS_MGID } from "../src/mm/memory_hotplug.js";
import { LEVEL_PUD } from "../src/mm/pgtable.js";
import { ENOMEM } from "../src/errno.js";

const G = 2 ** 30;
const BLOCK = 128 * 2 ** 20;

const BIN = packagePath("bin", "memhp.js");

function run(text: string) {
  return runScenario(parseScenario(text, "t.mhp"), { checkInvariants: true });
}
function valueAt(recs: readonly TraceRecord[], line: number): unknown {
  return (recs.find((r) => r.line === line) as { value?: unknown } | undefined)?.value;
}
/** The errno word (or "ok") of the statement at `line`. */
function resultAt(recs: readonly TraceRecord[], line: number): string | undefined {
  return (recs.find((r) => r.line === line) as { result?: string } | undefined)?.result;
}
/** HardwareCorrupted of the meminfo reading at `line`. */
function hardwareCorruptedAt(recs: readonly TraceRecord[], line: number): number | undefined {
  return (recs.find((r) => r.line === line) as { fields?: Record<string, number> }).fields!.HardwareCorrupted;
}

test("machine kernel=: 6.1 is the default, 6.12 and 7.2 the others, anything else is an error at its column", () => {
  assert.equal(parseScenario("machine x86_64 mem=1G maxmem=2G\nboot\n", "a").machine.kernel, undefined);
  assert.equal(
    parseScenario("machine x86_64 mem=1G maxmem=2G kernel=6.12\nboot\n", "a").machine.kernel,
    "6.12",
  );
  assert.equal(parseScenario("machine arm64 mem=1G maxmem=2G kernel=7.2\nboot\n", "a").machine.kernel, "7.2");
  assert.throws(
    () => parseScenario("machine x86_64 mem=1G maxmem=2G kernel=6.6\nboot\n", "a"),
    (e: unknown) =>
      e instanceof ScenarioError &&
      /1:\d+: kernel=6\.6: memhp models Linux 6\.1, 6\.12, 7\.2/.test(e.toString()),
  );
  // the series' build on each release (linux-patches/patches-6.12, patches-7.2)
  const rfc = parseScenario("machine x86_64 mem=1G maxmem=2G rfc=v2 kernel=6.12\nboot\n", "a").machine;
  assert.equal(rfc.rfc, "v2");
  assert.equal(rfc.kernel, "6.12");
  assert.ok(kernelAtLeast("6.12", "6.1") && !kernelAtLeast("6.1", "6.12"));
  assert.ok(kernelAtLeast("7.2", "6.12") && !kernelAtLeast("6.12", "7.2"));
});

test("the series' 6.12 and 7.2 builds have tinyconfig's options, not Debian's: offline by default, no Debian-only files", () => {
  const body =
    "boot\nread /sys/devices/system/memory/auto_online_blocks\nls /sys/devices/system/memory\nls /sys/devices/system/node/node0\n";
  for (const v of ["6.12", "7.2"]) {
    const x86 = run(`machine x86_64 mem=1G maxmem=8G rfc=v2 kernel=${v}\n${body}`).records;
    const deb = run(`machine x86_64 mem=1G maxmem=8G kernel=${v}\n${body}`).records;
    assert.equal(valueAt(x86, 3), "offline");
    assert.equal(valueAt(deb, 3), "online");
    const names = (r: unknown[], line: number) =>
      (r.find((x) => (x as { line: number }).line === line) as { names: string[] }).names;
    assert.ok(!names(x86, 4).includes("crash_hotplug") && names(deb, 4).includes("crash_hotplug"));
    assert.ok(!names(x86, 4).includes("hard_offline_page"));
    assert.ok(!names(x86, 5).includes("memory_failure") && names(deb, 5).includes("memory_failure"));
    // arm64's build sets CONFIG_MEMORY_FAILURE (linux-patches/config/arm64.config)
    const arm = run(`machine arm64 mem=1G maxmem=8G rfc=v2 kernel=${v}\n${body}`).records;
    assert.ok(names(arm, 4).includes("hard_offline_page") && names(arm, 5).includes("memory_failure"));
  }
});

test("6.12 onlines a hot-added DIMM (Debian 13's MHP_DEFAULT_ONLINE_TYPE_ONLINE_AUTO); 6.1 leaves it offline", () => {
  const body =
    "boot\nread /sys/devices/system/memory/auto_online_blocks\ndimm-add d1 size=256M\nread /sys/devices/system/memory/memory33/state\n";
  const old = run(`machine x86_64 mem=1G maxmem=8G\n${body}`).records;
  const neu = run(`machine x86_64 mem=1G maxmem=8G kernel=6.12\n${body}`).records;
  assert.equal(valueAt(old, 3), "offline");
  assert.equal(valueAt(old, 5), "offline");
  assert.equal(valueAt(neu, 3), "online");
  assert.equal(valueAt(neu, 5), "online");
  // memhp_default_state= still overrides the config on 6.12
  const off = run(
    `machine x86_64 mem=1G maxmem=8G kernel=6.12\ncmdline memhp_default_state=offline\n${body}`,
  ).records;
  assert.equal(valueAt(off, 6), "offline");
});

test("6.12: memmap_on_memory per memory block, and =force; 6.1 only for a one-block range", () => {
  const sc = (v: string) => `machine x86_64 mem=1G maxmem=8G kernel=${v}
cmdline memory_hotplug.memmap_on_memory=force memhp_default_state=offline
boot
read /sys/module/memory_hotplug/parameters/memmap_on_memory
read /proc/meminfo MemTotal MemFree
dimm-add d1 size=512M
read /proc/meminfo MemFree
write /sys/devices/system/memory/memory33/state online_movable
read /proc/meminfo MemTotal
dimm-del d1
ls /sys/devices/system/memory
`;
  const old = run(sc("6.1")).records;
  const neu = run(sc("6.12")).records;
  // 6.1's bool parameter refuses "force"
  assert.equal(valueAt(old, 4), "N");
  assert.equal(valueAt(neu, 4), "force");
  const free = (recs: readonly TraceRecord[], line: number) =>
    (recs.find((r) => r.line === line) as { fields: Record<string, number> }).fields.MemFree;
  // 6.1: the 8 MiB memmap of 512 MiB comes from boot memory; 6.12: from the DIMM itself
  assert.ok(free(old, 5) - free(old, 7) >= 8192, `6.1 MemFree fell by ${free(old, 5) - free(old, 7)} kB`);
  assert.ok(free(neu, 5) - free(neu, 7) < 1024, `6.12 MemFree fell by ${free(neu, 5) - free(neu, 7)} kB`);
  const total = (recs: readonly TraceRecord[], line: number) =>
    (recs.find((r) => r.line === line) as { fields: Record<string, number> }).fields.MemTotal;
  // onlining one 128 MiB block: the block keeps 2 MiB of its own for its struct pages on 6.12
  assert.equal(total(old, 9) - total(old, 5), 131072);
  assert.equal(total(neu, 9) - total(neu, 5), 131072 - 2048);
  // removal goes block by block and leaves nothing behind
  const names = (recs: readonly TraceRecord[]) =>
    (recs.find((r) => r.line === 11) as { names: string[] }).names;
  assert.ok(!names(neu).includes("memory32"));
});

test("6.12: zoneinfo's added lines, and ZONE_MOVABLE's min watermark capped like highmem", () => {
  const sc = (v: string) => `machine x86_64 mem=1G maxmem=8G kernel=${v}
cmdline memhp_default_state=online_movable
boot
dimm-add d1 size=256M
read /proc/zoneinfo
ls /sys/devices/system/memory
`;
  const z612 = String(valueAt(run(sc("6.12")).records, 5));
  const z61 = String(valueAt(run(sc("6.1")).records, 5));
  for (const l of ["nr_iommu_pages", "pgdemote_kswapd", "pgdemote_khugepaged", "promo", "nr_unaccepted"]) {
    assert.match(z612, new RegExp(`\\n\\s+${l} +\\d+`), l);
    assert.doesNotMatch(z61, new RegExp(`\\n\\s+${l} +\\d+`), l);
  }
  const movableMin = (z: string) =>
    Number(/zone {2}Movable\n {2}pages free +\d+\n +boost +\d+\n +min +(\d+)/.exec(z)?.[1]);
  // 65536 managed pages / 1024 = 64, within [SWAP_CLUSTER_MAX, 128]
  assert.equal(movableMin(z612), 64);
  assert.ok(movableMin(z61) > 128, `6.1 movable min ${movableMin(z61)}`);
  const names = (v: string) => (run(sc(v)).records.find((r) => r.line === 6) as { names: string[] }).names;
  assert.ok(names("6.12").includes("crash_hotplug") && names("6.12").includes("soft_offline_page"));
  assert.ok(!names("6.1").includes("crash_hotplug") && !names("6.1").includes("soft_offline_page"));
});

test("compareVersions: the same scenario on 6.1 and 6.12, differences against the first", () => {
  assert.deepEqual(parseVersionList("6.1,6.12"), ["6.1", "6.12"]);
  assert.throws(() => parseVersionList("6.1"), /at least two/);
  assert.throws(() => parseVersionList("6.1,6.1"), /twice/);
  assert.throws(() => parseVersionList("6.1,7.0"), /7\.0: memhp models/);
  const sc = parseScenario(
    "machine x86_64 mem=1G maxmem=8G\nboot\nread /sys/devices/system/memory/auto_online_blocks\nread /sys/devices/system/memory/block_size_bytes\n",
    "t.mhp",
  );
  const c = compareVersions(sc, ["6.1", "6.12"]);
  assert.equal(c.base.version, "6.1");
  const d = c.others[0].differences;
  assert.deepEqual(
    d.map((x) => [x.line, x.a, x.b]),
    [[3, "offline", "online"]],
    "only auto_online_blocks differs; block_size_bytes agrees",
  );
});

test("memhp compare: prints the differing lines, exit 1; exit 0 when the releases agree; usage errors exit 2", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-compare-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const f = path.join(dir, "a.mhp");
  fs.writeFileSync(
    f,
    "machine x86_64 mem=1G maxmem=8G\nboot\nread /sys/devices/system/memory/auto_online_blocks\n",
  );
  const r = spawnSync(process.execPath, [BIN, "compare", f], { encoding: "utf8" });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /6\.1 \(a\) and 6\.12 \(b\) differ: 1 difference/);
  assert.match(
    r.stdout,
    /line 3: read \/sys\/devices\/system\/memory\/auto_online_blocks\n {2}\[exact\] value: a "offline", b "online"/,
  );
  const g = path.join(dir, "b.mhp");
  fs.writeFileSync(
    g,
    "machine x86_64 mem=1G maxmem=8G\nboot\nread /sys/devices/system/memory/block_size_bytes\n",
  );
  assert.equal(
    execFileSync(process.execPath, [BIN, "compare", g], { encoding: "utf8" }),
    "6.1 and 6.12 agree\n6.1 and 7.2 agree\n",
  );
  const json = JSON.parse(
    spawnSync(process.execPath, [BIN, "compare", "--json", f], { encoding: "utf8" }).stdout,
  ) as { base: string; others: { version: string; differences: unknown[] }[] };
  assert.equal(json.base, "6.1");
  assert.equal(json.others[0].differences.length, 1);
  const bad = spawnSync(process.execPath, [BIN, "compare", "--kernel", "6.1,5.10", f], { encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--kernel 5\.10: memhp models Linux 6\.1, 6\.12, 7\.2/);
});

test("oracle cache: 6.12 lives in linux-6.12-ARCH; built-in modules are left out of the guest's list", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-cache612-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  assert.equal(kernelRoot("x86_64", dir), path.join(dir, "linux-x86_64"));
  assert.equal(kernelRoot("arm64", dir, "6.12"), path.join(dir, "linux-6.12-arm64"));
  const rel = "6.12.118+deb13-cloud-arm64";
  const root = path.join(dir, "linux-6.12-arm64");
  const mods = path.join(root, "lib", "modules", rel);
  fs.mkdirSync(path.join(root, "boot"), { recursive: true });
  fs.writeFileSync(path.join(root, "boot", `vmlinuz-${rel}`), "");
  fs.mkdirSync(path.join(mods, "kernel/drivers/virtio"), { recursive: true });
  for (const m of ["virtio_mem.ko", "virtio_mmio.ko"])
    fs.writeFileSync(path.join(mods, "kernel/drivers/virtio", m), "");
  fs.writeFileSync(
    path.join(mods, "modules.builtin"),
    ["virtio", "virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci"]
      .map((m) => `kernel/drivers/virtio/${m}.ko`)
      .concat(["kernel/drivers/char/virtio_console.ko"])
      .join("\n") + "\n",
  );
  assert.equal(findKernel("arm64", dir), undefined, "6.1's folder is empty");
  const k = findKernel("arm64", dir, "6.12");
  assert.equal(k?.release, rel);
  assert.equal(k?.version, "6.12");
  assert.deepEqual(kernelModuleList("arm64", true, k!), [
    "kernel/drivers/virtio/virtio_mem.ko",
    "kernel/drivers/virtio/virtio_mmio.ko",
  ]);
  fs.writeFileSync(path.join(mods, "modules.builtin"), "");
  assert.throws(() => kernelModuleList("arm64", true, k!), /virtio_ring\.ko is neither in .* nor built in/);
  assert.equal(findBusybox("arm64", dir, "6.12"), undefined);
  assert.equal(
    recordedTracePath("scenarios/oracle/x86-vmem.mhp", "x86_64", "stock", "6.12"),
    "scenarios/oracle/x86-vmem.linux-6.12-x86_64.jsonl",
  );
  assert.equal(
    recordedTracePath("scenarios/oracle/x86-vmem.mhp", "x86_64"),
    "scenarios/oracle/x86-vmem.linux-x86_64.jsonl",
  );
});

test("corpus: a scenario recorded on 6.12 (7.2) is an entry held to the model of 6.12 (7.2)", () => {
  const entries = listCorpus().filter((e) => e.name === "x86-v612-auto-online");
  assert.deepEqual(
    entries.map((e) => e.version),
    ["6.1", "6.12", "7.2"],
  );
  const e612 = entries.find((e) => e.version === "6.12")!;
  assert.equal(entryScenario(e612).machine.kernel, "6.12");
  assert.match(e612.kernelTraceFile, /x86-v612-auto-online\.linux-6\.12-x86_64\.jsonl$/);
  const e72 = entries.find((e) => e.version === "7.2")!;
  assert.equal(entryScenario(e72).machine.kernel, "7.2");
  assert.match(e72.kernelTraceFile, /x86-v612-auto-online\.linux-7\.2-x86_64\.jsonl$/);
});

test("snapshot: a 6.12 machine's set-up line keeps kernel= (and rfc=, cpu=), so it restores as 6.12", () => {
  const sc = parseScenario("machine x86_64 mem=1G maxmem=4G kernel=6.12\nboot\n", "t.mhp");
  assert.match(setupLines(sc)[0], / kernel=6\.12$/);
  assert.doesNotMatch(
    setupLines(parseScenario("machine x86_64 mem=1G maxmem=4G\nboot\n", "t.mhp"))[0],
    /kernel=/,
  );
  // the series and the CPU are part of the machine too
  const v3 = parseScenario(
    "machine arm64 mem=1G maxmem=4G rfc=v2 kernel=7.2 cpu=neoverse-v3\nboot\n",
    "t.mhp",
  );
  const line = setupLines(v3)[0];
  assert.match(line, / rfc=v2 kernel=7\.2 cpu=neoverse-v3$/);
  assert.deepEqual(parseScenario(`${line}\nboot\n`, "u.mhp").machine.cpu, "neoverse-v3");
});

test("7.2: zoneinfo's lines (nr_free_pages_blocks, high_min/high_max, highatomic; nr_bounce and nr_writeback_temp gone)", () => {
  const sc = (v: string) => `machine x86_64 mem=1G maxmem=8G kernel=${v}
boot
read /proc/zoneinfo
`;
  const z72 = String(valueAt(run(sc("7.2")).records, 3));
  const z612 = String(valueAt(run(sc("6.12")).records, 3));
  for (const l of [
    "nr_free_pages_blocks",
    "nr_vmalloc",
    "pgsteal_kswapd",
    "pgrefill",
    "nr_balloon_pages",
    "high_min:",
    "high_max:",
    "reserved_highatomic:",
    "free_highatomic:",
  ]) {
    assert.match(z72, new RegExp(`\\n\\s+${l} +\\d+`), l);
    assert.doesNotMatch(z612, new RegExp(`\\n\\s+${l} +\\d+`), l);
  }
  for (const l of ["nr_bounce", "nr_writeback_temp"]) {
    assert.doesNotMatch(z72, new RegExp(`\\n\\s+${l} +\\d+`), l);
    assert.match(z612, new RegExp(`\\n\\s+${l} +\\d+`), l);
  }
  // DMA32: the free pages in whole pageblocks are most of the free pages, never more
  const dma32 = z72.slice(z72.indexOf("zone    DMA32"));
  const num = (re: RegExp) => Number(re.exec(dma32)?.[1]);
  const free = num(/nr_free_pages +(\d+)/);
  const blocks = num(/nr_free_pages_blocks +(\d+)/);
  assert.ok(blocks > 0 && blocks <= free && blocks % 512 === 0, `blocks ${blocks} of ${free}`);
  // high_max: the managed pages / MIN_PERCPU_PAGELIST_HIGH_FRACTION (8) when the pagesets were sized
  const highMax = num(/high_max: +(\d+)/);
  const managed = num(/managed +(\d+)/);
  assert.ok(highMax > 0 && highMax <= Math.floor(managed / 8), `high_max ${highMax}, managed ${managed}`);
});

test("7.2: the lowmem reserves follow the managed pages (adjust_managed_page_count()); 6.12 keeps the boot-time ones", () => {
  // late boot frees the init sections after the reserves were computed: on 7.2
  // ZONE_DMA's protection against DMA32 is DMA32's final managed / 256, on 6.12 less
  const sc = (v: string) => `machine x86_64 mem=1G maxmem=8G kernel=${v}\nboot\nread /proc/zoneinfo\n`;
  const prot = (v: string) => {
    const z = String(valueAt(run(sc(v)).records, 3));
    const dmaProt = Number(/zone {6}DMA\n[\s\S]*?protection: \(0, (\d+),/.exec(z)?.[1]);
    const dma32Managed = Number(/zone {4}DMA32\n[\s\S]*?managed +(\d+)/.exec(z)?.[1]);
    return { dmaProt, expected: Math.floor(dma32Managed / 256) };
  };
  const p72 = prot("7.2");
  assert.equal(p72.dmaProt, p72.expected);
  const p612 = prot("6.12");
  assert.ok(p612.dmaProt < p612.expected, `6.12: ${p612.dmaProt} vs ${p612.expected}`);
});

test("oracle cache: 7.2 lives in linux-7.2-ARCH, vmlinuz beside the modules as sid's linux-binary has it", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-cache72-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  assert.equal(kernelRoot("x86_64", dir, "7.2"), path.join(dir, "linux-7.2-x86_64"));
  const rel = "7.2.13+deb14-cloud-amd64";
  const root = path.join(dir, "linux-7.2-x86_64");
  const mods = path.join(root, "usr", "lib", "modules", rel);
  fs.mkdirSync(mods, { recursive: true });
  fs.writeFileSync(path.join(mods, "vmlinuz"), "");
  fs.symlinkSync("usr/lib", path.join(root, "lib"));
  // what scripts/oracle-setup.sh links for cache.ts
  fs.mkdirSync(path.join(root, "boot"));
  fs.symlinkSync(`../lib/modules/${rel}/vmlinuz`, path.join(root, "boot", `vmlinuz-${rel}`));
  const k = findKernel("x86_64", dir, "7.2");
  assert.equal(k?.release, rel);
  assert.equal(k?.version, "7.2");
  assert.ok(fs.existsSync(k!.vmlinuz));
  assert.equal(findKernel("x86_64", dir, "6.12"), undefined);
  assert.equal(
    recordedTracePath("scenarios/oracle/x86-vmem.mhp", "x86_64", "stock", "7.2"),
    "scenarios/oracle/x86-vmem.linux-7.2-x86_64.jsonl",
  );
});

test("7.2 (arm64): the leaf-split rule is on, but KFENCE keeps Debian's linear map page granular", () => {
  const sc = (v: string, extra = "") => `machine arm64 mem=1G maxmem=8G kernel=${v}
cmdline rodata=off memhp_default_state=online_movable${extra}
boot
dimm-add d1 size=1G
write /sys/devices/system/memory/memory16/state offline
dimm-del d1
ptdump 0x80000000 1G
`;
  const result = (recs: readonly TraceRecord[], line: number) =>
    (recs.find((r) => r.line === line) as { result?: string } | undefined)?.result;
  // 6.1 (no KFENCE): rodata=off maps the 1 GiB DIMM with one block; with the
  // rule asked for, offlining 128 MiB of it is refused
  const r61 = run(sc("6.1", " memhp.arm64_reject_leaf_split=1")).records;
  assert.equal(result(r61, 5), "EPERM");
  assert.equal(result(r61, 6), "EBUSY");
  assert.equal(result(run(sc("6.1")).records, 5), "ok");
  // 7.2 has the rule, but its linear map is pages (KFENCE late init): nothing to split
  const r72 = run(sc("7.2")).records;
  assert.equal(result(r72, 5), "ok");
  assert.equal(result(r72, 6), "ok");
  // the DIMM's linear map on 7.2: one run of pages at the 52-bit linear address
  const added = run(
    "machine arm64 mem=1G maxmem=8G kernel=7.2\ncmdline rodata=off\nboot\ndimm-add d1 size=1G\nptdump 0x80000000 1G\n",
  ).records.find((r) => r.op === "ptdump") as unknown as { linear: { level: string; va: string }[] };
  assert.deepEqual(
    added.linear.map((l) => [l.level, l.va]),
    [["pte", "0xfff0000080000000"]],
  );
});

test("arm64 BBML2_NOABORT (cpu=neoverse-v3): 7.2 maps with blocks under rodata=full and refuses to offline inside one", () => {
  assert.ok(cpuSupportsBbml2Noabort("neoverse-v3", "7.2"));
  assert.ok(!cpuSupportsBbml2Noabort("neoverse-v3", "6.12"), "6.12 has no BBML2_NOABORT");
  assert.ok(!cpuSupportsBbml2Noabort("max", "7.2"), "QEMU's max is not on the allow-list");
  const sc = (v: string, cpu: string) =>
    `machine arm64 mem=1G maxmem=8G kernel=${v} cpu=${cpu}\ncmdline memhp_default_state=online_movable\nboot\n` +
    "read /proc/meminfo MemTotal\ndimm-add d1 size=1G\nptdump 0x80000000 1G\n" + // 4-6
    "write /sys/devices/system/memory/memory16/state offline\ndimm-del d1\n"; // 7, 8
  const levels = (recs: readonly TraceRecord[]) =>
    (recs.find((r) => r.op === "ptdump") as unknown as { linear: { level: string }[] }).linear.map(
      (l) => l.level,
    );
  const v3 = run(sc("7.2", "neoverse-v3")).records;
  assert.deepEqual(levels(v3), ["pud"], "one 1 GiB leaf");
  assert.equal(resultAt(v3, 7), "EPERM", "the block would split the leaf");
  assert.equal(resultAt(v3, 8), "EBUSY");
  const max = run(sc("7.2", "max")).records;
  assert.deepEqual(levels(max), ["pte"]);
  assert.equal(resultAt(max, 7), "ok");
  // boot's linear map with blocks reserves fewer table pages (arm64-v72-bbml2: 981956 kB)
  const memTotal = (recs: readonly TraceRecord[]) =>
    (recs.find((r) => r.line === 4) as { fields?: Record<string, number> }).fields!.MemTotal;
  assert.equal(memTotal(v3), 981956);
  assert.equal(memTotal(max), 979936);
  // 6.12 ignores the CPU
  assert.deepEqual(levels(run(sc("6.12", "neoverse-v3")).records), ["pte"]);
  // the oracle's QEMU: max with the MIDR (the kernel's allow-list is by MIDR only)
  assert.equal(arm64CpuOption(undefined), "max,pauth-impdef=on");
  assert.equal(arm64CpuOption("neoverse-v3"), "max,pauth-impdef=on,midr=0x410fd842");
});

test("the 7.2 series on a BBML2_NOABORT CPU splits a live leaf to depopulate or unmap inside it; rodata=off and 6.12 refuse", () => {
  const sc = (v: string, cmdline = "") =>
    `machine arm64 mem=2G maxmem=4G rfc=v2 kernel=${v} cpu=neoverse-v3\n${cmdline}boot\n` +
    "write /sys/devices/system/memory/auto_online_blocks online_movable\n" +
    "call add_memory_driver_managed 0xc0000000 1G\nptdump 0xc0000000 1G\n" +
    "call depopulate_range_driver_managed 0xc8000000 128M\nptdump 0xc0000000 1G\n" +
    "call alloc_contig_range_unmapped 0xd0400000 4M\nptdump 0xd0000000 64M\n";
  type Pt = { linear: { level: string; va: string; size: string }[]; tablePages: number };
  const pt = (recs: readonly TraceRecord[]) => recs.filter((r) => r.op === "ptdump") as unknown as Pt[];
  const v3 = run(sc("7.2")).records;
  const [whole, split, run2m] = pt(v3);
  assert.deepEqual(
    whole.linear.map((l) => l.level),
    ["pud"],
  );
  assert.equal(resultAt(v3, 6), "ok", "depopulate one block of the GiB leaf");
  // split_pud(): one PMD table, the other blocks as 32 MiB contiguous runs
  assert.equal(split.tablePages, whole.tablePages + 1);
  assert.deepEqual(
    split.linear.map((l) => [l.va, l.size]),
    [
      ["0xffff0000c0000000", "0x8000000"],
      ["0xffff0000d0000000", "0x30000000"],
    ],
  );
  assert.equal(
    resultAt(v3, 8),
    "ok",
    "4 MiB inside a contiguous run: the run becomes 2 MiB blocks, no table page",
  );
  assert.equal(run2m.tablePages, split.tablePages);
  assert.deepEqual(
    run2m.linear.map((l) => [l.va, l.size]),
    [
      ["0xffff0000d0000000", "0x400000"],
      ["0xffff0000d0800000", "0x3800000"],
    ],
  );
  // the split's page-table page cannot be had: -ENOMEM, nothing split, offlined or unmapped
  for (const op of ["depopulate", "unmapped"] as const) {
    const k = Kernel.boot({
      arch: "arm64",
      memBytes: 2 * G,
      maxmemBytes: 4 * G,
      rfc: "v2",
      kernel: "7.2",
      cpu: "neoverse-v3",
      seed: 1,
    });
    const base = 0xc0000000;
    const mgid = k.memory.memoryGroupRegisterStatic(0, k.board.deviceMemorySize / 4096);
    assert.equal(k.hotplug.addMemoryDriverManaged(mgid, base, G, "System RAM (memhp)", MHP_NID_IS_MGID), 0);
    for (let id = base / BLOCK; id < (base + G) / BLOCK; id++)
      assert.equal(k.kernfs.write(`/sys/devices/system/memory/memory${id}/state`, "online_movable"), 0);
    const tables = k.arch.pgtable.tablePages();
    k.faults.add("pgtable", 1);
    const rc =
      op === "depopulate"
        ? k.hotplug.offlineAndDepopulateMemory(mgid, base + BLOCK, BLOCK)
        : k.unmapped.allocContigRangeUnmapped((base + BLOCK) / 4096, BLOCK / 4096);
    assert.equal(rc, -ENOMEM, op);
    assert.equal(k.arch.pgtable.tablePages(), tables);
    assert.equal(k.arch.pgtable.lookup(k.arch.physToVirt(base + BLOCK))?.level, LEVEL_PUD, "still one leaf");
    assert.equal(
      k.kernfs.read(`/sys/devices/system/memory/memory${(base + BLOCK) / BLOCK}/state`),
      "online\n",
    );
    assert.deepEqual(k.checkInvariants(), []);
    // and with the page: split, taken, and the page tables still consistent
    const again =
      op === "depopulate"
        ? k.hotplug.offlineAndDepopulateMemory(mgid, base + BLOCK, BLOCK)
        : k.unmapped.allocContigRangeUnmapped((base + BLOCK) / 4096, BLOCK / 4096);
    assert.equal(again, 0, op);
    assert.equal(k.arch.pgtable.tablePages(), tables + 1, "one PMD table from split_pud()");
    assert.equal(k.arch.pgtable.lookup(k.arch.physToVirt(base + BLOCK)), undefined);
    assert.deepEqual(k.checkInvariants(), []);
  }
  // rodata=off: the linear map does not rely on BBML2, nothing is split
  const off = run(sc("7.2", "cmdline rodata=off\n")).records;
  assert.equal(resultAt(off, 7), "EINVAL");
  assert.equal(resultAt(off, 9), "EINVAL");
  // 6.12 maps the GiB page by page: nothing to split
  const v612 = run(sc("6.12")).records;
  assert.deepEqual(
    pt(v612)[0].linear.map((l) => l.level),
    ["pte"],
  );
  assert.equal(resultAt(v612, 6), "ok");
});

test("hwpoison: 6.12 and 7.2 refuse to online a poisoned block and count it off at removal; 6.1 onlines it and keeps the count", () => {
  const body = [
    "boot",
    "write /sys/devices/system/memory/auto_online_blocks offline", // 3
    "dimm-add d1 size=256M",
    "write /sys/devices/system/memory/memory16/state online_movable", // 5
    "write /sys/devices/system/memory/hard_offline_page 0x87fff000",
    "read /proc/meminfo HardwareCorrupted", // 7
    "write /sys/devices/system/memory/hard_offline_page 0x87fff000",
    "write /sys/devices/system/memory/hard_offline_page 0x1000000000", // 9
    "write /sys/devices/system/memory/hard_offline_page 0x0",
    "write /sys/devices/system/memory/memory16/state offline", // 11
    "write /sys/devices/system/memory/memory16/state online_movable",
    "write /sys/devices/system/memory/memory16/state offline", // 13
    "dimm-del d1",
    "read /proc/meminfo HardwareCorrupted", // 15
    "read /sys/devices/system/node/node0/memory_failure/recovered",
  ].join("\n");
  for (const v of ["6.1", "6.12", "7.2"]) {
    const recs = run(`machine arm64 mem=1G maxmem=4G kernel=${v}\n${body}\n`).records;
    const late = v !== "6.1";
    assert.equal(resultAt(recs, 6), "ok", `${v}: a free page is taken off the buddy`);
    assert.equal(hardwareCorruptedAt(recs, 7), 4);
    assert.equal(resultAt(recs, 8), "EHWPOISON", `${v}: poisoned twice`);
    assert.equal(resultAt(recs, 9), v === "7.2" ? "EBUSY" : "ENXIO", `${v}: no struct page`);
    // arm64's section 0 has memory from 64 MiB only: PFN 0 is in no populated subsection
    assert.equal(resultAt(recs, 10), "ENXIO", `${v}: PFN 0 on arm64`);
    assert.equal(resultAt(recs, 11), "ok", `${v}: offlining skips the poisoned page`);
    assert.equal(resultAt(recs, 12), late ? "EHWPOISON" : "ok", `${v}: online a poisoned block`);
    assert.equal(resultAt(recs, 13), late ? "EINVAL" : "ok");
    assert.equal(resultAt(recs, 14), "ok");
    assert.equal(hardwareCorruptedAt(recs, 15), late ? 0 : 4, `${v}: HardwareCorrupted after removal`);
    assert.equal(valueAt(recs, 16), late ? "1" : undefined);
  }
  // Debian's 6.1 amd64 config has no CONFIG_MEMORY_FAILURE: no such file
  const x86 = run(
    "machine x86_64 mem=1G maxmem=8G\nboot\nwrite /sys/devices/system/memory/hard_offline_page 0x0\nread /proc/meminfo HardwareCorrupted MemFree\n",
  ).records;
  assert.equal(resultAt(x86, 3), "EACCES");
  // on x86_64 PFN 0 has a memmap: a page the kernel holds, poisoned, not recovered
  const x86n = run(
    "machine x86_64 mem=1G maxmem=8G kernel=7.2\nboot\nwrite /sys/devices/system/memory/hard_offline_page 0x0\nread /proc/meminfo HardwareCorrupted\n",
  ).records;
  assert.equal(resultAt(x86n, 3), "EBUSY");
  assert.equal(hardwareCorruptedAt(x86n, 4), 4);
});

test("RFC v2 on 7.2: a depopulated block with a poisoned page is EHWPOISON for sysfs onlining too (6.1: EBUSY)", () => {
  const body = [
    "boot",
    "call add_memory_driver_managed 0x80000000 256M",
    "write /sys/devices/system/memory/memory16/state online_movable",
    "call memory_failure 0x80005000 4K",
    "call depopulate_range_driver_managed 0x80000000 128M",
    "write /sys/devices/system/memory/memory16/online 1", // 7
    "call populate_range_driver_managed 0x80000000 128M online_movable",
  ].join("\n");
  const at = (v: string, line: number) =>
    (
      run(`machine arm64 mem=1G maxmem=4G rfc=v2 kernel=${v}\n${body}\n`).records.find(
        (r) => r.line === line,
      ) as {
        result?: string;
      }
    ).result;
  assert.equal(at("7.2", 7), "EHWPOISON");
  assert.equal(at("6.12", 7), "EHWPOISON");
  assert.equal(at("6.1", 7), "EBUSY");
  for (const v of ["6.1", "7.2"]) assert.equal(at(v, 8), "EHWPOISON");
});

test("arm64 rodata=off: 6.1 maps the linear map with blocks (fewer tables, 10 pages reserved more); 6.12 and 7.2 as rodata=full", () => {
  const managed = (v: string, cmdline: string) => {
    const recs = run(
      `machine arm64 mem=1G maxmem=2G kernel=${v}\n${cmdline}boot\nread /proc/zoneinfo\n`,
    ).records;
    const zi = String(valueAt(recs, cmdline ? 4 : 3));
    return Number(/zone\s+DMA\n(?:.*\n)*?\s+managed\s+(\d+)/.exec(zi)![1]);
  };
  // 6.1: 508 page-table pages fewer with block mappings, less the 10 extra (src/arch/arm64/setup.ts)
  assert.equal(managed("6.1", "cmdline rodata=off\n"), managed("6.1", "") + 498);
  for (const v of ["6.12", "7.2"]) assert.equal(managed(v, "cmdline rodata=off\n"), managed(v, ""), v);
  // Debian's 7.2 with rodata=off (memhp fuzz --oracle --release 7.2 --seed 7201, scenario 1)
  assert.equal(managed("7.2", "cmdline rodata=off\n"), 244984);
});

test("soft_offline_page: a free page is taken and counted, a held page is EIO and left alone; the block is refused onlining from 6.12", () => {
  const body = [
    "boot",
    "write /sys/devices/system/memory/auto_online_blocks offline", // 3
    "dimm-add d1 size=256M",
    "write /sys/devices/system/memory/memory16/state online_movable", // 5
    "write /sys/devices/system/memory/memory17/state online_movable",
    "write /sys/devices/system/memory/soft_offline_page 0x87fff000", // 7
    "read /proc/meminfo HardwareCorrupted",
    "write /sys/devices/system/memory/soft_offline_page 0x87fff000", // 9
    "write /sys/devices/system/memory/soft_offline_page 0x4000000",
    "write /sys/devices/system/memory/soft_offline_page 0x0", // 11
    "write /sys/devices/system/memory/soft_offline_page 0x1000000000",
    "write /sys/devices/system/memory/soft_offline_page page", // 13
    "read /proc/meminfo HardwareCorrupted",
    "write /sys/devices/system/memory/memory17/state offline", // 15
    "write /sys/devices/system/memory/soft_offline_page 0x8ffff000",
    "write /sys/devices/system/memory/memory16/state offline", // 17
    "write /sys/devices/system/memory/memory16/state online_movable",
    "read /sys/devices/system/node/node0/memory_failure/total", // 19
  ].join("\n");
  for (const v of ["6.1", "6.12", "7.2"]) {
    const recs = run(`machine arm64 mem=1G maxmem=4G kernel=${v}\n${body}\n`).records;
    assert.equal(resultAt(recs, 7), "ok", `${v}: a free page is taken off the buddy`);
    assert.equal(hardwareCorruptedAt(recs, 8), 4);
    assert.equal(resultAt(recs, 9), "ok", `${v}: soft offline of a poisoned page is 0`);
    assert.equal(resultAt(recs, 10), "EIO", `${v}: the NOMAP flash bank is reserved: unhandlable`);
    // PFN 0 is in arm64's early section 0 (pfn_valid()) but in no populated subsection
    assert.equal(resultAt(recs, 11), "EIO", `${v}: PFN 0 on arm64`);
    assert.equal(resultAt(recs, 12), "ENXIO", `${v}: no memmap`);
    assert.equal(resultAt(recs, 13), "EINVAL");
    assert.equal(hardwareCorruptedAt(recs, 14), 4, `${v}: the refusals poisoned nothing`);
    assert.equal(resultAt(recs, 16), "EIO", `${v}: an offline block's page`);
    assert.equal(
      resultAt(recs, 18),
      v === "6.1" ? "ok" : "EHWPOISON",
      `${v}: online the soft-offlined block`,
    );
    // the node's memory_failure/ counts are memory_failure()'s, not soft offline's
    assert.equal(valueAt(recs, 19), v === "6.1" ? undefined : "0");
  }
});

test("memory_failure() and soft_offline_page() drain the zone's per-cpu lists first (get_hwpoison_page())", () => {
  const dma32Count = (zoneinfo: string) => Number(/zone +DMA32[\s\S]*?count: +(\d+)/.exec(zoneinfo)![1]);
  for (const file of ["soft_offline_page", "hard_offline_page"]) {
    const recs = run(
      `machine x86_64 mem=1G maxmem=8G kernel=7.2\nboot\nread /proc/zoneinfo\nwrite /sys/devices/system/memory/${file} 0x1000000\nread /proc/zoneinfo\n`,
    ).records;
    const before = dma32Count(valueAt(recs, 3) as string);
    assert.ok(before > 1000, "the boot left pages on DMA32's lists");
    // the kernel's text: held, so refused (soft: EIO, hard: EBUSY), but the lists were drained
    assert.equal(
      (recs.find((r) => r.line === 4) as { result?: string }).result,
      file === "soft_offline_page" ? "EIO" : "EBUSY",
    );
    // drained, then refilled only by what ran after (the reads' own allocations)
    const after = dma32Count(valueAt(recs, 5) as string);
    assert.ok(after < before / 10, `${file}: DMA32's lists drained (${before} pages, then ${after})`);
  }
});
