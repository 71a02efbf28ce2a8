// The mirror decision: target match, loop guard, method safety, sampling key,
// bucket. Pure: the request is seen through a RequestView, one header at a
// time, so a request that is not mirrored never costs a full header-map read.

import { Config, KeySource, SamplingKey, Target } from "./config";
import { bucketOfBytes, isSampled } from "./sampler";

/** Why a request is not mirrored (None: it is). */
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
}

/** The outcome of `decideMirror`, reused across requests. */
export class Decision {
  /** index of the first target whose match fits, or -1 */
  target: i32 = -1;
  reason: Skip = Skip.None;
  /** the request carries the marker and inbound is "strip": remove it from live */
  stripMarker: bool = false;
  /** the key's bucket, when a key was found */
  bucket: u32 = 0;

  reset(): void {
    this.target = -1;
    this.reason = Skip.None;
    this.stripMarker = false;
    this.bucket = 0;
  }
}

export const METHOD = String.UTF8.encode(":method");
export const PATH = String.UTF8.encode(":path");
const COOKIE = String.UTF8.encode("cookie");

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

const span = new KeySpan();
const EMPTY = new ArrayBuffer(0);

/** Decides whether this request is mirrored, and to which target, into `d`. */
export function decideMirror(cfg: Config, req: RequestView, d: Decision): void {
  d.reset();
  const marker = req.header(cfg.markerHeaderBytes);
  if (marker !== null && cfg.markerStrip) d.stripMarker = true;

  let path = req.header(PATH);
  if (path === null) path = EMPTY;
  for (let i = 0; i < cfg.targets.length; i++) {
    if (targetMatches(cfg.targets[i], path, req)) {
      d.target = i;
      break;
    }
  }
  if (d.target < 0) {
    d.reason = Skip.NotMatched;
    return;
  }
  if (marker !== null && !cfg.markerStrip) {
    d.reason = Skip.Loop;
    return;
  }
  let method = req.header(METHOD);
  if (method === null) method = EMPTY;
  if (!methodAllowed(cfg, method, path)) {
    d.reason = Skip.Method;
    return;
  }
  if (!findKey(cfg.keys, path, req, span)) {
    d.reason = Skip.NoKey;
    return;
  }
  const t = cfg.targets[d.target];
  d.bucket = bucketOfBytes(
    t.saltPrefix,
    changetype<usize>(span.buf) + <usize>span.off,
    span.len,
  );
  d.reason = isSampled(d.bucket, t.threshold) ? Skip.None : Skip.SampledOut;
}
