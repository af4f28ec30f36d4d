import { bigMachine } from "./scale.js";
const big = bigMachine(+process.argv[2] * 2 ** 30);
const k = big.k;
k.checkInvariants();
const inc = process.argv[3] === "inc";
const parts: [string, () => unknown][] = [
  ["sparse", () => k.sparse.checkInvariants()],
  ["memory", () => k.memory.checkInvariants()],
  ["pgtable", () => k.arch.pgtable.checkInvariants(inc)],
  ["page_alloc", () => k.alloc.checkInvariants(inc)],
  ["rfc", () => k.hotplug.checkDepopulateInvariants()],
  ["tablePfns", () => k.arch.pgtable.tablePfns()],
  ["freeArea", () => k.pgdat.zones.map((z) => z.freeArea.checkLists("x"))],
  ["all", () => k.checkInvariants({ incremental: inc })],
];
for (const [n, f] of parts) {
  const t0 = performance.now();
  f();
  console.log(n, (performance.now() - t0).toFixed(1), "ms");
}
