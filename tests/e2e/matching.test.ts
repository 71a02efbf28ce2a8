// The target fields of the Gateway API mapping in the real Envoy: a target naming its dark service
// by two cluster names of which Envoy knows only the second (as a config written for a sidecar and
// a waypoint meets one of them), two targets on one cluster with their own labels and match
// conditions (whole path segments, an exact path, a pattern on a header, a query parameter, a
// method). Copies reach the dark upstream exactly for the requests that fit, counted under each
// label; live answers every request.
import assert from "node:assert/strict";
import { DARK_CLUSTER } from "../support/envoy-config.ts";
import { getEach, orderPaths } from "../support/clients.ts";
import { scenario } from "../support/scenario.ts";

scenario(
  "clusters: a name Envoy does not know is skipped for the next, every copy arrives, no dispatch failure",
  async (s) => {
    const { dark, envoy } = await s.liveAndDark({
      plugin: {
        targets: [
          {
            clusters: ["outbound|8080||kitchen-next.nowhere", DARK_CLUSTER],
            label: "kitchen-next",
            percentage: 100,
          },
        ],
      },
    });
    const n = 12;
    await getEach(envoy.listenerPort, orderPaths(n));
    await dark.waitForCount(n);
    await envoy.waitForCounter("copies", n);
    const c = await envoy.targetCounters();
    assert.equal(c.dispatch_failures, 0);
    assert.deepEqual(
      dark.records.map((r) => r.path).sort(),
      orderPaths(n).sort(),
    );
    // Each VM (2 workers) switched once, and said so.
    const switched = envoy.log
      .split("\n")
      .filter((l) =>
        l.includes(
          `mirror: target kitchen-next: cluster 'outbound|8080||kitchen-next.nowhere' is unknown to Envoy, dispatching to '${DARK_CLUSTER}'`,
        ),
      );
    assert.ok(
      switched.length >= 1 && switched.length <= 2,
      switched.join("\n"),
    );
  },
);

scenario(
  "labels and match: two targets on one cluster, each copy where its conditions fit, counted under its label",
  async (s) => {
    const { live, dark, envoy } = await s.liveAndDark({
      plugin: {
        targets: [
          {
            cluster: DARK_CLUSTER,
            label: "orders",
            percentage: 100,
            match: [
              { path_segment_prefix: "/percent-mirror", method: "GET" },
              {
                path_regex: "/api/v[0-9]+/orders",
                headers: { "x-tenant": { regex: "acme|globex" } },
              },
            ],
          },
          {
            cluster: DARK_CLUSTER,
            label: "menu",
            percentage: 100,
            match: { path_exact: "/menu", query: { lang: "fr" } },
          },
        ],
      },
    });
    const cases: Array<[string, Record<string, string>, string[]]> = [
      ["/percent-mirror", {}, ["orders"]],
      ["/percent-mirror/x?y=1", {}, ["orders"]],
      ["/percent-mirror-fraction", {}, []],
      ["/api/v2/orders", { "x-tenant": "globex" }, ["orders"]],
      ["/api/v2/orders", { "x-tenant": "initech" }, []],
      ["/api/v2/orders/1", { "x-tenant": "acme" }, []],
      ["/menu?lang=fr", {}, ["menu"]],
      ["/menu?lang=de&lang=fr", {}, []],
      ["/menu/?lang=fr", {}, []],
    ];
    const want = { orders: 0, menu: 0 };
    for (const [path, headers, labels] of cases) {
      await getEach(envoy.listenerPort, [path], { headers });
      for (const l of labels) want[l as keyof typeof want]++;
    }
    const copies = want.orders + want.menu;
    await dark.waitForCount(copies);
    await envoy.waitForCounter("copies", want.orders, "orders");
    await envoy.waitForCounter("copies", want.menu, "menu");
    assert.equal(
      await envoy.waitForCounter(
        "skipped.not_matched",
        9 - want.orders,
        "orders",
      ),
      9 - want.orders,
    );
    assert.deepEqual(
      dark.records.map((r) => r.path).sort(),
      cases.flatMap(([path, , labels]) => labels.map(() => path)).sort(),
    );
    assert.equal(live.records.length, cases.length);
  },
);
