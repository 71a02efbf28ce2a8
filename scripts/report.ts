// `npm run report`: reads the mirror filter's stats from Envoy's admin API and prints, per target,
// the live and dark sides of the mirrored requests side by side (requests, error rate, mean and
// p50/p95/p99 latency, status and body mismatch rates, a text histogram of both latency
// distributions), then a verdict against the dark version's objectives. The exit code is meant to
// gate a promotion pipeline (see USAGE). `runReport` does the same for other scripts (the demo).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parseStatName, tagValue } from "./metrics.ts";

/** What `--help` prints. */
export const USAGE = `usage: npm run report -- [--admin URL] [--objectives FILE] [--target T] [--watch]
                         [--interval SECONDS] [--settle SECONDS]

Reads the mirror filter's stats from Envoy's admin API (/stats?format=json) and prints, for each
target, the live and dark sides of the mirrored requests side by side, then a verdict against the
dark version's objectives.

  --admin URL          Envoy's admin address [http://127.0.0.1:9901]
  --objectives FILE    a JSON object overriding any of the objectives below
  --target T           only this target: its cluster name, or its name in the stats
  --watch              print the report again every --interval seconds, until Ctrl-C
  --interval SECONDS   [5]
  --settle SECONDS     wait up to this long for Envoy's latency histograms to catch up with its
                       counters (Envoy merges histograms at each stats flush, every 5 s by
                       default) [6]; 0 reports at once
  -h, --help

Live latency runs from the live request's start to the end of its response, dark latency from
the copy's dispatch to the dark answer; error rates count 5xx and resets (or timeouts) per
response; mismatch rates are per compared request (a live status in compare.ignore_statuses is
not compared).

Objectives, with their defaults; each limit is strict (value < limit), null turns it off, and each
is judged only on at least min_samples samples:
  {
    "max_dark_mean_ms": 50,    dark latency (dispatch -> dark answer), mean
    "max_dark_p95_ms": 100,    ... 95th percentile
    "max_dark_p99_ms": null,   ... 99th percentile
    "max_dark_error_pct": 1,   dark 5xx, resets and timeouts per dark answer
    "max_mismatch_pct": 1,     status and body mismatches per compared request
    "min_samples": 20          latency samples, dark answers, compared requests
  }

Exit codes:
  0  every objective passes on every target
  1  an objective fails (the verdict names it)
  2  not enough data: an objective has fewer than min_samples samples, and none fails
  3  no report: the admin is unreachable or answers an error, or shows no mirror stats (or none
     of --target)
  4  usage: a bad argument or objectives file
`;

// ---------------------------------------------------------------------------------------------
// Objectives.

/** What the dark version must meet. A null limit is not judged. */
export interface Objectives {
  max_dark_mean_ms: number | null;
  max_dark_p95_ms: number | null;
  max_dark_p99_ms: number | null;
  max_dark_error_pct: number | null;
  max_mismatch_pct: number | null;
  min_samples: number;
}

/** The seed tutorial's: dark mean < 50 ms, p95 < 100 ms, errors < 1 %; and mismatches < 1 %. */
export const DEFAULT_OBJECTIVES: Readonly<Objectives> = Object.freeze({
  max_dark_mean_ms: 50,
  max_dark_p95_ms: 100,
  max_dark_p99_ms: null,
  max_dark_error_pct: 1,
  max_mismatch_pct: 1,
  min_samples: 20,
});

/** Exit codes (see USAGE). */
export const EXIT = {
  pass: 0,
  fail: 1,
  notEnoughData: 2,
  noReport: 3,
  usage: 4,
} as const;

/** A report could not be made; `code` is the exit code. */
export class ReportError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = "ReportError";
  }
}

const LIMIT_FIELDS = [
  "max_dark_mean_ms",
  "max_dark_p95_ms",
  "max_dark_p99_ms",
  "max_dark_error_pct",
  "max_mismatch_pct",
] as const;

/** Defaults overridden by `given` (an objectives file's JSON); refuses unknown or bad fields. */
export function parseObjectives(given: unknown): Objectives {
  if (typeof given !== "object" || given === null || Array.isArray(given))
    throw new ReportError("objectives: must be a JSON object", EXIT.usage);
  const out: Objectives = { ...DEFAULT_OBJECTIVES };
  for (const [key, value] of Object.entries(given)) {
    if ((LIMIT_FIELDS as readonly string[]).includes(key)) {
      if (
        value !== null &&
        (typeof value !== "number" || !Number.isFinite(value) || value <= 0)
      )
        throw new ReportError(
          `objectives: ${key} must be a positive number or null, got ${JSON.stringify(value)}`,
          EXIT.usage,
        );
      out[key as (typeof LIMIT_FIELDS)[number]] = value;
    } else if (key === "min_samples") {
      if (!Number.isInteger(value) || (value as number) < 1)
        throw new ReportError(
          `objectives: min_samples must be a whole number of at least 1, got ${JSON.stringify(value)}`,
          EXIT.usage,
        );
      out.min_samples = value as number;
    } else {
      throw new ReportError(
        `objectives: unknown field "${key}" (known: ${[...LIMIT_FIELDS, "min_samples"].join(", ")})`,
        EXIT.usage,
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Histograms: Envoy's detailed buckets (`/stats?histogram_buckets=detailed`), which are the
// log-linear bins of its circllhist (two significant digits: [30, 31), [150, 160), ...).

/** One bin: values in [lower, lower + width). A width of 0 holds exactly `lower`. */
export interface Bucket {
  lower: number;
  width: number;
  count: number;
}

/** A latency distribution; every figure is NaN when there is no sample. */
export interface Latency {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  buckets: Bucket[];
}

/**
 * The q-quantile (0..1) of a bucketed distribution, computed as Envoy's circllhist does it (so it
 * equals what `/stats` shows): the rank max(1, ceil(q·n)) falls in some bin, whose c samples are
 * taken as spread evenly inside it, at lower + width·k/(c+1) for the k-th of them.
 */
export function quantileOf(buckets: readonly Bucket[], q: number): number {
  const total = buckets.reduce((n, b) => n + b.count, 0);
  if (total === 0) return NaN;
  const rank = Math.max(1, Math.ceil(q * total));
  let below = 0;
  for (const b of buckets) {
    if (b.count > 0 && below + b.count >= rank)
      return b.width === 0
        ? b.lower
        : b.lower + (b.width * (rank - below)) / (b.count + 1);
    below += b.count;
  }
  const last = buckets[buckets.length - 1];
  return last.lower + last.width;
}

/** The mean of a bucketed distribution, each bin's samples taken at its midpoint (as Envoy's sum). */
export function meanOf(buckets: readonly Bucket[]): number {
  let n = 0;
  let sum = 0;
  for (const b of buckets) {
    n += b.count;
    sum += (b.lower + b.width / 2) * b.count;
  }
  return n === 0 ? NaN : sum / n;
}

/** Count, mean and p50/p95/p99 of `buckets` (sorted by their lower bound). */
export function latencyOf(buckets: readonly Bucket[]): Latency {
  const sorted = [...buckets].sort((a, b) => a.lower - b.lower);
  return {
    count: sorted.reduce((n, b) => n + b.count, 0),
    mean: meanOf(sorted),
    p50: quantileOf(sorted, 0.5),
    p95: quantileOf(sorted, 0.95),
    p99: quantileOf(sorted, 0.99),
    buckets: sorted,
  };
}

// ---------------------------------------------------------------------------------------------
// Stats: `/stats?format=json&histogram_buckets=detailed`, parsed into one record per target.

/** The stat prefix of the filter's metrics in Envoy (`wasmcustom.mirror_<family>.<tags>`). */
export const STAT_PREFIX = "wasmcustom.mirror_";

/** A target's name in the metrics (the mirror_target label): its cluster (scripts/metrics.ts). */
export function targetStatName(cluster: string): string {
  return tagValue(cluster);
}

/** Responses of one side of the mirrored requests, by class. */
export interface Side {
  rq_2xx: number;
  rq_3xx: number;
  rq_4xx: number;
  rq_5xx: number;
  /** reset, timeout or no status */
  rq_reset: number;
  total: number;
  /** 5xx + reset, per total, in percent (NaN when total is 0) */
  errorPct: number;
  latency: Latency;
}

/** How the filter compares for a target, when the report could read its config. */
export interface CompareMode {
  status: string;
  body: boolean;
}

/** Everything the report shows for one target. */
export interface TargetStats {
  /** the target's stat name (T) */
  target: string;
  mirrored: number;
  inflight: number;
  skipped: number;
  dispatchFailed: number;
  live: Side;
  dark: Side;
  compared: number;
  statusMismatch: number;
  bodyMismatch: number;
  ignored: number;
  incomplete: number;
  /** from Envoy's config dump; undefined when it could not be read */
  compare?: CompareMode;
}

interface StatsJson {
  stats?: Array<{
    name?: string;
    value?: number;
    histograms?: {
      details?: Array<{
        name: string;
        totals?: Array<{ lower_bound: number; width: number; count: number }>;
      }>;
    };
  }>;
}

function sideOf(
  counters: Map<string, number>,
  side: "live" | "dark",
  buckets: Bucket[] | undefined,
): Side {
  const g = (k: string) => counters.get(`${side}.${k}`) ?? 0;
  const s = {
    rq_2xx: g("2xx"),
    rq_3xx: g("3xx"),
    rq_4xx: g("4xx"),
    rq_5xx: g("5xx"),
    rq_reset: g("reset"),
  };
  const total = s.rq_2xx + s.rq_3xx + s.rq_4xx + s.rq_5xx + s.rq_reset;
  return {
    ...s,
    total,
    errorPct: total === 0 ? NaN : (100 * (s.rq_5xx + s.rq_reset)) / total,
    latency: latencyOf(buckets ?? []),
  };
}

/**
 * The per-target records in Envoy's `/stats?format=json&histogram_buckets=detailed` answer,
 * sorted by target. Stats of other filters are ignored. Throws when the mirror's histograms come
 * without their detailed buckets (an Envoy that ignores `histogram_buckets=detailed`).
 */
export function parseStats(json: unknown): TargetStats[] {
  const counters = new Map<string, Map<string, number>>();
  const histograms = new Map<string, Map<string, Bucket[]>>();
  const split = (name: string): [string, string] | undefined => {
    if (!name.startsWith(STAT_PREFIX)) return undefined;
    const parsed = parseStatName(name);
    return parsed?.target === undefined
      ? undefined
      : [parsed.target, parsed.key];
  };
  const of = <V>(m: Map<string, Map<string, V>>, t: string) => {
    let inner = m.get(t);
    if (!inner) m.set(t, (inner = new Map()));
    return inner;
  };
  let quantilesOnly = false;
  for (const s of (json as StatsJson).stats ?? []) {
    if (typeof s.name === "string" && typeof s.value === "number") {
      const parts = split(s.name);
      if (parts) of(counters, parts[0]).set(parts[1], s.value);
    } else if (s.histograms) {
      if (!s.histograms.details) {
        quantilesOnly = true;
        continue;
      }
      for (const h of s.histograms.details) {
        const parts = split(h.name);
        if (!parts) continue;
        of(histograms, parts[0]).set(
          parts[1],
          // recorded in microseconds, shown in milliseconds
          (h.totals ?? []).map((b) => ({
            lower: b.lower_bound / 1000,
            width: b.width / 1000,
            count: b.count,
          })),
        );
      }
    }
  }
  const targets = [...counters.keys()].sort();
  if (quantilesOnly && targets.some((t) => !histograms.has(t)))
    throw new ReportError(
      "Envoy answered without detailed histogram buckets: the report needs an Envoy that supports /stats?histogram_buckets=detailed",
      EXIT.noReport,
    );
  return targets.map((t) => {
    const c = counters.get(t)!;
    const h = histograms.get(t) ?? new Map<string, Bucket[]>();
    const g = (k: string) => c.get(k) ?? 0;
    const sumOf = (prefix: string) =>
      [...c].reduce((n, [k, v]) => (k.startsWith(prefix) ? n + v : n), 0);
    return {
      target: t,
      mirrored: g("copies"),
      inflight: g("inflight"),
      skipped: sumOf("skipped."),
      dispatchFailed: sumOf("dispatch_failures."),
      live: sideOf(c, "live", h.get("live.duration")),
      dark: sideOf(c, "dark", h.get("dark.duration")),
      compared: sumOf("compared."),
      statusMismatch: g("compared.status_mismatch"),
      bodyMismatch: g("compared.body_mismatch"),
      ignored: g("not_compared.ignored_status"),
      incomplete: g("not_compared.incomplete"),
    };
  });
}

/**
 * How each target compares, from every mirror filter config (root_id `mirror`) found anywhere in
 * Envoy's `/config_dump`: status comparison off only if off everywhere, body on if on anywhere.
 */
export function compareModes(configDump: unknown): Map<string, CompareMode> {
  const out = new Map<string, CompareMode>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (typeof node !== "object" || node === null) return;
    const o = node as Record<string, unknown>;
    const value = (o.configuration as { value?: unknown } | undefined)?.value;
    if (o.root_id === "mirror" && typeof value === "string") {
      try {
        const plugin = JSON.parse(value) as {
          targets?: Array<{ cluster?: string }>;
          cluster?: string;
          compare?: { status?: string; body?: boolean };
        };
        const clusters = plugin.targets
          ? plugin.targets.map((t) => t.cluster)
          : [plugin.cluster];
        const mode = {
          status: plugin.compare?.status ?? "exact",
          body: plugin.compare?.body === true,
        };
        for (const c of clusters) {
          if (typeof c !== "string") continue;
          const t = targetStatName(c);
          const seen = out.get(t);
          out.set(
            t,
            seen
              ? {
                  status: seen.status === "off" ? mode.status : seen.status,
                  body: seen.body || mode.body,
                }
              : mode,
          );
        }
      } catch {
        // not JSON: a config Envoy refused; nothing to learn from it
      }
      return;
    }
    for (const v of Object.values(o)) visit(v);
  };
  visit(configDump);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Verdict.

/** One objective judged on one target. */
export interface Check {
  /** e.g. "dark p95 latency" */
  name: string;
  value: number;
  limit: number;
  unit: "ms" | "%";
  samples: number;
  /** what the samples are, for "not enough data" */
  sampleNoun: string;
  /** the objectives' min_samples */
  needed: number;
  outcome: "pass" | "fail" | "not enough data";
}

/** Every objective on one target, and the worst outcome. */
export interface Verdict {
  target: string;
  outcome: "pass" | "fail" | "not enough data";
  checks: Check[];
}

/** Judges one target against `o`; a check with fewer than `o.min_samples` samples is not judged. */
export function judgeTarget(t: TargetStats, o: Objectives): Verdict {
  const mismatchPct =
    t.compared === 0
      ? NaN
      : (100 * (t.statusMismatch + t.bodyMismatch)) / t.compared;
  const candidates: Array<
    Omit<Check, "outcome" | "needed" | "limit"> & { limit: number | null }
  > = [
    {
      name: "dark mean latency",
      value: t.dark.latency.mean,
      limit: o.max_dark_mean_ms,
      unit: "ms",
      samples: t.dark.latency.count,
      sampleNoun: "dark latency samples",
    },
    {
      name: "dark p95 latency",
      value: t.dark.latency.p95,
      limit: o.max_dark_p95_ms,
      unit: "ms",
      samples: t.dark.latency.count,
      sampleNoun: "dark latency samples",
    },
    {
      name: "dark p99 latency",
      value: t.dark.latency.p99,
      limit: o.max_dark_p99_ms,
      unit: "ms",
      samples: t.dark.latency.count,
      sampleNoun: "dark latency samples",
    },
    {
      name: "dark error rate",
      value: t.dark.errorPct,
      limit: o.max_dark_error_pct,
      unit: "%",
      samples: t.dark.total,
      sampleNoun: "dark answers",
    },
    {
      name: "mismatch rate",
      value: mismatchPct,
      limit: o.max_mismatch_pct,
      unit: "%",
      samples: t.compared,
      sampleNoun: "compared requests",
    },
  ];
  const checks: Check[] = candidates
    .filter((c): c is Omit<Check, "outcome" | "needed"> => c.limit !== null)
    .map((c) => ({
      ...c,
      needed: o.min_samples,
      outcome:
        c.samples < o.min_samples || Number.isNaN(c.value)
          ? "not enough data"
          : c.value < c.limit
            ? "pass"
            : "fail",
    }));
  const outcome = checks.some((c) => c.outcome === "fail")
    ? "fail"
    : checks.some((c) => c.outcome === "not enough data")
      ? "not enough data"
      : "pass";
  return { target: t.target, outcome, checks };
}

/** 1 if any target fails, else 2 if any lacks data, else 0. */
export function exitCodeOf(verdicts: readonly Verdict[]): number {
  if (verdicts.some((v) => v.outcome === "fail")) return EXIT.fail;
  if (verdicts.some((v) => v.outcome === "not enough data"))
    return EXIT.notEnoughData;
  return EXIT.pass;
}

// ---------------------------------------------------------------------------------------------
// Text.

const ms = (v: number) => (Number.isNaN(v) ? "-" : `${v.toFixed(1)} ms`);
const pct = (v: number) => (Number.isNaN(v) ? "-" : `${v.toFixed(2)}%`);
const ratio = (n: number, of: number) =>
  of === 0 ? `${n}` : `${n} (${pct((100 * n) / of)})`;
const formatValue = (v: number, unit: "ms" | "%") =>
  unit === "ms" ? ms(v) : pct(v);
const formatLimit = (v: number, unit: "ms" | "%") =>
  unit === "ms" ? `${v} ms` : `${v}%`;

/** Bin edges of the text histogram, in ms; the last bin is open. */
export const HISTOGRAM_EDGES = [
  0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000,
];
const BAR_WIDTH = 24;

/**
 * Counts of `buckets` in the bins of HISTOGRAM_EDGES. Envoy's bins never straddle these edges
 * (two significant digits), so each lands whole in one.
 */
export function rebin(buckets: readonly Bucket[]): number[] {
  const out = HISTOGRAM_EDGES.map(() => 0);
  for (const b of buckets) {
    let i = HISTOGRAM_EDGES.length - 1;
    // (a bound Envoy prints as 19.999999999999996 is 20)
    while (i > 0 && b.lower < HISTOGRAM_EDGES[i] * (1 - 1e-9)) i--;
    out[i] += b.count;
  }
  return out;
}

/** Live and dark latency side by side, one row per bin from the first to the last non-empty one. */
export function histogramText(live: Latency, dark: Latency): string[] {
  const l = rebin(live.buckets);
  const d = rebin(dark.buckets);
  const used = l.map((n, i) => n + d[i]);
  const first = used.findIndex((n) => n > 0);
  if (first < 0) return ["  (no latency samples yet)"];
  const last = used.length - 1 - [...used].reverse().findIndex((n) => n > 0);
  const share = (n: number, of: number) => (of === 0 ? 0 : n / of);
  let top = 0;
  for (let i = first; i <= last; i++)
    top = Math.max(top, share(l[i], live.count), share(d[i], dark.count));
  const cell = (n: number, of: number) => {
    if (n === 0) return " ".repeat(BAR_WIDTH + 5);
    const f = share(n, of);
    const bar = "█".repeat(Math.round((f / top) * BAR_WIDTH));
    return `${(bar || "▏").padEnd(BAR_WIDTH)} ${String(Math.round(100 * f)).padStart(3)}%`;
  };
  const label = (i: number) =>
    i === HISTOGRAM_EDGES.length - 1
      ? `≥${HISTOGRAM_EDGES[i]}`
      : `${HISTOGRAM_EDGES[i]}–${HISTOGRAM_EDGES[i + 1]}`;
  const rows = [
    `  ${"latency ms".padEnd(12)}${"live".padEnd(BAR_WIDTH + 5)}  dark`,
  ];
  for (let i = first; i <= last; i++)
    rows.push(
      `  ${label(i).padEnd(12)}${cell(l[i], live.count)}  ${cell(d[i], dark.count)}`.trimEnd(),
    );
  return rows;
}

/** One target's table, histogram and verdict. */
export function targetText(t: TargetStats, v: Verdict): string {
  const row = (name: string, live: string, dark: string) =>
    `  ${name.padEnd(24)}${live.padStart(14)}${dark.padStart(14)}`;
  const classes = (s: Side) =>
    `${s.rq_2xx}/${s.rq_3xx}/${s.rq_4xx}/${s.rq_5xx}`;
  const mode = t.compare
    ? `; compare: status ${t.compare.status}, body ${t.compare.body ? "on" : "off"}`
    : "";
  const lines = [
    `Target ${t.target}: ${t.mirrored} mirrored, ${t.inflight} in flight, ${t.skipped} skipped, ${t.dispatchFailed} dispatch failed${mode}`,
    "",
    row("", "live", "dark"),
    row("requests", String(t.live.total), String(t.dark.total)),
    row("2xx/3xx/4xx/5xx", classes(t.live), classes(t.dark)),
    row("reset or timeout", String(t.live.rq_reset), String(t.dark.rq_reset)),
    row("error rate (5xx+reset)", pct(t.live.errorPct), pct(t.dark.errorPct)),
    row(
      "latency samples",
      String(t.live.latency.count),
      String(t.dark.latency.count),
    ),
    row("mean latency", ms(t.live.latency.mean), ms(t.dark.latency.mean)),
    row("p50", ms(t.live.latency.p50), ms(t.dark.latency.p50)),
    row("p95", ms(t.live.latency.p95), ms(t.dark.latency.p95)),
    row("p99", ms(t.live.latency.p99), ms(t.dark.latency.p99)),
    "",
    `  compared ${t.compared} (ignored ${t.ignored}, incomplete ${t.incomplete}): ` +
      `status mismatch ${t.compare?.status === "off" ? "not compared" : ratio(t.statusMismatch, t.compared)}, ` +
      `body mismatch ${t.compare && !t.compare.body ? "not compared" : ratio(t.bodyMismatch, t.compared)}`,
  ];
  if (t.dark.latency.count < t.dark.total)
    lines.push(
      `  (latency histograms hold ${t.dark.latency.count} of ${t.dark.total} dark answers: Envoy merges them at each stats flush)`,
    );
  lines.push("", ...histogramText(t.live.latency, t.dark.latency), "");
  lines.push(`  verdict for ${t.target}: ${v.outcome.toUpperCase()}`);
  for (const c of v.checks) {
    const mark =
      c.outcome === "pass" ? "pass" : c.outcome === "fail" ? "FAIL" : "n/a ";
    const detail =
      c.outcome === "not enough data"
        ? `not enough data: ${c.samples} of the ${c.needed} ${c.sampleNoun} needed`
        : `${formatValue(c.value, c.unit)} ${c.outcome === "pass" ? "<" : ">="} ${formatLimit(c.limit, c.unit)}`;
    lines.push(`    ${mark}  ${c.name.padEnd(20)}${detail}`);
  }
  return lines.join("\n");
}

function objectivesText(o: Objectives): string {
  const parts: string[] = [];
  const add = (name: string, v: number | null, unit: "ms" | "%") => {
    if (v !== null) parts.push(`${name} < ${formatLimit(v, unit)}`);
  };
  add("dark mean", o.max_dark_mean_ms, "ms");
  add("dark p95", o.max_dark_p95_ms, "ms");
  add("dark p99", o.max_dark_p99_ms, "ms");
  add("dark error rate", o.max_dark_error_pct, "%");
  add("mismatch rate", o.max_mismatch_pct, "%");
  return `Objectives: ${parts.join(", ") || "none"}; each on at least ${o.min_samples} samples.`;
}

/** The whole report: header, each target, and the result line naming what failed or lacks data. */
export function reportText(
  admin: string,
  objectives: Objectives,
  targets: readonly TargetStats[],
  verdicts: readonly Verdict[],
  at = new Date(),
): string {
  const code = exitCodeOf(verdicts);
  const out = [
    `Mirror report: live vs dark, from ${admin} at ${at.toISOString()}`,
    objectivesText(objectives),
    "",
  ];
  targets.forEach((t, i) => out.push(targetText(t, verdicts[i]), ""));
  const failed = verdicts.flatMap((v) =>
    v.checks
      .filter((c) => c.outcome === "fail")
      .map(
        (c) =>
          `${v.target} ${c.name} ${formatValue(c.value, c.unit)} >= ${formatLimit(c.limit, c.unit)}`,
      ),
  );
  const lacking = verdicts
    .filter((v) => v.outcome === "not enough data")
    .map((v) => {
      const counts = v.checks
        .filter((c) => c.outcome === "not enough data")
        .map((c) => `${c.samples} of ${c.needed} ${c.sampleNoun}`);
      return `${v.target} has ${[...new Set(counts)].join(", ")}`;
    });
  if (code === EXIT.fail)
    out.push(`Result: FAIL (exit 1): ${failed.join("; ")}`);
  else if (code === EXIT.notEnoughData)
    out.push(`Result: NOT ENOUGH DATA (exit 2): ${lacking.join("; ")}`);
  else out.push("Result: PASS (exit 0)");
  return out.join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------------
// Envoy's admin API.

/** The admin of `npm start`'s demo. */
export const DEFAULT_ADMIN = "http://127.0.0.1:9901";
const ADMIN_TIMEOUT_MS = 5_000;

/** `http://host:port` from a URL, `host:port` or a bare port. */
export function adminUrl(given: string): string {
  const text = given.trim();
  const withScheme = /^\d+$/.test(text)
    ? `http://127.0.0.1:${text}`
    : /^[a-z][a-z0-9+.-]*:\/\//i.test(text)
      ? text
      : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ReportError(
      `--admin: not a URL, host:port or port: "${given}"`,
      EXIT.usage,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new ReportError(
      `--admin: must be http(s), got "${given}"`,
      EXIT.usage,
    );
  return url.origin + url.pathname.replace(/\/+$/, "");
}

async function adminJson(admin: string, path: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(admin + path, {
      signal: AbortSignal.timeout(ADMIN_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } })
      .cause;
    const why =
      (err as Error).name === "TimeoutError"
        ? `no answer within ${ADMIN_TIMEOUT_MS / 1000} s`
        : (cause?.code ?? cause?.message ?? (err as Error).message);
    throw new ReportError(
      `cannot reach Envoy's admin at ${admin} (${why}); is Envoy running, and is --admin its admin address?`,
      EXIT.noReport,
    );
  }
  const text = await res.text();
  if (!res.ok)
    throw new ReportError(
      `Envoy's admin at ${admin} answered ${path} with ${res.status}: ${text.trim().slice(0, 200)}`,
      EXIT.noReport,
    );
  try {
    return JSON.parse(text);
  } catch {
    throw new ReportError(
      `${admin}${path} did not answer JSON: is --admin Envoy's admin address? (${text.trim().slice(0, 80)})`,
      EXIT.noReport,
    );
  }
}

/** The stats query: only the mirror's metrics, histograms with their detailed buckets. */
export const STATS_PATH = `/stats?format=json&histogram_buckets=detailed&filter=${encodeURIComponent("^wasmcustom\\.mirror_")}`;

/** Reads the targets (only `target` when given) and, best effort, how each compares. */
export async function readTargets(
  admin: string,
  target?: string,
): Promise<TargetStats[]> {
  let targets = parseStats(await adminJson(admin, STATS_PATH));
  if (targets.length === 0)
    throw new ReportError(
      `Envoy at ${admin} shows no mirror stats (${STAT_PREFIX}*): is the mirror filter loaded, with a valid config?`,
      EXIT.noReport,
    );
  if (target !== undefined) {
    const wanted = targetStatName(target);
    const all = targets.map((t) => t.target);
    targets = targets.filter((t) => t.target === wanted);
    if (targets.length === 0)
      throw new ReportError(
        `no stats for target "${target}" at ${admin} (targets: ${all.join(", ")})`,
        EXIT.noReport,
      );
  }
  try {
    const modes = compareModes(await adminJson(admin, "/config_dump"));
    for (const t of targets) t.compare = modes.get(t.target);
  } catch {
    // The compare modes only refine the text; the stats are what is judged.
  }
  return targets;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

/**
 * Reads the targets, then again every 250 ms for up to `settleMs` until their latency histograms
 * hold at least as many samples as the counters of the first read showed answers: Envoy's
 * counters are current, its histograms only as of its last stats flush.
 */
export async function readSettled(
  admin: string,
  target: string | undefined,
  settleMs: number,
): Promise<TargetStats[]> {
  let targets = await readTargets(admin, target);
  const want = new Map(
    targets.map((t) => [
      t.target,
      { dark: t.dark.total, live: t.live.total - t.live.rq_reset },
    ]),
  );
  const caughtUp = () =>
    targets.every((t) => {
      const w = want.get(t.target);
      return (
        !w || (t.dark.latency.count >= w.dark && t.live.latency.count >= w.live)
      );
    });
  const deadline = Date.now() + settleMs;
  while (!caughtUp() && Date.now() < deadline) {
    await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
    targets = await readTargets(admin, target);
  }
  return targets;
}

/** What `runReport` needs; everything has a default. */
export interface ReportOptions {
  /** Envoy's admin: URL, host:port or port [http://127.0.0.1:9901] */
  admin?: string;
  /** overrides of DEFAULT_OBJECTIVES (an objectives file's JSON) */
  objectives?: Partial<Objectives>;
  /** only this target (cluster name or stat name) */
  target?: string;
  /** how long to wait for the histograms to catch up with the counters [6000] */
  settleMs?: number;
}

/** The report and its exit code; `text` is the error message when there is no report (3, 4). */
export interface ReportResult {
  code: number;
  text: string;
  targets: TargetStats[];
  verdicts: Verdict[];
}

/** Reads Envoy's stats and judges each target. Never throws for a report it cannot make: see `code`. */
export async function runReport(o: ReportOptions = {}): Promise<ReportResult> {
  try {
    const objectives = parseObjectives(o.objectives ?? {});
    const admin = adminUrl(o.admin ?? DEFAULT_ADMIN);
    const targets = await readSettled(admin, o.target, o.settleMs ?? 6_000);
    const verdicts = targets.map((t) => judgeTarget(t, objectives));
    return {
      code: exitCodeOf(verdicts),
      text: reportText(admin, objectives, targets, verdicts),
      targets,
      verdicts,
    };
  } catch (err) {
    if (!(err instanceof ReportError)) throw err;
    return {
      code: err.code,
      text: `report: ${err.message}\n`,
      targets: [],
      verdicts: [],
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Command line.

function seconds(flag: string, text: string | undefined, fallback: number) {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v) || v < 0)
    throw new ReportError(
      `--${flag}: must be a number of seconds, got "${text}"`,
      EXIT.usage,
    );
  return v;
}

/** Reads and checks an objectives file. */
export function readObjectivesFile(path: string): Objectives {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ReportError(
      `--objectives: cannot read ${path}: ${(err as Error).message}`,
      EXIT.usage,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ReportError(
      `--objectives: ${path} is not JSON: ${(err as Error).message}`,
      EXIT.usage,
    );
  }
  try {
    return parseObjectives(json);
  } catch (err) {
    throw new ReportError(`${path}: ${(err as Error).message}`, EXIT.usage);
  }
}

/** The CLI: prints the report (or, with --watch, reprints it) and resolves with the exit code. */
export async function main(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
  /** ends --watch like Ctrl-C does */
  stopWatching?: AbortSignal,
): Promise<number> {
  let options: ReportOptions;
  let watch = false;
  let intervalS = 5;
  try {
    let values;
    try {
      ({ values } = parseArgs({
        args: argv,
        options: {
          admin: { type: "string" },
          objectives: { type: "string" },
          target: { type: "string" },
          watch: { type: "boolean" },
          interval: { type: "string" },
          settle: { type: "string" },
          help: { type: "boolean", short: "h" },
        },
      }));
    } catch (e) {
      throw new ReportError((e as Error).message, EXIT.usage);
    }
    if (values.help) {
      out.write(USAGE);
      return 0;
    }
    options = {
      admin: adminUrl(values.admin ?? DEFAULT_ADMIN),
      objectives:
        values.objectives === undefined
          ? undefined
          : readObjectivesFile(values.objectives),
      target: values.target,
      settleMs: 1000 * seconds("settle", values.settle, 6),
    };
    watch = values.watch ?? false;
    intervalS = seconds("interval", values.interval, 5);
    if (watch && intervalS <= 0)
      throw new ReportError("--interval: must be above 0", EXIT.usage);
  } catch (e) {
    if (!(e instanceof ReportError)) throw e;
    err.write(`report: ${e.message}\n\n${USAGE}`);
    return e.code;
  }
  const print = (r: ReportResult) =>
    (r.code >= EXIT.noReport ? err : out).write(r.text);
  if (!watch) {
    const r = await runReport(options);
    print(r);
    return r.code;
  }
  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.once("SIGINT", onSigint);
  stopWatching?.addEventListener("abort", onSigint);
  let code: number = EXIT.notEnoughData;
  try {
    while (!stop.signal.aborted) {
      const r = await runReport(options);
      if ((out as { isTTY?: boolean }).isTTY) out.write("\x1b[2J\x1b[H");
      print(r);
      out.write(
        `(every ${intervalS} s; Ctrl-C stops, with this report's exit code)\n`,
      );
      code = r.code;
      await sleep(intervalS * 1000, stop.signal);
    }
  } finally {
    process.off("SIGINT", onSigint);
  }
  return code;
}

if (
  process.argv[1] &&
  resolve(process.argv[1]) === fileURLToPath(import.meta.url)
) {
  process.exitCode = await main(process.argv.slice(2));
}
