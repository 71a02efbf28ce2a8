// The Istio manifests in istio/, checked against what Istio and Envoy themselves accept: every
// document passes Istio's published CRD schemas and Kubernetes' (a typo or a bad enum is caught);
// the plugin configs equal envoy/config.json with the dark cluster named as Istio names it; the
// dark workload stays out of the mirror's selectors; `npm run istio` renders both for any service;
// and the filter the EnvoyFilter delivers (over ECDS, as istiod serves it) and the WasmPlugin as
// Istio 1.31 renders it are validated and run by the real Envoy against a dark cluster named
// `outbound|8080||kitchen-next.default.svc.cluster.local` — including with the module file
// missing, where the EnvoyFilter's listener keeps serving live traffic.
import assert from "node:assert/strict";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import test from "node:test";
import {
  at,
  DEMO_SERVICE,
  ENVOYFILTER_FILE,
  envoyFilterParts,
  findManifest,
  imageSha256,
  ISTIO_DARK_CLUSTER,
  istioClusterName,
  loadManifests,
  parseManifests,
  RBAC_TYPE,
  readEnvoyPluginConfig,
  renderEnvoyFilter,
  renderWasmPlugin,
  toIstioPluginConfig,
  WASM_TYPE,
  WASMPLUGIN_FILE,
} from "../../scripts/istio-config.ts";
import { validateManifests } from "../../scripts/istio-schemas.ts";
import { freePort } from "../../tools/net.ts";
import { mirroredByFormula } from "../support/sampling.ts";
import {
  renderEnvoyConfig,
  readShippedConfig,
} from "../support/envoy-config.ts";
import { REPO_ROOT, RELEASE_WASM_PATH } from "../../tools/paths.ts";
import { request } from "../support/clients.ts";
import { scenario, type Scope } from "../support/scenario.ts";
import { statName } from "../support/stat-names.ts";
import { validateConfig } from "../support/envoy.ts";
import { waitFor } from "../../tools/wait.ts";
import { istioStatsAnnotations } from "../../scripts/metrics.ts";
import { parse as parseYaml } from "yaml";

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
/** The EnvoyFilter's two patches (extension config, HTTP filter) and the plugin JSON inside. */
const parts = (): Obj => envoyFilterParts(envoyFilter);

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
    mutate: (o) => (o.spec.sha256 = "sha256:" + "0".repeat(64)),
    error: /\/spec\/sha256: must match pattern/,
  },
  "a match mode in lower case (server)": {
    of: wasmPlugin,
    mutate: (o) => (o.spec.match[0].mode = "server"),
    error: /\/spec\/match\/0\/mode: must be equal to one of the allowed values/,
  },
  "a bad EnvoyFilter context (SIDECAR_INBOND)": {
    of: envoyFilter,
    mutate: (o) => (o.spec.configPatches[1].match.context = "SIDECAR_INBOND"),
    error:
      /\/spec\/configPatches\/1\/match\/context: must be equal to one of the allowed values/,
  },
  "a bad EnvoyFilter operation (INSERT_BEFOR)": {
    of: envoyFilter,
    mutate: (o) => (o.spec.configPatches[1].patch.operation = "INSERT_BEFOR"),
    error:
      /\/spec\/configPatches\/1\/patch\/operation: must be equal to one of the allowed values/,
  },
  "a bad EnvoyFilter applyTo (EXTENSION_CONFIGS)": {
    of: envoyFilter,
    mutate: (o) => (o.spec.configPatches[0].applyTo = "EXTENSION_CONFIGS"),
    error:
      /\/spec\/configPatches\/0\/applyTo: must be equal to one of the allowed values/,
  },
  "a typo in a label of the metadata (labls)": {
    of: envoyFilter,
    mutate: (o) => (o.metadata.labls = { app: "x" }),
    error: /unknown field "labls"/,
  },
  "a port number given as a string in the WasmPlugin": {
    of: wasmPlugin,
    mutate: (o) => (o.spec.match[0].ports[0].number = "8080"),
    error: /\/spec\/match\/0\/ports\/0\/number: must be integer/,
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
  assert.deepEqual(JSON.parse(parts().pluginJson), expectedPluginConfig);
});

test("regenerating the manifests from envoy/config.json (npm run sync) leaves them as committed", async () => {
  assert.equal(
    await renderWasmPlugin({ comments: true }),
    readFileSync(WASMPLUGIN_FILE, "utf8"),
    "istio/wasmplugin.yaml differs from its rendering: run npm run sync",
  );
  assert.equal(
    await renderEnvoyFilter({ comments: true }),
    readFileSync(ENVOYFILTER_FILE, "utf8"),
    "istio/envoyfilter.yaml differs from its rendering: run npm run sync",
  );
});

test("the EnvoyFilter: the mirror as an extension config (ECDS), its HTTP filter before the router on SIDECAR_INBOUND with an allow-all default that never warms", () => {
  const { extensionPatch, extensionConfig, filterPatch, httpFilter } = parts();
  assert.equal(extensionPatch.applyTo, "EXTENSION_CONFIG");
  assert.equal(extensionPatch.patch.operation, "ADD");
  assert.equal(extensionConfig.typed_config["@type"], WASM_TYPE);
  const config = extensionConfig.typed_config.config;
  // A failed VM is replaced for the next request after 20-30 ms (docs/hostile.md, "When the filter fails").
  assert.equal(config.failure_policy, "FAIL_RELOAD");
  assert.deepEqual(config.reload_config, {
    backoff: { base_interval: "0.02s" },
  });
  assert.equal(config.root_id, wasmPlugin.spec.pluginName);
  assert.equal(config.root_id, "mirror");
  assert.equal(config.vm_config.runtime, "envoy.wasm.runtime.v8");

  assert.equal(filterPatch.match.context, "SIDECAR_INBOUND");
  assert.equal(filterPatch.match.listener.portNumber, 8080);
  assert.equal(
    filterPatch.match.listener.filterChain.filter.name,
    "envoy.filters.network.http_connection_manager",
  );
  assert.equal(
    filterPatch.match.listener.filterChain.filter.subFilter.name,
    "envoy.filters.http.router",
  );
  assert.equal(filterPatch.patch.operation, "INSERT_BEFORE");
  // The HTTP filter names the extension config; nothing of the module is in the listener.
  assert.equal(httpFilter.name, extensionConfig.name);
  assert.equal(httpFilter.name, "default.kitchen-mirror");
  assert.equal(httpFilter.typed_config, undefined);
  const discovery = httpFilter.config_discovery;
  assert.deepEqual(discovery.config_source.ads, {});
  assert.deepEqual(discovery.default_config, { "@type": RBAC_TYPE });
  assert.equal(discovery.apply_default_config_without_warming, true);
  assert.deepEqual(discovery.type_urls, [WASM_TYPE, RBAC_TYPE]);
});

test("the committed WasmPlugin: oci:// url without a digest pin, root id mirror, fail open, inbound only", () => {
  const spec = wasmPlugin.spec;
  assert.match(spec.url, /^oci:\/\/[^/]+\/.+:[\w][\w.-]*$/);
  // A committed sha256 would be the digest of an old build: a trap (see the file's header).
  assert.equal(spec.sha256, undefined);
  assert.equal(spec.pluginName, "mirror");
  assert.equal(spec.failStrategy, "FAIL_OPEN");
  assert.deepEqual(
    spec.match.map((m: Obj) => m.mode),
    ["SERVER"],
  );
});

test("npm run istio -- --image pins the WasmPlugin to the image digest of this build", async () => {
  const text = await renderWasmPlugin({
    url: "oci://registry.example.com/proxy-wasm-mirror:0.1.0",
    sha256: imageSha256(),
  });
  const [rendered] = parseManifests(text, WASMPLUGIN_FILE);
  const spec = rendered.object.spec as Obj;
  assert.equal(spec.sha256, imageSha256());
  assert.match(spec.sha256, /^[0-9a-f]{64}$/);
  assert.equal(spec.url, "oci://registry.example.com/proxy-wasm-mirror:0.1.0");
  const errors = await validateManifests([rendered]);
  assert.deepEqual([...errors.values()].flat(), []);
});

/** A service unlike the demo's, for `npm run istio`. */
const CHECKOUT = {
  service: "checkout",
  namespace: "shop",
  port: 9080,
  selector: { app: "checkout", track: "stable" },
  darkService: "checkout-next",
  darkPort: 80,
};

test("npm run istio renders the WasmPlugin and the EnvoyFilter for any service: names, selector, port, and the dark cluster derived", async () => {
  const cluster = "outbound|80||checkout-next.shop.svc.cluster.local";
  assert.equal(istioClusterName("checkout-next", "shop", 80), cluster);
  assert.equal(
    istioClusterName("checkout-next.other", "shop", 80),
    "outbound|80||checkout-next.other.svc.cluster.local",
  );
  assert.equal(
    istioClusterName("outbound|81||x.y.svc.cluster.local", "shop", 80),
    "outbound|81||x.y.svc.cluster.local",
  );
  const plugin = parseManifests(
    await renderWasmPlugin({ service: CHECKOUT, url: "oci://r.example/m:1" }),
    WASMPLUGIN_FILE,
  )[0].object as Obj;
  const filter = parseManifests(
    await renderEnvoyFilter({ service: CHECKOUT }),
    ENVOYFILTER_FILE,
  )[0].object as Obj;
  const errors = await validateManifests([
    { label: "plugin", object: plugin },
    { label: "filter", object: filter },
  ]);
  assert.deepEqual([...errors.values()].flat(), []);
  for (const m of [plugin, filter]) {
    assert.equal(m.metadata.name, "checkout-mirror");
    assert.equal(m.metadata.namespace, "shop");
  }
  assert.deepEqual(plugin.spec.selector.matchLabels, CHECKOUT.selector);
  assert.equal(plugin.spec.match[0].ports[0].number, 9080);
  assert.equal(plugin.spec.pluginConfig.targets[0].cluster, cluster);
  assert.equal(plugin.spec.sha256, undefined);
  const p = envoyFilterParts(filter) as Obj;
  assert.deepEqual(filter.spec.workloadSelector.labels, CHECKOUT.selector);
  assert.equal(p.filterPatch.match.listener.portNumber, 9080);
  assert.equal(p.extensionConfig.name, "shop.checkout-mirror");
  assert.equal(p.httpFilter.name, "shop.checkout-mirror");
  assert.equal(JSON.parse(p.pluginJson).targets[0].cluster, cluster);
  // Everything else is envoy/config.json.
  assert.deepEqual(
    { ...JSON.parse(p.pluginJson), targets: undefined },
    { ...readEnvoyPluginConfig(), targets: undefined },
  );
  // The defaults are the demo's.
  assert.deepEqual(
    toIstioPluginConfig(readEnvoyPluginConfig(), DEMO_SERVICE),
    expectedPluginConfig,
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

test("the live example mounts the EnvoyFilter's module file, optional, carries no stats-matcher annotation (istio-agent keeps wasm* since 1.6) and the stats-tag annotations of scripts/metrics.ts", () => {
  const annotations = liveDeployment.spec.template.metadata.annotations;
  // ProxyConfig: no stats matcher (not needed since Istio 1.6); the async response limit of the
  // shipped Envoy configs (docs/hostile.md, "Memory").
  const proxyConfig = parseYaml(annotations["proxy.istio.io/config"]);
  assert.deepEqual(proxyConfig, {
    runtimeValues: {
      "http.async_response_buffer_limit": String(
        readShippedConfig().layered_runtime.layers[0].static_layer[
          "http.async_response_buffer_limit"
        ],
      ),
    },
  });
  for (const [k, v] of Object.entries(istioStatsAnnotations()))
    assert.equal(annotations[k], v, k);
  const mounts = JSON.parse(annotations["sidecar.istio.io/userVolumeMount"]);
  const volumes = JSON.parse(annotations["sidecar.istio.io/userVolume"]);
  const filename = at(
    parts().extensionConfig,
    "typed_config",
    "config",
    "vm_config",
    "code",
    "local",
    "filename",
  );
  // Optional: a live pod starts without the mirror; the ECDS delivery keeps a missing module
  // from costing the listener (the scenarios below run it in Envoy).
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

const TYPED_EXTENSION_CONFIG =
  "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";

/**
 * The extension config the EnvoyFilter's EXTENSION_CONFIG patch adds (what istiod serves over
 * ECDS), with the module read from `modulePath` [the local build].
 */
function extensionConfig(modulePath = RELEASE_WASM_PATH, plugin?: object): Obj {
  const ext = structuredClone(parts().extensionConfig) as Obj;
  ext.typed_config.config.vm_config.code.local.filename = modulePath;
  if (plugin)
    ext.typed_config.config.configuration.value = JSON.stringify(plugin);
  return ext;
}

/**
 * Serves `ext` at `version` from a file, as a DiscoveryResponse: the ECDS istiod serves over ADS,
 * here through Envoy's file subscription (the file is replaced atomically; Envoy watches it).
 */
function writeEcds(path: string, ext: Obj, version: number): void {
  const temp = `${path}.tmp`;
  writeFileSync(
    temp,
    JSON.stringify({
      version_info: String(version),
      resources: [{ "@type": TYPED_EXTENSION_CONFIG, ...ext }],
    }),
  );
  renameSync(temp, path);
}

/** The HTTP filter the EnvoyFilter's HTTP_FILTER patch inserts, its ECDS read from `ecdsPath`. */
function ecdsHttpFilter(ecdsPath: string): Obj {
  const filter = structuredClone(parts().httpFilter) as Obj;
  filter.config_discovery.config_source = {
    resource_api_version: "V3",
    path_config_source: { path: ecdsPath },
  };
  return filter;
}

/**
 * The filter as Istio 1.31 renders it from the WasmPlugin (pilot/pkg/model/extensions.go): the
 * WasmPlugin becomes a TrafficExtension named `<name>~istio-translated-wasmplugin`, the plugin is
 * named `<namespace>.<that>`, the HTTP filter `extensions.istio.io/trafficextension/<that>`
 * (served over ECDS; inlined here), pluginConfig as JSON, the module read locally as istio-agent
 * rewrites it after the pull.
 */
function wasmPluginFilter(): Obj {
  const { metadata, spec } = wasmPlugin;
  const name = `${metadata.namespace}.${metadata.name}~istio-translated-wasmplugin`;
  return {
    name: `extensions.istio.io/trafficextension/${name}`,
    typed_config: {
      "@type": WASM_TYPE,
      config: {
        name,
        root_id: spec.pluginName,
        vm_config: {
          runtime: "envoy.wasm.runtime.v8",
          code: { local: { filename: RELEASE_WASM_PATH } },
          environment_variables: {
            key_values: { ISTIO_META_WASM_PLUGIN_RESOURCE_VERSION: "1" },
          },
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
  config.node = { id: "kitchen-sidecar", cluster: "kitchen" };
  const hcm =
    config.static_resources.listeners[0].filter_chains[0].filters[0]
      .typed_config;
  const { filterPatch } = parts();
  const anchor = filterPatch.match.listener.filterChain.filter.subFilter.name;
  const i = hcm.http_filters.findIndex((f: Obj) => f.name === anchor);
  assert.ok(i >= 0, `no ${anchor} in the rendered chain`);
  assert.equal(filterPatch.patch.operation, "INSERT_BEFORE");
  hcm.http_filters.splice(i, 0, filter);
  assert.deepEqual(
    config.static_resources.clusters.map((c: Obj) => c.name),
    ["kitchen", ISTIO_DARK_CLUSTER],
  );
  return config;
}

/** A temp dir removed at cleanup. */
function tempDir(s: Scope): string {
  const dir = mkdtempSync(join(tmpdir(), "mirror-istio-"));
  s.defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The ECDS stat `name` of the EnvoyFilter's HTTP filter. */
const ecdsStat = (name: string) =>
  `extension_config_discovery.http_filter.${parts().httpFilter.name}.${name}`;

scenario(
  "the EnvoyFilter's extension config passes envoy --mode validate (on_configure runs), and so does its listener",
  async (s) => {
    const dir = tempDir(s);
    // The extension config inline, as Envoy will build it: module and plugin config checked.
    const inline = {
      name: "mirror",
      typed_config: extensionConfig().typed_config,
    };
    writeFileSync(
      join(dir, "inline.json"),
      JSON.stringify(istioBootstrap(inline, { live: 1, dark: 2 })),
    );
    const first = await validateConfig(join(dir, "inline.json"));
    assert.equal(first.code, 0, first.output);
    // The listener with the HTTP filter that names the extension config.
    writeEcds(join(dir, "ecds.json"), extensionConfig(), 1);
    writeFileSync(
      join(dir, "listener.json"),
      JSON.stringify(
        istioBootstrap(ecdsHttpFilter(join(dir, "ecds.json")), {
          live: 1,
          dark: 2,
        }),
      ),
    );
    const second = await validateConfig(join(dir, "listener.json"));
    assert.equal(second.code, 0, second.output);
  },
);

scenario(
  "the WasmPlugin as Istio renders it passes envoy --mode validate",
  async (s) => {
    const file = join(tempDir(s), "envoy.json");
    writeFileSync(
      file,
      JSON.stringify(istioBootstrap(wasmPluginFilter(), { live: 1, dark: 2 })),
    );
    const { code, output } = await validateConfig(file);
    assert.equal(code, 0, output);
  },
);

scenario(
  "the EnvoyFilter (extension config over ECDS) mirrors to outbound|8080||kitchen-next.default.svc.cluster.local",
  async (s) => {
    const ecds = join(tempDir(s), "ecds.json");
    writeEcds(ecds, extensionConfig(), 1);
    await mirrorsAsIstioWould(
      s,
      ecdsHttpFilter(ecds),
      ecdsStat("update_success"),
    );
  },
);

scenario(
  "the WasmPlugin as Istio renders it mirrors to outbound|8080||kitchen-next.default.svc.cluster.local",
  async (s) => mirrorsAsIstioWould(s, wasmPluginFilter()),
);

scenario(
  "EnvoyFilter with the module file missing: the extension config is rejected, the listener serves live traffic, nothing is mirrored; the module loads with the next changed extension config",
  async (s) => {
    const dir = tempDir(s);
    const module = join(dir, "wasm-filters", "mirror.wasm");
    const ecds = join(dir, "ecds.json");
    writeEcds(ecds, extensionConfig(module), 1);
    const live = await s.upstream("kitchen");
    const dark = await s.upstream("kitchen-next");
    const envoy = await s.envoy({
      name: "sidecar-without-module",
      live,
      dark,
      bootstrap: istioBootstrap(ecdsHttpFilter(ecds), {
        live: live.port,
        dark: dark.port,
      }),
    });
    await envoy.waitForStat(ecdsStat("update_rejected"), 1);
    assert.match(
      envoy.log,
      /rejected: Invalid path: .*wasm-filters\/mirror\.wasm/,
    );
    const agent = s.agent(4);
    const traffic = async (n: number, tag: string) => {
      for (let u = 0; u < n; u++) {
        const reply = await request(envoy.listenerPort, {
          path: `/menu?${tag}=${u}`,
          headers: { "x-user-id": `${tag}-${u}` },
          agent,
        });
        assert.equal(reply.status, 200, `live request ${tag}-${u}`);
        assert.match(reply.body.toString(), /^kitchen GET/);
      }
    };
    await traffic(20, "before");
    assert.equal(live.records.length, 20);
    assert.equal(dark.records.length, 0);

    // The module appears (the ConfigMap is created); the same extension config sent again is
    // not applied: Envoy skips a config identical to the last one it got, even a rejected one.
    mkdirSync(dirname(module), { recursive: true });
    copyFileSync(join(REPO_ROOT, RELEASE_WASM_PATH), module);
    writeEcds(ecds, extensionConfig(module), 2);
    await envoy.waitForStat(ecdsStat("update_attempt"), 2);
    await traffic(20, "same");
    assert.equal(
      dark.records.length,
      0,
      "an identical extension config was applied",
    );

    // A changed extension config (any edit of the EnvoyFilter's) loads the module: mirroring starts.
    const plugin = {
      ...readEnvoyPluginConfig(),
      targets: [{ cluster: ISTIO_DARK_CLUSTER, percentage: 100 }],
    };
    writeEcds(ecds, extensionConfig(module, plugin), 3);
    await envoy.waitForStat(ecdsStat("update_success"), (v) => v >= 2);
    await traffic(10, "after");
    await dark.waitForCount(10);
    assert.equal(live.records.length, 50);
  },
);

scenario(
  "the same filter inlined in the listener (the old EnvoyFilter) with the module file missing: Envoy rejects the whole listener while /ready says LIVE",
  async (s) => {
    const dir = tempDir(s);
    const inline = {
      name: "envoy.filters.http.wasm",
      typed_config: extensionConfig(join(dir, "missing", "mirror.wasm"))
        .typed_config,
    };
    const listenerPort = await freePort();
    const envoy = s.spawnEnvoy({
      name: "sidecar-inline-without-module",
      live: { port: 1 },
      dark: { port: 2 },
      dynamicListener: true,
      mutate: (b) => {
        Object.assign(b, istioBootstrap(inline, { live: 1, dark: 2 }));
        b.static_resources.listeners[0].address.socket_address.port_value =
          listenerPort;
      },
    });
    const addressFile = join(envoy.configPath, "..", "admin-address");
    const admin = await waitFor(
      "the admin address",
      () => existsSync(addressFile) && readFileSync(addressFile, "utf8").trim(),
      20_000,
    );
    envoy.adminPort = Number(String(admin).split(":").pop());
    await envoy.waitForStat("listener_manager.lds.update_rejected", 1, 20_000);
    assert.equal((await envoy.admin("/ready")).trim(), "LIVE");
    assert.equal(
      await envoy.stat("listener_manager.total_listeners_active"),
      0,
    );
    assert.match(envoy.log, /Invalid path: .*missing\/mirror\.wasm/);
    const refused = await request(listenerPort, { path: "/menu" }).then(
      () => "answered",
      (err: NodeJS.ErrnoException) => err.code,
    );
    assert.equal(refused, "ECONNREFUSED");
  },
);

/** 40 users' GETs and 4 POSTs through Envoy: the copies and the stats the config promises. */
async function mirrorsAsIstioWould(
  s: Scope,
  filter: Obj,
  /** A stat that must reach 1 before traffic (the extension config applied). */
  readyStat?: string,
): Promise<void> {
  const live = await s.upstream("kitchen");
  const dark = await s.upstream("kitchen-next");
  const envoy = await s.envoy({
    name: "istio-sidecar",
    live,
    dark,
    bootstrap: istioBootstrap(filter, { live: live.port, dark: dark.port }),
  });
  if (readyStat) await envoy.waitForStat(readyStat, 1);
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
