// Bad plugin configs in the real Envoy: a few of the table's configs through
// `envoy --mode validate` (refused, with the exact message), and refused configs replacing a good
// one through listener updates (LDS from a file): each update is rejected, the good config keeps
// serving new connections (copies still carry its marker), and a good update afterwards applies.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { badConfigs, malformedConfigs } from "../fixtures/bad-configs.ts";
import { DARK_CLUSTER, writeEnvoyConfig } from "../support/envoy-config.ts";
import { type Envoy, validateConfig } from "../support/envoy.ts";
import { request } from "../support/clients.ts";
import { scenario, type Scope } from "../support/scenario.ts";
import { statName } from "../support/stat-names.ts";
import { type Upstream } from "../support/upstream.ts";
import { waitFor } from "../../tools/wait.ts";

const validated = [
  "percentage 150",
  "a misspelled target field",
  "a misspelled percentage (the filter suggests the field)",
  "marker.inbound drop",
  "shorthand and targets together",
  "headers.add a control character",
];

scenario(
  "envoy --mode validate refuses bad plugin configs with the filter's exact message, and accepts a good one",
  async (s) => {
    const cases: Array<[string, string, string | undefined]> = [
      ...validated.map(
        (name) => [name, ...badConfigs[name]] as [string, string, string],
      ),
      ["an unclosed object", ...malformedConfigs["an unclosed object"]] as [
        string,
        string,
        string,
      ],
      [
        "a good config",
        JSON.stringify({ cluster: DARK_CLUSTER, percentage: 10 }),
        undefined,
      ],
    ];
    const results = await Promise.all(
      cases.map(async ([name, plugin, message]) => {
        const file = writeEnvoyConfig({
          plugin,
          live: { port: 1 },
          dark: { port: 2 },
        });
        s.defer(() => rmSync(dirname(file), { recursive: true, force: true }));
        return { name, message, ...(await validateConfig(file)) };
      }),
    );
    for (const { name, message, code, output } of results) {
      if (message === undefined) {
        assert.equal(code, 0, `${name}:\n${output}`);
        continue;
      }
      assert.notEqual(code, 0, `${name}: envoy --mode validate accepted it`);
      const lines = output
        .split("\n")
        .filter((l) => l.includes("invalid plugin config: "));
      assert.deepEqual(
        lines.map((l) => l.slice(l.indexOf("invalid plugin config: "))),
        [`invalid plugin config: ${message}`],
        `${name}:\n${output}`,
      );
      assert.match(
        lines[0],
        /\]\[error\]\[wasm\]/,
        `${name}: not at error level`,
      );
    }
  },
);

/** Sends `n` GETs on fresh connections; returns the marker each copy carried, by request id. */
async function mirroredMarkers(
  s: Scope,
  envoy: Envoy,
  dark: Upstream,
  tag: string,
  n: number,
): Promise<string[]> {
  const agent = s.agent(4);
  for (let i = 0; i < n; i++) {
    const reply = await request(envoy.listenerPort, {
      path: `/menu/${tag}-${i}`,
      headers: { "x-request-id": `${tag}-${i}` },
      agent,
    });
    assert.equal(
      reply.status,
      200,
      `${tag}-${i}: live answered ${reply.status}`,
    );
    assert.match(reply.body.toString(), /^kitchen GET/);
  }
  const ids = new Set(Array.from({ length: n }, (_, i) => `${tag}-${i}`));
  let copies: string[] = [];
  await waitFor(
    () => `${n} copies of ${tag} (have ${copies.length})`,
    () => {
      copies = dark.records
        .filter((r) => ids.has(String(r.headers["x-request-id"])))
        .map((r) => String(r.headers["x-shadow"]));
      return copies.length >= n;
    },
  );
  return copies;
}

/** Envoy's own lines around a refused plugin config in a listener update (besides the filter's one). */
const ENVOY_REFUSAL_LINES = [
  /Wasm VM failed Failed to configure base Wasm plugin/,
  /Plugin mirror failed to load/,
  /Plugin configured to fail (open|closed) failed to load/,
];

scenario(
  "refused configs replacing a good one over listener updates: each rejected, the good one keeps mirroring, a later good one applies",
  async (s) => {
    const good = (marker: string) => ({
      targets: [{ cluster: DARK_CLUSTER, percentage: 100 }],
      marker: { value: marker },
    });
    const { dark, envoy } = await s.liveAndDark({
      plugin: good("v1"),
      dynamicListener: true,
      drainTimeS: 1,
      expectFilterErrors: true,
    });
    assert.deepEqual(
      new Set(await mirroredMarkers(s, envoy, dark, "first", 6)),
      new Set(["v1"]),
    );
    const refused = [
      "percentage 150",
      "marker.inbound drop",
      "an empty object",
      "the second target broken",
    ];
    for (const name of refused) {
      const [plugin, message] = badConfigs[name];
      assert.equal(await envoy.updatePlugin(plugin), "rejected", name);
      assert.ok(
        envoy.log.includes(`invalid plugin config: ${message}`),
        `${name}: the log lacks "${message}"`,
      );
      // New connections: the good config still serves and mirrors.
      assert.deepEqual(
        new Set(
          await mirroredMarkers(
            s,
            envoy,
            dark,
            `after-${refused.indexOf(name)}`,
            4,
          ),
        ),
        new Set(["v1"]),
        `after refusing ${name}`,
      );
    }
    assert.equal(
      await envoy.stat("listener_manager.lds.update_rejected"),
      refused.length,
    );
    assert.equal(await envoy.updatePlugin(good("v2")), "accepted");
    assert.deepEqual(
      new Set(await mirroredMarkers(s, envoy, dark, "last", 6)),
      new Set(["v2"]),
    );
    const c = await envoy.targetCounters();
    assert.equal(c.copies, 6 + 4 * refused.length + 6);
    await envoy.waitForCounter("dark.2xx", c.copies);
    assert.deepEqual((await envoy.wasmFailures()).stats, {});

    await envoy.stop();
    // Every Wasm error or critical line is a refusal: the filter's own, or Envoy's report of it.
    const unexpected = envoy.log
      .split("\n")
      .filter((l) => /\]\[(error|critical)\]\[wasm\]/.test(l))
      .filter(
        (l) =>
          !l.includes("invalid plugin config: ") &&
          !ENVOY_REFUSAL_LINES.some((re) => re.test(l)),
      );
    assert.deepEqual(unexpected, []);
    assert.equal(
      envoy.log.split("\n").filter((l) => l.includes("invalid plugin config: "))
        .length,
      refused.length,
      "one refusal line per rejected update",
    );
  },
);
