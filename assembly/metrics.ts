// The one table of metric names and kinds. Per target T (its cluster name made
// stat-safe), each metric is named "mirror.T.<name>"; Envoy shows it with the
// prefix "wasmcustom.". The README's stats table lists the same names.

export enum MetricKind {
  Counter = 0,
  Gauge = 1,
  Histogram = 2,
}

/** Index of each per-target metric in STAT_NAMES / STAT_KINDS. */
export enum Stat {
  Mirrored,
  SkipNotMatched,
  SkipLoop,
  SkipMethod,
  SkipNoKey,
  SkipSampledOut,
  SkipBodyTooLarge,
  SkipOverloaded,
  SkipLiveReset,
  DispatchFailed,
  Dark2xx,
  Dark3xx,
  Dark4xx,
  Dark5xx,
  DarkReset,
  Inflight,
  DarkLatency,
  Live2xx,
  Live3xx,
  Live4xx,
  Live5xx,
  LiveReset,
  LiveHeadersMs,
  LiveLatency,
  Compared,
  StatusMismatch,
  BodyMismatch,
  CompareIgnored,
  CompareIncomplete,
  Count,
}

export const STAT_NAMES: string[] = [
  "mirrored",
  "skipped.not_matched",
  "skipped.loop",
  "skipped.method",
  "skipped.no_key",
  "skipped.sampled_out",
  "skipped.body_too_large",
  "skipped.overloaded",
  "skipped.live_reset",
  "dispatch_failed",
  "dark.rq_2xx",
  "dark.rq_3xx",
  "dark.rq_4xx",
  "dark.rq_5xx",
  "dark.rq_reset",
  "inflight",
  "dark.latency_ms",
  "live.rq_2xx",
  "live.rq_3xx",
  "live.rq_4xx",
  "live.rq_5xx",
  "live.rq_reset",
  "live.headers_ms",
  "live.latency_ms",
  "compare.compared",
  "compare.status_mismatch",
  "compare.body_mismatch",
  "compare.ignored",
  "compare.incomplete",
];

export const STAT_KINDS: MetricKind[] = [
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Gauge,
  MetricKind.Histogram,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Histogram,
  MetricKind.Histogram,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
  MetricKind.Counter,
];

/** The full metric name of `stat` for a target. */
export function metricName(targetStatName: string, stat: i32): string {
  return "mirror." + targetStatName + "." + STAT_NAMES[stat];
}

/** The counter for a dark response status (0 or out of range: reset or timeout). */
export function darkStatOf(status: i32): Stat {
  return <Stat>(Stat.Dark2xx + classIndex(status));
}

/** The counter for a live response status of a mirrored request. */
export function liveStatOf(status: i32): Stat {
  return <Stat>(Stat.Live2xx + classIndex(status));
}

/** 0..3 for 2xx..5xx, 4 for anything else (no status: reset or timeout). */
export function classIndex(status: i32): i32 {
  if (status >= 200 && status < 600) return status / 100 - 2;
  return 4;
}
