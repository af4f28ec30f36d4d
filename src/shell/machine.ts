// The machine a shell or a web page boots when no scenario file names one: the
// scenario text of `--arch/--mem/--maxmem/--slots/--cmdline/--vmem`, so the
// scenario parser checks it exactly as it checks a file.

export interface MachineOptions {
  arch?: string;
  mem?: string;
  maxmem?: string;
  slots?: string;
  /** Kernel command-line words, blank-separated. */
  cmdline?: string;
  /** virtio-mem devices present from boot, as ID:SIZE. */
  vmem?: string[];
}

export const DEFAULT_MACHINE = { arch: "x86_64", mem: "1G", maxmem: "8G" } as const;

export class MachineOptionError extends Error {}

/** The setup part of a scenario (machine, cmdline, vmem, boot) for these options. */
export function machineScenarioText(o: MachineOptions): string {
  for (const [name, v] of Object.entries({ arch: o.arch, mem: o.mem, maxmem: o.maxmem, slots: o.slots })) {
    if (v !== undefined && !/^\S+$/.test(v))
      throw new MachineOptionError(`--${name}: one word expected, got "${v}"`);
  }
  const slots = o.slots !== undefined ? ` slots=${o.slots}` : "";
  let text = `machine ${o.arch ?? DEFAULT_MACHINE.arch} mem=${o.mem ?? DEFAULT_MACHINE.mem} maxmem=${o.maxmem ?? DEFAULT_MACHINE.maxmem}${slots}\n`;
  const words = (o.cmdline ?? "").replace(/\s+/g, " ").trim();
  if (words) text += `cmdline ${words}\n`;
  for (const v of o.vmem ?? []) {
    const m = /^([^:\s]+):(\S+)$/.exec(v);
    if (!m) throw new MachineOptionError(`--vmem: expected ID:SIZE (e.g. vm0:2G), got "${v}"`);
    text += `vmem ${m[1]} size=${m[2]}\n`;
  }
  return text + "boot\n";
}
