// The Istio manifests in istio/, checked against what Istio and Envoy themselves accept: every
// document passes Istio's and Kubernetes' published schemas (a typo or a bad enum is caught); the
// plugin configs equal envoy/config.json with the dark cluster named as Istio names it; the dark
// workload stays out of the mirror's selectors; and the filter inside the EnvoyFilter patch (and
// the WasmPlugin as Istio renders it) is validated and run by the real Envoy against a dark
// cluster named `outbound|8080||kitchen-next.default.svc.cluster.local`.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import {
  at,
  ENVOYFILTER_FILE,
  envoyFilterWasm,
  findManifest,
  ISTIO_DARK_CLUSTER,
  loadManifests,
  readEnvoyPluginConfig,
  renderEnvoyFilter,
  renderWasmPlugin,
  toIstioPluginConfig,
  validateManifests,
  WASMPLUGIN_FILE,
} from "../../scripts/istio-config.ts";
import {
  mirroredByFormula,
  renderEnvoyConfig,
  request,
  scenario,
  type Scope,
  statName,
  validateConfig,
  WASM_PATH,
} from "./harness.ts";

/** Plain JSON of the parsed manifests: `any` keeps the navigation below readable. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

const manifests = loadManifests();
const kind = (k: string, name?: string): Obj =>
  findManifest(manifests, k, name);
const wasmPlugin = kind("WasmPlugin");
const envoyFilter = kind("EnvoyFilter");
const darkDeployment = kind("Deployment", "kitchen-next");
const darkService = kind("Service", "kitchen-next");
const liveDeployment = kind("Deployment", "kitchen");
const liveService = kind("Service", "kitchen");
const expectedPluginConfig: Obj = toIstioPluginConfig(readEnvoyPluginConfig());
/** The EnvoyFilter's wasm patch, its HTTP filter and the plugin JSON inside. */
const wasmPatch = (): { patch: Obj; filter: Obj; pluginJson: string } =>
  envoyFilterWasm(envoyFilter);

/** `labels` ⊇ every pair of `selector`. */
const selects = (selector: Record<string, string>, labels: Obj) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

// ---------------------------------------------------------------------------------------------
// Schemas.

test("istio/ ships the WasmPlugin, the EnvoyFilter, the dark and the live example", () => {
  const shipped = manifests.map(
    (m) =>
      `${m.file} ${m.object.kind} ${(m.object.metadata as Obj)?.name ?? "?"}`,
  );
  assert.deepEqual(shipped, [
    "istio/envoyfilter.yaml EnvoyFilter kitchen-mirror",
    "istio/kitchen-next.yaml Deployment kitchen-next",
    "istio/kitchen-next.yaml Service kitchen-next",
    "istio/kitchen.yaml Deployment kitchen",
    "istio/kitchen.yaml Service kitchen",
    "istio/wasmplugin.yaml WasmPlugin kitchen-mirror",
  ]);
});

test("every manifest in istio/ passes Istio's CRD schemas and Kubernetes' (unknown fields refused)", async () => {
  const errors = await validateManifests(manifests);
  const bad = [...errors].filter(([, e]) => e.length);
  assert.deepEqual(bad, [], JSON.stringify(bad, null, 2));
  assert.equal(errors.size, manifests.length);
});

/** Mutations of shipped manifests and the error the schema check must report for each. */
const broken: Record<
  string,
  { of: Obj; mutate: (o: Obj) => void; error: RegExp }
> = {
  "a typo in a WasmPlugin field (pluginNme)": {
    of: wasmPlugin,
    mutate: (o) => {
      o.spec.pluginNme = o.spec.pluginName;
      delete o.spec.pluginName;
    },
    error: /unknown field "pluginNme"/,
  },
  "a bad failStrategy (FAIL_OPN)": {
    of: wasmPlugin,
    mutate: (o) => (o.spec.failStrategy = "FAIL_OPN"),
    error: /\/spec\/failStrategy: must be equal to one of the allowed values/,
  },
  "a bad phase (POST_ROUTER)": {
    of: wasmPlugin,
    mutate: (o) => (o.spec.phase = "POST_ROUTER"),
    error: /\/spec\/phase: must be equal to one of the allowed values/,
  },
  "a sha256 that is not 64 hex digits": {
    of: wasmPlugin,
    mutate: (o) => (o.spec.sha256 = "sha256:" + o.spec.sha256),
    error: /\/spec\/sha256: must match pattern/,
  },
  "a match mode in lower case (server)": {
    of: wasmPlugin,
    mutate: (o) => (o.spec.match[0].mode = "server"),
    error: /\/spec\/match\/0\/mode: must be equal to one of the allowed values/,
  },
  "a bad EnvoyFilter context (SIDECAR_INBOND)": {
    of: envoyFilter,
    mutate: (o) => (o.spec.configPatches[0].match.context = "SIDECAR_INBOND"),
    error:
      /\/spec\/configPatches\/0\/match\/context: must be equal to one of the allowed values/,
  },
  "a bad EnvoyFilter operation (INSERT_BEFOR)": {
    of: envoyFilter,
    mutate: (o) => (o.spec.configPatches[0].patch.operation = "INSERT_BEFOR"),
    error:
      /\/spec\/configPatches\/0\/patch\/operation: must be equal to one of the allowed values/,
  },
  "a typo in an EnvoyFilter field (workloadSelecter)": {
    of: envoyFilter,
    mutate: (o) => {
      o.spec.workloadSelecter = o.spec.workloadSelector;
      delete o.spec.workloadSelector;
    },
    error: /unknown field "workloadSelecter"/,
  },
  "a typo in a container (imagee)": {
    of: darkDeployment,
    mutate: (o) => {
      const c = o.spec.template.spec.containers[0];
      c.imagee = c.image;
      delete c.image;
    },
    error: /unknown field "imagee"/,
  },
  "a Service port given as a string": {
    of: darkService,
    mutate: (o) => (o.spec.ports[0].port = "8080"),
    error: /\/spec\/ports\/0\/port: must be integer/,
  },
  "a kind with no published schema (WasmPlugins)": {
    of: wasmPlugin,
    mutate: (o) => (o.kind = "WasmPlugins"),
    error:
      /no published schema here for apiVersion extensions\.istio\.io\/v1alpha1 kind WasmPlugins/,
  },
};

test("the schema check catches typos, bad enums and bad values", async () => {
  const items = Object.entries(broken).map(([label, c]) => {
    const object = structuredClone(c.of);
    c.mutate(object);
    return { label, object };
  });
  const errors = await validateManifests(items);
  for (const [label, { error }] of Object.entries(broken)) {
    const found = errors.get(label) ?? [];
    assert.ok(
      found.some((e) => error.test(e)),
      `${label}: expected ${error}, got ${JSON.stringify(found)}`,
    );
  }
});

// ---------------------------------------------------------------------------------------------
// One plugin config, selectors, the shape of the patch.

test("the WasmPlugin's pluginConfig is envoy/config.json with the dark cluster named as Istio names it", () => {
  assert.deepEqual(wasmPlugin.spec.pluginConfig, expectedPluginConfig);
  assert.deepEqual(
    expectedPluginConfig.targets,
    (readEnvoyPluginConfig().targets as Obj[]).map((t) => ({
      ...t,
      cluster: ISTIO_DARK_CLUSTER,
    })),
  );
});

test("the EnvoyFilter's embedded plugin JSON is the same config", () => {
  assert.deepEqual(JSON.parse(wasmPatch().pluginJson), expectedPluginConfig);
});

test("regenerating the manifests from envoy/config.json (--write) leaves them as committed", async () => {
  assert.equal(await renderWasmPlugin(), readFileSync(WASMPLUGIN_FILE, "utf8"));
  assert.equal(
    await renderEnvoyFilter(),
    readFileSync(ENVOYFILTER_FILE, "utf8"),
  );
});

test("the EnvoyFilter inserts envoy.filters.http.wasm before the router on SIDECAR_INBOUND, fail open", () => {
  const { patch, filter } = wasmPatch();
  assert.equal(patch.match.context, "SIDECAR_INBOUND");
  assert.equal(
    patch.match.listener.filterChain.filter.name,
    "envoy.filters.network.http_connection_manager",
  );
  assert.equal(
    patch.match.listener.filterChain.filter.subFilter.name,
    "envoy.filters.http.router",
  );
  assert.equal(patch.patch.operation, "INSERT_BEFORE");
  assert.equal(filter.name, "envoy.filters.http.wasm");
  const config = filter.typed_config.config;
  assert.equal(config.failure_policy, "FAIL_OPEN");
  assert.equal(config.root_id, wasmPlugin.spec.pluginName);
  assert.equal(config.root_id, "mirror");
  assert.equal(config.vm_config.runtime, "envoy.wasm.runtime.v8");
});

test("the WasmPlugin: oci:// url, image sha256, root id mirror, fail open, inbound only", () => {
  const spec = wasmPlugin.spec;
  assert.match(spec.url, /^oci:\/\/[^/]+\/.+:[\w][\w.-]*$/);
  assert.match(spec.sha256, /^[0-9a-f]{64}$/);
  assert.equal(spec.pluginName, "mirror");
  assert.equal(spec.failStrategy, "FAIL_OPEN");
  assert.deepEqual(
    spec.match.map((m: Obj) => m.mode),
    ["SERVER"],
  );
});

test("the dark workload is out of the mirror's selectors and of the live Service", () => {
  const darkPods = darkDeployment.spec.template.metadata.labels;
  const livePods = liveDeployment.spec.template.metadata.labels;
  const selectors: Record<string, Record<string, string>> = {
    "WasmPlugin selector": wasmPlugin.spec.selector.matchLabels,
    "EnvoyFilter workloadSelector": envoyFilter.spec.workloadSelector.labels,
    "live Service selector": liveService.spec.selector,
  };
  for (const [name, selector] of Object.entries(selectors)) {
    assert.ok(selects(selector, livePods), `${name} misses the live pods`);
    assert.ok(!selects(selector, darkPods), `${name} selects the dark pods`);
  }
  assert.ok(selects(darkService.spec.selector, darkPods));
  assert.ok(!selects(darkService.spec.selector, livePods));
});

test("the dark Service is the cluster the config targets: outbound|8080||kitchen-next.default.svc.cluster.local", () => {
  const port = darkService.spec.ports.find((p: Obj) => p.port === 8080);
  assert.ok(port, "kitchen-next has no port 8080");
  assert.equal(port.appProtocol, "http");
  const { name, namespace } = darkService.metadata;
  assert.equal(
    `outbound|${port.port}||${name}.${namespace}.svc.cluster.local`,
    ISTIO_DARK_CLUSTER,
  );
});

test("the live example keeps wasmcustom stats and mounts the EnvoyFilter's module file", () => {
  const annotations = liveDeployment.spec.template.metadata.annotations;
  assert.match(
    annotations["proxy.istio.io/config"],
    /proxyStatsMatcher:\s+inclusionPrefixes:\s+- wasmcustom\b/,
  );
  const mounts = JSON.parse(annotations["sidecar.istio.io/userVolumeMount"]);
  const volumes = JSON.parse(annotations["sidecar.istio.io/userVolume"]);
  const filename = at(
    wasmPatch().filter,
    "typed_config",
    "config",
    "vm_config",
    "code",
    "local",
    "filename",
  );
  assert.deepEqual(volumes, [
    {
      name: "mirror-wasm",
      configMap: { name: "mirror-wasm", optional: true },
    },
  ]);
  assert.equal(mounts[0].name, "mirror-wasm");
  assert.equal(filename, `${mounts[0].mountPath}/mirror.wasm`);
});

// ---------------------------------------------------------------------------------------------
// The real Envoy.

/** The copies counter of the Istio-named dark target, written out as /stats shows it. */
const ISTIO_COPIES_STAT =
  "wasmcustom.mirror_copies_total.mirror_target=.=outbound|8080||kitchen-next.default.svc.cluster.local;.;";

/** The HTTP filter the EnvoyFilter patch inserts, reading the module from the local build. */
function extractedFilter(): Obj {
  const filter = structuredClone(wasmPatch().filter) as Obj;
  filter.typed_config.config.vm_config.code.local.filename = WASM_PATH;
  return filter;
}

/** The filter Istio renders from the WasmPlugin (pilot's extensions.go), module read locally. */
function wasmPluginFilter(): Obj {
  const { metadata, spec } = wasmPlugin;
  const name = `${metadata.namespace}.${metadata.name}`;
  return {
    name,
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
      config: {
        name,
        root_id: spec.pluginName,
        vm_config: {
          runtime: "envoy.wasm.runtime.v8",
          code: { local: { filename: WASM_PATH } },
        },
        failure_policy: spec.failStrategy,
        configuration: {
          "@type": "type.googleapis.com/google.protobuf.StringValue",
          value: JSON.stringify(spec.pluginConfig),
        },
      },
    },
  };
}

/** A bootstrap whose dark cluster has Istio's name, with `filter` put where the patch says. */
function istioBootstrap(
  filter: Obj,
  ports: { live: number; dark: number },
): Obj {
  const config = renderEnvoyConfig({
    live: { port: ports.live },
    dark: { port: ports.dark },
    darkCluster: ISTIO_DARK_CLUSTER,
    withoutFilter: true,
  }) as Obj;
  const hcm =
    config.static_resources.listeners[0].filter_chains[0].filters[0]
      .typed_config;
  const { patch } = wasmPatch();
  const anchor = patch.match.listener.filterChain.filter.subFilter.name;
  const i = hcm.http_filters.findIndex((f: Obj) => f.name === anchor);
  assert.ok(i >= 0, `no ${anchor} in the rendered chain`);
  assert.equal(patch.patch.operation, "INSERT_BEFORE");
  hcm.http_filters.splice(i, 0, filter);
  assert.deepEqual(
    config.static_resources.clusters.map((c: Obj) => c.name),
    ["kitchen", ISTIO_DARK_CLUSTER],
  );
  return config;
}

const filters: Record<string, () => Obj> = {
  "the filter extracted from the EnvoyFilter patch": extractedFilter,
  "the WasmPlugin as Istio renders it": wasmPluginFilter,
};

for (const [what, filter] of Object.entries(filters)) {
  scenario(`${what} passes envoy --mode validate`, async (s) => {
    const dir = mkdtempSync(join(tmpdir(), "mirror-istio-"));
    s.defer(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "envoy.json");
    writeFileSync(
      file,
      JSON.stringify(istioBootstrap(filter(), { live: 1, dark: 2 })),
    );
    const { code, output } = await validateConfig(file);
    assert.equal(code, 0, output);
  });

  scenario(
    `${what} mirrors to outbound|8080||kitchen-next.default.svc.cluster.local`,
    async (s) => mirrorsAsIstioWould(s, filter()),
  );
}

/** 40 users' GETs and 4 POSTs through Envoy: the copies and the stats the config promises. */
async function mirrorsAsIstioWould(s: Scope, filter: Obj): Promise<void> {
  const live = await s.upstream("kitchen");
  const dark = await s.upstream("kitchen-next");
  const envoy = await s.envoy({
    name: "istio-sidecar",
    live,
    dark,
    bootstrap: istioBootstrap(filter, { live: live.port, dark: dark.port }),
  });
  assert.match(
    await envoy.admin("/clusters"),
    new RegExp(`^${ISTIO_DARK_CLUSTER.replace(/\|/g, "\\|")}::`, "m"),
    "Envoy did not load the Istio bootstrap",
  );
  const percentage = expectedPluginConfig.targets[0].percentage as number;
  const users = Array.from({ length: 40 }, (_, i) => `diner-${i}`);
  const expected = users.filter((u) => mirroredByFormula("", u, percentage));
  assert.ok(
    expected.length > 0 && expected.length < users.length,
    "the 40 diners should have both fates at 50 %",
  );
  const agent = s.agent(4);
  for (const user of users) {
    const reply = await request(envoy.listenerPort, {
      path: `/orders?u=${user}`,
      headers: { "x-user-id": user },
      agent,
    });
    assert.equal(reply.status, 200);
    assert.match(reply.body.toString(), /^kitchen GET/);
  }
  for (let i = 0; i < 4; i++) {
    const reply = await request(envoy.listenerPort, {
      method: "POST",
      path: "/orders",
      headers: { "x-user-id": expected[0] },
      body: "one burger",
      agent,
    });
    assert.equal(reply.status, 200);
  }
  assert.equal(live.records.length, users.length + 4);

  await dark.waitForCount(expected.length);
  assert.equal(ISTIO_COPIES_STAT, statName(ISTIO_DARK_CLUSTER, "copies"));
  await envoy.waitForCounter("dark.2xx", expected.length, ISTIO_DARK_CLUSTER);
  const c = await envoy.targetCounters(ISTIO_DARK_CLUSTER);
  assert.equal((await envoy.stats()).get(ISTIO_COPIES_STAT), c.copies);
  const counters = {
    mirrored: c.copies,
    sampledOut: c["skipped.sampled_out"],
    method: c["skipped.method"],
    dark2xx: c["dark.2xx"],
  };
  assert.deepEqual(counters, {
    mirrored: expected.length,
    sampledOut: users.length - expected.length,
    method: 4,
    dark2xx: expected.length,
  });
  assert.deepEqual(
    dark.records.map((r) => r.headers["x-user-id"]).sort(),
    [...expected].sort(),
  );
  for (const r of dark.records) {
    assert.equal(r.method, "GET");
    assert.equal(r.headers["x-shadow"], "true");
  }
  // With the sidecar's stats tags, the target is a label in Prometheus.
  assert.equal(
    (await envoy.prometheus()).get(
      `mirror_copies_total{mirror_target="${ISTIO_DARK_CLUSTER}"}`,
    ),
    expected.length,
  );
}
