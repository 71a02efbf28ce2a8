// The stats annotations of istio/kitchen.yaml give an Istio sidecar the labelled metrics: Istio
// 1.31's own bootstrap template (tests/support/istio-bootstrap.ts, from the Go module istio.io/istio on
// the Go module proxy) rendered for those annotations as istio-agent renders it — the rendering
// checked first against Istio's golden bootstraps, which Istio's tests produce with istio-agent's
// real code — then that stats_config in a real Envoy running the filter: every series of
// scripts/metrics.ts under its family with its labels in /stats/prometheus, the latency buckets,
// the stats matcher keeping them. Without the annotations, the same Envoy shows no labels.
import assert from "node:assert/strict";
import test from "node:test";
import { parseAllDocuments } from "yaml";
import {
  CONFIG_GO,
  ISTIO_SOURCE,
  istioFiles,
  renderStatsConfig,
  statsOptions,
  TEMPLATE,
} from "../support/istio-bootstrap.ts";
import {
  envoyStatsConfig,
  istioStatsAnnotations,
  bucketsOf,
  promLabels,
  SERIES,
  series,
  tagRegex,
} from "../../scripts/metrics.ts";
import { mapConcurrent, request } from "../support/clients.ts";
import { promKey } from "../support/stat-names.ts";
import { repoText } from "../../tools/paths.ts";
import { scenario } from "../support/scenario.ts";
import { waitFor } from "../../tools/wait.ts";

const GOLDEN = "pkg/bootstrap/testdata";
const files = await istioFiles([
  `${GOLDEN}/default_golden.json`,
  `${GOLDEN}/stats_inclusion_golden.json`,
  `${GOLDEN}/stats_inclusion.proxycfg`,
  "pkg/bootstrap/instance_test.go",
]);
const golden = (name: string) =>
  (JSON.parse(files[`${GOLDEN}/${name}_golden.json`]) as Record<string, any>)
    .stats_config;

/** The live example's pod annotations, as shipped. */
const kitchen = parseAllDocuments(repoText("istio/kitchen.yaml"))
  .map((d) => d.toJS() as Record<string, any>)
  .find((d) => d.kind === "Deployment")!;
const annotations: Record<string, string> =
  kitchen.spec.template.metadata.annotations;

test(`the rendering of Istio's template equals Istio's golden bootstraps (${ISTIO_SOURCE})`, () => {
  // No stats annotation: the whole stats_config, stats matcher included.
  assert.deepEqual(
    renderStatsConfig(files[TEMPLATE], statsOptions(files[CONFIG_GO], {})),
    golden("default"),
  );
  // Istio's own test case with extraStatTags and statsHistogramBuckets annotations (its inputs
  // read from its test file and proxy config): the tag extractors and the buckets.
  const testGo = files["pkg/bootstrap/instance_test.go"];
  const start = testGo.indexOf('base: "stats_inclusion"');
  const tc = testGo.slice(start, testGo.indexOf("stats: stats{", start));
  const tags = /"sidecar\.istio\.io\/extraStatTags":\s*"([^"]*)"/.exec(tc)![1];
  const buckets =
    /"sidecar\.istio\.io\/statsHistogramBuckets":\s*`([^`]*)`/.exec(tc)![1];
  const proxyTags = JSON.parse(
    /extra_stat_tags:\s*(\[[^\]]*\])/.exec(
      files[`${GOLDEN}/stats_inclusion.proxycfg`],
    )![1],
  ) as string[];
  const ours = renderStatsConfig(
    files[TEMPLATE],
    statsOptions(
      files[CONFIG_GO],
      {
        "sidecar.istio.io/extraStatTags": tags,
        "sidecar.istio.io/statsHistogramBuckets": buckets,
      },
      proxyTags,
    ),
  );
  const theirs = golden("stats_inclusion");
  assert.deepEqual(ours.stats_tags, theirs.stats_tags);
  assert.deepEqual(
    ours.histogram_bucket_settings,
    theirs.histogram_bucket_settings,
  );
});

test("istio/kitchen.yaml's annotations render into the stats_tags and buckets of the shipped Envoy config", () => {
  assert.deepEqual(annotations, {
    ...annotations,
    ...istioStatsAnnotations(),
  });
  const rendered = renderStatsConfig(
    files[TEMPLATE],
    statsOptions(files[CONFIG_GO], annotations),
  ) as {
    stats_tags: Array<{ tag_name: string; regex: string }>;
    histogram_bucket_settings: unknown;
    stats_matcher: { inclusion_list: { patterns: Array<{ prefix?: string }> } };
  };
  const ours = envoyStatsConfig();
  for (const t of ours.stats_tags)
    assert.deepEqual(
      rendered.stats_tags.find((x) => x.tag_name === t.tag_name),
      { tag_name: t.tag_name, regex: tagRegex(t.tag_name) },
    );
  assert.deepEqual(
    rendered.histogram_bucket_settings,
    ours.histogram_bucket_settings,
  );
  // istio-agent keeps every stat whose name starts with "wasm": the filter's wasmcustom.*.
  assert.ok(
    rendered.stats_matcher.inclusion_list.patterns.some(
      (p) => p.prefix === "wasm",
    ),
  );
});

const ISTIO_TARGET = "outbound|8080||kitchen-next.default.svc.cluster.local";
// A dark service named "cache": Istio's own `(cache\.(.+?)\.)` extractor adds a label to it.
const CACHE_TARGET = "outbound|6379||cache.shop.svc.cluster.local";

for (const withAnnotations of [true, false])
  scenario(
    withAnnotations
      ? "Envoy with istio-agent's stats_config for those annotations: every series of the filter, labelled, and the latency buckets"
      : "the same Envoy with istio-agent's stats_config for a pod without them: no labels",
    async (s) => {
      const statsConfig = renderStatsConfig(
        files[TEMPLATE],
        statsOptions(files[CONFIG_GO], withAnnotations ? annotations : {}),
      );
      const { envoy } = await s.liveAndDark({
        darkCluster: ISTIO_TARGET,
        plugin: {
          targets: [
            {
              cluster: ISTIO_TARGET,
              percentage: 100,
              match: { path_prefix: "/orders" },
            },
            {
              cluster: CACHE_TARGET,
              percentage: 100,
              match: { path_prefix: "/menu" },
            },
          ],
        },
        mutate: (b) => {
          b.stats_config = statsConfig;
          b.static_resources.clusters.push({
            ...b.static_resources.clusters[1],
            name: CACHE_TARGET,
            load_assignment: {
              ...b.static_resources.clusters[1].load_assignment,
              cluster_name: CACHE_TARGET,
            },
          });
        },
      });
      const agent = s.agent(4);
      const sent = [
        ...Array.from({ length: 6 }, (_, i) => ["GET", `/orders/${i}`]),
        ...Array.from({ length: 2 }, (_, i) => ["POST", `/orders/new/${i}`]),
        ...Array.from({ length: 3 }, (_, i) => ["GET", `/menu/${i}`]),
      ];
      await mapConcurrent(sent, 4, async ([method, path]) => {
        const reply = await request(envoy.listenerPort, {
          method,
          path,
          headers: { "x-request-id": `${method}${path}` },
          body: method === "POST" ? "{}" : undefined,
          agent,
        });
        assert.equal(reply.status, 200);
      });
      await envoy.waitForCounter("copies", 6, ISTIO_TARGET);
      await envoy.waitForCounter("copies", 3, CACHE_TARGET);

      if (!withAnnotations) {
        const text = await envoy.prometheusText();
        assert.doesNotMatch(text, /^mirror_copies_total\{/m);
        assert.match(
          text,
          /^mirror_copies_total_mirror_target___outbound_8080__kitchen_next_default_svc_cluster_local___\{\} 6$/m,
        );
        return;
      }
      const h = `mirror_dark_duration_microseconds_count{mirror_target=${JSON.stringify(ISTIO_TARGET)}}`;
      await waitFor(
        `${h} = 6`,
        async () => (await envoy.prometheus()).get(h) === 6,
      );
      const samples = await envoy.prometheus();
      // Every series of every family, under its labels.
      for (const x of SERIES) {
        const labels = promLabels(ISTIO_TARGET, x.key);
        if (x.kind === "histogram") {
          for (const le of [...bucketsOf(x.family).map(String), "+Inf"])
            assert.ok(
              samples.has(promKey(`${x.family}_bucket`, { ...labels, le })),
              `${x.family}_bucket le=${le}`,
            );
          // each answer has a latency; each pair's difference is either slower or faster
          if (!x.key.startsWith("pair."))
            assert.equal(
              samples.get(promKey(`${x.family}_count`, labels)),
              6,
              x.key,
            );
        } else
          assert.ok(
            samples.has(promKey(x.family, labels)),
            `${x.key}: ${promKey(x.family, labels)}`,
          );
      }
      const count = (key: string) =>
        samples.get(
          promKey(`${series(key).family}_count`, promLabels(ISTIO_TARGET, key)),
        ) ?? 0;
      assert.equal(count("pair.slower") + count("pair.faster"), 6);
      const v = (key: string, target = ISTIO_TARGET, extra = {}) =>
        samples.get(
          promKey(series(key).family, { ...promLabels(target, key), ...extra }),
        );
      assert.equal(v("copies"), 6);
      assert.equal(v("skipped.method"), 2);
      assert.equal(v("dark.2xx"), 6);
      // The "cache" service: its labels are right, and Istio's cache extractor adds one.
      assert.equal(v("copies", CACHE_TARGET, { cache: "shop" }), 3);
      assert.equal(v("copies", CACHE_TARGET), undefined);
    },
  );
