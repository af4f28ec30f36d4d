// The model of one booted machine: every subsystem, created and wired in the order
// the kernel boots them (start_kernel(): setup_arch() → paging_init()/sparse_init()
// → mm_init()/memblock_free_all() → driver init), plus the host (QEMU) around it.

import { archSetup, createArchMm, type ArchMmImpl } from "../arch/index.js";
import { HotplugLocks } from "../drivers/base/core.js";
import { MemorySubsys } from "../drivers/base/memory.js";
import { AcpiMemhotplug } from "../drivers/acpi/acpi_memhotplug.js";
import { VirtioMem } from "../drivers/virtio/virtio_mem.js";
import { Kernfs } from "../fs/kernfs.js";
import { registerProcfs } from "../fs/procfs.js";
import { registerSysfs } from "../fs/sysfs.js";
import { createBoard, type Board } from "../hw/board.js";
import { Host } from "../hw/host.js";
import { PAGEBLOCK_NR_PAGES, PAGE_SIZE, SECTION_SIZE } from "../mm/constants.js";
import { Memmap, PS_PGTABLE } from "../mm/memmap.js";
import { MemoryHotplug } from "../mm/memory_hotplug.js";
import { Migration, Rmap } from "../mm/migrate.js";
import { ExposureAuditor } from "../mm/exposure_audit.js";
import { ContigAlloc } from "../mm/page_contig.js";
import { UnmappedAlloc } from "../mm/unmapped_alloc.js";
import { HardwareAccess } from "../hw/access.js";
import { MIGRATE_UNMOVABLE, PglistData } from "../mm/mmzone.js";
import { BuddyAllocator, type PfnSpan } from "../mm/page_alloc.js";
import { initBootMemory } from "../mm/mm_init.js";
import { PageIsolation } from "../mm/page_isolation.js";
import { Rng } from "../mm/random.js";
import { Sparse } from "../mm/sparse.js";
import { Workload, parseWorkloadOptions } from "../mm/workload.js";
import { EINVAL } from "../errno.js";
import type { Arch } from "../arch/arch.js";
import { BackgroundActivity } from "./background.js";
import { bootTimeAllocations } from "./boot_alloc.js";
import { MemoryFailure } from "../mm/memory_failure.js";
import { DriverCalls } from "./calls.js";
import { FaultInjector, withFaultInjection } from "./fault_inject.js";
import { parseKernelParams, type KernelParams } from "./params.js";
import { kernelKconfig, type Kconfig } from "./kconfig.js";
import {
  bootReservationsWithInit,
  insertFirmwareResources,
  kernelImageReserved,
  lateFreedRange,
  linearMapConfig,
} from "./setup.js";
import { ResourceTree } from "./resource.js";
import { Printk } from "./printk.js";
import {
  RFC_THP,
  rfcBootReservationsWithInit,
  rfcBootTimeAllocations,
  rfcKernelImageReserved,
  rfcLateFreedRange,
  rfcZoneLimits,
} from "./rfc_build.js";
import { Work } from "./work.js";
import { DEFAULT_KERNEL_VERSION, kernelAtLeast, type KernelVersion } from "./linux_version.js";

export { MODEL_VERSION } from "../version.js";

export interface MachineConfig {
  arch: Arch;
  memBytes: number;
  maxmemBytes: number;
  /** DIMM slots (QEMU -m slots=); default 4 when maxmem > mem. */
  slots?: number;
  cmdline?: readonly string[];
  /** virtio-mem devices present from boot (requested size 0). */
  vmems?: readonly { id: string; sizeBytes: number; blockSizeBytes?: number }[];
  seed?: number;
  /** Online CPUs (default 1, as QEMU -smp 1 in the oracle); the cost model's bench boots more. */
  cpus?: number;
  /** "v2": the kernel carries the RFC v2 series (docs/rfc-v2.md: try_remove_memory() refuses a leaf split). */
  rfc?: "v2";
  /** The Linux release (`machine ... kernel=6.12`; default 6.1, docs/kernel-versions.md). */
  kernel?: KernelVersion;
  /** QEMU's CPU model (`machine ... cpu=`, archSetup().cpuModels); default `max`. */
  cpu?: string;
}

export class Kernel {
  readonly params: KernelParams;
  readonly board: Board;
  readonly work = new Work();
  readonly faults = new FaultInjector();
  /** The log buffer (dmesg, /dev/kmsg) and the reason of the last refusal. */
  readonly printk: Printk;
  readonly kernfs = new Kernfs();
  readonly locks = new HotplugLocks();
  readonly resources: ResourceTree;
  readonly memmap = new Memmap();
  readonly sparse: Sparse;
  readonly pgdat: PglistData;
  readonly alloc: BuddyAllocator;
  readonly isolation: PageIsolation;
  readonly rmap = new Rmap();
  readonly migration: Migration;
  /** alloc_contig_range() / free_contig_range() and the ranges handed out. */
  readonly contig: ContigAlloc;
  /** memhp issue 18: alloc_contig_range_unmapped() / free_contig_range_unmapped() and their records. */
  readonly unmapped: UnmappedAlloc;
  /** Which physical memory the CPU may access (powered down or handed away: not). */
  readonly hw = new HardwareAccess();
  /** Mappings of, and accesses to, inaccessible memory (src/mm/exposure_audit.ts). */
  readonly auditor: ExposureAuditor;
  readonly arch: ArchMmImpl;
  readonly memory: MemorySubsys;
  readonly hotplug: MemoryHotplug;
  /** memory_failure() and the hwpoisoned pages (src/mm/memory_failure.ts). */
  readonly memoryFailure: MemoryFailure;
  readonly acpi: AcpiMemhotplug;
  /** The virtio-mem drivers bound at boot, by device id (their devices: host.vmemDevices). */
  readonly virtioMem = new Map<string, VirtioMem>();
  readonly host: Host;
  readonly calls: DriverCalls;
  readonly rng: Rng;
  readonly workload: Workload;
  readonly background: BackgroundActivity;
  /** The highest physical address the machine can ever have (boot RAM and device memory). */
  readonly maxPhysAddr: number;
  /** Boot RAM as the firmware reported it (PFN ranges). */
  readonly bootRam: readonly PfnSpan[];
  /** Online CPUs (MachineConfig.cpus; QEMU -smp 1 by default). */
  readonly nrCpus: number;
  /** The kernel carries the RFC v2 series (`machine ... rfc=v2`); stock 6.1 otherwise. */
  readonly rfcV2: boolean;
  /** The Linux release modelled (MachineConfig.kernel). */
  readonly version: KernelVersion;
  /** The build's Kconfig options generic code tests (./kconfig.ts). */
  readonly kconfig: Kconfig;

  /** LINUX_VERSION_CODE >= KERNEL_VERSION(v): the model is release `v` or later. */
  atLeast(v: KernelVersion): boolean {
    return kernelAtLeast(this.version, v);
  }

  private constructor(cfg: MachineConfig) {
    this.nrCpus = cfg.cpus ?? 1;
    this.rfcV2 = cfg.rfc === "v2";
    this.version = cfg.kernel ?? DEFAULT_KERNEL_VERSION;
    this.printk = new Printk(this.version);
    const slots = cfg.slots ?? (cfg.maxmemBytes > cfg.memBytes ? 4 : 0);
    this.kconfig = kernelKconfig(cfg.arch, this.version, this.rfcV2);
    this.params = parseKernelParams(cfg.arch, cfg.cmdline ?? [], this.version, this.kconfig);
    if (cfg.cpu !== undefined && !archSetup(cfg.arch).cpuModels.includes(cfg.cpu))
      throw new Error(
        `cpu=${cfg.cpu}: not a CPU model of this machine (${archSetup(cfg.arch).cpuModels.join(", ")})`,
      );
    this.board = createBoard({
      arch: cfg.arch,
      memBytes: cfg.memBytes,
      maxmemBytes: cfg.maxmemBytes,
      slots,
      ...(cfg.cpu !== undefined ? { cpu: cfg.cpu } : {}),
    });
    this.rng = new Rng(cfg.seed ?? 1);
    const toPfns = (r: { start: number; end: number }) => ({
      startPfn: Math.ceil(r.start / PAGE_SIZE),
      endPfn: Math.floor(r.end / PAGE_SIZE),
    });
    // memblock.memory: RAM and NOMAP firmware memory; the linear map: RAM only.
    const ram = this.board.firmwareMap.filter((r) => r.kind !== "reserved");
    this.bootRam = ram.map(toPfns);
    const mapped = this.board.firmwareMap.filter((r) => r.kind === "ram").map(toPfns);
    const nomap = this.board.firmwareMap.filter((r) => r.kind === "nomap").map(toPfns);
    const ramEnd = Math.max(...ram.map((r) => r.end));
    const devEnd = this.board.deviceMemoryBase + this.board.deviceMemorySize;
    this.maxPhysAddr = Math.ceil(Math.max(ramEnd, devEnd) / SECTION_SIZE) * SECTION_SIZE;
    const maxPfn = Math.max(...this.bootRam.map((r) => r.endPfn));

    // setup_arch(): the firmware memory map becomes iomem resources.
    this.resources = new ResourceTree(this.work);
    insertFirmwareResources(this.resources, this.board);

    // sparse_init(): present sections and their memmap.
    this.sparse = new Sparse(this.memmap, this.work, this.maxPhysAddr, this.faults);
    for (const r of this.bootRam) this.sparse.memoryPresent(0, r.startPfn, r.endPfn);
    this.sparse.sparseInit();

    // free_area_init() + memblock_free_all()
    const minPfn = Math.min(...this.bootRam.map((r) => r.startPfn));
    const zoneLimits = archSetup(cfg.arch).zoneSizesInit(minPfn, maxPfn);
    // `rfc=v2`: the patched kernel's own build boots (./rfc_build.ts)
    this.pgdat = new PglistData(this.rfcV2 ? rfcZoneLimits(cfg.arch, zoneLimits) : zoneLimits);
    this.alloc = new BuddyAllocator(this.memmap, this.sparse, this.pgdat, this.work, { nrCpus: this.nrCpus });
    this.alloc.movableWmarkLikeHighmem = this.atLeast("6.12");
    this.alloc.lowmemReserveFollowsManaged = this.atLeast("7.2");
    this.alloc.pcpThp = !this.rfcV2 || RFC_THP;
    const image = this.rfcV2
      ? rfcKernelImageReserved(this.board, this.version)
      : kernelImageReserved(this.board, this.version);
    const imageInRam = mapped.some((r) => r.startPfn <= image.startPfn && image.endPfn <= r.endPfn);
    initBootMemory(this.alloc, this.bootRam, [
      ...(imageInRam ? [image] : []),
      ...nomap,
      ...(this.rfcV2
        ? rfcBootReservationsWithInit(this.board, this.version, this.params)
        : bootReservationsWithInit(this.board, this.params, this.version)),
    ]);
    this.isolation = new PageIsolation(this.alloc);
    this.migration = new Migration(this.alloc, this.rmap, this.work);
    this.contig = new ContigAlloc(this.alloc, this.isolation, this.migration, this.work, this.nrCpus);

    // paging_init(): the kernel page tables, the linear map and the vmemmap of boot memory.
    this.arch = createArchMm({
      arch: cfg.arch,
      alloc: withFaultInjection(this.alloc, this.faults), // sites "pgtable", "vmemmap"
      work: this.work,
      ...linearMapConfig(cfg.arch, cfg.cpu, this.version, this.rfcV2, this.params.rodataFull),
      memstartAddr: 0,
      // Debian's arm64 6.12 and 7.2: CONFIG_ARM64_VA_BITS_52 (docs/kernel-versions.md)
      vaBits: this.kconfig.arm64VaBits52 ? 52 : 48,
      vmemmapAtTop: this.atLeast("6.12"),
    });
    this.arch.pgtable.faults = this.faults;
    // The kernel takes these page tables and the boot memmap from memblock, before
    // the buddy allocator exists: they are not managed pages (mem_init() counts
    // them reserved), so the watermarks are set up again without them.
    this.alloc.memblockAllocations = true;
    // x86_64's alloc_low_pages() takes the first page tables of the direct map
    // from the brk area inside the kernel image (INIT_PGT_BUF_SIZE), which the
    // image's reservation already holds.
    this.alloc.memblockExempt = archSetup(cfg.arch).bootPgtBufPages;
    this.arch.mapBootMemory(mapped);
    this.alloc.memblockExempt = 0;
    for (const r of mapped) this.hw.cache.markDirty(r.startPfn, r.endPfn - r.startPfn); // boot RAM is written
    this.sparse.attachArch(this.arch);
    const err = this.sparse.populateBootVmemmap();
    this.alloc.memblockAllocations = false;
    if (err) throw new Error(`boot: the vmemmap of boot memory could not be populated (${err})`);
    // postcore_initcall init_per_zone_wmark_min(): the kernel's first, while no
    // zone has watermarks yet (nr_free_buffer_pages() counts all managed pages)
    for (const z of this.pgdat.zones) z.watermark.fill(0);
    this.alloc.initPerZoneWmarkMin();

    // Driver core and memory hotplug.
    this.hotplug = new MemoryHotplug(this);
    this.memory = new MemorySubsys(this);
    this.memory.memoryDevInit();
    this.memoryFailure = new MemoryFailure(this);
    for (const r of this.bootRam)
      this.memory.registerMemoryBlocksUnderNode(0, r.startPfn, r.endPfn - 1, true);
    for (const [name, fn] of this.arch.archMemoryNotifiers(this.sparse, this.params.rejectLeafSplit))
      this.memory.registerMemoryNotifier(name, fn);
    this.unmapped = new UnmappedAlloc(this);
    this.acpi = new AcpiMemhotplug(this);
    this.calls = new DriverCalls(this);
    this.auditor = new ExposureAuditor(this);
    registerSysfs(this);
    registerProcfs(this);
    // drivers/char/mem.c: /dev/kmsg, read whole (kernel/printk/printk.c: devkmsg_read())
    this.kernfs.addFile("/dev", "kmsg", 0o444, { show: () => this.printk.kmsgText() });

    // The host and its boot devices; the guest's virtio-mem driver probes each
    // (virtio_mem_probe()), the virtio bus naming them virtio0, virtio1, ...
    this.host = new Host(this);
    for (const v of cfg.vmems ?? []) {
      const dev = this.host.addBootVmem(v.id, v.sizeBytes, v.blockSizeBytes);
      this.virtioMem.set(v.id, new VirtioMem(this, dev, `virtio${this.virtioMem.size}`));
    }
    this.workload = new Workload(this.alloc, this.migration, this.rmap, { seed: cfg.seed ?? 1 });
    // subsys_initcall hugepage_init(): khugepaged starts and raises min_free_kbytes,
    // unless the machine has less than 512 MiB (THP off by default "on smaller
    // systems"); then free_initmem()/free_initrd_mem() give the init sections and
    // the initramfs back.
    if ((!this.rfcV2 || RFC_THP) && this.alloc.totalramPages >= (512 << 20) / PAGE_SIZE)
      this.alloc.startKhugepaged();
    // The initcalls' allocations: slab, hash tables, stacks, the initramfs's pages.
    if (this.rfcV2) rfcBootTimeAllocations(this.alloc, this.board, this.version);
    else bootTimeAllocations(this.alloc, this.board, this.version);
    // mark_rodata_ro() and free_kernel_image_pages(): the image's aliases split
    this.arch.protectKernelImage();
    // Their pageblocks hold the kernel's own early allocations, so the pages land
    // on the unmovable per-cpu lists (the oracle's arm64 guest takes the 513
    // page-table pages of a 1 GiB DIMM from there without MemFree moving).
    const late = this.rfcV2
      ? rfcLateFreedRange(this.board, this.version, this.params)
      : lateFreedRange(this.board, this.params, this.version);
    for (
      let pfn = late.startPfn - (late.startPfn % PAGEBLOCK_NR_PAGES);
      pfn < late.endPfn;
      pfn += PAGEBLOCK_NR_PAGES
    )
      this.memmap.setPageblockMigratetype(pfn, MIGRATE_UNMOVABLE);
    this.alloc.freeReservedArea(late.startPfn, late.endPfn - late.startPfn);
    this.background = new BackgroundActivity(this.alloc, this.migration, this.rmap, cfg.seed ?? 1);
    this.background.tick();
  }

  /** The guest keeps running between statements (see background.ts). */
  tick(): void {
    // Work queued by a memory notifier during the statement (virtio_mem_retry()) runs now.
    for (const vm of this.virtioMem.values()) this.auditor.during("virtio-mem work", () => vm.flushWork());
    this.auditor.during("background activity", () => this.background.tick());
  }

  static boot(cfg: MachineConfig): Kernel {
    return new Kernel(cfg);
  }

  /** `workload STEPS [key=value...]`: run the seeded workload. 0 or -errno. */
  runWorkload(steps: number, options: Record<string, string>): number {
    let parsed: ReturnType<typeof parseWorkloadOptions>;
    try {
      parsed = parseWorkloadOptions(options);
    } catch {
      return -EINVAL;
    }
    this.workload.configure(parsed.knobs);
    this.workload.step(steps);
    return 0;
  }

  /**
   * checkInvariants(): every rule of the model that must hold between
   * operations. `incremental` re-walks only the memmap sections written since
   * the last check (same findings; docs/performance.md): for checks after
   * every operation of a large machine.
   */
  checkInvariants(opts: { incremental?: boolean } = {}): string[] {
    const incremental = opts.incremental ?? false;
    const out: string[] = [];
    const add = (where: string, v: string[]) => {
      for (const s of v) out.push(`${where}: ${s}`);
    };
    add("sparse", this.sparse.checkInvariants(incremental));
    add("memory", this.memory.checkInvariants());
    add("resource", this.resources.checkInvariants());
    add("pgtable", this.arch.pgtable.checkInvariants(incremental));
    add("page_alloc", this.alloc.checkInvariants(incremental));
    add("kernel", this.crossCheck(incremental));
    add("rfc", this.hotplug.checkDepopulateInvariants());
    add("contig", this.contig.checkInvariants());
    add("unmapped", this.unmapped.checkInvariants());
    return out;
  }

  /** Rules that span subsystems. */
  private crossCheck(incremental: boolean): string[] {
    const out: string[] = [];
    if (this.locks.deviceHotplug.held) out.push("device_hotplug_lock still held");
    if (this.locks.memHotplug.held) out.push("mem_hotplug_lock still held");
    // Every table page is a page the allocator handed out for page tables (the
    // incremental check compares their numbers only).
    if (!incremental)
      for (const pfn of this.arch.pgtable.tablePfns()) {
        if (!this.memmap.hasPage(pfn) || this.memmap.state(pfn) !== PS_PGTABLE)
          out.push(`table page ${pfn.toString(16)} is not a page-table page of the allocator`);
      }
    let pgtablePages = 0;
    for (const z of this.pgdat.zones) pgtablePages += z.nrPages[PS_PGTABLE];
    // (a page allocated for page tables need not be linked yet: at most as many tables as pages)
    const tables = this.arch.pgtable.allocatedTablePages();
    if (pgtablePages < tables)
      out.push(`${tables} table pages, only ${pgtablePages} page-table pages in the zones`);
    // The linear map covers exactly the present memory.
    out.push(...this.checkLinearMap());
    return out;
  }

  private checkLinearMap(): string[] {
    const out: string[] = [];
    for (let nr = 0; nr < this.sparse.nrSections; nr++) {
      const present = this.sparse.presentSectionNr(nr);
      const pfn = nr * (SECTION_SIZE / PAGE_SIZE);
      // Sample the section's first populated subsection and one past the boot RAM holes.
      let probe = -1;
      for (let i = 0; i < 64 && probe < 0; i++) {
        const p = pfn + i * 512;
        if (this.sparse.pfnSectionValid(p) && this.isRam(p)) probe = p;
      }
      const va = this.arch.physToVirt(pfn * PAGE_SIZE);
      if (
        present &&
        probe >= 0 &&
        this.arch.pgtable.lookup(this.arch.physToVirt(probe * PAGE_SIZE)) === undefined &&
        !this.hotplug.linearMapMayLack(probe) // memhp RFC: depopulated, or held by alloc_contig_range()
      )
        out.push(`section ${nr}: present memory at pfn ${probe.toString(16)} is not in the linear map`);
      const leftover = this.hotplug.addFailureLeftovers.has(nr); // x86 arch_add_memory() failure
      if (!present && this.arch.pgtable.lookup(va) !== undefined && !this.isBootMapped(pfn) && !leftover)
        out.push(`section ${nr}: not present but mapped in the linear map`);
    }
    return out;
  }

  private isRam(pfn: number): boolean {
    return this.resources.pageIsRam(pfn);
  }

  /** Boot mappings may cover holes next to RAM with large pages (init_mem_mapping()). */
  private isBootMapped(pfn: number): boolean {
    const sec = Math.floor(pfn / (SECTION_SIZE / PAGE_SIZE));
    return this.bootRam.some(
      (r) =>
        r.startPfn <= (sec + 1) * (SECTION_SIZE / PAGE_SIZE) && r.endPfn >= sec * (SECTION_SIZE / PAGE_SIZE),
    );
  }
}
