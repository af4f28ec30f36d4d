// The seeded generator of `memhp fuzz`: machines and operation lists drawn from
// the tables of ./schema.ts with the model's own PRNG (src/mm/random.ts), so a
// seed names a case exactly. (The property tests draw the same records with
// fast-check instead, for its shrinking; see test/property.test.ts.)

import { Rng } from "../mm/random.js";
import type { Arch } from "../scenario/ast.js";
import {
  ARCHES,
  MACHINE_WEIGHTS,
  OPERAND_MAX,
  OP_KINDS,
  OP_WEIGHTS,
  type FuzzOp,
  type MachineChoices,
} from "./schema.js";

export function randomMachineChoices(rng: Rng, arch?: Arch): MachineChoices {
  const c = {} as MachineChoices;
  for (const key of Object.keys(MACHINE_WEIGHTS) as (keyof MachineChoices)[])
    c[key] = rng.pick(MACHINE_WEIGHTS[key]);
  if (arch !== undefined) c.arch = ARCHES.indexOf(arch);
  return c;
}

export function randomOp(rng: Rng): FuzzOp {
  const kind = OP_KINDS[rng.pick(OP_KINDS.map((k) => OP_WEIGHTS[k]))];
  return { kind, a: rng.int(OPERAND_MAX + 1), b: rng.int(OPERAND_MAX + 1), c: rng.int(OPERAND_MAX + 1) };
}

export function randomOps(rng: Rng, n: number): FuzzOp[] {
  const out: FuzzOp[] = [];
  for (let i = 0; i < n; i++) out.push(randomOp(rng));
  return out;
}
