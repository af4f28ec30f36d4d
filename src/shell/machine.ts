// The machine a shell or a web page boots when no scenario file names one: the
// scenario text of `--arch/--mem/--maxmem/--slots/--kernel/--cmdline/--vmem`, so
// the scenario parser checks it exactly as it checks a file.

export interface MachineOptions {
  arch?: string;
  mem?: string;
  maxmem?: string;
  slots?: string;
  /** The Linux release the model runs (`machine ... kernel=`): 6.1, 6.12 or 7.2. */
  kernel?: string;
  /** Kernel command-line words, blank-separated. */
  cmdline?: string;
  /** virtio-mem devices present from boot, as ID:SIZE. */
  vmem?: string[];
}

export const DEFAULT_MACHINE = { arch: "x86_64", mem: "1G", maxmem: "8G" } as const;

export class MachineOptionError extends Error {}

/** The setup part of a scenario (machine, cmdline, vmem, boot) for these options. */
export function machineScenarioText(o: MachineOptions): string {
  const words1 = { arch: o.arch, mem: o.mem, maxmem: o.maxmem, slots: o.slots, kernel: o.kernel };
  for (const [name, v] of Object.entries(words1)) {
    if (v !== undefined && !/^\S+$/.test(v))
      throw new MachineOptionError(`--${name}: one word expected, got "${v}"`);
  }
  const slots = o.slots !== undefined ? ` slots=${o.slots}` : "";
  const kernel = o.kernel !== undefined ? ` kernel=${o.kernel}` : "";
  let text = `machine ${o.arch ?? DEFAULT_MACHINE.arch} mem=${o.mem ?? DEFAULT_MACHINE.mem} maxmem=${o.maxmem ?? DEFAULT_MACHINE.maxmem}${slots}${kernel}\n`;
  const words = (o.cmdline ?? "").replace(/\s+/g, " ").trim();
  if (words) text += `cmdline ${words}\n`;
  for (const v of o.vmem ?? []) {
    const m = /^([^:\s]+):(\S+)$/.exec(v);
    if (!m) throw new MachineOptionError(`--vmem: expected ID:SIZE (e.g. vm0:2G), got "${v}"`);
    text += `vmem ${m[1]} size=${m[2]}\n`;
  }
  return text + "boot\n";
}

/**
 * A scenario's text with its machine's Linux release set to `version` (its `machine`
 * line's `kernel=` replaced or added), for `--scenario FILE --kernel V` and the web
 * page's release switch; the parser then checks the result as any file.
 */
export function withKernel(text: string, version: string): string {
  if (!/^\S+$/.test(version)) throw new MachineOptionError(`--kernel: one word expected, got "${version}"`);
  const lines = text.split("\n");
  const i = lines.findIndex((l) => /^\s*machine(\s|$)/.test(l));
  if (i < 0) return text; // the parser says what is missing
  const hash = lines[i].indexOf("#");
  const code = hash < 0 ? lines[i] : lines[i].slice(0, hash);
  const comment = hash < 0 ? "" : ` ${lines[i].slice(hash)}`;
  lines[i] = `${code.replace(/\s+kernel=\S*/g, "").trimEnd()} kernel=${version}${comment}`;
  return lines.join("\n");
}
