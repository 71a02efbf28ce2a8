// The published schemas the manifests of istio/ are checked against, and the check: Istio's kinds
// (WasmPlugin, EnvoyFilter) against Istio's CRD schemas, read from the Go module `istio.io/api` as
// the Go module proxy serves it (tools/provision/go-modules.ts: one pinned zip, checked by its
// sha256, cached on first use, as Envoy comes from PyPI; nothing of Istio's is committed here);
// Kubernetes' kinds against Kubernetes' OpenAPI schemas (the `kubernetes-models` package). Unknown
// fields are refused, as `kubectl apply` refuses them.
import { join } from "node:path";
import type TS from "typescript";
import { crdChecks, kindKey } from "../tools/crd-schemas.ts";
import type { JsonObject } from "../tools/json.ts";
import { REPO_ROOT } from "../tools/paths.ts";
import type { GoModulePin } from "../tools/provision/go-modules.ts";

/** The Istio API release whose CRDs the manifests are checked against. */
export const ISTIO_API_VERSION = "v1.31.4";
const ISTIO_API: GoModulePin = {
  module: "istio.io/api",
  version: ISTIO_API_VERSION,
  sha256: "c438b1b5f156415528cc44d68c07aa0f2e5a9f38a7add74aba7b0235aac6ccd5",
};
const CRD_FILE = "kubernetes/customresourcedefinitions.gen.yaml";

/** One check per Istio kind shipped here ("apiVersion kind"): the CRD's schema for the whole object. */
const istioChecks = crdChecks({
  "extensions.istio.io/v1alpha1 WasmPlugin": { pin: ISTIO_API, file: CRD_FILE },
  "networking.istio.io/v1alpha3 EnvoyFilter": {
    pin: ISTIO_API,
    file: CRD_FILE,
  },
});

// ---------------------------------------------------------------------------------------------
// Validating manifests.

/** Kubernetes' own kinds shipped in istio/: their model in `kubernetes-models` (Kubernetes 1.27). */
const KUBERNETES_MODELS: Record<string, { module: string; name: string }> = {
  "apps/v1 Deployment": {
    module: "kubernetes-models/apps/v1/Deployment",
    name: "Deployment",
  },
  "v1 Service": { module: "kubernetes-models/v1/Service", name: "Service" },
  "v1 ConfigMap": {
    module: "kubernetes-models/v1/ConfigMap",
    name: "ConfigMap",
  },
};

const OBJECT_META = {
  module: "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta",
  name: "ObjectMeta",
};

interface Model {
  validate(): void;
}
type ModelClass = new (data: unknown) => Model;

/**
 * Schema errors of each object (keyed by label; an empty list when valid). Istio's kinds are
 * checked against Istio's published CRD schemas (above) with unknown fields
 * refused, as the API server's strict field validation refuses them; Kubernetes' kinds against
 * Kubernetes' OpenAPI schemas (the `kubernetes-models` package), their unknown fields found by
 * TypeScript's excess-property check against the types generated from the same schemas, as is
 * every object's `metadata`. CEL rules (x-kubernetes-validations) are not run.
 */
export async function validateManifests(
  items: { label: string; object: JsonObject }[],
): Promise<Map<string, string[]>> {
  const errors = new Map<string, string[]>(items.map((i) => [i.label, []]));
  const istio = await istioChecks();
  const typed: { label: string; object: JsonObject; type: string }[] = [];
  for (const i of items) {
    const key = kindKey(i.object);
    const push = (...m: string[]) => errors.get(i.label)!.push(...m);
    const check = istio.get(key);
    if (check) {
      push(...check.errors(i.object));
      typed.push({
        ...i,
        type: `{ apiVersion: string; kind: string; metadata: I${OBJECT_META.name}; spec: unknown }`,
      });
      const Meta = (await import(OBJECT_META.module))[
        OBJECT_META.name
      ] as ModelClass;
      push(...modelErrors(Meta, i.object.metadata, "/metadata"));
      continue;
    }
    const m = KUBERNETES_MODELS[key];
    if (!m) {
      push(
        `no published schema here for apiVersion ${String(i.object.apiVersion)} kind ${String(i.object.kind)}`,
      );
      continue;
    }
    const Class = (await import(m.module))[m.name] as ModelClass;
    push(...modelErrors(Class, i.object, ""));
    typed.push({ ...i, type: `I${m.name}` });
  }
  for (const [label, messages] of await strictFieldErrors(typed))
    errors.get(label)!.push(...messages);
  return errors;
}

/** A kubernetes-models model's schema errors for `data`, with paths under `prefix`. */
function modelErrors(Class: ModelClass, data: unknown, prefix: string) {
  try {
    new Class(data).validate();
    return [];
  } catch (err) {
    const details = (
      err as { errors?: { instancePath: string; message: string }[] }
    ).errors;
    return (
      details?.map(
        (d) => `${prefix}${d.instancePath || "/"}: ${d.message}`,
      ) ?? [String(err)]
    );
  }
}

/** Unknown fields, via one TypeScript program that types each object with its model's interface. */
async function strictFieldErrors(
  items: { label: string; object: JsonObject; type: string }[],
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (!items.length) return out;
  const ts = (await import("typescript")).default as typeof TS;
  const lines: string[] = [
    `import type { I${OBJECT_META.name} } from "${OBJECT_META.module}";`,
  ];
  for (const m of new Set(
    items.flatMap((i) => {
      const model = KUBERNETES_MODELS[kindKey(i.object)];
      return model ? [model] : [];
    }),
  ))
    lines.push(`import type { I${m.name} } from "${m.module}";`);
  const firstLine = lines.length;
  for (const [n, i] of items.entries())
    lines.push(`export const m${n}: ${i.type} = ${JSON.stringify(i.object)};`);
  // A virtual file inside the repository, so that node_modules resolves as for any module here.
  const file = join(REPO_ROOT, "istio", "__manifests__.ts");
  const source = lines.join("\n");
  const options: TS.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    lib: ["lib.es2022.d.ts"],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (f, lang, ...rest) =>
    f === file
      ? ts.createSourceFile(f, source, lang)
      : getSourceFile(f, lang, ...rest);
  host.fileExists = (f) => f === file || fileExists(f);
  const program = ts.createProgram([file], options, host);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    const line =
      d.file?.fileName === file && d.start !== undefined
        ? d.file.getLineAndCharacterOfPosition(d.start).line
        : -1;
    const item = items[line - firstLine];
    if (!item)
      throw new Error(`schema check: unexpected TypeScript error: ${text}`);
    // "Object literal may only specify known properties, and '"imagee"' does not exist in type …"
    const unknown = /'"?([^'"]+)"?' does not exist in type/.exec(text);
    // Type errors are the schema's to report (with a JSON path); only unknown fields are added.
    if (unknown)
      out.set(item.label, [
        ...(out.get(item.label) ?? []),
        `unknown field "${unknown[1]}"`,
      ]);
  }
  return out;
}
