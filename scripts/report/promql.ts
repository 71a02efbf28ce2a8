// The PromQL of the report: one builder per figure, used by the report's Prometheus source
// (prometheus.ts) and by the gates (scripts/gates.ts renders the same expressions into the
// recording rules, the Argo Rollouts AnalysisTemplate and the Flagger MetricTemplates). Every
// expression sums over every series that matches — every sidecar (instance) that reports the
// target — and reads counters through increase() over the window, histograms through
// histogram_quantile() on the microsecond buckets, means through _sum / _count.
import { BASELINE_INFO, FAMILY_SPECS, series, TAGS } from "../metrics.ts";
import { CAPPED, ERROR_CLASSES, NOT_TURNED_AWAY } from "./model.ts";
import {
  type CheckId,
  isRelative,
  type Objectives,
  type RelativeId,
  SHIFT_QUANTILE,
} from "./objectives.ts";
import { zOf } from "./stats.ts";

/** What an expression covers. */
export interface QueryScope {
  /**
   * The mirror_target value as it goes between the quotes of the matcher: an escaped name
   * (`promString`), or a template placeholder in the gates. Unset: every target (then the
   * report's family queries group by mirror_target).
   */
  target?: string;
  /** More label matchers, each `name="value"` (or =~, !=, !~) */
  matchers?: readonly string[];
  /** The range of increase(): a PromQL duration ("10m"), or a placeholder */
  window: string;
  /** Keep these labels (`sum by (…)`): the recording rules keep mirror_target */
  by?: readonly string[];
}

export type SideName = "live" | "dark";

/** `s` as the inside of a PromQL double-quoted string. */
export function promString(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

const family = (key: string) => series(key).family;
const COPIES = family("copies");
const SKIPPED = family("skipped.method");
const DISPATCH_FAILURES = family("dispatch_failures.other");
const COMPARED = family("compared.match");
const responses = (side: SideName) => family(`${side}.2xx`);
const duration = (side: SideName) => family(`${side}.duration`);
const PAIRS = family("pairs.both_ok");
const PAIR_COMPARED = family("pair_compared.match");
const SLOWER = family("pair.slower");
const FASTER = family("pair.faster");

/** `{mirror_target="T",namespace="shop",…extra}`, or "" when there is no matcher */
export function selector(s: QueryScope, extra: readonly string[] = []): string {
  const m = [
    ...(s.target !== undefined ? [`${TAGS.target}="${s.target}"`] : []),
    ...(s.matchers ?? []),
    ...extra,
  ];
  return m.length ? `{${m.join(",")}}` : "";
}

const increase = (name: string, s: QueryScope, extra: readonly string[] = []) =>
  `increase(${name}${selector(s, extra)}[${s.window}])`;
/** `sum(inner)`, or `sum by (…) (inner)` with the scope's labels and `extraBy`. */
const sum = (s: QueryScope, inner: string, extraBy: readonly string[] = []) => {
  const by = [...(s.by ?? []), ...extraBy];
  return by.length ? `sum by (${by.join(", ")}) (${inner})` : `sum(${inner})`;
};
const total = (name: string, s: QueryScope, extra: readonly string[] = []) =>
  sum(s, increase(name, s, extra));
const oneOf = (label: string, values: readonly string[]) =>
  `${label}=~"${values.join("|")}"`;
/**
 * `part`, or 0 where it has no series but `whole` has: an Envoy exports every series of the
 * filter from the start, but a series can be missing (stats eviction, relabelling), and a sum
 * over nothing is no value at all.
 */
const orZero = (part: string, whole: string) => `(${part} or 0 * ${whole})`;

/** Copies dispatched. */
export const copies = (s: QueryScope) => total(COPIES, s);

/** Copies Envoy refused to send, all reasons (0 when the target has copies but no such series). */
export const dispatchFailures = (s: QueryScope) =>
  orZero(total(DISPATCH_FAILURES, s), copies(s));

/**
 * Requests skipped for any reason but sampling and match, plus dispatch failures (but those of
 * the reasons in `exceptFailures`).
 */
export const turnedAway = (
  s: QueryScope,
  exceptFailures: readonly string[] = [],
) => {
  const skipped = total(SKIPPED, s, [
    `${TAGS.reason}!~"${NOT_TURNED_AWAY.join("|")}"`,
  ]);
  const failed = total(
    DISPATCH_FAILURES,
    s,
    exceptFailures.length
      ? [`${TAGS.reason}!~"${exceptFailures.join("|")}"`]
      : [],
  );
  return `(${skipped} + ${failed} or ${skipped} or ${failed})`;
};

/** Answers of one side, any class. */
export const answers = (side: SideName, s: QueryScope) =>
  total(responses(side), s);

/** 5xx and resets per answer of one side, in percent. */
export const errorPct = (side: SideName, s: QueryScope) =>
  `100 * ${orZero(total(responses(side), s, [oneOf(TAGS.class, ERROR_CLASSES)]), answers(side, s))} / ${answers(side, s)}`;

/** Compared pairs, any result. */
export const compared = (s: QueryScope) => total(COMPARED, s);

/** Compared pairs whose result is not "match", per compared pair, in percent. */
export const mismatchPct = (s: QueryScope) =>
  `100 * ${orZero(total(COMPARED, s, [`${TAGS.result}!="match"`]), compared(s))} / ${compared(s)}`;

/** Latency samples of one side. */
export const latencyCount = (side: SideName, s: QueryScope) =>
  total(`${duration(side)}_count`, s);

/** Mean latency of one side, in milliseconds (the histograms are in microseconds). */
export const meanMs = (side: SideName, s: QueryScope) =>
  `${total(`${duration(side)}_sum`, s)} / ${latencyCount(side, s)} / 1000`;

/** The q-quantile of one side's latency, in milliseconds. */
export const quantileMs = (side: SideName, q: number, s: QueryScope) =>
  `histogram_quantile(${q}, ${sum(s, increase(`${duration(side)}_bucket`, s), ["le"])}) / 1000`;

// ---------------------------------------------------------------------------------------------
// Pairs.

/** Pairs whose two answers are known, all of them or of one kind (mirror_pair). */
export const pairs = (s: QueryScope, kind?: string) =>
  kind === undefined
    ? total(PAIRS, s)
    : orZero(total(PAIRS, s, [`${TAGS.pair}="${kind}"`]), total(PAIRS, s));

/** Pairs both sides answered without error, compared; of which not "match" (`differing`). */
export const pairCompared = (s: QueryScope, differing = false) =>
  differing
    ? orZero(
        total(PAIR_COMPARED, s, [`${TAGS.result}!="match"`]),
        total(PAIR_COMPARED, s),
      )
    : total(PAIR_COMPARED, s);

/** Pairs with a latency difference (both histograms' counts). */
export const diffCount = (s: QueryScope) =>
  `(${total(`${SLOWER}_count`, s)} + ${total(`${FASTER}_count`, s)})`;

/** Each family's cumulative buckets, by the scope's labels and le. */
const pairBuckets = (name: string, s: QueryScope, extra: string[] = []) =>
  sum(s, increase(`${name}_bucket`, s, extra), ["le"]);

/**
 * The signed histogram of d = dark − live, in microseconds, as cumulative buckets: below 0 the
 * "dark faster by" buckets mirrored (at le = −b: faster pairs minus those faster by at most b),
 * at 0 every faster pair, above 0 every faster pair plus the "dark slower by" buckets, +Inf all
 * pairs. histogram_quantile reads it as one histogram.
 */
export function signedDiffBuckets(s: QueryScope): string {
  const on = `on (${(s.by ?? []).join(", ")})`;
  // either family may lack series (stats eviction, relabelling): its count is then 0
  const faster = total(`${FASTER}_count`, s);
  const slower = total(`${SLOWER}_count`, s);
  const nf = `(${faster} or 0 * ${slower})`;
  const ns = `(${slower} or 0 * ${faster})`;
  const finite = ['le!="+Inf"'];
  const below = `label_replace(${nf} - ${on} group_right ${pairBuckets(FASTER, s, finite)}, "le", "-$1", "le", "(.+)")`;
  const zero = `label_replace(${nf}, "le", "0", "__name__", ".*")`;
  const above = `${nf} + ${on} group_right ${pairBuckets(SLOWER, s, finite)}`;
  const all = `label_replace(${nf} + ${ns}, "le", "+Inf", "__name__", ".*")`;
  return `(${below} or ${zero} or ${above} or ${all})`;
}

/** The q-quantile of d = dark − live, in milliseconds (histogram_quantile's interpolation). */
export const diffQuantileMs = (q: number | string, s: QueryScope) =>
  `histogram_quantile(${q}, ${signedDiffBuckets(s)}) / 1000`;

/** The value a check judges. */
export function checkValue(id: CheckId, s: QueryScope): string {
  switch (id) {
    case "copies":
      return copies(s);
    case "max_dispatch_failures":
      return dispatchFailures(s);
    case "max_dark_mean_ms":
      return meanMs("dark", s);
    case "max_dark_p95_ms":
      return quantileMs("dark", 0.95, s);
    case "max_dark_p99_ms":
      return quantileMs("dark", 0.99, s);
    case "max_dark_error_pct":
      return errorPct("dark", s);
    case "max_mismatch_pct":
      return mismatchPct(s);
    case "sample_bias":
      return cappedPct(s);
    case "latency_shift_p50":
      return diffQuantileMs(0.5, s);
    case "latency_shift_p95":
      return diffQuantileMs(0.95, s);
    case "latency_shift_p99":
      return diffQuantileMs(0.99, s);
    case "dark_error_excess":
      return `100 * (${pairs(s, "dark_error")} - ${pairs(s, "live_error")}) / ${pairs(s)}`;
    case "pair_mismatches":
      return `100 * ${pairCompared(s, true)} / ${pairCompared(s)}`;
  }
}

/** Sampled requests the filter's own limits turned away, per sampled request, in percent. */
export const cappedPct = (s: QueryScope) => {
  const capped = orZero(
    total(SKIPPED, s, [oneOf(TAGS.reason, CAPPED)]),
    copies(s),
  );
  // no value when nothing was sampled (not 0 / 0)
  return `100 * ${capped} / ((${copies(s)} + ${capped}) > 0)`;
};

/** The samples a check is judged on (what min_samples is compared with). */
export function checkSamples(id: CheckId, s: QueryScope): string {
  switch (id) {
    case "copies":
      return turnedAway(s);
    case "max_dispatch_failures":
      return `${copies(s)} + ${dispatchFailures(s)}`;
    case "max_dark_mean_ms":
    case "max_dark_p95_ms":
    case "max_dark_p99_ms":
      return latencyCount("dark", s);
    case "max_dark_error_pct":
      return answers("dark", s);
    case "max_mismatch_pct":
      return compared(s);
    case "sample_bias":
      return copies(s);
    case "latency_shift_p50":
    case "latency_shift_p95":
    case "latency_shift_p99":
      return diffCount(s);
    case "dark_error_excess":
      return pairs(s);
    case "pair_mismatches":
      return pairCompared(s);
  }
}

/** A number as PromQL writes it. */
const lit = (x: number) => String(Number(x.toPrecision(12)));

/**
 * A relative check's outcome as a gate reads it, for one target: 1 when it passes, -1 when it
 * fails, 0 when there is not enough data (the report's three outcomes), from bounds PromQL can
 * compute:
 * - latency shift at q: histogram_quantile of the signed dark − live histogram at
 *   q − z·√(q(1−q)/n) and q + z·√(q(1−q)/n) + 1/n — the normal approximation of the order
 *   statistics' ranks (beyond 1: no upper bound, as the report has none), interpolated
 *   inside a bucket where the report takes the bucket's edge — against max(pct of live's
 *   q-quantile, floor), live's quantile taken at its estimate (the report bounds it too); p99
 *   only from min_pairs_p99 pairs on;
 * - dark error excess: the adjusted Wald interval for paired proportions of Agresti and Min
 *   (2005) — half a pair added to each cell — where the report uses Newcombe's;
 * - pair mismatches: Wilson's interval with continuity correction where the report uses
 *   Clopper–Pearson's;
 * - sample bias: 1 within max_capped_pct, else 0; above it, the latency and error checks' 1
 *   becomes 0.
 */
export function relativeGateQuery(
  id: RelativeId,
  s: QueryScope,
  o: Objectives,
): string {
  const zf = zOf(o.fail_confidence);
  const zp = zOf(o.pass_confidence);
  const code = (
    lower: string,
    failAbove: string,
    upper: string,
    passAtMost: string,
  ) =>
    `((${lower}) > bool ${failAbove}) * -1 + ((${upper}) <= bool ${passAtMost})`;
  // a 1 becomes 0 when the sample is biased (a gate judges one target: scalar() is its value;
  // nothing sampled is no bias)
  const biasGuard = (c: string) =>
    o.max_capped_pct === null
      ? c
      : `clamp_max(${c}, 1 - scalar(${cappedPct(s)} > bool ${lit(o.max_capped_pct)} or vector(0)))`;
  switch (id) {
    case "sample_bias":
      return `(${cappedPct(s)}) <= bool ${lit(o.max_capped_pct ?? 100)}`;
    case "dark_error_excess": {
      const n = `(${pairs(s)} + 2)`;
      const b = pairs(s, "dark_error");
      const c = pairs(s, "live_error");
      const theta = `(${b} - ${c}) / ${n}`;
      const se = `sqrt((${b} + ${c} + 1 - (${b} - ${c}) ^ 2 / ${n}) / ${n} ^ 2)`;
      const t = lit((o.max_dark_error_excess_pct ?? 0) / 100);
      return biasGuard(
        code(
          `${theta} - ${lit(zf)} * ${se}`,
          t,
          `${theta} + ${lit(zp)} * ${se}`,
          t,
        ),
      );
    }
    case "pair_mismatches": {
      const k = pairCompared(s, true);
      const m = pairCompared(s);
      const wilson = (z: number, sign: 1 | -1) => {
        const z2 = lit(z * z);
        const one = sign === 1 ? "+" : "-";
        const inner =
          sign === 1
            ? `${z2} + 2 - 1 / ${m} + 4 * (${k} / ${m}) * (${m} - ${k} - 1)`
            : `${z2} - 2 - 1 / ${m} + 4 * (${k} / ${m}) * (${m} - ${k} + 1)`;
        return `(2 * ${k} + ${z2} ${one} 1 ${one} ${lit(z)} * sqrt(${inner})) / (2 * (${m} + ${z2}))`;
      };
      const lower = `(${wilson(zf, -1)} and on() (${k} > 0)) or (0 * ${m})`;
      const upper = `(${wilson(zp, 1)} and on() (${k} < ${m})) or (0 * ${m} + 1)`;
      const t = lit((o.max_pair_mismatch_pct ?? 0) / 100);
      return code(lower, t, upper, t);
    }
    default: {
      const q = SHIFT_QUANTILE[id];
      const n = diffCount(s);
      const spread = `sqrt(${lit(q * (1 - q))} / ${n})`;
      const at = (phi: string) =>
        `histogram_quantile(scalar(${phi}), ${signedDiffBuckets(s)}) / 1000`;
      const pct = o.max_latency_shift_pct;
      const floor = lit(o.max_latency_shift_floor_ms ?? 0);
      const tolerance =
        pct === null
          ? `(0 * ${n} + ${floor})`
          : `clamp_min(${lit(pct / 100)} * ${quantileMs("live", q, s)}, ${floor})`;
      // the ranks of the order statistics, approximated: l ≈ nq − z√(nq(1−q)), u ≈ that + 1
      const judged = biasGuard(
        code(
          at(`${lit(q)} - ${lit(zf)} * ${spread}`),
          tolerance,
          at(`${lit(q)} + ${lit(zp)} * ${spread} + 1 / ${n}`),
          tolerance,
        ),
      );
      return id === "latency_shift_p99" && o.min_pairs_p99 !== null
        ? `((${judged}) and on() (${n} >= ${o.min_pairs_p99})) or (0 * ${n})`
        : judged;
    }
  }
}

/**
 * A check as a gate evaluates it. An absolute check: its value, or nothing (an empty result:
 * Argo's Inconclusive, Flagger's "no values found") while the report would say "not enough
 * data" — fewer than min_samples samples (for "copies": no copy and fewer than min_samples
 * requests turned away), unless a limit of 0 is already broken; dispatch failures are judged on
 * any number. A relative check: its outcome, 1, 0 or -1 (relativeGateQuery).
 */
export function gateQuery(
  id: CheckId,
  s: QueryScope,
  o: Objectives,
  limit: number,
): string {
  if (isRelative(id)) return relativeGateQuery(id, s, o);
  const value = checkValue(id, s);
  const enough = `(${checkSamples(id, s)}) >= ${o.min_samples}`;
  switch (id) {
    case "max_dispatch_failures":
      return value;
    case "copies":
      return `(${value}) and on() ((${value}) >= 1 or on() ${enough})`;
    default:
      return limit === 0
        ? `(${value}) and on() (${enough} or on() (${value}) > 0)`
        : `(${value}) and on() (${enough})`;
  }
}

/** The family queries of the report: each family's series summed by target and label. */
export function familyQueries(s: QueryScope): Array<{
  family: string;
  label?: string;
  query: string;
}> {
  return FAMILY_SPECS.filter((f) => f.kind === "counter").map((f) => {
    const by = [TAGS.target, ...(f.label ? [f.label] : [])].join(", ");
    return {
      family: f.family,
      label: f.label,
      query: `sum by (${by}) (${increase(f.family, s)})`,
    };
  });
}

/** The in-flight gauge, by target, at the report's time. */
export const inflightQuery = (s: QueryScope) =>
  `sum by (${TAGS.target}) (${series("inflight").family}${selector(s)})`;

/** How many instances (sidecars) reported each target within the window. */
export const instancesQuery = (s: QueryScope) =>
  `count by (${TAGS.target}) (count by (${TAGS.target}, instance) (last_over_time(${COPIES}${selector(s)}[${s.window}])))`;

/** One side's latency buckets, by target and le (for the text histogram). */
export const bucketsQuery = (side: SideName, s: QueryScope) =>
  `sum by (${TAGS.target}, le) (${increase(`${duration(side)}_bucket`, s)})`;

/** The pair histograms' buckets ("slower" or "faster"), by target and le. */
export const pairBucketsQuery = (kind: "slower" | "faster", s: QueryScope) =>
  `sum by (${TAGS.target}, le) (${increase(`${kind === "slower" ? SLOWER : FASTER}_bucket`, s)})`;

/** Each candidate's baseline target within the window. */
export const baselineQuery = (s: QueryScope) =>
  `max by (${TAGS.target}, ${TAGS.baseline}) (last_over_time(${BASELINE_INFO.family}${selector(s)}[${s.window}]))`;

/** Every per-target figure the report reads, by name (the numbers of its table and checks). */
export function targetQueries(s: QueryScope): Record<string, string> {
  const out: Record<string, string> = {
    copies: copies(s),
    turnedAway: turnedAway(s),
    dispatchFailures: dispatchFailures(s),
    compared: compared(s),
    mismatchPct: mismatchPct(s),
  };
  for (const side of ["live", "dark"] as const) {
    out[`${side}.answers`] = answers(side, s);
    out[`${side}.errorPct`] = errorPct(side, s);
    out[`${side}.count`] = latencyCount(side, s);
    out[`${side}.mean`] = meanMs(side, s);
    out[`${side}.p50`] = quantileMs(side, 0.5, s);
    out[`${side}.p95`] = quantileMs(side, 0.95, s);
    out[`${side}.p99`] = quantileMs(side, 0.99, s);
  }
  out["diff.count"] = diffCount(s);
  for (const q of [0.5, 0.95, 0.99])
    out[`diff.p${Math.round(q * 100)}`] = diffQuantileMs(q, s);
  return out;
}
