// The kernel command line words memhp understands (init/main.c early params,
// __setup() handlers, and module parameters given as `module.param=value`).
// Unknown words are kept and ignored, as the kernel passes them on to init.

import type { Arch } from "../arch/arch.js";
import { archSetup } from "../arch/index.js";
import { MMOP_OFFLINE, MMOP_ONLINE, mhpOnlineTypeFromStr, type OnlineType } from "../drivers/base/memory.js";
import { DEFAULT_KERNEL_VERSION, kernelAtLeast, type KernelVersion } from "./linux_version.js";
import { kernelKconfig, type Kconfig } from "./kconfig.js";

export type OnlinePolicy = "contig-zones" | "auto-movable";

export interface KernelParams {
  /** memhp_default_state= (mm/memory_hotplug.c: setup_memhp_default_state()) */
  memhpDefaultOnlineType: OnlineType;
  /** memory_hotplug.memmap_on_memory= */
  memmapOnMemory: boolean;
  /**
   * memory_hotplug.memmap_on_memory=force (6.12: MEMMAP_ON_MEMORY_FORCE, the
   * memmap rounded up to whole pageblocks; 6.1's bool parameter refuses the word)
   */
  memmapOnMemoryForce: boolean;
  /** memory_hotplug.online_policy= */
  onlinePolicy: OnlinePolicy;
  /** memory_hotplug.auto_movable_ratio= (percent) */
  autoMovableRatio: number;
  /** memory_hotplug.auto_movable_numa_aware= */
  autoMovableNumaAware: boolean;
  /** movable_node */
  movableNode: boolean;
  /** arm64: rodata_full (CONFIG_RODATA_FULL_DEFAULT_ENABLED=y in Debian's config) */
  rodataFull: boolean;
  /**
   * memhp.arm64_reject_leaf_split=1: apply upstream's 2026 rule ("arm64/mm: Reject
   * memory removal that splits a kernel leaf mapping"), which 6.1 and 6.12 do
   * not have and 7.2 does (can_unmap_without_split() in its
   * prevent_memory_remove_notifier()): on by default for kernel=7.2 only, and
   * the word sets it either way.
   */
  rejectLeafSplit: boolean;
  /** every word, in order */
  words: string[];
}

/** kernel/params.c: param_set_bool() accepts kstrtobool() words. */
function parseBool(v: string | undefined): boolean | undefined {
  if (v === undefined || v === "") return true;
  const c = v[0];
  if ("yY1".includes(c)) return true;
  if ("nN0".includes(c)) return false;
  if ((c === "o" || c === "O") && v.length > 1) {
    if ("nN".includes(v[1])) return true;
    if ("fF".includes(v[1])) return false;
  }
  return undefined;
}

export function parseKernelParams(
  arch: Arch,
  words: readonly string[],
  version: KernelVersion = DEFAULT_KERNEL_VERSION,
  kconfig: Pick<Kconfig, "mhpDefaultOnline"> = kernelKconfig(arch, version, false),
): KernelParams {
  const setup = archSetup(arch);
  const v612 = kernelAtLeast(version, "6.12");
  const p: KernelParams = {
    // Debian 12's 6.1: CONFIG_MEMORY_HOTPLUG_DEFAULT_ONLINE is not set; Debian 13's
    // 6.12: CONFIG_MHP_DEFAULT_ONLINE_TYPE_ONLINE_AUTO=y (mhp_get_default_online_type())
    memhpDefaultOnlineType: kconfig.mhpDefaultOnline ? MMOP_ONLINE : MMOP_OFFLINE,
    memmapOnMemory: false,
    memmapOnMemoryForce: false,
    onlinePolicy: "contig-zones",
    autoMovableRatio: 301,
    autoMovableNumaAware: true,
    movableNode: false,
    rodataFull: setup.rodataFullDefault,
    rejectLeafSplit: kernelAtLeast(version, "7.2"),
    words: [...words],
  };
  for (const w of words) {
    const eq = w.indexOf("=");
    const key = eq < 0 ? w : w.slice(0, eq);
    const val = eq < 0 ? undefined : w.slice(eq + 1);
    switch (key) {
      case "memhp_default_state": {
        const t = mhpOnlineTypeFromStr(val ?? "");
        if (t >= 0) p.memhpDefaultOnlineType = t as OnlineType;
        break;
      }
      case "memory_hotplug.memmap_on_memory": {
        // 6.12: set_memmap_mode() takes "force"/"FORCE" besides kstrtobool() words
        if (v612 && (val === "force" || val === "FORCE")) {
          p.memmapOnMemory = true;
          p.memmapOnMemoryForce = true;
          break;
        }
        const b = parseBool(val);
        if (b !== undefined) {
          p.memmapOnMemory = b;
          p.memmapOnMemoryForce = false;
        }
        break;
      }
      case "memory_hotplug.online_policy":
        if (val === "contig-zones" || val === "auto-movable") p.onlinePolicy = val;
        break;
      case "memory_hotplug.auto_movable_ratio": {
        if (val !== undefined && /^\d+$/.test(val)) p.autoMovableRatio = Number(val);
        break;
      }
      case "memory_hotplug.auto_movable_numa_aware": {
        const b = parseBool(val);
        if (b !== undefined) p.autoMovableNumaAware = b;
        break;
      }
      case "memhp.arm64_reject_leaf_split": {
        const b = parseBool(val);
        if (b !== undefined) p.rejectLeafSplit = b;
        break;
      }
      case "movable_node":
        p.movableNode = true;
        break;
      case "rodata":
        // init/main.c: set_debug_rodata() → arch_parse_debug_rodata()
        p.rodataFull = setup.parseDebugRodata(val, p.rodataFull);
        break;
      default:
        break;
    }
  }
  return p;
}
