// The filter's stats as Envoy exposes them: every `/stats/prometheus` counter equals what the live
// and dark upstreams recorded for a mixed workload, `/stats` agrees, and the names follow the
// target-cluster sanitising rule in both renderings.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import {
  COUNTER_SUFFIXES,
  mapConcurrent,
  mirroredByFormula,
  prometheusName,
  request,
  scenario,
  statName,
  waitFor,
} from "./harness.ts";

scenario(
  "/stats/prometheus counters equal what the upstreams recorded (and /stats agrees)",
  async (s) => {
    // An Istio-style cluster name exercises the sanitising of `|` and `.` in stat names.
    const cluster = "outbound|8080||kitchen-next.dark.svc.cluster.local";
    const target = "outbound_8080__kitchen-next_dark_svc_cluster_local";
    assert.equal(
      statName(cluster, "mirrored"),
      `wasmcustom.mirror.${target}.mirrored`,
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
    const p = (suffix: string) => prometheusName(cluster, suffix);
    let samples = new Map<string, number>();
    await waitFor(
      () =>
        `prometheus counters to settle: ${JSON.stringify(Object.fromEntries([...samples].filter(([k]) => k.startsWith("mirror_"))))}`,
      async () => {
        samples = await prom();
        const answered = [
          "dark.rq_2xx",
          "dark.rq_3xx",
          "dark.rq_4xx",
          "dark.rq_5xx",
          "dark.rq_reset",
        ].reduce((sum, k) => sum + (samples.get(`${p(k)}{}`) ?? 0), 0);
        return (
          answered >= expectedMirrored.length &&
          dark.records.length >= expectedMirrored.length
        );
      },
    );
    const counter = (suffix: string) => {
      const v = samples.get(`${p(suffix)}{}`);
      assert.ok(v !== undefined, `${p(suffix)} missing from /stats/prometheus`);
      return v;
    };
    assert.equal(live.records.length, all.length);
    assert.equal(dark.records.length, expectedMirrored.length);
    assert.equal(counter("mirrored"), dark.records.length);
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
      "dispatch_failed",
      "dark.rq_reset",
    ])
      assert.equal(counter(k), 0, k);
    assert.equal(counter("dark.rq_2xx"), byClass(200));
    assert.equal(counter("dark.rq_3xx"), byClass(300));
    assert.equal(counter("dark.rq_4xx"), byClass(400));
    assert.equal(counter("dark.rq_5xx"), byClass(500));
    assert.equal(samples.get(`${p("inflight")}{}`), 0);
    assert.ok(
      byClass(200) && byClass(300) && byClass(400) && byClass(500),
      "each class of dark answer occurred",
    );

    // The latency histogram reaches Prometheus at the next stats flush: one sample per answer.
    await waitFor(
      `${p("dark.latency_ms")}_count = ${dark.records.length}`,
      async () =>
        (await prom()).get(`${p("dark.latency_ms")}_count{}`) ===
        dark.records.length,
    );

    // /stats (JSON) shows the same values under wasmcustom.mirror.<target>.*
    const stats = await envoy.stats();
    for (const suffix of COUNTER_SUFFIXES)
      assert.equal(
        stats.get(statName(cluster, suffix)),
        counter(suffix),
        suffix,
      );
  },
);
