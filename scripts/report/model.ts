// The report's model: what every source (admin.ts, prometheus.ts) turns its numbers into, and
// what the verdict (verdict.ts) and the renderings (text.ts, json.ts) read. Counts are keyed by
// the series keys of scripts/metrics.ts ("copies", "skipped.method", "dark.5xx", ...).
import { keysOf, tagValue } from "../metrics.ts";

/** A latency bin in milliseconds: samples in [lower, lower + width] (width 0: exactly lower). */
export interface Bucket {
  lower: number;
  width: number;
  count: number;
}

/** A latency distribution in milliseconds; every figure is NaN when there is no sample. */
export interface Latency {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  /** the bins the figures come from, sorted (for the text histogram) */
  buckets: Bucket[];
}

/** An empty distribution. */
export const NO_LATENCY: Readonly<Latency> = Object.freeze({
  count: 0,
  mean: NaN,
  p50: NaN,
  p95: NaN,
  p99: NaN,
  buckets: [],
});

/** The response classes of scripts/metrics.ts, in order. */
export const CLASSES = [
  "2xx",
  "3xx",
  "4xx",
  "5xx",
  "reset",
  "grpc_error",
] as const;
export type ResponseClass = (typeof CLASSES)[number];
/** The classes that count as errors. */
export const ERROR_CLASSES: readonly ResponseClass[] = [
  "5xx",
  "reset",
  "grpc_error",
];
/** The classes of an answer without latency: no valid status (reset, timeout, refused). */
export const NO_LATENCY_CLASSES: readonly ResponseClass[] = ["reset"];

/** The skip reasons of the filter's own limits, whose copies lean to the dark side's fast moments. */
export const CAPPED = ["overloaded", "over_budget"] as const;

/** The pairs of a target by side in error (mirror_pairs_total). */
export interface Pairs {
  bothOk: number;
  darkError: number;
  liveError: number;
  bothError: number;
  total: number;
}

/** Skip reasons that are the configuration working as meant: never "turned away". */
export const NOT_TURNED_AWAY = ["sampled_out", "not_matched"] as const;

/** Responses of one side of the mirrored requests. */
export interface Side {
  classes: Record<ResponseClass, number>;
  total: number;
  /** 5xx + reset */
  errors: number;
  /** errors per total, in percent (NaN when total is 0) */
  errorPct: number;
  latency: Latency;
}

/** How the filter compares for a target, when the source could read its config. */
export interface CompareMode {
  /** compare.status: "exact", "class" or "off" */
  status: string;
  /** compare.body: "off", "exact" or "json" */
  body: string;
}

/** A target's counters by series key; a key that is missing counts 0. */
export type Counts = Record<string, number>;

/** Everything the report knows about one target. */
export interface TargetStats {
  /** the target's cluster, as the mirror_target label holds it */
  target: string;
  /** how many Envoys reported it (admins given, or Prometheus `instance`s) */
  instances: number;
  counts: Counts;
  copies: number;
  inflight: number;
  skipped: number;
  dispatchFailures: number;
  /** requests skipped for any reason but sampling and match, plus dispatch failures */
  turnedAway: number;
  live: Side;
  dark: Side;
  /** compared pairs, of which `mismatches` differ (any result but "match") */
  compared: number;
  mismatches: number;
  /** mismatches per compared pair, in percent (NaN when none was compared) */
  mismatchPct: number;
  /** mirrored requests not compared, by reason (not_compared.*) */
  notCompared: number;
  compare?: CompareMode;
  /** copies whose two answers are known, by side in error */
  pairs: Pairs;
  /** pairs answered without error on both sides and compared, of which `pairMismatches` differ */
  pairCompared: number;
  pairMismatches: number;
  /**
   * The pairs' latency difference d = dark − live in milliseconds, as signed bins sorted by
   * lower bound (the "dark faster by" bins mirrored below 0), and how many pairs have one.
   */
  diff: Latency;
  /** requests turned away by the filter's own limits (CAPPED), and those plus the copies */
  capped: number;
  sampled: number;
  /** this target is the baseline (a second live instance) of other targets */
  isBaseline: boolean;
  /** a candidate's baseline target: its name and its pairs' latency differences */
  baseline?: { target: string; diff: Latency };
}

/** Where the numbers came from. */
export type Source =
  | {
      kind: "admin";
      /** Envoy admin URLs, merged */
      admins: string[];
      time: Date;
    }
  | {
      kind: "prometheus";
      url: string;
      /** label matchers added to every query, as given ("" for none) */
      selector: string;
      /** the PromQL range: the report covers (time - window, time] */
      window: string;
      time: Date;
    };

/** One report's input: the source and its targets, sorted by name. */
export interface Snapshot {
  source: Source;
  targets: TargetStats[];
}

/** A target's name in the metrics (the mirror_target label) for a cluster name. */
export function targetName(cluster: string): string {
  return tagValue(cluster);
}

const sumKeys = (c: Counts, keys: readonly string[]) =>
  keys.reduce((n, k) => n + (c[k] ?? 0), 0);

/** One side's figures from the counts and its latency. */
export function sideOf(
  counts: Counts,
  side: "live" | "dark",
  latency: Latency,
): Side {
  const classes = Object.fromEntries(
    CLASSES.map((c) => [c, counts[`${side}.${c}`] ?? 0]),
  ) as Record<ResponseClass, number>;
  const total = sumKeys(classes, CLASSES);
  const errors = sumKeys(classes, ERROR_CLASSES);
  return {
    classes,
    total,
    errors,
    errorPct: total === 0 ? NaN : (100 * errors) / total,
    latency,
  };
}

/**
 * The signed bins of d = dark − live from the two unsigned histograms: "dark slower by" as they
 * are, "dark faster by" mirrored below 0 ([a, a + w] → [−a − w, −a]); sorted.
 */
export function signedBins(
  slower: readonly Bucket[],
  faster: readonly Bucket[],
): Bucket[] {
  return [
    ...faster.map((b) => ({
      lower: b.width === 0 && b.lower === 0 ? 0 : -(b.lower + b.width),
      width: b.width,
      count: b.count,
    })),
    ...slower.map((b) => ({ ...b })),
  ].sort((a, b) => a.lower - b.lower);
}

/** A target's figures from its counts and latencies (`diff`: the signed bins of d). */
export function targetStats(
  target: string,
  counts: Counts,
  latency: { live: Latency; dark: Latency; diff?: Latency },
  instances = 1,
): TargetStats {
  const skippedKeys = keysOf("skipped");
  const turnedAwayKeys = skippedKeys.filter(
    (k) => !(NOT_TURNED_AWAY as readonly string[]).includes(k.split(".")[1]),
  );
  const dispatchFailures = sumKeys(counts, keysOf("dispatch_failures"));
  const compared = sumKeys(counts, keysOf("compared"));
  const mismatches = compared - (counts["compared.match"] ?? 0);
  const pairCompared = sumKeys(counts, keysOf("pair_compared"));
  const pair = (k: string) => counts[`pairs.${k}`] ?? 0;
  const pairs = {
    bothOk: pair("both_ok"),
    darkError: pair("dark_error"),
    liveError: pair("live_error"),
    bothError: pair("both_error"),
    total: sumKeys(counts, keysOf("pairs")),
  };
  const capped = sumKeys(
    counts,
    CAPPED.map((r) => `skipped.${r}`),
  );
  return {
    target,
    instances,
    counts,
    copies: counts.copies ?? 0,
    inflight: counts.inflight ?? 0,
    skipped: sumKeys(counts, skippedKeys),
    dispatchFailures,
    turnedAway: sumKeys(counts, turnedAwayKeys) + dispatchFailures,
    live: sideOf(counts, "live", latency.live),
    dark: sideOf(counts, "dark", latency.dark),
    compared,
    mismatches,
    mismatchPct: compared === 0 ? NaN : (100 * mismatches) / compared,
    notCompared: sumKeys(counts, keysOf("not_compared")),
    pairs,
    pairCompared,
    pairMismatches: pairCompared - (counts["pair_compared.match"] ?? 0),
    diff: latency.diff ?? { ...NO_LATENCY, buckets: [] },
    capped,
    sampled: (counts.copies ?? 0) + capped,
    isBaseline: false,
  };
}

/**
 * Marks each baseline and gives each of its candidates the baseline's latency differences.
 * `baselineOf`: candidate → baseline target (mirror_baseline_info); `all`: every target the
 * source read, including baselines left out of `targets` by --target.
 */
export function linkBaselines(
  targets: readonly TargetStats[],
  baselineOf: ReadonlyMap<string, string>,
  all: readonly TargetStats[] = targets,
): void {
  const byName = new Map(all.map((t) => [t.target, t]));
  const baselines = new Set(baselineOf.values());
  for (const t of targets) {
    t.isBaseline = baselines.has(t.target) && !baselineOf.has(t.target);
    const b = baselineOf.get(t.target);
    if (b !== undefined && b !== t.target)
      t.baseline = {
        target: b,
        diff: byName.get(b)?.diff ?? { ...NO_LATENCY, buckets: [] },
      };
  }
}

/** The sum of several targets' counts. */
export function addCounts(all: readonly Counts[]): Counts {
  const out: Counts = {};
  for (const c of all)
    for (const [k, v] of Object.entries(c)) out[k] = (out[k] ?? 0) + v;
  return out;
}
