// Envoy processes for the benchmark: the loopback upstreams (one Envoy with two direct_response
// listeners, live and dark), the configurations under test (the five and an empty-filter
// reference), and what is read from them
// (admin stats, CPU time and RSS from /proc, the Wasm VMs' resident memory from smaps).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { RELEASE_WASM } from "../tools/paths.ts";

/**
 * The filter measured, by absolute path (Envoy's working directory does not matter): the release
 * build, or the file given with `--wasm FILE` (to compare a candidate build against it).
 */
export const WASM = resolve(
  process.argv.includes("--wasm")
    ? process.argv[process.argv.indexOf("--wasm") + 1]
    : RELEASE_WASM,
);
export const LIVE = "live";
export const DARK = "dark";

/** The configurations compared, in the order. */
export const CONFIGS = [
  { id: "a", label: "plain Envoy" },
  { id: "b", label: "native mirror 100%" },
  { id: "c", label: "filter 0%" },
  { id: "d", label: "filter 100%" },
  { id: "e", label: "filter 10%" },
  { id: "z", label: "empty Wasm filter (reference)" },
] as const;
export type ConfigId = (typeof CONFIGS)[number]["id"];

const addr = (port: number) => ({
  socket_address: { address: "127.0.0.1", port_value: port },
});

const HCM =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = {
  name: "envoy.filters.http.router",
  typed_config: {
    "@type":
      "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
  },
};

function listener(name: string, route: object, httpFilters: object[]) {
  return {
    name,
    address: addr(0),
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM,
              stat_prefix: name,
              codec_type: "HTTP1",
              route_config: {
                name,
                virtual_hosts: [
                  {
                    name,
                    domains: ["*"],
                    routes: [{ match: { prefix: "/" }, ...route }],
                  },
                ],
              },
              http_filters: [...httpFilters, ROUTER],
            },
          },
        ],
      },
    ],
  };
}

/** A 64-byte answer: the same small response for live and dark. */
const BODY = "x".repeat(63) + "\n";

/**
 * The upstreams: one Envoy, two listeners answering 200 with a fixed body straight from the
 * listener (direct_response). Native code, no GC, no per-request logging; its CPU is its own
 * process's, never the measured Envoy's; and its stats count what each side received.
 */
export function upstreamBootstrap(): object {
  const answer = {
    direct_response: { status: 200, body: { inline_string: BODY } },
  };
  return {
    admin: { address: addr(0) },
    static_resources: {
      listeners: [listener(LIVE, answer, []), listener(DARK, answer, [])],
    },
  };
}

/**
 * The filter's plugin config at `percentage` (default key x-request-id, which Envoy generates).
 * max_inflight is raised above wrk's 64 connections: native mirroring has no such cap, and at
 * the default (50) part of (d)'s requests would be skipped as overloaded instead of mirrored.
 */
export function pluginJson(percentage: number): string {
  return JSON.stringify({
    targets: [{ cluster: DARK, percentage }],
    max_inflight: 1000,
  });
}

function wasmFilter(percentage: number, file = WASM) {
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
          code: { local: { filename: file } },
        },
        failure_policy: "FAIL_OPEN",
        configuration: {
          "@type": "type.googleapis.com/google.protobuf.StringValue",
          value: pluginJson(percentage),
        },
      },
    },
  };
}

/** An Envoy whose only filter is the Wasm module in `file` (host-call experiments, --ab). */
export function bootstrapWithWasm(
  file: string,
  livePort: number,
  darkPort: number,
  percentage = 0,
): object {
  return {
    admin: { address: addr(0) },
    static_resources: {
      listeners: [
        listener("ingress", { route: { cluster: LIVE, timeout: "15s" } }, [
          wasmFilter(percentage, file),
        ]),
      ],
      clusters: [cluster(LIVE, livePort), cluster(DARK, darkPort)],
    },
  };
}

const cluster = (name: string, port: number) => ({
  name,
  type: "STATIC",
  connect_timeout: "1s",
  load_assignment: {
    cluster_name: name,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: addr(port) } }] }],
  },
});

/**
 * The Envoy under test for configuration `id`; the only differences are the route and the
 * filter. `nullWasm`: the empty filter's file, for (z).
 */
export function bootstrapFor(
  id: ConfigId,
  livePort: number,
  darkPort: number,
  nullWasm = "",
): object {
  const route: Record<string, unknown> = { cluster: LIVE, timeout: "15s" };
  if (id === "b")
    route.request_mirror_policies = [
      {
        cluster: DARK,
        runtime_fraction: {
          default_value: { numerator: 100, denominator: "HUNDRED" },
        },
      },
    ];
  const filters =
    id === "c"
      ? [wasmFilter(0)]
      : id === "d"
        ? [wasmFilter(100)]
        : id === "e"
          ? [wasmFilter(10)]
          : id === "z"
            ? [wasmFilter(0, nullWasm)]
            : [];
  return {
    admin: { address: addr(0) },
    static_resources: {
      listeners: [listener("ingress", { route }, filters)],
      clusters: [cluster(LIVE, livePort), cluster(DARK, darkPort)],
    },
  };
}

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.on(sig, () => process.exit(130));

/** CPU time of a process in seconds (utime + stime of /proc/PID/stat, all threads). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of proc(5); f[0] is field 3.
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux x86_64 and arm64

/** Resident set size in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(
    readFileSync(`/proc/${pid}/status`, "utf8"),
  );
  return m ? Number(m[1]) * 1024 : 0;
}

/**
 * Resident bytes of the Wasm VMs' linear memories. V8 reserves each Wasm memory as one run of
 * anonymous address space of 8 GiB or more (4 GiB addressable plus guard regions) and makes only
 * its used part accessible, which splits the run into an rw-p and a ---p mapping; only touched
 * pages are resident. The Rss of those runs is the filters' heap as the OS sees it (one VM per
 * worker, one for the main thread, one base VM). Undefined when no such run is found.
 */
export function wasmResidentBytes(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, "utf8");
  } catch {
    return undefined;
  }
  // Runs of adjacent anonymous mappings: [size, rss].
  const runs: Array<{ size: bigint; rss: number }> = [];
  let run: { size: bigint; rss: number } | null = null;
  let lastEnd = -1n;
  let anon = false;
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (m) {
      const from = BigInt("0x" + m[1]);
      const to = BigInt("0x" + m[2]);
      anon = m[3] === "0" && m[4] === "";
      if (!anon) {
        run = null;
      } else {
        if (run === null || from !== lastEnd) {
          run = { size: 0n, rss: 0 };
          runs.push(run);
        }
        run.size += to - from;
      }
      lastEnd = to;
      continue;
    }
    if (anon && run !== null && line.startsWith("Rss:"))
      run.rss += Number(/(\d+)/.exec(line)![1]) * 1024;
  }
  const wasm = runs.filter((r) => r.size >= 4n * 2n ** 30n);
  return wasm.length ? wasm.reduce((s, r) => s + r.rss, 0) : undefined;
}

/** One running Envoy. */
export class EnvoyProcess {
  log = "";
  adminPort = 0;
  exited = false;
  private child!: ChildProcess;

  constructor(
    readonly name: string,
    readonly bin: string,
    readonly bootstrap: object,
    readonly cpu: number | undefined,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  /** Spawns it (pinned with taskset to `cpu` when given) and waits for /ready. */
  async start(): Promise<this> {
    const dir = mkdtempSync(join(tmpdir(), `mirror-bench-${this.name}-`));
    const cfg = join(dir, "envoy.json");
    const addrFile = join(dir, "admin-address");
    writeFileSync(cfg, JSON.stringify(this.bootstrap, null, 2));
    const args = [
      "-c",
      cfg,
      "--concurrency",
      "1",
      "--disable-hot-restart",
      "--log-level",
      "warn",
      "--admin-address-path",
      addrFile,
    ];
    // taskset and the PyPI wrapper both exec: the pid is Envoy's own.
    const [cmd, argv] =
      this.cpu === undefined
        ? [this.bin, args]
        : ["taskset", ["-c", String(this.cpu), this.bin, ...args]];
    this.child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    children.add(this.child);
    this.child.stdout!.on("data", (d) => (this.log += d));
    this.child.stderr!.on("data", (d) => (this.log += d));
    this.child.on("exit", () => {
      this.exited = true;
      children.delete(this.child);
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (this.exited)
        throw new Error(`envoy ${this.name} exited:\n${this.log}`);
      if (Date.now() > deadline)
        throw new Error(`envoy ${this.name} not ready in 30 s:\n${this.log}`);
      if (!this.adminPort && existsSync(addrFile)) {
        const a = readFileSync(addrFile, "utf8").trim();
        if (a) this.adminPort = Number(a.split(":").pop());
      }
      if (this.adminPort) {
        const ok = await fetch(`http://127.0.0.1:${this.adminPort}/ready`)
          .then(async (r) => (await r.text(), r.status === 200))
          .catch(() => false);
        if (ok) break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    // Wait until the binary itself runs (not the Python wrapper that execs it).
    while (!readFileSync(`/proc/${this.pid}/cmdline`, "utf8").includes("-c"))
      await new Promise((r) => setTimeout(r, 50));
    return this;
  }

  async admin(path: string, method = "GET"): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.adminPort}${path}`, {
      method,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`admin ${path}: ${res.status} ${text}`);
    return text;
  }

  /** Counters and gauges (`/stats`, text form). */
  async stats(filter?: string): Promise<Map<string, number>> {
    const q = filter ? `?filter=${encodeURIComponent(filter)}` : "";
    const out = new Map<string, number>();
    for (const line of (await this.admin(`/stats${q}`)).split("\n")) {
      const m = /^(\S+): (\d+)$/.exec(line);
      if (m) out.set(m[1], Number(m[2]));
    }
    return out;
  }

  /** The port the listener `name` is bound to. */
  async listenerPort(name: string): Promise<number> {
    const json = JSON.parse(await this.admin("/listeners?format=json")) as {
      listener_statuses: Array<{
        name: string;
        local_address: { socket_address: { port_value: number } };
      }>;
    };
    const l = json.listener_statuses.find((s) => s.name === name);
    if (!l) throw new Error(`envoy ${this.name}: no listener ${name}`);
    return l.local_address.socket_address.port_value;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((r) => this.child.once("exit", r));
    await this.admin("/quitquitquit", "POST").catch(() => undefined);
    const t = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await gone;
    clearTimeout(t);
  }
}

/** `envoy --version` → "1.40.0" etc., as printed. */
export function envoyVersionLine(bin: string): string {
  const r = spawnSyncText(bin, ["--version"]);
  return r.trim().split("\n").pop() ?? "";
}

function spawnSyncText(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return (r.stdout ?? "") + (r.stderr ?? "");
}
