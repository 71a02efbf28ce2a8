// Where a route's RequestHeaderModifier lands relative to the mirror filter, in the real Envoy:
// Envoy Gateway and Istio both turn an HTTPRoute rule's RequestHeaderModifier into the route's
// request_headers_to_add / request_headers_to_remove, which the router applies to the request
// (finalizeRequestHeaders) before it copies the request for its native mirrors — and after every
// HTTP filter before it, the mirror filter included. So a native mirror's copy carries the
// modifier and the filter's copy, taken as the request reached the filter, does not, unless
// `npm run gateway` carries the modifier into the plugin's `headers`: then both copies agree,
// except for an `add` of a header the request already has (appended natively, replaced by the
// plugin). The conformance suite's own route gives the modifier.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { parseAllDocuments } from "yaml";
import { conformanceMirrorRoutes } from "../../scripts/gateway/crds.ts";
import {
  pluginConfig,
  translateRoute,
} from "../../scripts/gateway/translate.ts";
import { DARK_CLUSTER } from "../support/envoy-config.ts";
import { request } from "../support/clients.ts";
import { scenario, type Scope } from "../support/scenario.ts";
import { type Recorded } from "../support/upstream.ts";

/** The native mirror's cluster, beside the filter's dark one. */
const NATIVE = "native-mirror";

/**
 * The rendered config's one route (prefix "/" to the live cluster), where Envoy Gateway and Istio
 * put a rule's header modifier and mirrors.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function theRoute(b: Record<string, any>): Record<string, any> {
  const hcm = b.static_resources.listeners[0].filter_chains[0].filters[0];
  return hcm.typed_config.route_config.virtual_hosts[0].routes[0];
}

/** The conformance route's rule with the modifier (/mirror-and-modify-headers), as the suite ships it. */
async function modifierRule() {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const route = parseAllDocuments(
    (await conformanceMirrorRoutes())["httproute-request-mirror.yaml"],
  )[0].toJS() as any;
  const rule = route.spec.rules.find((r: any) =>
    r.filters.some((f: any) => f.type === "RequestHeaderModifier"),
  );
  // That rule alone: its modifier is then the one of every mirrored rule.
  route.spec.rules = [rule];
  return {
    route,
    modifier: rule.filters.find((f: any) => f.type === "RequestHeaderModifier")
      .requestHeaderModifier,
  };
}

/**
 * An Envoy whose one route applies `modifier` as Envoy Gateway and Istio render it (set:
 * overwrite, add: append, remove) and mirrors natively to NATIVE, with the filter before the
 * router copying to the dark cluster: every request, or as `rendered` (a plugin config and its
 * target's cluster name) says.
 */
async function envoyWithModifier(
  s: Scope,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  modifier: any,
  rendered?: { plugin: object; cluster: string },
) {
  const live = await s.upstream("live");
  const dark = await s.upstream("filter-copy");
  const native = await s.upstream("native-copy");
  const envoy = await s.envoy({
    live,
    dark,
    darkCluster: rendered?.cluster ?? DARK_CLUSTER,
    plugin: rendered?.plugin ?? { cluster: DARK_CLUSTER, percentage: 100 },
    clusters: { [NATIVE]: native.port },
    mutate: (b) => {
      const route = theRoute(b);
      const opt = (h: { name: string; value: string }, action: string) => ({
        header: { key: h.name, value: h.value },
        append_action: action,
      });
      route.request_headers_to_add = [
        ...(modifier.set ?? []).map((h: never) =>
          opt(h, "OVERWRITE_IF_EXISTS_OR_ADD"),
        ),
        ...(modifier.add ?? []).map((h: never) =>
          opt(h, "APPEND_IF_EXISTS_OR_ADD"),
        ),
      ];
      route.request_headers_to_remove = modifier.remove ?? [];
      route.route.request_mirror_policies = [
        {
          cluster: NATIVE,
          runtime_fraction: {
            default_value: { numerator: 100, denominator: "HUNDRED" },
          },
        },
      ];
    },
  });
  return { live, dark, native, envoy };
}

/** The suite's request for that rule: a header to remove and one to append to. */
const SENT = {
  "x-header-remove": "remove-val",
  "x-header-add-append": "append-val-1",
};

/** The modifier's headers as one upstream received them. */
const modified = (r: Recorded) => ({
  set: r.headers["x-header-set"],
  add: r.headers["x-header-add"],
  append: r.headers["x-header-add-append"],
  remove: r.headers["x-header-remove"],
});

async function sendOne(
  port: number,
  native: { waitForCount(n: number): Promise<void> },
  dark: { waitForCount(n: number): Promise<void> },
) {
  const path = `/mirror-and-modify-headers?gateway-api-conformance-request-id=${randomUUID()}`;
  const reply = await request(port, { path, headers: SENT });
  assert.equal(reply.status, 200);
  await native.waitForCount(1);
  await dark.waitForCount(1);
  return path;
}

scenario(
  "a route's RequestHeaderModifier reaches the live request and the native mirror's copy, not the filter's",
  async (s) => {
    const { modifier } = await modifierRule();
    const { live, dark, native, envoy } = await envoyWithModifier(s, modifier);
    const path = await sendOne(envoy.listenerPort, native, dark);
    const expected = {
      set: "set-overwrites-values",
      add: "header-val-1",
      append: "append-val-1, header-val-2",
      remove: undefined,
    };
    assert.deepEqual(modified(live.records[0]), expected);
    assert.deepEqual(modified(native.records[0]), expected);
    // The filter runs before the router: its copy is the request as the client sent it.
    assert.deepEqual(modified(dark.records[0]), {
      set: undefined,
      add: undefined,
      append: "append-val-1",
      remove: "remove-val",
    });
    for (const u of [live, native, dark]) assert.equal(u.records[0].path, path);
  },
);

scenario(
  "with the modifier carried into the plugin's headers, the filter's copy has the native copy's headers but for an appended one",
  async (s) => {
    const { route, modifier } = await modifierRule();
    const t = translateRoute(route, { implementation: "envoy-gateway" });
    assert.deepEqual(t.headers, {
      add: {
        "x-header-set": "set-overwrites-values",
        "x-header-add": "header-val-1",
        "x-header-add-append": "header-val-2",
      },
      remove: [
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-forwarded-client-cert",
        "x-header-remove",
      ],
    });
    assert.match(
      t.notes.join("\n"),
      /X-Header-Add-Append is set on the copies/,
    );
    // The whole rendered plugin config: the rule's target (its Envoy Gateway cluster, its
    // segment-wise path match) with the headers.
    const { dark, native, envoy } = await envoyWithModifier(s, modifier, {
      plugin: pluginConfig(t),
      cluster: t.mirrors[0].target.cluster as string,
    });
    await sendOne(envoy.listenerPort, native, dark);
    const ours = modified(dark.records[0]);
    const theirs = modified(native.records[0]);
    assert.deepEqual(
      { ...ours, append: undefined },
      { ...theirs, append: undefined },
    );
    // Gateway API's add appends to a header the request has; the plugin's headers.add replaces.
    assert.equal(theirs.append, "append-val-1, header-val-2");
    assert.equal(ours.append, "header-val-2");
  },
);
