/**
 * Header maps as Envoy keeps them (an ordered multimap, names lowercased) and the pairs codec the
 * ABI passes them in.
 */

/** Header pairs as tests write them: names are lowercased on the way in, like Envoy does. */
export type HeaderInput =
  | Iterable<readonly [string, string | Uint8Array]>
  | Record<string, string>;

/** An ordered multimap of header name → value bytes, as Envoy's HeaderMap keeps it. */
export class HeaderMap {
  /** [name, value bytes] in order; names lowercase. */
  readonly entries: Array<[string, Buffer]> = [];

  constructor(input?: HeaderInput) {
    if (input === undefined) return;
    const pairs =
      Symbol.iterator in Object(input)
        ? (input as Iterable<readonly [string, string | Uint8Array]>)
        : Object.entries(input as Record<string, string>);
    for (const [name, value] of pairs) this.add(name, value);
  }

  /** First value of `name` as UTF-8, or undefined. */
  get(name: string): string | undefined {
    const e = this.entries.find(([k]) => k === name.toLowerCase());
    return e === undefined ? undefined : e[1].toString("utf8");
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    return this.entries
      .filter(([k]) => k === key)
      .map(([, v]) => v.toString("utf8"));
  }

  has(name: string): boolean {
    const key = name.toLowerCase();
    return this.entries.some(([k]) => k === key);
  }

  /** Appends (Envoy `addCopy`). */
  add(name: string, value: string | Uint8Array): void {
    this.entries.push([name.toLowerCase(), toBuffer(value)]);
  }

  /** Removes every `name`, then appends (Envoy `setCopy`). */
  set(name: string, value: string | Uint8Array): void {
    this.remove(name);
    this.add(name, value);
  }

  /** Removes every `name` (Envoy `remove`). */
  remove(name: string): void {
    const key = name.toLowerCase();
    for (let i = this.entries.length - 1; i >= 0; i--) {
      if (this.entries[i][0] === key) this.entries.splice(i, 1);
    }
  }

  /** Number of entries (what Envoy passes as `num_headers`). */
  get size(): number {
    return this.entries.length;
  }

  /** Sum of name and value lengths (Envoy `HeaderMap::byteSize`). */
  byteSize(): number {
    return this.entries.reduce(
      (n, [k, v]) => n + Buffer.byteLength(k) + v.length,
      0,
    );
  }

  /** Names in order, duplicates kept. */
  names(): string[] {
    return this.entries.map(([k]) => k);
  }

  /** [name, value] with values decoded as UTF-8. */
  pairs(): Array<[string, string]> {
    return this.entries.map(([k, v]) => [k, v.toString("utf8")]);
  }

  clone(): HeaderMap {
    const m = new HeaderMap();
    for (const [k, v] of this.entries) m.entries.push([k, Buffer.from(v)]);
    return m;
  }
}

/**
 * Serializes pairs the way the ABI passes header maps:
 * [u32 count][(u32 nameLen, u32 valueLen) × count][name, NUL, value, NUL …], little-endian.
 */
export function serializePairs(
  entries: ReadonlyArray<readonly [string, Uint8Array]>,
): Buffer {
  const names = entries.map(([k]) => Buffer.from(k, "utf8"));
  let size = 4 + entries.length * 8;
  entries.forEach(([, v], i) => (size += names[i].length + 1 + v.length + 1));
  const out = Buffer.alloc(size);
  out.writeUInt32LE(entries.length, 0);
  let pos = 4 + entries.length * 8;
  entries.forEach(([, v], i) => {
    out.writeUInt32LE(names[i].length, 4 + i * 8);
    out.writeUInt32LE(v.length, 8 + i * 8);
    names[i].copy(out, pos);
    pos += names[i].length + 1;
    out.set(v, pos);
    pos += v.length + 1;
  });
  return out;
}

/** Parses serialized pairs; returns a reason string when the bytes are malformed. */
export function parsePairs(
  bytes: Uint8Array,
): Array<[string, Buffer]> | string {
  if (bytes.length === 0) return [];
  if (bytes.length < 4)
    return `pairs buffer of ${bytes.length} bytes is shorter than its count`;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = b.readUInt32LE(0);
  if (4 + n * 8 > b.length)
    return `pairs count ${n} does not fit in ${b.length} bytes`;
  let pos = 4 + n * 8;
  const out: Array<[string, Buffer]> = [];
  for (let i = 0; i < n; i++) {
    const kl = b.readUInt32LE(4 + i * 8);
    const vl = b.readUInt32LE(8 + i * 8);
    if (pos + kl + 1 + vl + 1 > b.length)
      return `pair ${i} runs past the end of the buffer`;
    const key = b.subarray(pos, pos + kl);
    if (b[pos + kl] !== 0) return `pair ${i}: name is not NUL-terminated`;
    pos += kl + 1;
    const value = Buffer.from(b.subarray(pos, pos + vl));
    if (b[pos + vl] !== 0) return `pair ${i}: value is not NUL-terminated`;
    pos += vl + 1;
    out.push([key.toString("utf8"), value]);
  }
  if (pos !== b.length)
    return `${b.length - pos} trailing bytes after ${n} pairs`;
  return out;
}

/** Bytes of a string (UTF-8) or a copy of bytes. */
export function toBuffer(v: string | Uint8Array): Buffer {
  return typeof v === "string" ? Buffer.from(v, "utf8") : Buffer.from(v);
}
