// fast-check arbitraries for the fuzzer's machines and operations: the same
// records src/fuzz/random.ts draws for `memhp fuzz`, with the same weights, so
// that fast-check can shrink a failing case (integers toward 0, lists shorter).
// Not a test file: imported by test/property*.ts.

import fc from "fast-check";
import {
  MACHINE_WEIGHTS,
  OPERAND_MAX,
  OP_KINDS,
  OP_WEIGHTS,
  type FuzzOp,
  type MachineChoices,
} from "../src/fuzz/schema.js";

/** Value i of a choice with weight w[i]; shrinks toward 0. */
function weighted(weights: readonly number[]): fc.Arbitrary<number> {
  return fc.oneof(...weights.map((w, i) => ({ arbitrary: fc.constant(i), weight: w })));
}

export function machineArb(arch?: 0 | 1): fc.Arbitrary<MachineChoices> {
  const fields = {} as { [K in keyof MachineChoices]: fc.Arbitrary<number> };
  for (const key of Object.keys(MACHINE_WEIGHTS) as (keyof MachineChoices)[])
    fields[key] = key === "arch" && arch !== undefined ? fc.constant(arch) : weighted(MACHINE_WEIGHTS[key]);
  return fc.record(fields);
}

const operand = fc.integer({ min: 0, max: OPERAND_MAX });

export const opArb: fc.Arbitrary<FuzzOp> = fc.oneof(
  ...OP_KINDS.map((kind) => ({
    weight: OP_WEIGHTS[kind],
    arbitrary: fc.record({ a: operand, b: operand, c: operand }).map((o) => ({ kind, ...o })),
  })),
);

/** Lists of up to maxLength operations, all lengths alike (size "max"), shrinking down to one. */
export function opsArb(maxLength: number): fc.Arbitrary<FuzzOp[]> {
  return fc.array(opArb, { minLength: 1, maxLength, size: "max" });
}
