// `npm run gateway`'s translation, checked without a cluster: percent and fraction to parts per
// million, matches to the plugin's conditions, Gateway API precedence and the refusals naming
// the field, the cluster names each implementation gives a mirror backend (Istio's waypoint
// naming read from Istio's own source), and the rendered EnvoyExtensionPolicy and WasmPlugin
// against Envoy Gateway's and Istio's published CRD schemas (Go modules, pinned by sha256), the
// input and output HTTPRoutes against Gateway API's.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseAllDocuments, stringify } from "yaml";
import { REPO_ROOT } from "../../tools/paths.ts";
import { goModuleFiles } from "../../tools/provision/go-modules.ts";
import { ISTIO } from "../support/istio-bootstrap.ts";
import {
  conformanceMirrorRoutes,
  ENVOY_GATEWAY,
  gatewaySchemaErrors,
} from "../../scripts/gateway/crds.ts";
import {
  attachmentErrors,
  renderAttachment,
  renderRoutes,
  type AttachOptions,
  type RenderOptions,
} from "../../scripts/gateway/render.ts";
import {
  DEFAULT_REMOVED_HEADERS,
  mirrorShare,
  pluginConfig,
  Refusal,
  routeWithNativeMirrorsOff,
  translateRoute,
  type Implementation,
} from "../../scripts/gateway/translate.ts";
import { Host } from "../../tools/emulator/index.ts";
import { WASM } from "./drive.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

/** An HTTPRoute in `shop` attached to Gateway `edge`, with `rules`. */
const route = (rules: Any[], extra: Any = {}): Any => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name: "checkout", namespace: "shop" },
  spec: { parentRefs: [{ name: "edge" }], rules, ...extra },
});
const mirror = (name: string, share: Any = {}, port = 8080): Any => ({
  type: "RequestMirror",
  requestMirror: { backendRef: { name, port }, ...share },
});
const backend = [{ name: "checkout", port: 8080 }];

const EG = { implementation: "envoy-gateway" } as const;
const translate = (r: Any, impl: Implementation = "envoy-gateway") =>
  translateRoute(r, { implementation: impl });

describe("percent and fraction", () => {
  it("an HTTPRoute with two RequestMirror filters, one percent and one fraction, gives two targets with exactly those percentages", async () => {
    const r = route([
      {
        filters: [
          mirror("checkout-next", { percent: 20 }),
          mirror("checkout-canary", {
            fraction: { numerator: 5, denominator: 1000 },
          }),
        ],
        backendRefs: backend,
      },
    ]);
    assert.deepEqual(await gatewaySchemaErrors(r), []);
    const t = translate(r);
    assert.deepEqual(pluginConfig(t).targets, [
      {
        cluster: "httproute/shop/checkout/rule/0-mirror-0",
        label: "shop/checkout/rule/0/mirror/0",
        percentage: 20,
      },
      {
        cluster: "httproute/shop/checkout/rule/0-mirror-1",
        label: "shop/checkout/rule/0/mirror/1",
        percentage: 0.5,
      },
    ]);
    assert.deepEqual(t.notes, []);
  });

  const cases: Record<string, [Any, number, boolean]> = {
    "percent 20": [{ percent: 20 }, 20, true],
    "percent 0": [{ percent: 0 }, 0, true],
    "fraction 25/50": [
      { fraction: { numerator: 25, denominator: 50 } },
      50,
      true,
    ],
    "fraction 5/1000": [
      { fraction: { numerator: 5, denominator: 1000 } },
      0.5,
      true,
    ],
    "fraction 7 (denominator 100 by default)": [
      { fraction: { numerator: 7 } },
      7,
      true,
    ],
    "fraction 1/3 (rounded down to a part per million)": [
      { fraction: { numerator: 1, denominator: 3 } },
      33.3333,
      false,
    ],
    "fraction 2/3 (down, never more than asked)": [
      { fraction: { numerator: 2, denominator: 3 } },
      66.6666,
      false,
    ],
    "fraction 1/2000000 (half a part per million: none)": [
      { fraction: { numerator: 1, denominator: 2000000 } },
      0,
      false,
    ],
    "fraction 3/3": [{ fraction: { numerator: 3, denominator: 3 } }, 100, true],
    "neither: 100": [{}, 100, true],
  };
  for (const [name, [share, percentage, exact]] of Object.entries(cases))
    it(name, () => {
      const s = mirrorShare(share, "m");
      assert.equal(s.percentage, percentage);
      assert.equal(s.exact, exact);
      // At most 4 decimals: whole parts per million.
      assert.ok(Number.isInteger(Math.round(s.percentage * 10_000)));
      assert.equal(Math.round(s.percentage * 10_000) / 10_000, s.percentage);
    });

  const refused: Record<string, [Any, RegExp]> = {
    "percent and fraction together": [
      { percent: 10, fraction: { numerator: 1 } },
      /^m: only one of percent or fraction/,
    ],
    "numerator over denominator": [
      { fraction: { numerator: 51, denominator: 50 } },
      /^m\.fraction: numerator must be less than or equal to denominator, got 51\/50/,
    ],
    "denominator 0": [
      { fraction: { numerator: 0, denominator: 0 } },
      /^m\.fraction\.denominator: must be a whole number from 1/,
    ],
    "percent 101": [
      { percent: 101 },
      /^m\.percent: must be a whole number from 0 to 100/,
    ],
  };
  for (const [name, [share, error]] of Object.entries(refused))
    it(`refused: ${name}`, () =>
      assert.throws(() => mirrorShare(share, "m"), { message: error }));

  it("a non-exact fraction is stated in the notes", () => {
    const t = translate(
      route([
        {
          filters: [
            mirror("n", { fraction: { numerator: 1, denominator: 3 } }),
          ],
          backendRefs: backend,
        },
      ]),
    );
    assert.deepEqual(t.notes, [
      "spec.rules[0].filters[0].requestMirror: 1/3 is 33.3333 % (whole parts per million, rounded down)",
    ]);
  });
});

describe("matches", () => {
  const one = (matches: Any[]) =>
    translate(
      route([{ matches, filters: [mirror("n")], backendRefs: backend }]),
    ).mirrors[0].target.match;

  it("path Exact, PathPrefix and RegularExpression, headers, query parameters and method", () => {
    assert.deepEqual(
      one([
        {
          path: { type: "Exact", value: "/cart" },
          headers: [
            { name: "X-Tenant", value: "acme" },
            { type: "RegularExpression", name: "x-user", value: "u[0-9]+" },
            {
              name: "x-tenant",
              value: "ignored: the first entry of a name counts",
            },
          ],
          queryParams: [
            { name: "debug", value: "1" },
            { type: "RegularExpression", name: "v", value: "2\\..*" },
          ],
          method: "GET",
        },
      ]),
      {
        path_exact: "/cart",
        headers: { "x-tenant": "acme", "x-user": { regex: "u[0-9]+" } },
        query: { debug: "1", v: { regex: "2\\..*" } },
        method: "GET",
      },
    );
    assert.deepEqual(one([{ path: { type: "PathPrefix", value: "/cart" } }]), {
      path_segment_prefix: "/cart",
    });
    assert.deepEqual(
      one([{ path: { type: "RegularExpression", value: "/cart/[0-9]+" } }]),
      { path_regex: "/cart/[0-9]+" },
    );
  });

  it("several matches become an array (any of them); one that matches everything drops the match", () => {
    assert.deepEqual(
      one([
        { path: { type: "PathPrefix", value: "/cart" } },
        { method: "HEAD" },
      ]),
      [{ path_segment_prefix: "/cart" }, { method: "HEAD" }],
    );
    assert.equal(
      one([{ path: { type: "PathPrefix", value: "/cart" } }, {}]),
      undefined,
    );
    assert.equal(one([]), undefined);
  });

  it("the conformance suite's mirror routes map to segment-wise prefixes, and pass Gateway API's schema", async () => {
    const files = await conformanceMirrorRoutes();
    const got: Record<string, Any[]> = {};
    for (const [file, text] of Object.entries(files)) {
      const r = parseAllDocuments(text)[0].toJS();
      assert.deepEqual(await gatewaySchemaErrors(r), [], file);
      got[file] = translate(r).mirrors.map((m) => [
        m.target.match,
        m.target.percentage,
      ]);
    }
    assert.deepEqual(got, {
      "httproute-request-mirror.yaml": [
        [{ path_segment_prefix: "/mirror" }, 100],
        [{ path_segment_prefix: "/mirror-and-modify-headers" }, 100],
      ],
      "httproute-request-multiple-mirrors.yaml": [
        [{ path_segment_prefix: "/multi-mirror" }, 100],
        [{ path_segment_prefix: "/multi-mirror" }, 100],
        [
          { path_segment_prefix: "/multi-mirror-and-modify-request-headers" },
          100,
        ],
        [
          { path_segment_prefix: "/multi-mirror-and-modify-request-headers" },
          100,
        ],
      ],
      "httproute-request-percentage-mirror.yaml": [
        [{ path_segment_prefix: "/percent-mirror" }, 20],
        [{ path_segment_prefix: "/percent-mirror-fraction" }, 50],
        [{ path_segment_prefix: "/percent-mirror-and-modify-headers" }, 35],
      ],
    });
  });
});

describe("refused, naming the field", () => {
  const cases: Record<string, [Any, RegExp, Implementation?]> = {
    "a rule that takes some of a mirrored rule's requests first (longer prefix)":
      [
        route([
          { filters: [mirror("n")], backendRefs: backend },
          {
            matches: [{ path: { type: "PathPrefix", value: "/static" } }],
            backendRefs: backend,
          },
        ]),
        /^spec\.rules\[1\]\.matches\[0\]: takes precedence over spec\.rules\[0\]\.matches\[0\]/,
      ],
    "an earlier rule with the same match": [
      route([
        {
          matches: [{ path: { type: "PathPrefix", value: "/a" } }],
          backendRefs: backend,
        },
        {
          matches: [{ path: { type: "PathPrefix", value: "/a" } }],
          filters: [mirror("n")],
          backendRefs: backend,
        },
      ]),
      /^spec\.rules\[0\]\.matches\[0\]: takes precedence over spec\.rules\[1\]\.matches\[0\]/,
    ],
    "a RegularExpression path that may overlap": [
      route([
        {
          matches: [{ path: { type: "PathPrefix", value: "/a" } }],
          filters: [mirror("n")],
          backendRefs: backend,
        },
        {
          matches: [{ path: { type: "RegularExpression", value: "/a/.*" } }],
          backendRefs: backend,
        },
      ]),
      /^spec\.rules\[1\]\.matches\[0\]: may match requests .* RegularExpression .* implementation-specific/,
    ],
    "URLRewrite beside a RequestMirror": [
      route([
        {
          filters: [
            { type: "URLRewrite", urlRewrite: { hostname: "x.example" } },
            mirror("n"),
          ],
          backendRefs: backend,
        },
      ]),
      /^spec\.rules\[0\]\.filters\[0\]: URLRewrite with RequestMirror/,
    ],
    "a RequestMirror on one backend": [
      route([
        {
          backendRefs: [{ ...backend[0], filters: [mirror("n")] }],
        },
      ]),
      /^spec\.rules\[0\]\.backendRefs\[0\]\.filters\[0\]: a RequestMirror on one backend/,
    ],
    "an Istio mirror backend of an unknown kind": [
      route([
        {
          filters: [
            {
              type: "RequestMirror",
              requestMirror: {
                backendRef: {
                  group: "example.com",
                  kind: "Bucket",
                  name: "b",
                  port: 1,
                },
              },
            },
          ],
          backendRefs: backend,
        },
      ]),
      /^spec\.rules\[0\]\.filters\[0\]\.requestMirror\.backendRef\.kind: example\.com\/Bucket/,
      "istio",
    ],
  };
  for (const [name, [r, error, impl]] of Object.entries(cases))
    it(name, () => {
      const err = (() => {
        try {
          translate(r, impl);
        } catch (e) {
          return e;
        }
      })();
      assert.ok(err instanceof Refusal, `not refused: ${name}`);
      assert.match(err.message, error);
    });

  it("disjoint rules are not refused: segment-wise prefixes, other methods, other header values", () => {
    const p = (value: string) => ({ type: "PathPrefix", value });
    const t = translate(
      route([
        {
          matches: [
            {
              path: p("/percent-mirror"),
              method: "GET",
              headers: [{ name: "x-env", value: "blue" }],
            },
          ],
          filters: [mirror("n")],
          backendRefs: backend,
        },
        {
          matches: [
            { path: p("/percent-mirror-fraction") },
            { path: p("/percent-mirror"), method: "POST" },
            {
              path: p("/percent-mirror"),
              headers: [{ name: "X-Env", value: "green" }],
            },
          ],
          backendRefs: backend,
        },
      ]),
    );
    assert.equal(t.mirrors.length, 1);
  });

  it("an unknown field and an out-of-range percent are refused by Gateway API's HTTPRoute schema", async () => {
    const r = route([
      { filters: [mirror("n", { percentt: 5 })], backendRefs: backend },
    ]);
    assert.deepEqual(await gatewaySchemaErrors(r), [
      '/spec/rules/0/filters/0/requestMirror: unknown field "percentt"',
    ]);
    const over = route([
      { filters: [mirror("n", { percent: 101 })], backendRefs: backend },
    ]);
    assert.match(
      (await gatewaySchemaErrors(over)).join("\n"),
      /\/spec\/rules\/0\/filters\/0\/requestMirror\/percent: must be <= 100/,
    );
  });
});

describe("cluster names", () => {
  const r = route([
    {
      filters: [
        {
          type: "RequestHeaderModifier",
          requestHeaderModifier: { set: [{ name: "x", value: "1" }] },
        },
        mirror("checkout-next", {}, 9090),
      ],
      backendRefs: backend,
    },
  ]);
  const clusters = (impl: Implementation) => {
    const t = translate(r, impl).mirrors[0].target;
    return t.clusters ?? [t.cluster];
  };

  it("Envoy Gateway: the mirror's own cluster, numbered by rule and by the filter's index among the rule's filters", () =>
    assert.deepEqual(clusters("envoy-gateway"), [
      "httproute/shop/checkout/rule/0-mirror-1",
    ]));

  it("Envoy Gateway's naming and its zero-percent mirror, as v1.9.1's source has them", async () => {
    // The module the EnvoyExtensionPolicy schema comes from (scripts/gateway/crds.ts).
    const src = await goModuleFiles(ENVOY_GATEWAY, [
      "internal/gatewayapi/filters.go",
      "internal/gatewayapi/helpers.go",
      "internal/xds/translator/route.go",
      "internal/xds/translator/translator.go",
    ]);
    const filters = src["internal/gatewayapi/filters.go"];
    const helpers = src["internal/gatewayapi/helpers.go"];
    // A mirror's destination: "<route destination>-mirror-<index of the filter in the rule>".
    assert.match(
      filters,
      /t\.processRequestMirrorFilter\(i, filter\.RequestMirror,/,
    );
    assert.match(
      filters,
      /destName := fmt\.Sprintf\("%s-mirror-%d", irRouteDestinationName\(filterContext\.Route, filterContext\.RuleIdx\), filterIdx\)/,
    );
    // "<kind>/<namespace>/<name>/rule/<index>", the kind lower-cased.
    assert.match(
      helpers,
      /return fmt\.Sprintf\("%s\/%s\/%s\/", strings\.ToLower\(string\(route\.GetRouteType\(\)\)\), route\.GetNamespace\(\), route\.GetName\(\)\)/,
    );
    assert.match(
      helpers,
      /return fmt\.Sprintf\("%srule\/%d", irRoutePrefix\(route\), ruleIdx\)/,
    );
    // Every mirror destination becomes a cluster; a zero percentage drops only the mirror policy.
    assert.match(
      src["internal/xds/translator/translator.go"],
      /for _, mrr := range httpRoute\.Mirrors \{\s+if mrr\.Destination != nil \{\s+if err = addXdsCluster\(tCtx, &xdsClusterArgs\{\s+name:\s+mrr\.Destination\.Name,/,
    );
    assert.match(
      src["internal/xds/translator/route.go"],
      /if p := \*mirror\.Percentage; p > 0 \{[\s\S]*?\/\/ If zero percent is provided explicitly, we should not mirror\.\s+return nil/,
    );
  });

  it("Istio sidecars and gateways: outbound|PORT||FQDN", () =>
    assert.deepEqual(clusters("istio"), [
      "outbound|9090||checkout-next.shop.svc.cluster.local",
    ]));

  it("an Istio waypoint: inbound-vip|PORT|http|FQDN, then outbound|PORT||FQDN — as Istio 1.31's source names them", async () => {
    assert.deepEqual(clusters("istio-waypoint"), [
      "inbound-vip|9090|http|checkout-next.shop.svc.cluster.local",
      "outbound|9090||checkout-next.shop.svc.cluster.local",
    ]);
    // The naming, from the Istio the project pins (tests/support/istio-bootstrap.ts): BuildSubsetKey joins
    // direction, port, subset and hostname with "|"; a waypoint's cluster for a Service it
    // serves has direction inbound-vip and subset "http" (an HTTP port), and a route's
    // destination not served by the waypoint is outbound with the destination's subset.
    const src = await goModuleFiles(ISTIO, [
      "pilot/pkg/model/service.go",
      "pilot/pkg/networking/core/cluster_waypoint.go",
      "pilot/pkg/networking/core/listener_waypoint.go",
    ]);
    const service = src["pilot/pkg/model/service.go"];
    assert.match(
      service,
      /TrafficDirectionInboundVIP TrafficDirection = "inbound-vip"/,
    );
    assert.match(
      service,
      /TrafficDirectionOutbound TrafficDirection = "outbound"/,
    );
    assert.match(
      service,
      /return string\(direction\) \+ "\|" \+ strconv\.Itoa\(port\) \+ "\|" \+ subsetName \+ "\|" \+ string\(hostname\)/,
    );
    assert.match(
      src["pilot/pkg/networking/core/cluster_waypoint.go"],
      /buildWaypointInboundVIPCluster\(proxy, svc, \*port, "http", mesh, policy, cfg\)/,
    );
    assert.match(
      src["pilot/pkg/networking/core/listener_waypoint.go"],
      /this waypoint proxy isn't responsible for this service so we use outbound/,
    );
  });

  it("a Service in another namespace, and an Istio Hostname backend", () => {
    const t = translate(
      route([
        {
          filters: [
            {
              type: "RequestMirror",
              requestMirror: {
                backendRef: { name: "n", namespace: "dark", port: 80 },
              },
            },
            {
              type: "RequestMirror",
              requestMirror: {
                backendRef: {
                  group: "networking.istio.io",
                  kind: "Hostname",
                  name: "next.example.com",
                  port: 443,
                },
              },
            },
          ],
          backendRefs: backend,
        },
      ]),
      "istio",
    );
    assert.deepEqual(
      t.mirrors.map((m) => m.target.cluster),
      [
        "outbound|80||n.dark.svc.cluster.local",
        "outbound|443||next.example.com",
      ],
    );
  });
});

describe("the rendered attachments and routes pass their projects' CRD schemas", () => {
  const r = route([
    {
      matches: [{ path: { type: "PathPrefix", value: "/cart" } }],
      filters: [mirror("checkout-next", { percent: 10 })],
      backendRefs: backend,
    },
  ]);
  const mesh = {
    ...r,
    spec: {
      ...r.spec,
      parentRefs: [
        { group: "", kind: "Service", name: "checkout", port: 8080 },
      ],
    },
  };
  const image = {
    kind: "image",
    url: "registry.example.com/proxy-wasm-mirror:0.1.0",
    sha256: "a".repeat(64),
  } as const;
  const http = {
    kind: "http",
    url: "https://wasm.example.com/mirror.wasm",
    sha256: "b".repeat(64),
  } as const;
  const cases: Record<
    string,
    [
      Any,
      Omit<RenderOptions, "module"> & { module?: RenderOptions["module"] },
      Any,
    ]
  > = {
    "Envoy Gateway on the HTTPRoute, OCI image": [
      r,
      { implementation: "envoy-gateway" },
      [
        {
          group: "gateway.networking.k8s.io",
          kind: "HTTPRoute",
          name: "checkout",
        },
      ],
    ],
    "Envoy Gateway on the Gateway, over HTTP": [
      r,
      { implementation: "envoy-gateway", attach: "gateway", module: http },
      [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "edge" }],
    ],
    "Istio on the Gateway": [
      r,
      { implementation: "istio" },
      [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "edge" }],
    ],
    "Istio sidecars of the live pods": [
      mesh,
      { implementation: "istio", selector: { app: "checkout" }, port: 9080 },
      undefined,
    ],
    "Istio waypoint, by Service": [
      mesh,
      { implementation: "istio-waypoint" },
      [{ group: "", kind: "Service", name: "checkout" }],
    ],
    "Istio waypoint, by the waypoint Gateway": [
      mesh,
      { implementation: "istio-waypoint", waypoint: "waypoint" },
      [
        {
          group: "gateway.networking.k8s.io",
          kind: "Gateway",
          name: "waypoint",
        },
      ],
    ],
  };
  for (const [name, [input, o, targetRefs]] of Object.entries(cases))
    it(name, async () => {
      const options = { module: image, ...o } as AttachOptions;
      const t = translateRoute(input, options);
      const plugin = pluginConfig(t);
      const a = renderAttachment(input, t, plugin, options);
      assert.deepEqual(await attachmentErrors(a), []);
      assert.deepEqual(a.spec && (a.spec as Any).targetRefs, targetRefs);
      const off = routeWithNativeMirrorsOff(input, t);
      assert.deepEqual(await gatewaySchemaErrors(off), []);
      assert.deepEqual((off as Any).spec.rules[0].filters[0].requestMirror, {
        backendRef: { name: "checkout-next", port: 8080 },
        percent: 0,
      });
      const config =
        a.kind === "WasmPlugin"
          ? (a.spec as Any).pluginConfig
          : (a.spec as Any).wasm[0].config;
      assert.deepEqual(config, plugin);
    });

  it("the schema checks are not vacuous: a bad code type, a typo and a selector beside targetRefs are caught", async () => {
    const options = {
      module: image,
      implementation: "envoy-gateway",
    } as AttachOptions;
    const t = translateRoute(r, options);
    const eep: Any = renderAttachment(r, t, pluginConfig(t), options);
    eep.spec.wasm[0].code.type = "OCI";
    eep.spec.wasm[0].rootId = "mirror";
    assert.match(
      (await attachmentErrors(eep)).join("\n"),
      /\/spec\/wasm\/0\/code\/type: must be equal to one of the allowed values/,
    );
    assert.match(
      (await attachmentErrors(eep)).join("\n"),
      /unknown field "rootId"/,
    );
    const wo = {
      module: image,
      implementation: "istio-waypoint",
    } as AttachOptions;
    const wp: Any = renderAttachment(
      mesh,
      translateRoute(mesh, wo),
      pluginConfig(translateRoute(mesh, wo)),
      wo,
    );
    wp.spec.failStrategy = "FAIL_OPN";
    assert.match(
      (await attachmentErrors(wp)).join("\n"),
      /\/spec\/failStrategy: must be equal to one of the allowed values/,
    );
  });

  const refusals: Record<string, [Any, Omit<RenderOptions, "module">, RegExp]> =
    {
      "hostnames on a Gateway attachment": [
        { ...r, spec: { ...r.spec, hostnames: ["shop.example.com"] } },
        { implementation: "istio" },
        /^spec\.hostnames: attached to a Gateway, the filter sees requests for every host/,
      ],
      "a mesh route on sidecars without --selector": [
        mesh,
        { implementation: "istio" },
        /^spec\.parentRefs: a mesh route \(Service parent\) with sidecars: give --selector/,
      ],
      "a Gateway route for a waypoint": [
        r,
        { implementation: "istio-waypoint" },
        /^spec\.parentRefs\[0\]: a waypoint serves routes attached to Services/,
      ],
      "a Service parent for Envoy Gateway": [
        mesh,
        { implementation: "envoy-gateway" },
        /^spec\.parentRefs\[0\]: Envoy Gateway serves routes attached to Gateways/,
      ],
      "a Gateway in another namespace for a Gateway attachment": [
        {
          ...r,
          spec: {
            ...r.spec,
            parentRefs: [{ name: "edge", namespace: "infra" }],
          },
        },
        { implementation: "envoy-gateway", attach: "gateway" },
        /^spec\.parentRefs\[0\]\.namespace: an EnvoyExtensionPolicy targets objects of its own namespace \(shop\)/,
      ],
    };
  for (const [name, [input, o, error]] of Object.entries(refusals))
    it(`refused: ${name}`, () => {
      const options = { module: image, ...o } as AttachOptions;
      const t = translateRoute(input, options);
      assert.throws(
        () => renderAttachment(input, t, pluginConfig(t), options),
        { message: error },
      );
    });
});

describe("the filter's own check", () => {
  it("the default headers a copy loses are the plugin's default headers.remove", async () => {
    const host = await Host.load(WASM, { rootId: "mirror", logLevel: "warn" });
    assert.ok(
      host.configure(JSON.stringify({ cluster: "dark", percentage: 100 })),
    );
    const headers: Record<string, string> = {
      ":method": "GET",
      ":path": "/",
      ":authority": "shop",
      "x-request-id": "r1",
      "x-kept": "1",
    };
    for (const h of DEFAULT_REMOVED_HEADERS) headers[h] = "secret";
    const s = host.stream();
    s.requestHeaders(headers, true);
    s.responseHeaders({ ":status": "200" }, true);
    s.done();
    assert.equal(host.httpCalls.length, 1);
    const sent = host.httpCalls[0].headers;
    assert.deepEqual(
      DEFAULT_REMOVED_HEADERS.filter((h) => sent.has(h)),
      [],
    );
    assert.equal(sent.get("x-kept"), "1");
  });

  for (const impl of ["envoy-gateway", "istio", "istio-waypoint"] as const)
    it(`the conformance suite's routes render for ${impl}, their plugin configs accepted by the filter`, async () => {
      const files = await conformanceMirrorRoutes();
      for (const [file, text] of Object.entries(files)) {
        // The suite's routes attach to a Gateway; the waypoint's routes attach to a Service.
        const input =
          impl === "istio-waypoint"
            ? text.replace(
                "  - name: same-namespace",
                '  - group: ""\n    kind: Service\n    name: infra-backend-v1\n    port: 8080',
              )
            : text;
        const rendered = await renderRoutes(input, {
          implementation: impl,
          module: {
            kind: "image",
            url: "registry.example.com/proxy-wasm-mirror:0.1.0",
          },
        });
        assert.equal(rendered.length, 1, file);
      }
    });
});

describe("npm run gateway", () => {
  /** The command in its own process: exit code, stdout, stderr. */
  const cli = (...args: string[]) => {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "scripts/gateway/cli.ts", ...args],
      { cwd: REPO_ROOT, encoding: "utf8" },
    );
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const file = (docs: Any[]) => {
    const path = join(
      mkdtempSync(join(tmpdir(), "gateway-cli-")),
      "routes.yaml",
    );
    writeFileSync(path, docs.map((d) => stringify(d)).join("---\n"));
    return path;
  };
  const mirrored = route([
    {
      matches: [{ path: { type: "PathPrefix", value: "/cart" } }],
      filters: [mirror("checkout-next", { percent: 10 })],
      backendRefs: backend,
    },
  ]);

  it("prints the attachment and the route with native mirrors off, both valid, and exits 0", async () => {
    const { code, stdout, stderr } = cli(
      file([
        { apiVersion: "v1", kind: "Service", metadata: { name: "x" } },
        mirrored,
      ]),
      "--implementation",
      "istio",
      "--image",
      "registry.example.com/proxy-wasm-mirror:0.1.0",
      "--sha256",
      "c".repeat(64),
    );
    assert.equal(code, 0, stderr);
    const docs = parseAllDocuments(stdout).map((d) => d.toJS());
    assert.deepEqual(
      docs.map((d: Any) => d.kind),
      ["WasmPlugin", "HTTPRoute"],
    );
    assert.equal(docs[0].spec.sha256, "c".repeat(64));
    assert.equal(
      docs[0].spec.url,
      "oci://registry.example.com/proxy-wasm-mirror:0.1.0",
    );
    assert.deepEqual(await attachmentErrors(docs[0]), []);
    assert.deepEqual(await gatewaySchemaErrors(docs[1]), []);
    assert.equal(docs[1].spec.rules[0].filters[0].requestMirror.percent, 0);
  });

  it("--plugin-only prints the plugin config", () => {
    const { code, stdout } = cli(
      file([mirrored]),
      "--implementation",
      "istio",
      "--plugin-only",
    );
    assert.equal(code, 0);
    assert.deepEqual(
      JSON.parse(stdout).targets[0].cluster,
      "outbound|8080||checkout-next.shop.svc.cluster.local",
    );
  });

  it("a refused route exits 1 naming the route and the field", () => {
    const { code, stderr } = cli(
      file([
        {
          ...mirrored,
          spec: { ...mirrored.spec, hostnames: ["shop.example.com"] },
        },
      ]),
      "--implementation",
      "istio",
      "--image",
      "r/m:1",
    );
    assert.equal(code, 1);
    assert.match(
      stderr,
      /^gateway: HTTPRoute shop\/checkout: spec\.hostnames: attached to a Gateway/,
    );
  });

  it("bad arguments exit 2", () => {
    const { code, stderr } = cli(
      file([mirrored]),
      "--implementation",
      "linkerd",
      "--image",
      "r/m:1",
    );
    assert.equal(code, 2);
    assert.match(
      stderr,
      /--implementation: one of envoy-gateway, istio, istio-waypoint, got "linkerd"/,
    );
  });
});
