/**
 * Envoy configuration as this project writes it, in one place: the Wasm filter block, HTTP
 * listeners, static clusters and a static bootstrap, readers of the filter blocks of a config,
 * and a config moved onto other ports. The demo, the benchmark's Envoys and every test's Envoy are
 * rendered here; the shipped envoy/*.yaml are tested equal to it (tests/e2e/config.test.ts).
 */
import { RELEASE_WASM_PATH } from "../paths.ts";

/** The name of Envoy's Wasm HTTP filter. */
export const WASM_FILTER = "envoy.filters.http.wasm";

/** An address on 127.0.0.1 (port 0: any free port, read back from the admin API). */
export function socketAddress(port: number) {
  return { socket_address: { address: "127.0.0.1", port_value: port } };
}

/** How the filter is loaded. */
export interface WasmFilterOptions {
  /** The plugin JSON: a string is used verbatim, anything else is serialised. */
  plugin: unknown;
  /** The module [build/mirror.wasm, relative to the repository root: Envoy's working directory]. */
  wasm?: string;
  /**
   * FAIL_RELOAD [shipped]: if the VM fails, Envoy starts a new one for the next request, after
   * 20 ms (live keeps flowing; mirroring comes back without a config push). FAIL_OPEN: the filter
   * stays off after a failure until the next push.
   */
  failurePolicy?: "FAIL_RELOAD" | "FAIL_OPEN";
}

/** The filter's entry in `http_filters`, as every shipped config writes it. */
export function wasmFilter(o: WasmFilterOptions) {
  const policy = o.failurePolicy ?? "FAIL_RELOAD";
  return {
    name: WASM_FILTER,
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
      config: {
        name: "mirror",
        root_id: "mirror",
        vm_config: {
          vm_id: "mirror",
          runtime: "envoy.wasm.runtime.v8",
          code: { local: { filename: o.wasm ?? RELEASE_WASM_PATH } },
        },
        failure_policy: policy,
        // At least 2 ms: Envoy 1.40 divides by half the base interval (1 ms crashes it).
        ...(policy === "FAIL_RELOAD"
          ? { reload_config: { backoff: { base_interval: "0.02s" } } }
          : {}),
        configuration: {
          "@type": "type.googleapis.com/google.protobuf.StringValue",
          value:
            typeof o.plugin === "string" ? o.plugin : JSON.stringify(o.plugin),
        },
      },
    },
  };
}

/** The router, last of every listener's HTTP filters. */
export const ROUTER_FILTER = {
  name: "envoy.filters.http.router",
  typed_config: {
    "@type":
      "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
  },
};

/** An HTTP listener with one route for every path. */
export interface ListenerOptions {
  /** The listener's name, also its HTTP stat prefix, route config and virtual host. */
  name: string;
  /** [0: any free port] */
  port?: number;
  /** The listener's own stats under `listener.<statPrefix>.` [under its address] */
  statPrefix?: string;
  /** Downstream codec [AUTO: HTTP/1.1, or HTTP/2 with prior knowledge]. */
  codec?: "AUTO" | "HTTP1" | "HTTP2";
  /** What the route does: `{ route: { cluster, timeout } }` or `{ direct_response: … }`. */
  action: Record<string, unknown>;
  /** HTTP filters before the router. */
  httpFilters?: object[];
  /** More HttpConnectionManager fields. */
  manager?: Record<string, unknown>;
}

export function httpListener(o: ListenerOptions) {
  return {
    name: o.name,
    ...(o.statPrefix ? { stat_prefix: o.statPrefix } : {}),
    address: socketAddress(o.port ?? 0),
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type":
                "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: o.name,
              codec_type: o.codec ?? "AUTO",
              ...o.manager,
              route_config: {
                name: o.name,
                virtual_hosts: [
                  {
                    name: o.name,
                    domains: ["*"],
                    routes: [{ match: { prefix: "/" }, ...o.action }],
                  },
                ],
              },
              http_filters: [...(o.httpFilters ?? []), ROUTER_FILTER],
            },
          },
        ],
      },
    ],
  };
}

/** A cluster of one endpoint on 127.0.0.1:`port`, or of none (no healthy host) without a port. */
export function staticCluster(name: string, port?: number) {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: {
      cluster_name: name,
      endpoints:
        port === undefined
          ? []
          : [
              {
                lb_endpoints: [{ endpoint: { address: socketAddress(port) } }],
              },
            ],
    },
  };
}

/** A bootstrap of static listeners and clusters, the admin API on 127.0.0.1, and `extra` fields. */
export function staticBootstrap(o: {
  listeners: object[];
  clusters?: object[];
  /** [0: any free port] */
  adminPort?: number;
  /** Top-level fields before `admin` (stats_flush_interval, stats_config…). */
  extra?: Record<string, unknown>;
}): Record<string, any> {
  return {
    ...o.extra,
    admin: { address: socketAddress(o.adminPort ?? 0) },
    static_resources: {
      listeners: o.listeners,
      ...(o.clusters ? { clusters: o.clusters } : {}),
    },
  };
}

/** Every Wasm filter entry (of `http_filters`) in a config, in order. */
export function wasmFilters(config: unknown): Array<Record<string, any>> {
  const found: Array<Record<string, any>> = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === "object") {
      const o = node as Record<string, any>;
      if (o.name === WASM_FILTER) found.push(o);
      else Object.values(o).forEach(walk);
    }
  };
  walk(config);
  return found;
}

/** The PluginConfig (`typed_config.config`) of every Wasm filter in a config, in order. */
export function wasmFilterConfigs(config: unknown): Array<Record<string, any>> {
  return wasmFilters(config).map((f) => f.typed_config?.config ?? {});
}

/** The plugin JSON (the StringValue) of every Wasm filter in a config. */
export function wasmPluginConfigs(config: unknown): string[] {
  return wasmFilterConfigs(config).map((c) => c.configuration?.value);
}

/** Ports for a bootstrap of static listeners and clusters on 127.0.0.1. */
export interface Ports {
  admin: number;
  /** The one listener's port. */
  listener: number;
  /** Each cluster's port, by name: every cluster of the config must be named. */
  clusters: Record<string, number>;
}

/**
 * `config` (changed in place, and returned) moved onto `ports`: the admin API, its one listener and
 * every endpoint of each cluster. `what` names the config in the error for another number of
 * listeners or a cluster `ports` does not name.
 */
export function onPorts<T extends Record<string, any>>(
  config: T,
  ports: Ports,
  what = "the config",
): T {
  config.admin.address.socket_address.port_value = ports.admin;
  const listeners = config.static_resources.listeners;
  if (listeners.length !== 1)
    throw new Error(
      `${what}: expected one listener, found ${listeners.length}`,
    );
  listeners[0].address.socket_address.port_value = ports.listener;
  for (const c of config.static_resources.clusters) {
    if (!(c.name in ports.clusters))
      throw new Error(`${what}: unexpected cluster ${c.name}`);
    for (const e of c.load_assignment.endpoints)
      for (const lb of e.lb_endpoints)
        lb.endpoint.address.socket_address.port_value = ports.clusters[c.name];
  }
  return config;
}
