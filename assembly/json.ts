// A strict JSON reader that never throws: malformed input yields `null` and a
// message with the byte offset. Existing AssemblyScript JSON libraries abort on
// bad input, and an abort inside on_configure is a trap that fails the VM.

import { decimal } from "./text";

export enum JsonKind {
  Null,
  Bool,
  Number,
  String,
  Array,
  Object,
}

/** One parsed JSON value; `raw` keeps a number's source text for messages. */
export class JsonValue {
  kind: JsonKind = JsonKind.Null;
  bool: bool = false;
  num: f64 = 0;
  str: string = "";
  raw: string = "";
  items: Array<JsonValue> = [];
  keys: Array<string> = [];
  values: Array<JsonValue> = [];

  /** The member named `key` of an object, or null. */
  get(key: string): JsonValue | null {
    for (let i = 0; i < this.keys.length; i++) {
      if (this.keys[i] == key) return this.values[i];
    }
    return null;
  }

  /** A short description of the value, for error messages. */
  describe(): string {
    switch (this.kind) {
      case JsonKind.Null:
        return "null";
      case JsonKind.Bool:
        return this.bool ? "true" : "false";
      case JsonKind.Number:
        return this.raw;
      case JsonKind.String:
        return this.str.length > 40
          ? '"' + this.str.substring(0, 40) + '..."'
          : '"' + this.str + '"';
      case JsonKind.Array:
        return "an array";
      default:
        return "an object";
    }
  }
}

/**
 * A growable UTF-16 buffer: builds a string in linear time where `+=` in a
 * loop would copy the whole string at every step (quadratic memory with a
 * runtime that collects only between callbacks).
 */
export class CharBuf {
  private buf: ArrayBuffer = new ArrayBuffer(64);
  private len: i32 = 0; // in bytes

  private reserve(bytes: i32): void {
    const need = this.len + bytes;
    if (need <= this.buf.byteLength) return;
    let size = this.buf.byteLength << 1;
    while (size < need) size <<= 1;
    const next = new ArrayBuffer(size);
    memory.copy(changetype<usize>(next), changetype<usize>(this.buf), this.len);
    this.buf = next;
  }

  /** Appends one UTF-16 code unit. */
  push(code: i32): void {
    this.reserve(2);
    store<u16>(changetype<usize>(this.buf) + this.len, <u16>code);
    this.len += 2;
  }

  /** Appends s[from, to). */
  pushRange(s: string, from: i32, to: i32): void {
    if (to <= from) return;
    const bytes = (to - from) << 1;
    this.reserve(bytes);
    memory.copy(
      changetype<usize>(this.buf) + this.len,
      changetype<usize>(s) + ((<usize>from) << 1),
      bytes,
    );
    this.len += bytes;
  }

  toString(): string {
    return String.UTF16.decodeUnsafe(changetype<usize>(this.buf), this.len);
  }
}

/** Deepest nesting accepted; deeper input is refused before the stack can overflow. */
const MAX_DEPTH = 32;

class Reader {
  s: string;
  pos: i32 = 0;
  error: string = "";

  constructor(s: string) {
    this.s = s;
  }

  fail(msg: string): JsonValue | null {
    if (this.error.length == 0) {
      this.error = msg + " at offset " + decimal(this.pos);
    }
    return null;
  }

  ws(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d) this.pos++;
      else break;
    }
  }

  value(depth: i32): JsonValue | null {
    if (depth > MAX_DEPTH) return this.fail("nesting deeper than 32");
    this.ws();
    if (this.pos >= this.s.length) return this.fail("unexpected end of input");
    const c = this.s.charCodeAt(this.pos);
    if (c == 0x7b) return this.object(depth);
    if (c == 0x5b) return this.array(depth);
    if (c == 0x22) {
      const str = this.string();
      if (str === null) return null;
      const v = new JsonValue();
      v.kind = JsonKind.String;
      v.str = str;
      return v;
    }
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (this.literal("true")) {
      const v = new JsonValue();
      v.kind = JsonKind.Bool;
      v.bool = true;
      return v;
    }
    if (this.literal("false")) {
      const v = new JsonValue();
      v.kind = JsonKind.Bool;
      return v;
    }
    if (this.literal("null")) return new JsonValue();
    return this.fail("unexpected character");
  }

  literal(word: string): bool {
    const n = word.length;
    if (this.s.length - this.pos < n) return false;
    const at = changetype<usize>(this.s) + ((<usize>this.pos) << 1);
    if (memory.compare(at, changetype<usize>(word), (<usize>n) << 1) != 0) {
      return false;
    }
    this.pos += n;
    return true;
  }

  digits(): i32 {
    const start = this.pos;
    while (this.pos < this.s.length) {
      const c = this.s.charCodeAt(this.pos);
      if (c < 0x30 || c > 0x39) break;
      this.pos++;
    }
    return this.pos - start;
  }

  number(): JsonValue | null {
    const s = this.s;
    const start = this.pos;
    if (s.charCodeAt(this.pos) == 0x2d) this.pos++;
    if (this.pos < s.length && s.charCodeAt(this.pos) == 0x30) {
      this.pos++;
    } else if (this.digits() == 0) {
      return this.fail("invalid number");
    }
    if (this.pos < s.length && s.charCodeAt(this.pos) == 0x2e) {
      this.pos++;
      if (this.digits() == 0) return this.fail("invalid number");
    }
    if (this.pos < s.length) {
      const e = s.charCodeAt(this.pos);
      if (e == 0x65 || e == 0x45) {
        this.pos++;
        if (this.pos < s.length) {
          const sign = s.charCodeAt(this.pos);
          if (sign == 0x2b || sign == 0x2d) this.pos++;
        }
        if (this.digits() == 0) return this.fail("invalid number");
      }
    }
    const v = new JsonValue();
    v.kind = JsonKind.Number;
    v.raw = s.substring(start, this.pos);
    v.num = numberValue(v.raw);
    return v;
  }

  hex4(): i32 {
    if (this.s.length - this.pos < 4) return -1;
    let n = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.s.charCodeAt(this.pos + i);
      let d: i32;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
      else return -1;
      n = (n << 4) | d;
    }
    this.pos += 4;
    return n;
  }

  string(): string | null {
    const s = this.s;
    this.pos++; // opening quote
    let out: CharBuf | null = null; // only strings with escapes need one
    let runStart = this.pos;
    while (true) {
      if (this.pos >= s.length) {
        this.fail("unterminated string");
        return null;
      }
      const c = s.charCodeAt(this.pos);
      if (c == 0x22) {
        this.pos++;
        if (out === null) return s.substring(runStart, this.pos - 1);
        out.pushRange(s, runStart, this.pos - 1);
        return out.toString();
      }
      if (c < 0x20) {
        this.fail("control character in string");
        return null;
      }
      if (c != 0x5c) {
        this.pos++;
        continue;
      }
      if (out === null) out = new CharBuf();
      out.pushRange(s, runStart, this.pos);
      this.pos++;
      if (this.pos >= s.length) {
        this.fail("unterminated string");
        return null;
      }
      const e = s.charCodeAt(this.pos);
      this.pos++;
      if (e == 0x22) out.push(0x22);
      else if (e == 0x5c) out.push(0x5c);
      else if (e == 0x2f) out.push(0x2f);
      else if (e == 0x62) out.push(0x08);
      else if (e == 0x66) out.push(0x0c);
      else if (e == 0x6e) out.push(0x0a);
      else if (e == 0x72) out.push(0x0d);
      else if (e == 0x74) out.push(0x09);
      else if (e == 0x75) {
        const u = this.hex4();
        if (u < 0) {
          this.fail("invalid \\u escape");
          return null;
        }
        // Surrogate pairs stay two UTF-16 units, as AssemblyScript strings are.
        out.push(u);
      } else {
        this.pos--;
        this.fail("invalid escape");
        return null;
      }
      runStart = this.pos;
    }
  }

  array(depth: i32): JsonValue | null {
    this.pos++;
    const v = new JsonValue();
    v.kind = JsonKind.Array;
    this.ws();
    if (this.pos < this.s.length && this.s.charCodeAt(this.pos) == 0x5d) {
      this.pos++;
      return v;
    }
    while (true) {
      const item = this.value(depth + 1);
      if (item === null) return null;
      v.items.push(item);
      this.ws();
      if (this.pos >= this.s.length) return this.fail("unterminated array");
      const c = this.s.charCodeAt(this.pos);
      this.pos++;
      if (c == 0x5d) return v;
      if (c != 0x2c) {
        this.pos--;
        return this.fail("expected ',' or ']'");
      }
    }
  }

  object(depth: i32): JsonValue | null {
    this.pos++;
    const v = new JsonValue();
    v.kind = JsonKind.Object;
    this.ws();
    if (this.pos < this.s.length && this.s.charCodeAt(this.pos) == 0x7d) {
      this.pos++;
      return v;
    }
    while (true) {
      this.ws();
      if (this.pos >= this.s.length || this.s.charCodeAt(this.pos) != 0x22) {
        return this.fail("expected a field name");
      }
      const key = this.string();
      if (key === null) return null;
      if (v.get(key) !== null)
        return this.fail('duplicate field "' + key + '"');
      this.ws();
      if (this.pos >= this.s.length || this.s.charCodeAt(this.pos) != 0x3a) {
        return this.fail("expected ':'");
      }
      this.pos++;
      const item = this.value(depth + 1);
      if (item === null) return null;
      v.keys.push(key);
      v.values.push(item);
      this.ws();
      if (this.pos >= this.s.length) return this.fail("unterminated object");
      const c = this.s.charCodeAt(this.pos);
      this.pos++;
      if (c == 0x7d) return v;
      if (c != 0x2c) {
        this.pos--;
        return this.fail("expected ',' or '}'");
      }
    }
  }
}

/** Exact powers of ten as doubles (10^22 is the largest one a double holds exactly). */
const POW10: StaticArray<f64> = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
  1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/**
 * The value of a number the reader has checked (`-?int(.frac)?([eE][+-]?digits)?`). With at
 * most 15 significant digits (leading and trailing zeros aside) and a decimal exponent within
 * ±22 of them — every number a plugin config holds — it is exact: one correctly rounded
 * multiplication or division, as parseFloat gives. Beyond, within a few ulps. (The standard
 * library's parseFloat reads any text, and weighs 1.3 KB.)
 */
export function numberValue(raw: string): f64 {
  const n = raw.length;
  const negative = raw.charCodeAt(0) == 0x2d;
  const start = negative ? 1 : 0;
  let end = start;
  let point = -1;
  for (; end < n; end++) {
    const c = raw.charCodeAt(end);
    if (c == 0x2e) point = end;
    else if (c < 0x30 || c > 0x39) break;
  }
  // value = 0.DIGITS × 10^exp
  let exp: i32 = (point < 0 ? end : point) - start;
  if (end < n) {
    // the exponent, saturated far beyond any double
    let i = end + 1;
    let sign = 1;
    const c = raw.charCodeAt(i);
    if (c == 0x2b || c == 0x2d) {
      if (c == 0x2d) sign = -1;
      i++;
    }
    let x = 0;
    for (; i < n; i++) x = min(x * 10 + (raw.charCodeAt(i) - 0x30), 100000);
    exp += sign * x;
  }
  // the first 19 significant digits, without leading and trailing zeros
  let m: u64 = 0;
  let k = 0;
  let significant: u64 = 0;
  let count = 0;
  for (let i = start; i < end; i++) {
    const c = raw.charCodeAt(i);
    if (c == 0x2e) continue;
    if (k == 0 && c == 0x30) {
      exp--;
      continue;
    }
    if (k == 19) break;
    m = m * 10 + <u64>(c - 0x30);
    k++;
    if (c != 0x30) {
      significant = m;
      count = k;
    }
  }
  let v: f64 = <f64>significant;
  if (significant != 0) {
    let e10 = exp - count;
    if (e10 > 22 && e10 <= 37) {
      // trailing zeros of an integer: exact while the digits fit in 53 bits
      const t = v * unchecked(POW10[e10 - 22]);
      if (t < 9007199254740992) {
        v = t;
        e10 = 22;
      }
    }
    for (; e10 > 22 && v != Infinity; e10 -= 22) v *= 1e22;
    for (; e10 < -22 && v != 0; e10 += 22) v /= 1e22;
    if (e10 > 0 && e10 <= 22) v *= unchecked(POW10[e10]);
    else if (e10 < 0 && e10 >= -22) v /= unchecked(POW10[-e10]);
  }
  return negative ? -v : v;
}

/** Result of `parseJson`: a value, or null and a message. */
export class JsonResult {
  value: JsonValue | null = null;
  error: string = "";
}

/** Parses one JSON document; trailing non-whitespace is an error. */
export function parseJson(text: string): JsonResult {
  const r = new Reader(text);
  const res = new JsonResult();
  const v = r.value(0);
  if (v === null) {
    res.error = r.error;
    return res;
  }
  r.ws();
  if (r.pos != text.length) {
    r.fail("unexpected data after the document");
    res.error = r.error;
    return res;
  }
  res.value = v;
  return res;
}
