// The selected memory block: what it is, and the operations that make sense for
// it, each one a memhp shell line (shown, so the page teaches the sysfs interface).
import type { BlockView, MachineView } from "./api.js";
import { hex, num, size } from "./format.js";

export interface BlockOp {
  /** data-op attribute, for tests */
  id: string;
  label: string;
  command: string;
  hint: string;
}

/** An operation that cannot work on this block, and why (shown instead of a button that fails). */
export interface Unavailable {
  id: string;
  label: string;
  why: string;
}

const MEMORY = "/sys/devices/system/memory";

/** The operations offered for a block in its current state, and those that cannot work, with why. */
export function blockOps(b: BlockView, view: MachineView): { ops: BlockOp[]; unavailable: Unavailable[] } {
  const state = `${MEMORY}/memory${b.id}/state`;
  const range = `${hex(b.start)} ${size(b.size)}`;
  const ops: BlockOp[] = [];
  const unavailable: Unavailable[] = [];
  const rfc = view.calls.filter((c) => /populate/.test(c));
  if (b.depopulated) {
    unavailable.push({
      id: "online",
      label: "online",
      why: "its linear map is torn down (depopulated): populate it first, or the kernel answers EBUSY",
    });
    for (const fn of rfc.filter((f) => f.startsWith("populate")))
      ops.push({
        id: fn,
        label: `${fn}()`,
        command: `call ${fn} ${range}`,
        hint: "the RFC: map the block again (its memmap and device stayed)",
      });
  } else if (b.state === "offline") {
    const [dflt] = b.validZones;
    ops.push({
      id: "online",
      label: `online → ${dflt}`,
      command: `echo online > ${state}`,
      hint: "the default zone (valid_zones lists it first)",
    });
    const kernelZone = b.validZones.find((z) => z !== "Movable");
    if (kernelZone)
      ops.push({
        id: "online_kernel",
        label: `online_kernel → ${kernelZone}`,
        command: `echo online_kernel > ${state}`,
        hint: "a kernel zone: unmovable allocations may land here",
      });
    if (b.validZones.includes("Movable"))
      ops.push({
        id: "online_movable",
        label: "online_movable → Movable",
        command: `echo online_movable > ${state}`,
        hint: "ZONE_MOVABLE: only movable pages, so it can go offline again",
      });
  }
  if (b.state === "online")
    ops.push({
      id: "offline",
      label: "offline",
      command: `echo offline > ${state}`,
      hint: "isolate, migrate away, take the pages out of the buddy allocator",
    });
  const dev = view.devices.find((d) => d.id === b.device);
  if (dev?.kind === "dimm")
    ops.push({
      id: "dimm-del",
      label: `eject DIMM ${dev.id}`,
      command: `dimm-del ${dev.id}`,
      hint: "ACPI eject of the whole DIMM: the guest offlines and removes all its blocks, or refuses",
    });
  if (b.state === "offline")
    ops.push({
      id: "remove_memory",
      label: "remove_memory()",
      command: `call remove_memory ${range}`,
      hint: "what a driver calls: tear down the block (memmap, linear map, device, resource)",
    });
  else if (b.device)
    ops.push({
      id: "offline_and_remove_memory",
      label: "offline_and_remove_memory()",
      command: `call offline_and_remove_memory ${range}`,
      hint: "virtio-mem's way to unplug: offline, then remove",
    });
  // The RFC's calls work on offline, driver-managed System RAM only (docs/rfc.md).
  const depop = rfc.filter((f) => f.startsWith("depopulate"));
  if (!b.depopulated)
    for (const fn of depop) {
      const label = `${fn}()`;
      if (!b.driverManaged)
        unavailable.push({
          id: fn,
          label,
          why:
            `only for driver-managed memory ("System RAM (driver)"); memory${b.id} is plain "System RAM" ` +
            `(${dev?.kind === "dimm" ? "an ACPI DIMM" : "boot memory"}): the kernel answers EINVAL`,
        });
      else if (b.rfcOwner === undefined)
        unavailable.push({
          id: fn,
          label,
          why:
            `memory${b.id} belongs to another driver's memory group (${dev?.kind === "virtio-mem" ? "virtio-mem" : "not the test module"}): ` +
            "RFC v2 lets only the owner depopulate it; the kernel answers EINVAL",
        });
      else
        ops.push({
          id: fn,
          label,
          command: `call ${fn} ${range} owner=${b.rfcOwner}`,
          hint: "the RFC: keep the block, its memmap and device; tear down only its linear mapping",
        });
    }
  return { ops, unavailable };
}

interface Props {
  view: MachineView;
  block: BlockView | undefined;
  busy: boolean;
  run: (command: string) => void;
}

export function BlockPanel({ view, block, busy, run }: Props) {
  if (!block)
    return (
      <div class="panel block-panel">
        <h2>Memory block</h2>
        <p class="muted">Click a block in the map to see it and what can be done with it.</p>
      </div>
    );
  const p = block.pages;
  const leaves = view.linear.filter(
    (l) => l.start < block.start + block.size && l.start + l.size > block.start,
  );
  const vm = view.vmemmap.filter((l) => l.start < block.start + block.size && l.start + l.size > block.start);
  const { ops, unavailable } = blockOps(block, view);
  return (
    <div class="panel block-panel" data-testid="block-panel">
      <h2>
        memory{block.id} <span class={`state state-${block.state}`}>{block.state}</span>
      </h2>
      <table class="kv">
        <tbody>
          <tr>
            <th>range</th>
            <td class="mono">
              {hex(block.start)}–{hex(block.start + block.size - 1)} ({size(block.size)})
            </td>
          </tr>
          <tr>
            <th>{block.state === "online" ? "zone" : "valid_zones"}</th>
            <td>
              {block.state === "online" ? block.zones.join(" + ") || "none" : block.validZones.join(" ")}
            </td>
          </tr>
          <tr>
            <th>device</th>
            <td>{block.device ?? "boot memory"}</td>
          </tr>
          <tr>
            <th>linear map</th>
            <td>
              {leaves.length
                ? [...new Set(leaves.map((l) => l.level.toUpperCase()))].join(", ") + " leaves"
                : "not mapped"}
            </td>
          </tr>
          <tr>
            <th>vmemmap</th>
            <td>
              {vm.length
                ? [...new Set(vm.map((l) => l.level.toUpperCase()))].join(", ") + " leaves"
                : "not mapped"}
              {block.vmemmapPages ? `, ${block.vmemmapPages} pages in the block (memmap_on_memory)` : ""}
            </td>
          </tr>
          {p ? (
            <tr>
              <th>pages</th>
              <td>
                {num(p.free)} free, {num(p.movable)} movable, <b>{num(p.unmovable)}</b> unmovable
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <div class="ops">
        {ops.map((op) => (
          <button
            key={op.id}
            data-op={op.id}
            disabled={busy}
            onClick={() => run(op.command)}
            title={`${op.command}\n${op.hint}`}
          >
            {op.label}
          </button>
        ))}
      </div>
      {unavailable.length ? (
        <ul class="unavailable" data-testid="unavailable">
          {unavailable.map((u) => (
            <li key={u.id} data-unavailable={u.id}>
              <span class="mono">{u.label}</span>: {u.why}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
