// arch/arm64/mm/mmu.c: prevent_bootmem_remove_notifier(), and the check upstream
// added in 2026 ("arm64/mm: Reject memory removal that splits a kernel leaf
// mapping", which renamed the notifier prevent_memory_remove_notifier()): on
// MEM_GOING_OFFLINE, boot memory and ranges whose removal would split a block or
// contiguous leaf of the linear map or vmemmap are refused with NOTIFY_BAD, which
// offline_pages() reports as -EPERM. The split check is not in 6.1: the model
// applies it only with memhp.arm64_reject_leaf_split=1 on the command line.

import { EPERM } from "../../errno.js";
import { MEM_GOING_OFFLINE, type MemoryNotify } from "../../drivers/base/memory.js";
import { PAGES_PER_SECTION, PAGE_SIZE, pfnToSectionNr } from "../../mm/constants.js";
import type { ArchMm, EarlySections } from "../arch.js";

export function preventMemoryRemoveNotifier(arch: ArchMm, sections: EarlySections, rejectLeafSplit: boolean) {
  return (action: number, arg: MemoryNotify): number => {
    if (action !== MEM_GOING_OFFLINE) return 0;
    const end = arg.startPfn + arg.nrPages;
    for (let pfn = arg.startPfn; pfn < end; pfn += PAGES_PER_SECTION)
      if (sections.earlySectionNr(pfnToSectionNr(pfn))) return -EPERM;
    if (
      rejectLeafSplit &&
      arch.archMemoryRemovalSplitsLeaf(arg.startPfn * PAGE_SIZE, arg.nrPages * PAGE_SIZE)
    )
      return -EPERM;
    return 0;
  };
}
