// `npm run sync`: envoy/config.json is the one plugin configuration; this writes it into the files
// that must carry a copy — envoy/envoy.yaml (inline, as Envoy takes it), istio/wasmplugin.yaml and
// istio/envoyfilter.yaml (with the dark cluster named as Istio names it) — after the filter's own
// check of it. The tests fail, naming this command, when a copy differs.
import { readFileSync, writeFileSync } from "node:fs";
import { ensureBuild } from "../tools/build.ts";
import { writeIstioManifests } from "./istio-config.ts";
import { shownPath } from "../tools/paths.ts";
import {
  envoyYamlWithPlugin,
  readCheckedPluginConfig,
  SHIPPED_ENVOY_CONFIGS,
} from "./plugin-config.ts";
import { isMain } from "../tools/command.ts";

export const USAGE = `usage: npm run sync

Checks envoy/config.json (and envoy/edge.json) with the filter (build/mirror.wasm's on_configure),
then writes them into envoy/envoy.yaml (envoy/edge.yaml), istio/wasmplugin.yaml and
istio/envoyfilter.yaml. Exit 1 if the filter refuses one.
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
  const changed: string[] = [];
  for (const { yaml: file, plugin } of SHIPPED_ENVOY_CONFIGS) {
    let text: string;
    try {
      text = await readCheckedPluginConfig(plugin);
    } catch (err) {
      process.stderr.write(`sync: ${(err as Error).message}\n`);
      return 1;
    }
    const yaml = await envoyYamlWithPlugin(text, file);
    if (yaml !== readFileSync(file, "utf8")) {
      writeFileSync(file, yaml);
      changed.push(shownPath(file));
    }
  }
  await writeIstioManifests();
  process.stdout.write(
    `sync: envoy/envoy.yaml, istio/wasmplugin.yaml and istio/envoyfilter.yaml carry envoy/config.json, envoy/edge.yaml envoy/edge.json` +
      (changed.length ? ` (rewrote ${changed.join(", ")})` : "") +
      "\n",
  );
  return 0;
}

if (isMain(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
