// From a Gateway API HTTPRoute to the mirror's plugin config: one target per RequestMirror
// filter, its `match` from the rule's matches, its percentage from `percent` or `fraction`, its
// cluster as the chosen implementation names the mirror backend. What does not map exactly is
// refused with the field and the reason (a Refusal), never approximated silently; what the
// plugin cannot carry but does not change which requests are copied (the rule's
// RequestHeaderModifier when rules differ) is returned as a note.

import { isObject, type Json, type JsonObject } from "../../tools/json.ts";

/** Where the filter runs, which decides the dark cluster's name and the attachment. */
export type Implementation = "envoy-gateway" | "istio" | "istio-waypoint";
export const IMPLEMENTATIONS: readonly Implementation[] = [
  "envoy-gateway",
  "istio",
  "istio-waypoint",
];

/** A route that cannot be rendered exactly: the field (`spec.rules[0]…`) and why. */
export class Refusal extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

/** The headers a copy loses by default (the plugin's default `headers.remove`). */
export const DEFAULT_REMOVED_HEADERS = [
  "authorization",
  "proxy-authorization",
  "cookie",
  "x-forwarded-client-cert",
];

// ---------------------------------------------------------------------------------------------
// percent / fraction → percentage

/** A mirror's share as the plugin takes it, and whether it is exactly the route's. */
export interface Share {
  /** 0–100 with at most 4 decimals: whole parts per million. */
  percentage: number;
  exact: boolean;
  /** The route's share as written ("20", "25/50", "1/3"). */
  written: string;
}

/**
 * The plugin's `percentage` for a RequestMirror filter (GEP-3171): `percent` as is, `fraction`
 * numerator/denominator (denominator 100 by default) as whole parts per million, rounded down
 * when not whole (1/3 → 333333 ppm = 33.3333 %; never more than the route asks: Envoy Gateway
 * and Istio also truncate to Envoy's parts per million); neither → 100. Both, a numerator over
 * its denominator or a denominator below 1 are refused (the CRD's own rules).
 */
export function mirrorShare(mirror: Any, field: string): Share {
  const hasPercent = mirror.percent !== undefined && mirror.percent !== null;
  const fraction = mirror.fraction;
  const hasFraction = fraction !== undefined && fraction !== null;
  if (hasPercent && hasFraction)
    throw new Refusal(
      field,
      "only one of percent or fraction may be specified in HTTPRequestMirrorFilter",
    );
  if (hasPercent) {
    const p = mirror.percent;
    if (!Number.isInteger(p) || p < 0 || p > 100)
      throw new Refusal(
        `${field}.percent`,
        `must be a whole number from 0 to 100, got ${JSON.stringify(p)}`,
      );
    return { percentage: p, exact: true, written: `${p}` };
  }
  if (hasFraction) {
    const n = fraction.numerator;
    const d = fraction.denominator ?? 100;
    if (!Number.isInteger(n) || n < 0)
      throw new Refusal(
        `${field}.fraction.numerator`,
        `must be a whole number of at least 0, got ${JSON.stringify(n)}`,
      );
    if (!Number.isInteger(d) || d < 1 || d > 2 ** 31 - 1)
      throw new Refusal(
        `${field}.fraction.denominator`,
        `must be a whole number from 1 to 2147483647, got ${JSON.stringify(d)}`,
      );
    if (n > d)
      throw new Refusal(
        `${field}.fraction`,
        `numerator must be less than or equal to denominator, got ${n}/${d}`,
      );
    const scaled = 1_000_000n * BigInt(n);
    const ppm = scaled / BigInt(d);
    return {
      percentage: Number(ppm) / 10_000,
      exact: ppm * BigInt(d) === scaled,
      written: `${n}/${d}`,
    };
  }
  return { percentage: 100, exact: true, written: "100 (neither set)" };
}

// ---------------------------------------------------------------------------------------------
// matches → match

/** One of the plugin's match objects (all of its conditions). */
export type PluginMatch = JsonObject;

/** An HTTPRouteMatch with the defaults applied, for precedence and overlap. */
interface RouteMatch {
  field: string;
  rule: number;
  pathType: "Exact" | "PathPrefix" | "RegularExpression";
  path: string;
  method?: string;
  headers: Map<string, { regex: boolean; value: string }>;
  query: Map<string, { regex: boolean; value: string }>;
}

const PATH_TYPES = ["Exact", "PathPrefix", "RegularExpression"];
const VALUE_TYPES = ["Exact", "RegularExpression"];

function routeMatch(m: Any, rule: number, field: string): RouteMatch {
  const path = m?.path ?? {};
  const pathType = path.type ?? "PathPrefix";
  if (!PATH_TYPES.includes(pathType))
    throw new Refusal(
      `${field}.path.type`,
      `must be one of ${PATH_TYPES.join(", ")}, got ${JSON.stringify(pathType)}`,
    );
  const out: RouteMatch = {
    field,
    rule,
    pathType,
    path: path.value ?? "/",
    method: m?.method,
    headers: new Map(),
    query: new Map(),
  };
  for (const [key, list, fold] of [
    ["headers", out.headers, true],
    ["queryParams", out.query, false],
  ] as const) {
    for (const [i, h] of ((m?.[key] ?? []) as Any[]).entries()) {
      const type = h.type ?? "Exact";
      if (!VALUE_TYPES.includes(type))
        throw new Refusal(
          `${field}.${key}[${i}].type`,
          `must be Exact or RegularExpression, got ${JSON.stringify(type)}`,
        );
      // Header names are case-insensitive, query parameter names are not; the first entry of
      // a name is the one that counts (Gateway API: later equivalent names MUST be ignored).
      const name = fold ? String(h.name).toLowerCase() : String(h.name);
      if (!list.has(name))
        list.set(name, {
          regex: type === "RegularExpression",
          value: String(h.value),
        });
    }
  }
  return out;
}

/** The plugin's match object for one route match; null when it matches every request. */
function pluginMatch(m: RouteMatch): PluginMatch | null {
  const out: PluginMatch = {};
  if (m.pathType === "Exact") out.path_exact = m.path;
  else if (m.pathType === "RegularExpression") out.path_regex = m.path;
  // PathPrefix "/" is every path: no condition.
  else if (m.path !== "/") out.path_segment_prefix = m.path;
  for (const [key, map] of [
    ["headers", m.headers],
    ["query", m.query],
  ] as const) {
    if (!map.size) continue;
    const values: JsonObject = {};
    for (const [name, v] of map)
      values[name] = v.regex ? { regex: v.value } : v.value;
    out[key] = values;
  }
  if (m.method !== undefined) out.method = m.method;
  return Object.keys(out).length ? out : null;
}

/** Whether PathPrefix `prefix` (segment-wise, trailing "/" ignored) matches `path`. */
export function segmentPrefixMatches(prefix: string, path: string): boolean {
  const p = prefix.length > 1 ? prefix.replace(/\/+$/, "") : prefix;
  return p === "/" || path === p || path.startsWith(`${p}/`);
}

/** Whether some request could satisfy both matches (false only when provably disjoint). */
function mayOverlap(a: RouteMatch, b: RouteMatch): boolean {
  if (
    a.pathType !== "RegularExpression" &&
    b.pathType !== "RegularExpression"
  ) {
    const paths =
      a.pathType === "Exact" && b.pathType === "Exact"
        ? a.path === b.path
        : a.pathType === "Exact"
          ? segmentPrefixMatches(b.path, a.path)
          : b.pathType === "Exact"
            ? segmentPrefixMatches(a.path, b.path)
            : segmentPrefixMatches(a.path, b.path) ||
              segmentPrefixMatches(b.path, a.path);
    if (!paths) return false;
  }
  if (a.method !== undefined && b.method !== undefined && a.method !== b.method)
    return false;
  for (const [x, y] of [
    [a.headers, b.headers],
    [a.query, b.query],
  ]) {
    for (const [name, v] of x) {
      const w = y.get(name);
      if (w && !v.regex && !w.regex && v.value !== w.value) return false;
    }
  }
  return true;
}

/** Gateway API's precedence key of a match (path Exact, prefix length, method, headers, query). */
function rank(m: RouteMatch): number[] {
  return [
    m.pathType === "Exact" ? 1 : 0,
    m.pathType === "PathPrefix" ? m.path.length : 0,
    m.method !== undefined ? 1 : 0,
    m.headers.size,
    m.query.size,
  ];
}

/** Whether `n` takes a request matching both before `m` (rules of one HTTPRoute). */
function precedes(n: RouteMatch, m: RouteMatch): boolean {
  const a = rank(n);
  const b = rank(m);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return n.rule < m.rule;
}

// ---------------------------------------------------------------------------------------------
// Clusters

/** How the implementation names clusters, and what it needs to name them. */
export interface ClusterNaming {
  implementation: Implementation;
  /** Kubernetes cluster domain for Service FQDNs [cluster.local]. */
  clusterDomain?: string;
}

/** A mirror backend resolved: its FQDN and port (Kubernetes Services and Istio hostnames). */
function backendHost(
  ref: Any,
  routeNamespace: string,
  field: string,
  domain: string,
): { fqdn: string; port: number } {
  const group = ref.group ?? "";
  const kind = ref.kind ?? "Service";
  if (!Number.isInteger(ref.port))
    throw new Refusal(
      `${field}.port`,
      "is required: Istio names a cluster by the Service's port",
    );
  if ((group === "" || group === "core") && kind === "Service")
    return {
      fqdn: `${ref.name}.${ref.namespace ?? routeNamespace}.svc.${domain}`,
      port: ref.port,
    };
  if (group === "networking.istio.io" && kind === "Hostname")
    return { fqdn: String(ref.name), port: ref.port };
  throw new Refusal(
    `${field}.kind`,
    `${group ? `${group}/` : ""}${kind}: Istio's cluster names are known here for a Service or a networking.istio.io Hostname only`,
  );
}

/**
 * The cluster name(s) a mirror backend has where the filter runs:
 * - Envoy Gateway: the mirror's own cluster, `httproute/NS/NAME/rule/R-mirror-F` (F: the
 *   filter's index among the rule's filters), created for every RequestMirror filter, even at
 *   percent 0 (internal/gatewayapi/filters.go processRequestMirrorFilter,
 *   internal/xds/translator/translator.go);
 * - Istio sidecars and gateways: `outbound|PORT||FQDN` (model.BuildSubsetKey);
 * - Istio waypoints: `inbound-vip|PORT|http|FQDN` for a Service the waypoint serves
 *   (cluster_waypoint.go buildWaypointInboundVIP), else `outbound|PORT||FQDN`, which a waypoint
 *   has for a Service its routes reference (waypoint.go filterWaypointOutboundServices): both,
 *   tried in order.
 */
export function mirrorClusters(
  naming: ClusterNaming,
  route: { namespace: string; name: string },
  rule: number,
  filter: number,
  backendRef: Any,
  field: string,
): string[] {
  if (naming.implementation === "envoy-gateway")
    return [
      `httproute/${route.namespace}/${route.name}/rule/${rule}-mirror-${filter}`,
    ];
  const { fqdn, port } = backendHost(
    backendRef,
    route.namespace,
    field,
    naming.clusterDomain ?? "cluster.local",
  );
  const outbound = `outbound|${port}||${fqdn}`;
  return naming.implementation === "istio-waypoint"
    ? [`inbound-vip|${port}|http|${fqdn}`, outbound]
    : [outbound];
}

// ---------------------------------------------------------------------------------------------
// The route

/** One RequestMirror filter as translated. */
export interface TranslatedMirror {
  rule: number;
  filter: number;
  field: string;
  share: Share;
  target: JsonObject;
}

/** What a route gives: the targets, the copies' headers, notes about what is not exact. */
export interface Translation {
  namespace: string;
  name: string;
  mirrors: TranslatedMirror[];
  /** The plugin's `headers` carrying the mirrored rules' RequestHeaderModifier, if any. */
  headers?: JsonObject;
  notes: string[];
}

/** Filters whose effect on the native copy the plugin cannot reproduce (refused with a mirror). */
const REFUSED_WITH_MIRROR: Record<string, string> = {
  URLRewrite:
    "the route rewrites the path or host before its native mirror copies the request; the filter copies the request as it arrives",
  RequestRedirect: "a redirected request reaches no backend and has no mirror",
  ExtensionRef:
    "an implementation-specific filter: what it does to the request before the native mirror is unknown here",
};

/** The rule's RequestHeaderModifier as the plugin's `headers` (set and add → add, remove → remove). */
function modifierHeaders(
  modifier: Any,
  field: string,
  notes: string[],
): JsonObject {
  const add: JsonObject = {};
  for (const [i, h] of ((modifier.set ?? []) as Any[]).entries())
    add[String(h.name).toLowerCase()] ??= String(h.value);
  for (const [i, h] of ((modifier.add ?? []) as Any[]).entries()) {
    const name = String(h.name).toLowerCase();
    if (name in add) continue;
    add[name] = String(h.value);
    notes.push(
      `${field}.add[${i}]: ${h.name} is set on the copies; where the live request already carries it, the native mirror's copy has both values (appended) and the filter's only this one (the plugin's headers.add replaces)`,
    );
  }
  const removed = ((modifier.remove ?? []) as Any[]).map((n) =>
    String(n).toLowerCase(),
  );
  const out: JsonObject = {};
  if (Object.keys(add).length) out.add = add;
  if (removed.length)
    out.remove = [...new Set([...DEFAULT_REMOVED_HEADERS, ...removed])];
  return out;
}

/** A route's namespace/name, for messages. */
export const routeId = (r: { namespace: string; name: string }) =>
  `HTTPRoute ${r.namespace}/${r.name}`;

/**
 * The mirror targets of one HTTPRoute (its `spec`), for `naming`. Refuses (Refusal) what does not
 * map exactly: a mirrored rule whose URLRewrite, redirect or extension filter changes what the
 * native mirror would copy, a RequestMirror on a single backend, a match another rule takes
 * first for some of its requests (Gateway API precedence: the filter would copy those too), a
 * backend whose cluster name is not known, percent and fraction together.
 */
export function translateRoute(
  route: Any,
  naming: ClusterNaming,
  defaultNamespace = "default",
): Translation {
  const namespace: string = route?.metadata?.namespace ?? defaultNamespace;
  const name: string = route?.metadata?.name;
  if (typeof name !== "string" || !name)
    throw new Refusal("metadata.name", "is required");
  const id = { namespace, name };
  const rules: Any[] = route?.spec?.rules ?? [];
  const notes: string[] = [];
  const mirrors: TranslatedMirror[] = [];
  const matchesOf: RouteMatch[][] = rules.map((rule, r) =>
    (rule.matches?.length ? rule.matches : [{}]).map((m: Any, j: number) =>
      routeMatch(m, r, `spec.rules[${r}].matches[${j}]`),
    ),
  );
  const modifiers: { field: string; key: string; value: Any }[] = [];
  for (const [r, rule] of rules.entries()) {
    const filters: Any[] = rule.filters ?? [];
    for (const [b, backend] of ((rule.backendRefs ?? []) as Any[]).entries())
      for (const [k, f] of ((backend.filters ?? []) as Any[]).entries())
        if (f.type === "RequestMirror")
          throw new Refusal(
            `spec.rules[${r}].backendRefs[${b}].filters[${k}]`,
            "a RequestMirror on one backend mirrors only the requests the router sends to it, which the filter (before the router) cannot know",
          );
    const mirrorIdx = filters.flatMap((f, i) =>
      f.type === "RequestMirror" ? [i] : [],
    );
    if (!mirrorIdx.length) continue;
    for (const [i, f] of filters.entries())
      if (f.type in REFUSED_WITH_MIRROR)
        throw new Refusal(
          `spec.rules[${r}].filters[${i}]`,
          `${f.type} with RequestMirror: ${REFUSED_WITH_MIRROR[f.type]}`,
        );
    const modIdx = filters.findIndex((f) => f.type === "RequestHeaderModifier");
    modifiers.push({
      field: `spec.rules[${r}].filters[${modIdx}].requestHeaderModifier`,
      key:
        modIdx < 0
          ? ""
          : JSON.stringify(filters[modIdx].requestHeaderModifier ?? {}),
      value: modIdx < 0 ? null : filters[modIdx].requestHeaderModifier,
    });
    // Every request this rule matches must be one the router gives this rule.
    for (const m of matchesOf[r])
      for (const [s, others] of matchesOf.entries()) {
        if (s === r) continue;
        for (const n of others) {
          if (!mayOverlap(m, n)) continue;
          if (
            m.pathType === "RegularExpression" ||
            n.pathType === "RegularExpression"
          )
            throw new Refusal(
              n.field,
              `may match requests that ${m.field} matches, and the precedence of RegularExpression path matches is implementation-specific: make the two rules' matches disjoint (or merge the rules)`,
            );
          if (precedes(n, m))
            throw new Refusal(
              n.field,
              `takes precedence over ${m.field} for some of the requests ${m.field} matches; the router sends those to spec.rules[${s}], but the filter's match would copy them for spec.rules[${r}]'s mirror: make the matches disjoint`,
            );
        }
      }
    const matches = matchesOf[r].map(pluginMatch);
    const match: Json | undefined = matches.some((m) => m === null)
      ? undefined
      : matches.length === 1
        ? matches[0]
        : (matches as JsonObject[]);
    if (Array.isArray(match) && match.length > 16)
      throw new Refusal(
        `spec.rules[${r}].matches`,
        `the plugin takes at most 16 matches per target, got ${match.length}`,
      );
    for (const f of mirrorIdx) {
      const field = `spec.rules[${r}].filters[${f}].requestMirror`;
      const mirror = filters[f].requestMirror ?? {};
      const share = mirrorShare(mirror, field);
      if (!share.exact)
        notes.push(
          `${field}: ${share.written} is ${share.percentage} % (whole parts per million, rounded down)`,
        );
      const clusters = mirrorClusters(
        naming,
        id,
        r,
        f,
        mirror.backendRef ?? {},
        `${field}.backendRef`,
      );
      const target: JsonObject = {
        ...(clusters.length === 1 ? { cluster: clusters[0] } : { clusters }),
        label: `${namespace}/${name}/rule/${r}/mirror/${f}`,
        percentage: share.percentage,
      };
      if (match !== undefined) target.match = match;
      mirrors.push({ rule: r, filter: f, field, share, target });
    }
  }
  let headers: JsonObject | undefined;
  const distinct = new Set(modifiers.map((m) => m.key));
  const withModifier = modifiers.filter((m) => m.value !== null);
  if (distinct.size === 1 && withModifier.length) {
    headers = modifierHeaders(
      withModifier[0].value,
      withModifier[0].field,
      notes,
    );
  } else if (withModifier.length) {
    for (const m of withModifier)
      notes.push(
        `${m.field}: not carried to the copies: the plugin's headers apply to every target, and the mirrored rules of this route modify headers differently; the native mirror's copies carry it, the filter's carry the request as it reached the filter (before the route's modifier)`,
      );
  }
  return { namespace, name, mirrors, headers, notes };
}

/**
 * The plugin config of a translation: `base` (every setting but the targets: sampling, compare,
 * …) with the targets, and `headers` from the rules' RequestHeaderModifier.
 */
export function pluginConfig(
  t: Translation,
  base: JsonObject = {},
): JsonObject {
  for (const k of ["targets", "cluster", "clusters", "percentage"])
    if (k in base)
      throw new Refusal(
        k,
        "the base plugin config must not have targets: they come from the HTTPRoute",
      );
  if (t.headers && "headers" in base)
    throw new Refusal(
      "headers",
      `the base plugin config sets headers and ${routeId(t)}'s mirrored rules modify them; keep one`,
    );
  return {
    targets: t.mirrors.map((m) => m.target),
    ...base,
    ...(t.headers && Object.keys(t.headers).length
      ? { headers: t.headers }
      : {}),
  };
}

/**
 * The route with each translated RequestMirror at `percent: 0`: the implementation keeps the
 * mirror backend's cluster (the filter's copies go there) and its native mirror copies nothing
 * (Envoy Gateway and Istio drop a mirror policy of 0 %), so no request is copied twice.
 */
export function routeWithNativeMirrorsOff(
  route: Any,
  t: Translation,
): JsonObject {
  const out = structuredClone(route);
  const meta = out.metadata ?? {};
  out.metadata = Object.fromEntries(
    Object.entries(meta).filter(([k]) =>
      ["name", "namespace", "labels", "annotations"].includes(k),
    ),
  );
  delete out.status;
  for (const m of t.mirrors) {
    const mirror = out.spec.rules[m.rule].filters[m.filter].requestMirror;
    delete mirror.fraction;
    mirror.percent = 0;
  }
  return out;
}

/** Whether a parsed YAML document is an HTTPRoute. */
export const isHttpRoute = (o: unknown): boolean =>
  isObject(o) &&
  o.kind === "HTTPRoute" &&
  typeof o.apiVersion === "string" &&
  o.apiVersion.startsWith("gateway.networking.k8s.io/");
