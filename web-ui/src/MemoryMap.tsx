// The physical address space as rows of memory blocks, with lanes over each row:
// /proc/iomem's resources, the hotplug devices, the blocks (state and zone), and
// which ranges the linear map and the vmemmap cover, with which leaf sizes.
import type { BlockView, MachineView } from "./api.js";
import { LEAF_COLOURS, LEAF_NAMES, VMEMMAP_COLOURS, blockBackground, hex, hexAddr, size } from "./format.js";

interface Props {
  view: MachineView;
  selected: number | undefined;
  onSelect: (id: number) => void;
}

/** Blocks per row: a power of two, so rows start at round addresses; at most about 10 rows. */
function blocksPerRow(nBlocks: number): number {
  let n = 16;
  while (nBlocks / n > 10) n *= 2;
  return n;
}

interface Row {
  start: number;
  end: number;
  /** No block and no device: drawn as one thin line ("hole", or "empty" in the device region). */
  gap?: "hole" | "empty";
}

function layoutRows(view: MachineView, span: number): Row[] {
  const dev = view.deviceRegion;
  const rows: Row[] = [];
  for (let start = 0; start < view.maxPhysAddr; start += span) {
    // Gap rows end at the top of the address space; drawn rows keep the full span (one scale).
    const end = Math.min(start + span, view.maxPhysAddr);
    const hit = (s: number, e: number) => s < end && e > start;
    const blocks = view.blocks.some((b) => hit(b.start, b.start + b.size));
    const devices = view.devices.some((d) => hit(d.start, d.start + d.size));
    const gap = blocks || devices ? undefined : hit(dev.start, dev.start + dev.size) ? "empty" : "hole";
    const last = rows[rows.length - 1];
    if (gap && last?.gap === gap) last.end = end;
    else rows.push(gap ? { start, end, gap } : { start, end: start + span });
  }
  return rows;
}

interface SegProps {
  row: Row;
  start: number;
  /** exclusive */
  end: number;
  className: string;
  label?: string;
  /** The label where the whole one does not fit ("2M" for "2M PMD"). */
  short?: string;
  title: string;
  style?: Record<string, string>;
}

/** A range drawn over a row, clipped to it; labelled when wide enough to read. */
function Seg({ row, start, end, className, label, short, title, style }: SegProps) {
  const span = row.end - row.start;
  const s = Math.max(start, row.start);
  const e = Math.min(end, row.end);
  if (e <= s) return null;
  const left = ((s - row.start) / span) * 100;
  const width = ((e - s) / span) * 100;
  return (
    <div class={`seg ${className}`} style={{ left: `${left}%`, width: `${width}%`, ...style }} title={title}>
      {label && width > 4 ? <span>{short && width < 12 ? short : label}</span> : null}
    </div>
  );
}

function resourceClass(name: string): string {
  if (name === "System RAM") return "res-ram";
  if (name.startsWith("System RAM")) return "res-ram res-dm";
  if (name === "Reserved" || name.startsWith("Kernel")) return "res-reserved";
  return "res-other";
}

function BlockCell({
  b,
  row,
  selected,
  onSelect,
}: {
  b: BlockView;
  row: Row;
  selected: boolean;
  onSelect: (id: number) => void;
}) {
  const span = row.end - row.start;
  const left = ((b.start - row.start) / span) * 100;
  const width = (b.size / span) * 100;
  const total = b.size / 4096;
  const p = b.pages;
  const zones = b.state === "online" ? b.zones.join("+") : `valid: ${b.validZones.join(" ")}`;
  const title =
    `memory${b.id}  ${hex(b.start)}-${hex(b.start + b.size - 1)}\n${b.state}, ${zones}` +
    (b.device ? `\ndevice ${b.device}` : "") +
    (b.vmemmapPages ? `\nmemmap_on_memory: ${b.vmemmapPages} pages` : "") +
    (p ? `\npages: ${p.free} free, ${p.movable} movable, ${p.unmovable} unmovable` : "");
  const light = b.state !== "online";
  return (
    <button
      class={`block${selected ? " selected" : ""}${light ? " light" : ""}`}
      style={{ left: `${left}%`, width: `${width}%`, background: blockBackground(b.state, b.zones) }}
      title={title}
      data-block={b.id}
      data-state={b.state}
      data-zones={b.zones.join(" ")}
      onClick={() => onSelect(b.id)}
    >
      <span class="block-id">{b.id}</span>
      {b.vmemmapPages ? (
        <span class="block-mom" title="memmap_on_memory: its memmap lives in the block" />
      ) : null}
      {p && b.state === "online" ? (
        <span class="usage">
          <span class="u-unmovable" style={{ width: `${(p.unmovable / total) * 100}%` }} />
          <span class="u-movable" style={{ width: `${(p.movable / total) * 100}%` }} />
        </span>
      ) : null}
    </button>
  );
}

const LANE_NAMES = ["iomem", "", "devices", "blocks", "linear map", "vmemmap"];

export function MemoryMap({ view, selected, onSelect }: Props) {
  const bs = view.blockSizeBytes;
  const bpr = blocksPerRow(Math.ceil(view.maxPhysAddr / bs));
  const rows = layoutRows(view, bpr * bs);
  const digits = Math.max(9, (view.maxPhysAddr - 1).toString(16).length);
  const top = view.resources.filter((r) => r.depth === 0);
  const nested = view.resources.filter((r) => r.depth === 1);
  return (
    <div class="map" data-testid="memory-map">
      <div class="map-caption">
        physical address space, {size(bpr * bs)} per row, memory blocks of {size(bs)}
      </div>
      {rows.map((row) =>
        row.gap ? (
          <div class="gap-row" key={row.start}>
            <span class="addr-text">{hexAddr(row.start, digits)}</span>
            <span class={`gap-text gap-${row.gap}`}>
              {row.gap === "empty"
                ? `${size(row.end - row.start)} of the device region, nothing plugged`
                : `${size(row.end - row.start)} without memory`}
              {(() => {
                const names = top.filter((r) => r.start < row.end && r.end >= row.start).map((r) => r.name);
                return names.length ? ` (${[...new Set(names)].join(", ")})` : "";
              })()}
            </span>
          </div>
        ) : (
          <div class="row" key={row.start}>
            <div class="addr">
              <div class="addr-text">{hexAddr(row.start, digits)}</div>
              <div class="lane-names">
                {LANE_NAMES.map((n, i) => (
                  <div class={`lane-name ln${i}`} key={i}>
                    {n}
                  </div>
                ))}
              </div>
            </div>
            <div class="lanes">
              <div class="lane lane-res">
                {top.map((r) => (
                  <Seg
                    key={`${r.start}-${r.name}`}
                    row={row}
                    start={r.start}
                    end={r.end + 1}
                    className={resourceClass(r.name)}
                    label={r.name}
                    title={`${hex(r.start)}-${hex(r.end)} : ${r.name}`}
                  />
                ))}
              </div>
              <div class="lane lane-res1">
                {nested.map((r) => (
                  <Seg
                    key={`${r.start}-${r.name}`}
                    row={row}
                    start={r.start}
                    end={r.end + 1}
                    className={resourceClass(r.name)}
                    label={r.name}
                    title={`  ${hex(r.start)}-${hex(r.end)} : ${r.name}`}
                  />
                ))}
              </div>
              <div class="lane lane-dev">
                <Seg
                  row={row}
                  start={view.deviceRegion.start}
                  end={view.deviceRegion.start + view.deviceRegion.size}
                  className="dev-region"
                  title={`device memory region (DIMMs, virtio-mem): ${hex(view.deviceRegion.start)} + ${size(view.deviceRegion.size)}`}
                />
                {view.devices.map((d) => (
                  <Seg
                    key={d.id}
                    row={row}
                    start={d.start}
                    end={d.start + d.size}
                    className={`dev dev-${d.kind}`}
                    label={
                      d.kind === "dimm"
                        ? `DIMM ${d.id} ${size(d.size)}`
                        : `virtio-mem ${d.id}: ${size(d.plugged ?? 0)} of ${size(d.size)} plugged`
                    }
                    title={`${d.kind} ${d.id}: ${hex(d.start)} + ${size(d.size)}`}
                  />
                ))}
              </div>
              <div class="lane lane-blocks">
                <Seg
                  row={row}
                  start={view.deviceRegion.start}
                  end={view.deviceRegion.start + view.deviceRegion.size}
                  className="hotplug-area"
                  title="hotpluggable: no memory block here yet"
                />
                {view.blocks
                  .filter((b) => b.start >= row.start && b.start < row.end)
                  .map((b) => (
                    <BlockCell key={b.id} b={b} row={row} selected={b.id === selected} onSelect={onSelect} />
                  ))}
              </div>
              <div class="lane lane-pt">
                {view.linear.map((l) => (
                  <Seg
                    key={l.start}
                    row={row}
                    start={l.start}
                    end={l.start + l.size}
                    className="leaf"
                    style={{ background: LEAF_COLOURS[l.level] ?? "#999" }}
                    label={LEAF_NAMES[l.level]}
                    short={LEAF_NAMES[l.level]?.split(" ")[0]}
                    title={`linear map ${hex(l.start)} + ${size(l.size)}: ${LEAF_NAMES[l.level]} leaves`}
                  />
                ))}
              </div>
              <div class="lane lane-pt">
                {view.vmemmap.map((l) => (
                  <Seg
                    key={l.start}
                    row={row}
                    start={l.start}
                    end={l.start + l.size}
                    className={`leaf${l.selfHosted ? " self-hosted" : ""}`}
                    style={{ background: VMEMMAP_COLOURS[l.level] ?? "#999" }}
                    label={LEAF_NAMES[l.level] + (l.selfHosted ? " in the block" : "")}
                    short={LEAF_NAMES[l.level]?.split(" ")[0]}
                    title={`struct pages of ${hex(l.start)} + ${size(l.size)}: ${LEAF_NAMES[l.level]} leaves${l.selfHosted ? ", backed by the range itself (memmap_on_memory)" : ""}`}
                  />
                ))}
              </div>
            </div>
          </div>
        ),
      )}
    </div>
  );
}

export function Legend() {
  const item = (bg: string, text: string, cls = "") => (
    <span class="legend-item">
      <span class={`swatch ${cls}`} style={{ background: bg }} />
      {text}
    </span>
  );
  return (
    <div class="legend">
      <span class="legend-group">
        <b>blocks</b>
        {item(blockBackground("online", ["DMA"]), "DMA")}
        {item(blockBackground("online", ["DMA32"]), "DMA32")}
        {item(blockBackground("online", ["Normal"]), "Normal")}
        {item(blockBackground("online", ["Movable"]), "Movable")}
        {item(blockBackground("offline", []), "offline")}
        {item("", "hotpluggable, empty", "hotplug-area")}
        {item("#b71c1c", "unmovable pages")}
        {item("#ffb300", "movable pages")}
      </span>
      <span class="legend-group">
        <b>linear map</b>
        {item(LEAF_COLOURS.pud, "1G")}
        {item(LEAF_COLOURS.pmd, "2M")}
        {item(LEAF_COLOURS.pte, "4K")}
      </span>
      <span class="legend-group">
        <b>vmemmap</b>
        {item(VMEMMAP_COLOURS.pmd, "2M")}
        {item(VMEMMAP_COLOURS.pte, "4K")}
        {item(VMEMMAP_COLOURS.pmd, "memmap_on_memory", "self-hosted")}
      </span>
    </div>
  );
}
