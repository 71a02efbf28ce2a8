// The filter's stats as Envoy exposes them: every `/stats/prometheus` counter equals what the live
// and dark upstreams recorded for a mixed workload, `/stats` agrees, and with the shipped
// stats_config each family carries its target (and reason, class, result) as labels.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import {
  COUNTER_KEYS,
  prometheusKey,
  statName,
} from "../support/stat-names.ts";
import { mapConcurrent, request } from "../support/clients.ts";
import { mirroredByFormula } from "../support/sampling.ts";
import { scenario } from "../support/scenario.ts";
import { waitFor } from "../../tools/wait.ts";

scenario(
  "/stats/prometheus counters equal what the upstreams recorded (and /stats agrees)",
  async (s) => {
    // An Istio-style cluster name: `|` and `.` are kept in the label value.
    const cluster = "outbound|8080||kitchen-next.dark.svc.cluster.local";
    assert.equal(
      statName(cluster, "skipped.method"),
      `wasmcustom.mirror_skipped_total.mirror_target=.=${cluster};.;mirror_reason=.=method;.;`,
    );
    assert.equal(
      prometheusKey(cluster, "skipped.method"),
      `mirror_skipped_total{mirror_reason="method",mirror_target="${cluster}"}`,
    );
    const salt = "stats";
    const pct = 30;
    const live = await s.upstream("kitchen");
    const statusOf = (path: string) =>
      path.includes("/missing")
        ? 404
        : path.includes("/moved")
          ? 302
          : path.includes("/broken")
            ? 503
            : 200;
    const dark = await s.upstream("kitchen-next", {
      status: (r) => statusOf(r.path),
    });
    const envoy = await s.envoy({
      live,
      dark,
      darkCluster: cluster,
      plugin: {
        targets: [
          { cluster, percentage: pct, match: { path_prefix: "/orders" } },
        ],
        sampling: { salt },
      },
    });

    const agent = s.agent(8);
    const gets = Array.from({ length: 400 }, (_, i) => ({
      method: "GET",
      path: `/orders/${["ok", "missing", "moved", "broken"][i % 4]}/${i}`,
      id: randomUUID(),
      headers: {},
    }));
    const posts = Array.from({ length: 25 }, (_, i) => ({
      method: "POST",
      path: `/orders/new/${i}`,
      id: randomUUID(),
      headers: {},
    }));
    const loops = Array.from({ length: 15 }, (_, i) => ({
      method: "GET",
      path: `/orders/ok/loop${i}`,
      id: randomUUID(),
      headers: { "x-shadow": "true" },
    }));
    const unmatched = Array.from({ length: 10 }, (_, i) => ({
      method: "GET",
      path: `/health/${i}`,
      id: randomUUID(),
      headers: {},
    }));
    const all = [...gets, ...posts, ...loops, ...unmatched].sort(
      () => Math.random() - 0.5,
    );
    await mapConcurrent(all, 16, async (r) => {
      const reply = await request(envoy.listenerPort, {
        method: r.method,
        path: r.path,
        headers: { "x-request-id": r.id, ...r.headers },
        body: r.method === "POST" ? "{}" : undefined,
        agent,
      });
      assert.equal(reply.status, 200);
    });

    const expectedMirrored = gets.filter((g) =>
      mirroredByFormula(salt, g.id, pct),
    );
    const byClass = (lo: number) =>
      dark.records.filter(
        (r) => statusOf(r.path) >= lo && statusOf(r.path) < lo + 100,
      ).length;
    const prom = () => envoy.prometheus();
    const p = (key: string) => prometheusKey(cluster, key);
    let samples = new Map<string, number>();
    await waitFor(
      () =>
        `prometheus counters to settle: ${JSON.stringify(Object.fromEntries([...samples].filter(([k]) => k.startsWith("mirror_"))))}`,
      async () => {
        samples = await prom();
        const answered = [
          "dark.2xx",
          "dark.3xx",
          "dark.4xx",
          "dark.5xx",
          "dark.reset",
        ].reduce((sum, k) => sum + (samples.get(p(k)) ?? 0), 0);
        return (
          answered >= expectedMirrored.length &&
          dark.records.length >= expectedMirrored.length
        );
      },
    );
    const counter = (key: string) => {
      const v = samples.get(p(key));
      assert.ok(v !== undefined, `${p(key)} missing from /stats/prometheus`);
      return v;
    };
    assert.equal(live.records.length, all.length);
    assert.equal(dark.records.length, expectedMirrored.length);
    assert.equal(counter("copies"), dark.records.length);
    assert.equal(
      counter("skipped.sampled_out"),
      gets.length - expectedMirrored.length,
    );
    assert.equal(counter("skipped.method"), posts.length);
    assert.equal(counter("skipped.loop"), loops.length);
    assert.equal(counter("skipped.not_matched"), unmatched.length);
    for (const k of [
      "skipped.no_key",
      "skipped.body_too_large",
      "skipped.overloaded",
      "skipped.live_reset",
      "dispatch_failures.unknown_cluster",
      "dispatch_failures.no_healthy_host",
      "dispatch_failures.other",
      "dark.reset",
    ])
      assert.equal(counter(k), 0, k);
    assert.equal(counter("dark.2xx"), byClass(200));
    assert.equal(counter("dark.3xx"), byClass(300));
    assert.equal(counter("dark.4xx"), byClass(400));
    assert.equal(counter("dark.5xx"), byClass(500));
    assert.equal(samples.get(p("inflight")), 0);
    assert.ok(
      byClass(200) && byClass(300) && byClass(400) && byClass(500),
      "each class of dark answer occurred",
    );

    // The latency histogram reaches Prometheus at the next stats flush: one sample per answer,
    // in the buckets of the shipped stats_config (microseconds).
    const h = `mirror_dark_duration_microseconds_count{mirror_target=${JSON.stringify(cluster)}}`;
    await waitFor(
      `${h} = ${dark.records.length}`,
      async () => (await prom()).get(h) === dark.records.length,
    );
    const text = await envoy.prometheusText();
    assert.match(text, /^# TYPE mirror_dark_duration_microseconds histogram$/m);
    assert.match(
      text,
      /^mirror_dark_duration_microseconds_bucket\{mirror_target="[^"]+",le="100000"\} \d+$/m,
    );

    // /stats (JSON) shows the same values under their tagged names.
    const stats = await envoy.stats();
    for (const key of COUNTER_KEYS)
      assert.equal(stats.get(statName(cluster, key)), counter(key), key);
  },
);
