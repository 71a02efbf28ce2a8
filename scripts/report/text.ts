// The report as text: where the numbers come from, per target the live and dark sides side by
// side, a text histogram of both latency distributions and each check, then one result line that
// names every failed check (or what lacks data) with the exit code.
import { LATENCY_BUCKETS_US } from "../metrics.ts";
import { EXIT } from "./exit.ts";
import type { Latency, Side, Snapshot, Source, TargetStats } from "./model.ts";
import { CLASSES } from "./model.ts";
import { checkSpec, type Objectives, type Unit } from "./objectives.ts";
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

/** `57.3 ms ≤ 100 ms`, `30 > 0: unknown_cluster 30 (…)` */
export function checkText(c: Check): string {
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
  const lines = [
    `Target ${t.target}: ${countText(t.copies)} copies, ${countText(t.inflight)} in flight, ${countText(t.skipped)} skipped, ${countText(t.dispatchFailures)} dispatch failures (${envoys}${mode})`,
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
    row("error rate (5xx+reset)", pct(t.live.errorPct), pct(t.dark.errorPct)),
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
    `  compared ${countText(t.compared)}, mismatches ${pct(t.mismatchPct)}${t.mismatches > 0.5 ? `: ${breakdown(t, "compared", "match")}` : ""}`,
  );
  if (t.notCompared > 0.5)
    lines.push(
      `  not compared ${countText(t.notCompared)}: ${breakdown(t, "not_compared")}`,
    );
  if (source.kind === "admin" && t.dark.latency.count < t.dark.total)
    lines.push(
      `  (latency histograms hold ${t.dark.latency.count} of ${t.dark.total} dark answers: Envoy merges them at each stats flush)`,
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

/** The objectives in one line. */
export function objectivesText(o: Objectives): string {
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
  return `Objectives: ${parts.join(", ") || "none"}; at least 1 copy; each statistic on at least ${o.min_samples} samples.`;
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
      .map((c) => `${v.target} ${c.name} ${checkText(c)}`),
  );
  const lacking = verdicts
    .filter((v) => v.outcome === "not enough data")
    .map((v) => {
      const counts = v.checks
        .filter((c) => c.outcome === "not enough data")
        .map((c) => `${countText(c.samples)} of ${c.needed} ${c.sampleNoun}`);
      return `${v.target} has ${[...new Set(counts)].join(", ")}`;
    });
  if (code === EXIT.fail)
    out.push(`Result: FAIL (exit 1): ${failed.join("; ")}`);
  else if (code === EXIT.notEnoughData)
    out.push(`Result: NOT ENOUGH DATA (exit 2): ${lacking.join("; ")}`);
  else out.push("Result: PASS (exit 0)");
  return out.join("\n") + "\n";
}
