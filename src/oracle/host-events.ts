// The host events of a scenario, done to a running QEMU over QMP, each followed
// by settling (settle.ts). Results mirror what the model's src/hw/host.ts
// returns: "ok"; the kernel's refusal of an eject ("EBUSY", read back from the
// _OST status the guest reports); or QEMU's own refusal of the command mapped to
// an errno ("ENOSPC" no slot or no room, "EINVAL" duplicate id or bad value,
// "ENODEV" no such device). A record gets `settled: false` only when the guest
// had not finished within the settle limit.

import { QmpError, type QmpEvent, type QmpSession } from "./qmp.js";
import { blockDiff, type Snapshot } from "./protocol.js";
import { settle, type Clock, type SettleOptions } from "./settle.js";
import { dimmBackendId } from "./qemu.js";
import type { BlockChanges } from "../scenario/trace.js";

export interface HostEventOutcome {
  result: string;
  blocks: BlockChanges;
  /** false when the settle limit was reached before the guest finished */
  settled: boolean;
}

export interface HostEventContext {
  qmp: QmpSession;
  /** a fresh guest snapshot (protocol command S) */
  probe: () => Promise<Snapshot>;
  clock: Clock;
  settle: SettleOptions;
}

/** QEMU's refusal text -> the errno the model returns for the same refusal (src/hw/host.ts). */
export function qmpRefusalErrno(desc: string): string {
  if (/duplicate (id|property)|already exists/i.test(desc)) return "EINVAL";
  if (/slot|not enough space|could not find position|exceeds|out of range|address space/i.test(desc)) {
    // "requested-size exceeds the device size" is a bad value, not a lack of room.
    return /requested-size|requested size/i.test(desc) ? "EINVAL" : "ENOSPC";
  }
  if (/not found|no such|doesn't exist|does not exist/i.test(desc)) return "ENODEV";
  return "EINVAL";
}

/**
 * include/linux/acpi.h _OST status codes of an ejection request (source 3 or
 * 0x103), as drivers/acpi/scan.c: acpi_device_hotplug() derives them from the
 * errno of acpi_scan_hot_remove(): -EPERM -> 0x80, -EBUSY -> 0x82, others 0x1.
 */
export function ejectOstErrno(status: number): string {
  switch (status) {
    case 0x0:
      return "ok";
    case 0x80:
      return "EPERM";
    case 0x81:
    case 0x82:
    case 0x83:
      return "EBUSY";
    default:
      return "EIO";
  }
}

/** ACPI_OST_SC_EJECT_IN_PROGRESS: the guest started the eject; not a final answer. */
const OST_EJECT_IN_PROGRESS = 0x84;

/** The final _OST status of an eject request for DIMM `id` in this event, if it is one. */
export function finalEjectOst(ev: QmpEvent, id: string): number | undefined {
  if (ev.event !== "ACPI_DEVICE_OST") return undefined;
  const info = ev.data.info as { device?: string; source?: number; status?: number } | undefined;
  if (!info || info.device !== id) return undefined;
  if (info.source !== 3 && info.source !== 0x103) return undefined;
  if (typeof info.status !== "number" || info.status === OST_EJECT_IN_PROGRESS) return undefined;
  return info.status;
}

function changes(before: Snapshot, after: Snapshot): BlockChanges {
  return { added: blockDiff(after.blocks, before.blocks), removed: blockDiff(before.blocks, after.blocks) };
}

const noChange: BlockChanges = { added: [], removed: [] };

async function refusal<T>(p: Promise<T>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    if (e instanceof QmpError) return qmpRefusalErrno(e.body.desc);
    throw e;
  }
}

/**
 * The _OST status of the insertion of DIMM `id` (source 0 bus check or 1
 * device check: drivers/acpi/scan.c: acpi_device_hotplug() reports it when it
 * has handled the notification), if this event is one.
 */
export function insertOst(ev: QmpEvent, id: string): number | undefined {
  if (ev.event !== "ACPI_DEVICE_OST") return undefined;
  const info = ev.data.info as { device?: string; source?: number; status?: number } | undefined;
  if (!info || info.device !== id) return undefined;
  if (info.source !== 0 && info.source !== 1) return undefined;
  return typeof info.status === "number" ? info.status : undefined;
}

/**
 * How long after the insertion's _OST a dimm-add with no new block is taken
 * as one the kernel did not add (a DIMM that is not block-aligned, say).
 */
export const NO_BLOCKS_AFTER_OST_MS = 3000;

/**
 * dimm-add: object-add memory-backend-ram + device_add pc-dimm. The guest is
 * done when the DIMM's memory blocks exist (then the quiet second follows, for
 * the onlining that may come with them); or, when none appear, some time after
 * its _OST of the insertion. Not the first change of the snapshot: the
 * resource reaches /proc/iomem before arch_add_memory() has mapped the memory
 * and the blocks are made, which on arm64 (4 KiB linear map, a restored guest
 * whose translations are all new, a busy host) took longer than a second.
 */
export async function dimmAdd(
  ctx: HostEventContext,
  id: string,
  sizeBytes: number,
): Promise<HostEventOutcome> {
  const before = await ctx.probe();
  const backend = dimmBackendId(id);
  const objErr = await refusal(
    ctx.qmp.execute("object-add", { "qom-type": "memory-backend-ram", id: backend, size: sizeBytes }),
  );
  if (objErr) return { result: objErr, blocks: noChange, settled: true };
  let ostAt: number | undefined;
  const off = ctx.qmp.onEvent((ev) => {
    if (ostAt === undefined && insertOst(ev, id) !== undefined) ostAt = ctx.clock.now();
  });
  try {
    const devErr = await refusal(ctx.qmp.execute("device_add", { driver: "pc-dimm", id, memdev: backend }));
    if (devErr) {
      await refusal(ctx.qmp.execute("object-del", { id: backend }));
      return { result: devErr, blocks: noChange, settled: true };
    }
    const s = await settle(
      ctx.probe,
      ctx.clock,
      ctx.settle,
      (snap) =>
        blockDiff(snap.blocks, before.blocks).length > 0 ||
        (ostAt !== undefined && ctx.clock.now() - ostAt >= NO_BLOCKS_AFTER_OST_MS),
    );
    return { result: "ok", blocks: changes(before, s.snapshot), settled: s.settled };
  } finally {
    off();
  }
}

/**
 * dimm-del: device_del asks the guest to eject (ACPI). QEMU reports the
 * outcome: DEVICE_DELETED when the guest ejected the DIMM, or the guest's
 * _OST failure status when it refused. Without either by the limit, the DIMM's
 * presence in query-memory-devices decides.
 */
export async function dimmDel(ctx: HostEventContext, id: string): Promise<HostEventOutcome> {
  const before = await ctx.probe();
  let deleted = false;
  let ost: number | undefined;
  const off = ctx.qmp.onEvent((ev) => {
    if (ev.event === "DEVICE_DELETED" && ev.data.device === id) deleted = true;
    const st = finalEjectOst(ev, id);
    if (st !== undefined && st !== 0) ost = st;
  });
  try {
    const err = await refusal(ctx.qmp.execute("device_del", { id }));
    if (err) return { result: err, blocks: noChange, settled: true };
    const s = await settle(ctx.probe, ctx.clock, ctx.settle, () =>
      deleted || ost !== undefined ? "final" : false,
    );
    let result: string;
    if (deleted) result = "ok";
    else if (ost !== undefined) result = ejectOstErrno(ost);
    else result = (await dimmPresent(ctx.qmp, id)) ? "EBUSY" : "ok";
    if (deleted) await refusal(ctx.qmp.execute("object-del", { id: dimmBackendId(id) }));
    return { result, blocks: changes(before, s.snapshot), settled: s.settled };
  } finally {
    off();
  }
}

interface MemoryDeviceInfo {
  type: string;
  data: { id?: string; size?: number; addr?: number };
}

export async function dimmPresent(qmp: QmpSession, id: string): Promise<boolean> {
  const devs = await qmp.execute<MemoryDeviceInfo[]>("query-memory-devices");
  return devs.some((d) => d.data.id === id);
}

/** The QOM path of a device given by id on the command line or by device_add. */
export const peripheralPath = (id: string): string => `/machine/peripheral/${id}`;

/**
 * vmem-resize: qom-set requested-size; settles once the device's plugged size
 * (its `size` property) equals the request and the guest is quiet. The result is
 * "ok" whenever QEMU took the request, as in the model (the driver works toward
 * it as far as it can); `settled: false` tells when it did not get there in time.
 */
export async function vmemResize(
  ctx: HostEventContext,
  id: string,
  sizeBytes: number,
): Promise<HostEventOutcome> {
  const before = await ctx.probe();
  const path = peripheralPath(id);
  const err = await refusal(
    ctx.qmp.execute("qom-set", { path, property: "requested-size", value: sizeBytes }),
  );
  if (err) return { result: err, blocks: noChange, settled: true };
  const s = await settle(
    ctx.probe,
    ctx.clock,
    ctx.settle,
    async () => (await ctx.qmp.execute<number>("qom-get", { path, property: "size" })) === sizeBytes,
  );
  return { result: "ok", blocks: changes(before, s.snapshot), settled: s.settled };
}
