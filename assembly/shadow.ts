// Live headers + target → the copy's headers, on the proxy-wasm header-map wire format:
// [u32 count][(u32 name len, u32 value len) × count][name bytes, NUL, value bytes, NUL …],
// little-endian. Maps are read where they lie (the host's buffer, often the scratch area) and
// the copy is written from their bytes: no header is decoded into objects on the request path.

import { Config, Target } from "./config";
import { HOP_BY_HOP } from "./configcheck";

/**
 * Walks a serialized header map entry by entry, stopping at the end or at the first entry that
 * does not fit (a truncated or inconsistent map is read as far as it goes). One per use, reused:
 * no allocation per walk.
 */
@final
class Cursor {
  private base: usize = 0;
  private size: u64 = 0;
  private count: u32 = 0;
  private i: u32 = 0;
  private data: u64 = 0;
  name: usize = 0;
  nameLen: u32 = 0;
  value: usize = 0;
  valueLen: u32 = 0;

  start(base: usize, size: u32): Cursor {
    this.base = base;
    this.size = size;
    this.i = 0;
    this.count = 0;
    if (size >= 4) {
      const count = load<u32>(base);
      // each entry needs 8 bytes of sizes and 2 NULs at least
      if (count <= (size - 4) / 10) {
        this.count = count;
        this.data = 4 + <u64>count * 8;
      }
    }
    return this;
  }

  next(): bool {
    const i = this.i;
    if (i >= this.count) return false;
    const sizes = this.base + 4 + <usize>i * 8;
    const nameLen = load<u32>(sizes);
    const valueLen = load<u32>(sizes, 4);
    const data = this.data;
    if (data + <u64>nameLen + <u64>valueLen + 2 > this.size) {
      this.count = 0;
      return false;
    }
    this.name = this.base + <usize>data;
    this.nameLen = nameLen;
    this.value = this.name + <usize>nameLen + 1;
    this.valueLen = valueLen;
    this.data = data + <u64>nameLen + <u64>valueLen + 2;
    this.i = i + 1;
    return true;
  }

  /** The current entry is named `name` (exact bytes). */
  named(name: ArrayBuffer): bool {
    return bytesAre(this.name, this.nameLen, name);
  }
}

const walk = new Cursor();
const inner = new Cursor();

/** `len` bytes at `ptr` are exactly `b`. */
export function bytesAre(ptr: usize, len: u32, b: ArrayBuffer): bool {
  return (
    len == <u32>b.byteLength &&
    memory.compare(ptr, changetype<usize>(b), len) == 0
  );
}

/**
 * Where the value of header `name` (first match) is in the serialized map of `size` bytes at
 * `base`: (offset << 32) | length, or -1 when absent. No copy is made.
 */
export function findHeaderAt(base: usize, size: u32, name: ArrayBuffer): i64 {
  const c = walk.start(base, size);
  while (c.next()) {
    if (c.named(name)) {
      return ((<i64>(c.value - base)) << 32) | (<i64>c.valueLen);
    }
  }
  return -1;
}

/** The value of header `name` in a serialized header map (first match), as a copy, or null. */
export function findHeader(
  buf: ArrayBuffer,
  name: ArrayBuffer,
): ArrayBuffer | null {
  const at = findHeaderAt(changetype<usize>(buf), buf.byteLength, name);
  if (at < 0) return null;
  const off = <i32>(at >> 32);
  return buf.slice(off, off + <i32>(at & 0xffffffff));
}

/** `a` (len bytes at ptr) names the same header as `b`: ASCII case, "-" and "_" alike. */
export function nameLike(ptr: usize, len: u32, b: ArrayBuffer): bool {
  if (len != <u32>b.byteLength) return false;
  const q = changetype<usize>(b);
  for (let i: usize = 0; i < <usize>len; i++) {
    let x = load<u8>(ptr + i);
    let y = load<u8>(q + i);
    if (x == 0x5f) x = 0x2d;
    if (y == 0x5f) y = 0x2d;
    if (x >= 0x41 && x <= 0x5a) x += 0x20;
    if (y >= 0x41 && y <= 0x5a) y += 0x20;
    if (x != y) return false;
  }
  return true;
}

/**
 * The names (as spelled in the map) of every header named like `name` ("-" and "_" alike) in a
 * serialized header map, each once; empty when none.
 */
export function namesLike(
  base: usize,
  size: u32,
  name: ArrayBuffer,
): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  const c = walk.start(base, size);
  while (c.next()) {
    if (nameLike(c.name, c.nameLen, name) && !listed(out, c.name, c.nameLen)) {
      const n = new ArrayBuffer(c.nameLen);
      memory.copy(changetype<usize>(n), c.name, c.nameLen);
      out.push(n);
    }
  }
  return out;
}

function listed(names: ArrayBuffer[], ptr: usize, len: u32): bool {
  for (let i = 0; i < names.length; i++) {
    if (bytesAre(ptr, len, names[i])) return true;
  }
  return false;
}

/** Whether a header named like `name` ("-" and "_" alike) is in a serialized header map. */
export function hasNameLike(base: usize, size: u32, name: ArrayBuffer): bool {
  const c = walk.start(base, size);
  while (c.next()) {
    if (nameLike(c.name, c.nameLen, name)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The copy.

const HOP_BY_HOP_BYTES: ArrayBuffer[] = HOP_BY_HOP.map<ArrayBuffer>(
  (n: string) => String.UTF8.encode(n),
);
const AUTHORITY = String.UTF8.encode(":authority");
const CONNECTION = String.UTF8.encode("connection");
const CONTENT_LENGTH = String.UTF8.encode("content-length");
const TE = String.UTF8.encode("te");
const TRAILERS = String.UTF8.encode("trailers");

function listedIn(list: ArrayBuffer[], ptr: usize, len: u32): bool {
  for (let i = 0; i < list.length; i++) {
    if (bytesAre(ptr, len, unchecked(list[i]))) return true;
  }
  return false;
}

/**
 * Bytes of the white space character starting at `p` (before `end`), or 0: String#trim's set
 * (ASCII 09–0D and space, and in UTF-8 U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F,
 * U+205F, U+3000, U+FEFF).
 */
function spaceAt(p: usize, end: usize): i32 {
  const c = <u32>load<u8>(p);
  if (c == 0x20 || (c >= 0x09 && c <= 0x0d)) return 1;
  if (c == 0xc2) return end - p >= 2 && load<u8>(p, 1) == 0xa0 ? 2 : 0;
  if (end - p < 3) return 0;
  return isWideSpace(
    (c << 16) | ((<u32>load<u8>(p, 1)) << 8) | (<u32>load<u8>(p, 2)),
  )
    ? 3
    : 0;
}

/** Bytes of the white space character ending at `end` (after `start`), or 0. */
function spaceBefore(start: usize, end: usize): i32 {
  const c = <u32>load<u8>(end - 1);
  if (c == 0x20 || (c >= 0x09 && c <= 0x0d)) return 1;
  if (end - start >= 2 && c == 0xa0 && load<u8>(end - 2) == 0xc2) return 2;
  if (end - start < 3) return 0;
  return isWideSpace(
    ((<u32>load<u8>(end - 3)) << 16) | ((<u32>load<u8>(end - 2)) << 8) | c,
  )
    ? 3
    : 0;
}

/** A three-byte UTF-8 sequence (as 0xXXYYZZ) that is a white space character. */
function isWideSpace(u: u32): bool {
  return (
    u == 0xe19a80 ||
    (u >= 0xe28080 && u <= 0xe2808a) ||
    u == 0xe280a8 ||
    u == 0xe280a9 ||
    u == 0xe280af ||
    u == 0xe2819f ||
    u == 0xe38080 ||
    u == 0xefbbbf
  );
}

/** Start and end of [p, end) without surrounding white space, into `trimStart`/`trimEnd`. */
let trimStart: usize = 0;
let trimEnd: usize = 0;
function trim(p: usize, end: usize): void {
  let n = 0;
  while (p < end && (n = spaceAt(p, end)) > 0) p += n;
  while (end > p && (n = spaceBefore(p, end)) > 0) end -= n;
  trimStart = p;
  trimEnd = end;
}

/** `te: trailers` (white space aside): the one TE that HTTP/2 allows, and gRPC needs it. */
function isTrailersOnly(value: usize, len: u32): bool {
  trim(value, value + len);
  return bytesAre(trimStart, <u32>(trimEnd - trimStart), TRAILERS);
}

/**
 * Whether the header `name` is named by a `Connection` header of the map (a comma-separated
 * list of names, ASCII case ignored): such a header is hop-by-hop too.
 */
function namedByConnection(
  base: usize,
  size: u32,
  name: usize,
  nameLen: u32,
): bool {
  const c = inner.start(base, size);
  while (c.next()) {
    if (!c.named(CONNECTION)) continue;
    const end = c.value + c.valueLen;
    let p = c.value;
    while (p <= end) {
      let q = p;
      while (q < end && load<u8>(q) != 0x2c) q++;
      trim(p, q);
      if (nameLen > 0 && <u32>(trimEnd - trimStart) == nameLen) {
        let same = true;
        for (let i: usize = 0; i < <usize>nameLen && same; i++) {
          let x = load<u8>(trimStart + i);
          if (x >= 0x41 && x <= 0x5a) x += 0x20;
          same = x == load<u8>(name + i);
        }
        if (same) return true;
      }
      p = q + 1;
    }
  }
  return false;
}

/** Where the host part of an authority ends: before a port (digits after the last ':'). */
function hostEnd(p: usize, len: u32): u32 {
  let colon: i32 = -1;
  let bracket: i32 = -1;
  for (let i: u32 = 0; i < len; i++) {
    const c = load<u8>(p + i);
    if (c == 0x3a) colon = <i32>i;
    else if (c == 0x5d) bracket = <i32>i;
  }
  if (colon <= bracket) return len;
  // "host:80" and "host:" (empty port) both have their port after the colon
  for (let i = <u32>colon + 1; i < len; i++) {
    const c = load<u8>(p + i);
    if (c < 0x30 || c > 0x39) return len;
  }
  return <u32>colon;
}

// The copy is written in two walks over the live map: the first counts entries and bytes, the
// second writes them. `out` is 0 during the first.
let out: usize = 0;
let outCount: u32 = 0;
let outAt: usize = 0;

/** One entry of the copy: `name` and a value made of up to three pieces. */
function emit(
  name: usize,
  nameLen: u32,
  a: usize,
  aLen: u32,
  b: usize = 0,
  bLen: u32 = 0,
  c: usize = 0,
  cLen: u32 = 0,
): void {
  const valueLen = aLen + bLen + cLen;
  if (out != 0) {
    const sizes = out + 4 + <usize>outCount * 8;
    store<u32>(sizes, nameLen);
    store<u32>(sizes, valueLen, 4);
    let p = outAt;
    memory.copy(p, name, nameLen);
    p += nameLen;
    store<u8>(p++, 0);
    memory.copy(p, a, aLen);
    p += aLen;
    memory.copy(p, b, bLen);
    p += bLen;
    memory.copy(p, c, cLen);
    p += cLen;
    store<u8>(p++, 0);
    outAt = p;
  } else {
    outAt += <usize>nameLen + <usize>valueLen + 2;
  }
  outCount++;
}

function emitBytes(name: ArrayBuffer, value: ArrayBuffer): void {
  emit(
    changetype<usize>(name),
    name.byteLength,
    changetype<usize>(value),
    value.byteLength,
  );
}

/** Every entry of the copy, in order, through `emit`. */
function copyEntries(
  cfg: Config,
  t: Target,
  base: usize,
  size: u32,
  connection: bool,
): void {
  let sawAuthority = false;
  const c = walk.start(base, size);
  while (c.next()) {
    const name = c.name;
    const nameLen = c.nameLen;
    if (c.named(AUTHORITY)) {
      if (sawAuthority) continue;
      sawAuthority = true;
      if (t.authority !== null) {
        emitBytes(AUTHORITY, t.authorityBytes);
      } else {
        // An unchanged authority keeps its exact bytes; a suffix goes before any port.
        const suffix = t.hostSuffixBytes;
        const host = suffix.byteLength > 0 ? hostEnd(c.value, c.valueLen) : 0;
        emit(
          name,
          nameLen,
          c.value,
          host,
          changetype<usize>(suffix),
          suffix.byteLength,
          c.value + host,
          c.valueLen - host,
        );
      }
      continue;
    }
    if (!(c.named(TE) && isTrailersOnly(c.value, c.valueLen))) {
      if (
        c.named(CONTENT_LENGTH) ||
        nameLike(name, nameLen, cfg.markerHeaderBytes) ||
        listedIn(HOP_BY_HOP_BYTES, name, nameLen) ||
        (connection && namedByConnection(base, size, name, nameLen)) ||
        listedIn(cfg.removeHeaderBytes, name, nameLen) ||
        listedIn(cfg.addNameBytes, name, nameLen)
      ) {
        continue;
      }
    }
    emit(name, nameLen, c.value, c.valueLen);
  }
  if (!sawAuthority) {
    // HTTP/1.0 without Host: a dispatched call must carry :authority.
    emitBytes(
      AUTHORITY,
      t.authority !== null ? t.authorityBytes : t.clusterBytes,
    );
  }
  const add = cfg.addHeaders;
  for (let i = 0; i < add.length; i++) {
    emitBytes(add[i].nameBytes, add[i].valueBytes);
  }
  emitBytes(cfg.markerHeaderBytes, cfg.markerValueBytes);
}

/**
 * The copy's header map, from the live one (`size` bytes at `base`): `:authority` set to the
 * target's authority or suffixed (the first one only; added when absent); hop-by-hop headers
 * (and those named by Connection), content-length (Envoy sets it from the body),
 * `headers.remove` and any inbound marker (in any spelling, "-" and "_" alike) dropped; then
 * `headers.add` and the marker. Order and bytes of the live headers are kept.
 */
export function shadowHeaders(
  cfg: Config,
  t: Target,
  base: usize,
  size: u32,
): ArrayBuffer {
  let connection = false;
  const c = walk.start(base, size);
  while (c.next() && !connection) connection = c.named(CONNECTION);
  out = 0;
  outCount = 0;
  outAt = 0;
  copyEntries(cfg, t, base, size, connection);
  const count = outCount;
  const buf = new ArrayBuffer(4 + <i32>count * 8 + <i32>outAt);
  out = changetype<usize>(buf);
  store<u32>(out, count);
  outCount = 0;
  outAt = out + 4 + <usize>count * 8;
  copyEntries(cfg, t, base, size, connection);
  out = 0;
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Header lists, for tests and tools: the same wire format as objects.

/** One header: the name as text (Envoy hands them lower-cased), the value as raw bytes. */
export class Header {
  name: string;
  value: ArrayBuffer;

  constructor(name: string, value: ArrayBuffer) {
    this.name = name;
    this.value = value;
  }
}

/** Decodes a serialized header map; a truncated or inconsistent map yields what fits. */
export function parseHeaderMap(buf: ArrayBuffer): Header[] {
  const list: Header[] = [];
  const c = walk.start(changetype<usize>(buf), buf.byteLength);
  while (c.next()) {
    const value = new ArrayBuffer(c.valueLen);
    memory.copy(changetype<usize>(value), c.value, c.valueLen);
    list.push(new Header(String.UTF8.decodeUnsafe(c.name, c.nameLen), value));
  }
  return list;
}

/** Encodes headers in the proxy-wasm wire format. */
export function serializeHeaderMap(headers: Header[]): ArrayBuffer {
  const names: ArrayBuffer[] = [];
  let size = 4 + headers.length * 8;
  for (let i = 0; i < headers.length; i++) {
    const n = String.UTF8.encode(headers[i].name);
    names.push(n);
    size += n.byteLength + headers[i].value.byteLength + 2;
  }
  const buf = new ArrayBuffer(size);
  const base = changetype<usize>(buf);
  store<u32>(base, headers.length);
  out = base;
  outCount = 0;
  outAt = base + 4 + headers.length * 8;
  for (let i = 0; i < headers.length; i++) {
    emitBytes(names[i], headers[i].value);
  }
  out = 0;
  return buf;
}
