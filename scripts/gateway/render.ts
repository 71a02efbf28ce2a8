// HTTPRoute documents → what to apply: for each route with RequestMirror filters, the filter's
// attachment for the implementation (Envoy Gateway's EnvoyExtensionPolicy, or Istio's
// WasmPlugin for a gateway, sidecars or an ambient waypoint) carrying the plugin config, and the
// route itself with those mirrors at percent 0 (the cluster stays, the native copy stops). Every
// input route is checked against Gateway API's CRD schema, every plugin config by the filter
// itself, every output against its project's CRD schema.
import { parseAllDocuments } from "yaml";
import { checkPluginConfig } from "../plugin-config.ts";
import { findManifest, loadManifests } from "../istio-config.ts";
import { validateManifests } from "../istio-schemas.ts";
import { gatewaySchemaErrors } from "./crds.ts";
import {
  isHttpRoute,
  pluginConfig,
  Refusal,
  routeId,
  routeWithNativeMirrorsOff,
  translateRoute,
  type Implementation,
  type Translation,
} from "./translate.ts";
import type { JsonObject } from "../../tools/json.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

/** Where the module comes from: an OCI image (`registry/repo:tag`) or an HTTP(S) URL. */
export interface ModuleSource {
  kind: "image" | "http";
  url: string;
  /** OCI: the image (manifest) digest; HTTP: the .wasm's sha256; undefined: not pinned. */
  sha256?: string;
}

/** Options of a rendering with its attachment. */
export type AttachOptions = RenderOptions & { module: ModuleSource };

/** How to attach the filter, per implementation. */
export interface RenderOptions {
  implementation: Implementation;
  /** The module; without it only the plugin configs are rendered (for a local Envoy). */
  module?: ModuleSource;
  /** Envoy Gateway: the policy targets the HTTPRoute [route] or its parent Gateways. */
  attach?: "route" | "gateway";
  /** Istio, a route whose parent is a Service (sidecars): the live pods' labels. */
  selector?: Record<string, string>;
  /** Istio sidecars: the live pods' inbound port (omitted: every inbound port). */
  port?: number;
  /** Istio ambient: target this waypoint (a Gateway) instead of the route's Services. */
  waypoint?: string;
  /** Plugin settings besides the targets (sampling, compare, …). */
  base?: JsonObject;
  /** Namespace of a route without one [default]. */
  namespace?: string;
  clusterDomain?: string;
}

/** One route's rendering. */
export interface RenderedRoute {
  translation: Translation;
  plugin: JsonObject;
  /** Undefined without a module. */
  attachment?: JsonObject;
  route: JsonObject;
}

const GATEWAY_GROUP = "gateway.networking.k8s.io";

/** The shipped WasmPlugin (istio/wasmplugin.yaml): its root id, phase and failure policy. */
function wasmPluginTemplate(): Any {
  return findManifest(loadManifests(), "WasmPlugin").spec;
}

interface Parent {
  field: string;
  kind: "Gateway" | "Service";
  name: string;
  namespace: string;
}

function parentsOf(route: Any, namespace: string): Parent[] {
  const refs: Any[] = route.spec?.parentRefs ?? [];
  if (!refs.length)
    throw new Refusal("spec.parentRefs", "the route is attached to nothing");
  return refs.map((p, i) => {
    const field = `spec.parentRefs[${i}]`;
    const group = p.group ?? GATEWAY_GROUP;
    const kind = p.kind ?? "Gateway";
    if (group === GATEWAY_GROUP && kind === "Gateway")
      return { field, kind, name: p.name, namespace: p.namespace ?? namespace };
    if ((group === "" || group === "core") && kind === "Service")
      return { field, kind, name: p.name, namespace: p.namespace ?? namespace };
    throw new Refusal(
      field,
      `${group}/${kind}: the filter is attached here for a Gateway or a Service parent only`,
    );
  });
}

/** Refuses a parent in another namespace than the policy (the route's). */
function sameNamespace(p: Parent, namespace: string, what: string): void {
  if (p.namespace !== namespace)
    throw new Refusal(
      `${p.field}.namespace`,
      `${what} targets objects of its own namespace (${namespace}), and this parent is in ${p.namespace}`,
    );
}

/** Refuses hostnames where the filter sees every host of its proxy. */
function noHostnames(route: Any, where: string): void {
  if ((route.spec?.hostnames ?? []).length)
    throw new Refusal(
      "spec.hostnames",
      `attached to ${where}, the filter sees requests for every host there, and its match has no host condition: attach it to the HTTPRoute (envoy-gateway, --attach route) or render a route without hostnames`,
    );
}

/** `targetRefs` naming each parent once (all in the policy's namespace, `what` says whose). */
function parentRefs(
  parents: Parent[],
  namespace: string,
  what: string,
): JsonObject[] {
  for (const p of parents) sameNamespace(p, namespace, what);
  return [...new Set(parents.map((p) => p.name))].map((name) => ({
    group: parents[0].kind === "Gateway" ? GATEWAY_GROUP : "",
    kind: parents[0].kind,
    name,
  }));
}

/** Envoy Gateway's EnvoyExtensionPolicy for a route. */
function envoyExtensionPolicy(
  route: Any,
  t: Translation,
  plugin: JsonObject,
  o: AttachOptions,
): JsonObject {
  const parents = parentsOf(route, t.namespace);
  for (const p of parents)
    if (p.kind !== "Gateway")
      throw new Refusal(
        p.field,
        "Envoy Gateway serves routes attached to Gateways (a Service parent is a mesh route)",
      );
  let targetRefs: JsonObject[];
  if ((o.attach ?? "route") === "route")
    targetRefs = [{ group: GATEWAY_GROUP, kind: "HTTPRoute", name: t.name }];
  else {
    noHostnames(route, "a Gateway");
    targetRefs = parentRefs(parents, t.namespace, "an EnvoyExtensionPolicy");
  }
  const template = wasmPluginTemplate();
  const sha: JsonObject = o.module.sha256 ? { sha256: o.module.sha256 } : {};
  const code: JsonObject =
    o.module.kind === "image"
      ? {
          type: "Image",
          image: { url: o.module.url.replace(/^oci:\/\//, ""), ...sha },
        }
      : { type: "HTTP", http: { url: o.module.url, ...sha } };
  return {
    apiVersion: "gateway.envoyproxy.io/v1alpha1",
    kind: "EnvoyExtensionPolicy",
    metadata: { name: `${t.name}-mirror`, namespace: t.namespace },
    spec: {
      targetRefs,
      wasm: [
        {
          name: "mirror",
          rootID: template.pluginName,
          code,
          config: plugin,
          // Envoy Gateway's failOpen is Envoy's fail_open: a failed VM is bypassed.
          failOpen: true,
        },
      ],
    },
  };
}

/** Istio's WasmPlugin for a route: gateway, sidecars (selector) or waypoint. */
function wasmPlugin(
  route: Any,
  t: Translation,
  plugin: JsonObject,
  o: AttachOptions,
): JsonObject {
  const parents = parentsOf(route, t.namespace);
  const kinds = new Set(parents.map((p) => p.kind));
  const template = wasmPluginTemplate();
  const spec: JsonObject = {};
  if (o.implementation === "istio-waypoint") {
    if (kinds.has("Gateway"))
      throw new Refusal(
        parents.find((p) => p.kind === "Gateway")!.field,
        "a waypoint serves routes attached to Services; for an Istio gateway use --implementation istio",
      );
    noHostnames(route, "a waypoint");
    if (o.waypoint !== undefined)
      spec.targetRefs = [
        { group: GATEWAY_GROUP, kind: "Gateway", name: o.waypoint },
      ];
    else spec.targetRefs = parentRefs(parents, t.namespace, "a WasmPlugin");
  } else if (kinds.size > 1)
    throw new Refusal(
      "spec.parentRefs",
      "has Gateway and Service parents: render the route once per kind (the filter attaches differently to each)",
    );
  else if (kinds.has("Gateway")) {
    noHostnames(route, "a Gateway");
    spec.targetRefs = parentRefs(parents, t.namespace, "a WasmPlugin");
  } else {
    noHostnames(route, "sidecars");
    if (!o.selector)
      throw new Refusal(
        "spec.parentRefs",
        "a mesh route (Service parent) with sidecars: give --selector, the live pods' labels (the filter runs in their sidecars, on inbound traffic)",
      );
    spec.selector = { matchLabels: o.selector };
  }
  const url =
    o.module.kind === "image" && !o.module.url.includes("://")
      ? `oci://${o.module.url}`
      : o.module.url;
  Object.assign(spec, {
    url,
    ...(o.module.sha256 ? { sha256: o.module.sha256 } : {}),
    imagePullPolicy: template.imagePullPolicy,
    pluginName: template.pluginName,
    phase: template.phase,
    failStrategy: template.failStrategy,
  });
  if (spec.selector)
    spec.match = [
      {
        mode: "SERVER",
        ...(o.port !== undefined ? { ports: [{ number: o.port }] } : {}),
      },
    ];
  spec.pluginConfig = plugin;
  return {
    apiVersion: "extensions.istio.io/v1alpha1",
    kind: "WasmPlugin",
    metadata: { name: `${t.name}-mirror`, namespace: t.namespace },
    spec,
  };
}

/** The filter's attachment for `route` with `plugin`, for `o.implementation`. */
export function renderAttachment(
  route: Any,
  t: Translation,
  plugin: JsonObject,
  o: AttachOptions,
): JsonObject {
  return o.implementation === "envoy-gateway"
    ? envoyExtensionPolicy(route, t, plugin, o)
    : wasmPlugin(route, t, plugin, o);
}

/** Schema errors of a rendered attachment (its project's CRD), as "path: message". */
export async function attachmentErrors(o: JsonObject): Promise<string[]> {
  if (o.kind === "WasmPlugin")
    return [
      ...(
        await validateManifests([{ label: "WasmPlugin", object: o }])
      ).values(),
    ].flat();
  return gatewaySchemaErrors(o);
}

/** A failed rendering: which route (or document) and the refusal. */
export class RenderError extends Error {}

/**
 * Renders every HTTPRoute in `text` (other kinds are skipped): translation, the filter's own
 * check of the plugin config, the attachment and the route with native mirrors off, each
 * validated. Routes without RequestMirror filters give nothing. Throws RenderError naming the
 * route and the field.
 */
export async function renderRoutes(
  text: string,
  o: RenderOptions,
): Promise<RenderedRoute[]> {
  const out: RenderedRoute[] = [];
  for (const [i, doc] of parseAllDocuments(text, {
    version: "1.1",
  }).entries()) {
    if (doc.errors.length)
      throw new RenderError(`document ${i}: ${doc.errors[0].message}`);
    const route = doc.toJS() as Any;
    if (!isHttpRoute(route)) continue;
    const where = `${routeId({
      namespace: route.metadata?.namespace ?? o.namespace ?? "default",
      name: route.metadata?.name ?? `#${i}`,
    })}`;
    const schema = await gatewaySchemaErrors(route);
    if (schema.length)
      throw new RenderError(
        `${where}: does not pass Gateway API's HTTPRoute schema:\n${schema.join("\n")}`,
      );
    try {
      const t = translateRoute(
        route,
        { implementation: o.implementation, clusterDomain: o.clusterDomain },
        o.namespace,
      );
      if (!t.mirrors.length) continue;
      const plugin = pluginConfig(t, o.base);
      const check = await checkPluginConfig(JSON.stringify(plugin));
      if (!check.ok)
        throw new Refusal(
          "plugin config",
          `refused by the filter: ${check.messages.join("; ")}`,
        );
      const attachment =
        o.module &&
        renderAttachment(route, t, plugin, { ...o, module: o.module });
      const off = routeWithNativeMirrorsOff(route, t);
      const errors = [
        ...(attachment ? await attachmentErrors(attachment) : []).map(
          (e) => `${attachment!.kind} ${e}`,
        ),
        ...(await gatewaySchemaErrors(off)).map((e) => `HTTPRoute ${e}`),
      ];
      if (errors.length)
        throw new Refusal(
          "rendering",
          `fails its schema:\n${errors.join("\n")}`,
        );
      out.push({ translation: t, plugin, attachment, route: off });
    } catch (err) {
      if (err instanceof Refusal)
        throw new RenderError(`${where}: ${err.message}`);
      throw err;
    }
  }
  return out;
}
