// The Prometheus source: the same figures over every sidecar that reports a target (optionally
// narrowed by label matchers), over a window, from Prometheus' HTTP API. Every query is evaluated
// at one time, so the figures agree with each other; each per-target figure is the expression of
// promql.ts that the gates run too. Counters are increase() over the window: Prometheus
// extrapolates them to the window's edges, so they are not whole numbers and may exceed the exact
// count by up to about scrape interval ÷ window (README).
import { SERIES, TAGS } from "../metrics.ts";
import { EXIT, ReportError } from "./exit.ts";
import { fetchText, httpUrl } from "./http.ts";
import {
  type Bucket,
  type Counts,
  type Latency,
  linkBaselines,
  NO_LATENCY,
  signedBins,
  type Snapshot,
  targetName,
  type TargetStats,
  targetStats,
} from "./model.ts";
import {
  baselineQuery,
  bucketsQuery,
  familyQueries,
  pairBucketsQuery,
  inflightQuery,
  instancesQuery,
  promString,
  type QueryScope,
  selector,
  targetQueries,
} from "./promql.ts";

/** The window when --window is not given: long enough to smooth a scrape or two, short enough
 * to judge the version running now. */
export const DEFAULT_WINDOW = "10m";

const DURATION = /^(?:\d+(?:ms|s|m|h|d|w|y))+$/;

/** A PromQL duration ("10m", "1h30m"), checked; throws a usage error otherwise. */
export function parseWindow(text: string): string {
  const t = text.trim();
  if (!DURATION.test(t) || !/[1-9]/.test(t))
    throw new ReportError(
      `--window: must be a Prometheus duration above 0 such as 10m, 1h or 90s, got "${text}"`,
      EXIT.usage,
    );
  return t;
}

const UNIT_SECONDS: Record<string, number> = {
  ms: 0.001,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 604800,
  y: 31536000,
};

/** A PromQL duration in seconds ("1h30m" → 5400). */
export function windowSeconds(window: string): number {
  let total = 0;
  for (const [, n, unit] of window.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g))
    total += Number(n) * UNIT_SECONDS[unit];
  return total;
}

const MATCHER =
  /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)/;

/**
 * Label matchers added to every query: `{namespace="shop",app=~"kitchen.*"}` (braces optional).
 * Returns each matcher as `name<op>"value"`; a usage error for anything else.
 */
export function parseSelector(text: string): string[] {
  let rest = text.trim();
  if (rest.startsWith("{") !== rest.endsWith("}"))
    throw new ReportError(
      `--selector: unbalanced braces in ${JSON.stringify(text)}`,
      EXIT.usage,
    );
  if (rest.startsWith("{")) rest = rest.slice(1, -1);
  const out: string[] = [];
  while (rest.trim() !== "") {
    const m = MATCHER.exec(rest);
    if (!m)
      throw new ReportError(
        `--selector: expected label matchers such as {namespace="shop",app=~"kitchen.*"}, got ${JSON.stringify(text)}`,
        EXIT.usage,
      );
    if (m[1] === TAGS.target || m[1] === "__name__")
      throw new ReportError(
        `--selector: ${m[1]} is chosen by the report${m[1] === TAGS.target ? " (use --target)" : ""}`,
        EXIT.usage,
      );
    out.push(`${m[1]}${m[2]}"${m[3]}"`);
    rest = rest.slice(m[0].length);
  }
  return out;
}

/** A time as RFC 3339 or Unix seconds. */
export function parseTime(text: string): Date {
  const t = text.trim();
  const d = /^\d+(\.\d+)?$/.test(t) ? new Date(Number(t) * 1000) : new Date(t);
  if (t === "" || Number.isNaN(d.getTime()))
    throw new ReportError(
      `--at: must be a time such as 2025-06-01T12:00:00Z or Unix seconds, got "${text}"`,
      EXIT.usage,
    );
  return d;
}

/** A Prometheus address as `http://host:port[/path]`. */
export const prometheusUrl = (given: string) => httpUrl(given, "--prometheus");

/** One sample of an instant query's answer. */
export interface Sample {
  metric: Record<string, string>;
  value: number;
}

/** A number as Prometheus writes it, in a value or an `le` label ("+Inf" is not one to Number()). */
export const promNumber = (text: string | undefined) =>
  text === "+Inf" ? Infinity : text === "-Inf" ? -Infinity : Number(text);

/** Evaluates `query` at `time` (Prometheus' /api/v1/query); a vector or a scalar as samples. */
export async function instantQuery(
  url: string,
  query: string,
  time: Date,
  timeoutMs = 30_000,
): Promise<Sample[]> {
  const params = new URLSearchParams({
    query,
    time: (time.getTime() / 1000).toFixed(3),
  });
  const { status, text } = await fetchText(
    url,
    `/api/v1/query?${params}`,
    "Prometheus",
    timeoutMs,
  );
  let json: {
    status?: string;
    error?: string;
    data?: { resultType?: string; result?: unknown };
  };
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    throw new ReportError(
      `${url}/api/v1/query answered ${status} without JSON: is --prometheus Prometheus' address? (${text.trim().slice(0, 80)})`,
      EXIT.noReport,
    );
  }
  // Prometheus answers a refused query with 400 or 422 and the reason in "error".
  if (json.status !== "success" || !json.data)
    throw new ReportError(
      `Prometheus at ${url} refused a query (${status}: ${json.error ?? text.trim().slice(0, 200)}): ${query}`,
      EXIT.noReport,
    );
  const { resultType, result } = json.data;
  if (resultType === "scalar") {
    const [, v] = result as [number, string];
    return [{ metric: {}, value: promNumber(v) }];
  }
  if (resultType !== "vector")
    throw new ReportError(
      `Prometheus at ${url} answered a ${resultType} to ${query}`,
      EXIT.noReport,
    );
  return (
    result as Array<{ metric: Record<string, string>; value: [number, string] }>
  ).map((r) => ({ metric: r.metric, value: promNumber(r.value[1]) }));
}

/** The single value of a query without labels; NaN when it has none. */
const single = (samples: Sample[]) =>
  samples.length === 0 ? NaN : samples[0].value;

async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

/** What the Prometheus source needs. */
export interface PrometheusOptions {
  url: string;
  /** label matchers added to every query, as --selector takes them */
  selector?: string;
  /** [10m] */
  window?: string;
  /** the end of the window [now] */
  time?: Date;
  /** only this target (cluster name or its label value) */
  target?: string;
}

const SERIES_OF = new Map(
  SERIES.filter((s) => s.perTarget && s.kind === "counter").map((s) => [
    `${s.family}|${s.label ? (s.value ?? "") : ""}`,
    s.key,
  ]),
);

/** Cumulative `le` buckets (µs) → bins in ms, the +Inf bucket as a bin at the last bound. */
function binsOf(cumulative: Array<{ le: number; count: number }>): Bucket[] {
  const sorted = [...cumulative].sort((a, b) => a.le - b.le);
  const out: Bucket[] = [];
  let lower = 0;
  let below = 0;
  for (const { le, count } of sorted) {
    const n = Math.max(0, count - below);
    const upper = Number.isFinite(le) ? le / 1000 : lower;
    out.push({ lower, width: upper - lower, count: n });
    below = Math.max(below, count);
    lower = upper;
  }
  return out;
}

/** Reads the targets' figures over the window ending at `time`, summed over every sidecar. */
export async function readPrometheus(o: PrometheusOptions): Promise<Snapshot> {
  const url = prometheusUrl(o.url);
  const matchers = o.selector ? parseSelector(o.selector) : [];
  const window = parseWindow(o.window ?? DEFAULT_WINDOW);
  const time = o.time ?? new Date();
  const q = (query: string) => instantQuery(url, query, time);
  const all: QueryScope = { matchers, window };
  const scope: QueryScope =
    o.target === undefined
      ? all
      : { ...all, target: promString(targetName(o.target)) };

  const families = familyQueries(scope);
  const [
    familyResults,
    inflight,
    instances,
    liveBuckets,
    darkBuckets,
    baselines,
  ] = await Promise.all([
    mapLimited(families, 8, (f) => q(f.query)),
    q(inflightQuery(scope)),
    q(instancesQuery(scope)),
    q(bucketsQuery("live", scope)),
    q(bucketsQuery("dark", scope)),
    q(baselineQuery(all)),
  ]);
  // a candidate's baseline, read whole even when --target names only the candidate
  const baselineOf = new Map<string, string>();
  for (const b of baselines) {
    const c = b.metric[TAGS.target];
    const base = b.metric[TAGS.baseline];
    if (c !== undefined && base !== undefined && b.value > 0)
      baselineOf.set(c, base);
  }

  const counts = new Map<string, Counts>();
  const countsOf = (t: string) => {
    let c = counts.get(t);
    if (!c) counts.set(t, (c = {}));
    return c;
  };
  families.forEach((f, i) => {
    for (const s of familyResults[i]) {
      const t = s.metric[TAGS.target];
      const key = SERIES_OF.get(
        `${f.family}|${f.label ? (s.metric[f.label] ?? "") : ""}`,
      );
      if (t === undefined || key === undefined) continue;
      const c = countsOf(t);
      c[key] = (c[key] ?? 0) + s.value;
    }
  });
  for (const s of inflight) {
    const t = s.metric[TAGS.target];
    if (t !== undefined && counts.has(t)) countsOf(t).inflight = s.value;
  }
  const names = [...counts.keys()].sort();
  if (names.length === 0) throw await nothingFound(url, o, all, time);
  const wanted = new Set(names);
  for (const t of names) {
    const b = baselineOf.get(t);
    if (b !== undefined) wanted.add(b);
  }
  const [slowerBuckets, fasterBuckets] = await Promise.all(
    (["slower", "faster"] as const).map((k) =>
      q(pairBucketsQuery(k, { ...all, target: undefined })).then((r) =>
        r.filter((x) => wanted.has(x.metric[TAGS.target])),
      ),
    ),
  );

  const buckets = (samples: Sample[], t: string) =>
    binsOf(
      samples
        .filter((s) => s.metric[TAGS.target] === t)
        .map((s) => ({ le: promNumber(s.metric.le), count: s.value })),
    );
  const judged = await mapLimited([...wanted].sort(), 4, async (t) => {
    const queries = Object.entries(
      targetQueries({ ...all, target: promString(t) }),
    );
    const values = Object.fromEntries(
      await mapLimited(queries, 8, async ([name, query]) => [
        name,
        single(await q(query)),
      ]),
    ) as Record<string, number>;
    const latency = (side: "live" | "dark", bins: Bucket[]): Latency => {
      const count = values[`${side}.count`];
      return Number.isNaN(count) || count === 0
        ? { ...NO_LATENCY, buckets: bins }
        : {
            count,
            mean: values[`${side}.mean`],
            p50: values[`${side}.p50`],
            p95: values[`${side}.p95`],
            p99: values[`${side}.p99`],
            buckets: bins,
          };
    };
    const n = instances.find((s) => s.metric[TAGS.target] === t)?.value ?? 0;
    const diffBins = signedBins(
      buckets(slowerBuckets, t),
      buckets(fasterBuckets, t),
    );
    const diffCount = values["diff.count"];
    const stats: TargetStats = targetStats(
      t,
      counts.get(t) ?? {},
      {
        live: latency("live", buckets(liveBuckets, t)),
        dark: latency("dark", buckets(darkBuckets, t)),
        diff:
          Number.isNaN(diffCount) || diffCount === 0
            ? { ...NO_LATENCY, buckets: diffBins }
            : {
                count: diffCount,
                mean: NaN,
                p50: values["diff.p50"],
                p95: values["diff.p95"],
                p99: values["diff.p99"],
                buckets: diffBins,
              },
      },
      n,
    );
    // The judged figures are the expressions the gates evaluate (promql.ts), not sums made here.
    const or0 = (v: number) => (Number.isNaN(v) ? 0 : v);
    stats.copies = or0(values.copies);
    stats.turnedAway = or0(values.turnedAway);
    stats.dispatchFailures = or0(values.dispatchFailures);
    stats.compared = or0(values.compared);
    stats.mismatchPct = values.mismatchPct;
    for (const side of ["live", "dark"] as const) {
      stats[side].total = or0(values[`${side}.answers`]);
      stats[side].errorPct = values[`${side}.errorPct`];
    }
    return stats;
  });
  const targets = judged.filter((t) => names.includes(t.target));
  linkBaselines(targets, baselineOf, judged);
  return {
    source: {
      kind: "prometheus",
      url,
      selector: matchers.length ? `{${matchers.join(",")}}` : "",
      window,
      time,
    },
    targets,
  };
}

/** Why there is nothing to report, as precisely as Prometheus can tell. */
async function nothingFound(
  url: string,
  o: PrometheusOptions,
  all: QueryScope,
  time: Date,
): Promise<ReportError> {
  const where = `Prometheus at ${url}${all.matchers?.length ? ` (${selector(all)})` : ""}`;
  if (o.target !== undefined) {
    const known = (
      await instantQuery(
        url,
        `count by (${TAGS.target}) (last_over_time(mirror_copies_total${selector(all)}[${all.window}]))`,
        time,
      )
    ).map((s) => s.metric[TAGS.target]);
    if (known.length > 0)
      return new ReportError(
        `no series for target "${o.target}" in the ${all.window} before ${time.toISOString()} at ${where} (targets: ${known.sort().join(", ")})`,
        EXIT.noReport,
      );
  }
  const untagged = await instantQuery(
    url,
    `count({__name__=~"mirror_copies_total_.+"})`,
    time,
  );
  if (untagged.length > 0 && untagged[0].value > 0)
    return new ReportError(
      `${where} has the mirror's metrics without labels (mirror_copies_total_mirror_target_…): the sidecars' Envoy lacks the stats tags — give it the stats_config of envoy/envoy.yaml, or in Istio the pod annotations of istio/kitchen.yaml (README, "Stats")`,
      EXIT.noReport,
    );
  return new ReportError(
    `${where} has no mirror_copies_total series in the ${all.window} before ${time.toISOString()}: is it scraping the sidecars' /stats/prometheus, and is the mirror filter loaded?`,
    EXIT.noReport,
  );
}
