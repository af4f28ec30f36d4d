// The model's only source of randomness: a small seeded generator (mulberry32).
// Everything that looks random (the workload's choices) draws from one of these,
// so a run with the same seed does exactly the same thing.

export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** The next 32-bit unsigned value (mulberry32). */
  nextU32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** An integer in [0, n) for 0 < n <= 2^32. */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** true with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Index i with probability weights[i] / sum(weights); -1 when all weights are 0. */
  pick(weights: readonly number[]): number {
    let sum = 0;
    for (const w of weights) sum += w > 0 ? w : 0;
    if (sum <= 0) return -1;
    let x = this.next() * sum;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i] > 0 ? weights[i] : 0;
      if (x < w) return i;
      x -= w;
    }
    return weights.length - 1;
  }
}
