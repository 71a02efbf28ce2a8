/**
 * The README's examples of refused configurations are what the release module
 * logs: each line in its fenced block is produced by a config listed here.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Host } from "./emulator.ts";

const WASM = fileURLToPath(new URL("../../build/mirror.wasm", import.meta.url));
const README = fileURLToPath(new URL("../../README.md", import.meta.url));

const T = (extra: string) =>
  `{"targets":[{"cluster":"kitchen-next",${extra}}]}`;
const CONFIGS: string[] = [
  T('"percentage":150'),
  T('"percentage":10,"timeout_ms":0'),
  '{"cluster":"kitchen-next","percentage":10,"sampling":{"keys":["ip"]}}',
  '{"cluster":"kitchen-next","percentage":10,"marker":{"inbound":"drop"}}',
  T('"percentage":10,"clustr":"x"'),
  '{"cluster": "k" "percentage": 1}',
];

it("every refused-config example in the README is what the filter logs", async () => {
  const documented = readFileSync(README, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("invalid plugin config: "));
  assert.ok(
    documented.length >= CONFIGS.length,
    "the README lost its examples",
  );
  const logged: string[] = [];
  for (const config of CONFIGS) {
    const host = await Host.load(readFileSync(WASM), { rootId: "mirror" });
    assert.equal(host.configure(config), false, config);
    const errors = host.logs("error").map((l) => l.message);
    assert.equal(errors.length, 1, `one log line for ${config}`);
    logged.push(errors[0]);
    assert.deepEqual(host.trapped, []);
  }
  assert.deepEqual(logged, documented);
});
