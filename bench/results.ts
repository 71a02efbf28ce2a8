// What one run of the benchmark measured, as bench/results.json keeps it: written by run.ts,
// rendered into RESULTS.md by report.ts.
import type { ConfigId } from "./envoy.ts";
import type { HostCallsPerRequest } from "./hostcalls.ts";
import type { MicroProfile, MicroResult } from "./micro.ts";
import type { Pinning } from "./machine.ts";

/** One throughput phase (wrk, closed loop). */
export interface ThroughputPhase {
  rps: number;
  errors: number;
  cpuPer10k: number;
  darkPerLive: number;
  /** busy share of the load core and of the measured core not used by the measured Envoy */
  loadCoreBusy: number;
  otherOnEnvoyCore: number;
  /** the larger of the two cores' hypervisor steal shares */
  steal?: number;
}

/** One fixed-rate phase (oload, open loop). */
export interface LatencyPhase {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  recorded: number;
  errors: number;
  /** requests sent more than 1 ms after their scheduled time (the generator or Envoy fell behind) */
  late: number;
  cpuPer10k: number;
  darkPerLive: number;
  rssBytes: number;
  wasmBytes: number | null;
  otherOnEnvoyCore: number;
  steal?: number;
}

export interface ConfigSummary {
  id: ConfigId;
  label: string;
  throughput: ThroughputPhase[];
  latency: LatencyPhase[];
  median: {
    rps: number;
    p50: number;
    p90: number;
    p99: number;
    cpuPer10k: number;
    cpuPer10kSaturated: number;
    rssMiB: number;
    wasmMiB: number | null;
    darkPerLive: number;
  };
  /** latency by percentile, all repetitions pooled */
  curve: Array<[number, number]>;
  /** perf: share of the measured Envoy's CPU per shared object, under wrk */
  perf?: Record<string, number> | null;
  perfCpuUsPerRequest?: number;
}

export interface MainResults {
  date: string;
  command: string;
  machine: {
    nproc: number;
    cpu: string;
    kernel: string;
    node: string;
    pinning: Pinning;
  };
  envoy: string;
  wrk: string;
  reps: number;
  seconds: number;
  connections: number;
  openConnections: number;
  rate: number;
  loadBefore: number[];
  loadAfter: number[];
  releaseWasmBytes: number;
  /** the commit the filter was built from, and whether assembly/ had uncommitted changes */
  source: string;
  configs: ConfigSummary[];
  /** Envoy CPU per request of the empty filter making host calls (see hostCallCosts) */
  hostCalls?: HostCallCosts;
  /** host calls per request (host emulator): earlier commits, then the measured build */
  hostCallsPerRequest?: Array<{ label: string; calls: HostCallsPerRequest }>;
  micro?: MicroResult;
  microProfile?: { decision: MicroProfile; mirrored: MicroProfile };
}

/** `--ab`: CPU per request of builds side by side, at 0%, 100% and 10%. */
export interface AbResults {
  date: string;
  command: string;
  reps: number;
  seconds: number;
  loadAverage: number[];
  builds: Array<{ label: string; bytes: number }>;
  rows: Array<{
    build: number;
    percentage: number;
    us: number;
    usReps: number[];
    rps: number;
  }>;
}

export interface SoakSample {
  t: number;
  mirrored: number;
  live: number;
  rss: number;
  wasm: number | null;
  heap: number | null;
  inflight: number;
}

export interface SoakResults {
  date: string;
  command: string;
  envoy: string;
  requests: number;
  warmup: number;
  seconds: number;
  samples: SoakSample[];
  rssAtWarmup: number;
  rssAtEnd: number;
  rssMax: number;
  wasmAtWarmup: number | null;
  wasmAtEnd: number | null;
  heapAtWarmup: number | null;
  heapAtEnd: number | null;
  /** least-squares slope of RSS after warm-up, bytes per 100k mirrored requests */
  rssSlopePer100k: number;
  skipped: Record<string, number>;
  loadBefore: number[];
}

/**
 * What host calls cost in this Envoy: the empty filter, then with 4 single reads, then 1 map
 * read, then that map sent on with proxy_http_call (a bare mirror); beside them, in the same
 * interleaved run, plain Envoy, native mirroring and the filter at 0% and 100%.
 */
export interface HostCallCosts {
  reps: number;
  seconds: number;
  /** darkPerLive: requests the dark upstream received per live one (a mirror is 1) */
  rows: Array<{
    label: string;
    usPerRq: number;
    rps: number;
    darkPerLive?: number;
  }>;
  /** µs of Envoy CPU per proxy_get_header_map_value (each with its malloc call into the module) */
  perHeaderRead: number;
  /** µs per proxy_get_header_map_pairs of the 7-header request */
  perPairsRead: number;
  /**
   * The mirrored increments of this run, µs per request: native mirroring over plain Envoy; the
   * bare mirror over the empty filter that reads the map (proxy_http_call and the answer's call
   * back into the module: the floor of any proxy-wasm mirror); the filter at 100% over 0%.
   */
  increments?: {
    native: number;
    bare: number;
    /** the bare mirror making the filter's other per-mirror host calls too */
    verdict?: number;
    filter: number;
  };
  /**
   * Per repetition (configurations side by side in time): the bare mirror's increment minus
   * 1.2 × native mirroring's; above 0, the floor of any proxy-wasm mirror misses the mirrored target.
   */
  bareOverTargetReps?: number[];
  /**
   * The A/A difference: the filter at 0% in two identical Envoys, µs per request. Differences
   * between configurations smaller than this are what this machine cannot tell apart.
   */
  sameConfigUs?: number;
}
