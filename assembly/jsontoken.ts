// The hash of a JSON token (a member name, a string's unescaped bytes, a number's digits) and
// the mixing of digests: what the JSON digest computes as a body streams past, and what an
// ignore pattern's literal tokens are compared by.

import { P1, P4, P5, avalanche, round } from "./xxh64";

// @ts-ignore: decorator
@inline export const TOKEN_SEED: u64 = 0x746f6b656e5f7365;

/** A well-mixed digest of the pair (a, b); not symmetric. */
// @ts-ignore: decorator
@inline
export function combine(a: u64, b: u64): u64 {
  return avalanche(round(round(P5, a), b));
}

/** Folds 8 token bytes (little-endian) into a token hash. */
// @ts-ignore: decorator
@inline
export function absorb(h: u64, w: u64): u64 {
  return rotl<u64>(h ^ round(0, w), 27) * P1 + P4;
}

/** A token hash's value: its pending bytes (< 8, in `w`) and its length. */
// @ts-ignore: decorator
@inline
export function tokenEnd(h: u64, w: u64, len: u64): u64 {
  return avalanche(absorb(h, w) + len * P5);
}

/** The token hash of `len` bytes: what a streamed key or string hashes to. */
export function tokenHash(ptr: usize, len: usize): u64 {
  let h = TOKEN_SEED;
  let p = ptr;
  const end = ptr + len;
  while (p + 8 <= end) {
    h = absorb(h, load<u64>(p));
    p += 8;
  }
  let w: u64 = 0;
  let shift: u64 = 0;
  while (p < end) {
    w |= (<u64>load<u8>(p)) << shift;
    shift += 8;
    p++;
  }
  return tokenEnd(h, w, <u64>len);
}
