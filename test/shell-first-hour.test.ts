// memhp shell for a new user (issue 19, item 8): pipes into grep/head/wc,
// wildcards, `cd -`, refusals that say why, every errno with its text, `help`
// listing the `call` functions, hints that can be followed in a shell, and a
// script stopped by a host refusal (full DIMM slots) exiting 1, not 2.
// In a terminal (tmux), as a person types it, and through the interpreter.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { lexLine } from "../src/shell/lex.js";
import { errnoMessage } from "../src/errno.js";
import * as errno from "../src/errno.js";
import { memhp } from "./support/memhp-cli.js";
import { MEM, bootShell as boot, tmuxMissing, tmuxShell } from "./support/shell.js";

describe("shell: pipes, wildcards, cd -", () => {
  it("lexes a pipeline and marks unquoted wildcards", () => {
    assert.deepEqual(lexLine(`cat memory3*/state 'a*' | grep -v off | head -n 2`), {
      words: ["cat", "memory3*/state", "a*"],
      globs: [1],
      pipe: [
        ["grep", "-v", "off"],
        ["head", "-n", "2"],
      ],
    });
    assert.throws(() => lexLine("cat x |"), /syntax error/);
    assert.throws(() => lexLine("| wc"), /syntax error/);
  });

  it("expands wildcards against the file tree and pipes through the filters", () => {
    const s = boot();
    s.exec("dimm-add d0 size=1G");
    s.exec("cd " + MEM);
    assert.equal(s.exec("cat memory3*/state").out, "online\n".repeat(1) + "offline\n".repeat(8));
    assert.equal(s.exec("ls | grep -c '^memory3'").out, "9\n");
    assert.equal(s.exec("cat /proc/meminfo | head -n 2 | wc -l").out, "2\n");
    assert.match(s.exec("cat /proc/meminfo | grep -E 'MemTotal|MemFree'").out, /^MemTotal:.*\nMemFree:.*\n$/);
    assert.equal(s.exec("ls | grep nothing-like-this").status, 1);
    assert.equal(s.exec("cat nothing*").status, 1); // no match: the word stays, cat says it is missing
    assert.equal(s.exec("ls | less").status, 127);
  });

  it("cd - goes back and prints where", () => {
    const s = boot();
    assert.match(s.exec("cd -").err, /OLDPWD not set/);
    s.exec("cd /sys");
    s.exec("cd /proc");
    assert.equal(s.exec("cd -").out, "/sys\n");
    assert.equal(s.cwd, "/sys");
    assert.equal(s.exec("cd -").out, "/proc\n");
  });
});

describe("shell: messages a new user can act on", () => {
  it("every errno the model returns has its text", () => {
    for (const [name, n] of Object.entries(errno))
      if (typeof n === "number" && /^E[A-Z0-9]+$/.test(name) && name !== "ENOTSUPP")
        assert.doesNotMatch(errnoMessage(n), /Unknown error/, name);
    assert.match(boot().exec("call foo").err, /= -38 \(ENOSYS: Function not implemented\)/);
  });

  it("help lists the call functions, the filters and wildcards", () => {
    const h = boot().exec("help").out;
    for (const fn of ["depopulate_range_driver_managed", "power_down", "alloc_contig_range"])
      assert.match(h, new RegExp(fn));
    assert.match(h, /grep \[-vicE\] PATTERN/);
    assert.match(h, /cat memory3\*\/state/);
  });

  it("vmem-resize of an unknown device points to --vmem, not to `before boot`", () => {
    const r = boot().exec("vmem-resize vm0 1G");
    assert.match(r.err, /start the shell with --vmem vm0:SIZE/);
    assert.doesNotMatch(r.err, /before boot/);
    assert.equal(r.status, 1);
  });

  it("a script stopped by full DIMM slots exits 1 after running the rest; malformed lines still exit 2", () => {
    const script =
      ["a", "b", "c", "d", "e"].map((id) => `dimm-add ${id} size=128M`).join("\n") +
      `\ncat ${MEM}/memory35/state\n`;
    const r = memhp(["shell", "-q", "--slots", "4"], { input: script });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /<stdin>:5: sh: dimm-add: all 4 DIMM slots are in use/);
    assert.match(r.stdout, /^offline$/m); // the line after it ran
    assert.equal(memhp(["shell", "-q"], { input: "dimm-add d0 size=lots\n" }).status, 2);
  });
});

describe("memhp shell in a terminal: a new user's commands (tmux)", { skip: tmuxMissing }, () => {
  const term = tmuxShell({
    socket: `memhp-first-hour-${process.pid}`,
    width: 160,
    height: 50,
    joinWrapped: true,
  });
  const { keys, waitFor } = term;

  before(() => term.start());
  after(() => term.stop());

  it("a refused write says why; pipes, wildcards, cd - and dmesg work as typed", async () => {
    await waitFor(/memhp:\/#\s*$/m);
    keys(`echo offline > ${MEM}/memory0/state`, "Enter");
    await waitFor(/^sh: write error: Invalid argument\n {2}reason: memory0 spans more than one zone/m);
    keys("dimm-add d5 size=100M", "Enter");
    await waitFor(
      /^ {2}kernel: Block size \[0x8000000\] unaligned hotplug range: start 0x100000000, size 0x6400000$/m,
    );
    keys("clear", "Enter"); // not a command: the screen stays, the status is 127
    keys(`cd ${MEM}`, "Enter");
    keys("cat memory[0-2]/state | wc -l", "Enter");
    await waitFor(/wc -l\n3$/m);
    keys("ls | grep -c memory", "Enter");
    await waitFor(/grep -c memory\n8$/m);
    keys("cd /proc", "Enter");
    keys("cd -", "Enter");
    await waitFor(/^\/sys\/devices\/system\/memory\nmemhp:\/sys\/devices\/system\/memory#\s*$/m);
    keys("dmesg | tail -n 1", "Enter");
    await waitFor(/^acpi PNP0C80:00: acpi_memory_enable_device\(\) error$/m);
    keys("C-d");
    await waitFor(/^\[exit 0\]$/m);
  });
});
