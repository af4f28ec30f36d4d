// Refusals say why (issue 19, item 2): the errno stays the kernel's; the kernel's
// own message where it prints one (the log: dmesg, /dev/kmsg), and the model's
// `reason` otherwise, in the trace record, the shell's output and the timeline.
// The diff never compares `reason`.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseScenario } from "../src/scenario/parse.js";
import { executeStatement, runScenario, runScenarioKernel } from "../src/scenario/run.js";
import { diffTraces } from "../src/scenario/diff.js";
import { ShellSession } from "../src/shell/session.js";
import type { TraceRecord } from "../src/scenario/trace.js";

const M = "/sys/devices/system/memory";
const SC = `machine x86_64 mem=1G maxmem=8G
boot
write ${M}/memory0/state offline
write ${M}/memory7/state online
write ${M}/memory7/state bogus
call foo
dimm-add d1 size=1G
write ${M}/memory32/state online_movable
dimm-add d5 size=100M
`;

function records(): TraceRecord[] {
  return runScenario(parseScenario(SC, "reasons.mhp")).records;
}

describe("refusals say why", () => {
  const recs = records();
  const at = (line: number) => recs.find((r) => r.line === line)!;

  it("a boot block spanning zones: EINVAL, with the reason", () => {
    const r = at(3) as TraceRecord & { result: string };
    assert.equal(r.result, "EINVAL");
    assert.match(r.reason ?? "", /memory0 spans more than one zone/);
  });

  it("an unaligned DIMM: plugged by QEMU, refused by the guest with check_hotplug_memory_range()'s pr_err()", () => {
    const r = at(9) as TraceRecord & { result: string };
    assert.equal(r.result, "ok");
    assert.equal(
      r.reason,
      "the guest refused the device (EINVAL): Block size [0x8000000] unaligned hotplug range: start 0x140000000, size 0x6400000",
    );
  });

  it("a block already online, a bad state word, an unknown call", () => {
    assert.match(at(4).reason ?? "", /memory7 is already online/);
    assert.match(
      at(5).reason ?? "",
      /"bogus" is not a state: write online, online_kernel, online_movable or offline/,
    );
    assert.match(at(6).reason ?? "", /no driver function foo: call one of .*add_memory/);
  });

  it("a refusal by QEMU (no free slot) says so", () => {
    // The parser refuses a fifth DIMM in a file; the host's own refusal is what the shell and
    // the fuzzer reach when they bypass that check.
    const k = runScenarioKernel(
      parseScenario("machine x86_64 mem=1G maxmem=8G slots=1\nboot\ndimm-add a size=128M\n", "q.mhp"),
    );
    const r = executeStatement(k, {
      op: "dimm-add",
      id: "b",
      sizeBytes: 128 * 2 ** 20,
      loc: { file: "q.mhp", line: 4 },
    } as Parameters<typeof executeStatement>[1]) as TraceRecord & { result: string };
    assert.equal(r.result, "ENOSPC");
    assert.match(r.reason ?? "", /QEMU refused: no free slots left/);
  });

  it("a success has no reason", () => {
    for (const line of [7, 8]) assert.equal(at(line).reason, undefined);
  });

  it("the kernel's messages are in /dev/kmsg, in its format (the shell's cat /dev/kmsg)", () => {
    const s = new ShellSession(SC, "reasons.mhp");
    const v = s.exec("cat /dev/kmsg").out;
    assert.match(
      v,
      /^3,\d+,0,-;Block size \[0x8000000\] unaligned hotplug range: start 0x140000000, size 0x6400000$/m,
    );
    assert.match(v, /^3,\d+,0,-;acpi PNP0C80:01: add_memory failed$/m); // the second DIMM
  });

  it("the diff does not compare reasons", () => {
    const a = runScenario(parseScenario(SC, "reasons.mhp"));
    const b = structuredClone(a);
    for (const r of b.records) if (r.reason) r.reason = "something else";
    assert.ok(b.records.some((r) => r.reason === "something else"));
    assert.deepEqual(diffTraces(a, b), []);
  });

  it("the shell prints the reason or the kernel's message under the errno, and dmesg shows the log", () => {
    const s = new ShellSession("machine x86_64 mem=1G maxmem=8G\nboot\n", "t.mhp");
    const w = s.exec(`echo offline > ${M}/memory0/state`);
    assert.equal(w.status, 1);
    assert.match(w.err, /^sh: write error: Invalid argument\n {2}reason: memory0 spans more than one zone/);
    assert.equal(s.timeline.at(-1)?.reason?.startsWith("memory0 spans"), true);
    const d = s.exec("dimm-add d5 size=100M");
    assert.equal(d.status, 0); // QEMU plugged it
    assert.match(
      d.err,
      /^dimm-add: d5: plugged, but the guest added no memory\n {2}kernel: Block size \[0x8000000\] unaligned hotplug range/,
    );
    assert.doesNotMatch(d.err, /reason:/); // the kernel said it already
    assert.match(s.exec("dmesg").out, /acpi PNP0C80:00: add_memory failed\n/);
  });
});
