// Regular expressions for match conditions: a subset of RE2's syntax, compiled once (at configure
// time) into a Thompson NFA whose state sets are bit sets: for each instruction, the states it
// leads to are computed when compiling, so matching a character is a test and an OR per live
// state. A pattern matches the WHOLE value, as Envoy's safe_regex and Gateway API's
// RegularExpression matches do, over its UTF-8 code points. Time is linear in the value (at most
// the program's size per character); nothing is allocated while matching.
//
// Supported: literals, escapes of punctuation, \n \t \r \f \v \a \xHH \x{H…}, `.` (any character
// but \n), classes with ranges and negation, \d \w \s and their negations (ASCII, as in RE2),
// groups ( ), (?: ), (?P<name> ), (?<name> ), alternation, * + ? {n} {n,} {n,m} (lazy forms too:
// a whole-value match does not depend on them), ^ at the start, $ at the end, and (?i) at the start
// (ASCII letters fold). Refused with the position and the reason: backreferences, lookaround,
// \b, \p{…}, other flags, and anything else RE2 would read differently.

import {
  N_ALT,
  N_CHAR,
  N_CLASS,
  N_CONCAT,
  N_EMPTY,
  Node,
  parseError,
  parseRegex,
} from "./regexparse";
import { decimal } from "./text";

/** Longest pattern accepted, in UTF-16 units (as every string limit of the config). */
export const MAX_PATTERN_LENGTH: i32 = 1024;
/** Largest program: a value costs at most this many steps per character. */
export const MAX_PROGRAM: i32 = 128;

/** Why the last compileRegex refused its pattern: "at character N: reason". */
export let regexError = "";

// Instructions: three i32 each (op, x, y).
const OP_CHAR: i32 = 0; // x: the code point
const OP_CLASS: i32 = 1; // x: first range (index into ranges), y: number of ranges
const OP_SPLIT: i32 = 2; // go on at x and at y
const OP_JMP: i32 = 3; // go on at x
const OP_MATCH: i32 = 4;

const REPLACEMENT: i32 = 0xfffd;
const MAX_CODE_POINT: i32 = 0x10ffff;

/** Words of 64 states in the largest program's state set. */
const MAX_WORDS: i32 = (MAX_PROGRAM + 63) >> 6;

/** A compiled pattern. */
export class Regex {
  /** (op, x, y) per instruction */
  prog: StaticArray<i32>;
  /** inclusive (lo, hi) pairs of every class, sorted and merged per class */
  ranges: StaticArray<i32>;
  /** number of instructions (the last is the match) */
  size: i32;
  /** 64-bit words of a state set: one bit per instruction */
  words: i32;
  /**
   * The states after instruction pc consumes a character (the consuming and match instructions
   * reachable from pc + 1 without consuming), `words` words per instruction.
   */
  follow: StaticArray<u64>;
  /** the states before the first character (those reachable from 0) */
  start: StaticArray<u64>;

  constructor(prog: StaticArray<i32>, ranges: StaticArray<i32>) {
    this.prog = prog;
    this.ranges = ranges;
    const n = prog.length / 3;
    const words = (n + 63) >> 6;
    this.size = n;
    this.words = words;
    this.follow = new StaticArray<u64>(n * words);
    this.start = new StaticArray<u64>(words);
    const seen = new StaticArray<bool>(n);
    const stack = new StaticArray<i32>(n);
    closure(prog, 0, this.start, 0, seen, stack);
    for (let pc = 0; pc + 1 < n; pc++) {
      const op = prog[pc * 3];
      if (op == OP_CHAR || op == OP_CLASS) {
        closure(prog, pc + 1, this.follow, pc * words, seen, stack);
      }
    }
  }

  /** Whether the `len` bytes at `ptr` (UTF-8; an invalid byte reads as U+FFFD) match as a whole. */
  matches(ptr: usize, len: i32): bool {
    if (this.words > 1) return this.matchesWide(ptr, len);
    // One word: the state set in a register.
    const follow = this.follow;
    let cur = unchecked(this.start[0]);
    let i = 0;
    while (i < len) {
      if (cur == 0) return false;
      const c = codePointAt(ptr, i, len);
      i += stepLength;
      let next: u64 = 0;
      let states = cur;
      while (states != 0) {
        const pc = <i32>ctz(states);
        states &= states - 1;
        if (this.consumes(pc, c)) next |= unchecked(follow[pc]);
      }
      cur = next;
    }
    return cur >> (<u64>(this.size - 1)) != 0;
  }

  /** matches() for a program of more than 64 instructions. */
  private matchesWide(ptr: usize, len: i32): bool {
    const words = this.words;
    const follow = this.follow;
    let cur = setA;
    let next = setB;
    for (let w = 0; w < words; w++) unchecked((cur[w] = this.start[w]));
    let alive = true;
    let i = 0;
    while (i < len) {
      if (!alive) return false;
      const c = codePointAt(ptr, i, len);
      i += stepLength;
      for (let w = 0; w < words; w++) unchecked((next[w] = 0));
      alive = false;
      for (let w = 0; w < words; w++) {
        let states = unchecked(cur[w]);
        while (states != 0) {
          const pc = (w << 6) | (<i32>ctz(states));
          states &= states - 1;
          if (!this.consumes(pc, c)) continue;
          const at = pc * words;
          for (let v = 0; v < words; v++) {
            unchecked((next[v] |= follow[at + v]));
          }
          alive = true;
        }
      }
      const t = cur;
      cur = next;
      next = t;
    }
    const last = this.size - 1;
    return ((unchecked(cur[last >> 6]) >> (<u64>(last & 63))) & 1) != 0;
  }

  /** Instruction `pc` (a character or a class) takes `c`. */
  private consumes(pc: i32, c: i32): bool {
    const prog = this.prog;
    const at = pc * 3;
    const op = unchecked(prog[at]);
    if (op == OP_CHAR) return unchecked(prog[at + 1]) == c;
    return (
      op == OP_CLASS &&
      inRanges(this.ranges, unchecked(prog[at + 1]), unchecked(prog[at + 2]), c)
    );
  }

  /** Whether all of `buf` matches. */
  matchesBuffer(buf: ArrayBuffer): bool {
    return this.matches(changetype<usize>(buf), buf.byteLength);
  }
}

/** The state sets of a wide match (one match runs at a time). */
const setA = new StaticArray<u64>(MAX_WORDS);
const setB = new StaticArray<u64>(MAX_WORDS);

/**
 * Sets in `out` from `at` the bits of the consuming and match instructions reachable from `pc`
 * without consuming (following jumps and splits). `seen` and `stack` are scratch of the
 * program's size.
 */
function closure(
  prog: StaticArray<i32>,
  pc: i32,
  out: StaticArray<u64>,
  at: i32,
  seen: StaticArray<bool>,
  stack: StaticArray<i32>,
): void {
  for (let i = 0; i < seen.length; i++) seen[i] = false;
  let top = 0;
  stack[top++] = pc;
  seen[pc] = true;
  while (top > 0) {
    const p = stack[--top];
    const op = prog[p * 3];
    if (op == OP_JMP || op == OP_SPLIT) {
      const x = prog[p * 3 + 1];
      if (!seen[x]) {
        seen[x] = true;
        stack[top++] = x;
      }
      const y = prog[p * 3 + 2];
      if (op == OP_SPLIT && !seen[y]) {
        seen[y] = true;
        stack[top++] = y;
      }
    } else {
      const bit: u64 = p & 63;
      out[at + (p >> 6)] |= (<u64>1) << bit;
    }
  }
}

/** The bytes the last codePointAt read. */
let stepLength: i32 = 1;

/** The code point at `i` (U+FFFD for a byte that starts no well-formed sequence); its length in stepLength. */
// @ts-ignore: decorator
@inline
function codePointAt(ptr: usize, i: i32, len: i32): i32 {
  const c = <i32>load<u8>(ptr + <usize>i);
  stepLength = 1;
  if (c < 0x80) return c;
  const n = utf8Length(ptr, i, len, c);
  if (n == 0) return REPLACEMENT;
  stepLength = n;
  return decoded;
}

function inRanges(r: StaticArray<i32>, first: i32, count: i32, c: i32): bool {
  let lo = first;
  let hi = first + count;
  // Binary search over the pairs [lo, hi).
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (c < unchecked(r[mid * 2])) hi = mid;
    else if (c > unchecked(r[mid * 2 + 1])) lo = mid + 1;
    else return true;
  }
  return false;
}

/** The code point utf8Length found. */
let decoded: i32 = 0;

function continuation(ptr: usize, i: i32): i32 {
  const b = <i32>load<u8>(ptr + <usize>i);
  return (b & 0xc0) == 0x80 ? b & 0x3f : -1;
}

/**
 * The length of the well-formed UTF-8 sequence starting with byte `b0` at `i` (its code point in
 * `decoded`), or 0 when it is not one (overlong, surrogate, over U+10FFFF, cut short).
 */
function utf8Length(ptr: usize, i: i32, len: i32, b0: i32): i32 {
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    if (i + 1 >= len) return 0;
    const b1 = continuation(ptr, i + 1);
    if (b1 < 0) return 0;
    decoded = ((b0 & 0x1f) << 6) | b1;
    return 2;
  }
  if (b0 >= 0xe0 && b0 <= 0xef) {
    if (i + 2 >= len) return 0;
    const b1 = continuation(ptr, i + 1);
    const b2 = continuation(ptr, i + 2);
    if (b1 < 0 || b2 < 0) return 0;
    const c = ((b0 & 0x0f) << 12) | (b1 << 6) | b2;
    if (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)) return 0;
    decoded = c;
    return 3;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    if (i + 3 >= len) return 0;
    const b1 = continuation(ptr, i + 1);
    const b2 = continuation(ptr, i + 2);
    const b3 = continuation(ptr, i + 3);
    if (b1 < 0 || b2 < 0 || b3 < 0) return 0;
    const c = ((b0 & 0x07) << 18) | (b1 << 12) | (b2 << 6) | b3;
    if (c < 0x10000 || c > MAX_CODE_POINT) return 0;
    decoded = c;
    return 4;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The compiler: tree → program.

/** Instructions `n` compiles to, or MAX_PROGRAM + 1 when over. */
function sizeOf(n: Node): i32 {
  const over = MAX_PROGRAM + 1;
  switch (n.kind) {
    case N_EMPTY:
      return 0;
    case N_CHAR:
    case N_CLASS:
      return 1;
    case N_CONCAT:
    case N_ALT: {
      let total: i64 = n.kind == N_ALT ? 2 * (n.subs.length - 1) : 0;
      for (let i = 0; i < n.subs.length; i++) {
        total += sizeOf(n.subs[i]);
        if (total > over) return over;
      }
      return <i32>total;
    }
    default: {
      const s = <i64>sizeOf(n.subs[0]);
      let total: i64;
      if (n.max < 0) {
        total = n.min == 0 ? s + 2 : <i64>n.min * s + 1;
      } else {
        total = <i64>n.min * s + <i64>(n.max - n.min) * (s + 1);
      }
      return total > over ? over : <i32>total;
    }
  }
}

class Emitter {
  prog: i32[] = [];
  ranges: i32[] = [];

  pc(): i32 {
    return this.prog.length / 3;
  }

  op(op: i32, x: i32, y: i32): i32 {
    const at = this.pc();
    this.prog.push(op);
    this.prog.push(x);
    this.prog.push(y);
    return at;
  }

  patchX(at: i32, x: i32): void {
    this.prog[at * 3 + 1] = x;
  }

  patchY(at: i32, y: i32): void {
    this.prog[at * 3 + 2] = y;
  }

  emit(n: Node): void {
    switch (n.kind) {
      case N_EMPTY:
        return;
      case N_CHAR:
        this.op(OP_CHAR, n.c, 0);
        return;
      case N_CLASS: {
        const first = this.ranges.length / 2;
        for (let i = 0; i < n.ranges.length; i++) this.ranges.push(n.ranges[i]);
        this.op(OP_CLASS, first, n.ranges.length / 2);
        return;
      }
      case N_CONCAT:
        for (let i = 0; i < n.subs.length; i++) this.emit(n.subs[i]);
        return;
      case N_ALT: {
        const jumps: i32[] = [];
        const last = n.subs.length - 1;
        for (let i = 0; i < last; i++) {
          const split = this.op(OP_SPLIT, this.pc() + 1, 0);
          this.emit(n.subs[i]);
          jumps.push(this.op(OP_JMP, 0, 0));
          this.patchY(split, this.pc());
        }
        this.emit(n.subs[last]);
        for (let i = 0; i < jumps.length; i++) this.patchX(jumps[i], this.pc());
        return;
      }
      default:
        this.repeat(n.subs[0], n.min, n.max);
    }
  }

  repeat(x: Node, min: i32, max: i32): void {
    if (max < 0) {
      if (min == 0) {
        // L: split L+1, out; x; jmp L; out:
        const loop = this.op(OP_SPLIT, this.pc() + 1, 0);
        this.emit(x);
        this.op(OP_JMP, loop, 0);
        this.patchY(loop, this.pc());
        return;
      }
      for (let i = 1; i < min; i++) this.emit(x);
      // L: x; split L, out
      const start = this.pc();
      this.emit(x);
      this.op(OP_SPLIT, start, this.pc() + 1);
      return;
    }
    for (let i = 0; i < min; i++) this.emit(x);
    // (x(x(x)?)?)?: each optional copy may skip to the end.
    const skips: i32[] = [];
    for (let i = min; i < max; i++) {
      skips.push(this.op(OP_SPLIT, this.pc() + 1, 0));
      this.emit(x);
    }
    for (let i = 0; i < skips.length; i++) this.patchY(skips[i], this.pc());
  }
}

/**
 * Compiles `pattern`, or returns null with the reason in regexError
 * ("at character N: …", N counted in characters from 1).
 */
export function compileRegex(pattern: string): Regex | null {
  regexError = "";
  if (pattern.length > MAX_PATTERN_LENGTH) {
    regexError =
      "must be at most " + decimal(MAX_PATTERN_LENGTH) + " characters";
    return null;
  }
  const tree = parseRegex(pattern);
  if (tree === null) {
    regexError = parseError;
    return null;
  }
  const size = sizeOf(tree) + 1;
  if (size > MAX_PROGRAM) {
    regexError =
      "is too large: more than " +
      decimal(MAX_PROGRAM) +
      " steps when compiled (lower the counts of {n,m})";
    return null;
  }
  const e = new Emitter();
  e.emit(tree);
  e.op(OP_MATCH, 0, 0);
  return new Regex(staticOf(e.prog), staticOf(e.ranges));
}

function staticOf(a: i32[]): StaticArray<i32> {
  const s = new StaticArray<i32>(a.length);
  for (let i = 0; i < a.length; i++) unchecked((s[i] = a[i]));
  return s;
}
