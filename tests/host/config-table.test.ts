/**
 * The table of bad configurations: every hand-written bad plugin configuration in
 * tests/fixtures/bad-configs.ts is refused by the release build/mirror.wasm with exactly its
 * expected message, logged once at error level; malformed JSON is refused as such; the good ones
 * are accepted without a warning. Nothing traps or misuses the ABI. A refused configuration leaves
 * the previous one serving.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import {
  badConfigs,
  goodConfigs,
  malformedConfigs,
  tooDeep,
  warnedConfigs,
} from "../fixtures/bad-configs.ts";
import { Host, LogLevel } from "../../tools/emulator/index.ts";
import { RELEASE_WASM } from "../../tools/paths.ts";

const WASM = RELEASE_WASM;
assert.ok(
  existsSync(WASM),
  "build/mirror.wasm is missing: run `npm run build`",
);

/** A fresh VM configured with `text`: whether it was accepted, and what it logged at warn or above. */
async function configure(text: string): Promise<{
  accepted: boolean;
  lines: Array<{ level: number; message: string }>;
  host: Host;
}> {
  const host = await Host.load(WASM, { rootId: "mirror" });
  const accepted = host.configure(text);
  assert.deepEqual(host.trapped, [], "the module trapped");
  assert.deepEqual(host.violations, [], "the module misused the ABI");
  const lines = host
    .logsAtLeast("warn")
    .map((l) => ({ level: l.level, message: l.message }));
  return { accepted, lines, host };
}

describe("bad plugin configurations are refused with their exact message", () => {
  for (const [name, [text, message]] of Object.entries(badConfigs)) {
    it(`${name} → ${message.length > 100 ? message.slice(0, 100) + "…" : message}`, async () => {
      const { accepted, lines } = await configure(text);
      assert.equal(accepted, false, "the configuration was accepted");
      assert.deepEqual(lines, [
        { level: LogLevel.error, message: `invalid plugin config: ${message}` },
      ]);
    });
  }
});

describe("malformed JSON is refused as not valid JSON, with the parser's reason", () => {
  const cases = { ...malformedConfigs, "valid JSON nested 41 deep": tooDeep };
  for (const [name, [text, message]] of Object.entries(cases)) {
    it(`${name} → ${message}`, async () => {
      if (name in malformedConfigs)
        assert.throws(
          () => JSON.parse(text),
          SyntaxError,
          "JSON.parse accepts it",
        );
      const { accepted, lines } = await configure(text);
      assert.equal(accepted, false, "the configuration was accepted");
      assert.deepEqual(lines, [
        { level: LogLevel.error, message: `invalid plugin config: ${message}` },
      ]);
    });
  }
});

describe("plugin configurations accepted with a warning", () => {
  for (const [name, [text, warnings]] of Object.entries(warnedConfigs)) {
    it(name, async () => {
      const { accepted, lines } = await configure(text);
      assert.equal(accepted, true);
      assert.deepEqual(
        lines,
        warnings.map((message) => ({ level: LogLevel.warn, message })),
      );
    });
  }
});

describe("good plugin configurations are accepted silently", () => {
  for (const [name, text] of Object.entries(goodConfigs)) {
    it(name, async () => {
      const { accepted, lines } = await configure(text);
      assert.deepEqual(lines, [], "logged at warn or above");
      assert.equal(accepted, true);
    });
  }
});

it("each refusal after a good configuration leaves the good one serving", async () => {
  const host = await Host.load(WASM, { rootId: "mirror" });
  assert.equal(
    host.configure('{"cluster": "kitchen-next", "percentage": 100}'),
    true,
  );
  const good = host.rootContextId;
  for (const [name, [text]] of Object.entries(badConfigs)) {
    assert.equal(host.configure(text), false, name);
    assert.equal(host.rootContextId, good, `${name}: the serving root changed`);
  }
  const stream = host.stream();
  stream.requestHeaders(
    [
      [":method", "GET"],
      [":path", "/menu"],
      [":authority", "kitchen"],
      ["x-request-id", "after-refusals"],
    ],
    true,
  );
  stream.done();
  assert.equal(
    host.httpCalls.length,
    1,
    "the good configuration stopped mirroring",
  );
  assert.equal(host.httpCalls[0].cluster, "kitchen-next");
  assert.deepEqual(host.trapped, []);
});
