// kernel/printk/printk.c: the kernel's log buffer (what `dmesg` and /dev/kmsg
// show) and, beside it, the model's note of why an operation was refused.
//
// The kernel says why it refuses an operation only sometimes: where it prints a
// message (pr_err()/pr_warn()/dev_err() at the refusal site) that message is the
// reason; elsewhere it returns a bare errno. The model knows the reason at every
// refusal site, so each site records one with refuse(): the errno stays exactly
// the kernel's, the reason goes into the trace record (`reason`, not compared
// with the kernel) and into the shell's and the web page's output.

import { DEFAULT_KERNEL_VERSION, kernelAtLeast, type KernelVersion } from "./linux_version.js";

/** include/linux/kern_levels.h */
export const KERN_ERR = 3;
export const KERN_WARNING = 4;
export const KERN_INFO = 6;
export const KERN_DEBUG = 7;

export interface LogRecord {
  /** Sequence number, as /dev/kmsg numbers records (from 0 at boot). */
  seq: number;
  level: number;
  text: string;
}

/** Records kept; older ones are overwritten, as in the kernel's ring (CONFIG_LOG_BUF_SHIFT). */
const LOG_CAPACITY = 4096;

export class Printk {
  private readonly ring: LogRecord[] = [];
  private nextSeq = 0;
  /** Why the current operation was refused: the first refusal site that said so. */
  private why: string | undefined;
  /** WARN_ON_ONCE() sites that fired (warnOnce()) */
  private readonly warned = new Set<string>();
  /**
   * __warn()'s first line (kernel/panic.c) by release: "WARNING: CPU: N PID: N
   * at FILE:LINE FUNC" until 6.18, "WARNING: FILE:LINE at FUNC, CPU#N:
   * COMM/PID" from 6.19 on (28ea295f941e), so on 7.2.
   */
  private readonly newWarnBanner: boolean;

  /** The log of a kernel of `version` (the default: 6.1). */
  constructor(version: KernelVersion = DEFAULT_KERNEL_VERSION) {
    this.newWarnBanner = kernelAtLeast(version, "7.2");
  }

  /** printk() at a level; each line one record. */
  printk(level: number, text: string): void {
    for (const line of text.replace(/\n$/, "").split("\n")) {
      this.ring.push({ seq: this.nextSeq++, level, text: line });
      if (this.ring.length > LOG_CAPACITY) this.ring.shift();
    }
  }

  prErr(text: string): void {
    this.printk(KERN_ERR, text);
  }

  prWarn(text: string): void {
    this.printk(KERN_WARNING, text);
  }

  prInfo(text: string): void {
    this.printk(KERN_INFO, text);
  }

  /**
   * WARN_ON_ONCE() at a site (include/asm-generic/bug.h, lib/bug.c:
   * __warn()): the first time, the "cut here" line and "WARNING: ... at FILE
   * FUNCTION", as the kernel prints them (less the line number, which differs
   * between builds, and the registers and call trace). The oracle's judge
   * compares the function with the one the guest's WARNING line names.
   */
  warnOnce(file: string, fn: string): void {
    const site = `${file} ${fn}`;
    if (this.warned.has(site)) return;
    this.warned.add(site);
    this.printk(KERN_WARNING, "------------[ cut here ]------------");
    this.printk(
      KERN_WARNING,
      this.newWarnBanner ? `WARNING: ${file} at ${fn}, CPU#0: sh/1` : `WARNING: CPU: 0 PID: 1 at ${site}`,
    );
  }

  /**
   * A refusal: returns `err` unchanged and keeps `reason` unless a deeper site
   * already gave one (the innermost reason is the one that explains).
   */
  refuse(err: number, reason: string): number {
    if (err < 0 && this.why === undefined) this.why = reason;
    return err;
  }

  /** A refusal the kernel reports with pr_err(): logged, and the reason. */
  refuseErr(err: number, text: string): number {
    this.prErr(text);
    return this.refuse(err, text);
  }

  /** A refusal the kernel reports with pr_warn(): logged, and the reason. */
  refuseWarn(err: number, text: string): number {
    this.prWarn(text);
    return this.refuse(err, text);
  }

  /** Start of an operation (a statement, a shell command): forget the last reason. */
  begin(): number {
    this.why = undefined;
    return this.nextSeq;
  }

  /** The reason of the operation begun last, if one was refused. */
  get reason(): string | undefined {
    return this.why;
  }

  /** Records from sequence number `seq` on (what an operation printed). */
  since(seq: number): LogRecord[] {
    return this.ring.filter((r) => r.seq >= seq);
  }

  /** Every record still in the ring. */
  records(): readonly LogRecord[] {
    return this.ring;
  }

  /** /dev/kmsg's format (Documentation/ABI/testing/dev-kmsg): "level,seq,usec,flags;text". The model has no clock: usec is 0. */
  kmsgText(): string {
    return this.ring.map((r) => `${r.level},${r.seq},0,-;${r.text}\n`).join("");
  }

  /** `dmesg --notime`'s format: one line per record. */
  dmesgText(): string {
    return this.ring.map((r) => `${r.text}\n`).join("");
  }
}

/** printf's `%#llx` (0 prints as "0", as glibc and the kernel's vsprintf do). */
export function hexAlt(n: number | bigint): string {
  const v = BigInt(n);
  return v === 0n ? "0" : "0x" + v.toString(16);
}

/** printf's `%#010llx`: "0x" and at least 8 digits. */
export function hex010(n: number | bigint): string {
  return "0x" + BigInt(n).toString(16).padStart(8, "0");
}

/** The kernel's `%pa` (a phys_addr_t on a 64-bit kernel): "0x" and 16 digits. */
export function hexPa(n: number | bigint): string {
  return "0x" + BigInt(n).toString(16).padStart(16, "0");
}

/** printf's `%016llx`. */
export function hex016(n: number | bigint): string {
  return BigInt(n).toString(16).padStart(16, "0");
}

/** __warn()'s banner until 6.18: "WARNING: CPU: N PID: N at [FILE:LINE ]FUNC+0xOFF/0xLEN [MODULE]". */
const WARN_BANNER_OLD =
  /WARNING: CPU: \d+ PID: \d+ at (?:\S+ )?([A-Za-z0-9_.]+?)(?:\+0x[0-9a-f]+\/0x[0-9a-f]+)?(?: \[\S+\])?\s*$/;
/** From 6.19: "WARNING: [FILE:LINE ]at FUNC+0xOFF/0xLEN [MODULE], CPU#N: COMM/PID". */
const WARN_BANNER_NEW =
  /WARNING: (?:\S+ )?at ([A-Za-z0-9_.]+?)(?:\+0x[0-9a-f]+\/0x[0-9a-f]+)?(?: \[\S+\])?, CPU#\d+/;

/**
 * The function a WARNING line names, in either of __warn()'s banners (the
 * kernel's, or the model's warnOnce()); undefined for other lines.
 */
export function warnedFunction(line: string): string | undefined {
  return (WARN_BANNER_OLD.exec(line) ?? WARN_BANNER_NEW.exec(line))?.[1];
}
