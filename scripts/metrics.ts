// The filter's metrics for the tools: families, labels and what each series counts, the Envoy
// `stats_config` that turns the tags in the names into Prometheus labels, and Istio's equivalent.
// assembly/metrics.ts is the same table inside the filter; tests/host/filter.test.ts checks that
// the module defines exactly the series listed here, and the README's stats table, the Envoy
// configs, the Istio manifests and the gates are generated from or tested against this file.

/** The Prometheus labels (Envoy tag names). */
export const TAGS = {
  target: "mirror_target",
  reason: "mirror_reason",
  class: "mirror_class",
  result: "mirror_result",
  pair: "mirror_pair",
  baseline: "mirror_baseline",
} as const;
export type TagName = (typeof TAGS)[keyof typeof TAGS];

export type MetricKind = "counter" | "gauge" | "histogram";

/** One series of one target (or of the VM, for the VM-wide gauges). */
export interface Series {
  /** Short key used by the report and the tests: "copies", "skipped.method", "dark.5xx", ... */
  key: string;
  family: string;
  kind: MetricKind;
  /** The label besides mirror_target, and its value. */
  label?: TagName;
  value?: string;
  /** false for the VM-wide gauges (no mirror_target). */
  perTarget: boolean;
  /** What it counts (README). */
  help: string;
}

interface FamilySpec {
  family: string;
  kind: MetricKind;
  prefix: string;
  help: string;
  label?: TagName;
  values?: Array<[string, string]>;
  perTarget?: boolean;
}

const CLASSES: Array<[string, string]> = [
  ["2xx", "status 200–299"],
  ["3xx", "status 300–399"],
  ["4xx", "status 400–499"],
  ["5xx", "status 500–599"],
  ["reset", "reset, timeout, refused, or no valid status"],
  [
    "grpc_error",
    "a gRPC answer (`content-type: application/grpc…`) whose `grpc-status` is not 0, or missing",
  ],
];

/** The comparison results, for both comparison families. */
const RESULTS: Array<[string, string]> = [
  ["match", "statuses (and headers, bodies when compared) agree"],
  ["status_mismatch", "statuses differ (by `compare.status`)"],
  ["header_mismatch", "a header of `compare.headers` differs"],
  ["body_mismatch", "bodies (or their canonical JSON) differ"],
  ["json_invalid", "`compare.body: json` and either body is not JSON"],
];

/** The families, in the order of the README's table. */
export const FAMILY_SPECS: FamilySpec[] = [
  {
    family: "mirror_copies_total",
    kind: "counter",
    prefix: "copies",
    help: "copies dispatched to the dark cluster",
  },
  {
    family: "mirror_skipped_total",
    kind: "counter",
    prefix: "skipped",
    label: TAGS.reason,
    help: "requests not mirrored to this target, by reason",
    values: [
      ["not_matched", "the target's `match` does not fit the request"],
      ["loop", "the request carries the marker (inbound `skip`)"],
      ["method", "method (or a method override) not mirrored"],
      ["no_key", "no sampling key on the request"],
      ["sampled_out", "the key's bucket is at or above the threshold"],
      ["rate_limited", "over the target's `max_rps`"],
      ["overloaded", "`max_inflight` copies already in progress"],
      ["over_budget", "the VM's `max_buffered_bytes` would be exceeded"],
      ["body_too_large", "body over `max_body_bytes`"],
      ["live_reset", "live request reset before its end"],
    ],
  },
  {
    family: "mirror_dispatch_failures_total",
    kind: "counter",
    prefix: "dispatch_failures",
    label: TAGS.reason,
    help: "copies Envoy refused to send (logged at most once a second)",
    values: [
      ["unknown_cluster", "no such cluster in this Envoy (BadArgument)"],
      ["no_healthy_host", "no healthy host in the cluster (InternalFailure)"],
      ["other", "any other refusal, or the body could not be read"],
    ],
  },
  {
    family: "mirror_dark_responses_total",
    kind: "counter",
    prefix: "dark",
    label: TAGS.class,
    help: "dark responses, by class",
    values: CLASSES,
  },
  {
    family: "mirror_live_responses_total",
    kind: "counter",
    prefix: "live",
    label: TAGS.class,
    help: "live responses of mirrored requests, by class",
    values: CLASSES,
  },
  {
    family: "mirror_compared_total",
    kind: "counter",
    prefix: "compared",
    label: TAGS.result,
    help: "live/dark pairs compared, by result",
    values: RESULTS,
  },
  {
    family: "mirror_not_compared_total",
    kind: "counter",
    prefix: "not_compared",
    label: TAGS.reason,
    help: "mirrored requests without a comparison, by reason",
    values: [
      ["ignored_status", "the live status is in `compare.ignore_statuses`"],
      ["incomplete", "the live response never completed"],
      ["body_too_large", "a body over `compare.max_body_bytes`"],
      ["too_deep", "JSON nested deeper than 128"],
    ],
  },
  {
    family: "mirror_pairs_total",
    kind: "counter",
    prefix: "pairs",
    label: TAGS.pair,
    help: "copies whose live and dark answers are both known, by the side in error (5xx, reset, timeout, no valid status, gRPC status other than 0)",
    values: [
      ["both_ok", "neither side in error"],
      ["dark_error", "the dark side in error, live not"],
      ["live_error", "the live side in error, dark not"],
      ["both_error", "both sides in error"],
    ],
  },
  {
    family: "mirror_pair_comparisons_total",
    kind: "counter",
    prefix: "pair_compared",
    label: TAGS.result,
    help: "pairs where neither side is in error, compared, by result; for a target with a baseline, a difference counts only where the baseline's answer to the same request agrees with live",
    values: RESULTS,
  },
  {
    family: "mirror_inflight",
    kind: "gauge",
    prefix: "inflight",
    help: "copies in progress: being assembled or awaiting the dark answer",
  },
  {
    family: "mirror_dark_duration_microseconds",
    kind: "histogram",
    prefix: "dark.duration",
    help: "copy dispatched (the live request's end) → dark answer complete; valid answers only (no reset, timeout or refused copy)",
  },
  {
    family: "mirror_live_duration_microseconds",
    kind: "histogram",
    prefix: "live.duration",
    help: "the live request's end → live response end (mirrored requests)",
  },
  {
    family: "mirror_pair_dark_slower_microseconds",
    kind: "histogram",
    prefix: "pair.slower",
    help: "per pair with a latency difference, d = dark − live over the same span, when d ≥ 0: d",
  },
  {
    family: "mirror_pair_dark_faster_microseconds",
    kind: "histogram",
    prefix: "pair.faster",
    help: "per pair with a latency difference, when d < 0: −d",
  },
  {
    family: "mirror_buffered_bytes",
    kind: "gauge",
    prefix: "buffered_bytes",
    perTarget: false,
    help: "bytes held for copies in progress, summed over the Envoy's VMs",
  },
  {
    family: "mirror_wasm_memory_bytes",
    kind: "gauge",
    prefix: "wasm_memory_bytes",
    perTarget: false,
    help: "linear memory of the filter's VMs, summed over the Envoy's VMs",
  },
];

/** Every series, flattened. */
export const SERIES: Series[] = FAMILY_SPECS.flatMap((f): Series[] =>
  f.label && f.values
    ? f.values.map(([value, help]) => ({
        key: `${f.prefix}.${value}`,
        family: f.family,
        kind: f.kind,
        label: f.label,
        value,
        perTarget: f.perTarget ?? true,
        help,
      }))
    : [
        {
          key: f.prefix,
          family: f.family,
          kind: f.kind,
          perTarget: f.perTarget ?? true,
          help: f.help,
        },
      ],
);

const BY_KEY = new Map(SERIES.map((s) => [s.key, s]));

/** The series of `key`; throws on an unknown key (a typo in a test or tool). */
export function series(key: string): Series {
  const s = BY_KEY.get(key);
  if (!s) throw new Error(`no mirror metric series "${key}"`);
  return s;
}

/** The keys of one family's series ("skipped" → ["skipped.not_matched", …]). */
export function keysOf(prefix: string): string[] {
  const f = FAMILY_SPECS.find((x) => x.prefix === prefix && x.values);
  if (!f) throw new Error(`no labelled mirror metric family "${prefix}"`);
  return f.values!.map(([v]) => `${prefix}.${v}`);
}

/** A tag value as the filter writes it (";" would end the tag early). */
export function tagValue(s: string): string {
  return s.replaceAll(";", "_");
}

const tag = (label: string, value: string) => `${label}=.=${value};.;`;

/** The metric name the filter defines (without Envoy's "wasmcustom." prefix). */
export function metricName(target: string, key: string): string {
  const s = series(key);
  if (!s.perTarget) return s.family;
  let name = `${s.family}.${tag(TAGS.target, tagValue(target))}`;
  if (s.label) name += tag(s.label, s.value!);
  return name;
}

/** The name under Envoy's /stats. */
export function envoyStatName(target: string, key: string): string {
  return `wasmcustom.${metricName(target, key)}`;
}

/** The labels of the series in Prometheus (with stats_config applied). */
export function promLabels(
  target: string,
  key: string,
): Record<string, string> {
  const s = series(key);
  const labels: Record<string, string> = {};
  if (s.perTarget) labels[TAGS.target] = target;
  if (s.label) labels[s.label] = s.value!;
  return labels;
}

/**
 * Histogram buckets of the latency histograms, in microseconds: 50 µs to 60 s, with bounds at
 * 50 ms and 100 ms (the absolute objectives' usual limits) so that "p95 < 100 ms" is read off a
 * bucket edge.
 */
export const LATENCY_BUCKETS_US = [
  50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 75_000,
  100_000, 150_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
  10_000_000, 60_000_000,
];

/**
 * Histogram buckets of the paired latency differences (dark slower by / faster by), in
 * microseconds: 1 ms apart around the smallest tolerance (5 ms) so that a shift of a few
 * milliseconds is resolved from Prometheus too, then coarser up to 60 s.
 */
export const PAIR_BUCKETS_US = [
  100, 250, 500, 1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000, 10_000,
  12_500, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000, 75_000, 100_000,
  150_000, 250_000, 500_000, 1_000_000, 2_500_000, 10_000_000, 60_000_000,
];

/**
 * The bucket settings of the filter's histograms, by stat name prefix. The prefixes do not
 * overlap: Envoy uses the first setting that matches a name, and istio-agent sorts them.
 */
export const HISTOGRAM_BUCKETS: ReadonlyArray<{
  prefix: string;
  buckets: number[];
}> = [
  { prefix: "wasmcustom.mirror_dark_duration_", buckets: LATENCY_BUCKETS_US },
  { prefix: "wasmcustom.mirror_live_duration_", buckets: LATENCY_BUCKETS_US },
  { prefix: "wasmcustom.mirror_pair_dark_", buckets: PAIR_BUCKETS_US },
];

/** The bucket bounds Envoy gives the histogram family `family` (per HISTOGRAM_BUCKETS). */
export function bucketsOf(family: string): number[] {
  const h = HISTOGRAM_BUCKETS.find((b) =>
    `wasmcustom.${family}`.startsWith(b.prefix),
  );
  if (!h) throw new Error(`no histogram buckets for ${family}`);
  return h.buckets;
}

/** Envoy's regex for a tag in the name, exactly as Istio renders one for each extraStatTags. */
export function tagRegex(label: string): string {
  return `(${label}=\\.=(.*?);\\.;)`;
}

/** The bootstrap `stats_config` every shipped Envoy config carries. */
export function envoyStatsConfig(): {
  stats_tags: Array<{ tag_name: string; regex: string }>;
  histogram_bucket_settings: Array<{
    match: { prefix: string };
    buckets: number[];
  }>;
} {
  return {
    stats_tags: Object.values(TAGS).map((t) => ({
      tag_name: t,
      regex: tagRegex(t),
    })),
    histogram_bucket_settings: HISTOGRAM_BUCKETS.map((h) => ({
      match: { prefix: h.prefix },
      buckets: h.buckets,
    })),
  };
}

/**
 * The pod annotations that give an Istio sidecar the same: istio-agent renders
 * `sidecar.istio.io/extraStatTags` into stats_tags with tagRegex (every Istio release with the
 * annotation) and `sidecar.istio.io/statsHistogramBuckets` into histogram_bucket_settings
 * (Istio ≥ 1.19).
 */
export function istioStatsAnnotations(): Record<string, string> {
  return {
    "sidecar.istio.io/extraStatTags": Object.values(TAGS).join(","),
    "sidecar.istio.io/statsHistogramBuckets": JSON.stringify(
      Object.fromEntries(HISTOGRAM_BUCKETS.map((h) => [h.prefix, h.buckets])),
    ),
  };
}

/**
 * A candidate target and its baseline target (plugin config `baseline: true`): a gauge per
 * candidate, `mirror_baseline_info{mirror_target="<candidate>", mirror_baseline="<baseline>"}`,
 * that each root context running that config adds 1 to (Prometheus' `_info` convention: read it as
 * "present"). Its label value is another target's name, so it is not one of SERIES.
 */
export const BASELINE_INFO = {
  family: "mirror_baseline_info",
  kind: "gauge" as MetricKind,
  label: TAGS.baseline,
  help: "a candidate target and its baseline (plugin config `baseline: true`); each root context with that config (one per Envoy worker, and its main thread's) adds 1",
};

/** The metric name of a candidate's baseline info (without Envoy's "wasmcustom." prefix). */
export function baselineInfoName(candidate: string, baseline: string): string {
  return `${BASELINE_INFO.family}.${tag(TAGS.target, tagValue(candidate))}${tag(TAGS.baseline, tagValue(baseline))}`;
}

/** An Envoy stat name of a baseline info gauge → its candidate and baseline; else undefined. */
export function parseBaselineInfo(
  name: string,
): { target: string; baseline: string } | undefined {
  const bare = name.startsWith("wasmcustom.")
    ? name.slice("wasmcustom.".length)
    : name;
  const m = new RegExp(
    `^${BASELINE_INFO.family}\\.${TAGS.target}=\\.=(.*?);\\.;${TAGS.baseline}=\\.=(.*?);\\.;$`,
  ).exec(bare);
  return m ? { target: m[1], baseline: m[2] } : undefined;
}

const BY_SERIES = new Map(
  SERIES.map((s) => [`${s.family}|${s.label ?? ""}|${s.value ?? ""}`, s]),
);

/**
 * An Envoy stat name of the filter (with or without "wasmcustom.") → its target and series key;
 * undefined for any other stat. Tolerates labels in any order.
 */
export function parseStatName(
  name: string,
): { target?: string; key: string } | undefined {
  const bare = name.startsWith("wasmcustom.")
    ? name.slice("wasmcustom.".length)
    : name;
  const dot = bare.indexOf(".");
  const family = dot < 0 ? bare : bare.slice(0, dot);
  const labels: Record<string, string> = {};
  let rest = dot < 0 ? "" : bare.slice(dot + 1);
  while (rest.length > 0) {
    const m = /^([a-z_]+)=\.=(.*?);\.;/.exec(rest);
    if (!m) return undefined;
    labels[m[1]] = m[2];
    rest = rest.slice(m[0].length);
  }
  const target = labels[TAGS.target];
  const others = Object.keys(labels).filter((l) => l !== TAGS.target);
  if (others.length > 1) return undefined;
  const label = others[0] ?? "";
  const s = BY_SERIES.get(`${family}|${label}|${label ? labels[label] : ""}`);
  if (!s || s.perTarget !== (target !== undefined)) return undefined;
  return { target, key: s.key };
}
