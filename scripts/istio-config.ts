// `npm run istio`: the mirror for Istio, for any service. Renders the WasmPlugin (module pulled as
// an OCI image) or the EnvoyFilter (module read from a ConfigMap, delivered to Envoy as its own
// extension config) from a plugin config (envoy/config.json by default) after the filter's own
// check of it; checks the manifests committed in istio/ against Istio's and Kubernetes' published
// schemas (unknown fields refused, as `kubectl apply` refuses them) and against envoy/config.json.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { isDeepStrictEqual, parseArgs } from "node:util";
import type * as Prettier from "prettier";
import {
  Document,
  isScalar,
  parseAllDocuments,
  Scalar,
  type YAMLMap,
} from "yaml";
import { ensureBuild } from "../tools/build.ts";
import {
  RELEASE_WASM,
  REPO_ROOT,
  shownPath,
  userPath,
} from "../tools/paths.ts";
import { isObject, type Json, type JsonObject } from "../tools/json.ts";
import { validateManifests } from "./istio-schemas.ts";
import { buildWasmImage, hexOf } from "./oci.ts";
import {
  checkPluginConfig,
  PLUGIN_CONFIG_FILE,
  readCheckedPluginConfig,
} from "./plugin-config.ts";
import { UsageError, nameOf, portOf, selectorOf } from "./k8s-args.ts";
import { isMain, runCommand } from "../tools/command.ts";

export const ISTIO_DIR = join(REPO_ROOT, "istio");
export const ENVOY_CONFIG = PLUGIN_CONFIG_FILE;
export const WASMPLUGIN_FILE = join(ISTIO_DIR, "wasmplugin.yaml");
export const ENVOYFILTER_FILE = join(ISTIO_DIR, "envoyfilter.yaml");

// ---------------------------------------------------------------------------------------------
// Which service: the live one the filter runs beside, the dark one its copies go to.

/** Where the mirror runs and where its copies go, in Kubernetes terms. */
export interface IstioService {
  /** The live Service; the WasmPlugin/EnvoyFilter is named `<service>-mirror`. */
  service: string;
  namespace: string;
  /** The port the live pods serve on (their inbound port: the Service's targetPort). */
  port: number;
  /** Labels of the live pods (and never of the dark ones). */
  selector: Record<string, string>;
  /**
   * The dark Service (`name` or `name.namespace`), replacing the config's one target cluster;
   * undefined keeps the config's cluster names, each taken as a Service name.
   */
  darkService?: string;
  /** The dark Service's port (of the Service, as Istio's outbound cluster names it). */
  darkPort: number;
}

/** The demo: the live kitchen and the next kitchen, both on 8080 in `default`. */
export const DEMO_SERVICE: IstioService = {
  service: "kitchen",
  namespace: "default",
  port: 8080,
  selector: { app: "kitchen" },
  darkPort: 8080,
};

/**
 * The sidecar's cluster for a dark Service: `outbound|PORT||NAME.NAMESPACE.svc.cluster.local`
 * (`outbound|PORT|SUBSET|FQDN`, no subset). `name` may carry its namespace (`name.ns`); a name
 * that is already an Istio cluster name (it has a `|`) is kept.
 */
export function istioClusterName(
  name: string,
  namespace: string,
  port: number,
): string {
  if (name.includes("|")) return name;
  const fqdn = name.includes(".")
    ? `${name}.svc.cluster.local`
    : `${name}.${namespace}.svc.cluster.local`;
  return `outbound|${port}||${fqdn}`;
}

/** The demo's dark cluster as a sidecar names it. */
export const ISTIO_DARK_CLUSTER = istioClusterName(
  "kitchen-next",
  DEMO_SERVICE.namespace,
  DEMO_SERVICE.darkPort,
);

/** Name of the WasmPlugin / EnvoyFilter for `s`. */
export const resourceName = (s: IstioService) => `${s.service}-mirror`;
/** Name of the EnvoyFilter's extension config (ECDS resource) and of its HTTP filter. */
export const extensionName = (s: IstioService) =>
  `${s.namespace}.${resourceName(s)}`;

/** envoy/config.json (or `file`), parsed. */
export function readEnvoyPluginConfig(file = PLUGIN_CONFIG_FILE): JsonObject {
  const value = JSON.parse(readFileSync(file, "utf8")) as unknown;
  if (!isObject(value))
    throw new Error(`${shownPath(file)}: not a JSON object`);
  return value;
}

/**
 * The plugin config for Istio: every target cluster (in `targets[]`, or the top-level
 * shorthand) named as the sidecar names the dark Service (`istioClusterName`), or replaced by
 * `s.darkService` when the config has one target.
 */
export function toIstioPluginConfig(
  config: JsonObject,
  s: IstioService = DEMO_SERVICE,
): JsonObject {
  const out = structuredClone(config);
  const targets: JsonObject[] = Array.isArray(out.targets)
    ? out.targets.filter(isObject)
    : typeof out.cluster === "string"
      ? [out]
      : [];
  if (s.darkService !== undefined && targets.length !== 1)
    throw new Error(
      `--dark-service: the config has ${targets.length} targets; name each one's Service as its cluster instead`,
    );
  for (const t of targets) {
    if (typeof t.cluster !== "string") continue;
    t.cluster = istioClusterName(
      s.darkService ?? t.cluster,
      s.namespace,
      s.darkPort,
    );
  }
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

export const WASM_TYPE =
  "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
export const RBAC_TYPE =
  "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";

/** Index of the one patch of `applyTo` in an EnvoyFilter. */
function patchIndex(envoyFilter: JsonObject, applyTo: string): number {
  const patches = at(envoyFilter, "spec", "configPatches");
  const found = Array.isArray(patches)
    ? patches.flatMap((p, i) => (at(p, "applyTo") === applyTo ? [i] : []))
    : [];
  if (found.length !== 1)
    throw new Error(
      `expected one ${applyTo} patch in the EnvoyFilter, found ${found.length}`,
    );
  return found[0];
}

/** The parts of the EnvoyFilter: its two patches, as Envoy gets them. */
export interface EnvoyFilterParts {
  /** The EXTENSION_CONFIG patch; its value is the extension config (a TypedExtensionConfig). */
  extensionPatch: JsonObject;
  /** `{ name, typed_config: Wasm }`: what istiod serves over ECDS. */
  extensionConfig: JsonObject;
  /** The HTTP_FILTER patch. */
  filterPatch: JsonObject;
  /** `{ name, config_discovery }`: the HTTP filter inserted before the router. */
  httpFilter: JsonObject;
  /** The plugin JSON inside the Wasm config. */
  pluginJson: string;
}

/** Splits an EnvoyFilter into its parts; throws if it is not shaped as istio/envoyfilter.yaml. */
export function envoyFilterParts(envoyFilter: JsonObject): EnvoyFilterParts {
  const patches = at(envoyFilter, "spec", "configPatches") as JsonObject[];
  const extensionPatch = patches[patchIndex(envoyFilter, "EXTENSION_CONFIG")];
  const filterPatch = patches[patchIndex(envoyFilter, "HTTP_FILTER")];
  const extensionConfig = at(extensionPatch, "patch", "value") as JsonObject;
  const httpFilter = at(filterPatch, "patch", "value") as JsonObject;
  if (at(extensionConfig, "typed_config", "@type") !== WASM_TYPE)
    throw new Error(`the EXTENSION_CONFIG patch is not a ${WASM_TYPE}`);
  const pluginJson = at(
    extensionConfig,
    "typed_config",
    "config",
    "configuration",
    "value",
  );
  if (typeof pluginJson !== "string")
    throw new Error("the EnvoyFilter's wasm config has no configuration.value");
  return {
    extensionPatch,
    extensionConfig,
    filterPatch,
    httpFilter,
    pluginJson,
  };
}

// ---------------------------------------------------------------------------------------------
// Rendering.

const loadPrettier = async () =>
  (await import("prettier")) as unknown as typeof Prettier;

async function formatYaml(text: string, file: string): Promise<string> {
  const prettier = await loadPrettier();
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(text, { ...options, filepath: file });
}

/** The plugin JSON as embedded in the EnvoyFilter (formatted JSON text). */
export async function istioPluginJson(config: JsonObject): Promise<string> {
  const prettier = await loadPrettier();
  return prettier.format(JSON.stringify(config), { parser: "json" });
}

/** One-document YAML file → its Document (comments kept). */
function parseOne(file: string): Document.Parsed {
  const docs = parseAllDocuments(readFileSync(file, "utf8"), {
    version: "1.1",
  });
  if (docs instanceof Array && docs.length === 1) return docs[0];
  throw new Error(`${relative(REPO_ROOT, file)}: expected one document`);
}

/** What a rendering needs: the service, the plugin config file, and how to print. */
export interface RenderOptions {
  service?: IstioService;
  /** The plugin config file [envoy/config.json]. */
  config?: string;
  /** Keep the committed file's comments (only right for the demo's own service). */
  comments?: boolean;
  /** A header comment for a rendering without the committed comments. */
  header?: string;
}

/** `doc` as text: with the template's comments, or none but `header`. */
async function finish(
  doc: Document,
  file: string,
  o: RenderOptions,
  blockPath?: (string | number)[],
): Promise<string> {
  let out = doc;
  if (!o.comments) {
    out = new Document(doc.toJS());
    if (blockPath) {
      const value = new Scalar(out.getIn(blockPath));
      value.type = Scalar.BLOCK_LITERAL;
      out.setIn(blockPath, value);
    }
    if (o.header) out.commentBefore = ` ${o.header}`;
  }
  return formatYaml(out.toString({ lineWidth: 0 }), file);
}

/**
 * The WasmPlugin for `o.service` with the plugin config of `o.config`, from the template
 * istio/wasmplugin.yaml; `url` and `sha256` set when given (no `sha256` otherwise).
 */
export async function renderWasmPlugin(
  o: RenderOptions & { url?: string; sha256?: string } = {},
): Promise<string> {
  const s = o.service ?? DEMO_SERVICE;
  const doc = parseOne(WASMPLUGIN_FILE);
  doc.setIn(["metadata", "name"], resourceName(s));
  doc.setIn(["metadata", "namespace"], s.namespace);
  doc.setIn(["spec", "selector", "matchLabels"], doc.createNode(s.selector));
  doc.setIn(["spec", "match", 0, "ports", 0, "number"], s.port);
  doc.setIn(
    ["spec", "pluginConfig"],
    doc.createNode(toIstioPluginConfig(readEnvoyPluginConfig(o.config), s)),
  );
  if (o.url !== undefined) doc.setIn(["spec", "url"], o.url);
  doc.deleteIn(["spec", "sha256"]);
  if (o.sha256 !== undefined) {
    // Right after the url it pins.
    const spec = doc.get("spec") as YAMLMap;
    const url = spec.items.findIndex(
      (p) => isScalar(p.key) && p.key.value === "url",
    );
    spec.items.splice(url + 1, 0, doc.createPair("sha256", o.sha256));
  }
  return finish(doc, WASMPLUGIN_FILE, o);
}

/** The EnvoyFilter for `o.service` with the plugin config of `o.config`, from istio/envoyfilter.yaml. */
export async function renderEnvoyFilter(
  o: RenderOptions = {},
): Promise<string> {
  const s = o.service ?? DEMO_SERVICE;
  const doc = parseOne(ENVOYFILTER_FILE);
  const current = doc.toJS() as JsonObject;
  const ext = patchIndex(current, "EXTENSION_CONFIG");
  const http = patchIndex(current, "HTTP_FILTER");
  const patches = ["spec", "configPatches"];
  doc.setIn(["metadata", "name"], resourceName(s));
  doc.setIn(["metadata", "namespace"], s.namespace);
  doc.setIn(["spec", "workloadSelector", "labels"], doc.createNode(s.selector));
  doc.setIn([...patches, ext, "patch", "value", "name"], extensionName(s));
  doc.setIn([...patches, http, "patch", "value", "name"], extensionName(s));
  doc.setIn([...patches, http, "match", "listener", "portNumber"], s.port);
  const valuePath = [
    ...patches,
    ext,
    "patch",
    "value",
    "typed_config",
    "config",
    "configuration",
    "value",
  ];
  const value = new Scalar(
    await istioPluginJson(
      toIstioPluginConfig(readEnvoyPluginConfig(o.config), s),
    ),
  );
  value.type = Scalar.BLOCK_LITERAL;
  doc.setIn(valuePath, value);
  return finish(doc, ENVOYFILTER_FILE, o, valuePath);
}

/** sha256 of the image `scripts/oci.ts` builds from `wasmPath` (its manifest digest). */
export function imageSha256(wasmPath = RELEASE_WASM) {
  return hexOf(buildWasmImage(readFileSync(wasmPath)).manifest.digest);
}

/**
 * Problems with istio/: schema errors, plugin configs that differ from envoy/config.json, and
 * files that differ from their rendering for the demo (`npm run istio -- --write` fixes those).
 */
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
      `istio/wasmplugin.yaml: pluginConfig is not envoy/config.json with Istio's cluster names (npm run sync)`,
    );
  const { pluginJson } = envoyFilterParts(
    findManifest(manifests, "EnvoyFilter"),
  );
  if (!isDeepStrictEqual(JSON.parse(pluginJson), expected))
    problems.push(
      `istio/envoyfilter.yaml: the embedded plugin JSON is not envoy/config.json with Istio's cluster names (npm run sync)`,
    );
  const committed = { comments: true };
  if (
    (await renderWasmPlugin(committed)) !==
    readFileSync(WASMPLUGIN_FILE, "utf8")
  )
    problems.push(
      "istio/wasmplugin.yaml: differs from its rendering for the demo (npm run istio -- --write)",
    );
  if (
    (await renderEnvoyFilter(committed)) !==
    readFileSync(ENVOYFILTER_FILE, "utf8")
  )
    problems.push(
      "istio/envoyfilter.yaml: differs from its rendering for the demo (npm run istio -- --write)",
    );
  return problems;
}

/** Writes istio/wasmplugin.yaml and istio/envoyfilter.yaml for the demo from envoy/config.json. */
export async function writeIstioManifests(): Promise<void> {
  writeFileSync(WASMPLUGIN_FILE, await renderWasmPlugin({ comments: true }));
  writeFileSync(ENVOYFILTER_FILE, await renderEnvoyFilter({ comments: true }));
}

// ---------------------------------------------------------------------------------------------
// The command line.

export const USAGE = `usage: npm run istio -- [--image REF | --envoyfilter | --write] [options]

Renders the mirror for Istio for any service, after the filter's own check of the plugin config:

  --image REF            print the WasmPlugin pulling the module image REF (oci:// is the default
                         scheme), pinned to the image digest of build/mirror.wasm's image
  --sha256 HEX           pin this image digest instead (--sha256 none: no pin)
  --envoyfilter          print the EnvoyFilter instead (module from the mirror-wasm ConfigMap)
  --write                regenerate istio/wasmplugin.yaml and istio/envoyfilter.yaml (the demo)
  (none of these)        check istio/: schemas, and plugin configs equal to envoy/config.json

  --config FILE          the plugin config: give yours   [envoy/config.json, the demo's:
                                                           50 % of requests, keyed on x-user-id]
  --service NAME         the live Service (resource: NAME-mirror) [kitchen]
  --namespace NS         its namespace                            [default]
  --port N               the port its pods serve on (targetPort)  [8080]
  --selector K=V[,K=V]   labels of its pods, never the dark ones  [app=NAME]
  --dark-service NAME    the dark Service (NAME or NAME.NS), for a config with one target
                                                           [the config's cluster: kitchen-next]
  --dark-port N          the dark Service's own port (spec.ports[].port, not its pods')
                                                           [${DEMO_SERVICE.darkPort}, the demo's kitchen-next]
  -h, --help

The dark cluster is named as a sidecar names it: outbound|DARK-PORT||NAME.NS.svc.cluster.local;
a wrong port names a cluster the sidecar does not have, and every copy fails to dispatch. What
was rendered from which config, and the dark cluster, are printed on stderr.
Example:
  npm run istio -- --config checkout-mirror.json --service checkout --namespace shop --port 9080 \\
    --selector app=checkout,track=stable --dark-service checkout-next --dark-port 80 \\
    --image registry.example.com/proxy-wasm-mirror:0.1.0 | kubectl apply -f -
Exit codes: 0 done, 1 a refused plugin config or a check failed, 2 bad arguments.
`;

/** Parses the command line (nothing is built or read before). */
export function parseIstioArgs(argv: string[]) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        image: { type: "string" },
        sha256: { type: "string" },
        envoyfilter: { type: "boolean", default: false },
        write: { type: "boolean", default: false },
        config: { type: "string" },
        service: { type: "string" },
        namespace: { type: "string" },
        port: { type: "string" },
        selector: { type: "string" },
        "dark-service": { type: "string" },
        "dark-port": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const modes = [values.image !== undefined, values.envoyfilter, values.write];
  if (modes.filter(Boolean).length > 1)
    throw new UsageError("give one of --image, --envoyfilter and --write");
  if (values.sha256 !== undefined && values.image === undefined)
    throw new UsageError("--sha256 goes with --image");
  if (
    values.sha256 !== undefined &&
    values.sha256 !== "none" &&
    !/^[0-9a-f]{64}$/.test(values.sha256)
  )
    throw new UsageError(
      `--sha256: must be 64 lower-case hex digits (the image digest without "sha256:") or none`,
    );
  const service = nameOf("--service", values.service ?? DEMO_SERVICE.service);
  const port = values.port ? portOf("--port", values.port) : DEMO_SERVICE.port;
  const custom =
    values.service !== undefined ||
    values.namespace !== undefined ||
    values.port !== undefined ||
    values.selector !== undefined ||
    values["dark-service"] !== undefined ||
    values["dark-port"] !== undefined ||
    values.config !== undefined;
  if (values.write && custom)
    throw new UsageError(
      "--write regenerates the demo's manifests in istio/ from envoy/config.json: it takes no other option",
    );
  const s: IstioService = {
    service,
    namespace: nameOf(
      "--namespace",
      values.namespace ?? DEMO_SERVICE.namespace,
    ),
    port,
    selector: values.selector ? selectorOf(values.selector) : { app: service },
    darkService:
      values["dark-service"] === undefined
        ? undefined
        : nameOf("--dark-service", values["dark-service"], true),
    // The dark Service's own port: the cluster is named by it, whatever its pods listen on.
    darkPort: values["dark-port"]
      ? portOf("--dark-port", values["dark-port"])
      : DEMO_SERVICE.darkPort,
  };
  return {
    help: values.help,
    image: values.image,
    sha256: values.sha256,
    envoyfilter: values.envoyfilter,
    write: values.write,
    config:
      values.config === undefined
        ? PLUGIN_CONFIG_FILE
        : userPath(values.config),
    service: s,
    darkPortGiven: values["dark-port"] !== undefined,
    custom,
  };
}

/**
 * What a rendering is made of, for stderr: the plugin config file and what it mirrors, then each
 * dark cluster the copies go to and where its port came from.
 */
export function renderingSummary(
  configFile: string,
  rendered: JsonObject,
  darkPort: { port: number; given: boolean },
): string[] {
  const targets: JsonObject[] = Array.isArray(rendered.targets)
    ? rendered.targets.filter(isObject)
    : [rendered];
  const keys = at(rendered, "sampling", "keys");
  const demo = configFile === PLUGIN_CONFIG_FILE;
  const share = targets.map((t) => `${String(t.percentage)} %`).join(", ");
  return [
    `istio: plugin config ${shownPath(configFile)}${demo ? ", the demo's" : ""}: ${share} of requests, keyed on ${Array.isArray(keys) ? keys.join(", ") : "header:x-request-id"}${demo ? " (--config FILE renders yours)" : ""}`,
    ...targets.map((t) =>
      darkPort.given
        ? `istio: copies go to ${String(t.cluster)} (--dark-port ${darkPort.port}: the dark Service's port)`
        : `istio: copies go to ${String(t.cluster)} (port ${darkPort.port}, the default: give the dark Service's own port with --dark-port, not its pods')`,
    ),
  ];
}

/** The CLI; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parseIstioArgs>;
  try {
    args = parseIstioArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`istio: ${err.message} (npm run istio -- --help)\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  ensureBuild();
  // The filter's own check, first on the file as written, then on what the sidecar will get.
  let rendered: JsonObject;
  try {
    await readCheckedPluginConfig(args.config);
    rendered = toIstioPluginConfig(
      readEnvoyPluginConfig(args.config),
      args.service,
    );
    const check = await checkPluginConfig(JSON.stringify(rendered));
    if (!check.ok)
      throw new Error(
        `${shownPath(args.config)} for Istio: ${check.messages.join("\n")}`,
      );
  } catch (err) {
    process.stderr.write(`istio: ${(err as Error).message}\n`);
    return 1;
  }
  const header = `Rendered by: npm run istio -- ${argv.join(" ")} (plugin config: ${shownPath(args.config)})`;
  let text: string | undefined;
  if (args.image !== undefined) {
    const url = args.image.includes("://") ? args.image : `oci://${args.image}`;
    const sha256 =
      args.sha256 === "none" ? undefined : (args.sha256 ?? imageSha256());
    text = await renderWasmPlugin({
      service: args.service,
      config: args.config,
      url,
      sha256,
      header,
    });
  } else if (args.envoyfilter)
    text = await renderEnvoyFilter({
      service: args.service,
      config: args.config,
      header,
    });
  if (text !== undefined) {
    const problems = [
      ...(
        await validateManifests(
          parseManifests(text, join(REPO_ROOT, "rendered.yaml")),
        )
      ).values(),
    ].flat();
    if (problems.length) {
      process.stderr.write(
        `istio: the rendered manifest fails its schema:\n${problems.join("\n")}\n`,
      );
      return 1;
    }
    process.stdout.write(text);
    for (const line of renderingSummary(args.config, rendered, {
      port: args.service.darkPort,
      given: args.darkPortGiven,
    }))
      process.stderr.write(`${line}\n`);
    return 0;
  }
  if (args.write) {
    await writeIstioManifests();
    process.stderr.write(
      "istio: wrote istio/wasmplugin.yaml and istio/envoyfilter.yaml from envoy/config.json\n",
    );
  }
  if (args.custom) {
    process.stderr.write(
      "istio: the service options need --image (WasmPlugin) or --envoyfilter (EnvoyFilter)\n",
    );
    return 2;
  }
  const problems = await checkIstio();
  for (const p of problems) process.stderr.write(`${p}\n`);
  if (problems.length) return 1;
  process.stdout.write(
    "istio: every manifest in istio/ passes its schema; plugin configs equal envoy/config.json\n",
  );
  return 0;
}

if (isMain(import.meta.url)) runCommand("istio", main);
