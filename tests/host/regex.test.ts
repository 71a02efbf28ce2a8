/**
 * assembly/regex.ts, compiled into Wasm here (tests/host/regex-entry.ts → build/), against
 * JavaScript's own engine: `new RegExp("^(?:" + p + ")$", "u")` (flag "i" for a leading (?i)).
 *
 * Seeded random patterns from a grammar of the supported subset, each with values sampled to
 * match it, near misses (one character added, dropped or changed) and random text, over an
 * alphabet where RE2's definitions and JavaScript's agree (no line terminators for ".", no \v or
 * Unicode spaces for \s, ASCII only under (?i)). Then random strings of regex syntax: nothing
 * traps, and where both engines accept a pattern they agree on every value. Named cases pin the
 * documented semantics (whole-value match, RE2's \s and ".", invalid UTF-8) and every refusal's
 * message. Memory stays fixed while matching; a cost figure is printed, not asserted.
 *
 * REGEX_SEED replays a run; REGEX_PATTERNS sets the number of random patterns.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { buildEntry, EntryGuest, type EntryExports } from "./entry.ts";
import { rng, type Rng } from "./rng.ts";

let WASM = "";
const SEED = Number(process.env.REGEX_SEED ?? 0x2e9e5eed);
const PATTERNS = Number(process.env.REGEX_PATTERNS ?? 4000);

interface Exports extends EntryExports {
  compile(len: number): number;
  matches(len: number): number;
  memoryBytes(): number;
}

const encoder = new TextEncoder();

class Guest extends EntryGuest<Exports> {
  /** The program size, or the error. */
  compile(pattern: string): number | string {
    const bytes = encoder.encode(pattern);
    this.put(bytes);
    const n = this.x.compile(bytes.length);
    return n > 0 ? n : this.text(-n);
  }

  matches(value: string | Uint8Array): boolean {
    const bytes = typeof value === "string" ? encoder.encode(value) : value;
    this.put(bytes);
    const r = this.x.matches(bytes.length);
    assert.notEqual(r, -1, "no pattern compiled");
    return r === 1;
  }
}

let guest: Guest;

before(() => {
  WASM = buildEntry("regex-entry.ts", "regex-test.wasm");
  guest = new Guest(WASM);
});

/** The JavaScript reading of a pattern of the subset, or null when JavaScript refuses it. */
function reference(pattern: string): RegExp | null {
  let p = pattern;
  let flags = "u";
  if (p.startsWith("(?i)")) {
    p = p.slice(4);
    flags += "i";
  }
  p = p.replaceAll("(?P<", "(?<");
  try {
    return new RegExp(`^(?:${p})$`, flags);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// The grammar: a pattern tree, rendered, and sampled for values it matches.

type Node =
  | { k: "lit"; text: string; value: string }
  | { k: "class"; text: string; pick: (r: Rng) => string }
  | { k: "cat"; xs: Node[] }
  | { k: "alt"; xs: Node[] }
  | { k: "group"; open: string; x: Node }
  | { k: "rep"; x: Node; min: number; max: number; text: string };

/** Literal characters: plain ones and escaped syntax characters (both engines read them alike). */
const LITERALS: Array<[string, string]> = [
  ["a", "a"],
  ["b", "b"],
  ["c", "c"],
  ["Z", "Z"],
  ["0", "0"],
  ["7", "7"],
  ["-", "-"],
  ["/", "/"],
  ["_", "_"],
  [" ", " "],
  ["=", "="],
  ["é", "é"],
  ["€", "€"],
  ["😀", "😀"],
  ["\\.", "."],
  ["\\*", "*"],
  ["\\+", "+"],
  ["\\?", "?"],
  ["\\(", "("],
  ["\\)", ")"],
  ["\\[", "["],
  ["\\]", "]"],
  ["\\{", "{"],
  ["\\}", "}"],
  ["\\|", "|"],
  ["\\^", "^"],
  ["\\$", "$"],
  ["\\\\", "\\"],
  ["\\/", "/"],
  ["\\t", "\t"],
  ["\\x41", "A"],
  ["\\x7e", "~"],
];
const NON_ASCII = /[^\x00-\x7f]/;

/** What values may hold: where RE2 and JavaScript agree (see the header). */
const ALPHABET = [..."abcABCZz0179-/_ =.*+?()[]{}|^$\\~\téÉ€😀"];
const ASCII_ALPHABET = ALPHABET.filter((c) => !NON_ASCII.test(c));

const CLASS_ITEMS: Array<[string, string[]]> = [
  ["a", ["a"]],
  ["b", ["b"]],
  ["0", ["0"]],
  ["é", ["é"]],
  ["😀", ["😀"]],
  ["_", ["_"]],
  ["/", ["/"]],
  [".", ["."]],
  ["$", ["$"]],
  ["\\]", ["]"]],
  ["\\\\", ["\\"]],
  ["\\-", ["-"]],
  ["\\^", ["^"]],
  ["a-c", ["a", "b", "c"]],
  ["0-9", ["0", "1", "7", "9"]],
  ["A-Z", ["A", "C", "Z"]],
  ["\\d", ["0", "7"]],
  ["\\w", ["a", "Z", "_", "1"]],
  ["\\s", [" ", "\t"]],
];

interface Gen {
  r: Rng;
  fold: boolean;
  /** larger counts, for programs over 64 instructions */
  big: boolean;
  names: number;
}

function literal(g: Gen): Node {
  let pick = g.r.pick(LITERALS);
  while (g.fold && NON_ASCII.test(pick[1])) pick = g.r.pick(LITERALS);
  return { k: "lit", text: pick[0], value: pick[1] };
}

function charClass(g: Gen): Node {
  const r = g.r;
  const negate = r.chance(0.3);
  const items: Array<[string, string[]]> = [];
  const n = 1 + r.int(3);
  for (let i = 0; i < n; i++) {
    let item = r.pick(CLASS_ITEMS);
    while (g.fold && item[1].some((c) => NON_ASCII.test(c)))
      item = r.pick(CLASS_ITEMS);
    items.push(item);
  }
  const members = items.flatMap((i) => i[1]);
  const text = `[${negate ? "^" : ""}${items.map((i) => i[0]).join("")}]`;
  if (!negate) return { k: "class", text, pick: (r) => r.pick(members) };
  // A value for a negated class: any character of the alphabet the class refuses.
  const re = new RegExp(`^${text}$`, g.fold ? "iu" : "u");
  const outside = (g.fold ? ASCII_ALPHABET : ALPHABET).filter((c) =>
    re.test(c),
  );
  return {
    k: "class",
    text,
    pick: (r) => (outside.length ? r.pick(outside) : "\u0000"),
  };
}

function escapeClass(g: Gen): Node {
  const [text, members] = g.r.pick<[string, string[]]>([
    ["\\d", ["0", "9"]],
    ["\\w", ["a", "Z", "_", "5"]],
    ["\\s", [" ", "\t"]],
    ["\\D", ["a", "-", "é"]],
    ["\\W", ["-", " ", "😀"]],
    ["\\S", ["a", "0", "€"]],
    [".", ["a", " ", "😀", "é"]],
  ]);
  const ms = g.fold ? members.filter((c) => !NON_ASCII.test(c)) : members;
  return { k: "class", text, pick: (r) => r.pick(ms.length ? ms : ["a"]) };
}

function atom(g: Gen, depth: number): Node {
  const r = g.r;
  const roll = r.next();
  if (depth < 3 && roll < 0.18) {
    const kind = r.int(4);
    const x = alternation(g, depth + 1);
    if (kind === 0) return { k: "group", open: "(", x };
    if (kind === 1) return { k: "group", open: "(?:", x };
    const name = `n${g.names++}`;
    return { k: "group", open: kind === 2 ? `(?P<${name}>` : `(?<${name}>`, x };
  }
  if (roll < 0.4) return charClass(g);
  if (roll < 0.52) return escapeClass(g);
  return literal(g);
}

/** Whether `n` repeats something: a repetition of it could make JavaScript backtrack for ages. */
function repeats(n: Node): boolean {
  switch (n.k) {
    case "rep":
      return true;
    case "cat":
    case "alt":
      return n.xs.some(repeats);
    case "group":
      return repeats(n.x);
    default:
      return false;
  }
}

function repeated(g: Gen, depth: number): Node {
  const r = g.r;
  const x = atom(g, depth);
  if (!r.chance(g.big ? 0.6 : 0.35)) return x;
  const lazy = r.chance(0.2) ? "?" : "";
  if (repeats(x)) {
    // Nested repetitions stay small (the reference is a backtracking engine).
    const n = r.int(2);
    const m = n + r.int(2);
    return m === 1 && n === 0
      ? { k: "rep", x, min: 0, max: 1, text: "?" + lazy }
      : { k: "rep", x, min: n, max: m, text: `{${n},${m}}${lazy}` };
  }
  if (g.big && r.chance(0.8)) {
    const n = r.int(6);
    const m = n + 8 + r.int(16);
    return { k: "rep", x, min: n, max: m, text: `{${n},${m}}${lazy}` };
  }
  switch (r.int(6)) {
    case 0:
      return { k: "rep", x, min: 0, max: Infinity, text: "*" + lazy };
    case 1:
      return { k: "rep", x, min: 1, max: Infinity, text: "+" + lazy };
    case 2:
      return { k: "rep", x, min: 0, max: 1, text: "?" + lazy };
    case 3: {
      const n = r.int(4);
      return { k: "rep", x, min: n, max: n, text: `{${n}}${lazy}` };
    }
    case 4: {
      const n = r.int(3);
      return { k: "rep", x, min: n, max: Infinity, text: `{${n},}${lazy}` };
    }
    default: {
      const n = r.int(3);
      const m = n + r.int(4);
      return { k: "rep", x, min: n, max: m, text: `{${n},${m}}${lazy}` };
    }
  }
}

function concatenation(g: Gen, depth: number): Node {
  const n = g.r.int(depth === 0 ? 6 : 4);
  const xs: Node[] = [];
  for (let i = 0; i < n; i++) xs.push(repeated(g, depth));
  return { k: "cat", xs };
}

function alternation(g: Gen, depth: number): Node {
  const n = g.r.chance(0.3) ? 2 + g.r.int(2) : 1;
  const xs: Node[] = [];
  for (let i = 0; i < n; i++) xs.push(concatenation(g, depth));
  return n === 1 ? xs[0] : { k: "alt", xs };
}

function render(n: Node): string {
  switch (n.k) {
    case "lit":
    case "class":
      return n.text;
    case "cat":
      return n.xs.map(render).join("");
    case "alt":
      return n.xs.map(render).join("|");
    case "group":
      return n.open + render(n.x) + ")";
    case "rep":
      return render(n.x) + n.text;
  }
}

/** A value `n` matches, chosen at random. */
function sample(n: Node, r: Rng): string {
  switch (n.k) {
    case "lit":
      return n.value;
    case "class":
      return n.pick(r);
    case "cat":
      return n.xs.map((x) => sample(x, r)).join("");
    case "alt":
      return sample(r.pick(n.xs), r);
    case "group":
      return sample(n.x, r);
    case "rep": {
      const count =
        n.min + r.int((n.max === Infinity ? n.min + 3 : n.max) - n.min + 1);
      let s = "";
      for (let i = 0; i < count; i++) s += sample(n.x, r);
      return s;
    }
  }
}

/** `value` with one character added, dropped or changed (or its ASCII letters' case flipped). */
function mutate(value: string, r: Rng, alphabet: string[]): string {
  const cs = [...value];
  const at = r.int(cs.length + 1);
  switch (r.int(4)) {
    case 0:
      cs.splice(at, 0, r.pick(alphabet));
      break;
    case 1:
      cs.splice(at, 1);
      break;
    case 2:
      cs.splice(at, 1, r.pick(alphabet));
      break;
    default:
      return cs
        .map((c) =>
          /[a-z]/i.test(c) && r.chance(0.5)
            ? c === c.toLowerCase()
              ? c.toUpperCase()
              : c.toLowerCase()
            : c,
        )
        .join("");
  }
  return cs.join("");
}

function randomText(r: Rng, alphabet: string[], max: number): string {
  let s = "";
  const n = r.int(max + 1);
  for (let i = 0; i < n; i++) s += r.pick(alphabet);
  return s;
}

describe("regex: against JavaScript's engine", () => {
  it(`agrees on ${PATTERNS} random patterns of the subset, each with values that match and near misses (seed ${SEED})`, (t) => {
    const r = rng(SEED);
    let compared = 0;
    let matched = 0;
    // Programs of at most 64 instructions run on a bit set, larger ones on thread lists.
    let large = 0;
    for (let i = 0; i < PATTERNS; i++) {
      const g: Gen = {
        r,
        fold: r.chance(0.15),
        big: r.chance(0.25),
        names: 0,
      };
      const tree = alternation(g, 0);
      const pattern = (g.fold ? "(?i)" : "") + render(tree);
      const js = reference(pattern);
      assert.ok(js, `JavaScript refuses ${pattern}`);
      const size = guest.compile(pattern);
      if (typeof size === "string") {
        // Only a program over the size limit may be refused.
        assert.match(size, /is too large/, pattern);
        continue;
      }
      if (size > 64) large++;
      const alphabet = g.fold ? ASCII_ALPHABET : ALPHABET;
      const values: string[] = [];
      for (let k = 0; k < 4; k++) {
        const v = sample(tree, r);
        values.push(v, mutate(v, r, alphabet));
      }
      for (let k = 0; k < 3; k++) values.push(randomText(r, alphabet, 6));
      values.push("");
      for (const v of values) {
        const want = js.test(v);
        assert.equal(
          guest.matches(v),
          want,
          `pattern ${JSON.stringify(pattern)} value ${JSON.stringify(v)}: JavaScript says ${want} (REGEX_SEED=${SEED})`,
        );
        compared++;
        if (want) matched++;
      }
    }
    t.diagnostic(
      `${compared} values compared, ${matched} matching; ${large} of ${PATTERNS} programs over 64 instructions`,
    );
    assert.ok(large > PATTERNS / 20 && large < PATTERNS / 2, `${large} large`);
    // The samples must exercise both answers.
    assert.ok(matched > compared / 5 && matched < (compared * 4) / 5);
  });

  it("never traps on random strings of regex syntax, and agrees wherever both engines accept one", (t) => {
    const r = rng(SEED ^ 0x5a5a5a5a);
    const syntax = [..."ab0é😀()[]{}|*+?.^$\\-,:=!<>PdwsDWSbBpkxi123"];
    let both = 0;
    for (let i = 0; i < PATTERNS * 2; i++) {
      const pattern = randomText(r, syntax, 10);
      const compiled = guest.compile(pattern);
      const js = reference(pattern);
      if (typeof compiled === "string") {
        assert.match(compiled, /^(at character \d+: |is too large)/, pattern);
        continue;
      }
      if (js === null || pattern.includes("(?P")) continue;
      both++;
      const alphabet = pattern.startsWith("(?i)") ? ASCII_ALPHABET : ALPHABET;
      for (let k = 0; k < 8; k++) {
        const v = randomText(r, alphabet, 5);
        assert.equal(
          guest.matches(v),
          js.test(v),
          `pattern ${JSON.stringify(pattern)} value ${JSON.stringify(v)} (REGEX_SEED=${SEED})`,
        );
      }
    }
    t.diagnostic(`${both} patterns accepted by both engines`);
    assert.ok(both > PATTERNS / 20, `only ${both} patterns accepted by both`);
  });
});

describe("regex: named cases", () => {
  const cases: Array<[string, string | Uint8Array, boolean]> = [
    // A pattern matches the whole value.
    ["abc", "abc", true],
    ["abc", "xabcx", false],
    ["abc", "abcd", false],
    ["^abc$", "abc", true],
    ["b|abc", "abc", true],
    ["", "", true],
    ["", "a", false],
    // Gateway API and Envoy style patterns.
    ["/api/v[0-9]+/.*", "/api/v12/orders", true],
    ["/api/v[0-9]+/.*", "/api/v/orders", false],
    [
      "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
      "123e4567-e89b-12d3-a456-426614174000",
      true,
    ],
    ["(?i)bearer .+", "BEARER x", true],
    ["(?i)[a-c]+", "AbC", true],
    ["(?i)[^a]", "A", false],
    ["(?P<tenant>acme|globex)-.*", "globex-eu", true],
    // RE2's ".": any character but \n.
    ["a.c", "a\nc", false],
    ["a.c", "a\rc", true],
    ["a.c", "a\u2028c", true],
    // RE2's \s: \t \n \f \r and space, not \v nor Unicode spaces (JavaScript's is wider).
    ["\\s", "\v", false],
    ["\\s", "\u00a0", false],
    ["\\S", "\v", true],
    ["\\s\\s\\s\\s\\s", "\t\n\f\r ", true],
    // Code points, not bytes or UTF-16 units.
    [".", "😀", true],
    ["..", "😀", false],
    ["\\x{1F600}", "😀", true],
    ["[é-ê]", "ê", true],
    ["\\xe9", "é", true],
    // An invalid UTF-8 byte reads as U+FFFD, one per byte.
    [".", new Uint8Array([0xff]), true],
    ["\\x{FFFD}", new Uint8Array([0xc3]), true],
    ["\\x{FFFD}{2}", new Uint8Array([0xe2, 0x82]), true],
    ["\\x{FFFD}{3}", new Uint8Array([0xed, 0xa0, 0x80]), true],
    ["a.b", new Uint8Array([0x61, 0xc0, 0x62]), true],
    // Lazy forms: the same whole-value match.
    ["a+?", "aaa", true],
    ["a{2,3}?", "aaa", true],
    ["(a|ab)(c|bcd)(d*)", "abcd", true],
    // Counts.
    ["a{3}", "aaa", true],
    ["a{3}", "aaaa", false],
    ["a{2,}", "aaaaaaa", true],
    ["a{0}", "", true],
    ["(ab){1,2}", "abab", true],
    ["(ab){1,2}", "ababab", false],
    // Empty loops end.
    ["(a*)*", "aaaa", true],
    ["(a*)+b", "aaab", true],
    ["(|a)*", "aa", true],
    // Punctuation escapes and literal "]" and "}".
    ["\\!\\-\\,", "!-,", true],
    ["a]", "a]", true],
    ["a}", "a}", true],
    ["[\\]\\-]+", "]-]", true],
    ["[-a]", "-", true],
    ["[a-]", "-", true],
    ["\\a\\f\\v", "\u0007\f\v", true],
  ];
  for (const [pattern, value, want] of cases) {
    it(`${JSON.stringify(pattern)} ${want ? "matches" : "does not match"} ${typeof value === "string" ? JSON.stringify(value) : `bytes ${[...value].map((b) => b.toString(16)).join(" ")}`}`, () => {
      const size = guest.compile(pattern);
      assert.equal(typeof size, "number", String(size));
      assert.equal(guest.matches(value), want);
    });
  }

  const refusals: Array<[string, string]> = [
    [
      "a\\1",
      "at character 2: backreferences and octal escapes are not supported",
    ],
    [
      "\\0",
      "at character 1: backreferences and octal escapes are not supported",
    ],
    ["(?P=n)", "at character 1: backreferences are not supported"],
    ["\\k<n>", "at character 1: backreferences are not supported"],
    ["a(?=b)", "at character 2: lookahead (?= (?! is not supported"],
    ["a(?!b)", "at character 2: lookahead (?= (?! is not supported"],
    ["(?<=a)b", "at character 1: lookbehind (?<= (?<! is not supported"],
    ["(?<!a)b", "at character 1: lookbehind (?<= (?<! is not supported"],
    ["\\p{L}", "at character 1: Unicode classes \\p{…} are not supported"],
    ["\\PL", "at character 1: Unicode classes \\p{…} are not supported"],
    ["a\\b", "at character 2: word boundaries \\b \\B are not supported"],
    [
      "\\Aa\\z",
      "at character 1: \\A and \\z are not supported (a pattern matches the whole value)",
    ],
    [
      "a^b",
      'at character 2: "^" is only supported at the start (a pattern matches the whole value)',
    ],
    [
      "a$b",
      'at character 2: "$" is only supported at the end (a pattern matches the whole value)',
    ],
    [
      "(?s)a",
      "at character 1: flags and other (? groups are not supported (only (?i) at the start, (?: and named groups)",
    ],
    ["a(?i)b", "at character 2: (?i) is only supported at the start"],
    [
      "(?i:a)",
      "at character 1: flags and other (? groups are not supported (only (?i) at the start, (?: and named groups)",
    ],
    [
      "(?P<>a)",
      "at character 1: a group name must be letters, digits or _, in <…>",
    ],
    ["(?Px)", "at character 1: a group name must be in <…>"],
    ["*a", "at character 1: nothing to repeat"],
    ["a|?", "at character 3: nothing to repeat"],
    ["a**", "at character 3: a repetition cannot be repeated (use a group)"],
    ["a*+", "at character 3: possessive repetition is not supported"],
    [
      "a{2}{3}",
      "at character 5: a repetition cannot be repeated (use a group)",
    ],
    [
      "a{",
      'at character 2: "{" must start a count {n}, {n,} or {n,m} after what it repeats (a literal one: \\{)',
    ],
    [
      "a{x}",
      'at character 2: "{" must start a count {n}, {n,} or {n,m} after what it repeats (a literal one: \\{)',
    ],
    [
      "a{,3}",
      'at character 2: "{" must start a count {n}, {n,} or {n,m} after what it repeats (a literal one: \\{)',
    ],
    [
      "{2}",
      'at character 1: "{" must start a count {n}, {n,} or {n,m} after what it repeats (a literal one: \\{)',
    ],
    ["a{1001}", "at character 2: a count must be at most 1000"],
    ["a{3,2}", "at character 2: a count {n,m} needs n <= m"],
    ["(a", 'at character 1: missing ")"'],
    ["a)", 'at character 2: unmatched ")"'],
    ["[a", 'at character 1: missing "]"'],
    [
      "[]a]",
      'at character 1: a class cannot be empty (escape a literal "]" in it: \\])',
    ],
    [
      "[^]",
      'at character 1: a class cannot be empty (escape a literal "]" in it: \\])',
    ],
    ["[[:alpha:]]", "at character 2: POSIX classes [:…:] are not supported"],
    ["[z-a]", "at character 2: a range out of order"],
    ["[\\d-z]", "at character 2: a range cannot start with a class"],
    ["[a-\\d]", "at character 4: a range cannot end with a class"],
    ["a\\", "at character 2: a pattern cannot end with \\"],
    ["\\q", "at character 1: unknown escape \\q"],
    ["\\u0041", "at character 1: unknown escape \\u"],
    ["\\x4", "at character 1: \\x must be followed by two hex digits or {…}"],
    [
      "\\x{110000}",
      "at character 1: \\x{…} must hold a code point in hex, at most 10FFFF",
    ],
    ["😀\\q", "at character 2: unknown escape \\q"],
    ["a\\😀", "at character 2: unknown escape \\😀"],
    ["a\\é", "at character 2: unknown escape \\é"],
    ["a".repeat(1025), "must be at most 1024 characters"],
    [
      "a{120}b{8}",
      "is too large: more than 128 steps when compiled (lower the counts of {n,m})",
    ],
    [
      "((((a{10}){10}){10}){10}){10}",
      "is too large: more than 128 steps when compiled (lower the counts of {n,m})",
    ],
    [
      "(".repeat(65) + ")".repeat(65),
      "at character 65: groups nested deeper than 64",
    ],
  ];
  for (const [pattern, error] of refusals) {
    it(`refuses ${pattern.length > 40 ? pattern.slice(0, 40) + "…" : pattern}: ${error}`, () => {
      assert.equal(guest.compile(pattern), error);
    });
  }

  it("takes the largest program and the deepest nesting allowed", () => {
    assert.equal(guest.compile("a{127}"), 128);
    assert.equal(
      typeof guest.compile("(".repeat(64) + ")".repeat(64)),
      "number",
    );
    assert.equal(guest.matches(""), true);
  });
});

describe("regex: memory and cost", () => {
  it("matches without growing memory, on long and hostile values", () => {
    assert.equal(typeof guest.compile("(a*)*(a|b)*c(x|y|z|.)*d"), "number");
    const long = "ab".repeat(8192);
    guest.matches(long);
    const bytes = guest.x.memoryBytes();
    for (let i = 0; i < 10; i++) {
      assert.equal(guest.matches(long), false);
      assert.equal(guest.matches(long + "c" + "x".repeat(1000) + "d"), true);
    }
    assert.equal(guest.x.memoryBytes(), bytes, "memory grew while matching");
  });

  it("measures the cost per character (printed, not asserted)", (t) => {
    const lines: string[] = [];
    const path = "/api/v1/orders/" + "0123456789abcdef".repeat(15);
    const hostile = "a".repeat(60 * 1024);
    const cases: Array<[string, string]> = [
      ["/api/v1/orders/.*", path],
      ["/api/v[0-9]+/(orders|items)/[0-9a-f]+", path],
      [
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "123e4567-e89b-12d3-a456-426614174000",
      ],
      // every state of a 64-instruction program alive at each character
      ["(a*){31}", hostile],
      // a program near the largest, every state alive at each character
      [".*(a.*){31}", hostile],
    ];
    for (const [pattern, text] of cases) {
      const size = guest.compile(pattern);
      const value = encoder.encode(text);
      const runs = Math.max(3, Math.floor(200000 / value.length));
      for (let i = 0; i < runs; i++) guest.x.matches(guest.put(value));
      const start = process.hrtime.bigint();
      for (let i = 0; i < runs; i++) guest.x.matches(guest.put(value));
      const ns = Number(process.hrtime.bigint() - start) / runs;
      lines.push(
        `${JSON.stringify(pattern)} (${size} instructions) on ${value.length} bytes: ${(ns / 1000).toFixed(1)} µs, ${(ns / value.length).toFixed(1)} ns per byte`,
      );
    }
    t.diagnostic(lines.join("\n"));
    console.log(lines.join("\n"));
  });
});
