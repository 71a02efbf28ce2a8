// Istio's published CRD schemas for the kinds shipped in istio/ (WasmPlugin, EnvoyFilter), read
// from the Go module `istio.io/api` as the Go module proxy serves it (tools/provision/go-modules.ts:
// one pinned zip, checked by its sha256, cached on first use, as Envoy comes from PyPI). Nothing of
// Istio's is committed here.
import { parseAllDocuments } from "yaml";
import {
  type GoModulePin,
  goModuleFiles,
  pinText,
} from "../tools/provision/go-modules.ts";

/** The Istio API release whose CRDs the manifests are checked against. */
export const ISTIO_API_VERSION = "v1.31.4";
const ISTIO_API: GoModulePin = {
  module: "istio.io/api",
  version: ISTIO_API_VERSION,
  sha256: "c438b1b5f156415528cc44d68c07aa0f2e5a9f38a7add74aba7b0235aac6ccd5",
};
const CRD_FILE = "kubernetes/customresourcedefinitions.gen.yaml";
/** The kinds checked, as "apiVersion kind". */
export const ISTIO_KINDS = [
  "extensions.istio.io/v1alpha1 WasmPlugin",
  "networking.istio.io/v1alpha3 EnvoyFilter",
];

type JsonObject = Record<string, unknown>;

export interface CrdSchemas {
  source: string;
  schemas: Record<string, JsonObject>;
}

let loaded: Promise<CrdSchemas> | undefined;

/** The openAPIV3Schema of each kind in ISTIO_KINDS, from Istio's own CRD file. */
export function istioCrdSchemas(): Promise<CrdSchemas> {
  loaded ??= (async () => {
    const text = (await goModuleFiles(ISTIO_API, [CRD_FILE]))[CRD_FILE];
    const schemas: Record<string, JsonObject> = {};
    for (const doc of parseAllDocuments(text)) {
      const crd = doc.toJS() as any;
      if (crd?.kind !== "CustomResourceDefinition") continue;
      for (const v of crd.spec?.versions ?? []) {
        const key = `${crd.spec.group}/${v.name} ${crd.spec.names.kind}`;
        if (ISTIO_KINDS.includes(key))
          schemas[key] = v.schema.openAPIV3Schema as JsonObject;
      }
    }
    for (const k of ISTIO_KINDS)
      if (!schemas[k]) throw new Error(`istio-crds: ${CRD_FILE} has no ${k}`);
    return {
      source: `${pinText(ISTIO_API)}, ${CRD_FILE}`,
      schemas,
    };
  })();
  return loaded;
}
