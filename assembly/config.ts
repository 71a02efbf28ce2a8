// Plugin JSON → Config, or an error naming the field and the reason.
// Every default lives here, once. Everything the request path needs (lower-cased
// names, their UTF-8 bytes, thresholds) is computed here, at configure time.

import { CharBuf, JsonKind, JsonValue, parseJson } from "./json";
import { decimal } from "./text";
import {
  IgnoreRules,
  compileIgnore,
  digestFootprint,
  SKETCH_SLOTS,
  ignoreError,
} from "./jsondigest";
import { tagValue } from "./metrics";
import { thresholdOf } from "./sampler";

// Error messages, in one place.
const E_EMPTY = "is empty: a plugin configuration is required";
const E_MALFORMED = "is not valid JSON: ";
const E_UNKNOWN = "unknown field";
const E_REQUIRED = "is required";
const E_OBJECT = "must be an object, got ";
const E_ARRAY = "must be an array, got ";
const E_STRING = "must be a string, got ";
const E_NUMBER = "must be a number, got ";
const E_INTEGER = "must be a whole number, got ";
const E_NON_EMPTY = "must not be empty";
const E_PERCENT_RANGE = "must be between 0 and 100, got ";
const E_PERCENT_DECIMALS = "must have at most 4 decimal places, got ";
const E_BOTH_FORMS =
  'cannot be combined with the shorthand "cluster" at the top level';
const E_SUFFIX_AND_AUTHORITY = "cannot be combined with authority";
const E_KEY_FORM =
  'must be "header:NAME", "cookie:NAME", "query:NAME" or "path", got ';
const E_INBOUND = 'must be "skip" or "strip", got ';
const E_HEADER_NAME = "must be a valid lower-case HTTP header name, got ";
const E_PSEUDO =
  "must not be a pseudo-header, a hop-by-hop header or content-length, got ";
const E_MARKER_ADDED = "must not be the marker header (marker.value sets it)";
const E_METHOD = "must be an upper-case HTTP method token, got ";
const E_PATH_PREFIX = 'must start with "/", got ';
const E_VALUE_CHARS = "must not contain control characters";
const E_AUTHORITY = "must be a host[:port] without spaces, got ";
const E_BOOL = "must be true or false, got ";
const E_TOO_LONG = "must be at most 1024 characters";
const E_CONFIG_TOO_LARGE = "is larger than 1 MiB";
const E_COMPARE_STATUS = 'must be "exact", "class" or "off", got ';
const E_COMPARE_BODY =
  'must be false, "exact" or "json" (true means "exact"), got ';
const E_IGNORE_NEEDS_JSON = 'needs compare.body "json"';
const E_TOO_MANY_TARGETS = "must have at most 64 targets, got ";
const E_DUPLICATE_CLUSTER = "is already the cluster of ";
const E_SAME_LABEL = "would have the same mirror_target label as ";
const E_OVERRIDE_FORM = 'must be "header:NAME" or "query:NAME", got ';
const E_BUDGET_BELOW_BODY = "must be at least max_body_bytes (";
const E_RPS = "must be a number greater than 0 and at most 1000000, got ";
const E_SECOND_BASELINE = "a config has at most one baseline, and ";
const E_BASELINE_PERCENTAGE =
  "must be the percentage of the baseline (it gets the same copies), ";
const E_BASELINE_SALT =
  "must be the salt of the baseline (it gets the same copies), ";

/** Longest cluster name accepted (Istio's are well under 200). */
export const MAX_NAME_LENGTH: i32 = 1024;
/** Largest plugin configuration accepted, in UTF-16 units. */
export const MAX_CONFIG_LENGTH: i32 = 1 << 20;
export const DEFAULT_TIMEOUT_MS: u32 = 5000;
export const MAX_TIMEOUT_MS: u32 = 600000;
export const DEFAULT_MAX_BODY_BYTES: u32 = 65536;
export const MAX_BODY_BYTES_LIMIT: u32 = 16777216;
/** Copies in progress per VM: with Envoy's async response limit, it bounds what Envoy holds for dark answers. */
export const DEFAULT_MAX_INFLIGHT: u32 = 50;
export const MAX_INFLIGHT_LIMIT: u32 = 100000;
/** Targets per configuration: each costs a match check per request and its metrics. */
export const MAX_TARGETS: i32 = 64;
/**
 * The VM-wide memory budget for copies in progress. The VM's linear memory stays within about
 * twice the budget plus max_body_bytes (README, "Memory"), far below Envoy's 1 GiB cap per VM.
 */
export const DEFAULT_MAX_BUFFERED_BYTES: u32 = 32 << 20;
export const MIN_MAX_BUFFERED_BYTES: u32 = 64 << 10;
export const MAX_BUFFERED_BYTES_LIMIT: u32 = 256 << 20;
export const DEFAULT_COMPARE_MAX_BODY_BYTES: u32 = 1 << 20;
export const COMPARE_MAX_BODY_BYTES_LIMIT: u32 = 1 << 30;
export const DEFAULT_SAMPLES_PER_SECOND: f64 = 1;
/** Method-override sources checked by default (frameworks that honour them perform the write). */
export const DEFAULT_METHOD_OVERRIDES: string[] = [
  "header:x-http-method-override",
  "header:x-http-method",
  "header:x-method-override",
  "query:_method",
];

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

export enum KeySource {
  Header,
  Cookie,
  Query,
  Path,
}

/** One entry of sampling.keys. */
export class SamplingKey {
  source: KeySource = KeySource.Header;
  /** header name (lower-case), cookie name or query parameter name */
  name: string = "";
  nameBytes: ArrayBuffer = new ArrayBuffer(0);
}

/** match.headers entry: exact value. */
export class HeaderMatch {
  name: string = "";
  nameBytes: ArrayBuffer = new ArrayBuffer(0);
  value: ArrayBuffer = new ArrayBuffer(0);
}

/** A header to add to the copy. */
export class HeaderValue {
  name: string = "";
  value: string = "";
  nameBytes: ArrayBuffer = new ArrayBuffer(0);
  valueBytes: ArrayBuffer = new ArrayBuffer(0);
}

/** One mirror target. */
export class Target {
  cluster: string = "";
  clusterBytes: ArrayBuffer = new ArrayBuffer(0);
  /** the cluster name as the value of the metrics' mirror_target label */
  statName: string = "";
  percentage: f64 = 0;
  /** as the config spells it */
  percentageText: string = "";
  /** round(percentage × 10000): keys with a bucket below it are mirrored */
  threshold: u32 = 0;
  salt: string = "";
  /** utf8(salt + ":"), the hashed prefix of every key */
  saltPrefix: ArrayBuffer = new ArrayBuffer(0);
  timeoutMs: u32 = DEFAULT_TIMEOUT_MS;
  authority: string | null = null;
  /** utf8(authority), empty when unset */
  authorityBytes: ArrayBuffer = new ArrayBuffer(0);
  hostSuffix: string = "";
  hostSuffixBytes: ArrayBuffer = new ArrayBuffer(0);
  pathPrefix: string = "";
  pathPrefixBytes: ArrayBuffer = new ArrayBuffer(0);
  matchHeaders: HeaderMatch[] = [];
  /** copies per second per VM (token bucket); 0: no cap */
  maxRps: f64 = 0;
  /** a second instance of the live version: the other targets are judged against it too */
  baseline: bool = false;
  /** index of this target's salt among the config's distinct salts (one bucket each) */
  saltGroup: i32 = 0;
}

/** An opt-in exception: these methods are mirrored under this path prefix. */
export class UnsafePath {
  methods: string[] = [];
  methodBytes: ArrayBuffer[] = [];
  pathPrefix: string = "";
  pathPrefixBytes: ArrayBuffer = new ArrayBuffer(0);
}

/** How live and dark bodies are compared. */
export enum BodyCompare {
  Off,
  /** XXH64 of the bytes */
  Exact,
  /** canonical JSON digest (jsondigest.ts), compare.ignore applied */
  Json,
}

/** How live and dark statuses are compared. */
export enum StatusCompare {
  Exact,
  Class,
  Off,
}

/** The checked plugin configuration. */
export class Config {
  targets: Target[] = [];
  keys: SamplingKey[] = [];
  methods: string[] = ["GET", "HEAD", "OPTIONS"];
  methodBytes: ArrayBuffer[] = [];
  unsafePaths: UnsafePath[] = [];
  markerHeader: string = "x-shadow";
  markerHeaderBytes: ArrayBuffer = new ArrayBuffer(0);
  markerValue: string = "true";
  markerValueBytes: ArrayBuffer = new ArrayBuffer(0);
  /** inbound "strip": remove a client-supplied marker instead of skipping */
  markerStrip: bool = false;
  addHeaders: HeaderValue[] = [];
  /** the names of addHeaders, as bytes */
  addNameBytes: ArrayBuffer[] = [];
  removeHeaders: string[] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-forwarded-client-cert",
  ];
  removeHeaderBytes: ArrayBuffer[] = [];
  maxBodyBytes: u32 = DEFAULT_MAX_BODY_BYTES;
  maxInflight: u32 = DEFAULT_MAX_INFLIGHT;
  maxBufferedBytes: u32 = DEFAULT_MAX_BUFFERED_BYTES;
  /** where a method override may be written (header or query parameter) */
  methodOverrides: SamplingKey[] = [];
  /** distinct salt prefixes of the targets, utf8(salt + ":"), in saltGroup order */
  saltPrefixes: ArrayBuffer[] = [];
  compareStatus: StatusCompare = StatusCompare.Exact;
  compareBody: BodyCompare = BodyCompare.Off;
  /** compare.ignore, compiled (body "json" only) */
  ignoreRules: IgnoreRules | null = null;
  /** bodies over this are not compared */
  compareMaxBodyBytes: u32 = DEFAULT_COMPARE_MAX_BODY_BYTES;
  /** response headers compared by value (lower-case names) */
  compareHeaders: string[] = [];
  compareHeaderBytes: ArrayBuffer[] = [];
  /** mismatch log lines per second per target (0: none) */
  samplesPerSecond: f64 = DEFAULT_SAMPLES_PER_SECOND;
  /** the sample log line keeps the query string of the path */
  sampleQuery: bool = false;
  /** a live status listed here is not judged (counted as not_compared ignored_status) */
  ignoreStatuses: i32[] = [];
  /** bytes one JSON digest holds (counted in the memory budget per comparison) */
  digestBytes: u32 = 0;
  /** the index of the baseline target, -1 when there is none */
  baseline: i32 = -1;
}

/**
 * parseConfig's answer: a config, or null and `error` ("<field>: <reason>"); `warnings` name
 * what an accepted config will never do (e.g. a target at 0 %).
 */
export class ConfigResult {
  config: Config | null = null;
  error: string = "";
  warnings: string[] = [];
}

class Checker {
  error: string = "";

  fail(path: string, reason: string): bool {
    if (this.error.length == 0) this.error = path + ": " + reason;
    return false;
  }

  ok(): bool {
    return this.error.length == 0;
  }

  /**
   * Refuses any member of `obj` not in `allowed`, suggesting the nearest allowed name when one is
   * close: `targets[0].percentge: unknown field (did you mean "percentage"?)`.
   */
  known(obj: JsonValue, path: string, allowed: string[]): bool {
    for (let i = 0; i < obj.keys.length; i++) {
      const key = obj.keys[i];
      if (!allowed.includes(key)) {
        const near = nearestName(key, allowed);
        return this.fail(
          join(path, key),
          near.length == 0
            ? E_UNKNOWN
            : E_UNKNOWN + ' (did you mean "' + near + '"?)',
        );
      }
    }
    return true;
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

  methodList(v: JsonValue, path: string, out: string[]): bool {
    if (!this.isArray(v, path)) return false;
    for (let i = 0; i < v.items.length; i++) {
      const p = index(path, i);
      const m = v.items[i];
      if (!this.isNonEmptyString(m, p)) return false;
      if (!isMethod(m.str)) return this.fail(p, E_METHOD + m.describe());
      if (!out.includes(m.str)) out.push(m.str);
    }
    return true;
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
function index(path: string, i: i32): string {
  return path + "[" + decimal(i) + "]";
}

function join(path: string, key: string): string {
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

function kindOf(v: JsonValue): string {
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
function isHeaderName(s: string): bool {
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

function isAuthority(s: string): bool {
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

function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

const TOP_FIELDS = [
  "targets",
  "sampling",
  "methods",
  "method_override",
  "unsafe_paths",
  "marker",
  "headers",
  "max_body_bytes",
  "max_inflight",
  "max_buffered_bytes",
  "compare",
];
const SHORTHAND_FIELDS = [
  "cluster",
  "percentage",
  "salt",
  "timeout_ms",
  "authority",
  "host_suffix",
  "match",
  "max_rps",
  "baseline",
];
const COMPARE_FIELDS = [
  "status",
  "body",
  "ignore",
  "ignore_statuses",
  "headers",
  "max_body_bytes",
  "samples_per_second",
  "sample_query",
];

function parseTarget(
  c: Checker,
  v: JsonValue,
  path: string,
  defaultSalt: string,
): Target | null {
  const t = new Target();
  const cluster = v.get("cluster");
  if (cluster === null) {
    c.fail(join(path, "cluster"), E_REQUIRED);
    return null;
  }
  if (!c.isNonEmptyString(cluster, join(path, "cluster"))) return null;
  if (cluster.str.length > MAX_NAME_LENGTH) {
    c.fail(join(path, "cluster"), E_TOO_LONG);
    return null;
  }
  t.cluster = cluster.str;
  t.clusterBytes = utf8(cluster.str);
  t.statName = tagValue(cluster.str);

  const pct = v.get("percentage");
  const pctPath = join(path, "percentage");
  if (pct === null) {
    c.fail(pctPath, E_REQUIRED);
    return null;
  }
  if (pct.kind != JsonKind.Number) {
    c.fail(pctPath, E_NUMBER + kindOf(pct));
    return null;
  }
  if (!(pct.num >= 0 && pct.num <= 100)) {
    c.fail(pctPath, E_PERCENT_RANGE + pct.raw);
    return null;
  }
  if (decimalPlaces(pct.raw) > 4) {
    c.fail(pctPath, E_PERCENT_DECIMALS + pct.raw);
    return null;
  }
  t.percentage = pct.num;
  t.percentageText = pct.raw;
  t.threshold = thresholdOf(pct.num);

  t.salt = defaultSalt;
  const salt = v.get("salt");
  if (salt !== null) {
    if (!c.isString(salt, join(path, "salt"))) return null;
    t.salt = salt.str;
  }
  t.saltPrefix = utf8(t.salt + ":");

  const timeout = v.get("timeout_ms");
  if (timeout !== null) {
    if (!c.isInteger(timeout, join(path, "timeout_ms"), 1, <f64>MAX_TIMEOUT_MS))
      return null;
    t.timeoutMs = <u32>timeout.num;
  }

  const authority = v.get("authority");
  if (authority !== null) {
    const p = join(path, "authority");
    if (!c.isNonEmptyString(authority, p)) return null;
    if (!isAuthority(authority.str)) {
      c.fail(p, E_AUTHORITY + authority.describe());
      return null;
    }
    t.authority = authority.str;
    t.authorityBytes = utf8(authority.str);
  }

  const suffix = v.get("host_suffix");
  if (suffix !== null) {
    const p = join(path, "host_suffix");
    if (!c.isString(suffix, p)) return null;
    if (suffix.str.length > 0 && !isAuthority(suffix.str)) {
      c.fail(p, E_AUTHORITY + suffix.describe());
      return null;
    }
    if (authority !== null && suffix.str.length > 0) {
      c.fail(p, E_SUFFIX_AND_AUTHORITY);
      return null;
    }
    t.hostSuffix = suffix.str;
    t.hostSuffixBytes = utf8(suffix.str);
  }

  const match = v.get("match");
  if (match !== null) {
    const mp = join(path, "match");
    if (!c.isObject(match, mp)) return null;
    if (!c.known(match, mp, ["path_prefix", "headers"])) return null;
    const prefix = match.get("path_prefix");
    if (prefix !== null) {
      if (!c.pathPrefix(prefix, join(mp, "path_prefix"))) return null;
      t.pathPrefix = prefix.str;
      t.pathPrefixBytes = utf8(prefix.str);
    }
    const headers = match.get("headers");
    if (headers !== null) {
      const hp = join(mp, "headers");
      if (!c.isObject(headers, hp)) return null;
      for (let i = 0; i < headers.keys.length; i++) {
        const name = headers.keys[i];
        const np = join(hp, name);
        if (!isHeaderName(asciiLower(name))) {
          c.fail(np, E_HEADER_NAME + '"' + name + '"');
          return null;
        }
        if (!c.isString(headers.values[i], np)) return null;
        const m = new HeaderMatch();
        m.name = asciiLower(name);
        m.nameBytes = utf8(m.name);
        m.value = utf8(headers.values[i].str);
        t.matchHeaders.push(m);
      }
    }
  }

  const rps = v.get("max_rps");
  if (rps !== null) {
    const p = join(path, "max_rps");
    if (rps.kind != JsonKind.Number) {
      c.fail(p, E_NUMBER + kindOf(rps));
      return null;
    }
    if (!(rps.num > 0 && rps.num <= 1000000)) {
      c.fail(p, E_RPS + rps.raw);
      return null;
    }
    t.maxRps = rps.num;
  }
  const baseline = v.get("baseline");
  if (baseline !== null) {
    if (baseline.kind != JsonKind.Bool) {
      c.fail(join(path, "baseline"), E_BOOL + baseline.describe());
      return null;
    }
    t.baseline = baseline.bool;
  }
  return t;
}

/**
 * At most one baseline, with the salt and percentage of every other target: it must get the
 * copies they get, so that their answers can be judged against its answer to the same request.
 */
function baselineFits(c: Checker, cfg: Config): bool {
  const targets = cfg.targets;
  for (let i = 0; i < targets.length; i++) {
    if (!targets[i].baseline) continue;
    if (cfg.baseline >= 0) {
      return c.fail(
        join(index("targets", i), "baseline"),
        E_SECOND_BASELINE + index("targets", cfg.baseline) + " is one",
      );
    }
    cfg.baseline = i;
  }
  if (cfg.baseline < 0) return true;
  const b = targets[cfg.baseline];
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i];
    if (t.threshold != b.threshold) {
      return c.fail(
        join(index("targets", i), "percentage"),
        E_BASELINE_PERCENTAGE +
          index("targets", cfg.baseline) +
          " has " +
          b.percentageText,
      );
    }
    if (t.salt != b.salt) {
      return c.fail(
        join(index("targets", i), "salt"),
        E_BASELINE_SALT +
          index("targets", cfg.baseline) +
          ' has "' +
          b.salt +
          '"',
      );
    }
  }
  return true;
}

/** A method-override source: "header:NAME" (lower-cased) or "query:NAME". */
function parseOverride(
  c: Checker,
  v: JsonValue,
  path: string,
): SamplingKey | null {
  if (!c.isNonEmptyString(v, path)) return null;
  const s = v.str;
  const colon = s.indexOf(":");
  const kind = colon < 0 ? s : s.substring(0, colon);
  const name = colon < 0 ? "" : s.substring(colon + 1);
  const k = new SamplingKey();
  if (kind == "header" && isHeaderName(asciiLower(name))) {
    k.source = KeySource.Header;
    k.name = asciiLower(name);
  } else if (
    kind == "query" &&
    name.length > 0 &&
    name.indexOf("&") < 0 &&
    name.indexOf("=") < 0
  ) {
    k.source = KeySource.Query;
    k.name = name;
  } else {
    c.fail(path, E_OVERRIDE_FORM + v.describe());
    return null;
  }
  k.nameBytes = utf8(k.name);
  return k;
}

function parseKey(c: Checker, v: JsonValue, path: string): SamplingKey | null {
  if (!c.isNonEmptyString(v, path)) return null;
  const s = v.str;
  const k = new SamplingKey();
  if (s == "path") {
    k.source = KeySource.Path;
    return k;
  }
  const colon = s.indexOf(":");
  const kind = colon < 0 ? s : s.substring(0, colon);
  const name = colon < 0 ? "" : s.substring(colon + 1);
  if (kind == "header") {
    k.source = KeySource.Header;
    k.name = asciiLower(name);
    if (
      !isHeaderName(k.name) &&
      !(k.name.startsWith(":") && k.name.length > 1)
    ) {
      c.fail(path, E_KEY_FORM + v.describe());
      return null;
    }
  } else if (kind == "cookie" || kind == "query") {
    k.source = kind == "cookie" ? KeySource.Cookie : KeySource.Query;
    k.name = name;
    if (
      name.length == 0 ||
      name.indexOf(";") >= 0 ||
      name.indexOf("&") >= 0 ||
      name.indexOf("=") >= 0
    ) {
      c.fail(path, E_KEY_FORM + v.describe());
      return null;
    }
  } else {
    c.fail(path, E_KEY_FORM + v.describe());
    return null;
  }
  k.nameBytes = utf8(k.name);
  return k;
}

/** Parses and checks the plugin JSON. Never throws. */
export function parseConfig(text: string): ConfigResult {
  const res = new ConfigResult();
  if (text.trim().length == 0) {
    res.error = "configuration: " + E_EMPTY;
    return res;
  }
  if (text.length > MAX_CONFIG_LENGTH) {
    res.error = "configuration: " + E_CONFIG_TOO_LARGE;
    return res;
  }
  const parsed = parseJson(text);
  const root = parsed.value;
  if (root === null) {
    res.error = "configuration: " + E_MALFORMED + parsed.error;
    return res;
  }
  const c = new Checker();
  const cfg = parseRoot(c, root);
  if (cfg === null || !c.ok()) {
    res.error = c.error;
    return res;
  }
  for (let i = 0; i < cfg.targets.length; i++) {
    if (cfg.targets[i].threshold == 0) {
      res.warnings.push(
        join(index("targets", i), "percentage") +
          ": 0 mirrors nothing (every request is counted as sampled_out)",
      );
    }
  }
  res.config = cfg;
  return res;
}

function parseRoot(c: Checker, root: JsonValue): Config | null {
  const cfg = new Config();
  if (root.kind != JsonKind.Object) {
    c.fail("configuration", E_OBJECT + kindOf(root));
    return null;
  }
  // Target fields at the top level (without "targets") are the one-target
  // shorthand; next to "targets", "cluster" is a conflict and the rest unknown.
  let shorthand = root.get("cluster") !== null;
  if (root.get("targets") === null) {
    for (let i = 0; i < SHORTHAND_FIELDS.length; i++) {
      if (root.get(SHORTHAND_FIELDS[i]) !== null) shorthand = true;
    }
  }
  const allowed = shorthand ? TOP_FIELDS.concat(SHORTHAND_FIELDS) : TOP_FIELDS;
  if (!c.known(root, "", allowed)) return null;

  // sampling first: targets inherit its salt.
  let defaultSalt = "";
  const sampling = root.get("sampling");
  if (sampling !== null) {
    if (!c.isObject(sampling, "sampling")) return null;
    if (!c.known(sampling, "sampling", ["keys", "salt"])) return null;
    const salt = sampling.get("salt");
    if (salt !== null) {
      if (!c.isString(salt, join("sampling", "salt"))) return null;
      defaultSalt = salt.str;
    }
    const keys = sampling.get("keys");
    const keysPath = join("sampling", "keys");
    if (keys !== null) {
      if (!c.isArray(keys, keysPath)) return null;
      if (keys.items.length == 0) {
        c.fail(keysPath, E_NON_EMPTY);
        return null;
      }
      for (let i = 0; i < keys.items.length; i++) {
        const k = parseKey(c, keys.items[i], index(keysPath, i));
        if (k === null) return null;
        cfg.keys.push(k);
      }
    }
  }
  if (cfg.keys.length == 0) {
    const k = new SamplingKey();
    k.source = KeySource.Header;
    k.name = "x-request-id";
    k.nameBytes = utf8(k.name);
    cfg.keys.push(k);
  }

  const targets = root.get("targets");
  if (shorthand) {
    if (targets !== null) {
      c.fail("targets", E_BOTH_FORMS);
      return null;
    }
    const t = parseTarget(c, root, "", defaultSalt);
    if (t === null) return null;
    cfg.targets.push(t);
  } else {
    if (targets === null) {
      c.fail("targets", E_REQUIRED);
      return null;
    }
    if (!c.isArray(targets, "targets")) return null;
    if (targets.items.length == 0) {
      c.fail("targets", E_NON_EMPTY);
      return null;
    }
    if (targets.items.length > MAX_TARGETS) {
      c.fail("targets", E_TOO_MANY_TARGETS + decimal(targets.items.length));
      return null;
    }
    for (let i = 0; i < targets.items.length; i++) {
      const p = index("targets", i);
      const tv = targets.items[i];
      if (!c.isObject(tv, p)) return null;
      if (!c.known(tv, p, SHORTHAND_FIELDS)) return null;
      const t = parseTarget(c, tv, p, defaultSalt);
      if (t === null) return null;
      // Each target has its own metrics, labelled by its cluster.
      for (let j = 0; j < cfg.targets.length; j++) {
        const other = cfg.targets[j];
        if (other.cluster == t.cluster) {
          c.fail(join(p, "cluster"), E_DUPLICATE_CLUSTER + index("targets", j));
          return null;
        }
        if (other.statName == t.statName) {
          c.fail(
            join(p, "cluster"),
            E_SAME_LABEL + index("targets", j) + ' (";" becomes "_")',
          );
          return null;
        }
      }
      cfg.targets.push(t);
    }
    if (!baselineFits(c, cfg)) return null;
  }
  // One bucket per distinct salt and request: targets that share a salt share it.
  for (let i = 0; i < cfg.targets.length; i++) {
    const t = cfg.targets[i];
    let g = 0;
    while (
      g < cfg.saltPrefixes.length &&
      !bufEqual(cfg.saltPrefixes[g], t.saltPrefix)
    )
      g++;
    if (g == cfg.saltPrefixes.length) cfg.saltPrefixes.push(t.saltPrefix);
    t.saltGroup = g;
  }

  const overrides = root.get("method_override");
  if (overrides !== null) {
    if (!c.isArray(overrides, "method_override")) return null;
    for (let i = 0; i < overrides.items.length; i++) {
      const k = parseOverride(
        c,
        overrides.items[i],
        index("method_override", i),
      );
      if (k === null) return null;
      cfg.methodOverrides.push(k);
    }
  } else {
    for (let i = 0; i < DEFAULT_METHOD_OVERRIDES.length; i++) {
      const v = new JsonValue();
      v.kind = JsonKind.String;
      v.str = DEFAULT_METHOD_OVERRIDES[i];
      cfg.methodOverrides.push(parseOverride(c, v, "method_override")!);
    }
  }

  const methods = root.get("methods");
  if (methods !== null) {
    cfg.methods = [];
    if (!c.methodList(methods, "methods", cfg.methods)) return null;
  }

  const unsafe = root.get("unsafe_paths");
  if (unsafe !== null) {
    if (!c.isArray(unsafe, "unsafe_paths")) return null;
    for (let i = 0; i < unsafe.items.length; i++) {
      const p = index("unsafe_paths", i);
      const u = unsafe.items[i];
      if (!c.isObject(u, p)) return null;
      if (!c.known(u, p, ["methods", "path_prefix"])) return null;
      const rule = new UnsafePath();
      const ms = u.get("methods");
      const mp = join(p, "methods");
      if (ms === null) {
        c.fail(mp, E_REQUIRED);
        return null;
      }
      if (!c.methodList(ms, mp, rule.methods)) return null;
      if (rule.methods.length == 0) {
        c.fail(mp, E_NON_EMPTY);
        return null;
      }
      const prefix = u.get("path_prefix");
      const pp = join(p, "path_prefix");
      if (prefix === null) {
        c.fail(pp, E_REQUIRED);
        return null;
      }
      if (!c.pathPrefix(prefix, pp)) return null;
      rule.pathPrefix = prefix.str;
      rule.pathPrefixBytes = utf8(prefix.str);
      cfg.unsafePaths.push(rule);
    }
  }

  const marker = root.get("marker");
  if (marker !== null) {
    if (!c.isObject(marker, "marker")) return null;
    if (!c.known(marker, "marker", ["header", "value", "inbound"])) return null;
    const h = marker.get("header");
    const hp = join("marker", "header");
    if (h !== null) {
      if (!c.editableHeader(h, hp)) return null;
      if (h.str == "content-length") {
        c.fail(hp, E_PSEUDO + h.describe());
        return null;
      }
      cfg.markerHeader = h.str;
    }
    const val = marker.get("value");
    if (val !== null) {
      if (!c.isNonEmptyString(val, join("marker", "value"))) return null;
      cfg.markerValue = val.str;
    }
    const inbound = marker.get("inbound");
    const ip = join("marker", "inbound");
    if (inbound !== null) {
      if (!c.isString(inbound, ip)) return null;
      if (inbound.str == "strip") cfg.markerStrip = true;
      else if (inbound.str != "skip") {
        c.fail(ip, E_INBOUND + inbound.describe());
        return null;
      }
    }
  }
  cfg.markerHeaderBytes = utf8(cfg.markerHeader);

  const headers = root.get("headers");
  if (headers !== null) {
    if (!c.isObject(headers, "headers")) return null;
    if (!c.known(headers, "headers", ["add", "remove"])) return null;
    const add = headers.get("add");
    const ap = join("headers", "add");
    if (add !== null) {
      if (!c.isObject(add, ap)) return null;
      for (let i = 0; i < add.keys.length; i++) {
        const p = join(ap, add.keys[i]);
        const nameV = new JsonValue();
        nameV.kind = JsonKind.String;
        nameV.str = add.keys[i];
        if (!c.editableHeader(nameV, p)) return null;
        if (nameV.str == "content-length") {
          c.fail(p, E_PSEUDO + nameV.describe());
          return null;
        }
        if (nameV.str == cfg.markerHeader) {
          c.fail(p, E_MARKER_ADDED);
          return null;
        }
        if (!c.isString(add.values[i], p)) return null;
        const hv = new HeaderValue();
        hv.name = add.keys[i];
        hv.value = add.values[i].str;
        hv.nameBytes = utf8(hv.name);
        hv.valueBytes = utf8(hv.value);
        cfg.addHeaders.push(hv);
        cfg.addNameBytes.push(hv.nameBytes);
      }
    }
    const remove = headers.get("remove");
    const rp = join("headers", "remove");
    if (remove !== null) {
      if (!c.isArray(remove, rp)) return null;
      cfg.removeHeaders = [];
      for (let i = 0; i < remove.items.length; i++) {
        const p = index(rp, i);
        if (!c.editableHeader(remove.items[i], p)) return null;
        cfg.removeHeaders.push(remove.items[i].str);
      }
    }
  }

  const maxBody = root.get("max_body_bytes");
  if (maxBody !== null) {
    if (!c.isInteger(maxBody, "max_body_bytes", 0, <f64>MAX_BODY_BYTES_LIMIT))
      return null;
    cfg.maxBodyBytes = <u32>maxBody.num;
  }
  const maxInflight = root.get("max_inflight");
  if (maxInflight !== null) {
    if (!c.isInteger(maxInflight, "max_inflight", 1, <f64>MAX_INFLIGHT_LIMIT))
      return null;
    cfg.maxInflight = <u32>maxInflight.num;
  }
  const budget = root.get("max_buffered_bytes");
  if (budget !== null) {
    if (
      !c.isInteger(
        budget,
        "max_buffered_bytes",
        <f64>MIN_MAX_BUFFERED_BYTES,
        <f64>MAX_BUFFERED_BYTES_LIMIT,
      )
    )
      return null;
    cfg.maxBufferedBytes = <u32>budget.num;
  }
  // (max_body_bytes is at most 16 MiB and the default budget 32 MiB: only a budget set too low
  // can be below it.)
  if (cfg.maxBufferedBytes < cfg.maxBodyBytes) {
    c.fail(
      "max_buffered_bytes",
      E_BUDGET_BELOW_BODY + decimal(cfg.maxBodyBytes) + ")",
    );
    return null;
  }
  const compare = root.get("compare");
  if (compare !== null && !parseCompare(c, compare, cfg)) return null;
  cfg.methodBytes = cfg.methods.map<ArrayBuffer>((m: string) => utf8(m));
  cfg.removeHeaderBytes = cfg.removeHeaders.map<ArrayBuffer>((m: string) =>
    utf8(m),
  );
  cfg.markerValueBytes = utf8(cfg.markerValue);
  for (let i = 0; i < cfg.unsafePaths.length; i++) {
    const u = cfg.unsafePaths[i];
    u.methodBytes = u.methods.map<ArrayBuffer>((m: string) => utf8(m));
  }
  return cfg;
}

function parseCompare(c: Checker, v: JsonValue, cfg: Config): bool {
  if (!c.isObject(v, "compare")) return false;
  if (!c.known(v, "compare", COMPARE_FIELDS)) return false;
  const status = v.get("status");
  if (status !== null) {
    const sp = join("compare", "status");
    if (!c.isString(status, sp)) return false;
    if (status.str == "exact") cfg.compareStatus = StatusCompare.Exact;
    else if (status.str == "class") cfg.compareStatus = StatusCompare.Class;
    else if (status.str == "off") cfg.compareStatus = StatusCompare.Off;
    else return c.fail(sp, E_COMPARE_STATUS + status.describe());
  }
  const body = v.get("body");
  if (body !== null) {
    if (body.kind == JsonKind.Bool) {
      cfg.compareBody = body.bool ? BodyCompare.Exact : BodyCompare.Off;
    } else if (body.kind == JsonKind.String && body.str == "exact") {
      cfg.compareBody = BodyCompare.Exact;
    } else if (body.kind == JsonKind.String && body.str == "json") {
      cfg.compareBody = BodyCompare.Json;
    } else {
      return c.fail(join("compare", "body"), E_COMPARE_BODY + body.describe());
    }
  }
  const ignore = v.get("ignore");
  const ip = join("compare", "ignore");
  if (ignore !== null) {
    if (!c.isArray(ignore, ip)) return false;
    if (cfg.compareBody != BodyCompare.Json) {
      return c.fail(ip, E_IGNORE_NEEDS_JSON);
    }
    const patterns: string[] = [];
    for (let i = 0; i < ignore.items.length; i++) {
      const p = index(ip, i);
      if (!c.isString(ignore.items[i], p)) return false;
      if (hasLoneSurrogate(ignore.items[i].str)) {
        return c.fail(p, "must be valid Unicode (a lone surrogate escape)");
      }
      patterns.push(ignore.items[i].str);
    }
    const rules = compileIgnore(patterns);
    if (rules === null) {
      // ignoreError is "[i]: <reason>"
      const sep = ignoreError.indexOf(": ");
      return c.fail(
        ip + ignoreError.substring(0, sep),
        ignoreError.substring(sep + 2),
      );
    }
    cfg.ignoreRules = rules;
  }
  if (cfg.compareBody == BodyCompare.Json) {
    // With a baseline, each body also keeps a sketch (JsonDigest.sketchInto) in its side.
    const sketch = cfg.baseline >= 0;
    cfg.digestBytes =
      <u32>digestFootprint(cfg.ignoreRules, sketch) +
      (sketch ? <u32>(SKETCH_SLOTS * 8 + 32) : 0);
  }
  const ignoreStatuses = v.get("ignore_statuses");
  const isp = join("compare", "ignore_statuses");
  if (ignoreStatuses !== null) {
    if (!c.isArray(ignoreStatuses, isp)) return false;
    for (let i = 0; i < ignoreStatuses.items.length; i++) {
      const p = index(isp, i);
      if (!c.isInteger(ignoreStatuses.items[i], p, 100, 599)) return false;
      cfg.ignoreStatuses.push(<i32>ignoreStatuses.items[i].num);
    }
  }
  const headers = v.get("headers");
  const hp = join("compare", "headers");
  if (headers !== null) {
    if (!c.isArray(headers, hp)) return false;
    for (let i = 0; i < headers.items.length; i++) {
      const p = index(hp, i);
      const h = headers.items[i];
      if (!c.headerName(h, p)) return false;
      if (!cfg.compareHeaders.includes(h.str)) {
        cfg.compareHeaders.push(h.str);
        cfg.compareHeaderBytes.push(utf8(h.str));
      }
    }
  }
  const maxBody = v.get("max_body_bytes");
  if (maxBody !== null) {
    if (
      !c.isInteger(
        maxBody,
        join("compare", "max_body_bytes"),
        0,
        <f64>COMPARE_MAX_BODY_BYTES_LIMIT,
      )
    )
      return false;
    cfg.compareMaxBodyBytes = <u32>maxBody.num;
  }
  const samples = v.get("samples_per_second");
  const spp = join("compare", "samples_per_second");
  if (samples !== null) {
    if (samples.kind != JsonKind.Number) {
      return c.fail(spp, E_NUMBER + kindOf(samples));
    }
    if (!(samples.num >= 0 && samples.num <= 1000)) {
      return c.fail(spp, "must be between 0 and 1000, got " + samples.raw);
    }
    cfg.samplesPerSecond = samples.num;
  }
  const query = v.get("sample_query");
  if (query !== null) {
    if (query.kind != JsonKind.Bool) {
      return c.fail(join("compare", "sample_query"), E_BOOL + query.describe());
    }
    cfg.sampleQuery = query.bool;
  }
  return true;
}

/** A lone UTF-16 surrogate (from a \\uD800-style escape): not valid Unicode text. */
function hasLoneSurrogate(s: string): bool {
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

function bufEqual(a: ArrayBuffer, b: ArrayBuffer): bool {
  return (
    a.byteLength == b.byteLength &&
    memory.compare(changetype<usize>(a), changetype<usize>(b), a.byteLength) ==
      0
  );
}
