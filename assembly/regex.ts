// Regular expressions for match conditions: a subset of RE2's syntax, compiled once (at configure
// time) into a Thompson NFA and run as a state-set simulation (the Pike VM without captures) over
// the UTF-8 code points of a value. A pattern matches the WHOLE value, as Envoy's safe_regex and
// Gateway API's RegularExpression matches do. Time is linear in the value (at most the program's
// size in steps per character); the memory a match uses is allocated when a pattern is compiled.
//
// Supported: literals, escapes of punctuation, \n \t \r \f \v \a \xHH \x{H…}, `.` (any character
// but \n), classes with ranges and negation, \d \w \s and their negations (ASCII, as in RE2),
// groups ( ), (?: ), (?P<name> ), (?<name> ), alternation, * + ? {n} {n,} {n,m} (lazy forms too:
// a whole-value match does not depend on them), ^ at the start, $ at the end, and (?i) at the start
// (ASCII letters fold). Refused with the position and the reason: backreferences, lookaround,
// \b, \p{…}, other flags, and anything else RE2 would read differently.

/** Longest pattern accepted, in UTF-16 units (as every string limit of the config). */
export const MAX_PATTERN_LENGTH: i32 = 1024;
/** Largest program: a value costs at most this many steps per character. */
export const MAX_PROGRAM: i32 = 512;
/** Largest count in {n,m} (RE2's limit; the program size bounds it further). */
export const MAX_REPEAT: i32 = 1000;
/** Deepest nesting of groups. */
const MAX_DEPTH: i32 = 64;

const E_BRACE =
  '"{" must start a count {n}, {n,} or {n,m} after what it repeats (a literal one: \\{)';

/** Why the last compileRegex refused its pattern: "at character N: reason". */
export let regexError = "";

// Instructions: three i32 each (op, x, y).
const OP_CHAR: i32 = 0; // x: the code point
const OP_CLASS: i32 = 1; // x: first range (index into ranges), y: number of ranges
const OP_SPLIT: i32 = 2; // go on at x and at y
const OP_JMP: i32 = 3; // go on at x
const OP_MATCH: i32 = 4;

const MAX_CODE_POINT: i32 = 0x10ffff;
const REPLACEMENT: i32 = 0xfffd;

/** A compiled pattern. */
export class Regex {
  /** (op, x, y) per instruction */
  prog: StaticArray<i32>;
  /** inclusive (lo, hi) pairs of every class, sorted and merged per class */
  ranges: StaticArray<i32>;
  /** number of instructions */
  size: i32;

  constructor(prog: StaticArray<i32>, ranges: StaticArray<i32>) {
    this.prog = prog;
    this.ranges = ranges;
    this.size = prog.length / 3;
    reserveScratch(this.size);
  }

  /** Whether the `len` bytes at `ptr` (UTF-8; an invalid byte reads as U+FFFD) match as a whole. */
  matches(ptr: usize, len: i32): bool {
    const prog = this.prog;
    let cur = listA;
    let next = listB;
    nextGeneration();
    let n = addThread(prog, cur, 0, 0);
    let i = 0;
    while (i < len) {
      if (n == 0) return false;
      // Decode one code point.
      let c = <i32>load<u8>(ptr + <usize>i);
      let step = 1;
      if (c >= 0x80) {
        step = utf8Length(ptr, i, len, c);
        c = step == 0 ? REPLACEMENT : decoded;
        if (step == 0) step = 1;
      }
      nextGeneration();
      let m = 0;
      for (let k = 0; k < n; k++) {
        const pc = unchecked(cur[k]);
        const at = pc * 3;
        const op = unchecked(prog[at]);
        if (
          (op == OP_CHAR && unchecked(prog[at + 1]) == c) ||
          (op == OP_CLASS &&
            inRanges(
              this.ranges,
              unchecked(prog[at + 1]),
              unchecked(prog[at + 2]),
              c,
            ))
        ) {
          m = addThread(prog, next, pc + 1, m);
        }
      }
      const t = cur;
      cur = next;
      next = t;
      n = m;
      i += step;
    }
    for (let k = 0; k < n; k++) {
      if (unchecked(prog[unchecked(cur[k]) * 3]) == OP_MATCH) return true;
    }
    return false;
  }

  /** Whether all of `buf` matches. */
  matchesBuffer(buf: ArrayBuffer): bool {
    return this.matches(changetype<usize>(buf), buf.byteLength);
  }
}

// ---------------------------------------------------------------------------------------------
// The simulation's memory: two thread lists, a stack and a mark per instruction, sized for the
// largest program compiled so far (at configure time), shared by every pattern (one match runs
// at a time).

let listA = new StaticArray<i32>(0);
let listB = new StaticArray<i32>(0);
let stack = new StaticArray<i32>(0);
let marks = new StaticArray<u32>(0);
let generation: u32 = 0;

function reserveScratch(size: i32): void {
  if (marks.length >= size) return;
  listA = new StaticArray<i32>(size);
  listB = new StaticArray<i32>(size);
  stack = new StaticArray<i32>(size);
  marks = new StaticArray<u32>(size);
}

function nextGeneration(): void {
  generation++;
  if (generation == 0) {
    const m = marks;
    for (let i = 0; i < m.length; i++) unchecked((m[i] = 0));
    generation = 1;
  }
}

/** Adds the threads reachable from `pc` without consuming (its closure) to `list` after `n`. */
function addThread(
  prog: StaticArray<i32>,
  list: StaticArray<i32>,
  pc: i32,
  n: i32,
): i32 {
  const g = generation;
  const m = marks;
  const s = stack;
  if (unchecked(m[pc]) == g) return n;
  unchecked((m[pc] = g));
  let top = 0;
  unchecked((s[top++] = pc));
  while (top > 0) {
    const p = unchecked(s[--top]);
    const at = p * 3;
    const op = unchecked(prog[at]);
    if (op == OP_JMP || op == OP_SPLIT) {
      const x = unchecked(prog[at + 1]);
      if (unchecked(m[x]) != g) {
        unchecked((m[x] = g));
        unchecked((s[top++] = x));
      }
      if (op == OP_SPLIT) {
        const y = unchecked(prog[at + 2]);
        if (unchecked(m[y]) != g) {
          unchecked((m[y] = g));
          unchecked((s[top++] = y));
        }
      }
    } else {
      unchecked((list[n++] = p));
    }
  }
  return n;
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
// The parser: pattern → tree.

const N_EMPTY: i32 = 0;
const N_CHAR: i32 = 1;
const N_CLASS: i32 = 2;
const N_CONCAT: i32 = 3;
const N_ALT: i32 = 4;
const N_REPEAT: i32 = 5;

class Node {
  kind: i32;
  /** N_CHAR: the code point */
  c: i32 = 0;
  /** N_CLASS: sorted, merged inclusive pairs */
  ranges: i32[] = [];
  /** N_CONCAT, N_ALT: the parts; N_REPEAT: the one repeated */
  subs: Node[] = [];
  /** N_REPEAT: counts (max -1: unbounded) */
  min: i32 = 0;
  max: i32 = 0;

  constructor(kind: i32) {
    this.kind = kind;
  }
}

/** A recursive-descent parser over the pattern's code points; the first refusal ends it. */
class Parser {
  cps: i32[];
  /** the position, in code points */
  at: i32 = 0;
  fold: bool = false;
  /** where the pattern proper starts (after a leading (?i)) */
  start: i32 = 0;
  failed: bool = false;

  constructor(cps: i32[]) {
    this.cps = cps;
  }

  fail(pos: i32, reason: string): Node {
    if (!this.failed) {
      this.failed = true;
      regexError = "at character " + (pos + 1).toString() + ": " + reason;
    }
    return new Node(N_EMPTY);
  }

  more(): bool {
    return this.at < this.cps.length;
  }

  peek(): i32 {
    return this.at < this.cps.length ? unchecked(this.cps[this.at]) : -1;
  }

  peekAt(k: i32): i32 {
    const i = this.at + k;
    return i < this.cps.length ? unchecked(this.cps[i]) : -1;
  }

  alternation(depth: i32): Node {
    const alts: Node[] = [this.concatenation(depth)];
    while (!this.failed && this.peek() == 0x7c /* | */) {
      this.at++;
      alts.push(this.concatenation(depth));
    }
    if (alts.length == 1) return alts[0];
    const n = new Node(N_ALT);
    n.subs = alts;
    return n;
  }

  concatenation(depth: i32): Node {
    const items: Node[] = [];
    while (!this.failed && this.more()) {
      const c = this.peek();
      if (c == 0x7c) break;
      if (c == 0x29 /* ) */) {
        if (depth == 0) return this.fail(this.at, 'unmatched ")"');
        break;
      }
      const atom = this.atom(depth);
      if (this.failed) break;
      items.push(this.repetitions(atom));
    }
    if (items.length == 1) return items[0];
    const n = new Node(items.length == 0 ? N_EMPTY : N_CONCAT);
    n.subs = items;
    return n;
  }

  /** The repetition operators after an atom (one, with an optional lazy "?"). */
  repetitions(atom: Node): Node {
    const opAt = this.at;
    const c = this.peek();
    let min = 0;
    let max = 0;
    if (c == 0x2a /* * */) {
      this.at++;
      max = -1;
    } else if (c == 0x2b /* + */) {
      this.at++;
      min = 1;
      max = -1;
    } else if (c == 0x3f /* ? */) {
      this.at++;
      max = 1;
    } else if (c == 0x7b /* { */) {
      if (!this.counts()) return atom;
      min = this.countMin;
      max = this.countMax;
    } else {
      return atom;
    }
    if (this.peek() == 0x3f) this.at++; // lazy: the same whole-value match
    const next = this.peek();
    if (next == 0x2a || next == 0x2b || next == 0x3f || next == 0x7b) {
      return this.fail(
        this.at,
        next == 0x2b && this.at == opAt + 1
          ? "possessive repetition is not supported"
          : "a repetition cannot be repeated (use a group)",
      );
    }
    const n = new Node(N_REPEAT);
    n.subs = [atom];
    n.min = min;
    n.max = max;
    return n;
  }

  countMin: i32 = 0;
  countMax: i32 = 0;

  /** Reads {n}, {n,} or {n,m} at "{" into countMin/countMax; false (after failing) otherwise. */
  counts(): bool {
    const open = this.at;
    this.at++;
    const min = this.number();
    let max = min;
    if (min >= 0 && this.peek() == 0x2c /* , */) {
      this.at++;
      max = this.peek() == 0x7d ? -1 : this.number();
      if (max == -1 && this.peek() != 0x7d) max = -2;
    }
    if (min < 0 || max == -2 || this.peek() != 0x7d /* } */) {
      this.fail(open, E_BRACE);
      return false;
    }
    this.at++;
    if (min > MAX_REPEAT || max > MAX_REPEAT) {
      this.fail(open, "a count must be at most " + MAX_REPEAT.toString());
      return false;
    }
    if (max >= 0 && max < min) {
      this.fail(open, "a count {n,m} needs n <= m");
      return false;
    }
    this.countMin = min;
    this.countMax = max;
    return true;
  }

  /** The decimal number at the position (MAX_REPEAT + 1 when larger), or -2 when there is none. */
  number(): i32 {
    let v = -2;
    while (this.peek() >= 0x30 && this.peek() <= 0x39) {
      const d = this.peek() - 0x30;
      v = v < 0 ? d : min(v * 10 + d, MAX_REPEAT + 1);
      this.at++;
    }
    return v;
  }

  atom(depth: i32): Node {
    const pos = this.at;
    const c = this.peek();
    this.at++;
    switch (c) {
      case 0x28 /* ( */:
        return this.group(pos, depth);
      case 0x5b /* [ */:
        return this.charClass(pos);
      case 0x2e /* . */:
        return classNode([0, 9, 11, MAX_CODE_POINT]);
      case 0x5e /* ^ */:
        if (pos != this.start) {
          return this.fail(
            pos,
            '"^" is only supported at the start (a pattern matches the whole value)',
          );
        }
        return new Node(N_EMPTY);
      case 0x24 /* $ */:
        if (pos != this.cps.length - 1) {
          return this.fail(
            pos,
            '"$" is only supported at the end (a pattern matches the whole value)',
          );
        }
        return new Node(N_EMPTY);
      case 0x2a:
      case 0x2b:
      case 0x3f:
        return this.fail(pos, "nothing to repeat");
      case 0x7b /* { */:
        return this.fail(pos, E_BRACE);
      case 0x5c /* \ */: {
        const ranges = this.escape(pos);
        if (this.failed) return new Node(N_EMPTY);
        if (ranges.length == 2 && ranges[0] == ranges[1]) {
          return this.literal(ranges[0]);
        }
        return classNode(ranges);
      }
      default:
        return this.literal(c);
    }
  }

  literal(c: i32): Node {
    if (this.fold && isAsciiLetter(c)) {
      const lower = c | 0x20;
      return classNode([lower - 0x20, lower - 0x20, lower, lower]);
    }
    const n = new Node(N_CHAR);
    n.c = c;
    return n;
  }

  group(open: i32, depth: i32): Node {
    if (depth >= MAX_DEPTH) {
      return this.fail(
        open,
        "groups nested deeper than " + MAX_DEPTH.toString(),
      );
    }
    if (this.peek() == 0x3f /* ? */) {
      const f = this.peekAt(1);
      if (f == 0x3a /* : */) {
        this.at += 2;
      } else if (f == 0x3d || f == 0x21) {
        return this.fail(open, "lookahead (?= (?! is not supported");
      } else if (
        f == 0x3c &&
        (this.peekAt(2) == 0x3d || this.peekAt(2) == 0x21)
      ) {
        return this.fail(open, "lookbehind (?<= (?<! is not supported");
      } else if (f == 0x50 /* P */ || f == 0x3c /* < */) {
        this.at += f == 0x50 ? 2 : 1;
        if (f == 0x50 && this.peek() == 0x3d /* = */) {
          return this.fail(open, "backreferences are not supported");
        }
        if (this.peek() != 0x3c)
          return this.fail(open, "a group name must be in <…>");
        this.at++;
        const nameAt = this.at;
        while (isWordChar(this.peek())) this.at++;
        if (this.at == nameAt || this.peek() != 0x3e /* > */) {
          return this.fail(
            open,
            "a group name must be letters, digits or _, in <…>",
          );
        }
        this.at++;
      } else if (f == 0x69 /* i */ && this.peekAt(2) == 0x29) {
        // (?i) at the start is read by compileRegex.
        return this.fail(open, "(?i) is only supported at the start");
      } else {
        return this.fail(
          open,
          "flags and other (? groups are not supported (only (?i) at the start, (?: and named groups)",
        );
      }
    }
    const inner = this.alternation(depth + 1);
    if (this.failed) return inner;
    if (this.peek() != 0x29) return this.fail(open, 'missing ")"');
    this.at++;
    return inner;
  }

  /** An escape after the backslash at `pos`, as ranges (a character as the range of itself). */
  escape(pos: i32): i32[] {
    if (!this.more()) {
      this.fail(pos, "a pattern cannot end with \\");
      return [];
    }
    const c = this.peek();
    this.at++;
    switch (c) {
      case 0x64 /* d */:
        return DIGIT.slice(0);
      case 0x44 /* D */:
        return negated(DIGIT);
      case 0x77 /* w */:
        return WORD.slice(0);
      case 0x57 /* W */:
        return negated(WORD);
      case 0x73 /* s */:
        return SPACE.slice(0);
      case 0x53 /* S */:
        return negated(SPACE);
      case 0x6e /* n */:
        return [10, 10];
      case 0x74 /* t */:
        return [9, 9];
      case 0x72 /* r */:
        return [13, 13];
      case 0x66 /* f */:
        return [12, 12];
      case 0x76 /* v */:
        return [11, 11];
      case 0x61 /* a */:
        return [7, 7];
      case 0x78 /* x */: {
        const v = this.hexEscape(pos);
        return [v, v];
      }
      case 0x70 /* p */:
      case 0x50 /* P */:
        this.fail(pos, "Unicode classes \\p{…} are not supported");
        return [];
      case 0x62 /* b */:
      case 0x42 /* B */:
        this.fail(pos, "word boundaries \\b \\B are not supported");
        return [];
      case 0x41 /* A */:
      case 0x7a /* z */:
        this.fail(
          pos,
          "\\A and \\z are not supported (a pattern matches the whole value)",
        );
        return [];
      case 0x6b /* k */:
        this.fail(pos, "backreferences are not supported");
        return [];
    }
    if (c >= 0x30 && c <= 0x39) {
      this.fail(pos, "backreferences and octal escapes are not supported");
      return [];
    }
    if (c < 0x80 && !isAsciiAlnum(c) && c > 0x20) return [c, c];
    this.fail(pos, "unknown escape \\" + String.fromCodePoint(c));
    return [];
  }

  /** \xHH or \x{H…} after "\x"; the code point. */
  hexEscape(pos: i32): i32 {
    let v = 0;
    if (this.peek() == 0x7b) {
      this.at++;
      let digits = 0;
      while (hexValue(this.peek()) >= 0) {
        v = v * 16 + hexValue(this.peek());
        if (v > MAX_CODE_POINT) break;
        this.at++;
        digits++;
      }
      if (digits == 0 || v > MAX_CODE_POINT || this.peek() != 0x7d) {
        this.fail(pos, "\\x{…} must hold a code point in hex, at most 10FFFF");
        return 0;
      }
      this.at++;
      return v;
    }
    const h1 = hexValue(this.peek());
    const h2 = hexValue(this.peekAt(1));
    if (h1 < 0 || h2 < 0) {
      this.fail(pos, "\\x must be followed by two hex digits or {…}");
      return 0;
    }
    this.at += 2;
    return h1 * 16 + h2;
  }

  charClass(open: i32): Node {
    let negate = false;
    if (this.peek() == 0x5e) {
      negate = true;
      this.at++;
    }
    if (this.peek() == 0x5d /* ] */) {
      return this.fail(
        open,
        'a class cannot be empty (escape a literal "]" in it: \\])',
      );
    }
    const r: i32[] = [];
    while (!this.failed) {
      if (!this.more()) return this.fail(open, 'missing "]"');
      const pos = this.at;
      const c = this.peek();
      if (c == 0x5d) {
        this.at++;
        break;
      }
      if (c == 0x5b && this.peekAt(1) == 0x3a /* [: */) {
        return this.fail(pos, "POSIX classes [:…:] are not supported");
      }
      const lo = this.classAtom();
      if (this.failed) break;
      if (
        this.peek() == 0x2d /* - */ &&
        this.peekAt(1) != 0x5d &&
        this.peekAt(1) >= 0
      ) {
        if (lo.length != 2 || lo[0] != lo[1]) {
          return this.fail(pos, "a range cannot start with a class");
        }
        this.at++;
        const hiAt = this.at;
        const hi = this.classAtom();
        if (this.failed) break;
        if (hi.length != 2 || hi[0] != hi[1]) {
          return this.fail(hiAt, "a range cannot end with a class");
        }
        if (hi[0] < lo[0]) return this.fail(pos, "a range out of order");
        r.push(lo[0]);
        r.push(hi[0]);
      } else {
        for (let i = 0; i < lo.length; i++) r.push(lo[i]);
      }
    }
    if (this.failed) return new Node(N_EMPTY);
    let ranges = normalized(r);
    if (this.fold) ranges = folded(ranges);
    return classNode(negate ? negated(ranges) : ranges);
  }

  /** One member of a class: a character (as a range of it) or an escape's ranges. */
  classAtom(): i32[] {
    const pos = this.at;
    const c = this.peek();
    this.at++;
    if (c == 0x5c) return this.escape(pos);
    return [c, c];
  }
}

const DIGIT: i32[] = [0x30, 0x39];
const WORD: i32[] = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
/** RE2's \s: \t \n \f \r and space (not \v). */
const SPACE: i32[] = [9, 10, 12, 13, 32, 32];

function classNode(ranges: i32[]): Node {
  const n = new Node(N_CLASS);
  n.ranges = ranges;
  return n;
}

function isAsciiLetter(c: i32): bool {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isAsciiAlnum(c: i32): bool {
  return isAsciiLetter(c) || (c >= 0x30 && c <= 0x39);
}

function isWordChar(c: i32): bool {
  return isAsciiAlnum(c) || c == 0x5f;
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** Pairs sorted by start, overlapping and adjacent ones merged. */
function normalized(r: i32[]): i32[] {
  const n = r.length / 2;
  // Insertion sort of the pairs: classes are short.
  for (let i = 1; i < n; i++) {
    const lo = r[i * 2];
    const hi = r[i * 2 + 1];
    let j = i - 1;
    while (j >= 0 && r[j * 2] > lo) {
      r[(j + 1) * 2] = r[j * 2];
      r[(j + 1) * 2 + 1] = r[j * 2 + 1];
      j--;
    }
    r[(j + 1) * 2] = lo;
    r[(j + 1) * 2 + 1] = hi;
  }
  const out: i32[] = [];
  for (let i = 0; i < n; i++) {
    const lo = r[i * 2];
    const hi = r[i * 2 + 1];
    const last = out.length - 1;
    if (last > 0 && lo <= out[last] + 1) {
      if (hi > out[last]) out[last] = hi;
    } else {
      out.push(lo);
      out.push(hi);
    }
  }
  return out;
}

/** The complement of sorted, merged pairs over every code point. */
function negated(r: i32[]): i32[] {
  const out: i32[] = [];
  let next = 0;
  for (let i = 0; i < r.length; i += 2) {
    if (r[i] > next) {
      out.push(next);
      out.push(r[i] - 1);
    }
    next = r[i + 1] + 1;
  }
  if (next <= MAX_CODE_POINT) {
    out.push(next);
    out.push(MAX_CODE_POINT);
  }
  return out;
}

/** The ranges with the other case of every ASCII letter in them added. */
function folded(r: i32[]): i32[] {
  const out = r.slice(0);
  for (let i = 0; i < r.length; i += 2) {
    addShifted(out, r[i], r[i + 1], 0x41, 0x5a, 0x20);
    addShifted(out, r[i], r[i + 1], 0x61, 0x7a, -0x20);
  }
  return normalized(out);
}

function addShifted(
  out: i32[],
  lo: i32,
  hi: i32,
  from: i32,
  to: i32,
  shift: i32,
): void {
  const a = max(lo, from);
  const b = min(hi, to);
  if (a <= b) {
    out.push(a + shift);
    out.push(b + shift);
  }
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
      "must be at most " + MAX_PATTERN_LENGTH.toString() + " characters";
    return null;
  }
  const cps: i32[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.codePointAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      regexError =
        "at character " +
        (cps.length + 1).toString() +
        ": a lone surrogate is not a character";
      return null;
    }
    if (c > 0xffff) i++;
    cps.push(c);
  }
  const p = new Parser(cps);
  if (
    cps.length >= 4 &&
    cps[0] == 0x28 &&
    cps[1] == 0x3f &&
    cps[2] == 0x69 &&
    cps[3] == 0x29
  ) {
    p.fold = true;
    p.at = 4;
    p.start = 4;
  }
  const tree = p.alternation(0);
  if (p.failed) return null;
  const size = sizeOf(tree) + 1;
  if (size > MAX_PROGRAM) {
    regexError =
      "is too large: more than " +
      MAX_PROGRAM.toString() +
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
