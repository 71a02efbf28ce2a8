// The sampling formula, the product's contract (docs/sampling.md):
//   bucket = XXH64(utf8(salt + ":" + key), seed 0) mod 1000000
//   mirrored iff bucket < round(percentage × 10000)

import { ONE_SHOT } from "./xxh64";

/** Buckets per key space: a percentage has four decimals (parts per million). */
export const BUCKETS: u64 = 1000000;

/**
 * The bucket of a key: `prefix` is utf8(salt + ":"), precomputed per target;
 * `key` holds the key's bytes (`keyLen` of them from `keyPtr`). Both are hashed
 * where they lie, one after the other, on the reused stream.
 */
export function bucketOfBytes(
  prefix: ArrayBuffer,
  keyPtr: usize,
  keyLen: i32,
): u32 {
  const s = ONE_SHOT;
  s.reset();
  s.update(changetype<usize>(prefix), <usize>prefix.byteLength);
  s.update(keyPtr, <usize>keyLen);
  return <u32>(s.digest() % BUCKETS);
}

/** The bucket of a key given as strings: XXH64(utf8(salt + ":" + key)) mod 1e6. */
export function bucketOf(salt: string, key: string): u32 {
  const prefix = String.UTF8.encode(salt + ":");
  const k = String.UTF8.encode(key);
  return bucketOfBytes(prefix, changetype<usize>(k), k.byteLength);
}

/** The threshold for a percentage: round(percentage × 10000), 0..1000000. */
export function thresholdOf(percentage: f64): u32 {
  const t = Math.round(percentage * 10000);
  if (t <= 0) return 0;
  if (t >= <f64>BUCKETS) return <u32>BUCKETS;
  return <u32>t;
}

/** The contract: a key is mirrored iff its bucket is below the threshold. */
export function isSampled(bucket: u32, threshold: u32): bool {
  return bucket < threshold;
}
