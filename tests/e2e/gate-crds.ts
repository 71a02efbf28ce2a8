// The published CRD schemas of the gates' kinds — Argo Rollouts' AnalysisTemplate (and the Rollout
// of gates/README.md), Flagger's MetricTemplate and Canary — from their Go modules on the Go module proxy (tools/provision/go-modules.ts,
// pinned by sha256), compiled with unknown fields refused as the API server's strict field
// validation refuses them (scripts/istio-schemas.ts strictSchema). CEL rules are not run.
import { Ajv } from "ajv";
import { parseAllDocuments } from "yaml";
import { strictSchema } from "../../scripts/istio-schemas.ts";
import {
  type GoModulePin,
  goModuleFiles,
  pinText,
} from "../../tools/provision/go-modules.ts";

/** Argo Rollouts, whose manifests/crds/ hold the AnalysisTemplate CRD. */
export const ARGO_ROLLOUTS: GoModulePin = {
  module: "github.com/argoproj/argo-rollouts",
  version: "v1.10.2",
  sha256: "dc4ddb140e7d043e8cc13b97d53cfa1726ecd9472d636c41da2a2961edb0b71e",
};

/** Flagger, whose artifacts/flagger/crd.yaml holds the MetricTemplate and Canary CRDs. */
export const FLAGGER: GoModulePin = {
  module: "github.com/fluxcd/flagger",
  version: "v1.36.1",
  sha256: "445219d85ed919c746ac82a8ad87f3745b8a6702e2a31ff6b5deae3f651744c6",
};

/** Where each kind's CRD is published, as "apiVersion kind". */
export const GATE_CRDS: Record<string, { pin: GoModulePin; file: string }> = {
  "argoproj.io/v1alpha1 AnalysisTemplate": {
    pin: ARGO_ROLLOUTS,
    file: "manifests/crds/analysis-template-crd.yaml",
  },
  "argoproj.io/v1alpha1 Rollout": {
    pin: ARGO_ROLLOUTS,
    file: "manifests/crds/rollout-crd.yaml",
  },
  "flagger.app/v1beta1 MetricTemplate": {
    pin: FLAGGER,
    file: "artifacts/flagger/crd.yaml",
  },
  "flagger.app/v1beta1 Canary": {
    pin: FLAGGER,
    file: "artifacts/flagger/crd.yaml",
  },
};

type Validate = ((o: unknown) => boolean) & {
  errors?: Array<{
    instancePath: string;
    message?: string;
    keyword: string;
    params: Record<string, unknown>;
  }> | null;
};

let loaded:
  | Promise<Map<string, { validate: Validate; source: string }>>
  | undefined;

/** One compiled validator per kind, with where its schema came from. */
export function gateValidators() {
  loaded ??= (async () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    ajv.addFormat("int32", {
      type: "number",
      validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31,
    });
    ajv.addFormat("int64", { type: "number", validate: Number.isInteger });
    ajv.addFormat("date-time", (s: string) => !Number.isNaN(Date.parse(s)));
    // Flagger's CRD marks strings `format: string` and webhook addresses `format: url`.
    ajv.addFormat("string", true);
    ajv.addFormat("url", (s: string) => URL.canParse(s));
    const out = new Map<string, { validate: Validate; source: string }>();
    for (const [key, { pin, file }] of Object.entries(GATE_CRDS)) {
      const [apiVersion, kind] = key.split(" ");
      const [group, version] = apiVersion.split("/");
      const text = (await goModuleFiles(pin, [file]))[file];
      const crd = parseAllDocuments(text)
        .map((d) => d.toJS() as Record<string, any>)
        .find(
          (d) =>
            d?.kind === "CustomResourceDefinition" &&
            d.spec?.group === group &&
            d.spec?.names?.kind === kind,
        );
      const schema = crd?.spec?.versions?.find(
        (v: { name: string }) => v.name === version,
      )?.schema?.openAPIV3Schema;
      if (!schema) throw new Error(`${pinText(pin)} ${file} has no ${key}`);
      const strict = strictSchema({
        ...schema,
        required: ["apiVersion", "kind", "metadata", "spec"],
        properties: {
          ...schema.properties,
          apiVersion: { type: "string", enum: [apiVersion] },
          kind: { type: "string", enum: [kind] },
          metadata: { type: "object" },
        },
      });
      out.set(key, {
        validate: ajv.compile(strict as object) as Validate,
        source: `${pinText(pin)}, ${file}`,
      });
    }
    return out;
  })();
  return loaded;
}

/** The schema errors of one object (none: []); a kind without a published schema is an error. */
export async function gateErrors(
  object: Record<string, any>,
): Promise<string[]> {
  const key = `${object.apiVersion} ${object.kind}`;
  const v = (await gateValidators()).get(key);
  if (!v) return [`no published schema here for ${key}`];
  if (v.validate(object)) return [];
  return (v.validate.errors ?? []).map((e) =>
    e.keyword === "additionalProperties"
      ? `${e.instancePath || "/"}: unknown field "${String(e.params.additionalProperty)}"`
      : `${e.instancePath || "/"}: ${e.message}`,
  );
}
