// The Gateway API mirror conformance tests (sigs.k8s.io/gateway-api/conformance v1.6.1:
// HTTPRouteRequestMirror, HTTPRouteRequestMultipleMirrors, HTTPRouteRequestPercentageMirror),
// their assertions reproduced in Envoy 1.40 with the plugin config `npm run gateway` renders from
// the suite's own routes: recording echo backends named as the suite's (infra-backend-v1 live,
// v2 and v3 mirrors), the request id in the `gateway-api-conformance-request-id` query parameter
// as the suite adds it, and what a mirror backend "logs" is the path and query it received (the
// suite greps "Echoing back request made to PATH to client" in its echo server's log). Then the
// keyed-sampling contrast: with the key on the path or a header, the same check gives 0 or 500.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { parseAllDocuments } from "yaml";
import { conformanceMirrorRoutes } from "../../scripts/gateway/crds.ts";
import {
  pluginConfig,
  translateRoute,
  type Implementation,
} from "../../scripts/gateway/translate.ts";
import type { JsonObject } from "../../tools/json.ts";
import { checkPluginConfig } from "../../scripts/plugin-config.ts";
import { keepAliveAgent, mapConcurrent, request } from "../support/clients.ts";
import { scenario, type Scope } from "../support/scenario.ts";
import { type Upstream } from "../support/upstream.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const NS = "gateway-conformance-infra";
/** The suite's query parameter (conformance/utils/http/http.go requestIDQueryParam). */
const REQUEST_ID = "gateway-api-conformance-request-id";
/** The suite's percentage check (httproute-request-percentage-mirror.go). */
const TOTAL = 500;
const CHECKS = 5;
const CONCURRENCY = 10;
const SIGMAS = 3;

/** A conformance route (file name) as the suite ships it. */
async function suiteRoute(file: string): Promise<Any> {
  const text = (await conformanceMirrorRoutes())[
    file as keyof Awaited<ReturnType<typeof conformanceMirrorRoutes>>
  ];
  return parseAllDocuments(text)[0].toJS();
}

/**
 * An Envoy with the rendered plugin config and one cluster per name in `clusters` (name → the
 * upstream it reaches), the live cluster on infra-backend-v1.
 */
async function gatewayEnvoy(
  s: Scope,
  plugin: JsonObject,
  clusters: Record<string, Upstream>,
  live: Upstream,
) {
  const check = await checkPluginConfig(JSON.stringify(plugin));
  assert.ok(check.ok, check.messages.join("\n"));
  const names = Object.keys(clusters);
  return s.envoy({
    live,
    dark: clusters[names[0]],
    darkCluster: names[0],
    plugin,
    clusters: Object.fromEntries(
      names.slice(1).map((name) => [name, clusters[name].port]),
    ),
  });
}

/** The suite's request path for a case: its path with a fresh request id, as url.Values encodes it. */
const withRequestId = (path: string) => `${path}?${REQUEST_ID}=${randomUUID()}`;

/**
 * Requests a mirror backend received for exactly this path and query: the suite counts its echo
 * server's lines "Echoing back request made to PATH to client", PATH being the request URI.
 */
const logged = (u: Upstream, path: string) =>
  u.records.filter((r) => r.path === path).length;

/** Renders `file` for `impl` with `base` settings: the plugin config and every cluster name. */
async function rendered(
  file: string,
  impl: Implementation,
  base: JsonObject = {},
) {
  const t = translateRoute(await suiteRoute(file), { implementation: impl });
  const plugin = pluginConfig(t, base);
  return { t, plugin };
}

scenario(
  "HTTPRouteRequestMirror: the mirror backend gets the exact path and query of each request",
  async (s) => {
    const { t, plugin } = await rendered(
      "httproute-request-mirror.yaml",
      "envoy-gateway",
    );
    const live = await s.upstream("infra-backend-v1");
    const v2 = await s.upstream("infra-backend-v2");
    const clusters = Object.fromEntries(
      t.mirrors.map((m) => [m.target.cluster as string, v2]),
    );
    const envoy = await gatewayEnvoy(s, plugin, clusters, live);
    for (const [path, headers] of [
      ["/mirror", {}],
      [
        "/mirror-and-modify-headers",
        {
          "X-Header-Remove": "remove-val",
          "X-Header-Add-Append": "append-val-1",
        },
      ],
    ] as const) {
      const sent = withRequestId(path);
      const reply = await request(envoy.listenerPort, { path: sent, headers });
      assert.equal(reply.status, 200);
      await v2.waitForCount(live.records.length);
      assert.equal(logged(v2, sent), 1, `${sent} mirrored once`);
      assert.equal(live.records.at(-1)!.path, sent);
    }
    // Each request was copied by its own rule's target only.
    const c0 = await envoy.targetCounters(t.mirrors[0].target.label as string);
    const c1 = await envoy.targetCounters(t.mirrors[1].target.label as string);
    assert.equal(c0.copies, 1);
    assert.equal(c0["skipped.not_matched"], 1);
    assert.equal(c1.copies, 1);
    assert.equal(c1["skipped.not_matched"], 1);
  },
);

scenario(
  "HTTPRouteRequestMultipleMirrors: each mirror backend gets it, through a waypoint's cluster names",
  async (s) => {
    // The waypoint rendering: each target tries inbound-vip|…, then outbound|…. This Envoy
    // has inbound-vip for infra-backend-v2 (a Service the waypoint serves) and only outbound
    // for infra-backend-v3 (one it does not).
    const { t, plugin } = await rendered(
      "httproute-request-multiple-mirrors.yaml",
      "istio-waypoint",
    );
    const live = await s.upstream("infra-backend-v1");
    const v2 = await s.upstream("infra-backend-v2");
    const v3 = await s.upstream("infra-backend-v3");
    const clusters: Record<string, Upstream> = {};
    for (const m of t.mirrors) {
      const [inboundVip, outbound] = m.target.clusters as string[];
      if (inboundVip.includes("infra-backend-v2.")) clusters[inboundVip] = v2;
      else clusters[outbound] = v3;
    }
    assert.deepEqual(Object.keys(clusters).sort(), [
      `inbound-vip|8080|http|infra-backend-v2.${NS}.svc.cluster.local`,
      `outbound|8080||infra-backend-v3.${NS}.svc.cluster.local`,
    ]);
    const envoy = await gatewayEnvoy(s, plugin, clusters, live);
    for (const path of [
      "/multi-mirror",
      "/multi-mirror-and-modify-request-headers",
    ]) {
      const sent = withRequestId(path);
      const reply = await request(envoy.listenerPort, { path: sent });
      assert.equal(reply.status, 200);
      await v2.waitForCount(live.records.length);
      await v3.waitForCount(live.records.length);
      assert.equal(logged(v2, sent), 1, `${sent} at infra-backend-v2`);
      assert.equal(logged(v3, sent), 1, `${sent} at infra-backend-v3`);
    }
    for (const m of t.mirrors) {
      const c = await envoy.targetCounters(m.target.label as string);
      assert.equal(c.copies, 1, m.field);
      assert.equal(c.dispatch_failures, 0, m.field);
    }
  },
);

/** One percentage case of the suite: its path, its mirror's target label and share. */
interface PercentCase {
  path: string;
  label: string;
  p: number;
}

/**
 * The suite's distribution check, up to CHECKS times: TOTAL GETs of one path and query (a fresh
 * request id per check) and `headers()` (one value per check), CONCURRENCY at a time, then the
 * mirror's count for that path and query; stops at the first count inside
 * TOTAL·p ± SIGMAS·sqrt(TOTAL·p·(1−p)) unless `all`. Returns each check's count.
 */
async function distributionChecks(
  s: Scope,
  envoy: {
    listenerPort: number;
    targetCounters(l: string): Promise<Record<string, number>>;
  },
  mirror: Upstream,
  c: PercentCase,
  o: { headers?: () => Record<string, string>; all?: boolean } = {},
): Promise<number[]> {
  const agent = keepAliveAgent(CONCURRENCY);
  s.defer(() => agent.destroy());
  const counts: number[] = [];
  for (let k = 0; k < CHECKS; k++) {
    const sent = withRequestId(c.path);
    const headers = o.headers?.();
    const before = (await envoy.targetCounters(c.label)).copies;
    await mapConcurrent(
      Array.from({ length: TOTAL }, (_, i) => i),
      CONCURRENCY,
      async () => {
        const reply = await request(envoy.listenerPort, {
          path: sent,
          agent,
          headers,
        });
        assert.equal(reply.status, 200);
      },
    );
    // Every copy of this check answered: the filter's count and the backend's log agree.
    const after = await envoy.targetCounters(c.label);
    const copies = after.copies - before;
    await mirror.waitForCount(
      mirror.records.length - logged(mirror, sent) + copies,
    );
    counts.push(logged(mirror, sent));
    assert.equal(counts.at(-1), copies);
    if (!o.all && inside(counts.at(-1)!, c.p)) break;
  }
  return counts;
}

/** The suite's band: TOTAL·p ± SIGMAS·sqrt(TOTAL·p·(1−p)). */
function band(p: number): [number, number] {
  const margin = SIGMAS * Math.sqrt(TOTAL * p * (1 - p));
  return [TOTAL * p - margin, TOTAL * p + margin];
}
const inside = (n: number, p: number) => {
  const [lo, hi] = band(p);
  return n >= lo && n <= hi;
};

scenario(
  "HTTPRouteRequestPercentageMirror: percent 20, fraction 25/50 and percent 35 inside the suite's 3-sigma band, keyed on x-request-id",
  async (s) => {
    const { t, plugin } = await rendered(
      "httproute-request-percentage-mirror.yaml",
      "envoy-gateway",
    );
    const live = await s.upstream("infra-backend-v1");
    const v2 = await s.upstream("infra-backend-v2");
    const envoy = await gatewayEnvoy(
      s,
      plugin,
      Object.fromEntries(
        t.mirrors.map((m) => [m.target.cluster as string, v2]),
      ),
      live,
    );
    const cases: PercentCase[] = [
      { path: "/percent-mirror", p: 0.2 },
      { path: "/percent-mirror-fraction", p: 0.5 },
      { path: "/percent-mirror-and-modify-headers", p: 0.35 },
    ].map((c, i) => ({ ...c, label: t.mirrors[i].target.label as string }));
    // The default sampling key: the client sends none, so Envoy's fresh x-request-id per request.
    assert.equal((plugin as Any).sampling, undefined);
    for (const c of cases) {
      const counts = await distributionChecks(s, envoy, v2, c);
      assert.ok(
        inside(counts.at(-1)!, c.p),
        `${c.path}: ${counts.join(", ")} mirrored of ${TOTAL} per check, band ${band(
          c.p,
        )
          .map((x) => x.toFixed(1))
          .join("–")}`,
      );
      s.t.diagnostic(
        `${c.path}: p ${c.p}, band ${band(c.p)
          .map((x) => x.toFixed(1))
          .join(
            "–",
          )}, mirrored ${counts.join(", ")} of ${TOTAL} (${counts.length} check(s))`,
      );
    }
  },
  { timeout: 300_000 },
);

scenario(
  "keyed sampling: with the key on the path or on a header the suite sends alike, each check mirrors 0 or 500",
  async (s) => {
    // Every request of a check has the same path and query, and the same value of a header the
    // client sends alike: a key taken from either sends all of them or none.
    for (const keys of [
      ["path"],
      ["header:x-client"],
      [`query:${REQUEST_ID}`],
    ]) {
      const { t, plugin } = await rendered(
        "httproute-request-percentage-mirror.yaml",
        "envoy-gateway",
        { sampling: { keys } },
      );
      const live = await s.upstream(`infra-backend-v1 (${keys[0]})`);
      const v2 = await s.upstream(`infra-backend-v2 (${keys[0]})`);
      const envoy = await gatewayEnvoy(
        s,
        plugin,
        Object.fromEntries(
          t.mirrors.map((m) => [m.target.cluster as string, v2]),
        ),
        live,
      );
      const c = {
        path: "/percent-mirror-fraction",
        p: 0.5,
        label: t.mirrors[1].target.label as string,
      };
      // Headers the same for the whole check; the query differs by check (the suite's new id).
      const counts = await distributionChecks(s, envoy, v2, c, {
        headers: () => ({ "x-client": randomUUID() }),
        all: true,
      });
      assert.ok(
        counts.every((n) => n === 0 || n === TOTAL),
        `${keys[0]}: ${counts.join(", ")}`,
      );
      // The path is the same in every check: the same decision five times over.
      if (keys[0] === "path") assert.equal(new Set(counts).size, 1);
      s.t.diagnostic(
        `key ${keys[0]}: mirrored ${counts.join(", ")} of ${TOTAL} per check`,
      );
    }
  },
  { timeout: 600_000 },
);
