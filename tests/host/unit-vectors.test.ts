/**
 * tests/unit/vectors.spec.ts (the as-pect side of the shared sampling vectors)
 * is generated from tests/fixtures/sampling-vectors.json: regenerated here and
 * compared, so the Wasm-level checks always run on the current fixture.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { SPEC_PATH, vectorsSpecSource } from "../unit/gen-vectors-spec.ts";

it("tests/unit/vectors.spec.ts is generated from the current fixture", async () => {
  assert.equal(
    readFileSync(SPEC_PATH, "utf8"),
    await vectorsSpecSource(),
    "regenerate with: node --import tsx tests/unit/gen-vectors-spec.ts",
  );
});
