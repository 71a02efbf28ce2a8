// compare.ignore: JSON pointers (RFC 6901) with `*` (any one member or index) and `**` (any
// sequence of tokens), compiled once into hashes and bitmasks that the JSON digest steps through
// as it reads a body (jsondigest.ts): a value whose pointer a pattern matches is left out.

import { tokenHash } from "./jsontoken";
import { decimal } from "./text";

/** Most patterns in compare.ignore. */
export const MAX_PATTERNS: i32 = 32;
/** Most tokens in one pattern. */
export const MAX_TOKENS: i32 = 16;

const E_TOO_MANY = "too many patterns (at most 32)";
const E_WHOLE = "would ignore the whole body";
const E_START = 'must start with "/", got ';
const E_ESCAPE = 'has a "~" not followed by 0 or 1 (~0 is "~", ~1 is "/")';
const E_TOKENS = "has more than 16 tokens";

/** A compiled compare.ignore list: each pattern's tokens as hashes and bitmasks. */
export class IgnoreRules {
  /** Number of patterns. */
  count: i32;
  /** Tokens of each pattern. */
  tokens: StaticArray<i32>;
  /** Per pattern, bit i set when token i is "**". */
  globs: StaticArray<u32>;
  /** Per pattern, bit i set when token i is "*". */
  stars: StaticArray<u32>;
  /** [pattern × MAX_TOKENS + i]: token hash of literal token i. */
  hashes: StaticArray<u64>;
  /** [pattern × MAX_TOKENS + i]: the array index literal token i names, or -1. */
  indexes: StaticArray<i64>;
  /** Per pattern, the positions matched before any token (the root's state). */
  start: StaticArray<u32>;

  constructor(count: i32) {
    this.count = count;
    this.tokens = new StaticArray<i32>(count);
    this.globs = new StaticArray<u32>(count);
    this.stars = new StaticArray<u32>(count);
    this.hashes = new StaticArray<u64>(count * MAX_TOKENS);
    this.indexes = new StaticArray<i64>(count * MAX_TOKENS);
    this.start = new StaticArray<u32>(count);
  }

  /** Compiles pattern `i`; returns "" or the reason it is refused. */
  add(i: i32, pattern: string): string {
    if (pattern.length == 0) return E_WHOLE;
    if (pattern.charCodeAt(0) != 0x2f) return E_START + describe(pattern);
    const text = String.UTF8.encode(pattern);
    const base = changetype<usize>(text);
    const end = base + <usize>text.byteLength;
    // Unescaped token bytes are written back in place: unescaping only shortens.
    let p = base + 1;
    let k = 0;
    let globs: u32 = 0;
    let stars: u32 = 0;
    while (true) {
      if (k == MAX_TOKENS) return E_TOKENS;
      const from = p;
      let to = p;
      while (p < end && load<u8>(p) != 0x2f) {
        let c = load<u8>(p);
        if (c == 0x7e) {
          const next: u8 = p + 1 < end ? load<u8>(p + 1) : 0;
          if (next == 0x30) c = 0x7e;
          else if (next == 0x31) c = 0x2f;
          else return E_ESCAPE;
          p++;
        }
        store<u8>(to, c);
        to++;
        p++;
      }
      const len = to - from;
      const slot = i * MAX_TOKENS + k;
      unchecked((this.indexes[slot] = -1));
      if (len == 1 && load<u8>(from) == 0x2a && p - from == 1) {
        stars |= (<u32>1) << k;
      } else if (len == 2 && load<u16>(from) == 0x2a2a && p - from == 2) {
        globs |= (<u32>1) << k;
      } else {
        unchecked((this.hashes[slot] = tokenHash(from, len)));
        unchecked((this.indexes[slot] = indexOf(from, len)));
      }
      k++;
      if (p >= end) break;
      p++; // the "/" before the next token
    }
    if (globs == ((<u32>1) << k) - 1) return E_WHOLE;
    unchecked((this.tokens[i] = k));
    unchecked((this.globs[i] = globs));
    unchecked((this.stars[i] = stars));
    unchecked((this.start[i] = closure(1, globs)));
    return "";
  }
}

/** The reason of the last refusal of compileIgnore: "[i]: <reason>" ("" after a success). */
export let ignoreError: string = "";

/**
 * Compiles compare.ignore. On a refusal returns null and sets `ignoreError` to "[i]: <reason>",
 * i being the index of the first refused pattern.
 */
export function compileIgnore(patterns: string[]): IgnoreRules | null {
  ignoreError = "";
  if (patterns.length > MAX_PATTERNS) {
    ignoreError = "[" + decimal(MAX_PATTERNS) + "]: " + E_TOO_MANY;
    return null;
  }
  const rules = new IgnoreRules(patterns.length);
  for (let i = 0; i < patterns.length; i++) {
    const reason = rules.add(i, patterns[i]);
    if (reason.length > 0) {
      ignoreError = "[" + decimal(i) + "]: " + reason;
      return null;
    }
  }
  return rules;
}

/** A pattern quoted for a message, cut at 40 characters. */
function describe(s: string): string {
  return s.length > 40 ? '"' + s.substring(0, 40) + '..."' : '"' + s + '"';
}

/** The array index an RFC 6901 token names ("0" or [1-9][0-9]*), or -1. */
export function indexOf(p: usize, len: usize): i64 {
  if (len == 0 || len > 18 || (len > 1 && load<u8>(p) == 0x30)) return -1;
  let v: i64 = 0;
  for (let i: usize = 0; i < len; i++) {
    const d = <i32>load<u8>(p + i) - 0x30;
    if (<u32>d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** Adds the positions reachable by letting each "**" match nothing. */
// @ts-ignore: decorator
@inline
export function closure(set: u32, globs: u32): u32 {
  let g = globs;
  while (g != 0) {
    const i = ctz<u32>(g);
    g &= g - 1;
    if ((set >> i) & 1) set |= (<u32>2) << i;
  }
  return set;
}
