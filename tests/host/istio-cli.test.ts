/**
 * `npm run istio`'s command line: the dark cluster's port is the dark Service's own (--dark-port,
 * or the demo Service's), never the live pods' --port; what it prints on stderr names the plugin
 * config it rendered from and the dark cluster; and docs/istio.md's commands for another service
 * pass their own plugin config and the dark Service's port; its `npm run oci` sample is what the
 * script prints for this build, with names standing for the digests and sizes.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  DEMO_SERVICE,
  parseIstioArgs,
  readEnvoyPluginConfig,
  renderingSummary,
  toIstioPluginConfig,
} from "../../scripts/istio-config.ts";
import { RELEASE_WASM } from "../../tools/paths.ts";
import { buildWasmImage, summaryLines } from "../../scripts/oci.ts";
import { PLUGIN_CONFIG_FILE } from "../../scripts/plugin-config.ts";

describe("npm run istio's dark port and what it says it rendered", () => {
  const checkout = [
    "--service",
    "checkout",
    "--namespace",
    "shop",
    "--port",
    "9090",
    "--dark-service",
    "checkout-next",
    "--envoyfilter",
  ];

  it("a Service mapping 80 to the pods' 9090: --port 9090 leaves the dark port at the demo Service's, not 9090", () => {
    const { service, darkPortGiven } = parseIstioArgs(checkout);
    assert.equal(service.port, 9090);
    assert.equal(service.darkPort, DEMO_SERVICE.darkPort);
    assert.equal(darkPortGiven, false);
    assert.equal(
      toIstioPluginConfig(readEnvoyPluginConfig(), service).targets?.[0]
        ?.cluster,
      `outbound|${DEMO_SERVICE.darkPort}||checkout-next.shop.svc.cluster.local`,
    );
  });

  it("--dark-port names the dark cluster by the dark Service's port", () => {
    const { service, darkPortGiven } = parseIstioArgs([
      ...checkout,
      "--dark-port",
      "80",
    ]);
    assert.equal(service.darkPort, 80);
    assert.equal(darkPortGiven, true);
    assert.equal(
      toIstioPluginConfig(readEnvoyPluginConfig(), service).targets?.[0]
        ?.cluster,
      "outbound|80||checkout-next.shop.svc.cluster.local",
    );
  });

  it("stderr names the demo's config as such, what it mirrors, and the dark cluster with where its port came from", () => {
    const { service } = parseIstioArgs(checkout);
    const rendered = toIstioPluginConfig(readEnvoyPluginConfig(), service);
    const config = readEnvoyPluginConfig() as {
      targets: { percentage: number }[];
      sampling: { keys: string[] };
    };
    assert.deepEqual(
      renderingSummary(PLUGIN_CONFIG_FILE, rendered, {
        port: service.darkPort,
        given: false,
      }),
      [
        `istio: plugin config envoy/config.json, the demo's: ${config.targets[0].percentage} % of requests, keyed on ${config.sampling.keys.join(", ")} (--config FILE renders yours)`,
        `istio: copies go to outbound|8080||checkout-next.shop.svc.cluster.local (port 8080, the default: give the dark Service's own port with --dark-port, not its pods')`,
      ],
    );
  });
});

it("docs/istio.md's commands for another service pass their plugin config and the dark Service's port", () => {
  const docs = readFileSync(
    fileURLToPath(new URL("../../docs/istio.md", import.meta.url)),
    "utf8",
  );
  // Each `npm run istio -- …` command, its continuation lines (ending in "\\") joined.
  const commands: string[] = [];
  const lines = docs.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith("npm run istio -- ")) continue;
    let c = lines[i];
    while (c.endsWith("\\") && i + 1 < lines.length)
      c = c.slice(0, -1) + lines[++i].trim();
    if (c.includes("--service")) commands.push(c);
  }
  assert.ok(commands.length > 0, "docs/istio.md: no command for a service");
  for (const c of commands) {
    assert.match(c, /--config \S+/, c);
    assert.match(c, /--dark-port \d+/, c);
  }
});

it("docs/istio.md's npm run oci sample is what it prints for this build, digests and sizes named", () => {
  const docs = readFileSync(
    fileURLToPath(new URL("../../docs/istio.md", import.meta.url)),
    "utf8",
  );
  const sample =
    /the names in angle brackets stand for them\):\n\n```\n([\s\S]*?)\n```/.exec(
      docs,
    )?.[1];
  assert.ok(sample, "docs/istio.md: no npm run oci sample");
  // Each <name> is a digest (64 hex digits) or a size, the same wherever it appears again.
  const names = new Map<string, string>();
  const pattern = sample
    .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
    .replace(/<([a-z0-9 ]+)>/g, (_, name: string) => {
      const known = names.get(name);
      if (known) return `\\k<${known}>`;
      const group = `g${names.size}`;
      names.set(name, group);
      return `(?<${group}>${/size/.test(name) ? "\\d+" : "[0-9a-f]{64}"})`;
    });
  const printed = summaryLines(
    "build/oci",
    "build/mirror.wasm",
    "0.1.0",
    buildWasmImage(readFileSync(RELEASE_WASM)),
  ).join("\n");
  assert.match(printed, new RegExp(`^${pattern}$`));
});
