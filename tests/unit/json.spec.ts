// The strict, non-throwing JSON reader: values, escapes, numbers, and every
// refusal with its message and byte offset.

import { JsonKind, JsonValue, parseJson } from "../../assembly/json";

function ok(text: string): JsonValue {
  const r = parseJson(text);
  expect<string>(r.error).toBe("", text);
  expect<JsonValue | null>(r.value).not.toBeNull(text);
  return r.value!;
}

function str(text: string): string {
  const v = ok(text);
  expect<JsonKind>(v.kind).toBe(JsonKind.String, text);
  return v.str;
}

function num(text: string): f64 {
  const v = ok(text);
  expect<JsonKind>(v.kind).toBe(JsonKind.Number, text);
  expect<string>(v.raw).toBe(text.trim(), text);
  return v.num;
}

class Refusal {
  constructor(
    public text: string,
    public error: string,
  ) {}
}

const REFUSALS: Refusal[] = [
  // empty and truncated documents
  new Refusal("", "unexpected end of input at offset 0"),
  new Refusal("   ", "unexpected end of input at offset 3"),
  new Refusal("{", "expected a field name at offset 1"),
  new Refusal("[", "unexpected end of input at offset 1"),
  new Refusal('{"a"', "expected ':' at offset 4"),
  new Refusal('{"a":', "unexpected end of input at offset 5"),
  new Refusal('{"a":1', "unterminated object at offset 6"),
  new Refusal("[1", "unterminated array at offset 2"),
  new Refusal('"abc', "unterminated string at offset 4"),
  new Refusal('"abc\\', "unterminated string at offset 5"),
  // structure
  new Refusal('{"a" 1}', "expected ':' at offset 5"),
  new Refusal('{"a":1,}', "expected a field name at offset 7"),
  new Refusal("[1,]", "unexpected character at offset 3"),
  new Refusal("[1 2]", "expected ',' or ']' at offset 3"),
  new Refusal('{"a":1 "b":2}', "expected ',' or '}' at offset 7"),
  new Refusal("{a:1}", "expected a field name at offset 1"),
  new Refusal("{'a':1}", "expected a field name at offset 1"),
  new Refusal("{1:1}", "expected a field name at offset 1"),
  new Refusal('{"a":1,"a":2}', 'duplicate field "a" at offset 10'),
  new Refusal('{"x":{"b":1,"b":1}}', 'duplicate field "b" at offset 15'),
  // literals
  new Refusal("tru", "unexpected character at offset 0"),
  new Refusal("True", "unexpected character at offset 0"),
  new Refusal("nul", "unexpected character at offset 0"),
  new Refusal("undefined", "unexpected character at offset 0"),
  new Refusal("NaN", "unexpected character at offset 0"),
  // trailing data
  new Refusal("{} x", "unexpected data after the document at offset 3"),
  new Refusal("{}{}", "unexpected data after the document at offset 2"),
  new Refusal("nulll", "unexpected data after the document at offset 4"),
  new Refusal("1 2", "unexpected data after the document at offset 2"),
  new Refusal('"a""b"', "unexpected data after the document at offset 3"),
  // numbers
  new Refusal("-", "invalid number at offset 1"),
  new Refusal("+1", "unexpected character at offset 0"),
  new Refusal(".5", "unexpected character at offset 0"),
  new Refusal("1.", "invalid number at offset 2"),
  new Refusal("1.e5", "invalid number at offset 2"),
  new Refusal("1e", "invalid number at offset 2"),
  new Refusal("1e+", "invalid number at offset 3"),
  new Refusal("01", "unexpected data after the document at offset 1"),
  new Refusal("-01", "unexpected data after the document at offset 2"),
  new Refusal("00", "unexpected data after the document at offset 1"),
  new Refusal("[01]", "expected ',' or ']' at offset 2"),
  new Refusal("0x10", "unexpected data after the document at offset 1"),
  new Refusal("Infinity", "unexpected character at offset 0"),
  new Refusal("-Infinity", "invalid number at offset 1"),
  // strings: escapes and control characters
  new Refusal('"\\x"', "invalid escape at offset 2"),
  new Refusal('"\\a"', "invalid escape at offset 2"),
  new Refusal('"\\\'"', "invalid escape at offset 2"),
  new Refusal('"\\u12"', "invalid \\u escape at offset 3"),
  new Refusal('"\\u12G4"', "invalid \\u escape at offset 3"),
  new Refusal('"\\u"', "invalid \\u escape at offset 3"),
  new Refusal('"a\nb"', "control character in string at offset 2"),
  new Refusal('"a\tb"', "control character in string at offset 2"),
  new Refusal('"\x00"', "control character in string at offset 1"),
  new Refusal('"\x1f"', "control character in string at offset 1"),
  new Refusal('{"a\nb":1}', "control character in string at offset 3"),
];

describe("parseJson values", () => {
  it("reads the literals", () => {
    expect<JsonKind>(ok("null").kind).toBe(JsonKind.Null);
    expect<JsonKind>(ok("true").kind).toBe(JsonKind.Bool);
    expect<bool>(ok("true").bool).toBe(true);
    expect<JsonKind>(ok("false").kind).toBe(JsonKind.Bool);
    expect<bool>(ok("false").bool).toBe(false);
  });

  it("skips whitespace around and inside the document", () => {
    const v = ok(' \t\r\n{ "a" :\n[ 1 , 2 ]\t} \n');
    expect<JsonKind>(v.kind).toBe(JsonKind.Object);
    expect<i32>(v.get("a")!.items.length).toBe(2);
  });

  it("reads objects in order, and get() finds members", () => {
    const v = ok('{"b":1,"a":"x","c":{"d":[]}}');
    expect<JsonKind>(v.kind).toBe(JsonKind.Object);
    expect<string>(v.keys.join(",")).toBe("b,a,c");
    expect<f64>(v.get("b")!.num).toBe(1);
    expect<string>(v.get("a")!.str).toBe("x");
    expect<JsonKind>(v.get("c")!.get("d")!.kind).toBe(JsonKind.Array);
    expect<JsonValue | null>(v.get("z")).toBeNull();
    expect<i32>(ok("{}").keys.length).toBe(0);
    expect<i32>(ok("{ }").keys.length).toBe(0);
  });

  it("reads arrays of mixed values", () => {
    const v = ok('[1, "two", true, null, [], {}]');
    expect<i32>(v.items.length).toBe(6);
    expect<JsonKind>(v.items[0].kind).toBe(JsonKind.Number);
    expect<JsonKind>(v.items[1].kind).toBe(JsonKind.String);
    expect<JsonKind>(v.items[2].kind).toBe(JsonKind.Bool);
    expect<JsonKind>(v.items[3].kind).toBe(JsonKind.Null);
    expect<JsonKind>(v.items[4].kind).toBe(JsonKind.Array);
    expect<JsonKind>(v.items[5].kind).toBe(JsonKind.Object);
    expect<i32>(ok("[ ]").items.length).toBe(0);
  });

  it("accepts field names that differ only in case", () => {
    const v = ok('{"a":1,"A":2}');
    expect<f64>(v.get("A")!.num).toBe(2);
  });
});

describe("parseJson strings", () => {
  it("reads plain and empty strings", () => {
    expect<string>(str('""')).toBe("");
    expect<string>(str('"abc"')).toBe("abc");
    expect<string>(str('"日本語 é 😀"')).toBe("日本語 é 😀");
  });

  it("decodes the two-character escapes", () => {
    expect<string>(str('"\\""')).toBe('"');
    expect<string>(str('"\\\\"')).toBe("\\");
    expect<string>(str('"\\/"')).toBe("/");
    expect<string>(str('"\\b\\f\\n\\r\\t"')).toBe("\b\f\n\r\t");
    expect<string>(str('"a\\nb\\tc"')).toBe("a\nb\tc");
  });

  it("decodes \\uXXXX in either case", () => {
    expect<string>(str('"\\u0041"')).toBe("A");
    expect<string>(str('"\\u00e9\\u00E9"')).toBe("éé");
    expect<string>(str('"\\u65E5\\u672c"')).toBe("日本");
    expect<string>(str('"\\u0000"')).toBe("\0");
    expect<i32>(str('"\\u0000"').length).toBe(1);
    expect<string>(str('"x\\u0020y"')).toBe("x y");
  });

  it("keeps a surrogate pair as the same two UTF-16 units", () => {
    const s = str('"\\uD83D\\uDE00"');
    expect<string>(s).toBe("😀");
    expect<i32>(s.length).toBe(2);
  });

  it("accepts a lone surrogate without crashing", () => {
    const s = str('"\\uD800"');
    expect<i32>(s.length).toBe(1);
    expect<i32>(s.charCodeAt(0)).toBe(0xd800);
  });

  it("accepts DEL and other non-control characters unescaped", () => {
    expect<string>(str('"a\x7fb"')).toBe("a\x7fb");
  });
});

let seed: u32 = 20240101;

/** A seeded pseudo-random number in [0, n). */
function next(n: u32): u32 {
  seed = seed * 1103515245 + 12345;
  return (seed >> 8) % n;
}

describe("parseJson numbers", () => {
  it("reads integers, negatives, fractions and exponents", () => {
    expect<f64>(num("0")).toBe(0);
    expect<f64>(num("-0")).toBe(-0.0);
    expect<f64>(num("7")).toBe(7);
    expect<f64>(num("-12")).toBe(-12);
    expect<f64>(num("10.5")).toBe(10.5);
    expect<f64>(num("-0.25")).toBe(-0.25);
    expect<f64>(num("0.0001")).toBe(0.0001);
    expect<f64>(num("1e3")).toBe(1000);
    expect<f64>(num("1E3")).toBe(1000);
    expect<f64>(num("1e+3")).toBe(1000);
    expect<f64>(num("25e-1")).toBe(2.5);
    expect<f64>(num("-1.5e2")).toBe(-150);
    expect<f64>(num("600000")).toBe(600000);
  });

  it("keeps the source text of a number for messages", () => {
    expect<string>(ok("1.50").raw).toBe("1.50");
    expect<string>(ok("1E+2").raw).toBe("1E+2");
    expect<string>(ok("[ 3.0 ]").items[0].raw).toBe("3.0");
  });

  it("reads numbers too large for a double as infinities, not a crash", () => {
    expect<f64>(num("1e400")).toBe(Infinity);
    expect<f64>(num("-1e400")).toBe(-Infinity);
    expect<f64>(num("1e-400")).toBe(0);
    expect<f64>(num("1e99999999999")).toBe(Infinity);
  });

  it("reads every number of up to 15 significant digits as parseFloat does", () => {
    // a seeded sweep: digits, a decimal point anywhere, leading and trailing zeros, exponents
    for (let round = 0; round < 5000; round++) {
      let digits = "";
      const n = 1 + next(15);
      for (let i = 0; i < n; i++)
        digits += String.fromCharCode(0x30 + next(10));
      // no leading zero before other digits (JSON), but zeros after the point and at the end
      while (digits.length > 1 && digits.charCodeAt(0) == 0x30) {
        digits = digits.substring(1);
      }
      let text = digits;
      const point = next(digits.length + 1);
      if (point < <u32>digits.length && next(2) == 0) {
        text =
          (point == 0 ? "0" : digits.substring(0, point)) +
          "." +
          digits.substring(point) +
          "0".repeat(next(3));
      }
      if (next(3) == 0) {
        const e = <i32>next(23) - <i32>(next(2) == 0 ? 0 : 22 - digits.length);
        text += (next(2) == 0 ? "e" : "E") + e.toString();
      }
      if (next(4) == 0) text = "-" + text;
      expect<f64>(num(text)).toBe(parseFloat(text), text);
    }
  });

  it("reads longer numbers and far exponents within a few ulps of parseFloat", () => {
    const texts = [
      "12345678901234567890",
      "0.12345678901234567890123",
      "99.999999999999999999",
      "100.00000000000000001",
      "1.7976931348623157e308",
      "2.2250738585072014e-308",
      "123456.789e-30",
      "9.87654321e40",
      "5e-324",
    ];
    for (let i = 0; i < texts.length; i++) {
      const want = parseFloat(texts[i]);
      const got = num(texts[i]);
      const ulps = abs<i64>(reinterpret<i64>(got) - reinterpret<i64>(want));
      expect<i64>(ulps).toBeLessThanOrEqual(4, texts[i]);
    }
  });
});

describe("parseJson refusals", () => {
  it("refuses each malformed document with its reason and offset", () => {
    for (let i = 0; i < REFUSALS.length; i++) {
      const c = REFUSALS[i];
      const r = parseJson(c.text);
      expect<JsonValue | null>(r.value).toBeNull(c.text);
      expect<string>(r.error).toBe(c.error, c.text);
    }
  });
});

function nested(
  open: string,
  close: string,
  depth: i32,
  inner: string,
): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}

describe("parseJson nesting", () => {
  it("accepts 32 levels of values below the root", () => {
    expect<i32>(ok(nested("[", "]", 32, "1")).items.length).toBe(1);
    expect<i32>(ok(nested("[", "]", 33, "")).items.length).toBe(1);
    const objs = nested('{"a":', "}", 32, "1");
    expect<JsonKind>(ok(objs).kind).toBe(JsonKind.Object);
  });

  it("refuses a 33rd level", () => {
    let r = parseJson(nested("[", "]", 33, "1"));
    expect<JsonValue | null>(r.value).toBeNull();
    expect<string>(r.error).toBe("nesting deeper than 32 at offset 33");
    r = parseJson(nested("[", "]", 34, ""));
    expect<string>(r.error).toBe("nesting deeper than 32 at offset 33");
    r = parseJson(nested('{"a":', "}", 33, "1"));
    expect<string>(r.error).toBe("nesting deeper than 32 at offset 165");
  });

  it("refuses very deep input without exhausting the stack", () => {
    const r = parseJson("[".repeat(100000));
    expect<JsonValue | null>(r.value).toBeNull();
    expect<string>(r.error).toBe("nesting deeper than 32 at offset 33");
    const o = parseJson('{"a":'.repeat(50000) + "1" + "}".repeat(50000));
    expect<string>(o.error).toBe("nesting deeper than 32 at offset 165");
  });
});

describe("JsonValue.describe", () => {
  it("describes each kind for error messages", () => {
    expect<string>(ok("null").describe()).toBe("null");
    expect<string>(ok("true").describe()).toBe("true");
    expect<string>(ok("false").describe()).toBe("false");
    expect<string>(ok("1.50").describe()).toBe("1.50");
    expect<string>(ok('"ab"').describe()).toBe('"ab"');
    expect<string>(ok("[1]").describe()).toBe("an array");
    expect<string>(ok("{}").describe()).toBe("an object");
  });

  it("cuts strings longer than 40 characters", () => {
    const forty = "a".repeat(40);
    expect<string>(ok('"' + forty + '"').describe()).toBe('"' + forty + '"');
    expect<string>(ok('"' + forty + 'b"').describe()).toBe(
      '"' + forty + '..."',
    );
  });
});
