// Live headers + target → the copy's headers, and the proxy-wasm header-map
// wire format: [u32 count][(u32 name len, u32 value len) × count]
// [name bytes, NUL, value bytes, NUL …], little-endian.

import { Config, HOP_BY_HOP, Target, asciiLower } from "./config";

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
  const out: Header[] = [];
  const size = <u32>buf.byteLength;
  if (size < 4) return out;
  const base = changetype<usize>(buf);
  const count = load<u32>(base);
  // each entry needs 8 bytes of sizes and 2 NULs at least
  if (count > (size - 4) / 10) return out;
  let data = 4 + count * 8;
  for (let i: u32 = 0; i < count; i++) {
    const nameLen = load<u32>(base + 4 + i * 8);
    const valueLen = load<u32>(base + 8 + i * 8);
    if (nameLen > size || valueLen > size) return out;
    if (<u64>data + <u64>nameLen + <u64>valueLen + 2 > <u64>size) return out;
    const name = String.UTF8.decodeUnsafe(base + data, nameLen);
    data += nameLen + 1;
    const value = buf.slice(<i32>data, <i32>(data + valueLen));
    data += valueLen + 1;
    out.push(new Header(name, value));
  }
  return out;
}

/**
 * The value of header `name` in a serialized header map (first match), as a
 * copy, or null; a truncated or inconsistent map is searched as far as it goes.
 * The filter reads the live map once and looks headers up with this.
 */
export function findHeader(
  buf: ArrayBuffer,
  name: ArrayBuffer,
): ArrayBuffer | null {
  const size = <u32>buf.byteLength;
  if (size < 4) return null;
  const base = changetype<usize>(buf);
  const count = load<u32>(base);
  if (count > (size - 4) / 10) return null;
  const want = <u32>name.byteLength;
  let data: u64 = 4 + <u64>count * 8;
  for (let i: u32 = 0; i < count; i++) {
    const nameLen = load<u32>(base + 4 + i * 8);
    const valueLen = load<u32>(base + 8 + i * 8);
    if (data + <u64>nameLen + <u64>valueLen + 2 > <u64>size) return null;
    const at = <usize>data;
    data += <u64>nameLen + 1;
    if (
      nameLen == want &&
      memory.compare(base + at, changetype<usize>(name), want) == 0
    ) {
      return buf.slice(<i32>data, <i32>(data + valueLen));
    }
    data += <u64>valueLen + 1;
  }
  return null;
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
 * serialized header map; empty when none. A truncated map is searched as far as it goes.
 */
export function namesLike(buf: ArrayBuffer, name: ArrayBuffer): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  const size = <u32>buf.byteLength;
  if (size < 4) return out;
  const base = changetype<usize>(buf);
  const count = load<u32>(base);
  if (count > (size - 4) / 10) return out;
  let data: u64 = 4 + <u64>count * 8;
  for (let i: u32 = 0; i < count; i++) {
    const nameLen = load<u32>(base + 4 + i * 8);
    const valueLen = load<u32>(base + 8 + i * 8);
    if (data + <u64>nameLen + <u64>valueLen + 2 > <u64>size) return out;
    const at = <usize>data;
    if (
      nameLike(base + at, nameLen, name) &&
      !listed(out, base + at, nameLen)
    ) {
      out.push(buf.slice(<i32>at, <i32>(at + nameLen)));
    }
    data += <u64>nameLen + <u64>valueLen + 2;
  }
  return out;
}

function listed(names: ArrayBuffer[], ptr: usize, len: u32): bool {
  for (let i = 0; i < names.length; i++) {
    const n = names[i];
    if (
      <u32>n.byteLength == len &&
      memory.compare(changetype<usize>(n), ptr, len) == 0
    )
      return true;
  }
  return false;
}

/** Whether a header named like `name` ("-" and "_" alike) is in a serialized header map. */
export function hasNameLike(buf: ArrayBuffer, name: ArrayBuffer): bool {
  const size = <u32>buf.byteLength;
  if (size < 4) return false;
  const base = changetype<usize>(buf);
  const count = load<u32>(base);
  if (count > (size - 4) / 10) return false;
  let data: u64 = 4 + <u64>count * 8;
  for (let i: u32 = 0; i < count; i++) {
    const nameLen = load<u32>(base + 4 + i * 8);
    const valueLen = load<u32>(base + 8 + i * 8);
    if (data + <u64>nameLen + <u64>valueLen + 2 > <u64>size) return false;
    if (nameLike(base + <usize>data, nameLen, name)) return true;
    data += <u64>nameLen + <u64>valueLen + 2;
  }
  return false;
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
  const out = new ArrayBuffer(size);
  const base = changetype<usize>(out);
  store<u32>(base, headers.length);
  let data = base + 4 + headers.length * 8;
  for (let i = 0; i < headers.length; i++) {
    const n = names[i];
    const v = headers[i].value;
    store<u32>(base + 4 + i * 8, n.byteLength);
    store<u32>(base + 8 + i * 8, v.byteLength);
    memory.copy(data, changetype<usize>(n), n.byteLength);
    data += n.byteLength;
    store<u8>(data, 0);
    data++;
    memory.copy(data, changetype<usize>(v), v.byteLength);
    data += v.byteLength;
    store<u8>(data, 0);
    data++;
  }
  return out;
}

/**
 * Appends `suffix` to the host of an authority, before any port:
 * "kitchen:8080" + "-shadow" → "kitchen-shadow:8080" (as Envoy's shadow host does).
 */
export function suffixHost(authority: string, suffix: string): string {
  if (suffix.length == 0) return authority;
  let hostEnd = authority.length;
  const colon = authority.lastIndexOf(":");
  const bracket = authority.lastIndexOf("]");
  if (colon > bracket) {
    // "host:80" and "host:" (empty port) both have their port after the colon
    let digits = true;
    for (let i = colon + 1; i < authority.length; i++) {
      const c = authority.charCodeAt(i);
      if (c < 0x30 || c > 0x39) digits = false;
    }
    if (digits) hostEnd = colon;
  }
  return (
    authority.substring(0, hostEnd) + suffix + authority.substring(hostEnd)
  );
}

function lowerTokens(value: ArrayBuffer): string[] {
  const parts = String.UTF8.decode(value).split(",");
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const t = asciiLower(parts[i].trim());
    if (t.length > 0) out.push(t);
  }
  return out;
}

/**
 * The copy's headers: the live ones with :authority rewritten or suffixed,
 * hop-by-hop headers (and those named by Connection), content-length (Envoy
 * sets it from the body), `headers.remove` and any inbound marker (in any
 * spelling, "-" and "_" alike) dropped; then `headers.add` and the marker.
 * Order of the live headers is kept.
 */
export function shadowHeaders(
  cfg: Config,
  t: Target,
  live: Header[],
): Header[] {
  let connectionTokens: string[] = [];
  for (let i = 0; i < live.length; i++) {
    if (live[i].name == "connection") {
      connectionTokens = connectionTokens.concat(lowerTokens(live[i].value));
    }
  }
  const out: Header[] = [];
  let sawAuthority = false;
  for (let i = 0; i < live.length; i++) {
    const h = live[i];
    const n = h.name;
    if (n == ":authority") {
      if (sawAuthority) continue;
      sawAuthority = true;
      // An unchanged authority keeps its exact bytes.
      if (t.authority === null && t.hostSuffix.length == 0) out.push(h);
      else
        out.push(new Header(n, String.UTF8.encode(copyAuthority(t, h.value))));
      continue;
    }
    // "te: trailers" is the one TE that HTTP/2 allows, and gRPC needs it.
    if (n == "te" && isTrailersOnly(h.value)) {
      out.push(h);
      continue;
    }
    if (
      n == "content-length" ||
      isMarker(cfg, n) ||
      HOP_BY_HOP.includes(n) ||
      connectionTokens.includes(n) ||
      cfg.removeHeaders.includes(n) ||
      isAdded(cfg, n)
    ) {
      continue;
    }
    out.push(h);
  }
  if (!sawAuthority) {
    // HTTP/1.0 without Host: a dispatched call must carry :authority.
    const a = t.authority;
    out.push(
      new Header(":authority", String.UTF8.encode(a !== null ? a : t.cluster)),
    );
  }
  for (let i = 0; i < cfg.addHeaders.length; i++) {
    const a = cfg.addHeaders[i];
    out.push(new Header(a.name, String.UTF8.encode(a.value)));
  }
  out.push(new Header(cfg.markerHeader, String.UTF8.encode(cfg.markerValue)));
  return out;
}

function isMarker(cfg: Config, name: string): bool {
  if (name.length != cfg.markerHeader.length) return false;
  const b = String.UTF8.encode(name);
  return nameLike(
    changetype<usize>(b),
    <u32>b.byteLength,
    cfg.markerHeaderBytes,
  );
}

function isTrailersOnly(v: ArrayBuffer): bool {
  return String.UTF8.decode(v).trim() == "trailers";
}

function copyAuthority(t: Target, live: ArrayBuffer): string {
  const a = t.authority;
  if (a !== null) return a;
  return suffixHost(String.UTF8.decode(live), t.hostSuffix);
}

function isAdded(cfg: Config, name: string): bool {
  for (let i = 0; i < cfg.addHeaders.length; i++) {
    if (cfg.addHeaders[i].name == name) return true;
  }
  return false;
}
