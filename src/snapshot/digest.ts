// A digest of the whole model state: SHA-256 over the object graph reachable
// from the Kernel — every typed array byte for byte, every Map, Set, array and
// object field in order, every number, string and bigint. Functions are
// skipped (the state their closures hold is reachable elsewhere); an object met
// again is hashed as a back-reference, so shared structure and cycles are fine.
//
// Two kernels with the same digest have the same state, down to the order of
// the free lists and the work counters; snapshots (./snapshot.ts) use it to
// prove that a replay reproduced the state it was taken from.

import { createHash, type Hash } from "node:crypto";

const TAG = {
  undef: "u",
  nul: "n",
  bool: "b",
  num: "d",
  big: "g",
  str: "s",
  ref: "r",
  arr: "A",
  map: "M",
  set: "S",
  obj: "O",
  typed: "T",
  buf: "B",
  fn: "f",
} as const;

export interface DigestOptions {
  /** Property names never followed (e.g. caches that do not change behaviour). */
  skip?: ReadonlySet<string>;
}

export function stateDigest(root: unknown, opts: DigestOptions = {}): string {
  const h = createHash("sha256");
  const seen = new Map<object, number>();
  const skip = opts.skip ?? new Set<string>();
  const num = Buffer.alloc(8);
  const visit = (v: unknown): void => {
    switch (typeof v) {
      case "undefined":
        h.update(TAG.undef);
        return;
      case "boolean":
        h.update(v ? "b1" : "b0");
        return;
      case "number":
        num.writeDoubleLE(v);
        h.update(TAG.num);
        h.update(num);
        return;
      case "bigint":
        h.update(`${TAG.big}${v.toString(16)};`);
        return;
      case "string":
        h.update(`${TAG.str}${v.length}:`);
        h.update(v);
        return;
      case "function":
      case "symbol":
        h.update(TAG.fn);
        return;
      default:
        break;
    }
    if (v === null) {
      h.update(TAG.nul);
      return;
    }
    const o = v as object;
    const id = seen.get(o);
    if (id !== undefined) {
      h.update(`${TAG.ref}${id};`);
      return;
    }
    seen.set(o, seen.size);
    if (ArrayBuffer.isView(o)) {
      h.update(`${TAG.typed}${o.constructor.name}:${o.byteLength}:`);
      h.update(new Uint8Array(o.buffer, o.byteOffset, o.byteLength));
      return;
    }
    if (o instanceof ArrayBuffer) {
      h.update(`${TAG.buf}${o.byteLength}:`);
      h.update(new Uint8Array(o));
      return;
    }
    if (Array.isArray(o)) {
      h.update(`${TAG.arr}${o.length}:`);
      for (const x of o) visit(x);
      return;
    }
    if (o instanceof Map) {
      h.update(`${TAG.map}${o.size}:`);
      for (const [key, x] of o) {
        visit(key);
        visit(x);
      }
      return;
    }
    if (o instanceof Set) {
      h.update(`${TAG.set}${o.size}:`);
      for (const x of o) visit(x);
      return;
    }
    visitObject(h, o, skip, visit);
  };
  visit(root);
  return h.digest("hex");
}

function visitObject(h: Hash, o: object, skip: ReadonlySet<string>, visit: (v: unknown) => void): void {
  const keys = Object.keys(o).filter((key) => !skip.has(key));
  h.update(`${TAG.obj}${o.constructor?.name ?? ""}:${keys.length}:`);
  for (const key of keys) {
    h.update(`${key}=`);
    visit((o as Record<string, unknown>)[key]);
  }
}
