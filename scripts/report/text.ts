// The report as text: where the numbers come from, per target the live and dark sides side by
// side, a text histogram of both latency distributions and each check, then one result line that
// names every failed check (or what lacks data) with the exit code.
import { LATENCY_BUCKETS_US } from "../metrics.ts";
import { EXIT } from "./exit.ts";
import type { Latency, Side, Snapshot, Source, TargetStats } from "./model.ts";
import { CLASSES } from "./model.ts";
import { checkSpec, isOn, type Objectives, type Unit } from "./objectives.ts";
import { type Check, countText, exitCodeOf, type Verdict } from "./verdict.ts";

const ms = (v: number) => (Number.isNaN(v) ? "-" : `${v.toFixed(1)} ms`);
const pct = (v: number) => (Number.isNaN(v) ? "-" : `${v.toFixed(2)}%`);

/** A check's value as printed. */
export function valueText(v: number, unit: Unit): string {
  return unit === "ms" ? ms(v) : unit === "%" ? pct(v) : countText(v);
}

/** A limit as printed. */
export function limitText(v: number, unit: Unit): string {
  return unit === "ms" ? `${v} ms` : unit === "%" ? `${v}%` : String(v);
}

/** "≤" when the check holds, ">" when it does not (for "≥" checks: "≥" and "<"). */
function relation(c: Check): string {
  const holds = c.outcome === "pass";
  return c.op === "<=" ? (holds ? "≤" : ">") : holds ? "≥" : "<";
}

/** An effect or bound: `+1.2 ms`, `−0.30%`, `0.0 ms`, `−∞` (no sign when `signed` is false). */
export function signedText(v: number, unit: Unit, signed = true): string {
  if (Number.isNaN(v)) return "-";
  if (!Number.isFinite(v)) return v > 0 ? "+∞" : "−∞";
  const digits = unit === "ms" ? 1 : 2;
  const text = Math.abs(v).toFixed(digits);
  const zero = Number(text) === 0;
  const sign = zero || !signed ? "" : v > 0 ? "+" : "−";
  return `${sign}${text}${unit === "ms" ? " ms" : unit === "%" ? "%" : ""}`;
}

/** "about 3,100" pairs, rounded to two significant digits. */
export function aboutText(n: number): string {
  const digits = Math.max(0, Math.floor(Math.log10(Math.max(1, n))) - 1);
  const r = Math.round(n / 10 ** digits) * 10 ** digits;
  return r.toLocaleString("en-US");
}

/** "45 s", "12 min", "3.5 h", "2.1 days". */
export function durationText(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 36 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

/** How many more pairs decide a check, and how long that takes, when the report knows. */
function moreText(c: Check): string {
  if (c.morePairs === undefined) return "";
  if (c.morePairs === null)
    return `; no number of pairs decides it at this effect (it sits at the tolerance)`;
  const time =
    c.moreSeconds !== undefined
      ? `, ≈ ${durationText(c.moreSeconds)} at this window's rate`
      : "";
  return `; ≈ ${aboutText(c.morePairs)} more pairs would decide it${time}`;
}

/**
 * A relative check: `+0.8 ms [−1.2, +2.4] ≤ 5.0 ms (1998 pairs; detects ≥ 6.3 ms)`: the
 * effect, its bounds (lower at fail_confidence, upper at pass_confidence), the tolerance, the
 * pairs, and the smallest effect they catch in 80 % of runs. `short`: the first part only.
 */
export function relativeText(c: Check, short = false): string {
  if (c.id === "sample_bias") {
    if (Number.isNaN(c.value)) return `not enough data: ${c.detail}`;
    const base = `${pct(c.value)} of ${countText(c.samples)} ${c.sampleNoun} turned away by overloaded or over_budget ${c.outcome === "pass" ? "≤" : ">"} ${limitText(c.limit, c.unit)}`;
    return c.detail ? `${base}: ${c.detail}` : base;
  }
  if (c.samples < c.needed)
    return `not enough data: ${countText(c.samples)} of the ${c.needed} ${c.sampleNoun} it is judged from`;
  if (Number.isNaN(c.value))
    return `not enough data: ${c.detail ?? `no ${c.sampleNoun}`}`;
  const rel = c.outcome === "pass" ? "≤" : c.outcome === "fail" ? ">" : "vs";
  // a mismatch rate is never below 0: no sign
  const signed = c.id !== "pair_mismatches";
  const lo = c.interval ? signedText(c.interval.lower, c.unit, signed) : "-";
  const hi = c.interval ? signedText(c.interval.upper, c.unit, signed) : "-";
  const strip = (t: string) => t.replace(/ ms$|%$/, "");
  const range =
    c.limitRange &&
    (c.limitRange.pass.toFixed(1) !== c.limit.toFixed(1) ||
      c.limitRange.fail.toFixed(1) !== c.limit.toFixed(1))
      ? ` (passes ≤ ${c.limitRange.pass.toFixed(1)}, fails > ${c.limitRange.fail.toFixed(1)}: live's quantile has an interval too)`
      : "";
  const tol =
    c.unit === "ms"
      ? `${c.limit.toFixed(1)} ms${range}`
      : limitText(c.limit, c.unit);
  const detects =
    c.detectable !== undefined && Number.isFinite(c.detectable)
      ? `; detects ≥ ${c.unit === "ms" ? `${c.detectable.toFixed(1)} ms` : `${c.detectable.toFixed(2)}%`}`
      : "";
  const why = c.detail ? `: ${c.detail}` : "";
  const head = `${signedText(c.value, c.unit, signed)} [${strip(lo)}, ${strip(hi)}] ${rel} ${tol}`;
  if (short) return head;
  return `${head} (${countText(c.samples)} ${c.sampleNoun}${detects}${moreText(c)})${why}`;
}

/** `57.3 ms ≤ 100 ms`, `30 > 0: unknown_cluster 30 (…)` */
export function checkText(c: Check): string {
  if (c.kind === "relative") return relativeText(c);
  if (c.outcome === "not enough data")
    return `not enough data: ${countText(c.samples)} of the ${c.needed} ${c.sampleNoun} needed`;
  const base = `${valueText(c.value, c.unit)} ${relation(c)} ${limitText(c.limit, c.unit)}`;
  return c.detail && c.outcome === "fail" ? `${base}: ${c.detail}` : base;
}

/** Bin edges of the text histogram in ms: the latency buckets of scripts/metrics.ts. */
export const HISTOGRAM_EDGES = [
  0,
  ...LATENCY_BUCKETS_US.map((us) => us / 1000),
];
const BAR_WIDTH = 24;

/**
 * Counts of `buckets` in the bins of HISTOGRAM_EDGES, each bin placed by its lower bound. Envoy's
 * bins (two significant digits) never straddle these edges, nor do Prometheus' (the same).
 */
export function rebin(buckets: Latency["buckets"]): number[] {
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
  const first = used.findIndex((n) => n > 0.5);
  if (first < 0) return ["  (no latency samples)"];
  const last = used.length - 1 - [...used].reverse().findIndex((n) => n > 0.5);
  const lTotal = l.reduce((a, b) => a + b, 0);
  const dTotal = d.reduce((a, b) => a + b, 0);
  const share = (n: number, of: number) => (of === 0 ? 0 : n / of);
  let top = 0;
  for (let i = first; i <= last; i++)
    top = Math.max(top, share(l[i], lTotal), share(d[i], dTotal));
  const cell = (n: number, of: number) => {
    const f = share(n, of);
    if (Math.round(100 * f) === 0 && n < 0.5) return " ".repeat(BAR_WIDTH + 5);
    const bar = "█".repeat(Math.round((f / top) * BAR_WIDTH));
    return `${(bar || "▏").padEnd(BAR_WIDTH)} ${String(Math.round(100 * f)).padStart(3)}%`;
  };
  const label = (i: number) =>
    i === HISTOGRAM_EDGES.length - 1
      ? `>${HISTOGRAM_EDGES[i]}`
      : `${HISTOGRAM_EDGES[i]}–${HISTOGRAM_EDGES[i + 1]}`;
  const rows = [
    `  ${"latency ms".padEnd(14)}${"live".padEnd(BAR_WIDTH + 5)}  dark`,
  ];
  for (let i = first; i <= last; i++)
    rows.push(
      `  ${label(i).padEnd(14)}${cell(l[i], lTotal)}  ${cell(d[i], dTotal)}`.trimEnd(),
    );
  return rows;
}

/** "no_key 100, method 20" for the non-zero series of a family (but `except`), largest first. */
function breakdown(t: TargetStats, prefix: string, except?: string): string {
  return Object.entries(t.counts)
    .filter(
      ([k, v]) =>
        k.startsWith(`${prefix}.`) &&
        k !== `${prefix}.${except}` &&
        Math.round(v) > 0,
    )
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k.slice(prefix.length + 1)} ${countText(v)}`)
    .join(", ");
}

/** One target's table, histogram and checks. */
export function targetText(t: TargetStats, v: Verdict, source: Source): string {
  const row = (name: string, live: string, dark: string) =>
    `  ${name.padEnd(24)}${live.padStart(14)}${dark.padStart(14)}`;
  const classes = (s: Side) =>
    CLASSES.slice(0, 4)
      .map((c) => countText(s.classes[c]))
      .join("/");
  const mode = t.compare
    ? `; compare: status ${t.compare.status}, body ${t.compare.body}`
    : "";
  const envoys =
    source.kind === "prometheus"
      ? `${t.instances} instance${t.instances === 1 ? "" : "s"}`
      : `${t.instances} Envoy${t.instances === 1 ? "" : "s"}`;
  const role = t.isBaseline
    ? "; the baseline of other targets (a second live instance): judged on its copies only"
    : t.baseline
      ? `; baseline ${t.baseline.target}`
      : "";
  const lines = [
    `Target ${t.target}: ${countText(t.copies)} copies, ${countText(t.inflight)} in flight, ${countText(t.skipped)} skipped, ${countText(t.dispatchFailures)} dispatch failures (${envoys}${mode}${role})`,
  ];
  if (t.skipped > 0.5) lines.push(`  skipped: ${breakdown(t, "skipped")}`);
  if (t.dispatchFailures > 0.5)
    lines.push(`  dispatch failures: ${breakdown(t, "dispatch_failures")}`);
  lines.push(
    "",
    row("", "live", "dark"),
    row("requests", countText(t.live.total), countText(t.dark.total)),
    row("2xx/3xx/4xx/5xx", classes(t.live), classes(t.dark)),
    row(
      "reset or timeout",
      countText(t.live.classes.reset),
      countText(t.dark.classes.reset),
    ),
    ...(t.live.classes.grpc_error > 0.5 || t.dark.classes.grpc_error > 0.5
      ? [
          row(
            "gRPC error",
            countText(t.live.classes.grpc_error),
            countText(t.dark.classes.grpc_error),
          ),
        ]
      : []),
    row("error rate", pct(t.live.errorPct), pct(t.dark.errorPct)),
    row(
      "latency samples",
      countText(t.live.latency.count),
      countText(t.dark.latency.count),
    ),
    row("mean latency", ms(t.live.latency.mean), ms(t.dark.latency.mean)),
    row("p50", ms(t.live.latency.p50), ms(t.dark.latency.p50)),
    row("p95", ms(t.live.latency.p95), ms(t.dark.latency.p95)),
    row("p99", ms(t.live.latency.p99), ms(t.dark.latency.p99)),
    "",
    `  pairs ${countText(t.pairs.total)}: both ok ${countText(t.pairs.bothOk)}, only dark erred ${countText(t.pairs.darkError)}, only live erred ${countText(t.pairs.liveError)}, both erred ${countText(t.pairs.bothError)}`,
    `  dark − live latency over ${countText(t.diff.count)} pairs: p50 ${signedText(t.diff.p50, "ms")}, p95 ${signedText(t.diff.p95, "ms")}, p99 ${signedText(t.diff.p99, "ms")}`,
    `  pairs compared ${countText(t.pairCompared)}, differing ${countText(t.pairMismatches)}${t.pairMismatches > 0.5 ? `: ${breakdown(t, "pair_compared", "match")}` : ""}; all copies compared ${countText(t.compared)}, mismatches ${pct(t.mismatchPct)}${t.mismatches > 0.5 ? `: ${breakdown(t, "compared", "match")}` : ""}`,
  );
  if (t.notCompared > 0.5)
    lines.push(
      `  not compared ${countText(t.notCompared)}: ${breakdown(t, "not_compared")}`,
    );
  const timed = t.dark.total - t.dark.classes.reset;
  if (source.kind === "admin" && t.dark.latency.count < timed)
    lines.push(
      `  (latency histograms hold ${t.dark.latency.count} of ${timed} dark answers with a status: Envoy merges them at each stats flush)`,
    );
  if (t.dark.classes.reset > 0.5 && t.dark.latency.count < 0.5)
    lines.push(
      `  no dark latency: every dark answer was a reset, timeout or refusal (${countText(t.dark.classes.reset)}), and those have none`,
    );
  lines.push("", ...histogramText(t.live.latency, t.dark.latency), "");
  lines.push(`  verdict for ${t.target}: ${v.outcome.toUpperCase()}`);
  for (const c of v.checks) {
    const mark =
      c.outcome === "pass" ? "pass" : c.outcome === "fail" ? "FAIL" : "n/a ";
    lines.push(`    ${mark}  ${c.name.padEnd(20)}${checkText(c)}`);
  }
  return lines.join("\n");
}

/** The objectives in one or two lines: the relative checks, then the absolute limits. */
export function objectivesText(o: Objectives): string {
  const rel: string[] = [];
  if (isOn("latency_shift_p50", o))
    rel.push(
      `latency shift p50/p95${isOn("latency_shift_p99", o) ? `/p99 (p99 from ${o.min_pairs_p99} pairs)` : ""} ≤ ${[
        o.max_latency_shift_pct !== null
          ? `${o.max_latency_shift_pct}% of live's`
          : "",
        o.max_latency_shift_floor_ms !== null
          ? `${o.max_latency_shift_floor_ms} ms`
          : "",
      ]
        .filter(Boolean)
        .join(", at least ")}`,
    );
  if (o.max_dark_error_excess_pct !== null)
    rel.push(`dark error excess ≤ ${o.max_dark_error_excess_pct}%`);
  if (o.max_pair_mismatch_pct !== null)
    rel.push(`pair mismatches ≤ ${o.max_pair_mismatch_pct}%`);
  if (o.max_capped_pct !== null)
    rel.push(`sample bias ≤ ${o.max_capped_pct}% capped`);
  const relative = rel.length
    ? `Relative (dark vs live, pair by pair): ${rel.join(", ")}; fails when beyond at ${o.fail_confidence * 100}% confidence, passes when within at ${o.pass_confidence * 100}% (intervals: [lower at ${o.fail_confidence * 100}%, upper at ${o.pass_confidence * 100}%]).\n`
    : "";
  const parts: string[] = [];
  for (const id of [
    "max_dark_mean_ms",
    "max_dark_p95_ms",
    "max_dark_p99_ms",
    "max_dark_error_pct",
    "max_mismatch_pct",
    "max_dispatch_failures",
  ] as const) {
    const v = o[id];
    if (v !== null)
      parts.push(`${checkSpec(id).name} ≤ ${limitText(v, checkSpec(id).unit)}`);
  }
  return `${relative}Absolute: ${parts.join(", ") || "none"}; at least 1 copy; each absolute statistic on at least ${o.min_samples} samples.`;
}

/** Where the numbers come from, in one line. */
export function sourceText(s: Source): string {
  const at = s.time.toISOString();
  if (s.kind === "prometheus")
    return `from Prometheus ${s.url}${s.selector ? ` ${s.selector}` : ""}: the ${s.window} up to ${at}, summed over every instance reporting each target`;
  return s.admins.length === 1
    ? `from Envoy's admin ${s.admins[0]} at ${at} (counted since Envoy started)`
    : `from the Envoy admins ${s.admins.join(", ")} at ${at}, added up (counted since each Envoy started)`;
}

/** Why a relative check lacks data, in a few words. */
function lackingText(c: Check): string {
  if (c.samples < c.needed)
    return `${countText(c.samples)} of the ${c.needed} ${c.sampleNoun} it needs`;
  if (c.id === "sample_bias")
    return Number.isNaN(c.value)
      ? "no request sampled yet"
      : `${pct(c.value)} capped > ${limitText(c.limit, c.unit)}`;
  if (c.detail) return c.detail;
  if (c.morePairs === null) return "at its tolerance";
  if (c.morePairs !== undefined)
    return `≈ ${aboutText(c.morePairs)} more pairs${c.moreSeconds !== undefined ? `, ≈ ${durationText(c.moreSeconds)}` : ""}`;
  return "no pair yet";
}

/** The whole report: header, each target, and the result line naming what failed or lacks data. */
export function reportText(
  snapshot: Snapshot,
  objectives: Objectives,
  verdicts: readonly Verdict[],
): string {
  const code = exitCodeOf(verdicts);
  const out = [
    `Mirror report: live vs dark, ${sourceText(snapshot.source)}`,
    objectivesText(objectives),
    "",
  ];
  snapshot.targets.forEach((t, i) =>
    out.push(targetText(t, verdicts[i], snapshot.source), ""),
  );
  const failed = verdicts.flatMap((v) =>
    v.checks
      .filter((c) => c.outcome === "fail")
      .map(
        (c) =>
          `${v.target} ${c.name} ${c.kind === "relative" ? relativeText(c, true) : checkText(c)}`,
      ),
  );
  const lacking = verdicts
    .filter((v) => v.outcome === "not enough data")
    .map((v) => {
      const lacking = v.checks.filter((c) => c.outcome === "not enough data");
      const counts = lacking
        .filter((c) => c.kind === "absolute")
        .map((c) => `${countText(c.samples)} of ${c.needed} ${c.sampleNoun}`);
      const relative = lacking
        .filter((c) => c.kind === "relative")
        .map((c) => `${c.name} (${lackingText(c)})`);
      return [
        ...(counts.length
          ? [`${v.target} has ${[...new Set(counts)].join(", ")}`]
          : []),
        ...(relative.length ? [`${v.target} ${relative.join(", ")}`] : []),
      ].join("; ");
    });
  if (code === EXIT.fail)
    out.push(`Result: FAIL (exit 1): ${failed.join("; ")}`);
  else if (code === EXIT.notEnoughData)
    out.push(`Result: NOT ENOUGH DATA (exit 2): ${lacking.join("; ")}`);
  else out.push("Result: PASS (exit 0)");
  return out.join("\n") + "\n";
}
