// The published CRD schemas of the gates' kinds — Argo Rollouts' AnalysisTemplate (and the Rollout
// of gates/README.md), Flagger's MetricTemplate and Canary — from their Go modules on the Go module proxy (tools/provision/go-modules.ts,
// pinned by sha256), checked by tools/crd-schemas.ts (unknown fields refused as the API server's
// strict field validation refuses them; CEL rules are not run).
import { type CrdFile, crdChecks, kindKey } from "../../tools/crd-schemas.ts";
import type { GoModulePin } from "../../tools/provision/go-modules.ts";

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
export const GATE_CRDS: Record<string, CrdFile> = {
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

/** One compiled check per kind, with where its schema came from. */
export const gateValidators = crdChecks(GATE_CRDS);

/** The schema errors of one object (none: []); a kind without a published schema is an error. */
export async function gateErrors(
  object: Record<string, unknown>,
): Promise<string[]> {
  const key = kindKey(object);
  const check = (await gateValidators()).get(key);
  return check ? check.errors(object) : [`no published schema here for ${key}`];
}
