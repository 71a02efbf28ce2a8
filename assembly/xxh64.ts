// XXH64 (xxhash.com's 64-bit hash), one-shot and streaming, as its reference computes it: the
// sampling formula's hash, and the body digests' (compare.body "exact", the JSON digest's mixing).

// @ts-ignore: decorator
@inline export const P1: u64 = 0x9e3779b185ebca87;
// @ts-ignore: decorator
@inline export const P2: u64 = 0xc2b2ae3d27d4eb4f;
// @ts-ignore: decorator
@inline export const P3: u64 = 0x165667b19e3779f9;
// @ts-ignore: decorator
@inline export const P4: u64 = 0x85ebca77c2b2ae63;
// @ts-ignore: decorator
@inline export const P5: u64 = 0x27d4eb2f165667c5;

/** XXH64's round (also the JSON digest's mixing step). */
// @ts-ignore: decorator
@inline
export function round(acc: u64, input: u64): u64 {
  acc += input * P2;
  acc = rotl<u64>(acc, 31);
  return acc * P1;
}

// @ts-ignore: decorator
@inline
function mergeRound(acc: u64, val: u64): u64 {
  acc ^= round(0, val);
  return acc * P1 + P4;
}

/**
 * XXH64 of `len` bytes at `ptr` (little-endian reads, as the reference): the streaming form
 * below over one chunk, on a stream reused for every call (no allocation).
 */
export function xxh64(ptr: usize, len: usize, seed: u64): u64 {
  const s = ONE_SHOT;
  s.reset(seed);
  s.update(ptr, len);
  return s.digest();
}

/** The tail (< 32 bytes) and the avalanche. */
function finish(h: u64, p: usize, len: usize): u64 {
  const end = p + len;
  while (p + 8 <= end) {
    h ^= round(0, load<u64>(p));
    h = rotl<u64>(h, 27) * P1 + P4;
    p += 8;
  }
  if (p + 4 <= end) {
    h ^= <u64>load<u32>(p) * P1;
    h = rotl<u64>(h, 23) * P2 + P3;
    p += 4;
  }
  while (p < end) {
    h ^= <u64>load<u8>(p) * P5;
    h = rotl<u64>(h, 11) * P1;
    p++;
  }
  return avalanche(h);
}

/** XXH64's final mix. */
// @ts-ignore: decorator
@inline
export function avalanche(h: u64): u64 {
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

/** XXH64 (seed 0) of a whole buffer. */
export function xxh64Of(data: ArrayBuffer): u64 {
  return xxh64(changetype<usize>(data), <usize>data.byteLength, 0);
}

/**
 * Streaming XXH64: `update` with each chunk as it passes, `digest` at the end; equal to `xxh64`
 * over the concatenation. Holds 32 bytes, never the data; `reset` starts it again in place.
 */
export class Xxh64Stream {
  private seed: u64 = 0;
  private v1: u64 = 0;
  private v2: u64 = 0;
  private v3: u64 = 0;
  private v4: u64 = 0;
  private total: u64 = 0;
  private tail: StaticArray<u8> = new StaticArray<u8>(32);
  private tailLen: usize = 0;

  constructor(seed: u64 = 0) {
    this.reset(seed);
  }

  /** As new, with `seed`. */
  reset(seed: u64 = 0): void {
    this.seed = seed;
    this.v1 = seed + P1 + P2;
    this.v2 = seed + P2;
    this.v3 = seed;
    this.v4 = seed - P1;
    this.total = 0;
    this.tailLen = 0;
  }

  update(ptr: usize, len: usize): void {
    this.total += <u64>len;
    const tail = changetype<usize>(this.tail);
    let p = ptr;
    const end = ptr + len;
    if (this.tailLen + len < 32) {
      memory.copy(tail + this.tailLen, p, len);
      this.tailLen += len;
      return;
    }
    if (this.tailLen > 0) {
      const fill: usize = 32 - this.tailLen;
      memory.copy(tail + this.tailLen, p, fill);
      this.stripe(tail);
      p += fill;
      this.tailLen = 0;
    }
    while (p + 32 <= end) {
      this.stripe(p);
      p += 32;
    }
    if (p < end) {
      memory.copy(tail, p, end - p);
      this.tailLen = end - p;
    }
  }

  private stripe(p: usize): void {
    this.v1 = round(this.v1, load<u64>(p));
    this.v2 = round(this.v2, load<u64>(p, 8));
    this.v3 = round(this.v3, load<u64>(p, 16));
    this.v4 = round(this.v4, load<u64>(p, 24));
  }

  digest(): u64 {
    let h: u64;
    if (this.total >= 32) {
      h =
        rotl<u64>(this.v1, 1) +
        rotl<u64>(this.v2, 7) +
        rotl<u64>(this.v3, 12) +
        rotl<u64>(this.v4, 18);
      h = mergeRound(h, this.v1);
      h = mergeRound(h, this.v2);
      h = mergeRound(h, this.v3);
      h = mergeRound(h, this.v4);
    } else {
      h = this.seed + P5;
    }
    h += this.total;
    return finish(h, changetype<usize>(this.tail), this.tailLen);
  }
}

/** One stream reused by every one-shot hash (no allocation per hash). */
export const ONE_SHOT = new Xxh64Stream();
