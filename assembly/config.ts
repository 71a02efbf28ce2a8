// Plugin JSON → Config, or every error found, each naming the field and the reason. Every
// default lives here, once. Everything the request path needs (lower-cased names, their UTF-8
// bytes, thresholds) is computed here, at configure time. The targets are read in
// configtarget.ts, the checks and messages are in configcheck.ts.

import { JsonKind, JsonValue, parseJson } from "./json";
import { decimal } from "./text";
import {
  IgnoreRules,
  compileIgnore,
  digestFootprint,
  ignoreError,
} from "./jsondigest";
import {
  Checker,
  E_BOOL,
  E_BUDGET_BELOW_BODY,
  E_COMPARE_BODY,
  E_COMPARE_STATUS,
  E_CONFIG_TOO_LARGE,
  E_EMPTY,
  E_IGNORE_NEEDS_JSON,
  E_INBOUND,
  E_KEY_FORM,
  E_LONE_SURROGATE,
  E_MALFORMED,
  E_MARKER_ADDED,
  E_NON_EMPTY,
  E_NUMBER,
  E_OBJECT,
  E_OVERRIDE_FORM,
  E_PSEUDO,
  asciiLower,
  bufEqual,
  hasLoneSurrogate,
  index,
  isHeaderName,
  join,
  kindOf,
  stringValue,
  utf8,
} from "./configcheck";
import { TARGET_FIELDS, Target, parseTargets } from "./configtarget";

export {
  HOP_BY_HOP,
  MAX_NAME_LENGTH,
  asciiLower,
  decimalPlaces,
} from "./configcheck";
export {
  DEFAULT_TIMEOUT_MS,
  MAX_CLUSTERS,
  MAX_MATCHES,
  MAX_TARGETS,
  MAX_TIMEOUT_MS,
  Match,
  PathMatch,
  Target,
  ValueMatch,
} from "./configtarget";

/** Largest plugin configuration accepted, in UTF-16 units. */
export const MAX_CONFIG_LENGTH: i32 = 1 << 20;
export const DEFAULT_MAX_BODY_BYTES: u32 = 65536;
export const MAX_BODY_BYTES_LIMIT: u32 = 16777216;
/** Copies in progress per VM: with Envoy's async response limit, it bounds what Envoy holds for dark answers. */
export const DEFAULT_MAX_INFLIGHT: u32 = 50;
export const MAX_INFLIGHT_LIMIT: u32 = 100000;
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

/** A header to add to the copy. */
export class HeaderValue {
  name: string = "";
  value: string = "";
  nameBytes: ArrayBuffer = new ArrayBuffer(0);
  valueBytes: ArrayBuffer = new ArrayBuffer(0);
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
}

/**
 * parseConfig's answer: a config, or null and `errors` ("<field>: <reason>", every one found, the
 * first also in `error`); `warnings` name what an accepted config will never do (e.g. a target
 * at 0 %).
 */
export class ConfigResult {
  config: Config | null = null;
  error: string = "";
  errors: string[] = [];
  warnings: string[] = [];
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

/** Parses and checks the plugin JSON. Never throws. */
export function parseConfig(text: string): ConfigResult {
  const res = new ConfigResult();
  if (text.trim().length == 0) return refused(res, "configuration: " + E_EMPTY);
  if (text.length > MAX_CONFIG_LENGTH) {
    return refused(res, "configuration: " + E_CONFIG_TOO_LARGE);
  }
  const parsed = parseJson(text);
  const root = parsed.value;
  if (root === null) {
    return refused(res, "configuration: " + E_MALFORMED + parsed.error);
  }
  const c = new Checker();
  const cfg = parseRoot(c, root);
  if (!c.ok()) {
    res.errors = c.errors;
    if (c.more > 0) {
      res.errors.push(
        "configuration: " + decimal(c.more) + " more error(s) not shown",
      );
    }
    res.error = res.errors[0];
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

function refused(res: ConfigResult, error: string): ConfigResult {
  res.error = error;
  res.errors = [error];
  return res;
}

/**
 * The whole configuration, section by section, in a fixed order (the order of its errors):
 * sampling, targets, method_override, methods, unsafe_paths, marker, headers, the limits,
 * compare. Meaningful only when the checker found no error.
 */
function parseRoot(c: Checker, root: JsonValue): Config {
  const cfg = new Config();
  if (root.kind != JsonKind.Object) {
    c.fail("configuration", E_OBJECT + kindOf(root));
    return cfg;
  }
  // Target fields at the top level (without "targets") are the one-target
  // shorthand; next to "targets", "cluster" is a conflict and the rest unknown.
  let shorthand = root.get("cluster") !== null || root.get("clusters") !== null;
  if (root.get("targets") === null) {
    for (let i = 0; i < TARGET_FIELDS.length; i++) {
      if (root.get(TARGET_FIELDS[i]) !== null) shorthand = true;
    }
  }
  if (shorthand) c.known(root, "", TOP_FIELDS.concat(TARGET_FIELDS));
  else c.known(root, "", TOP_FIELDS, TARGET_FIELDS);
  // sampling first: targets inherit its salt.
  const defaultSalt = parseSampling(c, root, cfg);
  cfg.targets = parseTargets(c, root, shorthand, defaultSalt);
  groupSalts(cfg);
  parseMethodOverrides(c, root, cfg);
  const methods = root.get("methods");
  if (methods !== null) {
    cfg.methods = [];
    c.methodList(methods, "methods", cfg.methods);
  }
  parseUnsafePaths(c, root, cfg);
  parseMarker(c, root, cfg);
  parseHeaders(c, root, cfg);
  parseLimits(c, root, cfg);
  const compare = root.get("compare");
  if (compare !== null) parseCompare(c, compare, cfg);
  cfg.methodBytes = cfg.methods.map<ArrayBuffer>((m: string) => utf8(m));
  cfg.removeHeaderBytes = cfg.removeHeaders.map<ArrayBuffer>((m: string) =>
    utf8(m),
  );
  cfg.markerValueBytes = utf8(cfg.markerValue);
  return cfg;
}

/** `sampling`: the key sources (cfg.keys) and the default salt, returned. */
function parseSampling(c: Checker, root: JsonValue, cfg: Config): string {
  let defaultSalt = "";
  const sampling = root.get("sampling");
  if (sampling !== null && c.isObject(sampling, "sampling")) {
    c.known(sampling, "sampling", ["keys", "salt"]);
    const salt = sampling.get("salt");
    if (salt !== null && c.isString(salt, join("sampling", "salt"))) {
      defaultSalt = salt.str;
    }
    const keys = sampling.get("keys");
    const keysPath = join("sampling", "keys");
    if (keys !== null && c.isArray(keys, keysPath)) {
      if (keys.items.length == 0) c.fail(keysPath, E_NON_EMPTY);
      for (let i = 0; i < keys.items.length; i++) {
        const k = parseKey(c, keys.items[i], index(keysPath, i));
        if (k !== null) cfg.keys.push(k);
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
  return defaultSalt;
}

/** One bucket per distinct salt and request: targets that share a salt share it. */
function groupSalts(cfg: Config): void {
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
}

function parseMethodOverrides(c: Checker, root: JsonValue, cfg: Config): void {
  const overrides = root.get("method_override");
  if (overrides === null) {
    for (let i = 0; i < DEFAULT_METHOD_OVERRIDES.length; i++) {
      const v = stringValue(DEFAULT_METHOD_OVERRIDES[i]);
      cfg.methodOverrides.push(parseOverride(c, v, "method_override")!);
    }
    return;
  }
  if (!c.isArray(overrides, "method_override")) return;
  for (let i = 0; i < overrides.items.length; i++) {
    const k = parseOverride(c, overrides.items[i], index("method_override", i));
    if (k !== null) cfg.methodOverrides.push(k);
  }
}

function parseUnsafePaths(c: Checker, root: JsonValue, cfg: Config): void {
  const unsafe = root.get("unsafe_paths");
  if (unsafe === null || !c.isArray(unsafe, "unsafe_paths")) return;
  for (let i = 0; i < unsafe.items.length; i++) {
    const p = index("unsafe_paths", i);
    const u = unsafe.items[i];
    if (!c.isObject(u, p)) continue;
    c.known(u, p, ["methods", "path_prefix"]);
    const rule = new UnsafePath();
    const ms = u.get("methods");
    const mp = join(p, "methods");
    if (ms === null) c.missing(mp);
    else if (c.methodList(ms, mp, rule.methods) && rule.methods.length == 0) {
      c.fail(mp, E_NON_EMPTY);
    }
    const prefix = u.get("path_prefix");
    const pp = join(p, "path_prefix");
    if (prefix === null) c.missing(pp);
    else if (c.pathPrefix(prefix, pp)) {
      rule.pathPrefix = prefix.str;
      rule.pathPrefixBytes = utf8(prefix.str);
    }
    rule.methodBytes = rule.methods.map<ArrayBuffer>((m: string) => utf8(m));
    cfg.unsafePaths.push(rule);
  }
}

function parseMarker(c: Checker, root: JsonValue, cfg: Config): void {
  const marker = root.get("marker");
  if (marker !== null && c.isObject(marker, "marker")) {
    c.known(marker, "marker", ["header", "value", "inbound"]);
    const h = marker.get("header");
    const hp = join("marker", "header");
    if (h !== null && c.editableHeader(h, hp)) {
      if (h.str == "content-length") c.fail(hp, E_PSEUDO + h.describe());
      else cfg.markerHeader = h.str;
    }
    const val = marker.get("value");
    if (val !== null && c.isNonEmptyString(val, join("marker", "value"))) {
      cfg.markerValue = val.str;
    }
    const inbound = marker.get("inbound");
    const ip = join("marker", "inbound");
    if (inbound !== null && c.isString(inbound, ip)) {
      if (inbound.str == "strip") cfg.markerStrip = true;
      else if (inbound.str != "skip")
        c.fail(ip, E_INBOUND + inbound.describe());
    }
  }
  cfg.markerHeaderBytes = utf8(cfg.markerHeader);
}

/** `headers`: what the copy gets added and what is removed from it. */
function parseHeaders(c: Checker, root: JsonValue, cfg: Config): void {
  const headers = root.get("headers");
  if (headers === null || !c.isObject(headers, "headers")) return;
  c.known(headers, "headers", ["add", "remove"]);
  const add = headers.get("add");
  const ap = join("headers", "add");
  if (add !== null && c.isObject(add, ap)) {
    for (let i = 0; i < add.keys.length; i++) {
      const p = join(ap, add.keys[i]);
      const name = stringValue(add.keys[i]);
      if (!c.editableHeader(name, p)) continue;
      if (name.str == "content-length") {
        c.fail(p, E_PSEUDO + name.describe());
        continue;
      }
      if (name.str == cfg.markerHeader) {
        c.fail(p, E_MARKER_ADDED);
        continue;
      }
      if (!c.isString(add.values[i], p)) continue;
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
  if (remove !== null && c.isArray(remove, rp)) {
    cfg.removeHeaders = [];
    for (let i = 0; i < remove.items.length; i++) {
      if (c.editableHeader(remove.items[i], index(rp, i))) {
        cfg.removeHeaders.push(remove.items[i].str);
      }
    }
  }
}

/** max_body_bytes, max_inflight and max_buffered_bytes. */
function parseLimits(c: Checker, root: JsonValue, cfg: Config): void {
  const errors = c.count();
  const maxBody = root.get("max_body_bytes");
  if (
    maxBody !== null &&
    c.isInteger(maxBody, "max_body_bytes", 0, <f64>MAX_BODY_BYTES_LIMIT)
  ) {
    cfg.maxBodyBytes = <u32>maxBody.num;
  }
  const maxInflight = root.get("max_inflight");
  if (
    maxInflight !== null &&
    c.isInteger(maxInflight, "max_inflight", 1, <f64>MAX_INFLIGHT_LIMIT)
  ) {
    cfg.maxInflight = <u32>maxInflight.num;
  }
  const budget = root.get("max_buffered_bytes");
  if (
    budget !== null &&
    c.isInteger(
      budget,
      "max_buffered_bytes",
      <f64>MIN_MAX_BUFFERED_BYTES,
      <f64>MAX_BUFFERED_BYTES_LIMIT,
    )
  ) {
    cfg.maxBufferedBytes = <u32>budget.num;
  }
  // (max_body_bytes is at most 16 MiB and the default budget 32 MiB: only a budget set too low
  // can be below it.)
  if (c.count() == errors && cfg.maxBufferedBytes < cfg.maxBodyBytes) {
    c.fail(
      "max_buffered_bytes",
      E_BUDGET_BELOW_BODY + decimal(cfg.maxBodyBytes) + ")",
    );
  }
}

function parseCompare(c: Checker, v: JsonValue, cfg: Config): void {
  if (!c.isObject(v, "compare")) return;
  c.known(v, "compare", COMPARE_FIELDS);
  const status = v.get("status");
  const sp = join("compare", "status");
  if (status !== null && c.isString(status, sp)) {
    if (status.str == "exact") cfg.compareStatus = StatusCompare.Exact;
    else if (status.str == "class") cfg.compareStatus = StatusCompare.Class;
    else if (status.str == "off") cfg.compareStatus = StatusCompare.Off;
    else c.fail(sp, E_COMPARE_STATUS + status.describe());
  }
  const body = v.get("body");
  let bodyOk = true;
  if (body !== null) {
    if (body.kind == JsonKind.Bool) {
      cfg.compareBody = body.bool ? BodyCompare.Exact : BodyCompare.Off;
    } else if (body.kind == JsonKind.String && body.str == "exact") {
      cfg.compareBody = BodyCompare.Exact;
    } else if (body.kind == JsonKind.String && body.str == "json") {
      cfg.compareBody = BodyCompare.Json;
    } else {
      bodyOk = c.fail(
        join("compare", "body"),
        E_COMPARE_BODY + body.describe(),
      );
    }
  }
  const ignore = v.get("ignore");
  if (ignore !== null) parseIgnore(c, ignore, cfg, bodyOk);
  if (cfg.compareBody == BodyCompare.Json) {
    cfg.digestBytes = <u32>digestFootprint(cfg.ignoreRules);
  }
  const ignoreStatuses = v.get("ignore_statuses");
  const isp = join("compare", "ignore_statuses");
  if (ignoreStatuses !== null && c.isArray(ignoreStatuses, isp)) {
    for (let i = 0; i < ignoreStatuses.items.length; i++) {
      const s = ignoreStatuses.items[i];
      if (c.isInteger(s, index(isp, i), 100, 599)) {
        cfg.ignoreStatuses.push(<i32>s.num);
      }
    }
  }
  const headers = v.get("headers");
  const hp = join("compare", "headers");
  if (headers !== null && c.isArray(headers, hp)) {
    for (let i = 0; i < headers.items.length; i++) {
      const h = headers.items[i];
      if (
        c.headerName(h, index(hp, i)) &&
        !cfg.compareHeaders.includes(h.str)
      ) {
        cfg.compareHeaders.push(h.str);
        cfg.compareHeaderBytes.push(utf8(h.str));
      }
    }
  }
  const maxBody = v.get("max_body_bytes");
  if (
    maxBody !== null &&
    c.isInteger(
      maxBody,
      join("compare", "max_body_bytes"),
      0,
      <f64>COMPARE_MAX_BODY_BYTES_LIMIT,
    )
  ) {
    cfg.compareMaxBodyBytes = <u32>maxBody.num;
  }
  const samples = v.get("samples_per_second");
  const spp = join("compare", "samples_per_second");
  if (samples !== null) {
    if (samples.kind != JsonKind.Number) {
      c.fail(spp, E_NUMBER + kindOf(samples));
    } else if (!(samples.num >= 0 && samples.num <= 1000)) {
      c.fail(spp, "must be between 0 and 1000, got " + samples.raw);
    } else {
      cfg.samplesPerSecond = samples.num;
    }
  }
  const query = v.get("sample_query");
  if (query !== null) {
    if (query.kind != JsonKind.Bool) {
      c.fail(join("compare", "sample_query"), E_BOOL + query.describe());
    } else {
      cfg.sampleQuery = query.bool;
    }
  }
}

/** compare.ignore: JSON pointer patterns, for compare.body "json" only. */
function parseIgnore(
  c: Checker,
  ignore: JsonValue,
  cfg: Config,
  bodyOk: bool,
): void {
  const ip = join("compare", "ignore");
  if (!c.isArray(ignore, ip)) return;
  // A body that was refused says nothing about what was meant.
  if (cfg.compareBody != BodyCompare.Json) {
    if (bodyOk) c.fail(ip, E_IGNORE_NEEDS_JSON);
    return;
  }
  const patterns: string[] = [];
  let ok = true;
  for (let i = 0; i < ignore.items.length; i++) {
    const p = index(ip, i);
    const item = ignore.items[i];
    if (!c.isString(item, p)) ok = false;
    else if (hasLoneSurrogate(item.str)) ok = c.fail(p, E_LONE_SURROGATE);
    else patterns.push(item.str);
  }
  if (!ok) return;
  const rules = compileIgnore(patterns);
  if (rules === null) {
    // ignoreError is "[i]: <reason>"
    const sep = ignoreError.indexOf(": ");
    c.fail(ip + ignoreError.substring(0, sep), ignoreError.substring(sep + 2));
    return;
  }
  cfg.ignoreRules = rules;
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

/** A sampling key source: "header:NAME", "cookie:NAME", "query:NAME" or "path". */
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
