// The mirror decision, for each target: match, loop guard, method safety (with method
// overrides), sampling key, bucket. Pure: the request is seen through a RequestView, whose
// values are read where they lie (spans), so a decision allocates nothing.

import {
  Config,
  KeySource,
  Match,
  PathMatch,
  SamplingKey,
  Target,
  ValueMatch,
} from "./config";
import { bucketOfBytes, isSampled } from "./sampler";

export const METHOD = String.UTF8.encode(":method");
export const PATH = String.UTF8.encode(":path");
const COOKIE = String.UTF8.encode("cookie");

/** Why a request is not mirrored to a target (None: it is). */
export enum Skip {
  None,
  NotMatched,
  Loop,
  Method,
  NoKey,
  SampledOut,
}

/**
 * `len` bytes at `ptr`: a header value, a key, a path, where it lies. Valid while what it
 * points into is (for the live request: the callback that read it).
 */
export class KeySpan {
  ptr: usize = 0;
  len: i32 = 0;
  /** keeps the bytes alive when they are an object of their own */
  owner: ArrayBuffer | null = null;

  /** Points at the whole of `buf`. */
  of(buf: ArrayBuffer): KeySpan {
    this.ptr = changetype<usize>(buf);
    this.len = buf.byteLength;
    this.owner = buf;
    return this;
  }

  clear(): void {
    this.ptr = 0;
    this.len = 0;
    this.owner = null;
  }
}

/** Header reads of the live request; values are raw bytes. */
export abstract class RequestView {
  /** The value of header `name` (lower-case UTF-8), or null when absent. */
  abstract header(name: ArrayBuffer): ArrayBuffer | null;
  /**
   * Whether a header named like `name` is present, "-" and "_" alike (Envoy passes
   * `x_shadow` by default, and CGI/WSGI-style frameworks read it as `x-shadow`).
   */
  abstract headerLike(name: ArrayBuffer): bool;
  /** The value of header `name` into `out`, without a copy where the view can; false when absent. */
  find(name: ArrayBuffer, out: KeySpan): bool {
    const v = this.header(name);
    if (v === null) return false;
    out.of(v);
    return true;
  }
}

/**
 * What one request is, for every target at once: the marker, the method (with its overrides)
 * and the sampling key are looked up at most once per request, and the key's bucket once per
 * distinct salt. Owned by a root context, sized for its config, reused across requests.
 */
export class RequestDecision {
  /** the request carries the marker (any spelling) */
  marker: bool = false;
  /** ...and inbound is "strip": remove it from the live request */
  stripMarker: bool = false;
  /** :path (empty when absent) */
  path: KeySpan = new KeySpan();
  private methodKnown: bool = false;
  private methodOk: bool = false;
  private keyKnown: bool = false;
  private hasKey: bool = false;
  private span: KeySpan = new KeySpan();
  /** the key's bucket per salt group, valid where `known` is set */
  private buckets: StaticArray<u32>;
  private known: StaticArray<bool>;

  constructor(saltGroups: i32) {
    this.buckets = new StaticArray<u32>(saltGroups);
    this.known = new StaticArray<bool>(saltGroups);
  }

  /** Starts a new request. */
  begin(cfg: Config, req: RequestView): void {
    this.marker = req.headerLike(cfg.markerHeaderBytes);
    this.stripMarker = this.marker && cfg.markerStrip;
    if (!req.find(PATH, this.path)) this.path.clear();
    this.methodKnown = false;
    this.keyKnown = false;
    const known = this.known;
    for (let i = 0; i < known.length; i++) unchecked((known[i] = false));
  }

  /** Whether `t` gets a copy of this request, or why not. */
  decide(cfg: Config, t: Target, req: RequestView): Skip {
    if (!targetMatches(t, this.path, req)) return Skip.NotMatched;
    if (this.marker && !cfg.markerStrip) return Skip.Loop;
    if (!this.methodKnown) {
      this.methodKnown = true;
      this.methodOk = methodsAllowed(cfg, this.path, req);
    }
    if (!this.methodOk) return Skip.Method;
    if (!this.keyKnown) {
      this.keyKnown = true;
      this.hasKey = findKey(cfg.keys, this.path, req, this.span);
    }
    if (!this.hasKey) return Skip.NoKey;
    return isSampled(this.bucketOf(cfg, t.saltGroup), t.threshold)
      ? Skip.None
      : Skip.SampledOut;
  }

  /** The key's bucket under salt group `g` (after a decision found the key). */
  bucketOf(cfg: Config, g: i32): u32 {
    if (!unchecked(this.known[g])) {
      const span = this.span;
      unchecked(
        (this.buckets[g] = bucketOfBytes(
          cfg.saltPrefixes[g],
          span.ptr,
          span.len,
        )),
      );
      unchecked((this.known[g] = true));
    }
    return unchecked(this.buckets[g]);
  }
}

/** The span's bytes are exactly `b`. */
function spanIs(s: KeySpan, b: ArrayBuffer): bool {
  return (
    s.len == b.byteLength &&
    memory.compare(s.ptr, changetype<usize>(b), s.len) == 0
  );
}

/** The span starts with `prefix`. */
export function startsWith(s: KeySpan, prefix: ArrayBuffer): bool {
  const n = prefix.byteLength;
  return s.len >= n && memory.compare(s.ptr, changetype<usize>(prefix), n) == 0;
}

/** `len` bytes at `ptr` equal all of `b`. */
function equalAt(ptr: usize, len: i32, b: ArrayBuffer): bool {
  return (
    len == b.byteLength && memory.compare(ptr, changetype<usize>(b), len) == 0
  );
}

// @ts-ignore: decorator
@inline
function byteAt(p: usize, i: i32): u8 {
  return load<u8>(p + <usize>i);
}

/** A value found by the view, for one comparison at a time. */
const scratchSpan = new KeySpan();

/** The target considers this request: it has no match, or one of its match objects fits. */
export function targetMatches(
  t: Target,
  path: KeySpan,
  req: RequestView,
): bool {
  const ms = t.matches;
  if (ms.length == 0) return true;
  for (let i = 0; i < ms.length; i++) {
    if (matchFits(unchecked(ms[i]), path, req)) return true;
  }
  return false;
}

/** Every condition of `m` holds: the path, the method, each header, each query parameter. */
function matchFits(m: Match, path: KeySpan, req: RequestView): bool {
  if (m.path != PathMatch.Any && !pathFits(m, path)) return false;
  const v = scratchSpan;
  if (m.methodBytes.byteLength > 0) {
    if (!req.find(METHOD, v) || !spanIs(v, m.methodBytes)) return false;
  }
  const headers = m.headers;
  for (let i = 0; i < headers.length; i++) {
    const h = unchecked(headers[i]);
    if (!req.find(h.nameBytes, v) || !valueFits(h, v)) return false;
  }
  const query = m.query;
  for (let i = 0; i < query.length; i++) {
    const q = unchecked(query[i]);
    if (!queryParam(path, q.nameBytes, v) || !valueFits(q, v)) return false;
  }
  return true;
}

function pathFits(m: Match, path: KeySpan): bool {
  const b = m.pathBytes;
  if (m.path == PathMatch.Prefix) return startsWith(path, b);
  // The other conditions look at the path without its query (or fragment).
  const n = pathLength(path);
  if (m.path == PathMatch.Regex) return m.pathRegex!.matches(path.ptr, n);
  const len = b.byteLength;
  if (n < len || memory.compare(path.ptr, changetype<usize>(b), len) != 0) {
    return false;
  }
  if (m.path == PathMatch.Exact) return n == len;
  // A segment prefix: the path ends there or goes on with "/".
  return n == len || byteAt(path.ptr, len) == 0x2f;
}

function valueFits(m: ValueMatch, v: KeySpan): bool {
  const r = m.regex;
  return r !== null ? r.matches(v.ptr, v.len) : spanIs(v, m.exact);
}

/** The length of the path before any "?" or "#". */
function pathLength(span: KeySpan): i32 {
  const p = span.ptr;
  const n = span.len;
  let i = 0;
  while (i < n && byteAt(p, i) != 0x3f && byteAt(p, i) != 0x23) i++;
  return i;
}

/**
 * The raw value of the first query parameter named `name` into `out` (empty for `name` or
 * `name=`): what a match condition compares.
 */
export function queryParam(
  span: KeySpan,
  name: ArrayBuffer,
  out: KeySpan,
): bool {
  const path = span.ptr;
  const n = span.len;
  let i = pathLength(span);
  if (i == n || byteAt(path, i) == 0x23) return false;
  i++;
  while (i < n) {
    const start = i;
    while (i < n && byteAt(path, i) != 0x26 && byteAt(path, i) != 0x23) i++;
    let eq = start;
    while (eq < i && byteAt(path, eq) != 0x3d) eq++;
    if (equalAt(path + <usize>start, eq - start, name)) {
      const from = eq < i ? eq + 1 : i;
      out.ptr = path + <usize>from;
      out.len = i - from;
      out.owner = span.owner;
      return true;
    }
    if (i < n && byteAt(path, i) == 0x23) return false;
    i++;
  }
  return false;
}

/** The index of the `k`-th cluster name to try: the one in use, then the others in their order. */
export function clusterToTry(inUse: i32, k: i32): i32 {
  return k == 0 ? inUse : k <= inUse ? k - 1 : k;
}

/** The method is mirrored: listed in `methods`, or in an unsafe_paths rule for this path. */
export function methodAllowed(
  cfg: Config,
  method: KeySpan,
  path: KeySpan,
): bool {
  for (let i = 0; i < cfg.methodBytes.length; i++) {
    if (spanIs(method, cfg.methodBytes[i])) return true;
  }
  for (let i = 0; i < cfg.unsafePaths.length; i++) {
    const u = cfg.unsafePaths[i];
    if (!startsWith(path, u.pathPrefixBytes)) continue;
    for (let j = 0; j < u.methodBytes.length; j++) {
      if (spanIs(method, u.methodBytes[j])) return true;
    }
  }
  return false;
}

/**
 * The request's method and every method override it carries (`method_override`: a header or a
 * query parameter naming another method, which frameworks honour) are all mirrored: a GET that
 * says `X-HTTP-Method-Override: DELETE` is a DELETE to a dark app that honours it.
 */
export function methodsAllowed(
  cfg: Config,
  path: KeySpan,
  req: RequestView,
): bool {
  const v = scratchSpan;
  if (!req.find(METHOD, v)) v.clear();
  if (!methodAllowed(cfg, v, path)) return false;
  const overrides = cfg.methodOverrides;
  for (let i = 0; i < overrides.length; i++) {
    const o = overrides[i];
    const found =
      o.source == KeySource.Header
        ? req.find(o.nameBytes, v)
        : findQuery(path, o.nameBytes, v);
    if (found && !methodAllowed(cfg, upperTrimmed(v), path)) return false;
  }
  return true;
}

/** A method override's value, ASCII upper-cased, without surrounding spaces. */
const overrideMethod = new KeySpan();
let overrideBytes = new ArrayBuffer(16);

/** ASCII upper-case of `v` without surrounding spaces (an override's value), in a reused buffer. */
function upperTrimmed(v: KeySpan): KeySpan {
  let start = 0;
  let end = v.len;
  while (start < end && isSpace(byteAt(v.ptr, start))) start++;
  while (end > start && isSpace(byteAt(v.ptr, end - 1))) end--;
  if (end - start > overrideBytes.byteLength) {
    overrideBytes = new ArrayBuffer(end - start);
  }
  const out = changetype<usize>(overrideBytes);
  for (let i = start; i < end; i++) {
    const c = byteAt(v.ptr, i);
    store<u8>(out + <usize>(i - start), c >= 0x61 && c <= 0x7a ? c - 0x20 : c);
  }
  overrideMethod.ptr = out;
  overrideMethod.len = end - start;
  return overrideMethod;
}

function isSpace(c: u8): bool {
  return c == 0x20 || c == 0x09;
}

/** The value of cookie `name` in a Cookie header, non-empty, into `out`. */
export function findCookie(
  cookie: KeySpan,
  name: ArrayBuffer,
  out: KeySpan,
): bool {
  const header = cookie.ptr;
  const n = cookie.len;
  let i = 0;
  while (i < n) {
    while (i < n && (isSpace(byteAt(header, i)) || byteAt(header, i) == 0x3b))
      i++;
    const start = i;
    while (i < n && byteAt(header, i) != 0x3b) i++;
    // segment [start, i): name=value
    let eq = start;
    while (eq < i && byteAt(header, eq) != 0x3d) eq++;
    if (eq < i) {
      let nameEnd = eq;
      while (nameEnd > start && isSpace(byteAt(header, nameEnd - 1))) nameEnd--;
      if (equalAt(header + <usize>start, nameEnd - start, name)) {
        let vs = eq + 1;
        let ve = i;
        while (vs < ve && isSpace(byteAt(header, vs))) vs++;
        while (ve > vs && isSpace(byteAt(header, ve - 1))) ve--;
        // RFC 6265 allows a quoted value; the key is what is inside (as Envoy parses it).
        if (
          ve - vs >= 2 &&
          byteAt(header, vs) == 0x22 &&
          byteAt(header, ve - 1) == 0x22
        ) {
          vs++;
          ve--;
        }
        if (ve > vs) {
          out.ptr = header + <usize>vs;
          out.len = ve - vs;
          out.owner = cookie.owner;
          return true;
        }
        // empty: a later cookie of the same name may still carry the key
      }
    }
  }
  return false;
}

/** The raw (not percent-decoded) value of query parameter `name`, non-empty. */
export function findQuery(
  span: KeySpan,
  name: ArrayBuffer,
  out: KeySpan,
): bool {
  const path = span.ptr;
  const n = span.len;
  let i = 0;
  while (i < n && byteAt(path, i) != 0x3f) {
    if (byteAt(path, i) == 0x23) return false; // a fragment before any query
    i++;
  }
  i++;
  while (i < n) {
    const start = i;
    while (i < n && byteAt(path, i) != 0x26 && byteAt(path, i) != 0x23) i++;
    let eq = start;
    while (eq < i && byteAt(path, eq) != 0x3d) eq++;
    if (equalAt(path + <usize>start, eq - start, name) && eq + 1 < i) {
      out.ptr = path + <usize>(eq + 1);
      out.len = i - eq - 1;
      out.owner = span.owner;
      return true;
    }
    if (i < n && byteAt(path, i) == 0x23) return false;
    i++;
  }
  return false;
}

/** The path without its query string, non-empty. */
export function findPath(span: KeySpan, out: KeySpan): bool {
  const path = span.ptr;
  const n = span.len;
  let i = 0;
  while (i < n && byteAt(path, i) != 0x3f && byteAt(path, i) != 0x23) i++;
  if (i == 0) return false;
  out.ptr = path;
  out.len = i;
  out.owner = span.owner;
  return true;
}

/** The first present source of `keys`, into `out`; false when none is. */
export function findKey(
  keys: SamplingKey[],
  path: KeySpan,
  req: RequestView,
  out: KeySpan,
): bool {
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (k.source == KeySource.Header) {
      if (req.find(k.nameBytes, out) && out.len > 0) return true;
    } else if (k.source == KeySource.Cookie) {
      const v = scratchSpan;
      if (req.find(COOKIE, v) && findCookie(v, k.nameBytes, out)) return true;
    } else if (k.source == KeySource.Query) {
      if (findQuery(path, k.nameBytes, out)) return true;
    } else if (findPath(path, out)) {
      return true;
    }
  }
  return false;
}
