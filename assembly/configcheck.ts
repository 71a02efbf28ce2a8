// The config checker: the error messages, the Checker that collects every error of a plugin
// configuration as "<field.path>: <reason>", the suggestion of a known field name for an unknown
// one (edit distance), and the character classes of names and values. Pure.

import { CharBuf, JsonKind, JsonValue } from "./json";
import { decimal } from "./text";

// Error messages, in one place.
export const E_EMPTY = "is empty: a plugin configuration is required";
export const E_MALFORMED = "is not valid JSON: ";
export const E_UNKNOWN = "unknown field";
export const E_TARGET_FIELD_AT_TOP =
  "unknown field at the top level (a target field: set it in each target)";
export const E_REQUIRED = "is required";
export const E_OBJECT = "must be an object, got ";
export const E_ARRAY = "must be an array, got ";
export const E_STRING = "must be a string, got ";
export const E_NUMBER = "must be a number, got ";
export const E_INTEGER = "must be a whole number, got ";
export const E_NON_EMPTY = "must not be empty";
export const E_PERCENT_RANGE = "must be between 0 and 100, got ";
export const E_PERCENT_DECIMALS = "must have at most 4 decimal places, got ";
export const E_BOTH_FORMS =
  'cannot be combined with the shorthand "cluster" at the top level';
export const E_SUFFIX_AND_AUTHORITY = "cannot be combined with authority";
export const E_KEY_FORM =
  'must be "header:NAME", "cookie:NAME", "query:NAME" or "path", got ';
export const E_INBOUND = 'must be "skip" or "strip", got ';
export const E_HEADER_NAME =
  "must be a valid lower-case HTTP header name, got ";
export const E_PSEUDO =
  "must not be a pseudo-header, a hop-by-hop header or content-length, got ";
export const E_MARKER_ADDED =
  "must not be the marker header (marker.value sets it)";
export const E_METHOD = "must be an upper-case HTTP method token, got ";
export const E_PATH_PREFIX = 'must start with "/", got ';
export const E_VALUE_CHARS = "must not contain control characters";
export const E_AUTHORITY = "must be a host[:port] without spaces, got ";
export const E_BOOL = "must be true or false, got ";
export const E_TOO_LONG = "must be at most 1024 characters";
export const E_CONFIG_TOO_LARGE = "is larger than 1 MiB";
export const E_COMPARE_STATUS = 'must be "exact", "class" or "off", got ';
export const E_COMPARE_BODY =
  'must be false, "exact" or "json" (true means "exact"), got ';
export const E_IGNORE_NEEDS_JSON = 'needs compare.body "json"';
export const E_TOO_MANY_TARGETS = "must have at most 64 targets, got ";
export const E_DUPLICATE_CLUSTER = "is already the cluster of ";
export const E_SAME_LABEL = "would have the same mirror_target label as ";
export const E_LABEL_TAKEN = "is already the label of ";
export const E_OVERRIDE_FORM = 'must be "header:NAME" or "query:NAME", got ';
export const E_BUDGET_BELOW_BODY = "must be at least max_body_bytes (";
export const E_RPS =
  "must be a number greater than 0 and at most 1000000, got ";
export const E_LONE_SURROGATE =
  "must be valid Unicode (a lone surrogate escape)";
export const E_CLUSTER_FORMS = "cannot be combined with cluster (give one)";
export const E_CLUSTER_COUNT = "must have 1 to 4 names, got ";
export const E_CLUSTER_REPEATED = "is already ";
export const E_MATCH_FORM = "must be an object or an array of objects, got ";
export const E_MATCH_COUNT = "must have 1 to 16 objects, got ";
export const E_ONE_PATH = "cannot be combined with ";
export const E_PATH_QUERY =
  'must not contain "?" or "#" (the path is matched without its query)';
export const E_VALUE_FORM =
  'must be a string (exact value) or an object {"exact": "…"} or {"regex": "…"}, got ';
export const E_VALUE_ONE_FORM = 'must have exactly one of "exact" and "regex"';
export const E_QUERY_NAME =
  'must be a query parameter name (no "&", "=" or "#"), got ';

/** Errors listed per configuration; the rest are counted in one last line. */
export const MAX_ERRORS: i32 = 32;
/** Longest cluster name or label accepted (Istio's cluster names are well under 200). */
export const MAX_NAME_LENGTH: i32 = 1024;

/** Hop-by-hop headers: never copied, never added (RFC 9110 §7.6.1). */
export const HOP_BY_HOP: string[] = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
];

/**
 * Collects the errors of a configuration, in the order the parser meets them: a field's first
 * error ends that field's checks, never its siblings'.
 */
export class Checker {
  errors: string[] = [];
  /** errors beyond MAX_ERRORS, counted only */
  more: i32 = 0;
  /** missing fields an unknown member was taken for, counted only (see `missing`) */
  private silent: i32 = 0;
  /** the paths of the fields suggested for unknown members */
  private suggested: string[] = [];

  fail(path: string, reason: string): bool {
    if (this.errors.length < MAX_ERRORS) this.errors.push(path + ": " + reason);
    else this.more++;
    return false;
  }

  ok(): bool {
    return this.errors.length == 0;
  }

  /** Errors so far: a section compares it before and after a check. */
  count(): i32 {
    return this.errors.length + this.more + this.silent;
  }

  /**
   * A required field is missing: an error, not reported when an unknown member was already taken
   * for it (`percentge: unknown field (did you mean "percentage"?)` says it all).
   */
  missing(path: string): bool {
    if (!this.suggested.includes(path)) return this.fail(path, E_REQUIRED);
    this.silent++;
    return false;
  }

  /**
   * Refuses every member of `obj` not in `allowed`, with the nearest allowed name when one is
   * close (`targets[0].percentge: unknown field (did you mean "percentage"?)`), else the list of
   * known ones. A member of `targetFields` (at the top level next to "targets") is told where
   * it belongs. True when there is none.
   */
  known(
    obj: JsonValue,
    path: string,
    allowed: string[],
    targetFields: string[] = [],
  ): bool {
    let ok = true;
    for (let i = 0; i < obj.keys.length; i++) {
      const key = obj.keys[i];
      if (allowed.includes(key)) continue;
      const near = nearestName(key, allowed);
      if (near.length > 0) this.suggested.push(join(path, near));
      ok = this.fail(
        join(path, key),
        targetFields.includes(key)
          ? E_TARGET_FIELD_AT_TOP
          : near.length == 0
            ? E_UNKNOWN + " (known: " + allowed.join(", ") + ")"
            : E_UNKNOWN + ' (did you mean "' + near + '"?)',
      );
    }
    return ok;
  }

  isObject(v: JsonValue, path: string): bool {
    return v.kind == JsonKind.Object || this.fail(path, E_OBJECT + kindOf(v));
  }

  isArray(v: JsonValue, path: string): bool {
    return v.kind == JsonKind.Array || this.fail(path, E_ARRAY + kindOf(v));
  }

  isString(v: JsonValue, path: string): bool {
    if (v.kind != JsonKind.String) return this.fail(path, E_STRING + kindOf(v));
    if (hasControl(v.str)) return this.fail(path, E_VALUE_CHARS);
    return true;
  }

  isNonEmptyString(v: JsonValue, path: string): bool {
    if (!this.isString(v, path)) return false;
    return v.str.length > 0 || this.fail(path, E_NON_EMPTY);
  }

  /** A cluster name or a label: a non-empty string of at most MAX_NAME_LENGTH. */
  isName(v: JsonValue, path: string): bool {
    if (!this.isNonEmptyString(v, path)) return false;
    return v.str.length <= MAX_NAME_LENGTH || this.fail(path, E_TOO_LONG);
  }

  /** A whole number in [min, max]. */
  isInteger(v: JsonValue, path: string, min: f64, max: f64): bool {
    if (v.kind != JsonKind.Number) return this.fail(path, E_NUMBER + kindOf(v));
    if (Math.floor(v.num) != v.num) return this.fail(path, E_INTEGER + v.raw);
    if (v.num < min || v.num > max) {
      return this.fail(
        path,
        "must be between " +
          decimal(i64(min)) +
          " and " +
          decimal(i64(max)) +
          ", got " +
          v.raw,
      );
    }
    return true;
  }

  headerName(v: JsonValue, path: string): bool {
    if (!this.isNonEmptyString(v, path)) return false;
    if (!isHeaderName(v.str))
      return this.fail(path, E_HEADER_NAME + v.describe());
    return true;
  }

  /** A header the copy may add or remove: no pseudo-header, no hop-by-hop. */
  editableHeader(v: JsonValue, path: string): bool {
    if (v.kind == JsonKind.String && v.str.startsWith(":")) {
      return this.fail(path, E_PSEUDO + v.describe());
    }
    if (!this.headerName(v, path)) return false;
    if (HOP_BY_HOP.includes(v.str))
      return this.fail(path, E_PSEUDO + v.describe());
    return true;
  }

  pathPrefix(v: JsonValue, path: string): bool {
    if (!this.isNonEmptyString(v, path)) return false;
    return (
      v.str.startsWith("/") || this.fail(path, E_PATH_PREFIX + v.describe())
    );
  }

  method(v: JsonValue, path: string): bool {
    if (!this.isNonEmptyString(v, path)) return false;
    return isMethod(v.str) || this.fail(path, E_METHOD + v.describe());
  }

  /** An array of methods, each checked; the valid ones, once each, into `out`. */
  methodList(v: JsonValue, path: string, out: string[]): bool {
    if (!this.isArray(v, path)) return false;
    let ok = true;
    for (let i = 0; i < v.items.length; i++) {
      const m = v.items[i];
      if (!this.method(m, index(path, i))) ok = false;
      else if (!out.includes(m.str)) out.push(m.str);
    }
    return ok;
  }
}

/**
 * The name of `names` nearest to `key` (ASCII case ignored; a swap of two neighbours counts as one
 * edit), or "" when none is within max(1, len/3) edits of it: a suggestion, never a guess.
 */
function nearestName(key: string, names: string[]): string {
  const n = key.length;
  if (n == 0 || n > 64) return "";
  const limit = max<i32>(1, n / 3);
  let best = "";
  let bestDistance = limit + 1;
  for (let i = 0; i < names.length; i++) {
    const d = editDistance(key, names[i]);
    if (d < bestDistance) {
      best = names[i];
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal-string-alignment distance between `a` and `b`, ASCII case ignored. */
function editDistance(a: string, b: string): i32 {
  const n = a.length;
  const m = b.length;
  // Three rows of the DP table: i-2, i-1 and i.
  let before = new Array<i32>(m + 1);
  let prev = new Array<i32>(m + 1);
  let row = new Array<i32>(m + 1);
  for (let j = 0; j <= m; j++) prev[j] = j;
  for (let i = 1; i <= n; i++) {
    row[0] = i;
    const ca = lowerAscii(a.charCodeAt(i - 1));
    for (let j = 1; j <= m; j++) {
      const cb = lowerAscii(b.charCodeAt(j - 1));
      let d = min<i32>(prev[j] + 1, row[j - 1] + 1);
      d = min<i32>(d, prev[j - 1] + (ca == cb ? 0 : 1));
      if (
        i > 1 &&
        j > 1 &&
        ca == lowerAscii(b.charCodeAt(j - 2)) &&
        lowerAscii(a.charCodeAt(i - 2)) == cb
      ) {
        d = min<i32>(d, before[j - 2] + 1);
      }
      row[j] = d;
    }
    const spare = before;
    before = prev;
    prev = row;
    row = spare;
  }
  return prev[m];
}

function lowerAscii(c: i32): i32 {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

/** `path[i]`: an element's path. */
export function index(path: string, i: i32): string {
  return path + "[" + decimal(i) + "]";
}

/** `path.key`: a member's path. */
export function join(path: string, key: string): string {
  // A member name that is not a plain word is quoted, so the path stays
  // unambiguous: `targets[0]."": unknown field`, `"sampling.": unknown field`.
  const k = isPlainName(key) ? key : '"' + key + '"';
  return path.length == 0 ? k : path + "." + k;
}

/** A–Z, a–z, 0–9, "-" and "_": a member name that needs no quoting in a field path. */
function isWordChar(c: i32): bool {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c == 0x2d ||
    c == 0x5f
  );
}

function isPlainName(key: string): bool {
  if (key.length == 0) return false;
  for (let i = 0; i < key.length; i++) {
    if (!isWordChar(key.charCodeAt(i))) return false;
  }
  return true;
}

export function kindOf(v: JsonValue): string {
  switch (v.kind) {
    case JsonKind.Null:
      return "null";
    case JsonKind.Bool:
      return "a boolean";
    case JsonKind.Number:
      return "a number";
    case JsonKind.String:
      return "a string";
    case JsonKind.Array:
      return "an array";
    default:
      return "an object";
  }
}

function hasControl(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

/** RFC 9110 token characters, lower-case letters only (HTTP/2 field names). */
export function isHeaderName(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x30 && c <= 0x39) ||
      c == 0x2d ||
      c == 0x5f ||
      c == 0x2e ||
      c == 0x21 ||
      c == 0x23 ||
      c == 0x24 ||
      c == 0x25 ||
      c == 0x26 ||
      c == 0x27 ||
      c == 0x2a ||
      c == 0x2b ||
      c == 0x5e ||
      c == 0x60 ||
      c == 0x7c ||
      c == 0x7e;
    if (!ok) return false;
  }
  return true;
}

function isMethod(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x30 && c <= 0x39) ||
      c == 0x2d ||
      c == 0x5f;
    if (!ok) return false;
  }
  return true;
}

export function isAuthority(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (
      c <= 0x20 ||
      c >= 0x7f ||
      c == 0x2f ||
      c == 0x3f ||
      c == 0x23 ||
      c == 0x40
    )
      return false;
  }
  return true;
}

/** Lower-cases A–Z only: header names are ASCII tokens (and this keeps the
 * Unicode case tables out of the module). */
export function asciiLower(s: string): string {
  let upper = false;
  for (let i = 0; i < s.length && !upper; i++) {
    const c = s.charCodeAt(i);
    upper = c >= 0x41 && c <= 0x5a;
  }
  if (!upper) return s;
  const out = new CharBuf();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out.push(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
  }
  return out.toString();
}

/**
 * Decimal places of a JSON number as written ("10.5" → 1, "1e-4" → 4,
 * "0.25e2" → 0), so that no float rounding can let 10.00000000001 through.
 */
export function decimalPlaces(raw: string): i32 {
  let e = raw.indexOf("e");
  if (e < 0) e = raw.indexOf("E");
  const mantissa = e < 0 ? raw : raw.substring(0, e);
  const exponent = e < 0 ? 0 : exponentOf(raw, e + 1);
  const dot = mantissa.indexOf(".");
  let places = dot < 0 ? 0 : mantissa.length - dot - 1;
  // trailing zeros are not decimal places: "10.50" has one, "100e-4" two
  let end = mantissa.length;
  while (end > 0) {
    const c = mantissa.charCodeAt(end - 1);
    if (c == 0x30) places--;
    else if (c != 0x2e) break;
    end--;
  }
  places -= exponent;
  return places > 0 ? places : 0;
}

/**
 * The exponent of a JSON number's text from `at` (`[+-]?digits`), read as I32.parseInt reads it
 * (in 32-bit arithmetic).
 */
function exponentOf(raw: string, at: i32): i32 {
  let sign: i32 = 1;
  const c = raw.charCodeAt(at);
  if (c == 0x2b || c == 0x2d) {
    if (c == 0x2d) sign = -1;
    at++;
  }
  let x: i32 = 0;
  for (; at < raw.length; at++) x = x * 10 + (raw.charCodeAt(at) - 0x30);
  return sign * x;
}

/** A lone UTF-16 surrogate (from a \\uD800-style escape): not valid Unicode text. */
export function hasLoneSurrogate(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const n = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (n < 0xdc00 || n > 0xdfff) return true;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

export function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

export function bufEqual(a: ArrayBuffer, b: ArrayBuffer): bool {
  return (
    a.byteLength == b.byteLength &&
    memory.compare(changetype<usize>(a), changetype<usize>(b), a.byteLength) ==
      0
  );
}

/** A JSON string value, for the checks of a name given as a member key. */
export function stringValue(s: string): JsonValue {
  const v = new JsonValue();
  v.kind = JsonKind.String;
  v.str = s;
  return v;
}
