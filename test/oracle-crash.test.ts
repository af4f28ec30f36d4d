// Kernel crashes are results (docs/scenario-format.md, "Kernel crashes and
// warnings"): the guest console's BUG, oops, panic and WARNING reports as the
// oracle reads them (console fixtures: one captured from the v1 patched kernel,
// the others in the formats of lib/bug.c, kernel/panic.c and the arch fault
// handlers), the model's KernelBug as the same record, and memhp diff comparing
// them. One live test crashes Debian's kernel on purpose (sysrq-trigger).

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConsoleWatch, crashInfo } from "../src/oracle/console-crash.js";
import { parseScenario } from "../src/scenario/parse.js";
import { runScenario } from "../src/scenario/run.js";
import { diffTraces } from "../src/scenario/diff.js";
import { crashRecord } from "../src/scenario/crash.js";
import type { Trace, TraceRecord } from "../src/scenario/trace.js";
import { oracleUnavailable, runOracle } from "../src/oracle/run.js";
import { findKernel } from "../src/oracle/cache.js";
import { repoRoot } from "../src/fuzz/regression.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = (name: string): string =>
  fs.readFileSync(path.join(here, "..", "..", "test", "support", "console", name), "utf8");

function watch(text: string, chunk = 0): ConsoleWatch {
  const w = new ConsoleWatch();
  if (chunk === 0) w.feed(text);
  else for (let i = 0; i < text.length; i += chunk) w.feed(text.slice(i, i + chunk));
  return w;
}

const X86_BUG = `[   20.512345] ------------[ cut here ]------------
[   20.512400] kernel BUG at mm/memory_hotplug.c:2140!
[   20.512800] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI
[   20.513000] CPU: 0 PID: 83 Comm: sh Not tainted 6.1.0-50-cloud-amd64 #1  Debian 6.1.170-1
[   20.513100] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   20.513200] RIP: 0010:try_remove_memory+0x1a7/0x1b0
[   20.513300] Code: 0f 0b 48 c7 c7 ...
[   20.513400] RSP: 0018:ffffc900003dfd00 EFLAGS: 00010246
[   20.513500] Call Trace:
[   20.513510]  <TASK>
[   20.513520]  __remove_memory+0x2a/0x40
[   20.513530]  acpi_memory_device_remove+0x8b/0x100
[   20.513540]  </TASK>
[   20.513600] ---[ end trace 0000000000000000 ]---
[   20.513700] RIP: 0010:try_remove_memory+0x1a7/0x1b0
`;

const ARM64_BUG = `[   31.001000] ------------[ cut here ]------------
[   31.001100] kernel BUG at mm/memory_hotplug.c:2140!
[   31.001200] Internal error: Oops - BUG: 00000000f2000800 [#1] SMP
[   31.001300] Modules linked in: virtio_console virtio_mmio
[   31.001400] CPU: 0 PID: 77 Comm: sh Not tainted 6.1.0-57-cloud-arm64 #1  Debian 6.1.186-1
[   31.001500] pstate: 60400005 (nZCv daif +PAN -UAO -TCO -DIT -SSBS BTYPE=--)
[   31.001600] pc : try_remove_memory+0x1d4/0x1e0
[   31.001700] lr : try_remove_memory+0x6c/0x1e0
[   31.001800] Call trace:
[   31.001900]  try_remove_memory+0x1d4/0x1e0
[   31.002000]  __remove_memory+0x2c/0x50
[   31.002100] Code: 97ffd9c5 17ffffd1 d4210000 d4210000 (d4210000)
[   31.002200] ---[ end trace 0000000000000000 ]---
`;

const X86_WARNING = `[    9.100000] ------------[ cut here ]------------
[    9.100100] WARNING: CPU: 0 PID: 64 at mm/page_alloc.c:5537 __alloc_pages+0x2a4/0x330
[    9.100200] Modules linked in: virtio_mem
[    9.100300] CPU: 0 PID: 64 Comm: sh Not tainted 6.1.0-50-cloud-amd64 #1  Debian 6.1.170-1
[    9.100400] RIP: 0010:__alloc_pages+0x2a4/0x330
[    9.100500] Call Trace:
[    9.100600]  <TASK>
[    9.100700]  ? __warn+0x7d/0xc0
[    9.100800]  </TASK>
[    9.100900] ---[ end trace 0000000000000000 ]---
[    9.200000] virtio_mem virtio0: plugged size: 0x0
`;

const ARM64_WARNING = `[   12.000000] ------------[ cut here ]------------
[   12.000100] WARNING: CPU: 0 PID: 1 at mm/memory_hotplug.c:1234 online_pages+0x1f0/0x2b0
[   12.000200] CPU: 0 PID: 1 Comm: sh Tainted: G        W          6.1.0-57-cloud-arm64 #1
[   12.000300] pc : online_pages+0x1f0/0x2b0
[   12.000400] lr : online_pages+0x60/0x2b0
[   12.000500] ---[ end trace 0000000000000000 ]---
`;

// 6.19's banner (28ea295f941e): the 7.2 arm64 build, remove_memory() of a range never added
const ARM64_WARNING_72 = `[   40.100000] ------------[ cut here ]------------
[   40.100100] WARNING: ../src/drivers/base/memory.c:932 at remove_memory_block_devices+0x70/0xa8, CPU#0: sh/51
[   40.100200] Modules linked in: test_memhp
[   40.100300] pc : remove_memory_block_devices+0x70/0xa8
[   40.100400] lr : remove_memory_block_devices+0x68/0xa8
[   40.100500] ---[ end trace 0000000000000000 ]---
`;

const X86_SYSRQ_PANIC = `[   15.300000] sysrq: Trigger a crash
[   15.300100] Kernel panic - not syncing: sysrq triggered crash
[   15.300200] CPU: 0 PID: 70 Comm: sh Not tainted 6.1.0-50-cloud-amd64 #1  Debian 6.1.170-1
[   15.300300] Call Trace:
[   15.300400]  <TASK>
[   15.300500]  dump_stack_lvl+0x44/0x5c
[   15.300600]  panic+0x118/0x2f0
[   15.300700]  ? _printk+0x60/0x7e
[   15.300800]  sysrq_handle_crash+0x16/0x20
[   15.300900]  __handle_sysrq.cold+0x43/0x11b
[   15.301000]  write_sysrq_trigger+0x24/0x40
[   15.301100]  </TASK>
[   15.301200] Kernel Offset: disabled
[   15.301300] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---
`;

const X86_OOPS_THEN_PANIC = `BUG: kernel NULL pointer dereference, address: 0000000000000008
#PF: supervisor read access in kernel mode
Oops: 0000 [#1] PREEMPT SMP NOPTI
RIP: 0010:offline_pages+0x15c/0x5e0 [some_module]
Call Trace:
 <TASK>
 </TASK>
---[ end trace 0000000000000000 ]---
RIP: 0010:offline_pages+0x15c/0x5e0
Kernel panic - not syncing: Fatal exception
---[ end Kernel panic - not syncing: Fatal exception ]---
`;

test("console: a page fault oops captured from the v1 patched kernel (x86_64)", () => {
  const w = watch(fixture("x86-patched-v1-page-fault.txt"));
  assert.equal(w.events.length, 1);
  const [e] = w.events;
  assert.deepEqual(
    { kind: e.kind, fatal: e.fatal, complete: e.complete, fn: e.function, at: e.at },
    { kind: "Oops", fatal: true, complete: true, fn: "free_pagetable", at: "free_pagetable+0x4/0x9f" },
  );
  assert.equal(e.message, "BUG: unable to handle page fault for address: ffffea0005000000");
  // the call trace is kept with the event, the boot noise ("MP-BIOS bug") is not an event
  assert.ok(e.lines.some((l) => l.includes("remove_memory+0x20/0x30")));
});

test("console: BUG() on x86_64 and arm64: the first line, the RIP / pc function, time stamps dropped", () => {
  for (const [text, fn] of [
    [X86_BUG, "try_remove_memory"],
    [ARM64_BUG, "try_remove_memory"],
  ] as const) {
    for (const chunk of [0, 1, 7]) {
      const w = watch(text, chunk);
      assert.equal(w.events.length, 1, `chunks of ${chunk}`);
      assert.deepEqual(crashInfo(w.events[0]), {
        kind: "BUG",
        message: "kernel BUG at mm/memory_hotplug.c:2140!",
        function: fn,
        _at:
          fn === "try_remove_memory" && text === X86_BUG
            ? "try_remove_memory+0x1a7/0x1b0"
            : "try_remove_memory+0x1d4/0x1e0",
      });
      assert.ok(w.events[0].fatal && w.events[0].complete);
    }
  }
});

test("console: a WARNING does not stop the guest; its function is the one it names", () => {
  for (const [text, fn] of [
    [X86_WARNING, "__alloc_pages"],
    [ARM64_WARNING, "online_pages"],
  ] as const) {
    const w = watch(text);
    assert.equal(w.events.length, 1);
    const [e] = w.events;
    assert.equal(e.kind, "WARNING");
    assert.equal(e.fatal, false);
    assert.equal(e.function, fn);
    assert.ok(e.complete);
    assert.match(e.message, /^WARNING: CPU: 0 PID: \d+ at mm\//);
  }
  // what follows the report is not part of it
  assert.ok(!watch(X86_WARNING).events[0].lines.some((l) => l.includes("plugged size")));
  // 7.2's banner: the function and FUNC+0x../0x.. from the banner itself
  const [e72] = watch(ARM64_WARNING_72).events;
  assert.equal(e72.kind, "WARNING");
  assert.equal(e72.function, "remove_memory_block_devices");
  assert.equal(e72.at, "remove_memory_block_devices+0x70/0xa8");
});

test("console: a panic (sysrq c) names panic()'s caller; an oops then its panic is one event", () => {
  const p = watch(X86_SYSRQ_PANIC).events;
  assert.equal(p.length, 1);
  assert.deepEqual(crashInfo(p[0]), {
    kind: "panic",
    message: "Kernel panic - not syncing: sysrq triggered crash",
    function: "sysrq_handle_crash",
    _at: "sysrq_handle_crash+0x16/0x20",
  });
  const o = watch(X86_OOPS_THEN_PANIC).events;
  assert.equal(o.length, 1);
  assert.deepEqual(crashInfo(o[0]), {
    kind: "Oops",
    message: "BUG: kernel NULL pointer dereference, address: 0000000000000008",
    function: "offline_pages",
    _at: "offline_pages+0x15c/0x5e0",
    _panic: "Kernel panic - not syncing: Fatal exception",
  });
});

test("console: a WARNING then a BUG are two events in order; reports that do not stop the kernel", () => {
  const w = watch(X86_WARNING + X86_BUG);
  assert.deepEqual(
    w.events.map((e) => [e.kind, e.fatal]),
    [
      ["WARNING", false],
      ["BUG", true],
    ],
  );
  const r = watch(
    "[ 50.1] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [sh:70]\n" +
      "[ 50.2] RIP: 0010:offline_pages+0x10/0x20\n" +
      "INFO: task sh:71 blocked for more than 120 seconds.\n",
  ).events;
  assert.deepEqual(
    r.map((e) => [e.kind, e.fatal, e.function]),
    [
      ["report", false, "offline_pages"],
      ["report", false, undefined],
    ],
  );
  // nothing that merely mentions a bug
  assert.equal(
    watch("MP-BIOS bug: 8254 timer not connected to IO-APIC\nDebugging BUG_ON users\n").events.length,
    0,
  );
  // an incomplete report: fatal, not complete yet (the oracle waits for the rest)
  const half = watch(X86_BUG.split("\n").slice(0, 4).join("\n") + "\n").events;
  assert.equal(half.length, 1);
  assert.ok(half[0].fatal && !half[0].complete);
});

// ---------------------------------------------------------------- model and diff

const BUG_SCENARIO = path.join(
  repoRoot(),
  "scenarios",
  "regressions",
  "x86_64-kernel-bug-dimm-over-driver-memory.mhp",
);

test("model: a KernelBug ends the trace with a crash record (runScenario crashRecords)", () => {
  const sc = parseScenario(fs.readFileSync(BUG_SCENARIO, "utf8"), BUG_SCENARIO);
  assert.throws(() => runScenario(sc), /BUG/);
  const t = runScenario(sc, { crashRecords: true });
  const last = t.records.at(-1) as Record<string, unknown> & TraceRecord;
  assert.equal(last.line, sc.body.at(-1)?.loc.line);
  assert.deepEqual(
    { op: last.op, id: last.id, result: last.result, kind: last.crash?.kind, fn: last.crash?.function },
    { op: "dimm-del", id: "d0", result: "crash", kind: "BUG", fn: "try_remove_memory" },
  );
});

test("diff: crashes compare by kind and function; the statements after a crash both traces ended on are not missing", () => {
  const text =
    "machine x86_64 mem=1G maxmem=4G\nboot\ndimm-add d1 size=1G\ndimm-del d1\nls /sys/devices/system/memory\n";
  const sc = parseScenario(text, "c.mhp");
  const header = { op: "system" as const, system: "linux", version: "x", arch: "x86_64" };
  const add: TraceRecord = {
    line: 3,
    op: "dimm-add",
    id: "d1",
    result: "ok",
    blocks: { added: [], removed: [] },
  };
  const trace = (crash: TraceRecord["crash"]): Trace => ({
    header,
    records: [add, crashRecord(sc.body[1], crash!)],
  });
  const model = trace({
    kind: "BUG",
    message: "__remove_memory: try_remove_memory() failed (BUG)",
    function: "__remove_memory",
  });
  const kernel = trace({
    kind: "BUG",
    message: "kernel BUG at mm/memory_hotplug.c:2140!",
    function: "__remove_memory",
    _at: "__remove_memory+0x2a/0x40",
  });
  assert.deepEqual(diffTraces(model, kernel, sc), []);
  // another function (or kind) is a difference
  const other = trace({
    kind: "BUG",
    message: "kernel BUG at mm/memory_hotplug.c:2140!",
    function: "try_remove_memory",
  });
  const d = diffTraces(model, other, sc);
  assert.deepEqual(
    d.map((x) => [x.line, x.rule, x.item]),
    [[4, "crash", "crash"]],
  );
  assert.match(d[0].message, /a BUG in __remove_memory, b BUG in try_remove_memory/);
  // a crash on one side only: the result, the crash and the records the other trace went on with
  const going: Trace = {
    header,
    records: [
      add,
      { line: 4, op: "dimm-del", id: "d1", result: "ok", blocks: { added: [], removed: [] } },
      { line: 5, op: "ls", path: "/sys/devices/system/memory", names: [] },
    ],
  };
  const d2 = diffTraces(kernel, going, sc);
  assert.deepEqual(
    d2.map((x) => [x.line, x.rule, x.item]),
    [
      [4, "crash", "crash"],
      [4, "exact", "blocks"],
      [4, "exact", "result"],
      [5, "missing", "record"],
    ],
  );
  // warnings: by kind and function
  const warned = (fn: string): Trace => ({
    header,
    records: [
      {
        ...add,
        warnings: [{ kind: "WARNING", message: `WARNING: CPU: 0 PID: ${fn.length} at x`, function: fn }],
      },
    ],
  });
  assert.deepEqual(diffTraces(warned("online_pages"), warned("online_pages")), []);
  assert.deepEqual(
    diffTraces(warned("online_pages"), { header, records: [add] }).map((x) => [x.rule, x.item]),
    [["crash", "warnings"]],
  );
});

// ---------------------------------------------------------------- live

const why = oracleUnavailable("x86_64");

test(
  "live: a panic (sysrq c) is the record of its statement; the trace ends there",
  { skip: why ?? false, timeout: 180_000 },
  async () => {
    const config = fs.readFileSync(findKernel("x86_64")!.config, "utf8");
    assert.match(config, /^CONFIG_MAGIC_SYSRQ=y$/m, "the stock kernel has sysrq");
    const text = [
      "machine x86_64 mem=1G maxmem=2G",
      "boot",
      "read /sys/devices/system/memory/block_size_bytes",
      "write /proc/sysrq-trigger c",
      "read /sys/devices/system/memory/block_size_bytes",
    ].join("\n");
    const t0 = performance.now();
    const trace = await runOracle(parseScenario(text, "live-crash.mhp"), { requestTimeoutMs: 60_000 });
    const ms = performance.now() - t0;
    assert.equal(trace.records.length, 2, "no record after the crash");
    const [ok, crash] = trace.records as Array<Record<string, unknown> & TraceRecord>;
    assert.equal(ok.result, undefined);
    assert.equal((ok as { value?: string }).value, "8000000");
    assert.deepEqual(
      { ...crash, crash: { ...crash.crash, _at: undefined } },
      {
        line: 4,
        op: "write",
        path: "/proc/sysrq-trigger",
        value: "c",
        result: "crash",
        crash: {
          kind: "panic",
          message: "Kernel panic - not syncing: sysrq triggered crash",
          function: "sysrq_handle_crash",
          _at: undefined,
        },
      },
    );
    // a result, not the 60 s request timeout
    assert.ok(ms < 55_000, `took ${Math.round(ms)} ms`);
  },
);
