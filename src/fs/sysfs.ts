// sysfs files outside the memory block devices: the node (drivers/base/node.c),
// the memory_hotplug module parameters (mm/memory_hotplug.c), and debugfs's
// kernel_page_tables (CONFIG_PTDUMP_DEBUGFS, which the model has and the Debian
// kernels do not).

import { EINVAL } from "../errno.js";
import type { Kernel } from "../kernel/kernel.js";
import { PAGE_SIZE } from "../mm/constants.js";
import { kernelPageTablesText } from "../mm/ptdump.js";
import { kstrtobool, sysfsStreq } from "./kernfs.js";

const kB = (pages: number) => (pages * PAGE_SIZE) / 1024;

/** drivers/base/node.c: node_read_meminfo() (the fields memhp models; the rest 0). */
function nodeMeminfo(k: Kernel): string {
  const { totalram, freeram } = k.alloc.siMeminfo();
  const row = (name: string, v: number) => `Node 0 ${`${name}:`.padEnd(15)} ${String(v).padStart(8)} kB\n`;
  return row("MemTotal", kB(totalram)) + row("MemFree", kB(freeram)) + row("MemUsed", kB(totalram - freeram));
}

export function registerSysfs(k: Kernel): void {
  const fs = k.kernfs;
  const node = "/sys/devices/system/node/node0";
  fs.mkdirs(node);
  fs.addFile(node, "meminfo", 0o444, { show: () => nodeMeminfo(k) });
  // The rest of a node device's directory (drivers/base/node.c), present so that
  // `ls` agrees with the kernel; not modelled beyond that.
  fs.addFile(node, "cpulist", 0o444, { show: () => "0\n" });
  fs.addFile(node, "cpumap", 0o444, { show: () => "1\n" });
  fs.addFile(node, "distance", 0o444, { show: () => "10\n" });
  fs.addFile(node, "numastat", 0o444, { show: () => "" });
  fs.addFile(node, "vmstat", 0o444, { show: () => "" });
  fs.addFile(node, "compact", 0o200, { store: (buf) => buf.length });
  fs.addFile(node, "uevent", 0o644, { show: () => "", store: (buf) => buf.length });
  fs.addLink(node, "cpu0", "../../cpu/cpu0");
  fs.addLink(node, "subsystem", "../../../../bus/node");
  fs.mkdirs(`${node}/hugepages`);
  fs.mkdirs(`${node}/power`);
  // drivers/base/node.c (6.5+, CONFIG_MEMORY_FAILURE, which both of Debian 13's
  // configs set): the node's memory_failure statistics
  if (k.atLeast("6.12") && k.kconfig.memoryFailure) {
    fs.mkdirs(`${node}/memory_failure`);
    // mm/memory-failure.c: MF_ATTR_RO(), the counts update_per_node_mf_stats() keeps
    const st = k.memoryFailure.stats;
    for (const name of ["total", "ignored", "failed", "delayed", "recovered"] as const)
      fs.addFile(`${node}/memory_failure`, name, 0o444, { show: () => `${st[name]}\n` });
  }
  // mm/vmscan.c (7.2): reclaim_register_node(): the node's proactive-reclaim file
  if (k.atLeast("7.2")) fs.addFile(node, "reclaim", 0o200, { store: (buf) => buf.length });

  const params = "/sys/module/memory_hotplug/parameters";
  fs.addFile(params, "memmap_on_memory", 0o444, {
    // get_memmap_mode() (6.12) prints "force" for MEMMAP_ON_MEMORY_FORCE
    show: () => (k.params.memmapOnMemoryForce ? "force\n" : k.hotplug.memmapOnMemory ? "Y\n" : "N\n"),
  });
  fs.addFile(params, "online_policy", 0o644, {
    show: () => `${k.params.onlinePolicy}\n`,
    store: (buf) => {
      // set_online_policy(): sysfs_match_string()
      for (const p of ["contig-zones", "auto-movable"] as const) {
        if (sysfsStreq(buf, p)) {
          k.params.onlinePolicy = p;
          return buf.length;
        }
      }
      return -EINVAL;
    },
  });
  fs.addFile(params, "auto_movable_ratio", 0o644, {
    show: () => `${k.params.autoMovableRatio}\n`,
    store: (buf) => {
      // param_set_uint(): kstrtouint(), base 0
      const m = /^(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)\n?$/i.exec(buf);
      if (!m) return -EINVAL;
      const v = Number(
        m[1].startsWith("0") && !m[1].startsWith("0x") && m[1].length > 1 ? parseInt(m[1], 8) : m[1],
      );
      if (v > 0xffffffff) return -34;
      k.params.autoMovableRatio = v;
      return buf.length;
    },
  });
  fs.addFile(params, "auto_movable_numa_aware", 0o644, {
    show: () => (k.params.autoMovableNumaAware ? "Y\n" : "N\n"),
    store: (buf) => {
      // kernel/params.c: param_set_bool() → kstrtobool()
      const v = kstrtobool(buf);
      if (typeof v === "number") return v;
      k.params.autoMovableNumaAware = v;
      return buf.length;
    },
  });

  fs.addFile("/sys/kernel/debug", "kernel_page_tables", 0o400, { show: () => kernelPageTablesText(k.arch) });
  // memhp's own (not in any kernel; docs/rfc.md): the blocks depopulate_range_driver_managed() unmapped.
  fs.addFile("/sys/kernel/debug/memhp", "depopulated", 0o400, { show: () => k.hotplug.depopulatedShow() });
}
