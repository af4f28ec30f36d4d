// The memhp serve page: one model machine, its memory map, the operations on it
// and their work, and the strategy comparison of `memhp demo`.
import { render } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { getState, reset, runCommand, type MachineView } from "./api.js";
import { BlockPanel } from "./BlockPanel.js";
import { Legend, MemoryMap } from "./MemoryMap.js";
import { Strategies } from "./Strategies.js";
import { Timeline } from "./Timeline.js";
import { num, size } from "./format.js";
import "./style.css";

interface ConsoleLine {
  command: string;
  out: string;
  err: string;
  status: number;
}

const DIMM_SIZES = ["128M", "256M", "512M", "1G", "2G"];

function Stats({ view }: { view: MachineView }) {
  const online = view.blocks.filter((b) => b.state === "online").length;
  const stat = (label: string, value: string, id: string) => (
    <div class="stat" data-stat={id}>
      <div class="stat-value">{value}</div>
      <div class="stat-label">{label}</div>
    </div>
  );
  return (
    <div class="stats">
      {stat("MemTotal", size(view.meminfo.memTotalKb * 1024), "memtotal")}
      {stat("MemFree", size(view.meminfo.memFreeKb * 1024), "memfree")}
      {stat("memory blocks online / all", `${online} / ${view.blocks.length}`, "blocks")}
      {stat("page-table pages", num(view.tablePages), "tablepages")}
      {stat("auto_online_blocks", view.autoOnline, "autoonline")}
    </div>
  );
}

function Toolbar({
  view,
  busy,
  run,
  onReset,
}: {
  view: MachineView;
  busy: boolean;
  run: (c: string) => void;
  onReset: (kernel?: string) => void;
}) {
  const [dimmSize, setDimmSize] = useState("1G");
  const ids = new Set(view.devices.map((d) => d.id));
  let n = 0;
  while (ids.has(`d${n}`)) n++;
  const vmems = view.devices.filter((d) => d.kind === "virtio-mem");
  return (
    <div class="toolbar">
      <span class="tool">
        DIMM
        <select
          value={dimmSize}
          onChange={(e) => setDimmSize((e.target as HTMLSelectElement).value)}
          disabled={busy}
        >
          {DIMM_SIZES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <button data-action="dimm-add" disabled={busy} onClick={() => run(`dimm-add d${n} size=${dimmSize}`)}>
          plug d{n}
        </button>
      </span>
      {vmems.map((v) => (
        <span class="tool" key={v.id}>
          virtio-mem {v.id}: request
          {[0, 0.25, 0.5, 1].map((f) => {
            const bytes = Math.floor((v.size * f) / view.blockSizeBytes) * view.blockSizeBytes;
            return (
              <button
                key={f}
                data-action={`vmem-resize-${v.id}-${size(bytes)}`}
                disabled={busy}
                onClick={() => run(`vmem-resize ${v.id} ${bytes / 1048576}M`)}
              >
                {size(bytes)}
              </button>
            );
          })}
        </span>
      ))}
      <span class="tool">
        auto_online_blocks
        {["offline", "online", "online_kernel", "online_movable"].map((p) => (
          <button
            key={p}
            class={view.autoOnline === p ? "active" : ""}
            disabled={busy}
            onClick={() => run(`echo ${p} > /sys/devices/system/memory/auto_online_blocks`)}
          >
            {p}
          </button>
        ))}
      </span>
      <span class="tool right">
        Linux
        <select
          data-action="kernel"
          title="the Linux release the model runs: switching boots the machine again on it"
          value={view.kernel}
          onChange={(e) => onReset((e.target as HTMLSelectElement).value)}
          disabled={busy}
        >
          {view.kernels.map((k) => (
            <option key={k}>{k}</option>
          ))}
        </select>
        <button onClick={() => onReset()} disabled={busy} title="boot the machine again">
          reboot
        </button>
      </span>
    </div>
  );
}

function Console({ lines, busy, run }: { lines: ConsoleLine[]; busy: boolean; run: (c: string) => void }) {
  const [text, setText] = useState("");
  return (
    <div class="panel console" data-testid="console">
      <h2>Shell</h2>
      <div class="console-out mono" data-testid="console-out">
        {lines.slice(-6).map((l, i) => (
          <div key={i}>
            <div class="prompt"># {l.command}</div>
            {l.out ? <pre>{l.out}</pre> : null}
            {l.err ? <pre class="err">{l.err}</pre> : null}
          </div>
        ))}
      </div>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (text.trim()) run(text);
          setText("");
        }}
      >
        <input
          class="mono"
          value={text}
          placeholder="memhp shell line: cat /proc/meminfo, dimm-add d1 size=512M, call …"
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
          disabled={busy}
        />
      </form>
    </div>
  );
}

function App() {
  const [tab, setTab] = useState<"map" | "strategies">(
    location.hash === "#strategies" ? "strategies" : "map",
  );
  const [view, setView] = useState<MachineView | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [selected, setSelected] = useState<number | undefined>();
  const [busy, setBusy] = useState(false);
  const [lines, setLines] = useState<ConsoleLine[]>([]);

  const refresh = useCallback(
    () =>
      getState()
        .then(setView)
        .catch((e: Error) => setError(e.message)),
    [],
  );
  useEffect(() => {
    void refresh();
  }, [refresh]);

  const run = useCallback(
    (command: string) => {
      setBusy(true);
      runCommand(command)
        .then((r) => {
          setLines((ls) => [...ls, { command, out: r.out, err: r.err, status: r.status }]);
          setError(undefined);
          return refresh();
        })
        .catch((e: Error) => setError(e.message))
        .finally(() => setBusy(false));
    },
    [refresh],
  );

  const onReset = (kernel?: string) => {
    setBusy(true);
    reset(kernel)
      .then((v) => {
        setView(v);
        setError(undefined);
        setLines([]);
        setSelected(undefined);
      })
      .catch((e: Error) => setError(e.message))
      .finally(() => setBusy(false));
  };

  const block = view?.blocks.find((b) => b.id === selected);
  return (
    <div class="app">
      <header>
        <h1>
          memhp{" "}
          <span class="muted" data-testid="release">
            {view ? `Linux ${view.kernel} ` : ""}memory hotplug model
          </span>
        </h1>
        {view && tab === "map" ? (
          <div class="machine" data-testid="live-machine">
            {view.title}
          </div>
        ) : null}
        <nav>
          <a class={tab === "map" ? "active" : ""} href="#map" onClick={() => setTab("map")}>
            Memory map
          </a>
          <a
            class={tab === "strategies" ? "active" : ""}
            href="#strategies"
            onClick={() => setTab("strategies")}
          >
            Strategies
          </a>
        </nav>
      </header>
      {error ? (
        <div class="error-bar" role="alert">
          {error}
        </div>
      ) : null}
      {tab === "strategies" ? (
        <Strategies />
      ) : view ? (
        <>
          <Stats view={view} />
          <Toolbar view={view} busy={busy} run={run} onReset={onReset} />
          <div class="main">
            <div class="panel map-panel">
              <Legend />
              <MemoryMap view={view} selected={selected} onSelect={setSelected} />
            </div>
            <div class="side">
              <BlockPanel view={view} block={block} busy={busy} run={run} />
              <Console lines={lines} busy={busy} run={run} />
            </div>
          </div>
          <Timeline timeline={view.timeline} />
        </>
      ) : (
        <p class="muted">loading…</p>
      )}
    </div>
  );
}

render(<App />, document.getElementById("app")!);
