// XXH64 and the sampling formula. Reference values come from xxhash-wasm 1.1.0
// (h64Raw), a well-kept implementation of XXH64, computed by a one-off Node
// script: the pattern inputs are byte i = (i * 131 + 7) & 0xff.

import {
  BUCKETS,
  bucketOf,
  bucketOfBytes,
  isSampled,
  thresholdOf,
} from "../../assembly/sampler";
import { Xxh64Stream, xxh64, xxh64Of } from "../../assembly/xxh64";

/** n bytes of the reference pattern, starting `offset` bytes into a fresh buffer. */
function patternAt(n: i32, offset: i32): ArrayBuffer {
  const b = new Uint8Array(n + offset);
  for (let i = 0; i < n; i++) b[offset + i] = <u8>((i * 131 + 7) & 0xff);
  return b.buffer;
}

function pattern(n: i32): ArrayBuffer {
  return patternAt(n, 0);
}

function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

/** XXH64(pattern(n)) for n = 0..70: every tail path (8/4/1-byte steps) and 1–2 stripes. */
const PATTERN_HASHES: u64[] = [
  0xef46db3751d8e999, 0xa96c7f0ce858bbb7, 0xc22c6a70ad56bba6,
  0xbed43740ee6332bb, 0xfa212ae44b3bb23d, 0xd339dcc9ac8e6776,
  0x71cabdc85da7ffa0, 0x2744460dd675d2c0, 0x994b676b71ce94dd,
  0x572b84c18b983af8, 0x08283fd40ee4f8c9, 0x97f078da7a1a590c,
  0xb92f588ce720786e, 0xdadc8a6255b4829b, 0x574269377227d80a,
  0x09e6451ed2ff8b1d, 0x94ad0095e72b24d5, 0x1464f2eff23b5fe1,
  0x712c39f6d1ed935e, 0x83ef9c758393e89d, 0x67822fa80e0c8933,
  0xfa6de19e99ff8d43, 0xa8d0ae04d79885f2, 0xcf65b69586b05fab,
  0x0a3b0194f3afe0b8, 0xe0fd072fff811c86, 0xc4f7372a7fb8f247,
  0xfee26cac05aeecf0, 0x01a6f3d224fa7d3b, 0x161a3bc98afcf092,
  0x3f8796d7bfaaaa08, 0x6711d55e306b5d8f, 0x07f7b8e3bc5d6e25,
  0x09f85eeb4e1cbe9f, 0x35284e7f91dd1ae5, 0x25cc31e4544bc8c9,
  0xe7ac625222f2b655, 0x1d8c3a2215085739, 0x1fb3064ed36c675f,
  0xb13c137a0fb701c3, 0xd25150177ba46490, 0x3ad8bb2779d9285e,
  0xfe4ddab6e3d75ddc, 0x9d340603aa03cc62, 0xd02b2028c27a5329,
  0xff59426b0066066b, 0x713a114207f600e2, 0x79bd9d6dd8c15570,
  0x2947de5e3a6afece, 0x43f1e784039912d3, 0x072fa9968401e9c7,
  0xc3c4ff0d8f66e206, 0x0efbc3939fa05814, 0x42be842d0902d7a7,
  0x8a78b907c424dc46, 0x8f8dc5b07f6d48ed, 0xa2acf5b431db2e52,
  0x403200f5d0354116, 0xc326a3d65678339b, 0xa53b8e5bc9ff65a4,
  0x4cce586d8aca19e5, 0xbd3bd33486af6dc6, 0x4149dd403b20a2dc,
  0xb7c9968c066cb6a5, 0x50d4159a0411632e, 0xd277176bff863efc,
  0x578ba93daaaa4333, 0x5c44ab49f377e73f, 0x0074fd38e968c15b,
  0xdd2aa690f53212c8, 0xa4b1256e6fd1d806,
];

class StringHash {
  constructor(
    public text: string,
    public byteLength: i32,
    public hash: u64,
  ) {}
}

const STRING_HASHES: StringHash[] = [
  new StringHash("a", 1, 0xd24ec4f1a98c6e5b),
  new StringHash("abc", 3, 0x44bc2cf5ad770999),
  new StringHash(
    "The quick brown fox jumps over the lazy dog",
    43,
    0x0b242d361fda71bc,
  ),
  new StringHash("é", 2, 0x17d757dfb8b46f78),
  new StringHash("日本語", 9, 0x7179a19f3719f5e1),
  new StringHash("😀", 4, 0x9025b8abaae87b80),
  new StringHash("über-user-42", 13, 0x104506008b4da001),
  new StringHash("ключ-сессии", 21, 0x2138139fb7ca17f2),
  new StringHash(
    "日本語のキー、三十二バイトを超える長さのもの",
    66,
    0x171d2d789aac9120,
  ),
];

class SeededHash {
  constructor(
    public seed: u64,
    public length: i32,
    public hash: u64,
  ) {}
}

const SEEDED_HASHES: SeededHash[] = [
  new SeededHash(1, 0, 0xd5afba1336a3be4b),
  new SeededHash(1, 5, 0xe07f25fb3a8e5de9),
  new SeededHash(1, 31, 0xe811d10b03941e82),
  new SeededHash(1, 32, 0xdf4f0f6ea84ebbca),
  new SeededHash(1, 63, 0xbe65bc64322f219b),
  new SeededHash(0x9e3779b97f4a7c15, 0, 0xc4349fc93c010000),
  new SeededHash(0x9e3779b97f4a7c15, 5, 0xf51eda3a20de9b88),
  new SeededHash(0x9e3779b97f4a7c15, 31, 0x24c4e99ab0404b5e),
  new SeededHash(0x9e3779b97f4a7c15, 32, 0x046e99bbda1a814b),
  new SeededHash(0x9e3779b97f4a7c15, 63, 0xbd457f9ea47180c8),
  new SeededHash(0xffffffffffffffff, 0, 0x298f4c84b24f5380),
  new SeededHash(0xffffffffffffffff, 5, 0xcd856d2e5f2c6a31),
  new SeededHash(0xffffffffffffffff, 31, 0x0559625f4e0afe08),
  new SeededHash(0xffffffffffffffff, 32, 0xd5db58b1a19eefb2),
  new SeededHash(0xffffffffffffffff, 63, 0x5b30f335733619ab),
];

class BucketVector {
  constructor(
    public salt: string,
    public key: string,
    public bucket: u32,
  ) {}
}

/** XXH64(utf8(salt + ":" + key)) mod 1000000, from the reference. */
const BUCKET_VECTORS: BucketVector[] = [
  new BucketVector("", "", 241481),
  new BucketVector("", "user-1", 716205),
  new BucketVector("s1", "user-1", 675767),
  new BucketVector("salt", "日本語", 564339),
  new BucketVector("v2", "😀", 864234),
  new BucketVector("", "req-0001", 902411),
  new BucketVector("", "req-0002", 598448),
  new BucketVector("", "req-0003", 998436),
  new BucketVector("per", "req-0001", 285206),
  new BucketVector("top", "req-0001", 793407),
  new BucketVector("", "/orders/42", 260792),
];

describe("xxh64", () => {
  it("matches the reference for the empty input", () => {
    expect<u64>(xxh64Of(new ArrayBuffer(0))).toBe(0xef46db3751d8e999);
  });

  it("matches the reference for every length from 0 to 70 bytes", () => {
    for (let n = 0; n < PATTERN_HASHES.length; n++) {
      expect<u64>(xxh64Of(pattern(n))).toBe(
        PATTERN_HASHES[n],
        "pattern length " + n.toString(),
      );
    }
  });

  it("reads unaligned input (the same bytes at offsets 1..7)", () => {
    for (let off = 1; off < 8; off++) {
      for (let n = 0; n < PATTERN_HASHES.length; n += 7) {
        const buf = patternAt(n, off);
        expect<u64>(
          xxh64(changetype<usize>(buf) + <usize>off, <usize>n, 0),
        ).toBe(
          PATTERN_HASHES[n],
          "offset " + off.toString() + " length " + n.toString(),
        );
      }
    }
  });

  it("matches the reference for 1000 bytes (31 stripes and a tail)", () => {
    expect<u64>(xxh64Of(pattern(1000))).toBe(0x0bf0bdbcc82eb373);
  });

  it("hashes the UTF-8 bytes of non-ASCII text as the reference does", () => {
    for (let i = 0; i < STRING_HASHES.length; i++) {
      const v = STRING_HASHES[i];
      const bytes = utf8(v.text);
      expect<i32>(bytes.byteLength).toBe(v.byteLength, v.text);
      expect<u64>(xxh64Of(bytes)).toBe(v.hash, v.text);
    }
  });

  it("honours the seed", () => {
    for (let i = 0; i < SEEDED_HASHES.length; i++) {
      const v = SEEDED_HASHES[i];
      const buf = pattern(v.length);
      expect<u64>(xxh64(changetype<usize>(buf), <usize>v.length, v.seed)).toBe(
        v.hash,
        "seed " + v.seed.toString() + " length " + v.length.toString(),
      );
    }
  });

  it("does not read past the given length", () => {
    const buf = pattern(40);
    const view = Uint8Array.wrap(buf);
    // Change the bytes after the first 13: the hash of the first 13 must not move.
    for (let i = 13; i < 40; i++) view[i] = 0xff;
    expect<u64>(xxh64(changetype<usize>(buf), 13, 0)).toBe(PATTERN_HASHES[13]);
  });
});

describe("Xxh64Stream", () => {
  it("equals the reference over any split into chunks, and again after reset", () => {
    // One stream for everything: each input starts with reset(), as the one-shot form does.
    const s = new Xxh64Stream();
    for (let n = 0; n < PATTERN_HASHES.length; n++) {
      const buf = pattern(n);
      const at = changetype<usize>(buf);
      for (let chunk = 1; chunk <= 33; chunk += 4) {
        s.reset();
        for (let off = 0; off < n; off += chunk)
          s.update(at + <usize>off, <usize>min(chunk, n - off));
        expect<u64>(s.digest()).toBe(
          PATTERN_HASHES[n],
          "length " + n.toString() + " in chunks of " + chunk.toString(),
        );
      }
    }
  });

  it("honours the seed given to reset", () => {
    const s = new Xxh64Stream();
    for (let i = 0; i < SEEDED_HASHES.length; i++) {
      const v = SEEDED_HASHES[i];
      const buf = pattern(v.length);
      s.update(changetype<usize>(buf), 5); // left over from a previous use
      s.reset(v.seed);
      s.update(changetype<usize>(buf), <usize>v.length);
      expect<u64>(s.digest()).toBe(v.hash, "seed " + v.seed.toString());
    }
  });
});

describe("bucketOf", () => {
  it('is XXH64(utf8(salt + ":" + key)) mod 1000000, as the reference', () => {
    for (let i = 0; i < BUCKET_VECTORS.length; i++) {
      const v = BUCKET_VECTORS[i];
      expect<u32>(bucketOf(v.salt, v.key)).toBe(
        v.bucket,
        '"' + v.salt + '" / "' + v.key + '"',
      );
    }
  });

  it("equals bucketOfBytes over the same prefix and key bytes", () => {
    for (let i = 0; i < BUCKET_VECTORS.length; i++) {
      const v = BUCKET_VECTORS[i];
      const key = utf8(v.key);
      expect<u32>(
        bucketOfBytes(
          utf8(v.salt + ":"),
          changetype<usize>(key),
          key.byteLength,
        ),
      ).toBe(v.bucket, v.key);
    }
  });

  it("hashes a key inside a larger buffer by pointer and length", () => {
    const buf = utf8("uid=req-0001&x=1");
    expect<u32>(bucketOfBytes(utf8(":"), changetype<usize>(buf) + 4, 8)).toBe(
      902411,
    );
  });

  it("hashes keys and salts longer than 256 bytes", () => {
    expect<u32>(bucketOf("", "x".repeat(300))).toBe(107726);
    expect<u32>(bucketOf("long-salt-".repeat(30), "k")).toBe(426330);
    // and a short key after a long one still hashes only its own bytes
    expect<u32>(bucketOf("", "user-1")).toBe(716205);
    expect<u32>(bucketOf("", "")).toBe(241481);
  });

  it("stays below 1000000", () => {
    for (let i = 0; i < 2000; i++) {
      expect<u32>(bucketOf("s", "k" + i.toString())).toBeLessThan(<u32>BUCKETS);
    }
  });

  it("depends on the salt", () => {
    expect<u32>(bucketOf("per", "req-0001")).not.toBe(
      bucketOf("top", "req-0001"),
    );
  });
});

describe("thresholdOf", () => {
  it("is round(percentage × 10000)", () => {
    expect<u32>(thresholdOf(0)).toBe(0);
    expect<u32>(thresholdOf(0.0001)).toBe(1);
    expect<u32>(thresholdOf(0.0002)).toBe(2);
    expect<u32>(thresholdOf(0.5)).toBe(5000);
    expect<u32>(thresholdOf(1)).toBe(10000);
    expect<u32>(thresholdOf(10)).toBe(100000);
    expect<u32>(thresholdOf(12.3456)).toBe(123456);
    expect<u32>(thresholdOf(33.3333)).toBe(333333);
    expect<u32>(thresholdOf(50)).toBe(500000);
    expect<u32>(thresholdOf(99.9999)).toBe(999999);
    expect<u32>(thresholdOf(100)).toBe(1000000);
  });

  it("is exact where percentage × 10000 is not a whole float", () => {
    // 0.0003 × 10000 = 2.9999999999999996, 0.0007 × 10000 = 6.999999999999999
    expect<u32>(thresholdOf(0.0003)).toBe(3);
    expect<u32>(thresholdOf(0.0007)).toBe(7);
    expect<u32>(thresholdOf(4.1)).toBe(41000);
    expect<u32>(thresholdOf(57.0001)).toBe(570001);
    for (let t = 0; t <= 1000000; t += 997) {
      expect<u32>(thresholdOf(<f64>t / 10000)).toBe(<u32>t, t.toString());
    }
  });

  it("clamps to 0..1000000", () => {
    expect<u32>(thresholdOf(-0.0)).toBe(0);
    expect<u32>(thresholdOf(-1)).toBe(0);
    expect<u32>(thresholdOf(-Infinity)).toBe(0);
    expect<u32>(thresholdOf(100.00001)).toBe(1000000);
    expect<u32>(thresholdOf(1e300)).toBe(1000000);
    expect<u32>(thresholdOf(Infinity)).toBe(1000000);
  });

  it("answers 0 for NaN instead of trapping", () => {
    expect<u32>(thresholdOf(NaN)).toBe(0);
  });
});

describe("isSampled", () => {
  it("mirrors a bucket strictly below the threshold", () => {
    expect<bool>(isSampled(0, 0)).toBe(false);
    expect<bool>(isSampled(0, 1)).toBe(true);
    expect<bool>(isSampled(99999, 100000)).toBe(true);
    expect<bool>(isSampled(100000, 100000)).toBe(false);
    expect<bool>(isSampled(999999, 1000000)).toBe(true);
    expect<bool>(isSampled(999999, 999999)).toBe(false);
  });

  it("mirrors nothing at 0% and everything at 100%", () => {
    for (let i = 0; i < 1000; i++) {
      const b = bucketOf("", "key-" + i.toString());
      expect<bool>(isSampled(b, thresholdOf(0))).toBe(false);
      expect<bool>(isSampled(b, thresholdOf(100))).toBe(true);
    }
  });

  it("keeps every key already mirrored when the percentage is raised", () => {
    const steps: f64[] = [0, 0.0001, 0.5, 1, 5, 10, 33.3333, 50, 99.9999, 100];
    for (let i = 0; i < 5000; i++) {
      const b = bucketOf("mono", "user-" + i.toString());
      let was = false;
      for (let s = 0; s < steps.length; s++) {
        const now = isSampled(b, thresholdOf(steps[s]));
        if (was) expect<bool>(now).toBe(true, "key user-" + i.toString());
        was = now;
      }
    }
  });

  it("mirrors about the configured share of keys", () => {
    // 20000 keys at 10%: mean 2000, sd ≈ 42.4; ±5 sd.
    let n = 0;
    const t = thresholdOf(10);
    for (let i = 0; i < 20000; i++) {
      if (isSampled(bucketOf("rate", "k-" + i.toString()), t)) n++;
    }
    expect<i32>(n).toBeGreaterThan(1788);
    expect<i32>(n).toBeLessThan(2212);
  });
});
