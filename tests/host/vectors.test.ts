/**
 * The sampling vectors in tests/fixtures/ are what the sampling formula (docs/sampling.md) gives with an independent
 * XXH64 (xxhash-wasm): regenerated here and compared, so the checked-in file cannot drift.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  VECTORS_PATH,
  vectorsDocument,
  type Vector,
} from "../fixtures/gen-vectors.ts";

it("tests/fixtures/sampling-vectors.json equals a fresh run of gen-vectors.ts", async () => {
  const onDisk = JSON.parse(readFileSync(VECTORS_PATH, "utf8"));
  assert.deepEqual(
    onDisk,
    await vectorsDocument(),
    "regenerate with: node --import tsx tests/fixtures/gen-vectors.ts",
  );
});

it("the vectors cover what they must", async () => {
  const { vectors } = (await vectorsDocument()) as { vectors: Vector[] };
  const lengths = vectors.map((v) => Buffer.byteLength(`${v.salt}:${v.key}`));
  const percentages = new Set(vectors.map((v) => v.percentage));
  for (const p of [0, 0.0001, 0.5, 10, 33.3333, 50, 100])
    assert.ok(percentages.has(p), `${p}%`);
  assert.ok(vectors.some((v) => v.salt === ""));
  assert.ok(vectors.some((v) => v.key === ""));
  assert.ok(vectors.some((v) => /[^\x00-\x7f]/.test(v.key)));
  assert.ok(vectors.some((v) => /\p{Extended_Pictographic}/u.test(v.key)));
  assert.ok(lengths.some((n) => n > 100));
  const tails = new Set(lengths.filter((n) => n > 32).map((n) => n % 32));
  for (const t of [0, 1, 4, 7, 8, 12, 15, 16, 31])
    assert.ok(tails.has(t), `tail of ${t} bytes`);
  assert.ok(
    vectors.some((v) => v.mirrored) && vectors.some((v) => !v.mirrored),
  );
  // Edges: a bucket one below the threshold is mirrored, the threshold itself is not.
  for (const v of vectors) {
    const threshold = Math.round(v.percentage * 10_000);
    assert.equal(v.mirrored, v.bucket < threshold, JSON.stringify(v));
  }
  assert.ok(
    vectors.some((v) => v.bucket === Math.round(v.percentage * 10_000) - 1),
  );
  assert.ok(
    vectors.some((v) => v.bucket === Math.round(v.percentage * 10_000)),
  );
});
