// The parser of regex.ts: a pattern (RE2's syntax, the subset regex.ts documents) → a tree of
// characters, classes (sorted code point ranges), concatenations, alternations and counted
// repetitions, or the first refusal with its position and reason.

import { decimal } from "./text";

/** Largest count in {n,m} (RE2's limit; the program size bounds it further). */
export const MAX_REPEAT: i32 = 1000;
/** Deepest nesting of groups. */
const MAX_DEPTH: i32 = 64;
const MAX_CODE_POINT: i32 = 0x10ffff;

const E_BRACE =
  '"{" must start a count {n}, {n,} or {n,m} after what it repeats (a literal one: \\{)';

/** Why the last parseRegex refused its pattern: "at character N: reason". */
export let parseError = "";

export const N_EMPTY: i32 = 0;
export const N_CHAR: i32 = 1;
export const N_CLASS: i32 = 2;
export const N_CONCAT: i32 = 3;
export const N_ALT: i32 = 4;
export const N_REPEAT: i32 = 5;

/** A node of the tree. */
export class Node {
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
      parseError = "at character " + decimal(pos + 1) + ": " + reason;
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
      this.fail(open, "a count must be at most " + decimal(MAX_REPEAT));
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
      return this.fail(open, "groups nested deeper than " + decimal(MAX_DEPTH));
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
        return DIGIT;
      case 0x44 /* D */:
        return negated(DIGIT);
      case 0x77 /* w */:
        return WORD;
      case 0x57 /* W */:
        return negated(WORD);
      case 0x73 /* s */:
        return SPACE;
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
    this.fail(pos, "unknown escape \\" + character(c));
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

/** The code point `c` as a string. */
function character(c: i32): string {
  if (c < 0x10000) return String.fromCharCode(c);
  c -= 0x10000;
  return String.fromCharCode(0xd800 + (c >> 10), 0xdc00 + (c & 0x3ff));
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
  const out: i32[] = [];
  for (let i = 0; i < r.length; i++) out.push(r[i]);
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

/**
 * The tree of `pattern`, or null with the reason in parseError ("at character N: …", N counted
 * in characters from 1). A leading (?i) folds ASCII letters.
 */
export function parseRegex(pattern: string): Node | null {
  parseError = "";
  const cps: i32[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.codePointAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      parseError =
        "at character " +
        decimal(cps.length + 1) +
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
  return p.failed ? null : tree;
}
