// The verdict in the real Envoy: a live service, a dark version of it with one injected
// regression (or none), GETs keyed on x-request-id mirrored at 100 %, then the real
// `npm run report -- --admin … --json` with the default objectives: its exit code and the checks
// it names. CASES is the table; `runCase` is one run of one case (fresh upstreams and a
// fresh Envoy), shared by `npm run bench -- --verdict` (every case, 5 or 20 runs, RESULTS.md)
// and tests/e2e/verdict.test.ts (one run of a few cases).
import { type ChildProcess, fork, spawn } from "node:child_process";
import http from "node:http";
import http2 from "node:http2";
import { loadavg } from "node:os";
import { join } from "node:path";
import { envoyStatName, envoyStatsConfig } from "../scripts/metrics.ts";
import {
  httpListener,
  staticBootstrap,
  staticCluster,
  wasmFilter,
} from "../tools/envoy/config.ts";
import type { EnvoyProcess } from "../tools/envoy/process.ts";
import { refusedPort } from "../tools/net.ts";
import { REPO_ROOT } from "../tools/paths.ts";
import { benchEnvoy, WASM } from "./envoy.ts";
import type { SideCounts, StartMessage } from "./verdict-upstream.ts";
import {
  type Behaviour,
  type BodyKind,
  IGNORED_FIELDS,
  requestId,
} from "./verdict-service.ts";

export const LIVE = "kitchen";
export const DARK = "kitchen-next";
export const BASELINE = "kitchen-base";
/** The dark target of the "unknown cluster" case: a name no cluster of the Envoy has. */
export const UNKNOWN = "kitchen-nxet";

/** The checks a failing run must name, by what the table calls them. */
export const CHECK_GROUPS = {
  latency: /^latency_shift_p(50|95|99)$/,
  "latency, p99 or p95": /^latency_shift_p(95|99)$/,
  errors: /^dark_error_excess$/,
  mismatches: /^pair_mismatches$/,
  "errors or dispatch": /^(dark_error_excess|max_dispatch_failures)$/,
} as const;
export type CheckGroup = keyof typeof CHECK_GROUPS;

/** One row of the table: a dark version and what the verdict must say about it. */
export interface VerdictCase {
  id: string;
  /** the dark version, as the table says it */
  title: string;
  must: "pass" | "fail";
  /** for "fail": the checks a caught run names (any of them) */
  names?: CheckGroup;
  /** runs in the benchmark: 5 per regression, 20 per healthy version */
  runs: number;
  protocol: "http1" | "grpc";
  body: BodyKind;
  /** the plugin's `compare` */
  compare?: Record<string, unknown>;
  live?: Behaviour;
  dark?: Behaviour;
  /** a baseline target (a second instance of the live version) answering like this */
  baseline?: Behaviour;
  /** where the dark target points: a service [up], a closed port, a cluster with no host, or no cluster */
  darkHost?: "up" | "refused" | "no_host" | "unknown_cluster";
  /** the report must show no dark latency */
  noDarkLatency?: boolean;
}

const IGNORE = { body: "json", ignore: IGNORED_FIELDS };

/** A regression (the verdict must fail it) and a healthy version, with their runs in the benchmark. */
const REGRESSION = { must: "fail", runs: 5 } as const;
const HEALTHY = { must: "pass", runs: 20 } as const;
/** GETs over HTTP/1.1 answered with bodies whose volatile fields `compare.ignore` lists. */
const HTTP_IGNORED = {
  protocol: "http1",
  body: "ignored",
  compare: IGNORE,
} as const;

/** The table. */
export const CASES: readonly VerdictCase[] = [
  {
    id: "slower",
    title: "+20 ms on every answer",
    ...REGRESSION,
    names: "latency",
    ...HTTP_IGNORED,
    dark: { addMs: 20 },
  },
  {
    id: "tail",
    title: "+120 ms on 5 % of answers",
    ...REGRESSION,
    names: "latency, p99 or p95",
    ...HTTP_IGNORED,
    dark: { tail: { fraction: 0.05, addMs: 120 } },
  },
  {
    id: "errors",
    title: "2 % 5xx",
    ...REGRESSION,
    names: "errors",
    ...HTTP_IGNORED,
    dark: { errorFraction: 0.02 },
  },
  {
    id: "changed",
    title: '1 % of bodies with one changed JSON field, `compare.body: "json"`',
    ...REGRESSION,
    names: "mismatches",
    ...HTTP_IGNORED,
    dark: { changedFraction: 0.01 },
  },
  {
    id: "refused",
    title: "host down (connection refused)",
    ...REGRESSION,
    names: "errors or dispatch",
    ...HTTP_IGNORED,
    darkHost: "refused",
    noDarkLatency: true,
  },
  {
    id: "no-host",
    title: "cluster with no host",
    ...REGRESSION,
    names: "errors or dispatch",
    ...HTTP_IGNORED,
    darkHost: "no_host",
    noDarkLatency: true,
  },
  {
    id: "unknown-cluster",
    title: "unknown cluster",
    ...REGRESSION,
    names: "errors or dispatch",
    ...HTTP_IGNORED,
    darkHost: "unknown_cluster",
    noDarkLatency: true,
  },
  {
    id: "grpc",
    title: "gRPC over HTTP/2: `grpc-status: 14` on 2 % of calls",
    ...REGRESSION,
    names: "errors",
    protocol: "grpc",
    body: "ignored",
    dark: { grpcErrorFraction: 0.02 },
  },
  {
    id: "healthy",
    title:
      "healthy: 0.3 % random 500s on each side, bodies differing only in fields under `compare.ignore`",
    ...HEALTHY,
    ...HTTP_IGNORED,
    live: { errorFraction: 0.003 },
    dark: { errorFraction: 0.003 },
  },
  {
    id: "baseline",
    title:
      "healthy, with a baseline target: bodies with a random id field, no ignore list",
    ...HEALTHY,
    protocol: "http1",
    body: "random_id",
    compare: { body: "json" },
    baseline: {},
  },
  {
    id: "baseline-changed",
    title: "the same with 1 % of bodies with one changed field",
    ...REGRESSION,
    names: "mismatches",
    protocol: "http1",
    body: "random_id",
    compare: { body: "json" },
    baseline: {},
    dark: { changedFraction: 0.01 },
  },
  {
    id: "faster",
    title: "faster than live (60 % of the work)",
    ...HEALTHY,
    ...HTTP_IGNORED,
    dark: { workScale: 0.6 },
  },
];

export function caseById(id: string): VerdictCase {
  const c = CASES.find((x) => x.id === id);
  if (!c)
    throw new Error(
      `no verdict case '${id}' (${CASES.map((x) => x.id).join(", ")})`,
    );
  return c;
}

/** The plugin JSON of a case. */
export function pluginOf(c: VerdictCase): Record<string, unknown> {
  const targets: object[] = [
    {
      cluster: c.darkHost === "unknown_cluster" ? UNKNOWN : DARK,
      percentage: 100,
    },
  ];
  if (c.baseline)
    targets.push({ cluster: BASELINE, percentage: 100, baseline: true });
  return {
    targets,
    ...(c.compare ? { compare: c.compare } : {}),
    // gRPC calls are POSTs: mirrored on the service's paths only
    ...(c.protocol === "grpc"
      ? {
          unsafe_paths: [{ methods: ["POST"], path_prefix: "/shop.Kitchen/" }],
        }
      : {}),
  };
}

/** A static cluster (no host when `port` is undefined), HTTP/2 to its upstream when `h2`. */
function cluster(name: string, port: number | undefined, h2: boolean) {
  return {
    ...staticCluster(name, port),
    ...(h2
      ? {
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
              "@type":
                "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        }
      : {}),
  };
}

/**
 * The Envoy of a run: the shipped config's shape (stats tags and buckets, 1 s stats flush, the
 * filter before the router), one listener routing to live, the dark and baseline clusters.
 * `ports`: the upstreams' ports by side; a dark port of `undefined` is a cluster with no host.
 */
export function bootstrapOf(
  c: VerdictCase,
  ports: { live: number; dark?: number; baseline?: number },
): object {
  const h2 = c.protocol === "grpc";
  const clusters = [cluster(LIVE, ports.live, h2)];
  if (c.darkHost !== "unknown_cluster")
    clusters.push(cluster(DARK, ports.dark, h2));
  if (c.baseline) clusters.push(cluster(BASELINE, ports.baseline, h2));
  return staticBootstrap({
    extra: { stats_flush_interval: "1s", stats_config: envoyStatsConfig() },
    listeners: [
      httpListener({
        name: "ingress",
        action: { route: { cluster: LIVE, timeout: "15s" } },
        httpFilters: [wasmFilter({ plugin: pluginOf(c), wasm: WASM })],
        // the client's x-request-id is the sampling key, and what the services hash
        manager: { preserve_external_request_id: true },
      }),
    ],
    clusters,
  });
}

/** The upstreams' process: one server per side, answering as verdict-service.ts says. */
class Upstreams {
  private child!: ChildProcess;
  private waiting = new Map<string, (m: any) => void>();

  async start(m: StartMessage): Promise<Record<string, number>> {
    this.child = fork(join(REPO_ROOT, "bench", "verdict-upstream.ts"), [], {
      cwd: REPO_ROOT,
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (x: { type: string }) => {
      this.waiting.get(x.type)?.(x);
      this.waiting.delete(x.type);
    });
    const exited = new Promise<never>((_, reject) =>
      this.child.once("exit", (code) =>
        reject(new Error(`verdict upstreams exited (${code})`)),
      ),
    );
    const ports = this.ask<{ ports: Record<string, number> }>("ports", m);
    return (await Promise.race([ports, exited])).ports;
  }

  private ask<T>(type: string, m: object): Promise<T> {
    return new Promise((resolve) => {
      this.waiting.set(type, resolve);
      this.child.send(m);
    });
  }

  async counts(): Promise<Record<string, SideCounts>> {
    return (
      await this.ask<{ counts: Record<string, SideCounts> }>("counts", {
        type: "counts",
      })
    ).counts;
  }

  stop(): void {
    if (this.child?.exitCode === null) this.child.kill("SIGKILL");
  }
}

/** A port on 127.0.0.1 nobody listens on (connections are refused). */
/** A gRPC request message: uncompressed, 2 bytes of protobuf. */
const GRPC_MESSAGE = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]);

/** Sends the run's requests, `concurrency` at a time; the live statuses received, by status. */
async function sendRequests(
  c: VerdictCase,
  port: number,
  ids: string[],
  concurrency: number,
): Promise<Record<string, number>> {
  const statuses: Record<string, number> = {};
  const seen = (s: string) => (statuses[s] = (statuses[s] ?? 0) + 1);
  let next = 0;
  if (c.protocol === "grpc") {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    await new Promise<void>((resolve, reject) => {
      session.once("connect", () => resolve());
      session.once("error", reject);
    });
    const call = (id: string) =>
      new Promise<void>((resolve, reject) => {
        const stream = session.request({
          ":method": "POST",
          ":path": "/shop.Kitchen/Cook",
          "content-type": "application/grpc",
          te: "trailers",
          "x-request-id": id,
          "content-length": String(GRPC_MESSAGE.length),
        });
        let status = "";
        stream.on("response", (h) => (status = String(h[":status"])));
        stream.on("trailers", (t) => (status += ` grpc ${t["grpc-status"]}`));
        stream.on("data", () => undefined);
        stream.on("end", () => (seen(status), resolve()));
        stream.on("error", reject);
        stream.end(GRPC_MESSAGE);
      });
    const worker = async () => {
      while (next < ids.length) await call(ids[next++]);
    };
    try {
      await Promise.all(Array.from({ length: concurrency }, worker));
    } finally {
      session.close();
    }
    return statuses;
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const get = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const req = http.get(
        {
          host: "127.0.0.1",
          port,
          path: `/orders/${i}`,
          agent,
          headers: { "x-request-id": ids[i] },
        },
        (res) => {
          res.resume();
          res.on("end", () => (seen(String(res.statusCode)), resolve()));
        },
      );
      req.on("error", reject);
    });
  const worker = async () => {
    while (next < ids.length) await get(next++);
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return statuses;
}

/**
 * Waits until no copy is in flight and the filter's counters stopped changing (they reach Envoy
 * on the filter's 0.5 s tick); the report's own --settle then waits for the histograms.
 */
async function settle(envoy: EnvoyProcess, targets: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  let previous = "";
  for (;;) {
    await new Promise((r) => setTimeout(r, 700));
    const stats = await envoy.stats("^wasmcustom\\.mirror_");
    const inflight = targets.reduce(
      (n, t) => n + (stats.get(envoyStatName(t, "inflight")) ?? 0),
      0,
    );
    const text = [...stats]
      .filter(([k]) => !/buffered_bytes|wasm_memory|inflight/.test(k))
      .map(([k, v]) => `${k}=${v}`)
      .join("\n");
    if (inflight === 0 && text === previous) return;
    if (Date.now() > deadline)
      throw new Error(`copies still in flight after 30 s (${inflight})`);
    previous = text;
  }
}

/** `npm run report -- ARGS` as a pipeline runs it: its exit code and output. */
function report(
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("npm", ["run", "--silent", "report", "--", ...args], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A check of the report's JSON, as far as this benchmark reads it. */
export interface CheckResult {
  id: string;
  outcome: string;
  value: number | null;
  limit: number | null;
  unit?: string;
  interval?: { lower: number | null; upper: number | null };
}

/** What one run of one case measured. */
export interface RunResult {
  case: string;
  seed: number;
  requests: number;
  /** seconds the traffic took */
  seconds: number;
  /** the report's exit code, and the verdict of its JSON */
  exitCode: number | null;
  verdict: string;
  /** the checks that failed / had not enough data, over every target */
  failed: string[];
  notEnough: string[];
  /** the dark target's checks */
  checks: CheckResult[];
  /** dark latency samples the report shows for the dark target (null: none reported) */
  darkLatencySamples: number | null;
  /** the dark target's latency figures in the report (ms: live, dark, …) */
  latency: Record<string, any>;
  /** the dark target's counts in the report */
  counts: Record<string, any>;
  /** what each upstream received and what was injected */
  upstreams: Record<string, SideCounts>;
  /** live answers the client got, by status */
  liveStatuses: Record<string, number>;
  /** Envoy's error and critical log lines (the first 5) */
  errorLines: string[];
  /** the machine's 1-minute load average when the traffic ended */
  load: number;
  /** whether this run met the case's must */
  met: boolean;
  /** why not, when it did not */
  why?: string;
}

export interface RunOptions {
  /** the Envoy binary */
  envoy: string;
  seed: number;
  /** mirrored requests [2000] */
  requests?: number;
  /**
   * requests in flight at once [8]: 2,000 in about 6 s here; at 16, this rig's own load on 2 shared
   * cores made 3–4 times as many pairs whose two answers, due at the same moment, came > 5 ms apart
   */
  concurrency?: number;
}

/**
 * One run of a case: fresh upstreams and a fresh Envoy, `requests` GETs (gRPC calls) with ids
 * from the seed, then the real `npm run report -- --admin … --json` with the default objectives.
 */
export async function runCase(
  c: VerdictCase,
  o: RunOptions,
): Promise<RunResult> {
  const requests = o.requests ?? 2000;
  const upstreams = new Upstreams();
  let envoy: EnvoyProcess | undefined;
  try {
    const sides: Record<string, Behaviour> = { live: c.live ?? {} };
    if ((c.darkHost ?? "up") === "up") sides.dark = c.dark ?? {};
    if (c.baseline) sides.baseline = c.baseline;
    const ports = await upstreams.start({
      type: "start",
      seed: o.seed,
      protocol: c.protocol,
      bodyKind: c.body,
      sides,
    });
    if (c.darkHost === "refused") ports.dark = await refusedPort();
    envoy = await benchEnvoy(
      `verdict-${c.id}`,
      o.envoy,
      bootstrapOf(c, ports as { live: number }),
      undefined,
    );
    const port = await envoy.portOf("ingress");
    const ids = Array.from({ length: requests }, (_, i) =>
      requestId(o.seed, i),
    );
    const t0 = performance.now();
    const liveStatuses = await sendRequests(c, port, ids, o.concurrency ?? 8);
    const seconds = (performance.now() - t0) / 1000;
    const load = loadavg()[0];
    const dark = c.darkHost === "unknown_cluster" ? UNKNOWN : DARK;
    await settle(envoy, c.baseline ? [dark, BASELINE] : [dark]);
    const r = await report(
      "--admin",
      `http://127.0.0.1:${envoy.adminPort}`,
      "--json",
    );
    let json: any;
    try {
      json = JSON.parse(r.stdout);
    } catch {
      throw new Error(
        `report: no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`,
      );
    }
    if (json.error) throw new Error(`report: ${json.error}`);
    const targets: any[] = json.targets ?? [];
    const darkTarget = targets.find((t) => t.target === dark);
    if (!darkTarget)
      throw new Error(
        `report: no target ${dark} (${targets.map((t) => t.target).join(", ")})`,
      );
    const outcomes = (outcome: string) => [
      ...new Set(
        targets.flatMap((t) =>
          (t.checks as any[])
            .filter((k) => k.outcome === outcome)
            .map((k) => String(k.id)),
        ),
      ),
    ];
    const checks: CheckResult[] = (darkTarget.checks as any[]).map((k) => ({
      id: k.id,
      outcome: k.outcome,
      value: k.value ?? null,
      limit: k.limit ?? null,
      unit: k.unit,
      ...(k.interval
        ? { interval: { lower: k.interval.lower, upper: k.interval.upper } }
        : {}),
    }));
    const result: RunResult = {
      case: c.id,
      seed: o.seed,
      requests,
      seconds,
      exitCode: r.code,
      verdict: json.verdict,
      failed: outcomes("fail"),
      notEnough: outcomes("not enough data"),
      checks,
      darkLatencySamples: darkTarget.latency_ms?.dark?.count ?? null,
      latency: darkTarget.latency_ms ?? {},
      counts: darkTarget.counts ?? {},
      upstreams: await upstreams.counts(),
      liveStatuses,
      load,
      errorLines: envoy.log
        .split("\n")
        .filter((l) => /\]\[(error|critical)\]/.test(l))
        .slice(0, 5),
      met: false,
    };
    const why = judgeRun(c, result);
    result.met = why === undefined;
    if (why !== undefined) result.why = why;
    return result;
  } finally {
    await envoy?.stop();
    upstreams.stop();
  }
}

/** Why a run does not meet its case's must; undefined when it does. */
export function judgeRun(c: VerdictCase, r: RunResult): string | undefined {
  if (c.noDarkLatency && (r.darkLatencySamples ?? 0) > 0)
    return `${r.darkLatencySamples} dark latency samples reported`;
  if (c.must === "pass")
    return r.exitCode === 0
      ? undefined
      : `exit ${r.exitCode}: ${r.verdict} (failed: ${r.failed.join(", ") || "none"}; not enough data: ${r.notEnough.join(", ") || "none"})`;
  if (r.exitCode !== 1)
    return `exit ${r.exitCode}: ${r.verdict} (not enough data: ${r.notEnough.join(", ") || "none"})`;
  const named = r.failed.filter((id) => CHECK_GROUPS[c.names!].test(id));
  return named.length
    ? undefined
    : `failed ${r.failed.join(", ")}, none of them ${c.names}`;
}
