// The published CRD schemas of the Gateway API kinds `npm run gateway` reads and writes: the
// HTTPRoute (Gateway API's own CRD, from the Go module sigs.k8s.io/gateway-api) and Envoy
// Gateway's EnvoyExtensionPolicy (from the Go module github.com/envoyproxy/gateway), each read
// from the Go module proxy as a pinned zip checked by its sha256 (tools/provision/go-modules.ts), and
// the Gateway API conformance suite's mirror routes (sigs.k8s.io/gateway-api/conformance).
// Istio's WasmPlugin is checked by scripts/istio-schemas.ts against Istio's CRDs. Nothing of
// theirs is committed here.
import { parseAllDocuments } from "yaml";
import {
  goModuleFiles,
  pinText,
  type GoModulePin,
} from "../../tools/provision/go-modules.ts";
import type { JsonObject } from "../../tools/json.ts";
import { strictSchema } from "../istio-schemas.ts";

/** Gateway API, standard channel (the version Envoy Gateway v1.9.1 is built against). */
export const GATEWAY_API: GoModulePin = {
  module: "sigs.k8s.io/gateway-api",
  version: "v1.6.1",
  sha256: "cbedb5752da4817b0aa55ddf03b19903b3016083f4583b926b4d26e537d82591",
};

/** Gateway API's conformance suite: its tests and their manifests. */
export const GATEWAY_API_CONFORMANCE: GoModulePin = {
  module: "sigs.k8s.io/gateway-api/conformance",
  version: "v1.6.1",
  sha256: "bdbe29c20c816a97e8aa93c728f48c1f6e732a03c56d18c373f2c3672108dfc4",
};

/** Envoy Gateway, whose Helm chart carries its generated CRDs. */
export const ENVOY_GATEWAY: GoModulePin = {
  module: "github.com/envoyproxy/gateway",
  version: "v1.9.1",
  sha256: "bf9a96d6a5ff39739ae23add1f199ae34e7af21a82ce80d89fb515705ea65a1e",
};

const HTTPROUTE_CRD =
  "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml";
const EEP_CRD =
  "charts/gateway-helm/charts/crds/crds/generated/gateway.envoyproxy.io_envoyextensionpolicies.yaml";

/** The conformance suite's three mirror routes, by file name. */
export const CONFORMANCE_MIRROR_ROUTES = [
  "httproute-request-mirror.yaml",
  "httproute-request-multiple-mirrors.yaml",
  "httproute-request-percentage-mirror.yaml",
] as const;

/** The manifests of the conformance suite's mirror tests, as its module ships them. */
export async function conformanceMirrorRoutes(): Promise<
  Record<(typeof CONFORMANCE_MIRROR_ROUTES)[number], string>
> {
  const files = await goModuleFiles(
    GATEWAY_API_CONFORMANCE,
    CONFORMANCE_MIRROR_ROUTES.map((f) => `tests/${f}`),
  );
  return Object.fromEntries(
    CONFORMANCE_MIRROR_ROUTES.map((f) => [f, files[`tests/${f}`]]),
  ) as Record<(typeof CONFORMANCE_MIRROR_ROUTES)[number], string>;
}

/** A compiled validator: the schema errors of an object, as "path: message". */
export type Check = (object: unknown) => string[];

/** Where each kind's schema comes from, for messages and docs. */
export const SCHEMA_SOURCES: Record<string, string> = {
  "gateway.networking.k8s.io HTTPRoute": `${pinText(GATEWAY_API)}, ${HTTPROUTE_CRD}`,
  "gateway.envoyproxy.io EnvoyExtensionPolicy": `${pinText(ENVOY_GATEWAY)}, ${EEP_CRD}`,
};

/** Every version's openAPIV3Schema of the one CRD in `text`, by "group/version Kind". */
function crdSchemas(text: string): Record<string, JsonObject> {
  const out: Record<string, JsonObject> = {};
  for (const doc of parseAllDocuments(text)) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const crd = doc.toJS() as any;
    if (crd?.kind !== "CustomResourceDefinition") continue;
    for (const v of crd.spec.versions)
      out[`${crd.spec.group}/${v.name} ${crd.spec.names.kind}`] =
        v.schema.openAPIV3Schema;
  }
  return out;
}

let compiled: Promise<Map<string, Check>> | undefined;

/**
 * One validator per "apiVersion kind" (HTTPRoute v1 and v1beta1, EnvoyExtensionPolicy
 * v1alpha1): the CRD's structural schema with unknown fields refused, as the API server's
 * strict field validation refuses them. The CRDs' CEL rules (x-kubernetes-validations) are not
 * run; the translator checks those it relies on itself.
 */
export function gatewayValidators(): Promise<Map<string, Check>> {
  compiled ??= (async () => {
    const [api, eg] = await Promise.all([
      goModuleFiles(GATEWAY_API, [HTTPROUTE_CRD]),
      goModuleFiles(ENVOY_GATEWAY, [EEP_CRD]),
    ]);
    const { default: Ajv } = await import("ajv");
    const ajv = new Ajv({ allErrors: true, strict: false });
    // The OpenAPI formats these CRDs use, as the API server checks them.
    ajv.addFormat("int32", {
      type: "number",
      validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31,
    });
    ajv.addFormat("int64", {
      type: "number",
      validate: (n: number) => Number.isInteger(n),
    });
    ajv.addFormat("date-time", (s: string) => !Number.isNaN(Date.parse(s)));
    ajv.addFormat("byte", (s: string) => /^[A-Za-z0-9+/]*={0,2}$/.test(s));
    const out = new Map<string, Check>();
    for (const [key, crd] of Object.entries({
      ...crdSchemas(api[HTTPROUTE_CRD]),
      ...crdSchemas(eg[EEP_CRD]),
    })) {
      const [apiVersion, kind] = key.split(" ");
      const validate = ajv.compile(
        strictSchema({
          ...crd,
          required: ["apiVersion", "kind", "metadata", "spec"],
          properties: {
            ...(crd.properties as JsonObject),
            apiVersion: { type: "string", enum: [apiVersion] },
            kind: { type: "string", enum: [kind] },
            metadata: { type: "object" },
          },
        }) as object,
      );
      out.set(key, (object) =>
        validate(object)
          ? []
          : (validate.errors ?? []).map(
              (e: {
                keyword: string;
                instancePath: string;
                message?: string;
                params: Record<string, unknown>;
              }) =>
                e.keyword === "additionalProperties"
                  ? `${e.instancePath || "/"}: unknown field "${String(e.params.additionalProperty)}"`
                  : `${e.instancePath || "/"}: ${e.message}`,
            ),
      );
    }
    return out;
  })();
  return compiled;
}

/** Schema errors of a Gateway API or Envoy Gateway object; throws for a kind with no schema here. */
export async function gatewaySchemaErrors(
  object: JsonObject,
): Promise<string[]> {
  const key = `${String(object.apiVersion)} ${String(object.kind)}`;
  const check = (await gatewayValidators()).get(key);
  if (!check)
    throw new Error(
      `no published schema here for apiVersion ${String(object.apiVersion)} kind ${String(object.kind)}`,
    );
  return check(object);
}
