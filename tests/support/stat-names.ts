/**
 * The filter's series as a test's Envoy shows them: stat names under /stats and sample keys of
 * /stats/prometheus, from scripts/metrics.ts.
 */
import {
  envoyStatName,
  keysOf,
  promLabels,
  series,
  SERIES,
} from "../../scripts/metrics.ts";

/** The filter's stat under /stats for a target cluster and a series key (scripts/metrics.ts). */
export function statName(cluster: string, key: string): string {
  return envoyStatName(cluster, key);
}

/**
 * The same series in `/stats/prometheus` (with the shipped stats_config), as `Envoy.prometheus()`
 * keys it: `family{label="value",…}` with the labels sorted by name.
 */
export function prometheusKey(cluster: string, key: string): string {
  return promKey(series(key).family, promLabels(cluster, key));
}

/** `family{a="x",b="y"}` with labels sorted by name (`{}` when none). */
export function promKey(
  family: string,
  labels: Record<string, string>,
): string {
  const inner = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(",");
  return `${family}{${inner}}`;
}

/** Every per-request outcome of a target: exactly one per request the filter saw. */
export const OUTCOME_KEYS = [
  "copies",
  ...keysOf("skipped"),
  ...keysOf("dispatch_failures"),
];
/** Every per-target counter (outcomes, dark and live classes, comparisons). */
export const COUNTER_KEYS = SERIES.filter(
  (x) => x.kind === "counter" && x.perTarget,
).map((x) => x.key);
