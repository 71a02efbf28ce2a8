// The one table of the filter's metrics: per target, a family and (for most) one label, in the
// tag-in-name form Envoy's tag extraction turns into Prometheus labels:
//
//   mirror_skipped_total.mirror_target=.=kitchen-next;.;mirror_reason=.=method;.;
//     → /stats/prometheus: mirror_skipped_total{mirror_target="kitchen-next",mirror_reason="method"}
//
// with one `stats_tags` entry per label, regex `(<label>=\.=(.*?);\.;)` (Istio renders exactly
// this regex for each of `extraStatTags`). Envoy shows the names under /stats with the prefix
// "wasmcustom.". scripts/metrics.ts is the same table for the tools (README, report, gates,
// Envoy and Istio configs); a host test checks that the module defines exactly what it lists.

export enum MetricKind {
  Counter = 0,
  Gauge = 1,
  Histogram = 2,
}

/** Index of each per-target metric in the tables below. */
export enum Stat {
  Copies,
  SkipNotMatched,
  SkipLoop,
  SkipMethod,
  SkipNoKey,
  SkipSampledOut,
  SkipRateLimited,
  SkipOverloaded,
  SkipOverBudget,
  SkipBodyTooLarge,
  SkipLiveReset,
  DispatchUnknownCluster,
  DispatchNoHealthyHost,
  DispatchOther,
  Dark2xx,
  Dark3xx,
  Dark4xx,
  Dark5xx,
  DarkReset,
  Live2xx,
  Live3xx,
  Live4xx,
  Live5xx,
  LiveReset,
  CompareMatch,
  CompareStatusMismatch,
  CompareHeaderMismatch,
  CompareBodyMismatch,
  CompareJsonInvalid,
  NotComparedIgnored,
  NotComparedIncomplete,
  NotComparedTooLarge,
  NotComparedTooDeep,
  Inflight,
  DarkDuration,
  LiveDuration,
  Count,
}

/** The labels (Envoy tag names), one stats_tags extractor each. */
export const TAG_TARGET = "mirror_target";
export const TAG_REASON = "mirror_reason";
export const TAG_CLASS = "mirror_class";
export const TAG_RESULT = "mirror_result";

const COPIES = "mirror_copies_total";
const SKIPPED = "mirror_skipped_total";
const DISPATCH = "mirror_dispatch_failures_total";
const DARK = "mirror_dark_responses_total";
const LIVE = "mirror_live_responses_total";
const COMPARED = "mirror_compared_total";
const NOT_COMPARED = "mirror_not_compared_total";

/** Family of each Stat. */
export const STAT_FAMILIES: string[] = [
  COPIES,
  SKIPPED,
  SKIPPED,
  SKIPPED,
  SKIPPED,
  SKIPPED,
  SKIPPED,
  SKIPPED,
  SKIPPED,
  SKIPPED,
  SKIPPED,
  DISPATCH,
  DISPATCH,
  DISPATCH,
  DARK,
  DARK,
  DARK,
  DARK,
  DARK,
  LIVE,
  LIVE,
  LIVE,
  LIVE,
  LIVE,
  COMPARED,
  COMPARED,
  COMPARED,
  COMPARED,
  COMPARED,
  NOT_COMPARED,
  NOT_COMPARED,
  NOT_COMPARED,
  NOT_COMPARED,
  "mirror_inflight",
  "mirror_dark_duration_microseconds",
  "mirror_live_duration_microseconds",
];

/** The label of each Stat besides the target ("" when none). */
export const STAT_LABELS: string[] = [
  "",
  TAG_REASON,
  TAG_REASON,
  TAG_REASON,
  TAG_REASON,
  TAG_REASON,
  TAG_REASON,
  TAG_REASON,
  TAG_REASON,
  TAG_REASON,
  TAG_REASON,
  TAG_REASON,
  TAG_REASON,
  TAG_REASON,
  TAG_CLASS,
  TAG_CLASS,
  TAG_CLASS,
  TAG_CLASS,
  TAG_CLASS,
  TAG_CLASS,
  TAG_CLASS,
  TAG_CLASS,
  TAG_CLASS,
  TAG_CLASS,
  TAG_RESULT,
  TAG_RESULT,
  TAG_RESULT,
  TAG_RESULT,
  TAG_RESULT,
  TAG_REASON,
  TAG_REASON,
  TAG_REASON,
  TAG_REASON,
  "",
  "",
  "",
];

/** The label's value of each Stat. */
export const STAT_VALUES: string[] = [
  "",
  "not_matched",
  "loop",
  "method",
  "no_key",
  "sampled_out",
  "rate_limited",
  "overloaded",
  "over_budget",
  "body_too_large",
  "live_reset",
  "unknown_cluster",
  "no_healthy_host",
  "other",
  "2xx",
  "3xx",
  "4xx",
  "5xx",
  "reset",
  "2xx",
  "3xx",
  "4xx",
  "5xx",
  "reset",
  "match",
  "status_mismatch",
  "header_mismatch",
  "body_mismatch",
  "json_invalid",
  "ignored_status",
  "incomplete",
  "body_too_large",
  "too_deep",
  "",
  "",
  "",
];

/** Kind of each Stat. */
export function statKind(stat: i32): MetricKind {
  if (stat == Stat.Inflight) return MetricKind.Gauge;
  if (stat == Stat.DarkDuration || stat == Stat.LiveDuration) {
    return MetricKind.Histogram;
  }
  return MetricKind.Counter;
}

/** VM-wide gauges (no target label), summed over the VMs of an Envoy. */
export const BUFFERED_BYTES = "mirror_buffered_bytes";
export const WASM_MEMORY_BYTES = "mirror_wasm_memory_bytes";

/**
 * A tag value as it goes into a stat name: ";" would end the tag early, so it becomes "_"
 * (cluster names do not contain it in practice).
 */
export function tagValue(s: string): string {
  if (s.indexOf(";") < 0) return s;
  const units = String.UTF16.encode(s);
  for (let i = 0; i < units.byteLength; i += 2) {
    const at = changetype<usize>(units) + <usize>i;
    if (load<u16>(at) == 0x3b) store<u16>(at, 0x5f);
  }
  return String.UTF16.decode(units);
}

/** `label=.=value;.;`, the tag-in-name form Envoy's extractors cut out. */
export function tag(label: string, value: string): string {
  return label + "=.=" + value + ";.;";
}

/** The metric name of `stat` for the target whose tag value is `target`. */
export function metricName(target: string, stat: i32): string {
  const head = STAT_FAMILIES[stat] + "." + tag(TAG_TARGET, target);
  const label = STAT_LABELS[stat];
  return label.length == 0 ? head : head + tag(label, STAT_VALUES[stat]);
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
