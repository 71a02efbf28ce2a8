// The targets of a plugin configuration: where copies go (cluster names tried in order), the
// label of their metrics, their share of keys, and which requests they consider (match
// conditions). Plugin JSON → Target, every error reported; everything the request path needs
// (bytes, compiled patterns, thresholds) is computed here. Pure.

import { JsonKind, JsonValue } from "./json";
import { tagValue } from "./metrics";
import { Regex, compileRegex, regexError } from "./regex";
import { thresholdOf } from "./sampler";
import { decimal } from "./text";
import {
  Checker,
  E_AUTHORITY,
  E_BOTH_FORMS,
  E_CLUSTER_COUNT,
  E_CLUSTER_FORMS,
  E_CLUSTER_REPEATED,
  E_DUPLICATE_CLUSTER,
  E_HEADER_NAME,
  E_LABEL_TAKEN,
  E_LONE_SURROGATE,
  E_MATCH_COUNT,
  E_MATCH_FORM,
  E_NON_EMPTY,
  E_NUMBER,
  E_ONE_PATH,
  E_PATH_QUERY,
  E_PERCENT_DECIMALS,
  E_PERCENT_RANGE,
  E_QUERY_NAME,
  E_RPS,
  E_SAME_LABEL,
  E_SUFFIX_AND_AUTHORITY,
  E_TOO_MANY_TARGETS,
  E_VALUE_FORM,
  E_VALUE_ONE_FORM,
  asciiLower,
  decimalPlaces,
  hasLoneSurrogate,
  index,
  isAuthority,
  isHeaderName,
  join,
  kindOf,
  utf8,
} from "./configcheck";

export const DEFAULT_TIMEOUT_MS: u32 = 5000;
export const MAX_TIMEOUT_MS: u32 = 600000;
/** Targets per configuration: each costs a match check per request and its metrics. */
export const MAX_TARGETS: i32 = 64;
/** Cluster names per target (e.g. a sidecar's and a waypoint's name for one service). */
export const MAX_CLUSTERS: i32 = 4;
/** Match objects per target. */
export const MAX_MATCHES: i32 = 16;

/** The fields of a target (and of the one-target shorthand at the top level). */
export const TARGET_FIELDS = [
  "cluster",
  "clusters",
  "label",
  "percentage",
  "salt",
  "timeout_ms",
  "authority",
  "host_suffix",
  "match",
  "max_rps",
];
const MATCH_FIELDS = [
  "path_prefix",
  "path_exact",
  "path_segment_prefix",
  "path_regex",
  "headers",
  "query",
  "method",
];
const VALUE_FIELDS = ["exact", "regex"];

/** How a match object looks at the path. */
export enum PathMatch {
  /** no path condition */
  Any,
  /** `:path` (query included) starts with the bytes */
  Prefix,
  /** the path before "?" equals the bytes */
  Exact,
  /** the path before "?" equals the bytes or continues with "/" after them */
  SegmentPrefix,
  /** the path before "?" matches the pattern as a whole */
  Regex,
}

/** A header or query parameter condition: an exact value, or a pattern the whole value matches. */
export class ValueMatch {
  /** lower-case header name, or query parameter name as written */
  name: string = "";
  nameBytes: ArrayBuffer = new ArrayBuffer(0);
  /** the exact value, when `regex` is null */
  exact: ArrayBuffer = new ArrayBuffer(0);
  regex: Regex | null = null;
}

/** One match object: every condition it has must hold. */
export class Match {
  path: PathMatch = PathMatch.Any;
  /** the value of a Prefix, Exact or SegmentPrefix condition (SegmentPrefix without a final "/") */
  pathBytes: ArrayBuffer = new ArrayBuffer(0);
  pathRegex: Regex | null = null;
  headers: ValueMatch[] = [];
  query: ValueMatch[] = [];
  /** the method, empty for any */
  methodBytes: ArrayBuffer = new ArrayBuffer(0);
}

/** One mirror target. */
export class Target {
  /** the first cluster name */
  cluster: string = "";
  clusterBytes: ArrayBuffer = new ArrayBuffer(0);
  /** every cluster name, in the order they are tried */
  clusters: string[] = [];
  clusterNames: ArrayBuffer[] = [];
  /**
   * Dispatch state of the root that owns this config: the index of the name Envoy last accepted,
   * tried first (see clusterToTry in policy.ts).
   */
  clusterInUse: i32 = 0;
  /** the mirror_target label: `label`, else the first cluster name */
  label: string = "";
  /** the label as it goes into metric names */
  statName: string = "";
  percentage: f64 = 0;
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
  /** a request is considered when any of them fits; empty: every request */
  matches: Match[] = [];
  /** copies per second per VM (token bucket); 0: no cap */
  maxRps: f64 = 0;
  /** index of this target's salt among the config's distinct salts (one bucket each) */
  saltGroup: i32 = 0;
}

/**
 * The targets: the `targets` array, or the one target whose fields are at the top level
 * (`shorthand`). Only targets without an error are returned.
 */
export function parseTargets(
  c: Checker,
  root: JsonValue,
  shorthand: bool,
  defaultSalt: string,
): Target[] {
  const out: Target[] = [];
  const targets = root.get("targets");
  if (shorthand) {
    if (targets !== null) {
      const form = root.get("cluster") !== null ? "cluster" : "clusters";
      c.fail("targets", E_BOTH_FORMS.replace('"cluster"', '"' + form + '"'));
      return out;
    }
    const t = parseTarget(c, root, "", defaultSalt);
    if (t !== null) out.push(t);
    return out;
  }
  if (targets === null) {
    c.missing("targets");
    return out;
  }
  if (!c.isArray(targets, "targets")) return out;
  const n = targets.items.length;
  if (n == 0) {
    c.fail("targets", E_NON_EMPTY);
    return out;
  }
  if (n > MAX_TARGETS) {
    c.fail("targets", E_TOO_MANY_TARGETS + decimal(n));
    return out;
  }
  // Where each accepted target is in `targets`, and whether it set its label.
  const positions: i32[] = [];
  const labelled: bool[] = [];
  for (let i = 0; i < n; i++) {
    const p = index("targets", i);
    const tv = targets.items[i];
    if (!c.isObject(tv, p)) continue;
    c.known(tv, p, TARGET_FIELDS);
    const t = parseTarget(c, tv, p, defaultSalt);
    if (t === null) continue;
    // Each target has its own metrics, named by its label.
    const ownLabel = tv.get("label") !== null;
    let unique = true;
    for (let j = 0; j < out.length && unique; j++) {
      const other = out[j];
      if (other.statName != t.statName) continue;
      const first = index("targets", positions[j]);
      unique = false;
      if (other.label == t.label && !ownLabel && !labelled[j]) {
        c.fail(clusterPath(tv, p), E_DUPLICATE_CLUSTER + first);
      } else if (other.label == t.label) {
        c.fail(labelPath(tv, p), E_LABEL_TAKEN + first);
      } else {
        c.fail(labelPath(tv, p), E_SAME_LABEL + first + ' (";" becomes "_")');
      }
    }
    if (!unique) continue;
    out.push(t);
    positions.push(i);
    labelled.push(ownLabel);
  }
  return out;
}

/** The field a target's first cluster name comes from. */
function clusterPath(tv: JsonValue, p: string): string {
  return tv.get("clusters") !== null
    ? index(join(p, "clusters"), 0)
    : join(p, "cluster");
}

/** The field a target's label comes from. */
function labelPath(tv: JsonValue, p: string): string {
  return tv.get("label") !== null ? join(p, "label") : clusterPath(tv, p);
}

/** One target, or null when it has an error (every one reported). */
function parseTarget(
  c: Checker,
  v: JsonValue,
  path: string,
  defaultSalt: string,
): Target | null {
  const errors = c.count();
  const t = new Target();
  parseClusters(c, v, path, t);
  parseLabel(c, v, path, t);
  parseShare(c, v, path, t, defaultSalt);
  const timeout = v.get("timeout_ms");
  if (timeout !== null) {
    if (c.isInteger(timeout, join(path, "timeout_ms"), 1, <f64>MAX_TIMEOUT_MS))
      t.timeoutMs = <u32>timeout.num;
  }
  parseAuthority(c, v, path, t);
  const match = v.get("match");
  if (match !== null) t.matches = parseMatches(c, match, join(path, "match"));
  const rps = v.get("max_rps");
  if (rps !== null) {
    const p = join(path, "max_rps");
    if (rps.kind != JsonKind.Number) c.fail(p, E_NUMBER + kindOf(rps));
    else if (!(rps.num > 0 && rps.num <= 1000000)) c.fail(p, E_RPS + rps.raw);
    else t.maxRps = rps.num;
  }
  return c.count() == errors ? t : null;
}

/** `cluster` (one name) or `clusters` (1 to 4, tried in order). */
function parseClusters(
  c: Checker,
  v: JsonValue,
  path: string,
  t: Target,
): void {
  const one = v.get("cluster");
  const many = v.get("clusters");
  if (many === null) {
    const p = join(path, "cluster");
    if (one === null) c.missing(p);
    else if (c.isName(one, p)) t.clusters.push(one.str);
  } else if (one !== null) {
    c.fail(join(path, "clusters"), E_CLUSTER_FORMS);
  } else {
    const p = join(path, "clusters");
    if (!c.isArray(many, p)) return;
    const n = many.items.length;
    if (n == 0 || n > MAX_CLUSTERS) {
      c.fail(p, E_CLUSTER_COUNT + decimal(n));
      return;
    }
    for (let i = 0; i < n; i++) {
      const name = many.items[i];
      const ip = index(p, i);
      if (!c.isName(name, ip)) continue;
      const earlier = t.clusters.indexOf(name.str);
      if (earlier >= 0) {
        c.fail(ip, E_CLUSTER_REPEATED + index("clusters", firstIndex(many, i)));
        continue;
      }
      t.clusters.push(name.str);
    }
  }
  if (t.clusters.length == 0) return;
  t.cluster = t.clusters[0];
  t.clusterBytes = utf8(t.cluster);
  for (let i = 0; i < t.clusters.length; i++) {
    t.clusterNames.push(i == 0 ? t.clusterBytes : utf8(t.clusters[i]));
  }
}

/** Where the string of items[i] first appears in `list`. */
function firstIndex(list: JsonValue, i: i32): i32 {
  const s = list.items[i].str;
  for (let j = 0; j < i; j++) {
    const item = list.items[j];
    if (item.kind == JsonKind.String && item.str == s) return j;
  }
  return i;
}

/** `label`: the metrics' mirror_target label, the first cluster name by default. */
function parseLabel(c: Checker, v: JsonValue, path: string, t: Target): void {
  const label = v.get("label");
  if (label === null) t.label = t.cluster;
  else if (c.isName(label, join(path, "label"))) t.label = label.str;
  t.statName = tagValue(t.label);
}

/** `percentage` and `salt`: which keys are mirrored. */
function parseShare(
  c: Checker,
  v: JsonValue,
  path: string,
  t: Target,
  defaultSalt: string,
): void {
  const pct = v.get("percentage");
  const pctPath = join(path, "percentage");
  if (pct === null) c.missing(pctPath);
  else if (pct.kind != JsonKind.Number) c.fail(pctPath, E_NUMBER + kindOf(pct));
  else if (!(pct.num >= 0 && pct.num <= 100))
    c.fail(pctPath, E_PERCENT_RANGE + pct.raw);
  else if (decimalPlaces(pct.raw) > 4)
    c.fail(pctPath, E_PERCENT_DECIMALS + pct.raw);
  else {
    t.percentage = pct.num;
    t.threshold = thresholdOf(pct.num);
  }
  t.salt = defaultSalt;
  const salt = v.get("salt");
  if (salt !== null && c.isString(salt, join(path, "salt"))) t.salt = salt.str;
  t.saltPrefix = utf8(t.salt + ":");
}

/** `authority` (the copy's :authority) or `host_suffix` (appended to the live host). */
function parseAuthority(
  c: Checker,
  v: JsonValue,
  path: string,
  t: Target,
): void {
  const authority = v.get("authority");
  let authorityOk = false;
  if (authority !== null) {
    const p = join(path, "authority");
    if (!c.isNonEmptyString(authority, p)) {
      // reported
    } else if (!isAuthority(authority.str)) {
      c.fail(p, E_AUTHORITY + authority.describe());
    } else {
      t.authority = authority.str;
      t.authorityBytes = utf8(authority.str);
      authorityOk = true;
    }
  }
  const suffix = v.get("host_suffix");
  if (suffix !== null) {
    const p = join(path, "host_suffix");
    if (!c.isString(suffix, p)) return;
    if (suffix.str.length > 0 && !isAuthority(suffix.str)) {
      c.fail(p, E_AUTHORITY + suffix.describe());
    } else if (authorityOk && suffix.str.length > 0) {
      c.fail(p, E_SUFFIX_AND_AUTHORITY);
    } else {
      t.hostSuffix = suffix.str;
      t.hostSuffixBytes = utf8(suffix.str);
    }
  }
}

/**
 * `match`: one object (all its conditions) or an array of 1 to 16 (any of them). A match object
 * without conditions fits every request: then the list is empty.
 */
function parseMatches(c: Checker, v: JsonValue, path: string): Match[] {
  const out: Match[] = [];
  let all = false;
  if (v.kind == JsonKind.Object) {
    const m = parseMatch(c, v, path);
    if (m !== null) out.push(m);
    all = v.keys.length == 0;
  } else if (v.kind != JsonKind.Array) {
    c.fail(path, E_MATCH_FORM + kindOf(v));
  } else if (v.items.length == 0 || v.items.length > MAX_MATCHES) {
    c.fail(path, E_MATCH_COUNT + decimal(v.items.length));
  } else {
    for (let i = 0; i < v.items.length; i++) {
      const item = v.items[i];
      const p = index(path, i);
      if (!c.isObject(item, p)) continue;
      const m = parseMatch(c, item, p);
      if (m !== null) out.push(m);
      if (item.keys.length == 0) all = true;
    }
  }
  return all ? [] : out;
}

/** One match object, or null when it has an error. */
function parseMatch(c: Checker, v: JsonValue, path: string): Match | null {
  const errors = c.count();
  c.known(v, path, MATCH_FIELDS);
  const m = new Match();
  let pathField = "";
  for (let i = 0; i < v.keys.length; i++) {
    const field = v.keys[i];
    if (!field.startsWith("path_") || !MATCH_FIELDS.includes(field)) continue;
    const p = join(path, field);
    if (pathField.length > 0) {
      c.fail(
        p,
        E_ONE_PATH + pathField + " (one path condition per match object)",
      );
      continue;
    }
    pathField = field;
    parsePathCondition(c, v.values[i], p, field, m);
  }
  const headers = v.get("headers");
  if (headers !== null) {
    parseValueMatches(c, headers, join(path, "headers"), true, m.headers);
  }
  const query = v.get("query");
  if (query !== null) {
    parseValueMatches(c, query, join(path, "query"), false, m.query);
  }
  const method = v.get("method");
  if (method !== null && c.method(method, join(path, "method"))) {
    m.methodBytes = utf8(method.str);
  }
  return c.count() == errors ? m : null;
}

function parsePathCondition(
  c: Checker,
  v: JsonValue,
  p: string,
  field: string,
  m: Match,
): void {
  if (field == "path_regex") {
    const r = regexOf(c, v, p);
    if (r === null) return;
    m.path = PathMatch.Regex;
    m.pathRegex = r;
    return;
  }
  if (!c.pathPrefix(v, p)) return;
  let s = v.str;
  if (field == "path_prefix") {
    m.path = PathMatch.Prefix;
  } else {
    if (s.indexOf("?") >= 0 || s.indexOf("#") >= 0) {
      c.fail(p, E_PATH_QUERY);
      return;
    }
    if (field == "path_exact") {
      m.path = PathMatch.Exact;
    } else {
      // Gateway API's PathPrefix: a final "/" does not count; "/" fits every path.
      let end = s.length;
      while (end > 0 && s.charCodeAt(end - 1) == 0x2f) end--;
      s = s.substring(0, end);
      m.path = end == 0 ? PathMatch.Any : PathMatch.SegmentPrefix;
    }
  }
  m.pathBytes = utf8(s);
}

/** `headers` or `query`: name → value (exact), {"exact": value} or {"regex": pattern}. */
function parseValueMatches(
  c: Checker,
  v: JsonValue,
  path: string,
  headers: bool,
  out: ValueMatch[],
): void {
  if (!c.isObject(v, path)) return;
  for (let i = 0; i < v.keys.length; i++) {
    const name = headers ? asciiLower(v.keys[i]) : v.keys[i];
    const np = join(path, v.keys[i]);
    if (headers && !isHeaderName(name)) {
      c.fail(np, E_HEADER_NAME + '"' + v.keys[i] + '"');
      continue;
    }
    if (!headers && !isQueryName(name)) {
      c.fail(np, E_QUERY_NAME + '"' + name + '"');
      continue;
    }
    const m = parseValue(c, v.values[i], np);
    if (m === null) continue;
    m.name = name;
    m.nameBytes = utf8(name);
    out.push(m);
  }
}

function parseValue(c: Checker, v: JsonValue, path: string): ValueMatch | null {
  const m = new ValueMatch();
  if (v.kind == JsonKind.String) {
    if (!c.isString(v, path)) return null;
    m.exact = utf8(v.str);
    return m;
  }
  if (v.kind != JsonKind.Object) {
    c.fail(path, E_VALUE_FORM + kindOf(v));
    return null;
  }
  if (!c.known(v, path, VALUE_FIELDS)) return null;
  const exact = v.get("exact");
  const regex = v.get("regex");
  if ((exact === null) == (regex === null)) {
    c.fail(path, E_VALUE_ONE_FORM);
    return null;
  }
  if (exact !== null) {
    if (!c.isString(exact, join(path, "exact"))) return null;
    m.exact = utf8(exact.str);
    return m;
  }
  m.regex = regexOf(c, regex!, join(path, "regex"));
  return m.regex !== null ? m : null;
}

/** A pattern, compiled; null (reported) when it is not a string or not supported. */
function regexOf(c: Checker, v: JsonValue, path: string): Regex | null {
  if (!c.isString(v, path)) return null;
  if (hasLoneSurrogate(v.str)) {
    c.fail(path, E_LONE_SURROGATE);
    return null;
  }
  const r = compileRegex(v.str);
  if (r === null) c.fail(path, regexError);
  return r;
}

/** A query parameter name: not empty, without "&", "=", "#" or control characters. */
function isQueryName(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c == 0x7f || c == 0x26 || c == 0x3d || c == 0x23)
      return false;
  }
  return true;
}
