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
];

/** The full metric name of `stat` for a target. */
export function metricName(targetStatName: string, stat: i32): string {
  return "mirror." + targetStatName + "." + STAT_NAMES[stat];
}

/** The counter for a dark response status (0: reset or timeout). */
export function darkStatOf(status: i32): Stat {
  if (status >= 200 && status < 300) return Stat.Dark2xx;
  if (status >= 300 && status < 400) return Stat.Dark3xx;
  if (status >= 400 && status < 500) return Stat.Dark4xx;
  if (status >= 500 && status < 600) return Stat.Dark5xx;
  return Stat.DarkReset;
}
