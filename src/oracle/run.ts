// `memhp oracle`: run a scenario on Debian's Linux 6.1 (or 6.12) cloud kernel under QEMU
// (TCG) and return its trace, in the format `memhp run` gives for the model
// (docs/scenario-format.md). docs/oracle.md describes the set-up, the
// choices and the facts the real kernel showed.

import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Arch, Located, RunStatement, Scenario } from "../scenario/ast.js";
import type { PtdumpRecord, ReadRecord, Trace, TraceHeader, TraceRecord } from "../scenario/trace.js";
import { pcpPagesIn, wantsPcpPages } from "../scenario/pcp.js";
import {
  PATCHED_MODULE,
  cacheDir,
  findBusybox,
  findKernel,
  findPatchedKernel,
  kernelModuleList,
  type KernelFiles,
  type OracleKernel,
} from "./cache.js";
import { errnoFromErrorText } from "./errnos.js";
import { ConsoleWatch, crashInfo, type ConsoleEvent } from "./console-crash.js";
import { crashRecord } from "../scenario/crash.js";
import { KERNEL_PTDUMP_PATH, compareWithKernelPtdump } from "./kernel-ptdump.js";
import { describeSamples, parseSystemMap, systemMapOf } from "./hang-probe.js";
import { kernelLayout } from "./ptdump-runs.js";
import { GuestChannel, type Resent } from "./guest.js";
import { guestInitScript, DEFAULT_GUEST_INIT } from "./guest-init.js";
import { GuestTables } from "./guest-tables.js";
import { dimmAdd, dimmDel, vmemResize, type HostEventContext, type HostEventOutcome } from "./host-events.js";
import { buildInitramfs } from "./initramfs.js";
import { fileOpResult, lsNames, pickFields, snapshotOf, type FileOpResult, type Reply } from "./protocol.js";
import {
  ARM64_FIRMWARE,
  machineSlots,
  PROTOCOL_TTY,
  QEMU_BINARY,
  QemuProcess,
  type QemuPaths,
  needsRawMemory,
  qemuArgs,
  shellQuote,
} from "./qemu.js";
import { connectQmp, type QmpSession } from "./qmp.js";
import {
  dropSavedBoot,
  fileDigest,
  findSavedBoot,
  pruneSavedBoots,
  touchSavedBoot,
  SAVED_BOOT_FORMAT,
  savedBootKey,
  savedBootPaths,
  savedBootsWanted,
  type SavedBoot,
  type SavedBootMeta,
} from "./saved-boot.js";
import { DEFAULT_KERNEL_VERSION, type KernelVersion } from "../kernel/linux_version.js";
import { DEFAULT_SETTLE, realClock, type Clock, type SettleOptions } from "./settle.js";

export interface OracleOptions {
  /** where scripts/oracle-setup.sh put the kernel (default: cache.ts cacheDir()) */
  cacheDir?: string;
  /** the QEMU binary (default qemu-system-x86_64 / qemu-system-aarch64 from PATH) */
  qemuBinary?: string;
  settle?: Partial<SettleOptions>;
  /** from QEMU start to the guest's hello (default 120 s) */
  bootTimeoutMs?: number;
  /** one guest request (default 60 s; a write is interrupted in the guest after 30 s) */
  requestTimeoutMs?: number;
  /** progress and diagnostics (e.g. process.stderr.write) */
  log?: (line: string) => void;
  /** also write the guest console (ttyS0) and QEMU's messages to this file */
  consoleLog?: string;
  /** called with each record as soon as it is known */
  onRecord?: (rec: TraceRecord) => void;
  clock?: Clock;
  /** Debian's cloud kernel (default) or the RFC-patched build of linux-patches/build.sh */
  kernel?: OracleKernel;
  /**
   * Which release: Debian's 6.1 (Debian 12's), 6.12 (Debian 13's) or 7.2
   * (sid's), or the patched build of that release's source (linux-patches/).
   * Default: the scenario's `machine ... kernel=`, else 6.1.
   */
  version?: KernelVersion;
  /**
   * Start from the saved boot of this command line (saved-boot.ts; made by
   * a cold boot the first time). Default: yes, unless MEMHP_ORACLE_COLD=1.
   */
  savedBoot?: boolean;
  /**
   * How many times runOracle() runs a scenario again on a fresh guest after a
   * transport stall (isTransportStall()); default 1. 0: never.
   */
  stallRetries?: number;
}

export class OracleError extends Error {
  constructor(
    message: string,
    /** the tail of the guest console, for the diagnosis */
    readonly console = "",
  ) {
    super(message);
  }
}

/**
 * The guest stopped answering and its console shows no crash (a crash is a
 * record of the trace instead: docs/scenario-format.md, "Kernel crashes and
 * warnings").
 */
export class OracleHang extends OracleError {
  constructor(
    /** the scenario line of the statement that did not finish */
    readonly line: number,
    message: string,
    console = "",
    /** what its CPU was doing (hang-probe.ts describeSamples()), when it could be sampled */
    readonly where?: string,
  ) {
    super(
      `line ${line}: the guest stopped answering, with no crash on its console (${message})` +
        (where ? `; ${where}` : ""),
      console,
    );
    this.name = "OracleHang";
  }
}

/**
 * How long after the first line of a BUG, oops or panic the oracle waits for
 * the end of the report (its registers, the faulting function) before it
 * records the crash.
 */
export const CRASH_REPORT_MS = 3000;

/** Why the oracle cannot run here, or undefined when it can (for skipping tests and CLI messages). */
export function oracleUnavailable(
  arch: Scenario["machine"]["arch"] = "x86_64",
  opts: OracleOptions = {},
): string | undefined {
  const dir = opts.cacheDir ?? cacheDir();
  const version = opts.version ?? DEFAULT_KERNEL_VERSION;
  const setup = `scripts/oracle-setup.sh ${arch}${version === DEFAULT_KERNEL_VERSION ? "" : ` ${version}`}`;
  if (opts.kernel === "patched") {
    if (!findPatchedKernel(arch, dir, version))
      return `no patched ${version} ${arch} kernel in ${dir} (run linux-patches/build.sh ${arch} normal ${version})`;
  } else if (!findKernel(arch, dir, version)) return `no ${version} ${arch} kernel in ${dir} (run ${setup})`;
  if (!findBusybox(arch, dir, version)) {
    return arch === "x86_64"
      ? "no static busybox (apt-get install busybox-static)"
      : `no static ${arch} busybox in ${dir} (run ${setup})`;
  }
  const bin = opts.qemuBinary ?? QEMU_BINARY[arch];
  if (!onPath(bin)) return `${bin} not found (run ${setup})`;
  if (arch === "arm64" && !fs.existsSync(ARM64_FIRMWARE)) return `no ${ARM64_FIRMWARE} (run ${setup})`;
  return undefined;
}

function onPath(bin: string): boolean {
  if (bin.includes("/")) return fs.existsSync(bin);
  return (process.env.PATH ?? "").split(":").some((d) => d !== "" && fs.existsSync(path.join(d, bin)));
}

/**
 * The kernel modules the guest loads: virtio-mem and its stack when the
 * scenario has a `vmem`; on arm64 also the virtio console of the protocol port.
 */
function guestModules(s: Scenario, k: KernelFiles): Array<[string, Buffer]> {
  const list = k.patched ? [PATCHED_MODULE] : kernelModuleList(s.machine.arch, s.vmems.length > 0, k);
  return list.map((m) => [path.basename(m), fs.readFileSync(path.join(k.modulesDir, m))]);
}

/**
 * A booted oracle guest: run statements on it one by one, then close it.
 * runOracle() is the whole-scenario form; tests and explorations use this.
 */
export class OracleSession {
  private constructor(
    readonly header: TraceHeader,
    private readonly guest: GuestChannel,
    private readonly qmp: QmpSession,
    private readonly ctx: HostEventContext,
    private readonly requestTimeoutMs: number,
    private readonly cleanup: () => Promise<void>,
    private readonly orDeath: <T>(p: Promise<T>) => Promise<T>,
    private readonly qemu: QemuProcess,
    /** the guest's page tables, read through QEMU's gdbstub (ptdump) */
    readonly tables: GuestTables,
    /** the RFC-patched kernel: `call` goes to its test module */
    readonly patched: boolean,
    /** the kernel's crash and warning reports on the guest console */
    readonly consoleWatch: ConsoleWatch,
  ) {}

  /** The scenario line the guest crashed on (no statement runs after it). */
  crashedAt: number | undefined;

  /** The tail of the guest console and QEMU's messages. */
  get console(): string {
    return this.qemu.console;
  }

  /**
   * Starts QEMU with the scenario's machine and waits for the guest's hello;
   * by default by restoring the saved boot of this command line (saved-boot.ts),
   * made by a cold boot the first time.
   */
  static async start(scenario: Scenario, opts: OracleOptions = {}): Promise<OracleSession> {
    // a machine that carries the RFC series (`machine ... rfc=v2`) is the patched kernel
    if (opts.kernel === undefined && scenario.machine.rfc) opts = { ...opts, kernel: "patched" };
    // the scenario's release (`machine ... kernel=6.12`) unless the caller chose one
    if (opts.version === undefined)
      opts = { ...opts, version: scenario.machine.kernel ?? DEFAULT_KERNEL_VERSION };
    const arch = scenario.machine.arch;
    const why = oracleUnavailable(arch, opts);
    if (why) throw new OracleError(why);
    const log = opts.log ?? (() => undefined);
    const dir = opts.cacheDir ?? cacheDir();
    if (!savedBootsWanted(opts.savedBoot)) return OracleSession.coldBoot(scenario, opts);
    const probe = prepare(scenario, opts);
    const key = savedBootKey({
      binary: probe.binary,
      args: probe.args,
      workDir: probe.work,
      files: [probe.kernel.vmlinuz, ...(arch === "arm64" ? [ARM64_FIRMWARE] : [])],
      digests: [createHash("sha256").update(probe.initramfs).digest("hex")],
    });
    const making = savedBootsInTheMaking.get(key);
    if (making) await making;
    let saved = findSavedBoot(dir, key);
    if (!saved) {
      log(`oracle: no saved boot ${key} yet: booting to save one`);
      let done: () => void = () => undefined;
      savedBootsInTheMaking.set(key, new Promise<void>((r) => (done = r)));
      try {
        const s = await OracleSession.coldBoot(scenario, opts, probe);
        try {
          await s.saveBoot(dir, key);
        } catch (e) {
          log(`oracle: could not save the boot: ${(e as Error).message}`);
          await s.monitor.execute("cont").catch(() => undefined);
          return s;
        }
        await s.close();
        const pruned = pruneSavedBoots(dir, key);
        if (pruned.length) log(`oracle: removed ${pruned.length} saved boot(s) unused for a week`);
      } finally {
        savedBootsInTheMaking.delete(key);
        done();
      }
      saved = findSavedBoot(dir, key);
    } else fs.rmSync(probe.work, { recursive: true, force: true });
    if (saved) {
      touchSavedBoot(saved);
      try {
        return await OracleSession.launch(scenario, opts, { kind: "restore", saved });
      } catch (e) {
        if (e instanceof OracleError && / crashed /.test(e.message)) throw e;
        log(`oracle: saved boot ${key} did not restore (${(e as Error).message}): dropped, booting`);
        dropSavedBoot(dir, key);
      }
    }
    return OracleSession.coldBoot(scenario, opts);
  }

  /**
   * A cold boot, tried again (twice at most) when the kernel panicked in its
   * IO-APIC timer check: under TCG on a busy host the emulated timer can miss
   * check_timer()'s window (arch/x86/kernel/apic/io_apic.c: "IO-APIC + timer
   * doesn't work!"), which says nothing of the scenario.
   */
  private static async coldBoot(
    scenario: Scenario,
    opts: OracleOptions,
    prepared?: Prepared,
  ): Promise<OracleSession> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await OracleSession.launch(
          scenario,
          opts,
          { kind: "cold" },
          attempt === 1 ? prepared : undefined,
        );
      } catch (e) {
        if (attempt >= 3 || !(e instanceof OracleError) || !/IO-APIC \+ timer doesn't work/.test(e.message))
          throw e;
        (opts.log ?? (() => undefined))(`oracle: ${e.message.split("\n")[0]}: booting again (busy host)`);
      }
    }
  }

  private static async launch(
    scenario: Scenario,
    opts: OracleOptions,
    how: { kind: "cold" } | { kind: "restore"; saved: SavedBoot },
    prepared?: Prepared,
  ): Promise<OracleSession> {
    const arch = scenario.machine.arch;
    const log = opts.log ?? (() => undefined);
    const clock = opts.clock ?? realClock;
    const restore = how.kind === "restore" ? how.saved : undefined;
    const ready = prepared ?? prepare(scenario, opts, restore?.initrd);
    const { kernel, work, paths, binary, args } = ready;
    const qemuArgv = restore ? [...args, "-incoming", `exec:cat ${shellQuote([restore.state])}`] : args;
    const consoleFd = opts.consoleLog
      ? fs.openSync(opts.consoleLog, consoleFlags(opts.consoleLog))
      : undefined;
    const t0 = clock.now();
    log(
      restore
        ? `oracle: restoring saved boot ${restore.meta.key} in ${binary} (kernel ${kernel.release})`
        : `oracle: starting ${binary} (kernel ${kernel.release})`,
    );
    const watch = new ConsoleWatch();
    const qemu = new QemuProcess(binary, qemuArgv, undefined, (t) => {
      if (consoleFd !== undefined) fs.writeSync(consoleFd, t);
      watch.feed(t);
    });
    let guest: GuestChannel | undefined;
    let qmpSocket: { destroy(): void } | undefined;
    let qmp: QmpSession | undefined;
    const cleanup = async (): Promise<void> => {
      if (qmp) await shutdown(qmp, qemu);
      guest?.close();
      qmpSocket?.destroy();
      await qemu.kill();
      if (consoleFd !== undefined) fs.closeSync(consoleFd);
      fs.rmSync(work, { recursive: true, force: true });
    };
    const died = qemu.exited.then((code) => {
      throw new OracleError(`QEMU exited (code ${code})`, qemu.console);
    });
    died.catch(() => undefined);
    const orDeath = <T>(p: Promise<T>): Promise<T> => Promise.race([p, died]);
    try {
      const q = await orDeath(connectQmp(paths.qmpSocket));
      qmpSocket = q.socket;
      qmp = q.session;
      guest = await orDeath(GuestChannel.connect(paths.guestSocket));
      const version = await orDeath(
        qmp.execute<{ qemu: { major: number; minor: number; micro: number }; package: string }>(
          "query-version",
        ),
      );
      const bootTimeoutMs = opts.bootTimeoutMs ?? 120_000;
      let hello: { release: string; build: string };
      if (restore) {
        hello = await orDeath(
          resumeSaved(qmp, guest, restore, bootTimeoutMs, (l) =>
            log(`oracle: ${l} after ${Math.round(clock.now() - t0)} ms`),
          ),
        );
        log(`oracle: guest restored after ${Math.round(clock.now() - t0)} ms`);
      } else {
        hello = await orDeath(guest.ready(bootTimeoutMs)).catch((e: Error) => {
          const crash = watch.events.find((ev) => ev.fatal);
          if (crash) throw new OracleError(`the guest crashed while booting: ${crash.message}`, qemu.console);
          throw new OracleError(`guest did not come up: ${e.message}`, qemu.console);
        });
        log(`oracle: guest up after ${Math.round(clock.now() - t0)} ms`);
      }
      const header: TraceHeader = {
        op: "system",
        system: "linux",
        version: hello.release,
        arch,
        build: hello.build,
        qemu: `${version.qemu.major}.${version.qemu.minor}.${version.qemu.micro} (${version.package.trim()})`,
        commandLine: shellQuote([binary, ...args]),
        machine: {
          memBytes: scenario.machine.memBytes,
          maxmemBytes: scenario.machine.maxmemBytes,
          slots: machineSlots(scenario.machine),
          ...(scenario.machine.cpu !== undefined ? { cpu: scenario.machine.cpu } : {}),
        },
        cmdline: scenario.cmdline,
      };
      if (restore) header.savedBoot = restore.meta.key;
      const g = guest;
      const requestTimeoutMs = opts.requestTimeoutMs ?? 60_000;
      const ctx: HostEventContext = {
        qmp,
        probe: async () => snapshotOf(await orDeath(g.request("S", [], requestTimeoutMs))),
        clock,
        settle: { ...DEFAULT_SETTLE, ...opts.settle },
      };
      const tables = new GuestTables(arch, paths.gdbSocket, qmp, kernel.patched === true, kernel.version);
      const s = new OracleSession(
        header,
        g,
        qmp,
        ctx,
        requestTimeoutMs,
        cleanup,
        orDeath,
        qemu,
        tables,
        kernel.patched === true,
        watch,
      );
      s.systemMap = systemMapOf(kernel);
      s.startup = {
        bootMs: clock.now() - t0,
        restored: restore !== undefined,
        args,
        work,
        initramfs: ready.initramfs,
      };
      return s;
    } catch (e) {
      await cleanup();
      if (e instanceof OracleError) throw e;
      throw new OracleError((e as Error).message, qemu.console);
    }
  }

  /** How this guest started: ms from QEMU's start to a guest ready for statements. */
  startup: { bootMs: number; restored: boolean; args: string[]; work: string; initramfs: Buffer } = {
    bootMs: 0,
    restored: false,
    args: [],
    work: "",
    initramfs: Buffer.alloc(0),
  };

  /**
   * Saves this idle, just booted guest as the saved boot `key` (a migration
   * stream written while the guest is stopped; written to a temporary name
   * and renamed, so a reader never sees half of one).
   */
  async saveBoot(cache: string, key: string): Promise<void> {
    const p = savedBootPaths(cache, key);
    fs.mkdirSync(p.dir, { recursive: true });
    const tmp = `${p.state}.${process.pid}.${Date.now()}`;
    try {
      await this.qmp.execute("stop");
      await this.qmp.execute("migrate-set-parameters", { "max-bandwidth": 2 ** 40 });
      await this.orDeath(this.qmp.execute("migrate", { uri: `exec:cat > ${shellQuote([tmp])}` }));
      for (;;) {
        const st = await this.orDeath(
          this.qmp.execute<{ status: string; "error-desc"?: string }>("query-migrate"),
        );
        if (st.status === "completed") break;
        if (st.status === "failed" || st.status === "cancelled")
          throw new Error(`migration ${st.status}: ${st["error-desc"] ?? ""}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      fs.writeFileSync(`${p.initrd}.tmp${process.pid}`, this.startup.initramfs);
      fs.renameSync(`${p.initrd}.tmp${process.pid}`, p.initrd);
      fs.renameSync(tmp, p.state);
      const meta: SavedBootMeta = {
        format: SAVED_BOOT_FORMAT,
        key,
        release: this.header.version,
        build: String(this.header.build ?? ""),
        args: this.startup.args.map((a) => a.split(this.startup.work).join("WORK")),
        bootMs: Math.round(this.startup.bootMs),
        savedAt: new Date().toISOString(),
      };
      fs.writeFileSync(p.meta, JSON.stringify(meta, null, 2) + "\n");
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  /**
   * Runs one statement after `boot` and returns its record. On the patched
   * kernel a ptdump is also read from the kernel's own dump
   * (CONFIG_PTDUMP_DEBUGFS), which must agree with the host-side walk.
   */
  async run(st: Located<RunStatement>): Promise<TraceRecord> {
    if (this.crashedAt !== undefined)
      throw new OracleError(`the guest crashed at line ${this.crashedAt}: no statement runs after it`);
    const from = this.consoleWatch.events.length;
    const work = this.runChecked(st);
    work.catch(() => undefined);
    const fatal = fatalReport(this.consoleWatch, from);
    try {
      const first = await Promise.race([
        work.then(
          (rec) => ({ rec }) as const,
          (err: unknown) => ({ err }) as const,
        ),
        fatal.report.then((ev) => ({ ev }) as const),
      ]);
      if ("rec" in first) {
        // the console's last lines may still be on their way
        await new Promise((r) => setImmediate(r));
        await new Promise((r) => setImmediate(r));
      }
      const ev = "ev" in first ? first.ev : fatal.seen() ? await fatal.report : undefined;
      if (ev) {
        this.crashedAt = st.loc.line;
        return crashRecord(st, crashInfo(ev));
      }
      if ("err" in first) {
        const e = first.err as Error;
        if (/did not answer/.test(e.message) && !(e instanceof OracleError))
          throw new OracleHang(st.loc.line, e.message, this.console, await this.whereStuck());
        throw e;
      }
      const rec = (first as { rec: TraceRecord }).rec;
      const warnings = this.consoleWatch.events.slice(from).filter((e) => !e.fatal);
      if (warnings.length) rec.warnings = warnings.map(crashInfo);
      return rec;
    } finally {
      fatal.cancel();
    }
  }

  /** What the guest's CPU is doing, from a few samples of its program counter (hang-probe.ts). */
  private async whereStuck(): Promise<string> {
    const probe = async (): Promise<string> => {
      const pcs = await this.tables.pcSamples(8, 250);
      const map = this.systemMap;
      const syms = map ? parseSystemMap(fs.readFileSync(map, "utf8")) : undefined;
      return describeSamples(this.header.arch as Arch, pcs, syms);
    };
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<string>((resolve) => {
      timer = setTimeout(
        () => resolve("its CPU could not be sampled: QEMU did not answer within 20 s"),
        20_000,
      );
    });
    try {
      return await Promise.race([
        probe().catch((e: Error) => `its CPU could not be sampled: ${e.message}`),
        limit,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Requests the guest answered only after guest.ts sent them again (a
   * request or reply that lost bytes, a reply held back, or a statement
   * that was merely slow).
   */
  get resent(): readonly Resent[] {
    return this.guest.resent;
  }

  /** The kernel's System.map, which names the program counters of whereStuck(). */
  systemMap: string | undefined;

  private async runChecked(st: Located<RunStatement>): Promise<TraceRecord> {
    const rec = await this.orDeath(
      runStatement(st, this.guest, this.ctx, this.requestTimeoutMs, this.tables, this.patched),
    );
    if (this.patched && st.op === "ptdump" && rec.op === "ptdump" && "linear" in rec) {
      const arch = this.header.arch as Arch;
      const dump = fileOpResult(
        await this.orDeath(this.guest.request("R", [KERNEL_PTDUMP_PATH[arch]], this.requestTimeoutMs)),
      );
      if (dump.rc !== 0)
        throw new OracleError(`ptdump: cannot read ${KERNEL_PTDUMP_PATH[arch]}: ${dump.err}`);
      const layout = kernelLayout(arch, this.tables.version);
      const end = st.start + st.sizeBytes;
      const sp = BigInt(layout.structPageBytes);
      const diffs = compareWithKernelPtdump(rec as PtdumpRecord, dump.out, {
        linear: [layout.pageOffset + st.start, layout.pageOffset + end],
        vmemmap: [layout.vmemmap + (st.start >> 12n) * sp, layout.vmemmap + ((end + 4095n) >> 12n) * sp],
      });
      this.kernelPtdumpChecks++;
      if (diffs.length) throw new OracleError(diffs.join("\n"), this.console);
    }
    return rec;
  }

  /** ptdump records checked against the kernel's own dump (patched kernel). */
  kernelPtdumpChecks = 0;

  /** Runs a shell script in the guest (diagnostics: dmesg, cat of several files). */
  async exec(script: string): Promise<FileOpResult> {
    return fileOpResult(await this.orDeath(this.guest.request("X", [script], this.requestTimeoutMs)));
  }

  /** The QMP session (for explorations: query-memory-devices, qom-get ...). */
  get monitor(): QmpSession {
    return this.qmp;
  }

  /** Quits QEMU and removes the work folder. */
  close(): Promise<void> {
    return this.cleanup();
  }
}

/**
 * The first BUG, oops or panic on the console from event `from` on, once its
 * report is complete (or CRASH_REPORT_MS after its first line).
 */
function fatalReport(
  watch: ConsoleWatch,
  from: number,
): { report: Promise<ConsoleEvent>; seen: () => boolean; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let found: ConsoleEvent | undefined;
  let off: () => void = () => undefined;
  const report = new Promise<ConsoleEvent>((resolve) => {
    const check = (): void => {
      if (!found) found = watch.events.slice(from).find((e) => e.fatal);
      if (!found) return;
      if (found.complete) {
        off();
        clearTimeout(timer);
        resolve(found);
      } else if (timer === undefined) {
        const f = found;
        timer = setTimeout(() => {
          off();
          resolve(f);
        }, CRASH_REPORT_MS);
      }
    };
    off = watch.onChange(check);
    check();
  });
  return {
    report,
    seen: () => watch.events.slice(from).some((e) => e.fatal),
    cancel: () => {
      off();
      clearTimeout(timer);
    },
  };
}

/** Saved boots this process is making (its other sessions of the same command line wait for them). */
const savedBootsInTheMaking = new Map<string, Promise<void>>();

/** A console log is started afresh by the first QEMU of a run, added to by the next (a saved boot's). */
const consoleLogsStarted = new Set<string>();
function consoleFlags(file: string): "w" | "a" {
  if (consoleLogsStarted.has(file)) return "a";
  consoleLogsStarted.add(file);
  return "w";
}

/** Built initramfs images of this process, by their inputs. */
const initramfsImages = new Map<string, Buffer>();

/** The scenario's initramfs (built once per set of inputs in a process). */
function initramfsFor(scenario: Scenario, kernel: KernelFiles, dir: string): Buffer {
  const arch = scenario.machine.arch;
  const busybox = findBusybox(arch, dir, kernel.version) as string;
  const init = guestInitScript({ ...DEFAULT_GUEST_INIT, tty: PROTOCOL_TTY[arch] });
  const modules = kernel.patched
    ? [PATCHED_MODULE]
    : kernelModuleList(arch, scenario.vmems.length > 0, kernel);
  const files = [busybox, ...modules.map((m) => path.join(kernel.modulesDir, m))];
  const id = JSON.stringify([init, files.map((f) => [f, fileDigest(f)])]);
  let img = initramfsImages.get(id);
  if (!img) {
    img = buildInitramfs({
      busybox: fs.readFileSync(busybox),
      init,
      modules: guestModules(scenario, kernel),
    });
    initramfsImages.set(id, img);
  }
  return img;
}

interface Prepared {
  kernel: KernelFiles;
  work: string;
  paths: QemuPaths;
  binary: string;
  args: string[];
  initramfs: Buffer;
}

/**
 * The scenario's kernel, work folder (sockets; the initramfs unless
 * `initrd` names one with the same contents) and QEMU command line.
 */
function prepare(scenario: Scenario, opts: OracleOptions, initrd?: string): Prepared {
  const arch = scenario.machine.arch;
  const dir = opts.cacheDir ?? cacheDir();
  const kernel = (
    opts.kernel === "patched"
      ? findPatchedKernel(arch, dir, opts.version ?? scenario.machine.kernel ?? DEFAULT_KERNEL_VERSION)
      : findKernel(arch, dir, opts.version ?? scenario.machine.kernel ?? DEFAULT_KERNEL_VERSION)
  ) as KernelFiles;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "memhp-oracle-"));
  const initramfs = initramfsFor(scenario, kernel, dir);
  const paths: QemuPaths = {
    vmlinuz: kernel.vmlinuz,
    initrd: initrd ?? path.join(work, "initrd.gz"),
    qmpSocket: path.join(work, "qmp.sock"),
    guestSocket: path.join(work, "guest.sock"),
    gdbSocket: path.join(work, "gdb.sock"),
  };
  if (initrd === undefined) fs.writeFileSync(paths.initrd, initramfs);
  const binary = opts.qemuBinary ?? QEMU_BINARY[arch];
  // the patched kernel's test module adds memory itself: give it memory no driver adds
  const args = qemuArgs(scenario, paths, {
    rawMemory: kernel.patched === true && needsRawMemory(scenario),
  });
  return { kernel, work, paths, binary, args, initramfs };
}

/**
 * A restored guest: waits for the incoming migration, resumes the guest (it
 * was saved stopped), sets its wall clock to now and checks it answers as
 * the saved guest did.
 */
async function resumeSaved(
  qmp: QmpSession,
  guest: GuestChannel,
  saved: SavedBoot,
  timeoutMs: number,
  progress: (what: string) => void = () => undefined,
): Promise<{ release: string; build: string }> {
  progress("QMP up");
  const t0 = performance.now();
  for (;;) {
    const st = await qmp.execute<{ status: string }>("query-status");
    if (st.status !== "inmigrate") break;
    if (performance.now() - t0 > timeoutMs) throw new Error("the incoming migration did not finish");
    await new Promise((r) => setTimeout(r, 5));
  }
  progress("incoming migration done");
  await qmp.execute("cont");
  const now = Math.floor(Date.now() / 1000);
  const r = fileOpResult(
    await guest.request("X", [`date -s @${now} >/dev/null 2>&1; uname -r`], Math.min(timeoutMs, 30_000)),
  );
  const release = r.out.trim();
  if (release !== saved.meta.release)
    throw new Error(`the restored guest says ${JSON.stringify(release)}, saved ${saved.meta.release}`);
  return { release, build: saved.meta.build };
}

/** The patched kernel's test module's control file (linux-patches/patches/0008). */
export const TEST_MODULE_CTL = "/sys/kernel/debug/memhp/ctl";

/** Runs the whole scenario on the real kernel and returns its trace. */
export function runOracle(scenario: Scenario, opts: OracleOptions = {}): Promise<Trace> {
  return retryStalls(() => runOracleOnce(scenario, opts), opts);
}

/**
 * Was `e` a hang with the guest's CPU halted (hang-probe.ts)? Then nothing
 * ran in the guest: it waited for the host and the host for it, even after
 * its request went again, or the statement's task sleeps in the kernel for
 * good. Running the scenario again tells them apart: a kernel that
 * deadlocks does so again.
 */
export function isTransportStall(e: unknown): e is OracleHang {
  return e instanceof OracleHang && /^its CPU was halted/.test(e.where ?? "");
}

/**
 * Runs `attempt` (a whole scenario on a fresh guest) again when it ends in a
 * transport stall, `opts.stallRetries` times at most (default 1), saying so
 * in the log. Any other error, a crash or a hang with a busy CPU among them,
 * is the result.
 */
export async function retryStalls<T>(attempt: () => Promise<T>, opts: OracleOptions = {}): Promise<T> {
  const log = opts.log ?? (() => undefined);
  for (let left = opts.stallRetries ?? 1; ; left--) {
    try {
      return await attempt();
    } catch (e) {
      if (!isTransportStall(e) || left <= 0) throw e;
      log(`oracle: ${e.message.split("\n")[0]}: running the scenario again on a fresh guest`);
    }
  }
}

async function runOracleOnce(scenario: Scenario, opts: OracleOptions): Promise<Trace> {
  const log = opts.log ?? (() => undefined);
  const clock = opts.clock ?? realClock;
  const t0 = clock.now();
  const session = await OracleSession.start(scenario, opts);
  try {
    const records: TraceRecord[] = [];
    for (const st of scenario.body) {
      const ts = clock.now();
      const resent = session.resent.length;
      const rec = await session.run(st);
      for (const r of session.resent.slice(resent))
        log(
          `oracle: line ${st.loc.line}: the guest answered after ${r.ms} ms, ` +
            `${r.afterResendMs} ms after the request went again (${r.resends} time(s))`,
        );
      if (rec.crash) log(`oracle: line ${st.loc.line}: the kernel crashed: ${rec.crash.message}`);
      for (const w of rec.warnings ?? []) log(`oracle: line ${st.loc.line}: ${w.message}`);
      const t = session.tables.last;
      const detail =
        st.op === "ptdump" && t
          ? `: root 0x${t.rootPa.toString(16)}, ${t.pagesRead} table pages read, leaves ${JSON.stringify(t.leaves)}`
          : "";
      log(`oracle: line ${st.loc.line} ${st.op} (${Math.round(clock.now() - ts)} ms)${detail}`);
      records.push(rec);
      opts.onRecord?.(rec);
      if (rec.crash) break; // the kernel is not in a state to go on from
    }
    log(`oracle: done in ${Math.round(clock.now() - t0)} ms`);
    return { header: session.header, records };
  } catch (e) {
    if (e instanceof OracleError) throw e;
    throw new OracleError((e as Error).message, session.console);
  } finally {
    await session.close();
  }
}

async function shutdown(qmp: QmpSession, qemu: QemuProcess): Promise<void> {
  if (qemu.exitCode !== undefined) return;
  await qmp.execute("quit").catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([qemu.exited, new Promise((r) => (timer = setTimeout(r, 5000)))]);
  clearTimeout(timer);
}

/** The errno name of a failed guest file operation. */
export function failure(r: FileOpResult): string {
  if (r.rc === 130) return "EINTR"; // interrupted by the guest's write time limit (SIGINT)
  return errnoFromErrorText(r.err) ?? `E?(${r.err.trim()})`;
}

function hostRecord(st: { loc: { line: number }; op: string; id: string }, o: HostEventOutcome): TraceRecord {
  const rec: TraceRecord = { line: st.loc.line, op: st.op, id: st.id, result: o.result, blocks: o.blocks };
  if (!o.settled) rec.settled = false;
  return rec;
}

/** What runStatement needs of the guest channel (a fake in tests). */
export type GuestRequester = Pick<GuestChannel, "request">;
/** What runStatement needs for `ptdump` (a fake in tests). */
export type PtdumpSource = Pick<GuestTables, "ptdump">;

/** Read again while the per-cpu lists moved by more than this many pages around the read. */
export const PCP_STEADY_PAGES = 16;
/** At most this many reads of a MemFree line (the one whose lists moved least is kept). */
export const PCP_READ_ATTEMPTS = 4;

/**
 * PATH (a /proc/meminfo read for MemFree) with the per-cpu lists' pages at that
 * moment: /proc/zoneinfo is read right before and right after it, and the
 * annotation is the mean of the two counts. From 6.7 the lists' `high` is
 * tuned at run time and vmstat's worker drains them by hundreds of pages at a
 * time (decay_pcp_high()); a drain between MemFree and the count would offset
 * every later change measured from that reading, so while the two counts are
 * more than PCP_STEADY_PAGES apart the read is made again (PCP_READ_ATTEMPTS
 * in all) and the tightest pair kept.
 */
export async function pcpBracketedRead(
  g: GuestRequester,
  path: string,
  timeoutMs: number,
): Promise<{ reply: Reply; pcpPages: number | undefined }> {
  let best: { reply: Reply; pcpPages: number | undefined; moved: number } | undefined;
  for (let i = 0; i < PCP_READ_ATTEMPTS; i++) {
    const reply = await g.request("R", [path, "/proc/zoneinfo"], timeoutMs);
    const before = reply.fields.get("out0");
    const after = reply.fields.get("out2");
    if (reply.fields.get("rc") !== "0" || !after) return { reply, pcpPages: undefined };
    const b = pcpPagesIn(before ?? after);
    const a = pcpPagesIn(after);
    const moved = Math.abs(a - b);
    if (!best || moved < best.moved) best = { reply, pcpPages: Math.round((a + b) / 2), moved };
    if (moved <= PCP_STEADY_PAGES) break;
  }
  return { reply: best!.reply, pcpPages: best!.pcpPages };
}

/** One statement after `boot`, on the running guest. */ /** One statement after `boot`, on the running guest. */
export async function runStatement(
  st: Located<RunStatement>,
  g: GuestRequester,
  ctx: HostEventContext,
  timeoutMs: number,
  tables?: PtdumpSource,
  patched = false,
): Promise<TraceRecord> {
  const line = st.loc.line;
  switch (st.op) {
    case "dimm-add":
      return hostRecord(st, await dimmAdd(ctx, st.id, st.sizeBytes));
    case "dimm-del":
      return hostRecord(st, await dimmDel(ctx, st.id));
    case "vmem-resize":
      return hostRecord(st, await vmemResize(ctx, st.id, st.sizeBytes));
    case "write": {
      const r = fileOpResult(await g.request("W", [st.path, st.value], timeoutMs));
      return { line, op: "write", path: st.path, value: st.value, result: r.rc === 0 ? "ok" : failure(r) };
    }
    case "read": {
      // A MemFree reading also reads the per-cpu lists' pages, which MemFree
      // leaves out (src/scenario/pcp.ts), from /proc/zoneinfo read right before
      // and right after it in the same request (pcpBracketedRead()).
      const pcp = st.fields.length > 0 && wantsPcpPages(st.path, st.fields);
      const { reply, pcpPages } = pcp
        ? await pcpBracketedRead(g, st.path, timeoutMs)
        : { reply: await g.request("R", [st.path], timeoutMs), pcpPages: undefined };
      const r = fileOpResult(reply);
      if (r.rc !== 0) return { line, op: "read", path: st.path, result: failure(r) };
      const value = r.out.endsWith("\n") ? r.out.slice(0, -1) : r.out;
      if (st.fields.length === 0) return { line, op: "read", path: st.path, value };
      const rec: ReadRecord = { line, op: "read", path: st.path, fields: pickFields(value, st.fields) };
      if (pcpPages !== undefined) rec._pcpPages = pcpPages;
      return rec;
    }
    case "ls": {
      const r = fileOpResult(await g.request("L", [st.path], timeoutMs));
      if (r.rc !== 0) return { line, op: "ls", path: st.path, result: failure(r) };
      return { line, op: "ls", path: st.path, names: lsNames(r.out) };
    }
    case "ptdump":
      // The cloud kernel has no CONFIG_PTDUMP_DEBUGFS: the host reads the guest's
      // tables through QEMU's gdbstub (guest-tables.ts). Without one: ENOSYS.
      if (tables) return tables.ptdump(line, st.start, st.sizeBytes);
      return {
        line,
        op: "ptdump",
        start: "0x" + st.start.toString(16),
        size: "0x" + st.sizeBytes.toString(16),
        result: "ENOSYS",
      };
    case "call": {
      // Kernel-function calls need the patched kernel's test module; a stock kernel has none.
      if (!patched) return { line, op: "call", fn: st.fn, args: st.args, result: "ENOSYS" };
      // linux-patches/patches/0008: `FN START SIZE [WORDS]` written to its debugfs file; the
      // write fails with the function's errno
      const r = fileOpResult(
        await g.request("W", [TEST_MODULE_CTL, [st.fn, ...st.args].join(" ")], timeoutMs),
      );
      return { line, op: "call", fn: st.fn, args: st.args, result: r.rc === 0 ? "ok" : failure(r) };
    }
    case "workload":
      return { line, op: "workload", steps: st.steps, result: "ENOSYS" };
    case "hw-off":
    case "hw-on":
    case "audit":
      // memhp's hardware-access model and auditor exist only in the model.
      return { line, op: st.op, result: "ENOSYS" };
    default: {
      const never: never = st;
      throw new Error(`unknown statement ${JSON.stringify(never)}`);
    }
  }
}
