// memhp shell: the interpreter (src/shell/), the script mode of the CLI, and the
// interactive shell driven through a pseudo-terminal (tmux), as a person uses it.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ShellSession } from "../src/shell/session.js";
import { complete } from "../src/shell/complete.js";
import { lexLine, resolvePath } from "../src/shell/lex.js";
import { memhp, ROOT } from "./support/memhp-cli.js";
import { MEM, bootShell as boot, tmuxMissing, tmuxShell } from "./support/shell.js";

describe("shell words", () => {
  it("splits words, quotes and one redirection", () => {
    assert.deepEqual(lexLine(`echo  "a b" 'c'd\\ e >/sys/x # note`), {
      words: ["echo", "a b", "cd e"],
      redirect: { path: "/sys/x", append: false },
    });
    assert.deepEqual(lexLine("echo x >> y").redirect, { path: "y", append: true });
    assert.throws(() => lexLine('echo "open'), /unterminated/);
    assert.throws(() => lexLine("echo x >"), /unexpected newline/);
  });

  it("resolves . and .. logically", () => {
    assert.equal(resolvePath("/sys/devices", "../kernel/./debug"), "/sys/kernel/debug");
    assert.equal(resolvePath("/sys", "/proc/meminfo"), "/proc/meminfo");
    assert.equal(resolvePath("/", "../.."), "/");
  });
});

describe("shell commands on the model", () => {
  it("cat prints a file and fails like busybox's cat", () => {
    const s = boot();
    // x86_64 below 64 GiB: 128 MiB memory blocks (arch/x86/mm/init_64.c: probe_memory_block_size()).
    assert.deepEqual(s.exec(`cat ${MEM}/block_size_bytes`), { out: "8000000\n", err: "", status: 0 });
    const missing = s.exec("cat /sys/x");
    assert.equal(missing.err, "cat: can't open '/sys/x': No such file or directory\n");
    assert.equal(missing.status, 1);
    assert.equal(s.exec(`cat ${MEM}`).err, "cat: read error: Is a directory\n");
  });

  it("echo > FILE writes through the attribute's store(), errors as ash prints them", () => {
    const s = boot();
    // mhp_online_type_from_str(): an unknown online type is -EINVAL from state_store().
    const bad = s.exec(`echo bogus > ${MEM}/memory1/state`);
    assert.equal(
      bad.err,
      'sh: write error: Invalid argument\n  reason: "bogus" is not a state: write online, online_kernel, online_movable or offline\n',
    );
    assert.equal(bad.status, 1);
    assert.equal(bad.entry?.result, "EINVAL");
    // block_size_bytes is 0444: the open for writing fails (sysfs has no write op).
    assert.equal(
      s.exec(`echo 1 > ${MEM}/block_size_bytes`).err,
      `sh: can't create ${MEM}/block_size_bytes: Permission denied\n`,
    );
    // kernfs directories have no ->create: a new name is EACCES; a missing directory ENOENT.
    assert.equal(
      s.exec(`echo 1 > ${MEM}/newfile`).err,
      `sh: can't create ${MEM}/newfile: Permission denied\n`,
    );
    assert.equal(
      s.exec("echo 1 > /sys/nodir/x").err,
      "sh: can't create /sys/nodir/x: nonexistent directory\n",
    );
    assert.equal(s.exec("echo hello world").out, "hello world\n");
  });

  it("a refused offline prints the kernel's EBUSY", () => {
    const s = boot();
    assert.equal(s.exec("dimm-add d0 size=1G").status, 0);
    assert.equal(s.exec(`echo online_kernel > ${MEM}/memory32/state`).status, 0);
    // Unmovable kernel allocations land in the new ZONE_NORMAL block (the highest
    // zone of the zonelist); offline_pages() cannot migrate them: -EBUSY.
    assert.equal(s.exec("workload 400 kernel=100 user=0 reclaimable=0 pinned=0").status, 0);
    const r = s.exec(`echo offline > ${MEM}/memory32/state`);
    assert.match(
      r.err,
      /^sh: write error: Device or resource busy\n {2}reason: memory offlining \[mem 0x100000000-0x107ffffff\] failed due to /,
    );
    assert.equal(r.entry?.result, "EBUSY");
  });

  it("cd, pwd and relative paths", () => {
    const s = boot();
    assert.equal(s.exec(`cd ${MEM}/memory0`).status, 0);
    assert.equal(s.exec("pwd").out, `${MEM}/memory0\n`);
    assert.equal(s.exec("cat state").out, "online\n");
    assert.equal(s.exec("cd ../memory1").status, 0);
    assert.equal(s.exec("cat ./online").out, "1\n");
    const r = s.exec("cd /sys/nowhere");
    assert.equal(r.err, "sh: cd: can't cd to /sys/nowhere: No such file or directory\n");
    assert.equal(s.exec("cd state").err, "sh: cd: can't cd to state: Not a directory\n");
    assert.equal(s.exec("pwd").out, `${MEM}/memory1\n`);
    assert.equal(s.exec("cd").status, 0);
    assert.equal(s.exec("pwd").out, "/\n");
  });

  it("ls lists names, follows links, and shows modes with -l", () => {
    const s = boot();
    const names = s.exec(`ls ${MEM}`).out.split("\n");
    // 1 GiB of boot RAM on x86_64: memory0 … memory7.
    for (let i = 0; i < 8; i++) assert.ok(names.includes(`memory${i}`), `memory${i}`);
    assert.ok(!names.includes("memory8"));
    const long = s.exec(`ls -l ${MEM}`).out;
    assert.match(long, /^-r--r--r-- block_size_bytes$/m);
    assert.match(long, /^-rw-r--r-- auto_online_blocks$/m);
    assert.match(long, /^drwxr-xr-x memory0$/m);
    assert.match(s.exec(`ls -l ${MEM}/memory0`).out, /^lrwxrwxrwx node0 -> \.\.\/\.\.\/node\/node0$/m);
    // Through the symlink: the node's directory, which links back to the block.
    assert.match(s.exec(`ls ${MEM}/memory0/node0`).out, /^memory0$/m);
    assert.equal(s.exec("ls /sys/nope").err, "ls: /sys/nope: No such file or directory\n");
  });

  it("ls prints columns for a terminal", () => {
    const s = boot();
    s.columns = 60;
    const lines = s.exec(`ls ${MEM}`).out.trimEnd().split("\n");
    assert.ok(lines.length < 8, "fewer lines than names");
    assert.ok(lines.every((l) => l.length <= 60));
  });

  it("tree draws a directory", () => {
    const s = boot();
    const t = s.exec(`tree ${MEM}/memory0`).out;
    assert.match(t, /^├── node0 -> \.\.\/\.\.\/node\/node0$/m);
    assert.match(t, /^└── valid_zones$/m);
    assert.match(t, /\n\d+ director(y|ies), \d+ files\n$/);
    assert.ok(!s.exec(`tree -L 1 ${MEM}`).out.includes("valid_zones"), "depth 1 stops at memoryN");
  });

  it("lsmem merges blocks of one state and zone, and sums them", () => {
    const s = boot();
    s.exec("dimm-add d0 size=512M");
    s.exec(`echo online_movable > ${MEM}/memory32/state`);
    const out = s.exec("lsmem").out;
    assert.match(out, /^0x0000000100000000-0x0000000107ffffff\s+128M\s+online\s+yes\s+32\s+Movable$/m);
    assert.match(out, /^0x0000000108000000-0x000000011fffffff\s+384M\s+offline\s+yes\s+33-35\s/m);
    assert.match(out, /Total offline memory:\s+384M/);
  });

  it("runs scenario statements and records them on the timeline", () => {
    const s = boot();
    const r = s.exec("dimm-add d0 size=1G");
    assert.equal(r.out, "added memory32-memory39\n");
    assert.equal(r.entry?.op, "dimm-add");
    // One memory block device per 128 MiB block of the DIMM.
    assert.equal(r.entry?.counts.memoryBlocksRegistered, 8);
    assert.deepEqual(s.exec(`read ${MEM}/memory32/state`).out, "offline\n");
    assert.equal(s.timeline.length, 1, "read is not an operation");
    const call = s.exec("call remove_memory 0x100000000 128M");
    assert.equal(call.out, "remove_memory(0x100000000, 128M) = 0\n");
    // try_remove_memory(): check_memblock_offlined_cb() refuses an online block with -EBUSY.
    s.exec(`echo online > ${MEM}/memory33/state`);
    const busy = s.exec("call remove_memory 0x108000000 128M");
    assert.equal(
      busy.err,
      "remove_memory(0x108000000, 128M) = -16 (EBUSY: Device or resource busy)\n" +
        "  kernel: removing memory fails, because memory [0x0000000108000000-0x000000010fffffff] is onlined\n",
    );
    assert.equal(busy.status, 1);
    assert.match(s.exec("work").out, /^#4 call remove_memory 0x108000000 128M {2}→ {2}EBUSY\n/);
  });

  it("checks statements with the scenario parser, against what came before", () => {
    const s = boot();
    for (let i = 0; i < 4; i++) assert.equal(s.exec(`dimm-add d${i} size=128M`).status, 0);
    const full = s.exec("dimm-add d4 size=128M");
    assert.equal(full.status, 1, "QEMU refuses: a failed command, not a malformed one");
    assert.equal(full.err, "sh: dimm-add: all 4 DIMM slots are in use\n");
    assert.match(s.exec("dimm-add d0 size=128M").err, /DIMM "d0" is already plugged\n$/);
    assert.equal(s.exec("dimm-del d0").status, 0);
    assert.equal(s.exec("dimm-add d4 size=128M").status, 0, "a slot is free again");
    assert.deepEqual(s.exec("frobnicate"), { out: "", err: "sh: frobnicate: not found\n", status: 127 });
    assert.equal(s.exec("machine x86_64 mem=1G maxmem=2G").status, 2);
    assert.equal(s.exec("cat x > /sys/y").status, 2);
  });

  it("boots a scenario file and runs its statements first", () => {
    const text = readFileSync(path.join(ROOT, "scenarios", "examples", "x86-dimm.mhp"), "utf8");
    const s = new ShellSession(text, "x86-dimm.mhp");
    // The example plugs d1, onlines memory32 and offlines it again, then unplugs d1.
    assert.ok(s.timeline.some((e) => e.command.startsWith("dimm-add d1")));
    assert.equal(s.exec(`cat ${MEM}/memory32/state`).status, 1, "memory32 went with the DIMM");
    assert.equal(s.exec("dimm-add d1 size=1G").status, 0, "d1 may be plugged again");
  });

  it("exit ends with a status", () => {
    const s = boot();
    assert.equal(s.exec("exit 3").exit, 3);
    s.exec("cat /nope");
    assert.equal(s.exec("exit").exit, 1, "the last command's status");
  });
});

describe("completion", () => {
  const s = boot();
  const cmds = ["cat", "cd", "dimm-add", "dimm-del"];
  it("completes the first word to a command", () => {
    assert.deepEqual(complete(s.k.kernfs, "/", cmds, "dimm-"), [["dimm-add", "dimm-del"], "dimm-"]);
    assert.deepEqual(complete(s.k.kernfs, "/", cmds, "ca"), [["cat "], "ca"]);
  });
  it("completes paths, directories (and links to them) with a slash", () => {
    assert.deepEqual(complete(s.k.kernfs, "/", cmds, "cd /sys/devices/sys"), [
      ["/sys/devices/system/"],
      "/sys/devices/sys",
    ]);
    assert.deepEqual(complete(s.k.kernfs, `${MEM}`, cmds, "cat memory0/no"), [
      ["memory0/node0/"],
      "memory0/no",
    ]);
    assert.deepEqual(complete(s.k.kernfs, `${MEM}`, cmds, "cat memory0/st"), [
      ["memory0/state "],
      "memory0/st",
    ]);
    assert.deepEqual(complete(s.k.kernfs, "/", cmds, "echo 1 >/sys/kernel/deb"), [
      ["/sys/kernel/debug/"],
      "/sys/kernel/deb",
    ]);
    const many = complete(s.k.kernfs, `${MEM}`, cmds, "ls memory")[0];
    assert.equal(many.length, 8);
  });
});

describe("memhp shell --script", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "memhp-shell-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, text: string) => {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  it("exits 0 when every command succeeds", () => {
    const f = script(
      "ok.sh",
      `dimm-add d0 size=256M\necho online_movable > ${MEM}/memory32/state\ncat ${MEM}/memory32/valid_zones\n`,
    );
    const r = memhp(["shell", "--script", f]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "added memory32-memory33\nMovable\n");
  });

  it("exits 1 after a failed command, running the rest; -e stops at once", () => {
    const f = script("fail.sh", `echo bogus > ${MEM}/memory1/state\necho after\n`);
    const r = memhp(["shell", "--script", f]);
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      `${f}:1: sh: write error: Invalid argument\n` +
        `${f}:1:   reason: "bogus" is not a state: write online, online_kernel, online_movable or offline\n`,
    );
    assert.equal(r.stdout, "after\n");
    const e = memhp(["shell", "-e", "--script", f]);
    assert.equal(e.status, 1);
    assert.equal(e.stdout, "");
  });

  it("exits 2 at a line that is not a command", () => {
    const f = script("bad.sh", "echo before\nfrobnicate\necho after\n");
    const r = memhp(["shell", "--script", f]);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, "before\n");
    assert.equal(r.stderr, `${f}:2: sh: frobnicate: not found\n`);
  });

  it("reads commands from stdin when it is not a terminal, with -x tracing", () => {
    const r = memhp(["shell", "-x", "--arch", "arm64", "--mem", "2G", "--maxmem", "4G"], {
      input: "cat /sys/devices/system/memory/block_size_bytes\n",
    });
    assert.equal(r.status, 0, r.stderr);
    // arm64 with 4K pages: 128 MiB sections, one section per memory block.
    assert.equal(r.stdout, "8000000\n");
    assert.equal(r.stderr, "+ cat /sys/devices/system/memory/block_size_bytes\n");
  });

  it("--kernel runs the machine on another release, a scenario file's too", () => {
    const zoneinfo = (args: string[]) =>
      memhp(["shell", ...args], { input: "cat /proc/zoneinfo | grep -c high_min\n" });
    const v61 = zoneinfo([]);
    assert.equal(v61.stdout, "0\n", "6.1 prints no high_min");
    const v72 = zoneinfo(["--kernel", "7.2"]);
    assert.equal(v72.status, 0, v72.stderr);
    assert.notEqual(v72.stdout, "0\n", "7.2 prints the per-cpu lists' high_min");
    const f = script("m.mhp", "# a machine\nmachine x86_64 mem=1G maxmem=2G kernel=6.12 # trixie\nboot\n");
    const fromFile = zoneinfo(["--scenario", f, "--kernel", "7.2"]);
    assert.equal(fromFile.status, 0, fromFile.stderr);
    assert.equal(fromFile.stdout, v72.stdout);
    const bad = memhp(["shell", "--kernel", "6.6"], { input: "" });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /kernel=6\.6/);
  });

  it("refuses bad machine options with exit 2", () => {
    const r = memhp(["shell", "--mem", "3M"], { input: "" });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^memhp: bad machine options: mem 3M is not a multiple of 2M/);
    const both = memhp(["shell", "--scenario", "x.mhp", "--arch", "arm64"], { input: "" });
    assert.equal(both.status, 2);
    assert.match(both.stderr, /cannot be used with/);
  });
});

// --- the interactive shell in a pseudo-terminal ---

describe("memhp shell in a terminal (tmux)", { skip: tmuxMissing }, () => {
  const term = tmuxShell({ socket: `memhp-test-${process.pid}`, width: 150, height: 45 });
  const { keys, waitFor, lastLine } = term;

  before(() => term.start());
  after(() => term.stop());

  it("shows a prompt, completes paths with Tab, keeps history, and exits on Ctrl-D", async () => {
    await waitFor(/memhp:\/#\s*$/m);
    keys("cd /sys/devices/sys", "Tab");
    await waitFor(/cd \/sys\/devices\/system\/$/m);
    keys("mem", "Tab");
    await waitFor(/cd \/sys\/devices\/system\/memory\/$/m);
    keys("Enter");
    await waitFor(/memhp:\/sys\/devices\/system\/memory#\s*$/m);

    keys("dimm-add d0 size=1G", "Enter");
    await waitFor(/^added memory32-memory39$/m);
    keys("echo online_movable > memory32/state", "Enter");
    keys("cat memory32/state memory32/valid_zones", "Enter");
    await waitFor(/^online\nMovable$/m);
    keys("cat /sys/x", "Enter");
    await waitFor(/^cat: can't open '\/sys\/x': No such file or directory$/m);

    // Up twice: the cat before the last one.
    keys("Up", "Up");
    await waitFor(/# cat memory32\/state memory32\/valid_zones$/m);
    assert.match(lastLine(), /cat memory32\/state memory32\/valid_zones$/);
    keys("C-u", "C-d");
    await waitFor(/^\[exit 1\]$/m); // the last command (cat /sys/x) failed
    const hist = readFileSync(path.join(term.home(), ".memhp_history"), "utf8");
    assert.match(hist, /^dimm-add d0 size=1G$/m);
    assert.match(hist, /^cat \/sys\/x\n$/m);
  });
});
