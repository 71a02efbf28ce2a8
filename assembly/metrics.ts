// The one table of the filter's metrics: per target, a family and (for most) one label, in the
// tag-in-name form Envoy's tag extraction turns into Prometheus labels:
//
//   mirror_skipped_total.mirror_target=.=kitchen-next;.;mirror_reason=.=method;.;
//     → /stats/prometheus: mirror_skipped_total{mirror_target="kitchen-next",mirror_reason="method"}
//
// with one `stats_tags` entry per label, regex `(<label>=\.=(.*?);\.;)` (Istio renders exactly
// this regex for each of `extraStatTags`). Envoy shows the names under /stats with the prefix
// "wasmcustom.". scripts/metrics.ts is the same table for the tools (docs, report, gates,
// Envoy and Istio configs); a host test checks that the module defines exactly what it lists.

export enum MetricKind {
  Counter = 0,
  Gauge = 1,
  Histogram = 2,
}

/** Index of each per-target metric in METRICS. */
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
  DarkGrpcError,
  Live2xx,
  Live3xx,
  Live4xx,
  Live5xx,
  LiveReset,
  LiveGrpcError,
  CompareMatch,
  CompareStatusMismatch,
  CompareHeaderMismatch,
  CompareBodyMismatch,
  CompareJsonInvalid,
  NotComparedIgnored,
  NotComparedIncomplete,
  NotComparedTooLarge,
  NotComparedTooDeep,
  PairBothOk,
  PairDarkError,
  PairLiveError,
  PairBothError,
  PairCompareMatch,
  PairCompareStatusMismatch,
  PairCompareHeaderMismatch,
  PairCompareBodyMismatch,
  PairCompareJsonInvalid,
  Inflight,
  DarkDuration,
  LiveDuration,
  PairSlower,
  PairFaster,
  Count,
}

/** The labels (Envoy tag names), one stats_tags extractor each. */
export const TAG_TARGET = "mirror_target";
export const TAG_REASON = "mirror_reason";
export const TAG_CLASS = "mirror_class";
export const TAG_RESULT = "mirror_result";
export const TAG_PAIR = "mirror_pair";
export const TAG_BASELINE = "mirror_baseline";

/** One per-target metric: its family, kind, and the label (besides the target) and value. */
class Metric {
  constructor(
    public family: string,
    public kind: MetricKind,
    public label: string = "",
    public value: string = "",
  ) {}
}

const COUNTER = MetricKind.Counter;
const counter = (family: string, label: string, value: string): Metric =>
  new Metric(family, COUNTER, label, value);

const SKIPPED = "mirror_skipped_total";
const DISPATCH = "mirror_dispatch_failures_total";
const DARK = "mirror_dark_responses_total";
const LIVE = "mirror_live_responses_total";
const COMPARED = "mirror_compared_total";
const NOT_COMPARED = "mirror_not_compared_total";
const PAIRS = "mirror_pairs_total";
const PAIR_COMPARED = "mirror_pair_comparisons_total";

/** Every per-target metric, in Stat order. */
const METRICS: Metric[] = [
  new Metric("mirror_copies_total", COUNTER),
  counter(SKIPPED, TAG_REASON, "not_matched"),
  counter(SKIPPED, TAG_REASON, "loop"),
  counter(SKIPPED, TAG_REASON, "method"),
  counter(SKIPPED, TAG_REASON, "no_key"),
  counter(SKIPPED, TAG_REASON, "sampled_out"),
  counter(SKIPPED, TAG_REASON, "rate_limited"),
  counter(SKIPPED, TAG_REASON, "overloaded"),
  counter(SKIPPED, TAG_REASON, "over_budget"),
  counter(SKIPPED, TAG_REASON, "body_too_large"),
  counter(SKIPPED, TAG_REASON, "live_reset"),
  counter(DISPATCH, TAG_REASON, "unknown_cluster"),
  counter(DISPATCH, TAG_REASON, "no_healthy_host"),
  counter(DISPATCH, TAG_REASON, "other"),
  counter(DARK, TAG_CLASS, "2xx"),
  counter(DARK, TAG_CLASS, "3xx"),
  counter(DARK, TAG_CLASS, "4xx"),
  counter(DARK, TAG_CLASS, "5xx"),
  counter(DARK, TAG_CLASS, "reset"),
  counter(DARK, TAG_CLASS, "grpc_error"),
  counter(LIVE, TAG_CLASS, "2xx"),
  counter(LIVE, TAG_CLASS, "3xx"),
  counter(LIVE, TAG_CLASS, "4xx"),
  counter(LIVE, TAG_CLASS, "5xx"),
  counter(LIVE, TAG_CLASS, "reset"),
  counter(LIVE, TAG_CLASS, "grpc_error"),
  counter(COMPARED, TAG_RESULT, "match"),
  counter(COMPARED, TAG_RESULT, "status_mismatch"),
  counter(COMPARED, TAG_RESULT, "header_mismatch"),
  counter(COMPARED, TAG_RESULT, "body_mismatch"),
  counter(COMPARED, TAG_RESULT, "json_invalid"),
  counter(NOT_COMPARED, TAG_REASON, "ignored_status"),
  counter(NOT_COMPARED, TAG_REASON, "incomplete"),
  counter(NOT_COMPARED, TAG_REASON, "body_too_large"),
  counter(NOT_COMPARED, TAG_REASON, "too_deep"),
  counter(PAIRS, TAG_PAIR, "both_ok"),
  counter(PAIRS, TAG_PAIR, "dark_error"),
  counter(PAIRS, TAG_PAIR, "live_error"),
  counter(PAIRS, TAG_PAIR, "both_error"),
  counter(PAIR_COMPARED, TAG_RESULT, "match"),
  counter(PAIR_COMPARED, TAG_RESULT, "status_mismatch"),
  counter(PAIR_COMPARED, TAG_RESULT, "header_mismatch"),
  counter(PAIR_COMPARED, TAG_RESULT, "body_mismatch"),
  counter(PAIR_COMPARED, TAG_RESULT, "json_invalid"),
  new Metric("mirror_inflight", MetricKind.Gauge),
  new Metric("mirror_dark_duration_microseconds", MetricKind.Histogram),
  new Metric("mirror_live_duration_microseconds", MetricKind.Histogram),
  new Metric("mirror_pair_dark_slower_microseconds", MetricKind.Histogram),
  new Metric("mirror_pair_dark_faster_microseconds", MetricKind.Histogram),
];

/** Kind of each Stat. */
export function statKind(stat: i32): MetricKind {
  return METRICS[stat].kind;
}

/** Family of each Stat. */
export function statFamily(stat: i32): string {
  return METRICS[stat].family;
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
  const m = METRICS[stat];
  const head = m.family + "." + tag(TAG_TARGET, target);
  return m.label.length == 0 ? head : head + tag(m.label, m.value);
}

/**
 * The gauge naming a candidate target's baseline (each VM with that config adds 1):
 * `mirror_baseline_info{mirror_target, mirror_baseline}`.
 */
export function baselineInfoName(target: string, baseline: string): string {
  return (
    "mirror_baseline_info." +
    tag(TAG_TARGET, target) +
    tag(TAG_BASELINE, baseline)
  );
}

/** Response classes, in the order of the class counters. */
export enum ResponseClass {
  C2xx,
  C3xx,
  C4xx,
  C5xx,
  Reset,
  GrpcError,
}

/** The class of an answer: its status (0: none, a reset or timeout) and, for gRPC, its grpc-status (-1: not gRPC). */
export function classOf(status: i32, grpc: i32): ResponseClass {
  if (status < 200 || status >= 600) return ResponseClass.Reset;
  if (grpc > 0 && status < 300) return ResponseClass.GrpcError;
  return <ResponseClass>(status / 100 - 2);
}

/** Whether an answer of class `c` counts as an error (5xx, reset, timeout, gRPC status other than 0). */
export function isError(c: ResponseClass): bool {
  return c >= ResponseClass.C5xx;
}

/** The counter for a dark answer of class `c`. */
export function darkStatOf(c: ResponseClass): Stat {
  return <Stat>(Stat.Dark2xx + c);
}

/** The counter for a live answer of class `c` (mirrored requests). */
export function liveStatOf(c: ResponseClass): Stat {
  return <Stat>(Stat.Live2xx + c);
}

/** The pairs counter for a pair whose sides are (or are not) in error. */
export function pairStatOf(liveError: bool, darkError: bool): Stat {
  return <Stat>(Stat.PairBothOk + (darkError ? 1 : 0) + (liveError ? 2 : 0));
}
