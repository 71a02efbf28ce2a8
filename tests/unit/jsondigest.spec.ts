// Canonical JSON digests: each rule of assembly/jsondigest.ts as named cases. Every body is also
// fed split at every byte boundary and byte by byte, through one reused digest, and must give
// the same state, digest, exact hash and byte count as when fed whole.

import {
  JsonDigest,
  JsonState,
  MAX_DEPTH,
  SKETCH_SLOTS,
  digestFootprint,
  firstDifference,
} from "../../assembly/jsondigest";
import {
  IgnoreRules,
  compileIgnore,
  ignoreError,
} from "../../assembly/jsonignore";
import { Xxh64Stream, xxh64 } from "../../assembly/xxh64";

function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

function bytes(values: u8[]): ArrayBuffer {
  const b = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) b[i] = values[i];
  return b.buffer;
}

/** `prefix` + raw bytes + `suffix`. */
function around(prefix: string, values: u8[], suffix: string): ArrayBuffer {
  const a = utf8(prefix);
  const c = utf8(suffix);
  const out = new Uint8Array(a.byteLength + values.length + c.byteLength);
  out.set(Uint8Array.wrap(a), 0);
  for (let i = 0; i < values.length; i++) out[a.byteLength + i] = values[i];
  out.set(Uint8Array.wrap(c), a.byteLength + values.length);
  return out.buffer;
}

function repeat(s: string, n: i32): string {
  return s.repeat(n);
}

class Result {
  constructor(
    public state: JsonState,
    public digest: u64,
    public exact: u64,
    public bytes: u64,
  ) {}
}

function resultOf(d: JsonDigest): Result {
  return new Result(d.state, d.digest, d.exact, d.bytes);
}

/** Expects `b` to equal `a`: checked by hand first, as expect() is slow inside a loop. */
function sameAs(a: Result, d: JsonDigest): bool {
  return (
    a.state == d.state &&
    a.digest == d.digest &&
    a.exact == d.exact &&
    a.bytes == d.bytes
  );
}

function same(a: Result, b: Result, name: string): void {
  if (
    a.state == b.state &&
    a.digest == b.digest &&
    a.exact == b.exact &&
    a.bytes == b.bytes
  )
    return;
  expect<JsonState>(b.state).toBe(a.state, name);
  expect<u64>(b.digest).toBe(a.digest, name);
  expect<u64>(b.exact).toBe(a.exact, name);
  expect<u64>(b.bytes).toBe(a.bytes, name);
}

// Chunks are copied between junk bytes (plain string bytes, which a reader that strays past a
// chunk would take in): a read outside the chunk changes the result instead of finding the
// body's next bytes in place.
const JUNK: usize = 16;
let scratch = new ArrayBuffer(4096);

/** Feeds `n` bytes at `p` to `d` from a copy with junk on both sides. */
function feed(d: JsonDigest, p: usize, n: usize): void {
  const size = <i32>(n + 2 * JUNK);
  if (size > scratch.byteLength) scratch = new ArrayBuffer(size);
  const s = changetype<usize>(scratch);
  memory.fill(s, 0x61, <usize>size);
  memory.copy(s + JUNK, p, n);
  d.update(s + JUNK, n);
}

/** Digests `body` whole into `d` (reset first). */
function whole(d: JsonDigest, body: ArrayBuffer): Result {
  d.reset();
  d.update(changetype<usize>(body), <usize>body.byteLength);
  d.finish();
  return resultOf(d);
}

/**
 * Digests `body` whole, then split in two at every byte boundary, then in three around every
 * pair of boundaries for short bodies, then byte by byte: one digest, reset between runs. All
 * runs must agree; returns the digest (holding the last run) for further checks.
 */
function digestAllWays(
  body: ArrayBuffer,
  rules: IgnoreRules | null,
  name: string,
): JsonDigest {
  const d = new JsonDigest(rules);
  const p = changetype<usize>(body);
  const n = <usize>body.byteLength;
  const first = whole(d, body);
  expect<u64>(first.exact).toBe(xxh64(p, n, 0), name);
  expect<u64>(first.bytes).toBe(<u64>n, name);
  for (let k: usize = 0; k <= n; k++) {
    d.reset();
    feed(d, p, k);
    feed(d, p + k, n - k);
    d.finish();
    if (!sameAs(first, d))
      same(first, resultOf(d), name + " split at " + k.toString());
  }
  if (n <= 24) {
    for (let i: usize = 0; i <= n; i++) {
      for (let j = i; j <= n; j++) {
        d.reset();
        feed(d, p, i);
        feed(d, p + i, j - i);
        feed(d, p + j, n - j);
        d.finish();
        if (!sameAs(first, d))
          same(
            first,
            resultOf(d),
            name + " split at " + i.toString() + "," + j.toString(),
          );
      }
    }
  }
  d.reset();
  for (let k: usize = 0; k < n; k++) feed(d, p + k, 1);
  d.finish();
  same(first, resultOf(d), name + " byte by byte");
  return d;
}

function resultAllWays(
  body: ArrayBuffer,
  rules: IgnoreRules | null,
  name: string,
): Result {
  return resultOf(digestAllWays(body, rules, name));
}

function validDigest(text: string, rules: IgnoreRules | null = null): u64 {
  const r = resultAllWays(utf8(text), rules, text);
  expect<JsonState>(r.state).toBe(JsonState.Valid, text);
  return r.digest;
}

function rulesOf(patterns: string[]): IgnoreRules {
  const r = compileIgnore(patterns);
  expect<string>(ignoreError).toBe("", patterns.join(" "));
  expect<IgnoreRules | null>(r).not.toBeNull();
  return r!;
}

class Pair {
  constructor(
    public name: string,
    public a: string,
    public b: string,
  ) {}
}

const EQUAL: Pair[] = [
  // member order and whitespace
  new Pair("member order", '{"a":1,"b":2}', '{"b":2,"a":1}'),
  new Pair(
    "nested member order",
    '{"x":{"a":[1,{"p":true,"q":null}],"b":"s"},"y":0}',
    '{"y":0,"x":{"b":"s","a":[1,{"q":null,"p":true}]}}',
  ),
  new Pair(
    "whitespace",
    '{"a":[1,2],"b":{}}',
    ' \t\r\n{ "a" : [ 1 , 2 ] ,\n"b":{ } }\r\n',
  ),
  new Pair("whitespace around a scalar", "true", "\n\t true \r "),
  new Pair("duplicates in any order", '{"a":1,"a":2}', '{"a":2,"a":1}'),
  // numbers by value
  new Pair("1 = 1.0", "1", "1.0"),
  new Pair("1 = 1e0", "1", "1e0"),
  new Pair("1 = 10E-1", "1", "10E-1"),
  new Pair("1 = 0.1e1", "1", "0.1e1"),
  new Pair("1 = 1.000e+0", "1", "1.000e+0"),
  new Pair("1 = 100e-2", "1", "100e-2"),
  new Pair("-0 = 0", "-0", "0"),
  new Pair("0 = 0.000e99", "0", "0.000e99"),
  new Pair("0 = -0.0E-7", "0", "-0.0E-7"),
  new Pair("100 = 1e2", "100", "1e2"),
  new Pair("100 = 1E+2", "100", "1E+2"),
  new Pair("100 = 0.001e5", "100", "0.001e5"),
  new Pair("0.001 = 1e-3", "0.001", "1e-3"),
  new Pair("0.0012 = 12e-4", "0.0012", "12e-4"),
  new Pair("-12.5 = -1250e-2", "-12.5", "-1250e-2"),
  new Pair("exponent with leading zeros", "1e007", "10000000"),
  new Pair("inner zeros kept", "1.0002e4", "10002"),
  new Pair(
    "20-digit integer = its exponent form",
    "12345678901234567890",
    "1.234567890123456789e19",
  ),
  new Pair(
    "long fraction",
    "0.1000000000000000000000000000000000000001",
    "1000000000000000000000000000000000000001e-40",
  ),
  new Pair("numbers in an array", "[1,2.50,-3e0]", "[1.0,25e-1,-3]"),
  // strings by unescaped UTF-8
  new Pair("\\u0041 = A", '"\\u0041"', '"A"'),
  new Pair("escape case", '"\\u00e9"', '"\\u00E9"'),
  new Pair("\\u00e9 = raw é", '"\\u00e9"', '"é"'),
  new Pair("\\/ = /", '"a\\/b"', '"a/b"'),
  new Pair("\\n = \\u000a", '"\\n"', '"\\u000a"'),
  new Pair(
    "short escapes",
    '"\\b\\f\\n\\r\\t\\"\\\\"',
    '"\\u0008\\u000C\\u000a\\u000D\\u0009\\u0022\\u005c"',
  ),
  new Pair("surrogate pair = code point", '"\\ud83d\\ude00"', '"😀"'),
  new Pair(
    "surrogate pair, upper case",
    '"\\uD83D\\uDE00"',
    '"\\ud83d\\ude00"',
  ),
  new Pair(
    "lone high surrogate, spelt twice",
    '"a\\ud800b"',
    '"\\u0061\\uD800\\u0062"',
  ),
  new Pair("lone low surrogate, spelt twice", '"\\udc00"', '"\\uDC00"'),
  new Pair("lone high before an escape", '"\\ud800\\n"', '"\\uD800\\u000a"'),
  new Pair("two lone highs", '"\\ud800\\ud800"', '"\\uD800\\uD800"'),
  new Pair("high then pair", '"\\ud800\\ud83d\\ude00"', '"\\ud800😀"'),
  new Pair("NUL escaped", '"a\\u0000b"', '"a\\u0000\\u0062"'),
  new Pair("escaped member name", '{"\\u0061":1}', '{"a":1}'),
  new Pair(
    "long strings",
    '"' + repeat("abcdefghij", 30) + '"',
    '"' + repeat("abcdefghij", 29) + "abcdefgh\\u0069j" + '"',
  ),
  new Pair("DEL is plain", '"\x7f"', '"\\u007f"'),
];

const UNEQUAL: Pair[] = [
  new Pair("[] / {}", "[]", "{}"),
  new Pair('[] / ""', "[]", '""'),
  new Pair('{} / ""', "{}", '""'),
  new Pair('"" / 0', '""', "0"),
  new Pair("0 / null", "0", "null"),
  new Pair("false / null", "false", "null"),
  new Pair("true / false", "true", "false"),
  new Pair('1 / "1"', "1", '"1"'),
  new Pair('"a" / ["a"]', '"a"', '["a"]'),
  new Pair('["a","b"] / ["ab"]', '["a","b"]', '["ab"]'),
  new Pair("[[1],2] / [1,[2]]", "[[1],2]", "[1,[2]]"),
  new Pair("[1,2] / [2,1]", "[1,2]", "[2,1]"),
  new Pair("[[]] / []", "[[]]", "[]"),
  new Pair("[{}] / [[]]", "[{}]", "[[]]"),
  new Pair("[null] / []", "[null]", "[]"),
  new Pair("[1,1] / [1]", "[1,1]", "[1]"),
  new Pair('{"a":1} / {"b":1}', '{"a":1}', '{"b":1}'),
  new Pair('{"a":1} / {"a":2}', '{"a":1}', '{"a":2}'),
  new Pair('{"a":1,"b":2} / {"a":2,"b":1}', '{"a":1,"b":2}', '{"a":2,"b":1}'),
  new Pair("duplicate counted", '{"a":1,"a":1}', '{"a":1}'),
  new Pair(
    "duplicates do not cancel out",
    '{"a":1,"a":1,"b":2}',
    '{"b":2,"c":3,"c":3}',
  ),
  new Pair("name and value not interchangeable", '{"a":"b"}', '{"b":"a"}'),
  new Pair('{"a":{"b":1}} / {"a":{"c":1}}', '{"a":{"b":1}}', '{"a":{"c":1}}'),
  new Pair('{"ab":1} / {"a":1,"b":1}', '{"ab":1}', '{"a":1,"b":1}'),
  new Pair('{"a":[]} / {"a":{}}', '{"a":[]}', '{"a":{}}'),
  new Pair("1 / -1", "1", "-1"),
  new Pair("1 / 10", "1", "10"),
  new Pair("1 / 0.1", "1", "0.1"),
  new Pair("1 / 1e3", "1", "1e3"),
  new Pair("12 / 21", "12", "21"),
  new Pair("101 / 11", "101", "11"),
  new Pair("1.01 / 1.1", "1.01", "1.1"),
  new Pair("0 / 1e-400", "0", "1e-400"),
  new Pair(
    "20-digit integers one apart",
    "12345678901234567890",
    "12345678901234567891",
  ),
  new Pair("beyond double precision", "9007199254740993", "9007199254740992"),
  new Pair('"a" / "A"', '"a"', '"A"'),
  new Pair('"" / "\\u0000"', '""', '"\\u0000"'),
  new Pair('"a" / "a\\u0000"', '"a"', '"a\\u0000"'),
  new Pair("lone surrogate / replacement char", '"\\ud800"', '"\\ufffd"'),
  new Pair("lone high / lone low", '"\\ud800"', '"\\udc00"'),
  new Pair("unpaired / paired", '"\\ud83d\\u0020\\ude00"', '"😀"'),
  new Pair('"é" / "e"', '"é"', '"e"'),
  new Pair("strings of 8 and 9 bytes", '"abcdefgh"', '"abcdefghi"'),
];

const VALID: string[] = [
  "0",
  "-0",
  "0.5",
  "-0.5e-5",
  "1E+2",
  "1e-0",
  "12345678901234567890123456789012345678901234567890",
  "1e99999999999999999999999999",
  '""',
  '"\\u0000"',
  '"\x7f"',
  "[]",
  "{}",
  '{"":""}',
  "[[[]]]",
  '{"a":{"b":{"c":[1,{"d":null}]}}}',
  '  [ 1 , true , false , null , "x" , { } , [ ] ]  ',
  '"\\uD800"',
  '"\\uDFFF"',
  '"日本語 😀 ∑"',
];

const INVALID: string[] = [
  // structure
  "[",
  "]",
  "{",
  "}",
  "[1,]",
  '{"a":1,}',
  "[1 2]",
  '{"a" 1}',
  '{"a":}',
  '{"a"}',
  "{a:1}",
  "{'a':1}",
  "{1:1}",
  "[1}",
  '{"a":1]',
  "1 2",
  "[] []",
  '"a" "b"',
  ",",
  ":",
  "[,]",
  "[:]",
  '{"a"::1}',
  "[1,,2]",
  // comments
  "[1] // c",
  "/* c */ 1",
  // literals
  "tru",
  "True",
  "nul",
  "nulll",
  "truex",
  "undefined",
  "NaN",
  "Infinity",
  // numbers
  "01",
  "-01",
  "00",
  "1.",
  ".5",
  "-",
  "+1",
  "1e",
  "1e+",
  "1E-",
  "1.e5",
  "--1",
  "0x10",
  "1_000",
  "-.5",
  "1.5.",
  // strings
  '"abc',
  '"abc\\"',
  '"\\x41"',
  '"\\u00"',
  '"\\u00g0"',
  '"\\U0041"',
  '"\\ud800\\u12"',
  '"\\ud800\\x"',
  '"a\tb"',
  '"a\nb"',
  "'a'",
  // whitespace that JSON does not have
  "\x0b1",
  "1\x0c",
];

const INVALID_BYTES: ArrayBuffer[] = [
  bytes([0x00]),
  bytes([0x31, 0x00]),
  around('"', [0x00], '"'),
  around('"', [0x1f], '"'),
  around("", [0xef, 0xbb, 0xbf], "1"), // byte order mark
  around('"', [0x80], '"'), // lone continuation
  around('"', [0xc0, 0x80], '"'), // overlong NUL
  around('"', [0xc1, 0xbf], '"'), // overlong
  around('"', [0xe0, 0x80, 0x80], '"'), // overlong
  around('"', [0xe0, 0x9f, 0xbf], '"'), // overlong
  around('"', [0xed, 0xa0, 0x80], '"'), // encoded surrogate
  around('"', [0xed, 0xbf, 0xbf], '"'), // encoded surrogate
  around('"', [0xf0, 0x80, 0x80, 0x80], '"'), // overlong
  around('"', [0xf0, 0x8f, 0xbf, 0xbf], '"'), // overlong
  around('"', [0xf4, 0x90, 0x80, 0x80], '"'), // above U+10FFFF
  around('"', [0xf5, 0x80, 0x80, 0x80], '"'),
  around('"', [0xff], '"'),
  around('"', [0xc3], '"'), // truncated
  around('"', [0xe2, 0x82], '"'), // truncated
  around('"', [0xf0, 0x9f, 0x98], '"'), // truncated
  around('"', [0xc3, 0xc3, 0xa9], '"'),
  around("", [0xc3, 0xa9], ""), // non-ASCII outside a string
  around("[1,", [0xff], "]"),
];

const VALID_BYTES: ArrayBuffer[] = [
  around('"', [0xc2, 0x80], '"'),
  around('"', [0xdf, 0xbf], '"'),
  around('"', [0xe0, 0xa0, 0x80], '"'),
  around('"', [0xed, 0x9f, 0xbf], '"'),
  around('"', [0xee, 0x80, 0x80], '"'),
  around('"', [0xef, 0xbf, 0xbf], '"'),
  around('"', [0xf0, 0x90, 0x80, 0x80], '"'),
  around('"', [0xf4, 0x8f, 0xbf, 0xbf], '"'),
  around('"', [0xef, 0xbb, 0xbf], '"'), // U+FEFF inside a string is a character
];

class IgnoreCase {
  constructor(
    public name: string,
    public patterns: string[],
    public a: string,
    public b: string,
    public equal: bool,
  ) {}
}

const IGNORE_CASES: IgnoreCase[] = [
  new IgnoreCase("a member", ["/ts"], '{"ts":1,"a":2}', '{"ts":9,"a":2}', true),
  new IgnoreCase(
    "an absent member",
    ["/ts"],
    '{"ts":1,"a":2}',
    '{"a":2}',
    true,
  ),
  new IgnoreCase(
    "only that member",
    ["/ts"],
    '{"ts":1,"a":2}',
    '{"ts":1,"a":3}',
    false,
  ),
  new IgnoreCase(
    "only at its depth",
    ["/ts"],
    '{"x":{"ts":1}}',
    '{"x":{"ts":2}}',
    false,
  ),
  new IgnoreCase(
    "a nested member",
    ["/a/b"],
    '{"a":{"b":1,"c":2}}',
    '{"a":{"c":2,"b":[3]}}',
    true,
  ),
  new IgnoreCase(
    "a subtree",
    ["/a"],
    '{"a":{"b":[1,2,{"c":3}]},"d":1}',
    '{"d":1,"a":null}',
    true,
  ),
  new IgnoreCase(
    "a member named by an escape",
    ["/ts"],
    '{"\\u0074s":1}',
    '{"ts":2}',
    true,
  ),
  new IgnoreCase(
    "a non-ASCII name",
    ["/日付"],
    '{"日付":1,"a":1}',
    '{"\\u65e5\\u4ed8":2,"a":1}',
    true,
  ),
  new IgnoreCase(
    "~1 is /",
    ["/a~1b"],
    '{"a/b":1,"c":1}',
    '{"a/b":2,"c":1}',
    true,
  ),
  new IgnoreCase(
    "~0 is ~",
    ["/a~0b"],
    '{"a~b":1,"c":1}',
    '{"a~b":2,"c":1}',
    true,
  ),
  new IgnoreCase("~01 is ~1", ["/a~01"], '{"a~1":1}', '{"a~1":2}', true),
  new IgnoreCase("~01 is not /", ["/a~01"], '{"a/":1}', '{"a/":2}', false),
  new IgnoreCase("the empty name", ["/"], '{"":1,"a":1}', '{"":2,"a":1}', true),
  new IgnoreCase("an array element", ["/1"], "[1,2,3]", "[1,9,3]", true),
  new IgnoreCase(
    "an element is removed, not nulled",
    ["/1"],
    "[1,2,3]",
    "[1,3]",
    false,
  ),
  new IgnoreCase("another element", ["/1"], "[1,2,3]", "[9,2,3]", false),
  new IgnoreCase(
    "an index names an element as sent",
    ["/0"],
    "[1,2]",
    "[2]",
    false,
  ),
  new IgnoreCase(
    "an index names a member too",
    ["/0"],
    '{"0":1,"a":1}',
    '{"0":2,"a":1}',
    true,
  ),
  new IgnoreCase("not a leading-zero index", ["/01"], "[1,2]", "[1,3]", false),
  new IgnoreCase("not an index past the end", ["/-"], "[1,2]", "[1,3]", false),
  new IgnoreCase(
    "large index",
    ["/10"],
    "[0,1,2,3,4,5,6,7,8,9,10,11]",
    "[0,1,2,3,4,5,6,7,8,9,99,11]",
    true,
  ),
  new IgnoreCase(
    "* any member",
    ["/*/id"],
    '{"a":{"id":1,"v":1},"b":{"id":2}}',
    '{"a":{"id":7,"v":1},"b":{"id":8}}',
    true,
  ),
  new IgnoreCase(
    "* not the rest",
    ["/*/id"],
    '{"a":{"id":1,"v":1}}',
    '{"a":{"id":1,"v":2}}',
    false,
  ),
  new IgnoreCase(
    "* any element",
    ["/items/*/id"],
    '{"items":[{"id":1,"n":"a"},{"id":2,"n":"b"}]}',
    '{"items":[{"n":"a","id":5},{"id":6,"n":"b"}]}',
    true,
  ),
  new IgnoreCase(
    "* one level only",
    ["/*"],
    '{"a":{"b":1}}',
    '{"a":{"b":2}}',
    true,
  ),
  new IgnoreCase("* ignores every member", ["/*"], '{"a":1}', "{}", true),
  new IgnoreCase("/*/* not at depth 1", ["/*/*"], '{"a":1}', '{"a":2}', false),
  new IgnoreCase(
    "** any depth",
    ["/**/ts"],
    '{"ts":1,"a":{"ts":2,"b":[{"ts":3}]}}',
    '{"ts":4,"a":{"ts":5,"b":[{"ts":6}]}}',
    true,
  ),
  new IgnoreCase("** zero tokens", ["/**/ts"], '{"ts":1}', '{"ts":2}', true),
  new IgnoreCase(
    "** not other names",
    ["/**/ts"],
    '{"a":{"t":2}}',
    '{"a":{"t":3}}',
    false,
  ),
  new IgnoreCase(
    "** in the middle",
    ["/a/**/id"],
    '{"a":{"x":{"y":{"id":1}}},"id":1}',
    '{"a":{"x":{"y":{"id":2}}},"id":1}',
    true,
  ),
  new IgnoreCase(
    "** in the middle, not outside",
    ["/a/**/id"],
    '{"a":{},"id":1}',
    '{"a":{},"id":2}',
    false,
  ),
  new IgnoreCase(
    "** at the end",
    ["/a/**"],
    '{"a":{"x":1},"b":1}',
    '{"a":[2],"b":1}',
    true,
  ),
  new IgnoreCase(
    "**/** = **",
    ["/**/**/ts"],
    '{"x":{"ts":1}}',
    '{"x":{"ts":2}}',
    true,
  ),
  new IgnoreCase("** then *", ["/**/*/id"], '{"id":1}', '{"id":2}', false),
  new IgnoreCase(
    "** then *, deeper",
    ["/**/*/id"],
    '{"a":{"id":1}}',
    '{"a":{"id":2}}',
    true,
  ),
  new IgnoreCase(
    "two patterns",
    ["/a", "/b"],
    '{"a":1,"b":1,"c":1}',
    '{"a":2,"b":2,"c":1}',
    true,
  ),
  new IgnoreCase(
    "two patterns, third member",
    ["/a", "/b"],
    '{"a":1,"b":1,"c":1}',
    '{"a":2,"b":2,"c":2}',
    false,
  ),
  new IgnoreCase(
    "duplicates all ignored",
    ["/a"],
    '{"a":1,"a":2,"b":1}',
    '{"b":1}',
    true,
  ),
  new IgnoreCase(
    "ignored subtree may be deep",
    ["/a"],
    '{"a":' + repeat("[", 120) + repeat("]", 120) + "}",
    "{}",
    true,
  ),
];

class PatternError {
  constructor(
    public patterns: string[],
    public error: string,
  ) {}
}

const PATTERN_ERRORS: PatternError[] = [
  new PatternError([""], "[0]: would ignore the whole body"),
  new PatternError(["/a", "/**"], "[1]: would ignore the whole body"),
  new PatternError(["/**/**"], "[0]: would ignore the whole body"),
  new PatternError(["a/b"], '[0]: must start with "/", got "a/b"'),
  new PatternError(["/ok", "ts"], '[1]: must start with "/", got "ts"'),
  new PatternError(
    [repeat("x", 50)],
    '[0]: must start with "/", got "' + repeat("x", 40) + '..."',
  ),
  new PatternError(
    ["/a~2"],
    '[0]: has a "~" not followed by 0 or 1 (~0 is "~", ~1 is "/")',
  ),
  new PatternError(
    ["/a~"],
    '[0]: has a "~" not followed by 0 or 1 (~0 is "~", ~1 is "/")',
  ),
  new PatternError(
    ["/~/a"],
    '[0]: has a "~" not followed by 0 or 1 (~0 is "~", ~1 is "/")',
  ),
  new PatternError([repeat("/a", 17)], "[0]: has more than 16 tokens"),
];

class DiffCase {
  constructor(
    public name: string,
    public live: string,
    public dark: string,
    public pointer: string,
  ) {}
}

const DIFF_CASES: DiffCase[] = [
  new DiffCase("a member", '{"a":1,"b":2}', '{"a":1,"b":3}', "/b"),
  new DiffCase(
    "the most specific",
    '{"a":{"b":1,"c":2},"d":3}',
    '{"d":3,"a":{"c":5,"b":1}}',
    "/a/c",
  ),
  new DiffCase("the first found", '{"a":1,"b":2}', '{"a":5,"b":6}', "/a"),
  new DiffCase("an element", "[1,2,3]", "[1,5,3]", "/1"),
  new DiffCase(
    "in an element",
    '{"items":[{"id":1},{"id":2}]}',
    '{"items":[{"id":1},{"id":3}]}',
    "/items/1/id",
  ),
  new DiffCase("missing on the dark side", '{"a":1,"b":2}', '{"a":1}', "/b"),
  new DiffCase("missing on the live side", '{"a":1}', '{"a":1,"b":2}', "/b"),
  new DiffCase("an extra element", "[1,2]", "[1,2,3]", "/2"),
  new DiffCase(
    "RFC 6901 escapes",
    '{"a/b":{"m~n":1}}',
    '{"a/b":{"m~n":2}}',
    "/a~1b/m~0n",
  ),
  new DiffCase("escaped names", '{"\\u0061\\/":1}', '{"a/":2}', "/a~1"),
  new DiffCase("non-ASCII names", '{"日付":1}', '{"日付":2}', "/日付"),
  new DiffCase("a scalar root", "1", "2", ""),
  new DiffCase("root type", "[]", "{}", ""),
  new DiffCase(
    "at depth 4",
    '{"a":{"b":{"c":{"d":1}}}}',
    '{"a":{"b":{"c":{"d":2}}}}',
    "/a/b/c/d",
  ),
  new DiffCase(
    "below depth 4: its ancestor at depth 4",
    '{"a":{"b":{"c":{"d":{"e":1}}}}}',
    '{"a":{"b":{"c":{"d":{"e":2}}}}}',
    "/a/b/c/d",
  ),
  new DiffCase("a type change", '{"a":[1]}', '{"a":{"0":1}}', "/a"),
  new DiffCase(
    "ignored members are no difference",
    '{"ts":1,"a":1}',
    '{"ts":2,"a":2}',
    "/a",
  ),
  new DiffCase(
    "a long name, truncated",
    '{"' + repeat("n", 70) + '":1}',
    '{"' + repeat("n", 70) + '":2}',
    "/" + repeat("n", 63) + "…",
  ),
  new DiffCase(
    "truncated before an incomplete character",
    '{"' + repeat("n", 62) + 'é":1}',
    '{"' + repeat("n", 62) + 'é":2}',
    "/" + repeat("n", 62) + "…",
  ),
];

function differenceOf(
  live: string,
  dark: string,
  rules: IgnoreRules | null,
): string {
  const a = new JsonDigest(rules);
  const b = new JsonDigest(rules);
  whole(a, utf8(live));
  whole(b, utf8(dark));
  return firstDifference(a, b);
}

/** `{"k0":0,…}` with n members. */
function wideObject(n: i32, changed: i32): string {
  let s = "{";
  for (let i = 0; i < n; i++) {
    if (i > 0) s += ",";
    s += '"k' + i.toString() + '":' + (i == changed ? "-1" : i.toString());
  }
  return s + "}";
}

function nested(n: i32, inner: string): string {
  return repeat("[", n) + inner + repeat("]", n);
}

describe("jsondigest: equal bodies", () => {
  it("gives equal digests for equal canonical forms, whatever the split", () => {
    for (let i = 0; i < EQUAL.length; i++) {
      const c = EQUAL[i];
      expect<u64>(validDigest(c.b)).toBe(validDigest(c.a), c.name);
    }
  });

  it("gives different digests for different canonical forms", () => {
    for (let i = 0; i < UNEQUAL.length; i++) {
      const c = UNEQUAL[i];
      expect<u64>(validDigest(c.b)).not.toBe(validDigest(c.a), c.name);
    }
  });

  it("keeps every unequal value distinct from every other", () => {
    const seen = new Map<u64, string>();
    for (let i = 0; i < UNEQUAL.length; i++) {
      const texts = [UNEQUAL[i].a, UNEQUAL[i].b];
      for (let j = 0; j < 2; j++) {
        const t = texts[j];
        const d = validDigest(t);
        if (seen.has(d)) expect<string>(seen.get(d)).toBe(t, "collision");
        else seen.set(d, t);
      }
    }
  });
});

describe("jsondigest: states", () => {
  it("accepts valid bodies", () => {
    for (let i = 0; i < VALID.length; i++) validDigest(VALID[i]);
    for (let i = 0; i < VALID_BYTES.length; i++) {
      const r = resultAllWays(
        VALID_BYTES[i],
        null,
        "valid bytes " + i.toString(),
      );
      expect<JsonState>(r.state).toBe(
        JsonState.Valid,
        "valid bytes " + i.toString(),
      );
    }
  });

  it("refuses invalid bodies, with digest 0", () => {
    for (let i = 0; i < INVALID.length; i++) {
      const r = resultAllWays(utf8(INVALID[i]), null, INVALID[i]);
      expect<JsonState>(r.state).toBe(JsonState.Invalid, INVALID[i]);
      expect<u64>(r.digest).toBe(0, INVALID[i]);
    }
    for (let i = 0; i < INVALID_BYTES.length; i++) {
      const name = "invalid bytes " + i.toString();
      const r = resultAllWays(INVALID_BYTES[i], null, name);
      expect<JsonState>(r.state).toBe(JsonState.Invalid, name);
    }
  });

  it("says Empty for no bytes or only whitespace", () => {
    const texts = ["", " ", "\t\r\n ", repeat(" ", 100)];
    for (let i = 0; i < texts.length; i++) {
      const r = resultAllWays(utf8(texts[i]), null, "empty " + i.toString());
      expect<JsonState>(r.state).toBe(JsonState.Empty);
      expect<u64>(r.digest).toBe(0);
    }
  });

  it("knows Invalid before finish()", () => {
    const d = new JsonDigest(null);
    const b = utf8("[1,]");
    d.update(changetype<usize>(b), 4);
    expect<JsonState>(d.state).toBe(JsonState.Invalid);
    d.finish();
    expect<JsonState>(d.state).toBe(JsonState.Invalid);
  });

  it("still hashes every byte of a non-JSON body exactly", () => {
    const a = new JsonDigest(null);
    const b = new JsonDigest(null);
    const x = whole(a, utf8("<html>" + repeat("x", 100) + "</html>"));
    const y = whole(b, utf8("<html>" + repeat("x", 100) + "</html>"));
    expect<JsonState>(x.state).toBe(JsonState.Invalid);
    expect<u64>(x.exact).toBe(y.exact);
    expect<u64>(x.bytes).toBe(113);
  });

  it("ignores update() after finish()", () => {
    const d = new JsonDigest(null);
    const r = whole(d, utf8("[1]"));
    const more = utf8("]");
    d.update(changetype<usize>(more), 1);
    d.finish();
    same(r, resultOf(d), "after finish");
  });

  it("resets after any prefix of any body, finished or not, to a fresh state", () => {
    // Whatever state a body was left in (inside an escape, after a high surrogate, in a number,
    // a UTF-8 sequence, deep inside containers), reset() leaves nothing of it.
    const probes: string[] = [
      '"\\udc00"',
      '"\\u0041"',
      "[1]",
      '{"a":"b"}',
      "12",
      '"é"',
    ];
    const bodies: ArrayBuffer[] = [
      utf8('{"a":[1,"\\ud800\\u0041",-0.5e3,true],"b\\u00e9":{"c":null}}'),
      utf8('"x\\ud83d\\ude00y"'),
      around('["', [0xf0, 0x9f, 0x98, 0x80], '"]'),
      utf8(nested(MAX_DEPTH + 2, "")),
    ];
    const rules = rulesOf(["/a/*", "/**/c"]);
    const reused = new JsonDigest(rules);
    for (let b = 0; b < bodies.length; b++) {
      const body = bodies[b];
      for (let k = 0; k <= body.byteLength; k++) {
        for (let f = 0; f < 2; f++) {
          for (let i = 0; i < probes.length; i++) {
            reused.reset();
            reused.update(changetype<usize>(body), <usize>k);
            if (f == 1) reused.finish();
            const probe = utf8(probes[i]);
            const r = whole(reused, probe);
            const fresh = whole(new JsonDigest(rules), probe);
            same(
              fresh,
              r,
              probes[i] +
                " after " +
                k.toString() +
                " bytes of body " +
                b.toString(),
            );
          }
        }
      }
    }
  });

  it("resets to a fresh state, exact hash included", () => {
    // Bodies of 0 to 80 bytes leave every tail length in the XXH64 stream behind them.
    const d = new JsonDigest(null);
    for (let n = 0; n <= 80; n++) {
      const prev = utf8(repeat("7", n));
      whole(d, prev);
      const body = utf8("[" + repeat("1,", n) + "2]");
      const reused = whole(d, body);
      const fresh = new JsonDigest(null);
      fresh.update(changetype<usize>(body), <usize>body.byteLength);
      fresh.finish();
      same(resultOf(fresh), reused, "after a body of " + n.toString());
      const s = new Xxh64Stream();
      s.update(changetype<usize>(body), <usize>body.byteLength);
      expect<u64>(reused.exact).toBe(s.digest());
    }
  });
});

describe("jsondigest: depth", () => {
  it("digests 128 levels and refuses 129 as TooDeep", () => {
    expect<JsonState>(
      resultAllWays(utf8(nested(MAX_DEPTH, "1")), null, "128").state,
    ).toBe(JsonState.Valid);
    expect<JsonState>(
      resultAllWays(utf8(nested(MAX_DEPTH + 1, "1")), null, "129").state,
    ).toBe(JsonState.TooDeep);
    const objects = repeat('{"a":', MAX_DEPTH) + "1" + repeat("}", MAX_DEPTH);
    expect<JsonState>(resultAllWays(utf8(objects), null, "objects").state).toBe(
      JsonState.Valid,
    );
    expect<JsonState>(
      resultAllWays(utf8("[" + objects + "]"), null, "objects + 1").state,
    ).toBe(JsonState.TooDeep);
  });

  it("tells nesting depths apart", () => {
    expect<u64>(validDigest(nested(127, "1"))).not.toBe(
      validDigest(nested(128, "1")),
    );
  });

  it("says TooDeep for 1 MB of '[', in any chunks, without growing", () => {
    const body = utf8(repeat("[", 1 << 20));
    const d = new JsonDigest(null);
    const first = whole(d, body);
    expect<JsonState>(first.state).toBe(JsonState.TooDeep);
    const p = changetype<usize>(body);
    const sizes: usize[] = [1, 7, 4096];
    for (let i = 0; i < sizes.length; i++) {
      d.reset();
      for (let at: usize = 0; at < <usize>body.byteLength; at += sizes[i]) {
        const n = min(sizes[i], <usize>body.byteLength - at);
        d.update(p + at, n);
      }
      d.finish();
      same(first, resultOf(d), "chunks of " + sizes[i].toString());
    }
  });

  it("says Invalid, not TooDeep, for an error before the depth limit", () => {
    const r = resultAllWays(
      utf8("[1 " + repeat("[", 200)),
      null,
      "error first",
    );
    expect<JsonState>(r.state).toBe(JsonState.Invalid);
  });
});

describe("jsondigest: large tokens", () => {
  it("digests a 1 MB string and a 100 kB number", () => {
    const d = new JsonDigest(null);
    const s = whole(d, utf8('"' + repeat("ab\\u0063", 1 << 18) + '"'));
    expect<JsonState>(s.state).toBe(JsonState.Valid);
    const s2 = whole(d, utf8('"' + repeat("abc", 1 << 18) + '"'));
    expect<u64>(s2.digest).toBe(s.digest);
    const n1 = whole(d, utf8("1" + repeat("0", 100000)));
    const n2 = whole(d, utf8("1e100000"));
    expect<u64>(n1.digest).toBe(n2.digest);
    const n3 = whole(d, utf8("0." + repeat("0", 100000) + "1"));
    const n4 = whole(d, utf8("1e-100001"));
    expect<u64>(n3.digest).toBe(n4.digest);
  });
});

describe("jsondigest: ignore patterns", () => {
  it("leaves ignored values out of their parent", () => {
    for (let i = 0; i < IGNORE_CASES.length; i++) {
      const c = IGNORE_CASES[i];
      const rules = rulesOf(c.patterns);
      const a = validDigest(c.a, rules);
      const b = validDigest(c.b, rules);
      if (c.equal) expect<u64>(b).toBe(a, c.name);
      else expect<u64>(b).not.toBe(a, c.name);
    }
  });

  it("changes nothing without a match", () => {
    const rules = rulesOf(["/zzz", "/**/nothing", "/*/*/*/*/q"]);
    for (let i = 0; i < EQUAL.length; i++) {
      expect<u64>(validDigest(EQUAL[i].a, rules)).toBe(
        validDigest(EQUAL[i].a),
        EQUAL[i].name,
      );
    }
  });

  it("still validates ignored values", () => {
    const rules = rulesOf(["/a"]);
    const r = resultAllWays(utf8('{"a":[1,}'), rules, "ignored but invalid");
    expect<JsonState>(r.state).toBe(JsonState.Invalid);
    const deep = resultAllWays(
      utf8('{"a":' + nested(200, "") + "}"),
      rules,
      "ignored, too deep",
    );
    expect<JsonState>(deep.state).toBe(JsonState.TooDeep);
  });

  it("accepts 32 patterns of 16 tokens", () => {
    const patterns: string[] = [];
    for (let i = 0; i < 32; i++)
      patterns.push(repeat("/a", 15) + "/" + i.toString());
    const rules = rulesOf(patterns);
    expect<i32>(rules.count).toBe(32);
    const deep = repeat('{"a":', 15) + '{"7":1,"x":1}' + repeat("}", 15);
    const other = repeat('{"a":', 15) + '{"7":2,"x":1}' + repeat("}", 15);
    expect<u64>(validDigest(other, rules)).toBe(validDigest(deep, rules));
  });

  it("refuses bad patterns with the index and the reason", () => {
    for (let i = 0; i < PATTERN_ERRORS.length; i++) {
      const c = PATTERN_ERRORS[i];
      expect<IgnoreRules | null>(compileIgnore(c.patterns)).toBeNull(c.error);
      expect<string>(ignoreError).toBe(c.error);
    }
    const many: string[] = [];
    for (let i = 0; i < 33; i++) many.push("/a" + i.toString());
    expect<IgnoreRules | null>(compileIgnore(many)).toBeNull();
    expect<string>(ignoreError).toBe("[32]: too many patterns (at most 32)");
    rulesOf([]);
    expect<string>(ignoreError).toBe("");
  });
});

describe("jsondigest: firstDifference", () => {
  it("points at the first difference, most specific first", () => {
    const rules = rulesOf(["/ts"]);
    for (let i = 0; i < DIFF_CASES.length; i++) {
      const c = DIFF_CASES[i];
      expect<string>(differenceOf(c.live, c.dark, rules)).toBe(
        c.pointer,
        c.name,
      );
    }
  });

  it("says the root for equal, invalid or empty bodies", () => {
    expect<string>(differenceOf('{"a":1}', '{"a":1}', null)).toBe("");
    expect<string>(differenceOf('{"a":1}', '{"a":', null)).toBe("");
    expect<string>(differenceOf("", '{"a":1}', null)).toBe("");
  });

  it("keeps the first 64 entries of a wide object: later differences are the root's", () => {
    expect<string>(
      differenceOf(wideObject(300, 3), wideObject(300, -1), null),
    ).toBe("/k3");
    expect<string>(
      differenceOf(wideObject(300, -1), wideObject(300, 63), null),
    ).toBe("/k63");
    expect<string>(
      differenceOf(wideObject(300, -1), wideObject(300, 64), null),
    ).toBe("");
  });

  it("falls back to a shallower pointer when entries were given up", () => {
    const live = '{"a":' + wideObject(100, -1) + ',"b":1}';
    const dark = '{"a":' + wideObject(100, 90) + ',"b":1}';
    expect<string>(differenceOf(live, dark, null)).toBe("/a");
    const dark2 = '{"a":' + wideObject(100, -1) + ',"b":2}';
    expect<string>(differenceOf(live, dark2, null)).toBe("/b");
  });

  it("finds the same answer whatever the split", () => {
    const c = DIFF_CASES[1];
    const a = digestAllWays(utf8(c.live), null, c.live);
    const b = digestAllWays(utf8(c.dark), null, c.dark);
    expect<string>(firstDifference(a, b)).toBe(c.pointer);
  });
});

describe("jsondigest: footprint", () => {
  it("is fixed per rule count", () => {
    const none = digestFootprint(null);
    expect<i32>(none).toBeGreaterThan(0);
    expect<i32>(none).toBeLessThan(12 * 1024);
    expect<i32>(digestFootprint(rulesOf([]))).toBe(none);
    const one = digestFootprint(rulesOf(["/a"]));
    expect<i32>(one - none).toBe((MAX_DEPTH + 1) * 4);
  });
});

// ----- sketches (a candidate judged against a baseline) -----------------------------------------

/** The sketch of `body` (whole, then fed byte by byte through a reused digest: the same). */
function sketchOf(body: string, rules: IgnoreRules | null = null): u64[] {
  const d = new JsonDigest(rules, true);
  const b = utf8(body);
  d.update(changetype<usize>(b), <usize>b.byteLength);
  d.finish();
  const whole = new StaticArray<u64>(SKETCH_SLOTS);
  d.sketchInto(whole);
  d.reset();
  for (let i = 0; i < b.byteLength; i++) d.update(changetype<usize>(b) + i, 1);
  d.finish();
  const split = new StaticArray<u64>(SKETCH_SLOTS);
  d.sketchInto(split);
  const out: u64[] = [];
  for (let i = 0; i < SKETCH_SLOTS; i++) {
    expect<u64>(split[i]).toBe(whole[i], body);
    out.push(whole[i]);
  }
  return out;
}

/** The slots where two sketches differ. */
function slotsDiffering(a: u64[], b: u64[]): i32[] {
  const out: i32[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] != b[i]) out.push(i);
  return out;
}

describe("jsondigest: sketch", () => {
  it("is the same for equal documents, however spelled and ordered", () => {
    const a = sketchOf('{"a":1,"b":{"c":[1,2],"d":"x"}}');
    const b = sketchOf(' { "b" : { "d":"\\u0078", "c":[1.0,2e0]}, "a":1 } ');
    expect<i32>(slotsDiffering(a, b).length).toBe(0);
  });

  it("differs in the slots of the field that differs, and of the values that hold it", () => {
    const base = sketchOf('{"id":"x","items":[{"sku":"a","price":1}],"n":2}');
    const price = sketchOf('{"id":"x","items":[{"sku":"a","price":2}],"n":2}');
    const id = sketchOf('{"id":"y","items":[{"sku":"a","price":1}],"n":2}');
    const byPrice = slotsDiffering(base, price);
    const byId = slotsDiffering(base, id);
    // /items/*/price, and the values that hold it: /items/* and /items
    expect<i32>(byPrice.length).toBeGreaterThanOrEqual(1);
    expect<i32>(byPrice.length).toBeLessThanOrEqual(3);
    expect<i32>(byId.length).toBe(1);
    expect<bool>(byPrice.includes(byId[0])).toBe(false);
  });

  it("places every element of an array in one field, and keeps their order", () => {
    const a = sketchOf('{"items":[{"id":1},{"id":2}]}');
    const b = sketchOf('{"items":[{"id":2},{"id":1}]}');
    expect<i32>(slotsDiffering(a, b).length).toBeGreaterThan(0);
    const c = sketchOf('{"items":[{"id":1},{"id":3}]}');
    const d = sketchOf('{"items":[{"id":1},{"id":4}]}');
    expect<string>(slotsDiffering(a, c).toString()).toBe(
      slotsDiffering(a, d).toString(),
    );
  });

  it("leaves ignored values out", () => {
    const rules = rulesOf(["/**/ts"]);
    const a = sketchOf('{"ts":1,"v":{"ts":2,"k":1}}', rules);
    const b = sketchOf('{"ts":9,"v":{"ts":8,"k":1}}', rules);
    expect<i32>(slotsDiffering(a, b).length).toBe(0);
  });

  it("costs a fixed amount more in the footprint", () => {
    expect<i32>(digestFootprint(null, true) - digestFootprint(null)).toBe(
      (SKETCH_SLOTS + MAX_DEPTH + 1) * 8 + 32,
    );
  });
});
