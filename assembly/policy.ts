// The mirror decision, for each target: match, loop guard, method safety (with method
// overrides), sampling key, bucket. Pure: the request is seen through a RequestView.

import { Config, KeySource, SamplingKey, Target } from "./config";
import { bucketOfBytes, isSampled } from "./sampler";

export const METHOD = String.UTF8.encode(":method");
export const PATH = String.UTF8.encode(":path");
const COOKIE = String.UTF8.encode("cookie");
const EMPTY = new ArrayBuffer(0);

/** Why a request is not mirrored to a target (None: it is). */
export enum Skip {
  None,
  NotMatched,
  Loop,
  Method,
  NoKey,
  SampledOut,
}

/** Single-header reads of the live request; values are raw bytes. */
export abstract class RequestView {
  /** The value of header `name` (lower-case UTF-8), or null when absent. */
  abstract header(name: ArrayBuffer): ArrayBuffer | null;
  /**
   * Whether a header named like `name` is present, "-" and "_" alike (Envoy passes
   * `x_shadow` by default, and CGI/WSGI-style frameworks read it as `x-shadow`).
   */
  abstract headerLike(name: ArrayBuffer): bool;
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
  path: ArrayBuffer = EMPTY;
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
    const path = req.header(PATH);
    this.path = path !== null ? path : EMPTY;
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
          changetype<usize>(span.buf) + <usize>span.off,
          span.len,
        )),
      );
      unchecked((this.known[g] = true));
    }
    return unchecked(this.buckets[g]);
  }
}

// @ts-ignore: decorator
@inline
function byteAt(buf: ArrayBuffer, i: i32): u8 {
  return load<u8>(changetype<usize>(buf) + <usize>i);
}

/** `buf[off..off+len)` equals all of `b`. */
export function equalAt(
  buf: ArrayBuffer,
  off: i32,
  len: i32,
  b: ArrayBuffer,
): bool {
  if (len != b.byteLength) return false;
  return (
    memory.compare(changetype<usize>(buf) + off, changetype<usize>(b), len) == 0
  );
}

/** `buf` starts with `prefix`. */
export function startsWith(buf: ArrayBuffer, prefix: ArrayBuffer): bool {
  const n = prefix.byteLength;
  if (buf.byteLength < n) return false;
  return (
    memory.compare(changetype<usize>(buf), changetype<usize>(prefix), n) == 0
  );
}

function bytesEqual(a: ArrayBuffer, b: ArrayBuffer): bool {
  return equalAt(a, 0, a.byteLength, b);
}

/** The target's match fits this request (path prefix, exact header values). */
export function targetMatches(
  t: Target,
  path: ArrayBuffer,
  req: RequestView,
): bool {
  if (
    t.pathPrefixBytes.byteLength > 0 &&
    !startsWith(path, t.pathPrefixBytes)
  ) {
    return false;
  }
  for (let i = 0; i < t.matchHeaders.length; i++) {
    const m = t.matchHeaders[i];
    const v = req.header(m.nameBytes);
    if (v === null || !bytesEqual(v, m.value)) return false;
  }
  return true;
}

/** The method is mirrored: listed in `methods`, or in an unsafe_paths rule for this path. */
export function methodAllowed(
  cfg: Config,
  method: ArrayBuffer,
  path: ArrayBuffer,
): bool {
  for (let i = 0; i < cfg.methodBytes.length; i++) {
    if (bytesEqual(method, cfg.methodBytes[i])) return true;
  }
  for (let i = 0; i < cfg.unsafePaths.length; i++) {
    const u = cfg.unsafePaths[i];
    if (!startsWith(path, u.pathPrefixBytes)) continue;
    for (let j = 0; j < u.methodBytes.length; j++) {
      if (bytesEqual(method, u.methodBytes[j])) return true;
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
  path: ArrayBuffer,
  req: RequestView,
): bool {
  let method = req.header(METHOD);
  if (method === null) method = EMPTY;
  if (!methodAllowed(cfg, method, path)) return false;
  const overrides = cfg.methodOverrides;
  for (let i = 0; i < overrides.length; i++) {
    const o = overrides[i];
    if (o.source == KeySource.Header) {
      const v = req.header(o.nameBytes);
      if (v !== null && !methodAllowed(cfg, upperTrimmed(v), path)) {
        return false;
      }
    } else if (findQuery(path, o.nameBytes, overrideSpan)) {
      const v = overrideSpan.buf.slice(
        overrideSpan.off,
        overrideSpan.off + overrideSpan.len,
      );
      if (!methodAllowed(cfg, upperTrimmed(v), path)) return false;
    }
  }
  return true;
}

/** ASCII upper-case of `v` without surrounding spaces (an override's value). */
function upperTrimmed(v: ArrayBuffer): ArrayBuffer {
  let start = 0;
  let end = v.byteLength;
  while (start < end && isSpace(byteAt(v, start))) start++;
  while (end > start && isSpace(byteAt(v, end - 1))) end--;
  const out = new ArrayBuffer(end - start);
  for (let i = start; i < end; i++) {
    const c = byteAt(v, i);
    store<u8>(
      changetype<usize>(out) + <usize>(i - start),
      c >= 0x61 && c <= 0x7a ? c - 0x20 : c,
    );
  }
  return out;
}

/** Where a key was found: `len` bytes at `off` in `buf`. */
export class KeySpan {
  buf: ArrayBuffer = new ArrayBuffer(0);
  off: i32 = 0;
  len: i32 = 0;
}

function isSpace(c: u8): bool {
  return c == 0x20 || c == 0x09;
}

/** The value of cookie `name` in a Cookie header, non-empty, into `out`. */
export function findCookie(
  header: ArrayBuffer,
  name: ArrayBuffer,
  out: KeySpan,
): bool {
  const n = header.byteLength;
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
      if (equalAt(header, start, nameEnd - start, name)) {
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
          out.buf = header;
          out.off = vs;
          out.len = ve - vs;
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
  path: ArrayBuffer,
  name: ArrayBuffer,
  out: KeySpan,
): bool {
  const n = path.byteLength;
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
    if (equalAt(path, start, eq - start, name) && eq + 1 < i) {
      out.buf = path;
      out.off = eq + 1;
      out.len = i - eq - 1;
      return true;
    }
    if (i < n && byteAt(path, i) == 0x23) return false;
    i++;
  }
  return false;
}

/** The path without its query string, non-empty. */
export function findPath(path: ArrayBuffer, out: KeySpan): bool {
  const n = path.byteLength;
  let i = 0;
  while (i < n && byteAt(path, i) != 0x3f && byteAt(path, i) != 0x23) i++;
  if (i == 0) return false;
  out.buf = path;
  out.off = 0;
  out.len = i;
  return true;
}

/** The first present source of `keys`, into `out`; false when none is. */
export function findKey(
  keys: SamplingKey[],
  path: ArrayBuffer,
  req: RequestView,
  out: KeySpan,
): bool {
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (k.source == KeySource.Header) {
      const v = req.header(k.nameBytes);
      if (v !== null && v.byteLength > 0) {
        out.buf = v;
        out.off = 0;
        out.len = v.byteLength;
        return true;
      }
    } else if (k.source == KeySource.Cookie) {
      const v = req.header(COOKIE);
      if (v !== null && findCookie(v, k.nameBytes, out)) return true;
    } else if (k.source == KeySource.Query) {
      if (findQuery(path, k.nameBytes, out)) return true;
    } else if (findPath(path, out)) {
      return true;
    }
  }
  return false;
}

const overrideSpan = new KeySpan();
