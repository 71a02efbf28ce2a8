// The one plugin configuration, envoy/config.json, and everything that carries a copy of it:
// the filter's own check of a config (the release module's on_configure, run in the host
// emulator of tools/emulator/), envoy/envoy.yaml's inline copy (rendered from the file, and the
// demo's Envoy config rendered from both with its own ports).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseDocument, Scalar } from "yaml";
import { Host } from "../tools/emulator/index.ts";
import { onPorts, WASM_FILTER } from "../tools/envoy/config.ts";
import { RELEASE_WASM, REPO_ROOT, shownPath } from "../tools/paths.ts";
import { refusalLines } from "./config-message.ts";

/** The plugin configuration of the demo, envoy/envoy.yaml and the Istio manifests. */
export const PLUGIN_CONFIG_FILE = join(REPO_ROOT, "envoy", "config.json");
/** The shipped Envoy config; its wasm filter carries envoy/config.json inline. */
export const ENVOY_YAML = join(REPO_ROOT, "envoy", "envoy.yaml");
/** The shipped edge config (marker stripped, natively too) and its plugin configuration. */
export const EDGE_YAML = join(REPO_ROOT, "envoy", "edge.yaml");
export const EDGE_PLUGIN_CONFIG_FILE = join(REPO_ROOT, "envoy", "edge.json");
/** Each shipped Envoy config and the plugin configuration it carries inline. */
export const SHIPPED_ENVOY_CONFIGS: Array<{ yaml: string; plugin: string }> = [
  { yaml: ENVOY_YAML, plugin: PLUGIN_CONFIG_FILE },
  { yaml: EDGE_YAML, plugin: EDGE_PLUGIN_CONFIG_FILE },
];

/** What the filter said about a configuration. */
export interface PluginCheck {
  ok: boolean;
  /** The filter's log lines at warn and above, as Envoy would log them ("invalid plugin config: …"). */
  messages: string[];
}

/**
 * The filter's own verdict on `text` (the plugin JSON as Envoy's `configuration` or Istio's
 * `pluginConfig` delivers it): build/mirror.wasm is instantiated in the host emulator and its
 * on_configure answers, logging why it refuses — the very line Envoy would log.
 */
export async function checkPluginConfig(
  text: string,
  wasm = RELEASE_WASM,
): Promise<PluginCheck> {
  const host = await Host.load(wasm, { rootId: "mirror", logLevel: "warn" });
  const ok = host.configure(text);
  const messages = host.logsAtLeast("warn").map((l) => l.message);
  if (host.trapped.length)
    messages.push(`the filter trapped: ${JSON.stringify(host.trapped[0])}`);
  return { ok: ok && host.trapped.length === 0, messages };
}

/**
 * Reads and checks a plugin config file; throws an Error whose message is the file and the
 * filter's reason (`envoy/config.json: invalid plugin config: …`) when it is refused.
 */
export async function readCheckedPluginConfig(file: string): Promise<string> {
  const shown = shownPath(file);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`${shown}: cannot read: ${(err as Error).message}`);
  }
  const { ok, messages } = await checkPluginConfig(text);
  if (!ok)
    throw new Error(
      refusalLines(
        shown,
        text,
        messages.length ? messages : ["refused by the filter"],
      ).join("\n"),
    );
  return text;
}

// ---------------------------------------------------------------------------------------------
// envoy/envoy.yaml

type Path = (string | number)[];

/** Paths (in the YAML document) of every wasm filter's plugin JSON. */
function pluginValuePaths(node: unknown, path: Path = []): Path[] {
  if (Array.isArray(node))
    return node.flatMap((v, i) => pluginValuePaths(v, [...path, i]));
  if (!node || typeof node !== "object") return [];
  const o = node as Record<string, unknown>;
  if (o.name === WASM_FILTER)
    return [[...path, "typed_config", "config", "configuration", "value"]];
  return Object.entries(o).flatMap(([k, v]) =>
    pluginValuePaths(v, [...path, k]),
  );
}

/**
 * A shipped Envoy config's text (envoy/envoy.yaml unless `file` says otherwise) with its wasm
 * filter's inline plugin JSON replaced by `pluginJson` (verbatim, as a block scalar): what
 * `npm run sync` writes, the rest of the file untouched.
 */
export async function envoyYamlWithPlugin(
  pluginJson: string,
  file = ENVOY_YAML,
): Promise<string> {
  const doc = parseDocument(readFileSync(file, "utf8"));
  const paths = pluginValuePaths(doc.toJS());
  if (paths.length !== 1)
    throw new Error(
      `${shownPath(file)}: expected one envoy.filters.http.wasm filter, found ${paths.length}`,
    );
  const value = new Scalar(pluginJson.trimEnd() + "\n");
  value.type = Scalar.BLOCK_LITERAL;
  doc.setIn(paths[0], value);
  const prettier = await import("prettier");
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(doc.toString({ lineWidth: 0 }), {
    ...options,
    filepath: file,
  });
}

/** Ports of the demo: Envoy's listener and admin, the live and the dark kitchen. */
export interface DemoPorts {
  listener: number;
  admin: number;
  live: number;
  dark: number;
}

/** The ports envoy/envoy.yaml uses (and the demo's defaults). */
export const SHIPPED_PORTS: DemoPorts = {
  listener: 10000,
  admin: 9901,
  live: 8081,
  dark: 8082,
};

/**
 * envoy/envoy.yaml as an object, with `pluginJson` as its plugin config and moved onto `ports`:
 * the admin and the one listener, the live cluster `kitchen` and the dark `kitchen-next`.
 */
export async function shippedEnvoyConfig(
  pluginJson: string,
  ports: DemoPorts,
): Promise<Record<string, any>> {
  const config = parseDocument(await envoyYamlWithPlugin(pluginJson)).toJS();
  return onPorts(
    config,
    {
      admin: ports.admin,
      listener: ports.listener,
      clusters: { kitchen: ports.live, "kitchen-next": ports.dark },
    },
    "envoy/envoy.yaml",
  );
}
