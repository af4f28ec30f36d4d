// Parsing the function_graph tracer's text (/sys/kernel/debug/tracing/trace with
// funcgraph-tail), as the validation reads it from the real kernel under QEMU:
//
//    0)               |  online_pages() {
//    0) + 12.345 us   |    move_pfn_range_to_zone();
//    0) ! 345.678 us  |  } /* online_pages */
//
// A call is "name() {" ... "} /* name */" or a leaf "name();"; the duration is in
// microseconds, after an optional marker (+ ! # * @ $). Indentation after the
// bar gives the depth (two spaces per level).

export interface TracedCall {
  fn: string;
  us: number;
  children: TracedCall[];
}

const LINE = /^\s*(?:\d+\)\s*)?([+!#*@$]?)\s*(?:([\d.]+)\s*us)?\s*\|(\s*)(.*)$/;

/** The top-level calls of a function_graph trace, with their children. */
export function parseFunctionGraph(text: string): TracedCall[] {
  const top: TracedCall[] = [];
  const stack: TracedCall[] = [];
  for (const raw of text.split("\n")) {
    if (raw.startsWith("#") || !raw.includes("|")) continue;
    const m = LINE.exec(raw);
    if (!m) continue;
    const us = m[2] === undefined ? NaN : Number(m[2]);
    const body = m[4].trim();
    const open = /^([A-Za-z0-9_.$]+)\(\) \{$/.exec(body);
    const leaf = /^([A-Za-z0-9_.$]+)\(\);$/.exec(body);
    const close = /^\}(?: \/\* ([A-Za-z0-9_.$]+) \*\/)?$/.exec(body);
    if (open) {
      const call: TracedCall = { fn: open[1], us: NaN, children: [] };
      (stack.length ? stack[stack.length - 1].children : top).push(call);
      stack.push(call);
    } else if (leaf) {
      const call: TracedCall = { fn: leaf[1], us, children: [] };
      (stack.length ? stack[stack.length - 1].children : top).push(call);
    } else if (close) {
      const call = stack.pop();
      if (call) call.us = us;
    }
  }
  return top;
}

/** The total time of the calls named fn at any depth below (and including) `calls`. */
export function timeOf(calls: readonly TracedCall[], fn: string): number {
  let t = 0;
  for (const c of calls) {
    if (c.fn === fn) t += Number.isFinite(c.us) ? c.us : 0;
    else t += timeOf(c.children, fn);
  }
  return t;
}
