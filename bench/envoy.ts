// The benchmark's Envoys: the loopback upstreams (one Envoy with two direct_response listeners,
// live and dark), the configurations under test (plain Envoy, native mirroring, the filter at 0,
// 100 and 10 %, and an empty-filter reference), rendered and started by tools/envoy/, and what is
// read from them (CPU time and RSS from /proc, the Wasm VMs' resident memory from smaps).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import {
  httpListener,
  staticBootstrap,
  staticCluster,
  wasmFilter,
} from "../tools/envoy/config.ts";
import { type EnvoyProcess, startEnvoy } from "../tools/envoy/process.ts";
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

/** The configurations compared, in the order of RESULTS.md's tables. */
export const CONFIGS = [
  { id: "a", label: "plain Envoy" },
  { id: "b", label: "native mirror 100%" },
  { id: "c", label: "filter 0%" },
  { id: "d", label: "filter 100%" },
  { id: "e", label: "filter 10%" },
  { id: "z", label: "empty Wasm filter (reference)" },
] as const;
export type ConfigId = (typeof CONFIGS)[number]["id"];

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
  return staticBootstrap({
    listeners: [
      httpListener({ name: LIVE, codec: "HTTP1", action: answer }),
      httpListener({ name: DARK, codec: "HTTP1", action: answer }),
    ],
  });
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

/** The filter at `percentage` (the module in `file`), failing open. */
function mirrorFilter(percentage: number, file = WASM) {
  return wasmFilter({
    plugin: pluginJson(percentage),
    wasm: file,
    failurePolicy: "FAIL_OPEN",
  });
}

/** The Envoy under test: one listener `ingress` whose route and filters differ by configuration. */
function ingressBootstrap(
  route: Record<string, unknown>,
  filters: object[],
  livePort: number,
  darkPort: number,
): object {
  return staticBootstrap({
    listeners: [
      httpListener({
        name: "ingress",
        codec: "HTTP1",
        action: { route },
        httpFilters: filters,
      }),
    ],
    clusters: [staticCluster(LIVE, livePort), staticCluster(DARK, darkPort)],
  });
}

/** An Envoy whose only filter is the Wasm module in `file` (host-call experiments, --ab). */
export function bootstrapWithWasm(
  file: string,
  livePort: number,
  darkPort: number,
  percentage = 0,
): object {
  return ingressBootstrap(
    { cluster: LIVE, timeout: "15s" },
    [mirrorFilter(percentage, file)],
    livePort,
    darkPort,
  );
}

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
      ? [mirrorFilter(0)]
      : id === "d"
        ? [mirrorFilter(100)]
        : id === "e"
          ? [mirrorFilter(10)]
          : id === "z"
            ? [mirrorFilter(0, nullWasm)]
            : [];
  return ingressBootstrap(route, filters, livePort, darkPort);
}

/** One Envoy of the benchmark, started and ready: one worker, pinned to `cpu` when given. */
export function benchEnvoy(
  name: string,
  bin: string,
  bootstrap: object,
  cpu: number | undefined,
): Promise<EnvoyProcess> {
  return startEnvoy({ bin, name, config: bootstrap, concurrency: 1, cpu });
}

// Envoys still running are killed when this process exits (tools/envoy/process.ts), Ctrl-C too.
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
