// Sizes and counts as scenario files, `call` arguments and the CLI write them
// (docs/scenario-format.md, "Sizes and numbers"). Shared by the model (the
// `call` statement's arguments, src/kernel/calls.ts) and the tools, so it
// lives in neither; the kernel's own parser of such sizes is memparse()
// (lib/cmdline.c), which accepts more (octal, P and E suffixes) than this.
//
//   SIZE  := NUMBER [SUFFIX]
//   NUMBER:= decimal digits | 0x/0X followed by hex digits
//   SUFFIX:= K M G T (either case; powers of 1024) | KiB MiB GiB TiB
//
// No sign, no fraction, no separators, no "KB" (1000 or 1024?). Leading zeros of a
// decimal number are just zeros (010 is ten, not octal eight).

/** Why a token is not a size; the parser adds file, line and column. */
export class SizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SizeError";
  }
}

const SHIFT: ReadonlyMap<string, bigint> = new Map([
  ["", 0n],
  ["K", 10n],
  ["M", 20n],
  ["G", 30n],
  ["T", 40n],
  ["KiB", 10n],
  ["MiB", 20n],
  ["GiB", 30n],
  ["TiB", 40n],
]);

/** 2^64 - 1: the largest value parseSizeBig() accepts (a u64, as QEMU and the kernel hold sizes). */
export const U64_MAX = (1n << 64n) - 1n;

const SIZE_RE = /^(0[xX][0-9a-fA-F]+|[0-9]+)([A-Za-z]*)$/;

function suffixShift(suffix: string): bigint | undefined {
  const exact = SHIFT.get(suffix);
  if (exact !== undefined) return exact;
  // k, m, g, t as well as K, M, G, T (Linux memparse() and QEMU accept both cases).
  if (suffix.length === 1) return SHIFT.get(suffix.toUpperCase());
  return undefined;
}

/** The value of a size token as a bigint in [0, 2^64); throws SizeError. */
export function parseSizeBig(token: string): bigint {
  if (token === "") throw new SizeError("empty size");
  if (token.startsWith("-")) throw new SizeError(`negative size "${token}"`);
  if (token.startsWith("+")) throw new SizeError(`a size takes no sign: "${token}"`);
  const m = SIZE_RE.exec(token);
  if (m === null) {
    if (/^[0-9]+\.[0-9]*/.test(token) || /^\.[0-9]/.test(token)) {
      throw new SizeError(`fractional size "${token}": write a whole number (1536M, not 1.5G)`);
    }
    throw new SizeError(`not a size: "${token}" (expected e.g. 512M, 4G, 0x8000000)`);
  }
  const [, digits, suffix] = m;
  const shift = suffixShift(suffix);
  if (shift === undefined) {
    throw new SizeError(
      `unknown size suffix "${suffix}" in "${token}" (use K, M, G, T or KiB, MiB, GiB, TiB)`,
    );
  }
  const value = BigInt(digits) << shift;
  if (value > U64_MAX) throw new SizeError(`size "${token}" does not fit in 64 bits`);
  return value;
}

/** A size as a number; throws SizeError beyond Number.MAX_SAFE_INTEGER. */
export function parseSize(token: string): number {
  const v = parseSizeBig(token);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new SizeError(`size "${token}" is too large (more than 2^53-1 bytes)`);
  }
  return Number(v);
}

/** A plain count (decimal or 0x-hex, no suffix), e.g. slots=N or workload STEPS; throws SizeError. */
export function parseCount(token: string): number {
  if (token.startsWith("-")) throw new SizeError(`negative number "${token}"`);
  if (!/^(0[xX][0-9a-fA-F]+|[0-9]+)$/.test(token)) {
    throw new SizeError(`not a whole number: "${token}"`);
  }
  const v = BigInt(token);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new SizeError(`number "${token}" is too large`);
  return Number(v);
}

/** A size the way a scenario file writes it: the largest exact unit ("1G", "130M", "4100"). */
export function formatSize(bytes: number | bigint): string {
  let v = BigInt(bytes);
  if (v === 0n) return "0";
  for (const [unit, shift] of [
    ["T", 40n],
    ["G", 30n],
    ["M", 20n],
    ["K", 10n],
  ] as const) {
    const mask = (1n << shift) - 1n;
    if ((v & mask) === 0n) {
      v >>= shift;
      return `${v}${unit}`;
    }
  }
  return v.toString();
}
