/**
 * The README's sampling contract, computed with an independent XXH64 (xxhash-wasm), for checking
 * what the filter decided.
 */
import xxhash from "xxhash-wasm";

const { h64Raw } = await xxhash();
const utf8 = new TextEncoder();

/** bucket = XXH64(utf8(salt + ":" + key), seed 0) mod 1000000. */
export function bucketOf(salt: string, key: string): number {
  return Number(h64Raw(utf8.encode(salt + ":" + key), 0n) % 1_000_000n);
}

/** mirrored iff bucket < round(percentage × 10000). */
export function mirroredByFormula(
  salt: string,
  key: string,
  percentage: number,
): boolean {
  return bucketOf(salt, key) < Math.round(percentage * 10_000);
}

/** Two-sided binomial bound for the count of successes; z = 3.2905 gives 99.9 %. */
export function binomialBound(
  n: number,
  p: number,
  z = 3.2905,
): [number, number] {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  return [mean - z * sd, mean + z * sd];
}
