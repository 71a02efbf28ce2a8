// Canonical digests of JSON bodies, computed streaming (compare.body: "json").
//
// The rules (the README quotes them):
// - Strict RFC 8259 JSON: one value, surrounded by optional whitespace (space, tab, LF, CR); no
//   comments, no trailing commas, no leading zeros, no byte order mark, no control characters
//   inside strings, only the escapes of RFC 8259, strings of valid UTF-8 (no overlong forms, no
//   encoded surrogates, nothing above U+10FFFF). Anything else is Invalid. A body of only
//   whitespace (or no bytes) is Empty. Whatever the body, `exact` is the XXH64 of its bytes.
// - Each value has a typed 64-bit digest:
//   - null, true and false: one constant each;
//   - numbers by their exact decimal value: the sign, the significant digits (leading and
//     trailing zeros removed) and the decimal exponent, normalised as the digits stream past,
//     without conversion to floating point: 1, 1.0, 1e0, 10E-1 and 0.1e1 are equal, -0 equals 0,
//     and 20-digit integers compare exactly. Exponents are taken modulo 2^64 (only exponents
//     beyond ±9.2e18 can be confused);
//   - strings by their unescaped UTF-8 bytes and length: "\u0041" equals "A", "\/" equals "/",
//     an escaped surrogate pair equals the raw code point; an escaped lone surrogate is kept as
//     its own value (its WTF-8 bytes, which no valid raw UTF-8 can spell);
//   - arrays by the ordered sequence of their element digests and its length;
//   - objects by the wrapping sum of mix(hash of the unescaped member name, member digest) over
//     all members, and their number: member order does not matter. Duplicate member names are
//     all counted ({"a":1,"a":1} differs from {"a":1}; {"a":1,"a":2} equals {"a":2,"a":1}).
//   Type tags and lengths are mixed in, so [] ≠ {} ≠ "" ≠ 0 ≠ null, ["a","b"] ≠ ["ab"],
//   [[1],2] ≠ [1,[2]].
// - Nesting deeper than 128 arrays/objects is TooDeep: the body is not digested further.
// - Ignore patterns (compare.ignore) are JSON pointers (RFC 6901: "/a/b", "~0" is "~", "~1" is
//   "/") whose token "*" matches any one member name or array index and "**" any sequence of zero
//   or more tokens: "/**/timestamp" is the member "timestamp" at any depth, "/items/*/id" the id
//   of each element of items, "/items/0" its first element. A value whose pointer matches a
//   pattern is left out of its parent entirely (an ignored element is removed from the array; the
//   indexes that patterns name are those of the body as sent). At most 32 patterns of at most 16
//   tokens; a member literally named "*" or "**" can only be named by a wildcard.
// - Memory is fixed when the digest is made (digestFootprint), whatever the body: no allocation
//   per token or per body, no recursion.
//
// firstDifference: each digest keeps up to 64 (pointer, digest) entries of the values at depth
// 1 to 4 that were not ignored, in post-order (children before parents); when the table is full
// the deepest, latest entry gives way to a shallower one. Pointer text is kept up to 64 bytes.

import { IgnoreRules, MAX_TOKENS, closure } from "./jsonignore";
import { TOKEN_SEED, absorb, combine, tokenEnd, tokenHash } from "./jsontoken";
import { Xxh64Stream, round } from "./xxh64";

/** Deepest nesting of arrays and objects digested. */
export const MAX_DEPTH: i32 = 128;
/** Entries kept for firstDifference. */
export const DIFF_ENTRIES: i32 = 64;
/** Deepest values (pointer tokens) kept for firstDifference. */
export const DIFF_DEPTH: i32 = 4;
/** Bytes of pointer text kept per entry. */
export const POINTER_TEXT: i32 = 64;
/** Slots of a sketch (a power of two). */
export const SKETCH_SLOTS: i32 = 64;

/** What the body was, once finished. */
export enum JsonState {
  Empty,
  Valid,
  Invalid,
  TooDeep,
}

// ---- Hashing: type tags (tokens are hashed and digests mixed by jsontoken.ts).

// Type tags (arbitrary distinct constants).
// @ts-ignore: decorator
@inline const T_NULL: u64 = 0x6e756c6c5f746167;
// @ts-ignore: decorator
@inline const T_TRUE: u64 = 0x747275655f746167;
// @ts-ignore: decorator
@inline const T_FALSE: u64 = 0x66616c73655f7467;
// @ts-ignore: decorator
@inline const T_ZERO: u64 = 0x7a65726f5f746167;
// @ts-ignore: decorator
@inline const T_POSITIVE: u64 = 0x706f735f6e756d21;
// @ts-ignore: decorator
@inline const T_NEGATIVE: u64 = 0x6e65675f6e756d21;
// @ts-ignore: decorator
@inline const T_STRING: u64 = 0x737472696e675f74;
// @ts-ignore: decorator
@inline const T_ARRAY: u64 = 0x61727261795f7467;
// @ts-ignore: decorator
@inline const T_OBJECT: u64 = 0x6f626a6563745f74;
// @ts-ignore: decorator
@inline const T_ROOT: u64 = 0x726f6f745f707472;
// @ts-ignore: decorator
@inline const T_ANY_INDEX: u64 = 0x616e795f696e6478;

// ---- The digest

// Parser states. Every state below S_INVALID consumes input.
const S_VALUE = 0; // a value (top level, after ':', after ',' in an array)
const S_ARRAY_FIRST = 1; // after '[': a value or ']'
const S_OBJECT_FIRST = 2; // after '{': a member name or '}'
const S_KEY = 3; // after ',' in an object: a member name
const S_COLON = 4; // after a member name
const S_AFTER = 5; // after a value in a container: ',' or the closer
const S_DONE = 6; // after the top-level value: whitespace only
const S_STRING = 7; // in a string or member name
const S_ESCAPE = 8; // after '\'
const S_HEX = 9; // in \uXXXX
const S_LOW_SLASH = 10; // after a high-surrogate escape: '\' of its low half?
const S_LOW_U = 11; // after that '\': 'u'?
const S_UTF8 = 12; // in a raw multi-byte UTF-8 sequence
const S_LITERAL = 13; // in true, false or null
const S_MINUS = 14; // after '-'
const S_ZERO = 15; // after a leading 0
const S_INT = 16; // in the integer digits
const S_DOT = 17; // after '.'
const S_FRACTION = 18; // in the fraction digits
const S_E = 19; // after 'e'
const S_EXP_SIGN = 20; // after the exponent's sign
const S_EXPONENT = 21; // in the exponent digits
const S_INVALID = 22;
const S_TOO_DEEP = 23;

// Frame flags.
const F_OBJECT: u32 = 1;
const F_IGNORED: u32 = 2;
const F_ALIVE: u32 = 4; // some pattern may still match below

// Layout of the fixed state (one StaticArray<u8>). A frame per open container:
// acc u64, member-name hash u64, index u64, count u32, flags u32.
const FRAME = 32;
const FRAMES_SIZE = MAX_DEPTH * FRAME;
// Entries: pointer hash u64, digest u64, pointer text length u32, depth u32, text.
const ENTRY = 24 + POINTER_TEXT;
const ENTRIES_SIZE = DIFF_ENTRIES * ENTRY;
// Then: entry order (u8 each), entries per depth (i32 each), the pointer hash (u64) and text
// length (i32) of the value on the current path at each depth 0..DIFF_DEPTH, the pointer text
// being built, an index's digits, and the per-frame pattern states (u32 per pattern).
const ORDER = ENTRIES_SIZE;
const DEPTH_COUNT = ORDER + DIFF_ENTRIES;
const PATH_HASH = DEPTH_COUNT + 4 * (DIFF_DEPTH + 1) + 4; // 8-aligned
const PATH_LEN = PATH_HASH + 8 * (DIFF_DEPTH + 1);
const PATH_TEXT = PATH_LEN + 4 * (DIFF_DEPTH + 1);
const DIGITS = PATH_TEXT + POINTER_TEXT;
const FRAMES = DIGITS + 24;
const MASKS = FRAMES + FRAMES_SIZE;

/** Bytes of the fixed state for `patterns` patterns: frames' states and a scratch row. */
function stateSize(patterns: i32): i32 {
  return MASKS + (MAX_DEPTH + 1) * patterns * 4;
}

const LITERALS = memory.data<u8>([
  0x74, 0x72, 0x75, 0x65, 0x66, 0x61, 0x6c, 0x73, 0x65, 0x6e, 0x75, 0x6c, 0x6c,
]); // "true" "false" "null"

// @ts-ignore: decorator
@inline
function isSpace(c: u32): bool {
  // space, tab, LF, CR
  return c <= 0x20 && (((<u64>0x100002600) >> (<u64>c)) & 1) != 0;
}

// @ts-ignore: decorator
@inline
function hexValue(c: u32): i32 {
  if (c - 0x30 < 10) return <i32>(c - 0x30);
  const l = c | 0x20;
  if (l - 0x61 < 6) return <i32>(l - 0x61 + 10);
  return -1;
}

/** True when any of the 8 bytes of `w` ends a plain string run: '"', '\', < 0x20 or >= 0x80. */
// @ts-ignore: decorator
@inline
function hasSpecial(w: u64): bool {
  const LOW: u64 = 0x0101010101010101;
  const HIGH: u64 = 0x8080808080808080;
  const quote = w ^ 0x2222222222222222;
  const slash = w ^ 0x5c5c5c5c5c5c5c5c;
  const t =
    ((quote - LOW) & ~quote) |
    ((slash - LOW) & ~slash) |
    (w - 0x2020202020202020) |
    w;
  return (t & HIGH) != 0;
}

/**
 * A streaming canonical digest of one JSON body (the rules are in this file's header). Feed any
 * split of the body to `update`, then `finish`; `reset` makes it ready for the next body. Holds
 * digestFootprint(rules) bytes, allocated by the constructor; nothing allocates after that.
 */
export class JsonDigest {
  /** After finish(): what the body was. Invalid and TooDeep are set as soon as known. */
  state: JsonState = JsonState.Empty;
  /** After finish(), when Valid: the canonical digest. */
  digest: u64 = 0;
  /** After finish(): XXH64 of all the bytes fed, JSON or not. */
  exact: u64 = 0;
  /** Bytes fed. */
  bytes: u64 = 0;

  private rules: IgnoreRules | null;
  private patterns: i32;
  private mem: StaticArray<u8>;
  private base: usize;
  /**
   * With a sketch: SKETCH_SLOTS sums, then the "field" hash of the container open at each depth
   * (its pointer with every array index as "*"); null without.
   */
  private sketchMem: StaticArray<u64> | null;
  private stream: Xxh64Stream = new Xxh64Stream();
  private finished: bool = false;
  private st: i32 = S_VALUE;
  private depth: i32 = 0;
  // the token being hashed: state, pending bytes (tn of them) and length
  private th: u64 = TOKEN_SEED;
  private tw: u64 = 0;
  private tn: u64 = 0;
  private tlen: u64 = 0;
  // strings
  private isKey: bool = false;
  private keyText: bool = false; // the member name also goes into the pointer text
  private textLen: i32 = 0; // pointer text length (saturates at POINTER_TEXT + 1)
  private need: i32 = 0; // UTF-8 continuation bytes still expected
  private lo: u32 = 0; // allowed range of the next continuation byte
  private hi: u32 = 0;
  private hexCount: i32 = 0;
  private hexCode: u32 = 0;
  private high: u32 = 0; // a high-surrogate escape waiting for its low half
  // numbers: sign, digits before the point, leading zeros, a nonzero digit seen, zeros after
  // the last nonzero digit (not hashed yet), the exponent and its sign
  private negative: bool = false;
  private intDigits: u64 = 0;
  private leadingZeros: u64 = 0;
  private significant: bool = false;
  private zeros: u64 = 0;
  private exponent: u64 = 0;
  private expNegative: bool = false;
  // literals
  private litAt: i32 = 0;
  private litEnd: i32 = 0;
  private litDigest: u64 = 0;
  // the value being started or read
  private valueIgnored: bool = false;
  private childAlive: bool = false;
  // firstDifference entries
  private entries: i32 = 0;
  private deepest: i32 = 0; // once the table is full: the deepest depth it holds
  private dropped: i32 = 0x7fffffff; // least depth of an entry given up

  /**
   * `sketch`: also keep where the body's values lie, for a comparison against a baseline
   * (sketchInto).
   */
  constructor(rules: IgnoreRules | null, sketch: bool = false) {
    const patterns = rules !== null ? rules.count : 0;
    const mem = new StaticArray<u8>(stateSize(patterns));
    this.rules = rules;
    this.patterns = patterns;
    this.mem = mem;
    this.base = changetype<usize>(mem);
    this.sketchMem = sketch
      ? new StaticArray<u64>(SKETCH_SLOTS + MAX_DEPTH + 1)
      : null;
    this.reset();
  }

  /**
   * The body's sketch, after finish(): each value that was not ignored (but the root) adds a
   * hash of its digest and its pointer to the slot of its "field" — its pointer with every array
   * index as "*" (`/items/*` + `/price`) — so that two bodies differ in the slots of the fields
   * where they differ: a difference in `/items/3/price` shows in the slots of `/items/*` and
   * `/items/*` `/price`. Member order does not matter (a slot is a sum); array order does.
   */
  sketchInto(out: StaticArray<u64>): void {
    const s = this.sketchMem;
    if (s === null) return;
    memory.copy(
      changetype<usize>(out),
      changetype<usize>(s),
      <usize>(min(out.length, SKETCH_SLOTS) << 3),
    );
  }

  /** The field hash of a value at depth `d` (a member or element of the container there). */
  private fieldOf(s: StaticArray<u64>, d: i32): u64 {
    if (d == 0) return T_ROOT;
    const frame = this.frameAt(d);
    const token =
      load<u32>(frame, 28) & F_OBJECT ? load<u64>(frame, 8) : T_ANY_INDEX;
    return combine(unchecked(s[SKETCH_SLOTS + d]), token);
  }

  /** Makes the digest ready for another body. */
  reset(): void {
    this.stream.reset();
    this.state = JsonState.Empty;
    this.digest = 0;
    this.exact = 0;
    this.bytes = 0;
    this.finished = false;
    this.st = S_VALUE;
    this.depth = 0;
    this.entries = 0;
    this.deepest = 0;
    this.dropped = 0x7fffffff;
    const s = this.sketchMem;
    if (s !== null) memory.fill(changetype<usize>(s), 0, SKETCH_SLOTS << 3);
    memory.fill(this.base + DEPTH_COUNT, 0, 4 * (DIFF_DEPTH + 1));
    store<u64>(this.base + PATH_HASH, T_ROOT);
    store<i32>(this.base + PATH_LEN, 0);
  }

  /** Feeds `len` bytes at `ptr`: any split of the body, in order. Ignored after finish(). */
  update(ptr: usize, len: usize): void {
    if (this.finished) return;
    this.bytes += <u64>len;
    this.stream.update(ptr, len);
    if (this.st < S_INVALID) this.run(ptr, ptr + len);
  }

  /** The end of the body: sets `state`, `digest` and `exact`. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.exact = this.stream.digest();
    let st = this.st;
    if (this.depth == 0) {
      if (st == S_ZERO || st == S_INT || st == S_FRACTION || st == S_EXPONENT)
        st = this.valueDone(this.numberDigest(), this.valueIgnored);
      if (st == S_DONE) this.state = JsonState.Valid;
      else if (st == S_VALUE) this.state = JsonState.Empty;
      else if (st != S_TOO_DEEP) this.state = JsonState.Invalid;
    } else if (st != S_TOO_DEEP) {
      this.state = JsonState.Invalid;
    }
    if (this.state != JsonState.Valid) this.digest = 0;
    this.st = st;
  }

  // ---- the state machine

  private run(ptr: usize, end: usize): void {
    let p = ptr;
    let st = this.st;
    while (p < end) {
      let c = <u32>load<u8>(p);
      if (st <= S_DONE && isSpace(c)) {
        do p++;
        while (p < end && isSpace(<u32>load<u8>(p)));
        continue;
      }
      switch (st) {
        case S_VALUE:
        case S_ARRAY_FIRST: {
          p++;
          if (c == 0x5d && st == S_ARRAY_FIRST) st = this.close(false);
          else st = this.beginValue(c);
          break;
        }
        case S_OBJECT_FIRST:
        case S_KEY: {
          p++;
          if (c == 0x22) st = this.beginKey();
          else if (c == 0x7d && st == S_OBJECT_FIRST) st = this.close(true);
          else st = this.fail();
          break;
        }
        case S_COLON: {
          p++;
          st = c == 0x3a ? S_VALUE : this.fail();
          break;
        }
        case S_AFTER: {
          p++;
          const object = (this.frameFlags() & F_OBJECT) != 0;
          if (c == 0x2c) st = object ? S_KEY : S_VALUE;
          else if (c == (object ? 0x7d : 0x5d)) st = this.close(object);
          else st = this.fail();
          break;
        }
        case S_DONE: {
          p++;
          st = this.fail(); // anything but whitespace after the value
          break;
        }
        case S_STRING: {
          const from = p;
          p = this.plainRun(p, end);
          if (this.keyText && p > from) this.appendRun(from, p);
          if (p == end) break;
          const b = <u32>load<u8>(p);
          p++;
          if (b == 0x22) st = this.endString();
          else if (b == 0x5c) st = S_ESCAPE;
          else if (b < 0x20) st = this.fail();
          else if (b < 0x80) this.emit(b);
          else st = this.utf8Lead(b);
          break;
        }
        case S_UTF8: {
          p++;
          if (c < this.lo || c > this.hi) {
            st = this.fail();
            break;
          }
          this.emit(c);
          this.lo = 0x80;
          this.hi = 0xbf;
          if (--this.need == 0) st = S_STRING;
          break;
        }
        case S_ESCAPE: {
          p++;
          st = this.escape(c);
          break;
        }
        case S_HEX: {
          p++;
          const v = hexValue(c);
          if (v < 0) {
            st = this.fail();
            break;
          }
          this.hexCode = (this.hexCode << 4) | (<u32>v);
          if (++this.hexCount == 4) st = this.codeUnit(this.hexCode);
          break;
        }
        case S_LOW_SLASH: {
          if (c == 0x5c) {
            p++;
            st = S_LOW_U;
          } else {
            // a lone high surrogate; the byte is read again as string content
            this.emitCode(this.high);
            this.high = 0;
            st = S_STRING;
          }
          break;
        }
        case S_LOW_U: {
          if (c == 0x75) {
            p++;
            this.hexCount = 0;
            this.hexCode = 0;
            st = S_HEX;
          } else {
            // a lone high surrogate, then another escape (read again)
            this.emitCode(this.high);
            this.high = 0;
            st = S_ESCAPE;
          }
          break;
        }
        case S_LITERAL: {
          p++;
          if (c != <u32>load<u8>(LITERALS + <usize>this.litAt)) {
            st = this.fail();
            break;
          }
          if (++this.litAt == this.litEnd)
            st = this.valueDone(this.litDigest, this.valueIgnored);
          break;
        }
        case S_MINUS: {
          p++;
          if (c == 0x30) st = S_ZERO;
          else if (c - 0x31 < 9) st = S_INT;
          else {
            st = this.fail();
            break;
          }
          this.digit(c, true);
          break;
        }
        case S_ZERO: {
          if (c == 0x2e) {
            p++;
            st = S_DOT;
          } else if ((c | 0x20) == 0x65) {
            p++;
            st = S_E;
          } else if (c - 0x30 < 10) {
            st = this.fail(); // a leading zero
          } else {
            st = this.valueDone(this.numberDigest(), this.valueIgnored);
          }
          break;
        }
        case S_INT:
        case S_FRACTION: {
          if (c - 0x30 < 10) {
            const int = st == S_INT;
            do {
              this.digit(c, int);
              p++;
            } while (p < end && (c = <u32>load<u8>(p)) - 0x30 < 10);
          } else if (c == 0x2e && st == S_INT) {
            p++;
            st = S_DOT;
          } else if ((c | 0x20) == 0x65) {
            p++;
            st = S_E;
          } else {
            st = this.valueDone(this.numberDigest(), this.valueIgnored);
          }
          break;
        }
        case S_DOT: {
          p++;
          if (c - 0x30 < 10) {
            this.digit(c, false);
            st = S_FRACTION;
          } else {
            st = this.fail();
          }
          break;
        }
        case S_E: {
          p++;
          if (c == 0x2b || c == 0x2d) {
            this.expNegative = c == 0x2d;
            st = S_EXP_SIGN;
          } else if (c - 0x30 < 10) {
            this.exponent = <u64>(c - 0x30);
            st = S_EXPONENT;
          } else {
            st = this.fail();
          }
          break;
        }
        case S_EXP_SIGN:
        case S_EXPONENT: {
          if (c - 0x30 < 10) {
            p++;
            this.exponent = this.exponent * 10 + <u64>(c - 0x30);
            st = S_EXPONENT;
          } else if (st == S_EXP_SIGN) {
            p++;
            st = this.fail();
          } else {
            st = this.valueDone(this.numberDigest(), this.valueIgnored);
          }
          break;
        }
        default: {
          p = end; // Invalid or TooDeep: nothing more to read
        }
      }
    }
    this.st = st;
  }

  private fail(): i32 {
    this.state = JsonState.Invalid;
    return S_INVALID;
  }

  // @ts-ignore: decorator
  @inline
  private frameAt(depth: i32): usize {
    return this.base + FRAMES + <usize>((depth - 1) * FRAME);
  }

  // @ts-ignore: decorator
  @inline
  private frameFlags(): u32 {
    return load<u32>(this.frameAt(this.depth), 28);
  }

  /** A value starts with `c`. */
  private beginValue(c: u32): i32 {
    switch (c) {
      case 0x7b:
        this.enter();
        return this.open(true);
      case 0x5b:
        this.enter();
        return this.open(false);
      case 0x22:
        this.enter();
        this.startToken();
        this.isKey = false;
        this.keyText = false;
        return S_STRING;
      case 0x74:
        return this.beginLiteral(0, 4, combine(T_TRUE, 0));
      case 0x66:
        return this.beginLiteral(4, 9, combine(T_FALSE, 0));
      case 0x6e:
        return this.beginLiteral(9, 13, combine(T_NULL, 0));
    }
    if (c == 0x2d || c - 0x30 < 10) {
      this.enter();
      this.startToken();
      this.negative = c == 0x2d;
      this.intDigits = 0;
      this.leadingZeros = 0;
      this.significant = false;
      this.zeros = 0;
      this.exponent = 0;
      this.expNegative = false;
      if (c == 0x2d) return S_MINUS;
      this.digit(c, true);
      return c == 0x30 ? S_ZERO : S_INT;
    }
    return this.fail();
  }

  private beginLiteral(from: i32, to: i32, digest: u64): i32 {
    this.enter();
    this.litAt = from + 1;
    this.litEnd = to;
    this.litDigest = digest;
    return S_LITERAL;
  }

  /**
   * A value starts at the current depth: is it ignored, may patterns match below it, and (down
   * to DIFF_DEPTH) its pointer's hash and text.
   */
  private enter(): void {
    const d = this.depth;
    if (d == 0) {
      this.valueIgnored = false;
      this.childAlive = this.patterns > 0;
      if (this.childAlive) {
        memory.copy(
          this.base + MASKS + <usize>(MAX_DEPTH * this.patterns * 4),
          changetype<usize>(this.rules!.start),
          <usize>this.patterns * 4,
        );
      }
      return;
    }
    const frame = this.frameAt(d);
    const flags = load<u32>(frame, 28);
    if (flags & F_IGNORED) {
      this.valueIgnored = true;
      this.childAlive = false;
      return;
    }
    const object = (flags & F_OBJECT) != 0;
    const keyHash = load<u64>(frame, 8);
    const index = load<u64>(frame, 16);
    if (d <= DIFF_DEPTH && this.keeps(d)) {
      const b = this.base;
      let token = keyHash;
      if (!object) {
        // "/" and the index's digits
        this.textLen = load<i32>(b + PATH_LEN + <usize>((d - 1) * 4));
        this.appendText(0x2f);
        let n = index;
        let at = b + DIGITS + 20;
        do {
          at--;
          store<u8>(at, <u8>(0x30 + (n % 10)));
          n /= 10;
        } while (n != 0);
        const len = b + DIGITS + 20 - at;
        for (let i: usize = 0; i < len; i++) this.appendText(load<u8>(at + i));
        token = tokenHash(at, len);
      }
      store<i32>(b + PATH_LEN + <usize>(d * 4), this.textLen);
      store<u64>(
        b + PATH_HASH + <usize>(d * 8),
        combine(load<u64>(b + PATH_HASH + <usize>((d - 1) * 8)), token),
      );
    }
    if (flags & F_ALIVE) this.match(d, object, keyHash, index);
    else {
      this.valueIgnored = false;
      this.childAlive = false;
    }
  }

  /** Steps every pattern alive in frame `d` over the value's token into the scratch row. */
  private match(d: i32, object: bool, keyHash: u64, index: u64): void {
    const rules = this.rules!;
    const n = this.patterns;
    const row = this.base + MASKS + <usize>((d - 1) * n * 4);
    const next = this.base + MASKS + <usize>(MAX_DEPTH * n * 4);
    let alive = false;
    for (let i = 0; i < n; i++) {
      const set = load<u32>(row + <usize>(i * 4));
      let out: u32 = 0;
      if (set != 0) {
        const k = unchecked(rules.tokens[i]);
        const globs = unchecked(rules.globs[i]);
        const stars = unchecked(rules.stars[i]);
        let bits = set & (((<u32>1) << k) - 1);
        while (bits != 0) {
          const t = ctz<u32>(bits);
          const bit = (<u32>1) << t;
          bits &= bits - 1;
          if (globs & bit) out |= bit;
          else if (stars & bit) out |= bit << 1;
          else {
            const slot = i * MAX_TOKENS + <i32>t;
            if (
              object
                ? unchecked(rules.hashes[slot]) == keyHash
                : unchecked(rules.indexes[slot]) == <i64>index
            )
              out |= bit << 1;
          }
        }
        out = closure(out, globs);
        if ((out >> k) & 1) {
          this.valueIgnored = true;
          this.childAlive = false;
          return;
        }
      }
      store<u32>(next + <usize>(i * 4), out);
      if (out != 0) alive = true;
    }
    this.valueIgnored = false;
    this.childAlive = alive;
  }

  /** Opens an array or object whose first byte was just read. */
  private open(object: bool): i32 {
    if (this.depth == MAX_DEPTH) {
      this.state = JsonState.TooDeep;
      return S_TOO_DEEP;
    }
    const s = this.sketchMem;
    if (s !== null) {
      unchecked(
        (s[SKETCH_SLOTS + this.depth + 1] = this.fieldOf(s, this.depth)),
      );
    }
    const d = ++this.depth;
    const frame = this.frameAt(d);
    store<u64>(frame, object ? 0 : T_ARRAY);
    store<u64>(frame, 0, 8);
    store<u64>(frame, 0, 16);
    store<u32>(frame, 0, 24);
    let flags: u32 = object ? F_OBJECT : 0;
    if (this.valueIgnored) flags |= F_IGNORED;
    else if (this.childAlive) {
      flags |= F_ALIVE;
      const n = this.patterns;
      memory.copy(
        this.base + MASKS + <usize>((d - 1) * n * 4),
        this.base + MASKS + <usize>(MAX_DEPTH * n * 4),
        <usize>n * 4,
      );
    }
    store<u32>(frame, flags, 28);
    return object ? S_OBJECT_FIRST : S_ARRAY_FIRST;
  }

  /** Closes the innermost container (its closer was just read). */
  private close(object: bool): i32 {
    const frame = this.frameAt(this.depth);
    const acc = load<u64>(frame);
    const count = <u64>load<u32>(frame, 24);
    const ignored = (load<u32>(frame, 28) & F_IGNORED) != 0;
    this.depth--;
    return this.valueDone(
      object ? combine(acc ^ T_OBJECT, count) : combine(acc, count),
      ignored,
    );
  }

  /** A value with digest `v` ended at the current depth: into its parent, or the root. */
  private valueDone(v: u64, ignored: bool): i32 {
    const d = this.depth;
    if (d == 0) {
      this.digest = v;
      return S_DONE;
    }
    const frame = this.frameAt(d);
    const flags = load<u32>(frame, 28);
    if (!ignored) {
      if (flags & F_OBJECT) {
        store<u64>(frame, load<u64>(frame) + combine(load<u64>(frame, 8), v));
      } else {
        store<u64>(frame, round(load<u64>(frame), v));
      }
      store<u32>(frame, load<u32>(frame, 24) + 1, 24);
      if (d <= DIFF_DEPTH) this.record(d, v);
      const s = this.sketchMem;
      if (s !== null) {
        const field = this.fieldOf(s, d);
        const at =
          flags & F_OBJECT ? field : combine(field, load<u64>(frame, 16));
        const slot = <i32>(field >> 58);
        unchecked((s[slot] += combine(at, v)));
      }
    }
    if (!(flags & F_OBJECT)) store<u64>(frame, load<u64>(frame, 16) + 1, 16);
    return S_AFTER;
  }

  // ---- tokens

  private startToken(): void {
    this.th = TOKEN_SEED;
    this.tw = 0;
    this.tn = 0;
    this.tlen = 0;
    this.high = 0;
  }

  // @ts-ignore: decorator
  @inline
  private push(b: u32): void {
    this.tw |= (<u64>b) << (this.tn << 3);
    this.tlen++;
    if (++this.tn == 8) {
      this.th = absorb(this.th, this.tw);
      this.tw = 0;
      this.tn = 0;
    }
  }

  private tokenValue(): u64 {
    return tokenEnd(this.th, this.tw, this.tlen);
  }

  /** Hashes the plain bytes from `p` on (8 at a time when aligned); returns where they stop. */
  private plainRun(p: usize, end: usize): usize {
    let h = this.th;
    let w = this.tw;
    let n = this.tn;
    const from = p;
    while (p < end) {
      if (n == 0) {
        while (p + 8 <= end) {
          const x = load<u64>(p);
          if (hasSpecial(x)) break;
          h = absorb(h, x);
          p += 8;
        }
        if (p >= end) break;
      }
      const c = <u64>load<u8>(p);
      if (c == 0x22 || c == 0x5c || c < 0x20 || c >= 0x80) break;
      w |= c << (n << 3);
      p++;
      if (++n == 8) {
        h = absorb(h, w);
        w = 0;
        n = 0;
      }
    }
    this.th = h;
    this.tw = w;
    this.tn = n;
    this.tlen += <u64>(p - from);
    return p;
  }

  /** One unescaped byte of a string or member name. */
  private emit(b: u32): void {
    this.push(b);
    if (this.keyText) {
      // RFC 6901: "~" is written "~0" and "/" "~1"
      if (b == 0x7e) {
        this.appendText(0x7e);
        this.appendText(0x30);
      } else if (b == 0x2f) {
        this.appendText(0x7e);
        this.appendText(0x31);
      } else {
        this.appendText(b);
      }
    }
  }

  /** A code point (or lone surrogate) as its UTF-8 (WTF-8) bytes. */
  private emitCode(cp: u32): void {
    if (cp < 0x80) {
      this.emit(cp);
    } else if (cp < 0x800) {
      this.emit(0xc0 | (cp >> 6));
      this.emit(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      this.emit(0xe0 | (cp >> 12));
      this.emit(0x80 | ((cp >> 6) & 0x3f));
      this.emit(0x80 | (cp & 0x3f));
    } else {
      this.emit(0xf0 | (cp >> 18));
      this.emit(0x80 | ((cp >> 12) & 0x3f));
      this.emit(0x80 | ((cp >> 6) & 0x3f));
      this.emit(0x80 | (cp & 0x3f));
    }
  }

  /** Plain member-name bytes [from, to) into the pointer text, RFC 6901-escaped. */
  private appendRun(from: usize, to: usize): void {
    for (let p = from; p < to && this.textLen <= POINTER_TEXT; p++) {
      const b = <u32>load<u8>(p);
      if (b == 0x7e || b == 0x2f) {
        this.appendText(0x7e);
        this.appendText(b == 0x7e ? 0x30 : 0x31);
      } else {
        this.appendText(b);
      }
    }
  }

  private appendText(b: u32): void {
    const n = this.textLen;
    if (n > POINTER_TEXT) return;
    if (n < POINTER_TEXT) store<u8>(this.base + PATH_TEXT + <usize>n, <u8>b);
    this.textLen = n + 1;
  }

  /** The lead byte of a raw UTF-8 sequence (RFC 3629's table of well-formed sequences). */
  private utf8Lead(b: u32): i32 {
    let need = 0;
    let lo: u32 = 0x80;
    let hi: u32 = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b == 0xe0) lo = 0xa0;
      else if (b == 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b == 0xf0) lo = 0x90;
      else if (b == 0xf4) hi = 0x8f;
    } else {
      return this.fail();
    }
    this.emit(b);
    this.need = need;
    this.lo = lo;
    this.hi = hi;
    return S_UTF8;
  }

  /** The character after '\'. */
  private escape(c: u32): i32 {
    let b: u32;
    switch (c) {
      case 0x22:
      case 0x5c:
      case 0x2f:
        b = c;
        break;
      case 0x62:
        b = 0x08;
        break;
      case 0x66:
        b = 0x0c;
        break;
      case 0x6e:
        b = 0x0a;
        break;
      case 0x72:
        b = 0x0d;
        break;
      case 0x74:
        b = 0x09;
        break;
      case 0x75:
        this.hexCount = 0;
        this.hexCode = 0;
        return S_HEX;
      default:
        return this.fail();
    }
    this.emit(b);
    return S_STRING;
  }

  /** A \uXXXX escape's code unit: pairs surrogates, keeps lone ones. */
  private codeUnit(u: u32): i32 {
    const high = this.high;
    if (high != 0) {
      this.high = 0;
      if (u >= 0xdc00 && u <= 0xdfff) {
        this.emitCode(0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
        return S_STRING;
      }
      this.emitCode(high);
    }
    if (u >= 0xd800 && u <= 0xdbff) {
      this.high = u;
      return S_LOW_SLASH;
    }
    this.emitCode(u);
    return S_STRING;
  }

  private beginKey(): i32 {
    this.startToken();
    this.isKey = true;
    const d = this.depth;
    this.keyText =
      d <= DIFF_DEPTH && (this.frameFlags() & F_IGNORED) == 0 && this.keeps(d);
    if (this.keyText) {
      this.textLen = load<i32>(this.base + PATH_LEN + <usize>((d - 1) * 4));
      this.appendText(0x2f);
    }
    return S_STRING;
  }

  private endString(): i32 {
    if (this.isKey) {
      store<u64>(this.frameAt(this.depth), this.tokenValue(), 8);
      this.keyText = false;
      return S_COLON;
    }
    return this.valueDone(
      combine(T_STRING, this.tokenValue()),
      this.valueIgnored,
    );
  }

  /** A digit of the significand (`int`: before the point). */
  // @ts-ignore: decorator
  @inline
  private digit(c: u32, int: bool): void {
    if (int) this.intDigits++;
    if (c == 0x30) {
      if (this.significant) this.zeros++;
      else this.leadingZeros++;
      return;
    }
    if (this.significant) {
      // zeros between significant digits are significant
      for (let z = this.zeros; z > 0; z--) this.push(0x30);
      this.zeros = 0;
    }
    this.significant = true;
    this.push(c);
  }

  /** sign × 0.D × 10^E, D the significant digits (no leading or trailing zero). */
  private numberDigest(): u64 {
    if (!this.significant) return combine(T_ZERO, 0);
    const e = this.expNegative ? 0 - this.exponent : this.exponent;
    const scale = this.intDigits - this.leadingZeros + e;
    return combine(
      combine(this.negative ? T_NEGATIVE : T_POSITIVE, scale),
      this.tokenValue(),
    );
  }

  // ---- firstDifference entries

  /**
   * Can a value at depth `d` still get an entry? Once the table is full only a value shallower
   * than its deepest entry can, and that only ever gets rarer: its pointer need not be built.
   */
  // @ts-ignore: decorator
  @inline
  private keeps(d: i32): bool {
    return this.entries < DIFF_ENTRIES || this.deepest > d;
  }

  /** Keeps (pointer, digest) of the value that ended at depth `d` (1..DIFF_DEPTH). */
  private record(d: i32, v: u64): void {
    const b = this.base;
    let slot: i32;
    if (this.entries < DIFF_ENTRIES) {
      slot = this.entries++;
      store<u8>(b + ORDER + <usize>slot, <u8>slot);
    } else {
      const deepest = this.deepest;
      if (deepest <= d) {
        if (d < this.dropped) this.dropped = d;
        return;
      }
      // the latest entry of the deepest depth gives way
      let j = DIFF_ENTRIES - 1;
      while (
        load<u32>(this.entryAt(load<u8>(b + ORDER + <usize>j)), 20) !=
        <u32>deepest
      )
        j--;
      slot = load<u8>(b + ORDER + <usize>j);
      memory.copy(
        b + ORDER + <usize>j,
        b + ORDER + <usize>(j + 1),
        <usize>(DIFF_ENTRIES - 1 - j),
      );
      store<u8>(b + ORDER + <usize>(DIFF_ENTRIES - 1), <u8>slot);
      const at = b + DEPTH_COUNT + <usize>(deepest * 4);
      store<i32>(at, load<i32>(at) - 1);
      if (deepest < this.dropped) this.dropped = deepest;
    }
    const e = this.entryAt(slot);
    const len = load<i32>(b + PATH_LEN + <usize>(d * 4));
    store<u64>(e, load<u64>(b + PATH_HASH + <usize>(d * 8)));
    store<u64>(e, v, 8);
    store<u32>(e, <u32>len, 16);
    store<u32>(e, <u32>d, 20);
    memory.copy(
      e + 24,
      b + PATH_TEXT,
      <usize>(len < POINTER_TEXT ? len : POINTER_TEXT),
    );
    const at = b + DEPTH_COUNT + <usize>(d * 4);
    store<i32>(at, load<i32>(at) + 1);
    if (this.entries == DIFF_ENTRIES) {
      let k = DIFF_DEPTH;
      while (k > 1 && load<i32>(b + DEPTH_COUNT + <usize>(k * 4)) == 0) k--;
      this.deepest = k;
    }
  }

  private entryAt(slot: i32): usize {
    return this.base + <usize>(slot * ENTRY);
  }

  /** 2: an entry with this pointer and digest; 1: with this pointer only; 0: none. */
  private lookup(pointer: u64, v: u64): i32 {
    let found = 0;
    for (let i = 0; i < this.entries; i++) {
      const e = this.entryAt(i);
      if (load<u64>(e) == pointer) {
        if (load<u64>(e, 8) == v) return 2;
        found = 1;
      }
    }
    return found;
  }

  /**
   * For firstDifference: the pointer of this digest's first entry (in post-order) that `other`
   * contradicts (same pointer, other digest; or no such pointer, when `other` gave up no entry
   * as shallow), or null.
   */
  contradictedBy(other: JsonDigest): string | null {
    const b = this.base;
    for (let i = 0; i < this.entries; i++) {
      const e = this.entryAt(load<u8>(b + ORDER + <usize>i));
      const found = other.lookup(load<u64>(e), load<u64>(e, 8));
      if (found == 1 || (found == 0 && other.dropped > <i32>load<u32>(e, 20)))
        return pointerText(e);
    }
    return null;
  }
}

/** The pointer text of an entry; a truncated one ends with "…". */
function pointerText(e: usize): string {
  const len = <i32>load<u32>(e, 16);
  if (len <= POINTER_TEXT) return String.UTF8.decodeUnsafe(e + 24, <usize>len);
  // cut before an incomplete UTF-8 sequence
  let n = POINTER_TEXT;
  let j = n - 1;
  while (j > 0 && (load<u8>(e + 24 + <usize>j) & 0xc0) == 0x80) j--;
  const lead = load<u8>(e + 24 + <usize>j);
  const size = lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
  if (j + size > n) n = j;
  return String.UTF8.decodeUnsafe(e + 24, <usize>n) + "…";
}

/**
 * After both finished with different digests: a JSON pointer (RFC 6901) to the first difference
 * found, most specific first: the first live entry that the dark side lacks or digests
 * differently, else the first dark entry the live side lacks, else "" (the root). "" also when
 * either body is not Valid or the digests are equal. Allocates the answer only.
 */
export function firstDifference(live: JsonDigest, dark: JsonDigest): string {
  if (live.state != JsonState.Valid || dark.state != JsonState.Valid) return "";
  if (live.digest == dark.digest) return "";
  let found = live.contradictedBy(dark);
  if (found === null) found = dark.contradictedBy(live);
  return found !== null ? found : "";
}

/** Bytes one JsonDigest holds for these rules, object headers included (the rules are shared). */
export function digestFootprint(
  rules: IgnoreRules | null,
  sketch: bool = false,
): i32 {
  const patterns = rules !== null ? rules.count : 0;
  // each allocation: its payload plus at most 32 bytes of block and object header
  return (
    <i32>offsetof<JsonDigest>() +
    stateSize(patterns) +
    <i32>offsetof<Xxh64Stream>() +
    32 + // the stream's tail
    4 * 32 +
    (sketch ? (SKETCH_SLOTS + MAX_DEPTH + 1) * 8 + 32 : 0)
  );
}
