// Shipped Envoy configs and config refusal: every shipped config validates, writes the filter and
// its clusters as tools/envoy/config.ts renders them, its inline plugin JSON equals
// envoy/config.json, the shipped envoy.yaml serves and mirrors, and a bad plugin config
// keeps Envoy from starting with the filter's field-naming message in its log.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import test from "node:test";
import {
  DARK_CLUSTER,
  readShippedConfig,
  shippedConfig,
  writeEnvoyConfig,
} from "../support/envoy-config.ts";
import { envoyBinary, skipReason, validateConfig } from "../support/envoy.ts";
import { PINNED_ENVOY_VERSION } from "../../tools/provision/envoy.ts";
import { REPO_ROOT, repoText } from "../../tools/paths.ts";
import { request } from "../support/clients.ts";
import { scenario } from "../support/scenario.ts";
import {
  staticCluster,
  wasmFilter,
  wasmFilterConfigs,
  wasmFilters,
  wasmPluginConfigs,
} from "../../tools/envoy/config.ts";
import { statName } from "../support/stat-names.ts";
import { envoyStatsConfig } from "../../scripts/metrics.ts";
import { parse as parseYaml } from "yaml";
import {
  envoyYamlWithPlugin,
  SHIPPED_ENVOY_CONFIGS,
  PLUGIN_CONFIG_FILE,
} from "../../scripts/plugin-config.ts";

test(
  `Envoy ${envoyBinary?.version ?? "(none)"} at ${envoyBinary?.bin ?? "-"}`,
  { skip: skipReason },
  () => {
    assert.equal(envoyBinary?.version, PINNED_ENVOY_VERSION);
  },
);

/** Every Envoy bootstrap the repository ships: YAML files under envoy/ and bench/ with static_resources. */
const shipped = ["envoy", "bench"]
  .filter((dir) => existsSync(join(REPO_ROOT, dir)))
  .flatMap((dir) =>
    (readdirSync(join(REPO_ROOT, dir), { recursive: true }) as string[]).map(
      (f) => join(dir, f),
    ),
  )
  .filter(
    (f) =>
      /\.ya?ml$/.test(f) && "static_resources" in (readShippedConfig(f) ?? {}),
  )
  .sort();

test("the repository ships at least envoy/envoy.yaml", () => {
  assert.ok(
    shipped.includes(join("envoy", "envoy.yaml")),
    `found ${shipped.join(", ")}`,
  );
});

for (const file of shipped) {
  scenario(`${file} passes envoy --mode validate`, async () => {
    const { code, output } = await validateConfig(file);
    assert.equal(code, 0, output);
  });
}

for (const { yaml, plugin } of SHIPPED_ENVOY_CONFIGS) {
  const y = relative(REPO_ROOT, yaml);
  const p = relative(REPO_ROOT, plugin);
  test(`the plugin JSON inlined in ${y} is ${p}, verbatim (npm run sync writes it)`, async () => {
    const inline = wasmPluginConfigs(readShippedConfig(y));
    assert.equal(inline.length, 1, `${y} should hold one wasm filter`);
    const text = readFileSync(plugin, "utf8");
    assert.deepEqual(
      JSON.parse(inline[0]),
      JSON.parse(text),
      `${y}'s plugin JSON differs from ${p}: run npm run sync`,
    );
    assert.equal(
      await envoyYamlWithPlugin(text, yaml),
      readFileSync(yaml, "utf8"),
      `${y} differs from its rendering with ${p}: run npm run sync`,
    );
  });
}

test("the README's Envoy snippet is envoy/envoy.yaml's wasm filter, and its demo line names envoy/config.json's share and key", () => {
  const readme = repoText("README.md");
  const block =
    /The filter's part of an Envoy config:\n\n```yaml\n([\s\S]*?)```/.exec(
      readme,
    );
  assert.ok(
    block,
    'README: no YAML block after "The filter\'s part of an Envoy config:"',
  );
  const [snippet] = parseYaml(block[1]) as unknown[];
  const [shipped] = (
    readShippedConfig().static_resources.listeners[0].filter_chains[0]
      .filters[0].typed_config.http_filters as unknown[]
  ).filter((f) => (f as { name: string }).name === "envoy.filters.http.wasm");
  assert.deepEqual(
    snippet,
    shipped,
    "README: the snippet differs from envoy/envoy.yaml's filter",
  );
  const plugin = JSON.parse(readFileSync(PLUGIN_CONFIG_FILE, "utf8"));
  const key = String(plugin.sampling.keys[0]).replace(/^header:/, "");
  assert.match(
    readme,
    new RegExp(
      `${plugin.targets[0].percentage}% of diners, keyed on\\s+\`${key}\``,
    ),
  );
});

test("every shipped wasm filter: root id mirror, V8, build/mirror.wasm relative to the repo root, FAIL_RELOAD after 20 ms", () => {
  for (const file of shipped) {
    const filters = wasmFilterConfigs(readShippedConfig(file));
    assert.ok(filters.length > 0, `${file} has no wasm filter`);
    for (const c of filters) {
      assert.equal(c.root_id, "mirror", file);
      assert.equal(c.vm_config.runtime, "envoy.wasm.runtime.v8", file);
      assert.equal(c.vm_config.code.local.filename, "build/mirror.wasm", file);
      assert.equal(c.failure_policy, "FAIL_RELOAD", file);
      // At least 2 ms: Envoy 1.40 divides by half the base interval (1 ms crashes it).
      assert.deepEqual(
        c.reload_config,
        { backoff: { base_interval: "0.02s" } },
        file,
      );
    }
  }
});

test("every shipped Envoy config writes the filter block and its clusters as tools/envoy/config.ts renders them", () => {
  for (const file of shipped) {
    const config = readShippedConfig(file);
    for (const filter of wasmFilters(config))
      assert.deepEqual(
        filter,
        wasmFilter({ plugin: filter.typed_config.config.configuration.value }),
        `${file}: its wasm filter differs from tools/envoy/config.ts wasmFilter()`,
      );
    for (const cluster of config.static_resources.clusters) {
      const [endpoint] = cluster.load_assignment.endpoints[0].lb_endpoints;
      assert.deepEqual(
        cluster,
        staticCluster(
          cluster.name,
          endpoint.endpoint.address.socket_address.port_value,
        ),
        `${file}: cluster ${cluster.name} differs from tools/envoy/config.ts staticCluster()`,
      );
    }
  }
});

test("every shipped Envoy config carries the filter's stats_config (scripts/metrics.ts)", () => {
  for (const file of shipped)
    assert.deepEqual(
      readShippedConfig(file).stats_config,
      envoyStatsConfig(),
      `${file}: stats_config differs from scripts/metrics.ts envoyStatsConfig()`,
    );
});

test("envoy/envoy.yaml carries the docker run command of the pinned version", () => {
  const yaml = repoText("envoy/envoy.yaml");
  assert.match(
    yaml,
    new RegExp(
      `^#.*docker run .*envoyproxy/envoy:v${PINNED_ENVOY_VERSION.replace(/\./g, "\\.")}`,
      "m",
    ),
  );
});

scenario(
  "the shipped envoy/envoy.yaml serves live traffic and mirrors to kitchen-next",
  async (s) => {
    const live = await s.upstream("kitchen");
    const dark = await s.upstream("kitchen-next");
    const envoy = await s.envoy({
      name: "shipped",
      live,
      dark,
      bootstrap: shippedConfig({ live: live.port, dark: dark.port }),
    });
    // 50 % keyed on x-user-id: 40 users give both fates with overwhelming probability.
    const agent = s.agent(4);
    for (let u = 0; u < 40; u++) {
      const reply = await request(envoy.listenerPort, {
        path: `/menu?u=${u}`,
        headers: { "x-user-id": `user-${u}` },
        agent,
      });
      assert.equal(reply.status, 200);
    }
    assert.equal(live.records.length, 40);
    const mirrored = await envoy.waitForCounter("copies", (v) => v > 0);
    await dark.waitForCount(mirrored);
    assert.ok(mirrored < 40, `all 40 users mirrored at 50 %`);
    await envoy.waitForCounter("dark.2xx", mirrored);
  },
);

/** Bad plugin configs and the field path the filter's refusal must name. */
const refusals: Record<string, { plugin: unknown; message: RegExp }> = {
  "percentage out of range": {
    plugin: { targets: [{ cluster: DARK_CLUSTER, percentage: 150 }] },
    message:
      /invalid plugin config: targets\[0\]\.percentage: must be between 0 and 100, got 150/,
  },
  "unknown field": {
    plugin: {
      targets: [{ cluster: DARK_CLUSTER, percentage: 10, colour: "red" }],
    },
    message: /invalid plugin config: targets\[0\]\.colour: /,
  },
  "wrong type": {
    plugin: {
      targets: [{ cluster: DARK_CLUSTER, percentage: 10 }],
      max_body_bytes: "big",
    },
    message: /invalid plugin config: max_body_bytes: /,
  },
  "timeout of 0": {
    plugin: {
      targets: [{ cluster: DARK_CLUSTER, percentage: 10, timeout_ms: 0 }],
    },
    message: /invalid plugin config: targets\[0\]\.timeout_ms: /,
  },
  "malformed JSON": {
    plugin: '{"targets": [{"cluster": "kitchen-next", "percentage": 10}',
    message: /invalid plugin config: /,
  },
  "empty config": { plugin: "", message: /invalid plugin config: / },
};

for (const [name, { plugin, message }] of Object.entries(refusals)) {
  scenario(
    `invalid plugin JSON (${name}): Envoy refuses the config, the log names the field`,
    async (s) => {
      const live = await s.upstream("kitchen");
      const dark = await s.upstream("kitchen-next");
      const envoy = s.spawnEnvoy({
        name: "refused",
        plugin,
        live,
        dark,
        expectFilterErrors: true,
      });
      const code = await envoy.waitForExit();
      assert.notEqual(code, 0, "Envoy started with an invalid plugin config");
      assert.match(envoy.log, message);
      const lines = envoy.log
        .split("\n")
        .filter((l) => /invalid plugin config/.test(l));
      assert.ok(
        lines.every((l) => /\]\[error\]\[wasm\]/.test(l)),
        `not logged at error level:\n${lines.join("\n")}`,
      );
      assert.equal(live.records.length + dark.records.length, 0);

      const file = writeEnvoyConfig({ plugin, live, dark });
      s.defer(() => rmSync(dirname(file), { recursive: true, force: true }));
      const validated = await validateConfig(file);
      assert.notEqual(
        validated.code,
        0,
        "envoy --mode validate accepted an invalid plugin config",
      );
      assert.match(validated.output, message);
    },
  );
}
