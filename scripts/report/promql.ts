// The PromQL of the report: one builder per figure, used by the report's Prometheus source
// (prometheus.ts) and by the gates (scripts/gates.ts renders the same expressions into the
// recording rules, the Argo Rollouts AnalysisTemplate and the Flagger MetricTemplates). Every
// expression sums over every series that matches — every sidecar (instance) that reports the
// target — and reads counters through increase() over the window, histograms through
// histogram_quantile() on the microsecond buckets, means through _sum / _count.
import { FAMILY_SPECS, series, TAGS } from "../metrics.ts";
import { ERROR_CLASSES, NOT_TURNED_AWAY } from "./model.ts";
import type { CheckId, Objectives } from "./objectives.ts";

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

/** Requests skipped for any reason but sampling and match, plus dispatch failures. */
export const turnedAway = (s: QueryScope) => {
  const skipped = total(SKIPPED, s, [
    `${TAGS.reason}!~"${NOT_TURNED_AWAY.join("|")}"`,
  ]);
  const failed = total(DISPATCH_FAILURES, s);
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
  }
}

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
  }
}

/**
 * A check as a gate evaluates it: its value, or nothing (an empty result: Argo's Inconclusive,
 * Flagger's "no values found") while the report would say "not enough data" — fewer than
 * min_samples samples (for "copies": no copy and fewer than min_samples requests turned away),
 * unless a limit of 0 is already broken. Dispatch failures are judged on any number.
 */
export function gateQuery(
  id: CheckId,
  s: QueryScope,
  o: Objectives,
  limit: number,
): string {
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
  return out;
}
