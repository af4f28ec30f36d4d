// The arm64 oracle, live: boots Debian's 6.1 cloud-arm64 kernel on QEMU's virt
// machine (UEFI, TCG) once, hot-adds a 1 GiB DIMM and reads the kernel page
// tables through the gdbstub. Skips with the reason when the kernel, the arm64
// busybox, QEMU or the firmware is missing (scripts/oracle-setup.sh arm64).

import { test } from "node:test";
import assert from "node:assert/strict";
import { parseScenario } from "../src/scenario/parse.js";
import { oracleUnavailable, runOracle } from "../src/oracle/run.js";

const why = oracleUnavailable("arm64");

test(
  "live arm64: a 1 GiB DIMM at 2 GiB, mapped with 4K pages at add time, unmapped at removal",
  {
    skip: why ?? false,
    timeout: 90_000,
  },
  async () => {
    const text = [
      "machine arm64 mem=1G maxmem=4G",
      "boot",
      "ptdump 0x80000000 1G",
      "dimm-add d1 size=1G",
      "ptdump 0x80000000 1G",
      "write /sys/devices/system/memory/memory16/state online_movable",
      "dimm-del d1",
      "ptdump 0x80000000 1G",
    ].join("\n");
    const trace = await runOracle(parseScenario(text, "live-arm64.mhp"));
    assert.equal(trace.header.arch, "arm64");
    assert.match(trace.header.version, /^6\.1\.0-\d+-cloud-arm64$/);
    assert.match(String(trace.header.commandLine), /^qemu-system-aarch64 -machine virt /);
    const [before, add, pt, online, del, after] = trace.records as Array<Record<string, unknown>>;
    // virt's RAM starts at 1 GiB: boot RAM is memory8..15 (128 MiB blocks), the
    // hotplug area (device memory) starts right after it, at 2 GiB.
    const blocks = Array.from({ length: 8 }, (_, i) => `memory${16 + i}`);
    assert.deepEqual(add, {
      line: 4,
      op: "dimm-add",
      id: "d1",
      result: "ok",
      blocks: { added: blocks, removed: [] },
    });
    assert.deepEqual([before.linear, before.vmemmap], [[], []]);
    // rodata=full (RODATA_FULL_DEFAULT_ENABLED): can_set_direct_map() makes
    // arch_add_memory() map with NO_BLOCK_MAPPINGS | NO_CONT_MAPPINGS, so 4K pages only;
    // linear VA = PA + PAGE_OFFSET (memstart_addr 0).
    assert.deepEqual(pt.linear, [
      { va: "0xffff000080000000", size: "0x40000000", level: "pte", pa: "0x80000000" },
    ]);
    // vmemmap_populate() with 2M blocks at VMEMMAP_START + PFN 0x80000 * 64
    assert.deepEqual(pt.vmemmap, [
      { va: "0xfffffc0002000000", size: "0x1000000", level: "pmd", inRange: false },
    ]);
    // 512 PTE tables and one PMD table for the new gigabyte of the linear map
    const linearTables = (r: Record<string, unknown>): number =>
      (r._tablePages as { linearMap: number }).linearMap;
    assert.equal(linearTables(pt) - linearTables(before), 513);
    assert.equal(online.result, "ok");
    assert.deepEqual(del, {
      line: 7,
      op: "dimm-del",
      id: "d1",
      result: "ok",
      blocks: { added: [], removed: blocks },
    });
    // arch_remove_memory() unmaps it and frees the empty tables (free_empty_tables()).
    assert.deepEqual([after.linear, after.vmemmap], [[], []]);
    assert.equal(linearTables(after), linearTables(before));
  },
);
