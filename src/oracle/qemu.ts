// The QEMU command line for a scenario, and the QEMU process. TCG only: KVM does
// not work on the project's machines (docs/oracle-notes.md).

import { spawn, type ChildProcess } from "node:child_process";
import type { Arch, MachineStmt, Scenario } from "../scenario/ast.js";
import { DEFAULT_SLOTS } from "../scenario/parse.js";
import { ARM64_CPU_MIDR } from "../arch/arm64/cpufeature.js";

/** Hotplug slots of the machine: the parser fills `slots` (4 when maxmem > mem, else 0). */
export function machineSlots(m: MachineStmt): number {
  return m.slots ?? (m.maxmemBytes > m.memBytes ? DEFAULT_SLOTS : 0);
}

/** QEMU's -m value: just the size when there is no room for hotplug. */
export function memoryOption(m: MachineStmt): string {
  const slots = machineSlots(m);
  if (slots === 0 && m.maxmemBytes <= m.memBytes) return qemuSize(m.memBytes);
  return `${qemuSize(m.memBytes)},slots=${slots},maxmem=${qemuSize(m.maxmemBytes)}`;
}

/** The kernel command line words the oracle always passes, before the scenario's `cmdline` words. */
export const BASE_APPEND: Record<Arch, readonly string[]> = {
  x86_64: ["console=ttyS0", "quiet", "nokaslr"],
  arm64: ["console=ttyAMA0", "quiet", "nokaslr"],
};

export const QEMU_BINARY: Record<Arch, string> = {
  x86_64: "qemu-system-x86_64",
  arm64: "qemu-system-aarch64",
};

export interface QemuPaths {
  vmlinuz: string;
  initrd: string;
  /** QMP unix socket */
  qmpSocket: string;
  /** unix socket of the guest's protocol port (x86_64 ttyS1, arm64 hvc0) */
  guestSocket: string;
  /** unix socket of QEMU's gdbstub (ptdump reads the guest's page tables through it) */
  gdbSocket: string;
}

/**
 * QEMU's -cpu for the arm64 machine's CPU model (`machine arm64 ... cpu=`):
 * `max` (with the cheaper IMPDEF pointer authentication), and for any other
 * model `max` reporting that model's MIDR (src/arch/arm64/cpufeature.ts: QEMU
 * has none of the CPUs on the kernel's BBML2_NOABORT allow-list).
 */
export function arm64CpuOption(cpu: string | undefined): string {
  if (cpu === undefined || cpu === "max") return "max,pauth-impdef=on";
  const midr = ARM64_CPU_MIDR[cpu];
  if (midr === undefined) throw new Error(`unknown arm64 CPU model "${cpu}"`);
  return `max,pauth-impdef=on,midr=0x${midr.toString(16).padStart(8, "0")}`;
}

/** UEFI firmware of the arm64 virt machine (Debian package qemu-efi-aarch64). */
export const ARM64_FIRMWARE = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd";

/** The guest's protocol port device (guest-init.ts serves it). */
export const PROTOCOL_TTY: Record<Arch, string> = { x86_64: "/dev/ttyS1", arm64: "/dev/hvc0" };

/** A size as QEMU reads it: "1G", "512M", "4K", or "123B" (a bare number would mean MiB for -m). */
export function qemuSize(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`bad size ${bytes}`);
  for (const [suffix, unit] of [
    ["T", 2 ** 40],
    ["G", 2 ** 30],
    ["M", 2 ** 20],
    ["K", 2 ** 10],
  ] as const) {
    if (bytes !== 0 && bytes % unit === 0) return `${bytes / unit}${suffix}`;
  }
  return `${bytes}B`;
}

/** The QOM id of the memory backend of a `vmem` device. */
export const vmemBackendId = (id: string): string => `vmem${id}`;
/** The QOM id of the memory backend of a hot-added DIMM. */
export const dimmBackendId = (id: string): string => `mem${id}`;

/**
 * The scenario calls add_memory*() itself (through the patched kernel's test
 * module): the memory past `mem` must exist physically without any driver
 * adding it. A cold-plugged pc-dimm fills the device-memory region (x86_64
 * from 4 GiB, arm64 virt from the end of boot RAM rounded up to 1 GiB) past
 * the scenario's virtio-mem devices; it is not in the firmware's memory map,
 * and `acpi_no_memhotplug` keeps the ACPI memory driver from adding it.
 */
export function needsRawMemory(s: Scenario): boolean {
  return s.body.some((st) => st.op === "call" && st.fn.startsWith("add_memory"));
}

/** The raw memory's size: maxmem less boot memory and the virtio-mem devices. */
export function rawMemoryBytes(s: Scenario): number {
  return s.machine.maxmemBytes - s.machine.memBytes - s.vmems.reduce((n, v) => n + v.sizeBytes, 0);
}

export function kernelAppend(s: Scenario, rawMemory = false): string {
  return [...BASE_APPEND[s.machine.arch], ...(rawMemory ? ["acpi_no_memhotplug"] : []), ...s.cmdline].join(
    " ",
  );
}

/** The arguments (without the binary) of the QEMU run for scenario `s`. */
export function qemuArgs(s: Scenario, p: QemuPaths, opts: { rawMemory?: boolean } = {}): string[] {
  const m = s.machine;
  const raw = opts.rawMemory === true && rawMemoryBytes(s) > 0;
  const memory = memoryOption(m);
  const rawDimm = raw
    ? [
        "-object",
        `memory-backend-ram,id=memhp-raw,size=${qemuSize(rawMemoryBytes(s))}`,
        "-device",
        "pc-dimm,id=memhp-raw,memdev=memhp-raw",
      ]
    : [];
  // QEMU places memory devices first-fit in the order they are created
  // (memory_device_pre_plug()): the virtio-mem devices first, at the start of
  // the device-memory region as the model's Host places them, the raw DIMM
  // in the rest.
  const devices = [
    ...s.vmems.flatMap((v) => [
      "-object",
      `memory-backend-ram,id=${vmemBackendId(v.id)},size=${qemuSize(v.sizeBytes)}`,
      "-device",
      `virtio-mem-pci,id=${v.id},memdev=${vmemBackendId(v.id)},requested-size=0` +
        (v.blockSizeBytes !== undefined ? `,block-size=${qemuSize(v.blockSizeBytes)}` : ""),
    ]),
    ...rawDimm,
  ];
  const qmp = ["-qmp", `unix:${p.qmpSocket},server=on,wait=off`];
  const gdb = [
    "-chardev",
    `socket,id=memhp-gdb,path=${p.gdbSocket},server=on,wait=off`,
    "-gdb",
    "chardev:memhp-gdb",
  ];
  const protocolChardev = ["-chardev", `socket,id=memhp,path=${p.guestSocket},server=on,wait=off`];
  switch (m.arch) {
    case "x86_64":
      // The protocol port: a second 16550 (ttyS1) on a unix socket. Giving -serial
      // explicitly keeps the first one (the console, ttyS0) on stdio as -nographic would.
      return [
        "-accel",
        "tcg",
        "-cpu",
        "max,la57=off",
        "-smp",
        "1",
        "-m",
        memory,
        "-kernel",
        p.vmlinuz,
        "-initrd",
        p.initrd,
        "-append",
        kernelAppend(s, raw),
        "-nographic",
        "-no-reboot",
        "-net",
        "none",
        ...qmp,
        ...gdb,
        ...protocolChardev,
        "-serial",
        "stdio",
        "-serial",
        "chardev:memhp",
        ...devices,
      ];
    case "arm64":
      // virt has a single PL011 (ttyAMA0, the console, on stdio). The protocol
      // runs on a virtio console (hvc0) behind a virtio-mmio transport; the
      // guest loads virtio_mmio after virtio_pci, so a virtio-mem device (PCI)
      // is still virtio0 as in a guest without the console (guest-init.ts).
      return [
        "-machine",
        "virt",
        "-accel",
        "tcg",
        "-cpu",
        arm64CpuOption(m.cpu),
        "-smp",
        "1",
        "-m",
        memory,
        "-bios",
        ARM64_FIRMWARE,
        "-kernel",
        p.vmlinuz,
        "-initrd",
        p.initrd,
        "-append",
        kernelAppend(s, raw),
        "-display",
        "none",
        "-monitor",
        "none",
        "-no-reboot",
        "-net",
        "none",
        ...qmp,
        ...gdb,
        "-serial",
        "stdio",
        ...protocolChardev,
        "-device",
        "virtio-serial-device,id=memhp-vser",
        "-device",
        "virtconsole,chardev=memhp,bus=memhp-vser.0",
        ...devices,
      ];
    default: {
      const never: never = m.arch;
      throw new Error(`unknown arch ${String(never)}`);
    }
  }
}

/** POSIX-shell quoting, for recording a command line that can be pasted. */
export function shellQuote(args: readonly string[]): string {
  return args
    .map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(" ");
}

/** A running QEMU with its console output (the guest's ttyS0 and QEMU's own messages). */
export class QemuProcess {
  private readonly child: ChildProcess;
  private consoleText = "";
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined;

  constructor(
    readonly binary: string,
    readonly args: readonly string[],
    private readonly consoleLimit = 256 * 1024,
    onConsole?: (text: string) => void,
  ) {
    this.child = spawn(binary, [...args], { stdio: ["pipe", "pipe", "pipe"] });
    const take = (d: Buffer): void => {
      const t = d.toString("utf8");
      onConsole?.(t);
      this.consoleText = (this.consoleText + t).slice(-this.consoleLimit);
    };
    this.child.stdout?.on("data", take);
    this.child.stderr?.on("data", take);
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code) => {
        this.exitCode = code;
        resolve(code);
      });
      this.child.once("error", (e) => {
        take(Buffer.from(`\n[spawn ${binary}: ${e.message}]\n`));
        this.exitCode = null;
        resolve(null);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The last `consoleLimit` characters of console output. */
  get console(): string {
    return this.consoleText;
  }

  /** Kills this QEMU (by its own pid) if it still runs, and waits for it. */
  async kill(): Promise<void> {
    if (this.exitCode === undefined) this.child.kill("SIGKILL");
    await this.exited;
  }
}
