// The published CRD schemas of the Gateway API kinds `npm run gateway` reads and writes: the
// HTTPRoute (Gateway API's own CRD, from the Go module sigs.k8s.io/gateway-api) and Envoy
// Gateway's EnvoyExtensionPolicy (from the Go module github.com/envoyproxy/gateway), each read
// from the Go module proxy as a pinned zip checked by its sha256 (tools/provision/go-modules.ts), and
// the Gateway API conformance suite's mirror routes (sigs.k8s.io/gateway-api/conformance).
// Istio's WasmPlugin is checked by scripts/istio-schemas.ts against Istio's CRDs. Nothing of
// theirs is committed here.
import { crdChecks, kindKey } from "../../tools/crd-schemas.ts";
import type { JsonObject } from "../../tools/json.ts";
import {
  goModuleFiles,
  type GoModulePin,
} from "../../tools/provision/go-modules.ts";

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

/**
 * One check per "apiVersion kind" (HTTPRoute v1 and v1beta1, EnvoyExtensionPolicy v1alpha1):
 * the CRD's structural schema with unknown fields refused (tools/crd-schemas.ts). The CRDs' CEL
 * rules are not run; the translator checks those it relies on itself.
 */
const gatewayChecks = crdChecks({
  "gateway.networking.k8s.io/v1 HTTPRoute": {
    pin: GATEWAY_API,
    file: HTTPROUTE_CRD,
  },
  "gateway.networking.k8s.io/v1beta1 HTTPRoute": {
    pin: GATEWAY_API,
    file: HTTPROUTE_CRD,
  },
  "gateway.envoyproxy.io/v1alpha1 EnvoyExtensionPolicy": {
    pin: ENVOY_GATEWAY,
    file: EEP_CRD,
  },
});

/** Schema errors of a Gateway API or Envoy Gateway object; throws for a kind with no schema here. */
export async function gatewaySchemaErrors(
  object: JsonObject,
): Promise<string[]> {
  const check = (await gatewayChecks()).get(kindKey(object));
  if (!check)
    throw new Error(
      `no published schema here for apiVersion ${String(object.apiVersion)} kind ${String(object.kind)}`,
    );
  return check.errors(object);
}
