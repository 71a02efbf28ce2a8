// `npm run gateway -- FILE`: HTTPRoutes with RequestMirror filters → the mirror filter attached
// for Envoy Gateway or Istio (gateway, sidecars, ambient waypoint), with each route's native
// mirrors turned to percent 0. See docs/gateway-api.md.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Document } from "yaml";
import { ensureBuild } from "../../tools/build.ts";
import { RELEASE_WASM, userPath } from "../../tools/paths.ts";
import { imageSha256 } from "../istio-config.ts";
import { renderRoutes, RenderError, type RenderOptions } from "./render.ts";
import { IMPLEMENTATIONS, type Implementation } from "./translate.ts";
import { UsageError, portOf, selectorOf } from "../k8s-args.ts";
import { isMain, runCommand } from "../../tools/command.ts";

export const USAGE = `usage: npm run gateway -- FILE --implementation IMPL (--image REF | --http URL) [options]

Reads the HTTPRoutes in FILE (YAML, several documents; other kinds are skipped) and prints, for
each route with RequestMirror filters, the mirror filter attached for IMPL with one target per
RequestMirror, and the route with those mirrors at percent 0 (the mirror backend's cluster stays,
the native copy stops: apply both, or every sampled request is copied twice).

  --implementation IMPL  envoy-gateway   EnvoyExtensionPolicy; clusters httproute/NS/NAME/rule/R-mirror-F
                         istio           WasmPlugin on the route's Gateway, or (Service parents) on the
                                         live pods' sidecars (--selector); outbound|PORT||FQDN
                         istio-waypoint  WasmPlugin on the route's Services' waypoint; clusters
                                         inbound-vip|PORT|http|FQDN, then outbound|PORT||FQDN
  --image REF            the module as an OCI image (npm run oci builds it)
  --http URL             the module over HTTP(S) (Envoy Gateway, Istio)
  --sha256 HEX|none      pin: the image digest of REF / the .wasm's sha256 [those of build/mirror.wasm]
  --attach route|gateway envoy-gateway: target the HTTPRoute or its Gateways   [route]
  --selector K=V[,K=V]   istio, Service parents: labels of the live pods (never the dark ones)
  --port N               istio, Service parents: the live pods' inbound port  [every port]
  --waypoint NAME        istio-waypoint: target this waypoint instead of the route's Services
  --config FILE          plugin settings besides the targets (sampling, compare, …)
  --namespace NS         namespace of routes without one                     [default]
  --cluster-domain D     Kubernetes cluster domain                            [cluster.local]
  --plugin-only          print only each route's plugin config (JSON)
  -h, --help

Refused, naming the field: matches another rule takes first for some requests, URLRewrite,
RequestRedirect or ExtensionRef next to a RequestMirror, a RequestMirror on one backend, hostnames
where the filter sees every host, percent and fraction together, anything Gateway API's CRD
schema refuses. Exit codes: 0 done, 1 refused, 2 bad arguments.
`;

/** Parses the command line (nothing is read before). */
export function parseGatewayArgs(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        implementation: { type: "string" },
        image: { type: "string" },
        http: { type: "string" },
        sha256: { type: "string" },
        attach: { type: "string" },
        selector: { type: "string" },
        port: { type: "string" },
        waypoint: { type: "string" },
        config: { type: "string" },
        namespace: { type: "string" },
        "cluster-domain": { type: "string" },
        "plugin-only": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true as const };
  if (positionals.length !== 1)
    throw new UsageError("give one FILE of HTTPRoutes");
  const impl = values.implementation as Implementation | undefined;
  if (!impl || !IMPLEMENTATIONS.includes(impl))
    throw new UsageError(
      `--implementation: one of ${IMPLEMENTATIONS.join(", ")}${impl ? `, got "${impl}"` : ""}`,
    );
  if (
    !values["plugin-only"] &&
    (values.image === undefined) === (values.http === undefined)
  )
    throw new UsageError("give one of --image REF and --http URL");
  if (
    values.sha256 !== undefined &&
    values.sha256 !== "none" &&
    !/^[0-9a-f]{64}$/.test(values.sha256)
  )
    throw new UsageError("--sha256: 64 lower-case hex digits, or none");
  if (values.attach !== undefined) {
    if (impl !== "envoy-gateway")
      throw new UsageError("--attach goes with --implementation envoy-gateway");
    if (values.attach !== "route" && values.attach !== "gateway")
      throw new UsageError(
        `--attach: route or gateway, got "${values.attach}"`,
      );
  }
  if (
    (values.selector !== undefined || values.port !== undefined) &&
    impl !== "istio"
  )
    throw new UsageError(
      "--selector and --port go with --implementation istio",
    );
  if (values.waypoint !== undefined && impl !== "istio-waypoint")
    throw new UsageError(
      "--waypoint goes with --implementation istio-waypoint",
    );
  const port =
    values.port !== undefined ? portOf("--port", values.port) : undefined;
  return {
    help: false as const,
    file: userPath(positionals[0]),
    pluginOnly: values["plugin-only"],
    image: values.image,
    http: values.http,
    sha256: values.sha256,
    config: values.config === undefined ? undefined : userPath(values.config),
    options: {
      implementation: impl,
      attach: values.attach as "route" | "gateway" | undefined,
      selector: values.selector ? selectorOf(values.selector) : undefined,
      port,
      waypoint: values.waypoint,
      namespace: values.namespace,
      clusterDomain: values["cluster-domain"],
    },
  };
}

/** The CLI; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parseGatewayArgs>;
  try {
    args = parseGatewayArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(
      `gateway: ${err.message} (npm run gateway -- --help)\n`,
    );
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  ensureBuild();
  let text: string;
  let base: RenderOptions["base"];
  try {
    text = readFileSync(args.file, "utf8");
    if (args.config) base = JSON.parse(readFileSync(args.config, "utf8"));
  } catch (err) {
    process.stderr.write(`gateway: ${(err as Error).message}\n`);
    return 1;
  }
  const pinned =
    args.sha256 === "none"
      ? undefined
      : (args.sha256 ??
        (args.image !== undefined
          ? imageSha256()
          : createHash("sha256")
              .update(readFileSync(RELEASE_WASM))
              .digest("hex")));
  const options: RenderOptions = {
    ...args.options,
    base,
    module:
      args.image !== undefined
        ? { kind: "image", url: args.image, sha256: pinned }
        : args.http !== undefined
          ? { kind: "http", url: args.http, sha256: pinned }
          : undefined,
  };
  let rendered;
  try {
    rendered = await renderRoutes(text, options);
  } catch (err) {
    if (!(err instanceof RenderError)) throw err;
    process.stderr.write(`gateway: ${err.message}\n`);
    return 1;
  }
  if (!rendered.length) {
    process.stderr.write("gateway: no HTTPRoute with a RequestMirror filter\n");
    return 1;
  }
  for (const r of rendered)
    for (const n of r.translation.notes)
      process.stderr.write(
        `gateway: note: ${r.translation.namespace}/${r.translation.name} ${n}\n`,
      );
  if (args.pluginOnly) {
    for (const r of rendered)
      process.stdout.write(`${JSON.stringify(r.plugin, null, 2)}\n`);
    return 0;
  }
  const docs: string[] = [];
  for (const r of rendered) {
    const attachment = new Document(r.attachment!);
    attachment.commentBefore = [
      ` Rendered by: npm run gateway -- ${argv.join(" ")}`,
      ` The mirror filter for ${r.translation.namespace}/${r.translation.name} (docs/gateway-api.md).`,
      ...r.translation.notes.map((n) => ` Note: ${n}`),
    ].join("\n");
    const route = new Document(r.route);
    route.commentBefore =
      " The route with its RequestMirror filters at percent 0: the mirror backend keeps its cluster,\n the native copy stops (the filter above makes the copies).";
    docs.push(
      attachment.toString({ lineWidth: 0 }),
      route.toString({ lineWidth: 0 }),
    );
  }
  const prettier = await import("prettier");
  process.stdout.write(
    await prettier.format(docs.join("---\n"), { parser: "yaml" }),
  );
  return 0;
}

if (isMain(import.meta.url)) runCommand("gateway", main);
