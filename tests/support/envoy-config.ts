/**
 * A test's Envoy config: rendered through tools/envoy/config.ts from a few options (the filter
 * with a plugin config, or none; the live and dark upstreams; codec, timeouts), or a shipped
 * config moved onto the test's ports, or given whole; served statically or through an LDS file.
 */
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { envoyStatsConfig } from "../../scripts/metrics.ts";
import {
  httpListener,
  onPorts,
  staticBootstrap,
  staticCluster,
  wasmFilter,
} from "../../tools/envoy/config.ts";
import { repoText } from "../../tools/paths.ts";
import type { Upstream } from "./upstream.ts";

/** The live and dark cluster names of the shipped config and of every rendered one. */
export const LIVE_CLUSTER = "kitchen";
export const DARK_CLUSTER = "kitchen-next";

/** What a test's Envoy looks like. Every address is 127.0.0.1; listener and admin use port 0. */
export interface EnvoyOptions {
  /** Label in dumps. */
  name?: string;
  /** Plugin JSON: an object is serialised; a string is used verbatim (to test malformed JSON). */
  plugin?: unknown;
  /** Leave the wasm filter out entirely (the "without the filter" baseline). */
  withoutFilter?: boolean;
  /** Envoy worker threads; 2 unless a case needs 1. */
  concurrency?: number;
  live: Upstream | { port: number };
  dark: Upstream | { port: number };
  /** The dark cluster's name [kitchen-next]. */
  darkCluster?: string;
  /** Downstream codec [AUTO: HTTP/1.1, or HTTP/2 with prior knowledge]. */
  downstreamCodec?: "AUTO" | "HTTP1" | "HTTP2";
  /** Forward a client's x-forwarded-client-cert (ALWAYS_FORWARD_ONLY) instead of Envoy's default sanitising. */
  forwardClientCert?: boolean;
  /** Route timeout for live requests [15s]. */
  routeTimeout?: string;
  /** The case expects the filter to log error lines (config refusals). */
  expectFilterErrors?: boolean;
  /** A whole bootstrap used instead of rendering one (e.g. `shippedConfig`). */
  bootstrap?: object;
  /** A whole bootstrap as YAML or JSON text, used instead of rendering one. */
  configText?: string;
  /** More static clusters of a rendered config, by name: a port on 127.0.0.1, or undefined for none (no healthy host). */
  clusters?: Record<string, number | undefined>;
  /** Edits the rendered bootstrap before it is written (protocol options...). */
  mutate?: (bootstrap: Record<string, any>) => void;
  /**
   * Serve the listener through LDS from a file (`dynamic_resources.lds_config.path_config_source`)
   * instead of `static_resources`, so that `Envoy.updatePlugin` can replace it while Envoy runs.
   */
  dynamicListener?: boolean;
  /** `--drain-time-s`: how long a replaced listener's filter chain drains before it is destroyed [Envoy's 600]. */
  drainTimeS?: number;
}

/** The plugin config of a rendered Envoy (`plugin`, else 100 % to the dark cluster), or none. */
export function pluginOf(o: EnvoyOptions): unknown | undefined {
  if (o.withoutFilter) return undefined;
  return (
    o.plugin ?? { cluster: o.darkCluster ?? DARK_CLUSTER, percentage: 100 }
  );
}

/** Renders a bootstrap (as a JSON-able object) for one test's Envoy. */
export function renderEnvoyConfig(o: EnvoyOptions): Record<string, any> {
  const plugin = pluginOf(o);
  return staticBootstrap({
    extra: {
      // Histograms reach /stats/prometheus at each flush: keep it short.
      stats_flush_interval: "0.5s",
      // The filter's tags become Prometheus labels, as in every shipped config.
      stats_config: envoyStatsConfig(),
    },
    listeners: [
      httpListener({
        name: "ingress",
        // Per-worker listener stats under listener.ingress. (tests/e2e/sampling.test.ts).
        statPrefix: "ingress",
        codec: o.downstreamCodec ?? "AUTO",
        action: {
          route: { cluster: LIVE_CLUSTER, timeout: o.routeTimeout ?? "15s" },
        },
        httpFilters: plugin === undefined ? [] : [wasmFilter({ plugin })],
        manager: {
          // Keep the client's x-request-id: it is the default sampling key under test.
          preserve_external_request_id: true,
          ...(o.forwardClientCert
            ? { forward_client_cert_details: "ALWAYS_FORWARD_ONLY" }
            : {}),
        },
      }),
    ],
    clusters: [
      staticCluster(LIVE_CLUSTER, o.live.port),
      staticCluster(o.darkCluster ?? DARK_CLUSTER, o.dark.port),
      ...Object.entries(o.clusters ?? {}).map(([name, port]) =>
        staticCluster(name, port),
      ),
    ],
  });
}

/** A shipped Envoy config (YAML, path relative to the repo root) as a plain object. */
export function readShippedConfig(
  file = "envoy/envoy.yaml",
): Record<string, any> {
  return parseYaml(repoText(file)) as Record<string, any>;
}

/**
 * The shipped envoy/envoy.yaml moved onto test ports: listener and admin on port 0, the live
 * cluster `kitchen` and the dark `kitchen-next` on the given upstreams.
 */
export function shippedConfig(
  ports: { live: number; dark: number },
  file = "envoy/envoy.yaml",
): Record<string, any> {
  return onPorts(
    readShippedConfig(file),
    {
      admin: 0,
      listener: 0,
      clusters: { [LIVE_CLUSTER]: ports.live, [DARK_CLUSTER]: ports.dark },
    },
    file,
  );
}

/** The bootstrap text for `o`: its `configText`, its `bootstrap`, or a rendered one (YAML ⊃ JSON). */
export function configTextOf(o: EnvoyOptions): string {
  if (o.configText !== undefined) return o.configText;
  return JSON.stringify(bootstrapOf(o), null, 2);
}

/** The bootstrap object of `o` (given or rendered), after `mutate`. */
export function bootstrapOf(o: EnvoyOptions): Record<string, any> {
  const bootstrap = structuredClone(
    o.bootstrap ?? renderEnvoyConfig(o),
  ) as Record<string, any>;
  o.mutate?.(bootstrap);
  return bootstrap;
}

/** The LDS file contents serving `listeners` at `version`. */
export function ldsResources(listeners: object[], version: number): string {
  return JSON.stringify(
    {
      version_info: String(version),
      resources: listeners.map((l) => ({
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        ...l,
      })),
    },
    null,
    2,
  );
}

/** Writes `text` to `path` atomically (a temp file renamed over it): what Envoy's file watch expects. */
export function writeAtomically(path: string, text: string): void {
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, path);
}

/** Writes the config of `o` to a temp file (for `validateConfig`); returns its path. */
export function writeEnvoyConfig(o: EnvoyOptions): string {
  const dir = mkdtempSync(join(tmpdir(), "mirror-e2e-"));
  const path = join(dir, "envoy.yaml");
  writeFileSync(path, configTextOf(o));
  return path;
}
