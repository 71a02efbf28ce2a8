/**
 * docs/configuration.md says what the release module does: its refused-config lines are what the
 * filter logs — first every line of its example with several errors, for that example's JSON,
 * then one line for each config listed here, in order —, its JSON example (every field)
 * and the README's minimal config are accepted without a warning, and its field table has a row
 * for every field of the example and no other.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Host } from "../../tools/emulator/index.ts";
import { RELEASE_WASM, repoText } from "../../tools/paths.ts";

const CONFIGURATION = repoText("docs/configuration.md");
const README = repoText("README.md");

const T = (extra: string) =>
  `{"targets":[{"cluster":"kitchen-next",${extra}}]}`;
const C = (compare: string) =>
  `{"cluster":"kitchen-next","percentage":10,"compare":${compare}}`;
const CONFIGS: string[] = [
  T('"percentage":150'),
  T('"percentage":10,"timeout_ms":0'),
  '{"cluster":"kitchen-next","percentage":10,"sampling":{"keys":["ip"]}}',
  '{"cluster":"kitchen-next","percentage":10,"marker":{"inbound":"drop"}}',
  T('"percentage":10,"clustr":"x"'),
  '{"cluster": "k" "percentage": 1}',
  JSON.stringify({
    targets: Array.from({ length: 65 }, (_, i) => ({
      cluster: `kitchen-${i}`,
      percentage: 1,
    })),
  }),
  '{"targets":[{"cluster":"kitchen-next","percentage":10},{"cluster":"kitchen-next","percentage":5}]}',
  T('"percentage":10,"max_rps":0'),
  T('"clusters":["kitchen-v3"],"percentage":10'),
  '{"targets":[{"cluster":"kitchen-next","percentage":10,"label":"orders"},{"cluster":"kitchen-next","percentage":5,"label":"orders"}]}',
  T('"percentage":10,"weight":2'),
  '{"targets":[{"cluster":"kitchen-next","percentage":10}],"label":"orders"}',
  T('"percentage":10,"match":[]'),
  T('"percentage":10,"match":{"path_prefix":"/orders","path_exact":"/orders"}'),
  T('"percentage":10,"match":{"path_exact":"/orders?id=1"}'),
  T('"percentage":10,"match":{"path_regex":"/orders/(?!internal).*"}'),
  T('"percentage":10,"match":{"path_regex":"/[a-z0-9]{1,100}"}'),
  T('"percentage":10,"match":{"headers":{"x-tenant":{"regex":"\\\\p{Lu}+"}}}'),
  T(
    '"percentage":10,"match":{"headers":{"x-tenant":{"regex":"acme|globex","exact":"acme"}}}',
  ),
  T('"percentage":10,"match":{"query":{"id=1":"x"}}'),
  T('"percentage":10,"match":{"method":"get"}'),
  '{"targets":[{"cluster":"kitchen-next","percentage":10,"baseline":true},{"cluster":"kitchen-baseline","percentage":10,"baseline":true}]}',
  '{"targets":[{"cluster":"kitchen-next","percentage":10},{"cluster":"kitchen-baseline","percentage":5,"baseline":true}]}',
  '{"targets":[{"cluster":"kitchen-next","percentage":10,"salt":"a"},{"cluster":"kitchen-baseline","percentage":10,"baseline":true}]}',
  '{"cluster":"kitchen-next","percentage":10,"max_body_bytes":1048576,"max_buffered_bytes":524288}',
  '{"cluster":"kitchen-next","percentage":10,"method_override":["body:_method"]}',
  C('{"body":"yes"}'),
  C('{"ignore":["/timestamp"]}'),
  C('{"body":"json","ignore":["timestamp"]}'),
  C('{"body":"json","ignore":["/**"]}'),
  C('{"headers":["Content-Type"]}'),
  C('{"max_body_bytes":-1}'),
  C('{"samples_per_second":5000}'),
  C('{"sample_query":"yes"}'),
];

/** The error lines the release module logs when it refuses `config`. */
async function refusal(config: string): Promise<string[]> {
  const host = await Host.load(readFileSync(RELEASE_WASM), {
    rootId: "mirror",
  });
  assert.equal(host.configure(config), false, config);
  assert.deepEqual(host.trapped, []);
  return host.logs("error").map((l) => l.message);
}

it("every refused-config example in docs/configuration.md is what the filter logs", async () => {
  const documented = CONFIGURATION.split("\n").filter((l) =>
    l.startsWith("invalid plugin config: "),
  );
  const several = /```json\n([\s\S]*?)\n```/.exec(
    section(CONFIGURATION, "## Refused configurations"),
  )?.[1];
  assert.ok(several, "docs/configuration.md: no example of several errors");
  const logged = await refusal(several);
  assert.ok(logged.length > 1, "the example of several errors gives one");
  assert.ok(
    documented.length >= logged.length + CONFIGS.length,
    "docs/configuration.md lost its examples",
  );
  for (const config of CONFIGS) {
    const errors = await refusal(config);
    assert.equal(errors.length, 1, `one log line for ${config}`);
    logged.push(errors[0]);
  }
  assert.deepEqual(logged, documented);
});

/** The section of `text` that starts with `heading`, up to the next heading of its level. */
function section(text: string, heading: string): string {
  const start = text.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `no "${heading}" section`);
  const level = heading.split(" ")[0];
  const end = text.indexOf(`\n${level} `, start + heading.length + 2);
  return text.slice(start, end < 0 ? undefined : end);
}

/**
 * Field paths of a plugin config as the docs' field table names them: `targets[i].x`, objects
 * entered (each object of an array `match` under `targets[i].match`), other arrays and the maps
 * of user-chosen names (`match.headers`, `match.query`, `headers.add`) as leaves.
 */
function fieldPaths(value: unknown, path = ""): string[] {
  const maps = [
    "targets[i].match.headers",
    "targets[i].match.query",
    "headers.add",
  ];
  if (Array.isArray(value)) {
    if (path === "targets")
      return [path, ...value.flatMap((t) => fieldPaths(t, "targets[i]"))];
    if (path === "targets[i].match")
      return [path, ...value.flatMap((m) => fieldPaths(m, path))];
    return [path];
  }
  if (value === null || typeof value !== "object" || maps.includes(path))
    return [path];
  return Object.entries(value).flatMap(([k, v]) =>
    fieldPaths(v, path ? `${path}.${k}` : k),
  );
}

it("the configuration example is accepted silently, and the table documents exactly its fields", async () => {
  const text = section(CONFIGURATION, "## Every field");
  const json = /```json\n([\s\S]*?)\n```/.exec(text)?.[1];
  assert.ok(json, "docs/configuration.md: no JSON example in Every field");
  const host = await Host.load(readFileSync(RELEASE_WASM), {
    rootId: "mirror",
  });
  assert.equal(host.configure(json), true, host.logs()[0]?.message);
  assert.deepEqual(host.logsAtLeast("warn"), []);
  const documented = new Set(
    text
      .split("\n")
      .filter((l) => l.startsWith("| `"))
      .flatMap((l) => [...l.split("|")[1].matchAll(/`([^`]+)`/g)])
      .map((m) => m[1]),
  );
  const example = new Set(fieldPaths(JSON.parse(json)));
  assert.deepEqual(
    [...example].filter((f) => !documented.has(f)),
    [],
    "fields of the example without a row",
  );
  assert.deepEqual(
    [...documented].filter((f) => !example.has(f)),
    [],
    "rows for fields the example does not show",
  );
});

it("the README's minimal config is accepted silently", async () => {
  const json = /```json\n([\s\S]*?)\n```/.exec(
    section(README, "## A minimal config"),
  )?.[1];
  assert.ok(json, "README: no JSON block in A minimal config");
  const host = await Host.load(readFileSync(RELEASE_WASM), {
    rootId: "mirror",
  });
  assert.equal(host.configure(json), true, host.logs()[0]?.message);
  assert.deepEqual(host.logsAtLeast("warn"), []);
});
