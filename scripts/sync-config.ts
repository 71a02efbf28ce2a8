// `npm run sync`: envoy/config.json is the one plugin configuration; this writes it into the files
// that must carry a copy — envoy/envoy.yaml (inline, as Envoy takes it), istio/wasmplugin.yaml and
// istio/envoyfilter.yaml (with the dark cluster named as Istio names it) — after the filter's own
// check of it. The tests fail, naming this command, when a copy differs.
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureBuild } from "./build.ts";
import { writeIstioManifests } from "./istio-config.ts";
import {
  ENVOY_YAML,
  envoyYamlWithPlugin,
  PLUGIN_CONFIG_FILE,
  readCheckedPluginConfig,
} from "./plugin-config.ts";

export const USAGE = `usage: npm run sync

Checks envoy/config.json with the filter (build/mirror.wasm's on_configure), then writes it into
envoy/envoy.yaml, istio/wasmplugin.yaml and istio/envoyfilter.yaml. Exit 1 if the filter refuses it.
`;

async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (argv.length) {
    process.stderr.write(
      "sync: no arguments expected (npm run sync -- --help)\n",
    );
    return 2;
  }
  ensureBuild();
  let text: string;
  try {
    text = await readCheckedPluginConfig(PLUGIN_CONFIG_FILE);
  } catch (err) {
    process.stderr.write(`sync: ${(err as Error).message}\n`);
    return 1;
  }
  const yaml = await envoyYamlWithPlugin(text);
  const changed: string[] = [];
  if (yaml !== readFileSync(ENVOY_YAML, "utf8")) {
    writeFileSync(ENVOY_YAML, yaml);
    changed.push("envoy/envoy.yaml");
  }
  await writeIstioManifests();
  process.stdout.write(
    `sync: envoy/envoy.yaml, istio/wasmplugin.yaml and istio/envoyfilter.yaml carry envoy/config.json` +
      (changed.length ? ` (rewrote ${changed.join(", ")})` : "") +
      "\n",
  );
  return 0;
}

if (
  process.argv[1] &&
  resolve(process.argv[1]) === fileURLToPath(import.meta.url)
) {
  process.exitCode = await main(process.argv.slice(2));
}
