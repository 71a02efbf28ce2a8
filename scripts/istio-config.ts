// The Istio manifests in istio/: their plugin config derived from envoy/config.json (one source),
// the Envoy filter carried by the EnvoyFilter, and their validation against the schemas Istio and
// Kubernetes publish (@kubernetes-models: Istio 1.29's CRDs, Kubernetes' OpenAPI), with unknown
// fields refused as `kubectl apply` (strict field validation) refuses them.
//
//   node --import tsx scripts/istio-config.ts            check: schemas, and configs equal to envoy/config.json
//   node --import tsx scripts/istio-config.ts --write    regenerate the configs (and sha256, from build/mirror.wasm)
//   node --import tsx scripts/istio-config.ts --image oci://REGISTRY/proxy-wasm-mirror:0.1.0 [--sha256 HEX]
//                                                        print the WasmPlugin for that image, for kubectl apply -f -
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { isDeepStrictEqual, parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import type * as Prettier from "prettier";
import type TS from "typescript";
import { Document, parseAllDocuments, Scalar } from "yaml";
import { buildWasmImage, hexOf } from "./oci.ts";

/** Repository root (this file lives in `scripts/`). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const ISTIO_DIR = join(REPO_ROOT, "istio");
export const ENVOY_CONFIG = join(REPO_ROOT, "envoy", "config.json");
export const WASMPLUGIN_FILE = join(ISTIO_DIR, "wasmplugin.yaml");
export const ENVOYFILTER_FILE = join(ISTIO_DIR, "envoyfilter.yaml");

/** The next kitchen's cluster in a sidecar: `outbound|PORT|SUBSET|FQDN`, no subset. */
export const ISTIO_DARK_CLUSTER =
  "outbound|8080||kitchen-next.default.svc.cluster.local";
/** envoy/config.json's cluster names → the names Istio's sidecars give the same services. */
export const ISTIO_CLUSTERS: Readonly<Record<string, string>> = {
  "kitchen-next": ISTIO_DARK_CLUSTER,
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const isObject = (v: unknown): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** envoy/config.json, parsed. */
export function readEnvoyPluginConfig(): JsonObject {
  return JSON.parse(readFileSync(ENVOY_CONFIG, "utf8")) as JsonObject;
}

/**
 * The plugin config for Istio: `config` with every target cluster (in `targets[]`, or the
 * top-level shorthand) renamed by ISTIO_CLUSTERS. A cluster without an Istio name is an error.
 */
export function toIstioPluginConfig(config: JsonObject): JsonObject {
  const out = structuredClone(config);
  const rename = (t: JsonObject, where: string) => {
    if (typeof t.cluster !== "string") return;
    const istio = ISTIO_CLUSTERS[t.cluster];
    if (!istio)
      throw new Error(
        `${where}.cluster ${JSON.stringify(t.cluster)} has no Istio name in ISTIO_CLUSTERS (scripts/istio-config.ts)`,
      );
    t.cluster = istio;
  };
  rename(out, "config");
  if (Array.isArray(out.targets))
    out.targets.forEach((t, i) => isObject(t) && rename(t, `targets[${i}]`));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading the manifests.

/** One YAML document of a file in istio/. */
export interface Manifest {
  /** `istio/file.yaml#index`. */
  label: string;
  file: string;
  index: number;
  object: JsonObject;
}

/**
 * Parses YAML as Kubernetes does (YAML 1.1 scalars: `yes` and `on` are booleans there); throws
 * on a syntax error or a document that is not a mapping.
 */
export function parseManifests(text: string, file: string): Manifest[] {
  const rel = relative(REPO_ROOT, file);
  return parseAllDocuments(text, { version: "1.1" }).map((doc, index) => {
    if (doc.errors.length)
      throw new Error(`${rel}#${index}: ${doc.errors[0].message}`);
    const object = doc.toJS() as unknown;
    if (!isObject(object)) throw new Error(`${rel}#${index}: not a mapping`);
    return { label: `${rel}#${index}`, file: rel, index, object };
  });
}

/** Every document of every `*.yaml` in istio/. */
export function loadManifests(dir = ISTIO_DIR): Manifest[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .flatMap((f) =>
      parseManifests(readFileSync(join(dir, f), "utf8"), join(dir, f)),
    );
}

/** The one manifest of `kind` named `name` (any name if omitted). */
export function findManifest(
  manifests: Manifest[],
  kind: string,
  name?: string,
): JsonObject {
  const found = manifests.filter(
    (m) =>
      m.object.kind === kind &&
      (name === undefined ||
        (m.object.metadata as JsonObject | undefined)?.name === name),
  );
  if (found.length !== 1)
    throw new Error(
      `expected one ${kind}${name ? ` named ${name}` : ""} in istio/, found ${found.length}`,
    );
  return found[0].object;
}

/** Reads `path` (keys and indices) in a JSON value; undefined where it does not exist. */
export function at(value: Json | undefined, ...path: (string | number)[]) {
  let v: Json | undefined = value;
  for (const k of path) {
    if (typeof k === "number") v = Array.isArray(v) ? v[k] : undefined;
    else v = isObject(v) ? v[k] : undefined;
  }
  return v;
}

const WASM_TYPE =
  "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";

/** Index of the EnvoyFilter's patch that adds the wasm HTTP filter. */
function wasmPatchIndex(envoyFilter: JsonObject): number {
  const patches = at(envoyFilter, "spec", "configPatches");
  const found = Array.isArray(patches)
    ? patches.flatMap((p, i) =>
        at(p, "applyTo") === "HTTP_FILTER" &&
        at(p, "patch", "value", "typed_config", "@type") === WASM_TYPE
          ? [i]
          : [],
      )
    : [];
  if (found.length !== 1)
    throw new Error(
      `expected one HTTP_FILTER patch with a ${WASM_TYPE} in the EnvoyFilter, found ${found.length}`,
    );
  return found[0];
}

/** The HTTP filter the EnvoyFilter inserts, as Envoy will get it, and its patch's match. */
export function envoyFilterWasm(envoyFilter: JsonObject): {
  patch: JsonObject;
  filter: JsonObject;
  pluginJson: string;
} {
  const patch = at(
    envoyFilter,
    "spec",
    "configPatches",
    wasmPatchIndex(envoyFilter),
  ) as JsonObject;
  const filter = at(patch, "patch", "value") as JsonObject;
  const pluginJson = at(
    filter,
    "typed_config",
    "config",
    "configuration",
    "value",
  );
  if (typeof pluginJson !== "string")
    throw new Error("the EnvoyFilter's wasm config has no configuration.value");
  return { patch, filter, pluginJson };
}

// ---------------------------------------------------------------------------------------------
// Validation.

/** The published schema of each kind shipped in istio/: module, model class, TypeScript type. */
const MODELS: Record<string, { module: string; name: string }> = {
  "extensions.istio.io/v1alpha1 WasmPlugin": {
    module: "@kubernetes-models/istio/extensions.istio.io/v1alpha1/WasmPlugin",
    name: "WasmPlugin",
  },
  "networking.istio.io/v1alpha3 EnvoyFilter": {
    module: "@kubernetes-models/istio/networking.istio.io/v1alpha3/EnvoyFilter",
    name: "EnvoyFilter",
  },
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

interface Model {
  validate(): void;
}
type ModelClass = new (data: unknown) => Model;

function modelOf(o: JsonObject) {
  return MODELS[`${String(o.apiVersion)} ${String(o.kind)}`];
}

/**
 * Schema errors of each object (keyed by label; an empty list when valid): the published
 * OpenAPI schema (types, enums, patterns, required fields) and, as `kubectl apply` does with
 * strict field validation, unknown fields — found by TypeScript's excess-property check against
 * the types generated from the same schemas. CEL rules (x-kubernetes-validations) are not run.
 */
export async function validateManifests(
  items: { label: string; object: JsonObject }[],
): Promise<Map<string, string[]>> {
  const errors = new Map<string, string[]>(items.map((i) => [i.label, []]));
  const known = items.filter((i) => {
    if (modelOf(i.object)) return true;
    errors
      .get(i.label)!
      .push(
        `no published schema here for apiVersion ${String(i.object.apiVersion)} kind ${String(i.object.kind)}`,
      );
    return false;
  });
  for (const i of known) {
    const m = modelOf(i.object);
    const Class = (await import(m.module))[m.name] as ModelClass;
    try {
      new Class(i.object).validate();
    } catch (err) {
      const details = (
        err as { errors?: { instancePath: string; message: string }[] }
      ).errors;
      errors
        .get(i.label)!
        .push(
          ...(details?.map((d) => `${d.instancePath || "/"}: ${d.message}`) ?? [
            String(err),
          ]),
        );
    }
  }
  for (const [label, messages] of await strictFieldErrors(known))
    errors.get(label)!.push(...messages);
  return errors;
}

/** Unknown fields, via one TypeScript program that types each object with its model's interface. */
async function strictFieldErrors(
  items: { label: string; object: JsonObject }[],
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (!items.length) return out;
  const ts = (await import("typescript")).default as typeof TS;
  const lines: string[] = [];
  const imported = new Set<string>();
  for (const i of items) {
    const m = modelOf(i.object);
    if (!imported.has(m.module))
      lines.push(`import type { I${m.name} } from "${m.module}";`);
    imported.add(m.module);
  }
  const firstLine = lines.length;
  for (const [n, i] of items.entries())
    lines.push(
      `export const m${n}: I${modelOf(i.object).name} = ${JSON.stringify(i.object)};`,
    );
  // A virtual file inside the repository, so that node_modules resolves as for any module here.
  const file = join(ISTIO_DIR, "__manifests__.ts");
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
    // "Object literal may only specify known properties, and '"pluginNme"' does not exist in type …"
    const unknown = /'"?([^'"]+)"?' does not exist in type/.exec(text);
    const message = unknown
      ? `unknown field "${unknown[1]}"`
      : text.split("\n")[0].slice(0, 300);
    out.set(item.label, [...(out.get(item.label) ?? []), message]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Regenerating.

const loadPrettier = async () =>
  (await import("prettier")) as unknown as typeof Prettier;

async function formatYaml(text: string, file: string): Promise<string> {
  const prettier = await loadPrettier();
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(text, { ...options, filepath: file });
}

/** envoy/config.json's Istio form as the JSON text embedded in the EnvoyFilter. */
export async function istioPluginJson(): Promise<string> {
  const prettier = await loadPrettier();
  return prettier.format(
    JSON.stringify(toIstioPluginConfig(readEnvoyPluginConfig())),
    { parser: "json" },
  );
}

/** One-document YAML file → its Document (comments kept). */
function parseOne(file: string): Document.Parsed {
  const docs = parseAllDocuments(readFileSync(file, "utf8"), {
    version: "1.1",
  });
  if (docs instanceof Array && docs.length === 1) return docs[0];
  throw new Error(`${relative(REPO_ROOT, file)}: expected one document`);
}

/** The WasmPlugin text with pluginConfig from envoy/config.json, and `url`/`sha256` if given. */
export async function renderWasmPlugin(
  set: { url?: string; sha256?: string } = {},
): Promise<string> {
  const doc = parseOne(WASMPLUGIN_FILE);
  doc.setIn(
    ["spec", "pluginConfig"],
    doc.createNode(toIstioPluginConfig(readEnvoyPluginConfig())),
  );
  if (set.url !== undefined) doc.setIn(["spec", "url"], set.url);
  if (set.sha256 !== undefined) doc.setIn(["spec", "sha256"], set.sha256);
  return formatYaml(doc.toString(), WASMPLUGIN_FILE);
}

/** The EnvoyFilter text with its embedded JSON from envoy/config.json. */
export async function renderEnvoyFilter(): Promise<string> {
  const doc = parseOne(ENVOYFILTER_FILE);
  const index = wasmPatchIndex(doc.toJS() as JsonObject);
  const value = new Scalar(await istioPluginJson());
  value.type = Scalar.BLOCK_LITERAL;
  doc.setIn(
    [
      "spec",
      "configPatches",
      index,
      "patch",
      "value",
      "typed_config",
      "config",
      "configuration",
      "value",
    ],
    value,
  );
  return formatYaml(doc.toString(), ENVOYFILTER_FILE);
}

/** sha256 of the image `scripts/oci.ts` builds from `wasmPath` (its manifest digest). */
export function imageSha256(
  wasmPath = join(REPO_ROOT, "build", "mirror.wasm"),
) {
  return hexOf(buildWasmImage(readFileSync(wasmPath)).manifest.digest);
}

/** Problems with istio/: schema errors, and configs that differ from envoy/config.json. */
export async function checkIstio(): Promise<string[]> {
  const manifests = loadManifests();
  const problems: string[] = [];
  for (const [label, errors] of await validateManifests(manifests))
    for (const e of errors) problems.push(`${label}: ${e}`);
  const expected = toIstioPluginConfig(readEnvoyPluginConfig());
  const plugin = at(
    findManifest(manifests, "WasmPlugin"),
    "spec",
    "pluginConfig",
  );
  if (!isDeepStrictEqual(plugin, expected))
    problems.push(
      `istio/wasmplugin.yaml: pluginConfig is not envoy/config.json with Istio's cluster names`,
    );
  const { pluginJson } = envoyFilterWasm(
    findManifest(manifests, "EnvoyFilter"),
  );
  if (!isDeepStrictEqual(JSON.parse(pluginJson), expected))
    problems.push(
      `istio/envoyfilter.yaml: the embedded plugin JSON is not envoy/config.json with Istio's cluster names`,
    );
  return problems;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      write: { type: "boolean", default: false },
      image: { type: "string" },
      sha256: { type: "string" },
      wasm: { type: "string", default: "build/mirror.wasm" },
    },
  });
  const wasm = resolve(values.wasm);
  const sha256 =
    values.sha256 ?? (existsSync(wasm) ? imageSha256(wasm) : undefined);
  if (values.image !== undefined) {
    if (!sha256)
      throw new Error(
        `${values.wasm} is missing: run npm run build first, or give --sha256`,
      );
    const url = values.image.includes("://")
      ? values.image
      : `oci://${values.image}`;
    process.stdout.write(await renderWasmPlugin({ url, sha256 }));
    return;
  }
  if (values.write) {
    writeFileSync(WASMPLUGIN_FILE, await renderWasmPlugin({ sha256 }));
    writeFileSync(ENVOYFILTER_FILE, await renderEnvoyFilter());
    console.log(
      `istio-config: wrote istio/wasmplugin.yaml (sha256 ${sha256 ?? "unchanged"}) and istio/envoyfilter.yaml`,
    );
  }
  const problems = await checkIstio();
  for (const p of problems) console.error(p);
  if (problems.length) process.exit(1);
  console.log(
    "istio-config: every manifest in istio/ passes its schema; plugin configs equal envoy/config.json",
  );
}

if (
  process.argv[1] &&
  resolve(process.argv[1]) === fileURLToPath(import.meta.url)
) {
  main().catch((err: unknown) => {
    console.error(
      `istio-config: ${err instanceof Error ? err.message : String(err)}`,
    );
    process.exit(1);
  });
}
