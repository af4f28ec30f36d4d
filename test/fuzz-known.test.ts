// The fuzzer's names for what stock 6.1 does on the paths it used to steer
// around (src/fuzz/known.ts): each known-bug path, run as the fuzz driver runs
// a case, ends in a failure named after the kernel behaviour; the same path
// on a machine with the RFC v2 series (rfc=v2) is refused and runs clean.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KernelBug } from "../src/kernel/bug.js";
import type { Kernel } from "../src/kernel/kernel.js";
import type { Failure } from "../src/fuzz/driver.js";
import { KNOWN_BEHAVIOURS, knownBehaviour } from "../src/fuzz/known.js";
import type { ExposureFinding } from "../src/mm/exposure_audit.js";
import { parseScenario } from "../src/scenario/parse.js";
import { bootScenario, executeStatement } from "../src/scenario/run.js";

/** Run a scenario as the fuzz driver does; the named failure, "clean", or an unnamed failure's message. */
function behaviourOf(text: string): string {
  const sc = parseScenario(text, "k.mhp");
  const k: Kernel = bootScenario(sc, 1);
  const findings: ExposureFinding[] = [];
  const leafKinds = new Set(["leaf-split", "leaf-across-add"] as const);
  let failure: Failure | undefined;
  for (const [i, st] of sc.body.entries()) {
    try {
      executeStatement(k, st);
      k.tick();
    } catch (e) {
      if (!(e instanceof KernelBug)) throw e;
      failure = { kind: "kernel-bug", step: i, message: String(e.message) };
      break;
    }
    findings.push(...k.auditor.take(leafKinds));
    const v = k.checkInvariants();
    if (v.length) {
      failure = { kind: "invariant", step: i, message: v.join("\n") };
      break;
    }
  }
  if (!failure) return "clean";
  return knownBehaviour(k, failure, findings) ?? `unnamed: ${failure.message}`;
}

describe("known kernel behaviours", () => {
  it("x86_64: remove_memory() of part of a 1 GiB page: remove_pud_table(); refused on rfc=v2", () => {
    const body = "boot\ndimm-add d0 size=1G\ncall remove_memory 0x100000000 0x8000000\n";
    assert.equal(behaviourOf(`machine x86_64 mem=256M maxmem=1280M\n${body}`), KNOWN_BEHAVIOURS.pud);
    assert.equal(behaviourOf(`machine x86_64 mem=256M maxmem=1280M rfc=v2\n${body}`), "clean");
  });

  it("arm64 rodata=off: part of a 1 GiB block mapping: unmap_hotplug_range() clears it whole; refused on rfc=v2", () => {
    const body =
      "cmdline rodata=off\nboot\ncall add_memory_driver_managed 0x100000000 1G\n" +
      "write /sys/devices/system/memory/memory33/state online_movable\n" +
      "call remove_memory 0x100000000 128M\n";
    assert.equal(behaviourOf(`machine arm64 mem=2G maxmem=8G\n${body}`), KNOWN_BEHAVIOURS.arm64Block);
    assert.equal(behaviourOf(`machine arm64 mem=2G maxmem=8G rfc=v2\n${body}`), "clean");
  });

  it("a DIMM plugged over a driver's memory: ACPI takes -EEXIST for success and the eject BUG()s", () => {
    const text =
      "machine x86_64 mem=128M maxmem=640M\nboot\ncall add_memory 0x100000000 0x8000000\n" +
      "dimm-add d0 size=2M\ndimm-del d0\n";
    assert.equal(behaviourOf(text), KNOWN_BEHAVIOURS.acpiEexist);
  });

  it("an unrelated failure is not given a name", () => {
    const k = { arch: { arch: "x86_64", warnings: [] } } as unknown as Kernel;
    assert.equal(knownBehaviour(k, { kind: "invariant", step: 0, message: "made up" }, []), undefined);
    assert.equal(knownBehaviour(k, { kind: "exception", step: 0, message: "TypeError" }, []), undefined);
  });
});
