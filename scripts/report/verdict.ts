// The verdict: each target's checks against the objectives, and the exit code of the whole.
//
// The relative checks (relative.ts) judge the dark side against live on the pairs, with an
// interval and three outcomes. A baseline target (a second instance of the live version that
// receives the same copies) is not judged as a candidate: only its copies and dispatch failures.
//
// Rules of the absolute checks (docs/report.md):
// - A value passes when it is at most its limit (≤; "copies dispatched" must be at least 1).
// - A statistic is judged on at least min_samples samples; with fewer it is "not enough data" —
//   except against a limit of 0, which the first sample above 0 breaks for good: that fails at once.
// - Dispatch failures are counted, not sampled: any number above max_dispatch_failures fails,
//   however few requests there were (a dark cluster that does not exist fails on the first copy).
// - A target that got no copy while at least min_samples requests were turned away (skipped for
//   any reason but sampling and match, or refused by Envoy) fails, naming the reasons; with only
//   sampled-out requests it is "not enough data", as a small percentage and little traffic are.
// - A target fails if any check fails, else lacks data if any check does, else passes; the exit
//   code is 1 if any target fails, else 2 if any lacks data, else 0.
import { keysOf, series } from "../metrics.ts";
import { EXIT } from "./exit.ts";
import { type Counts, NOT_TURNED_AWAY, type TargetStats } from "./model.ts";
import {
  type CheckId,
  CHECKS,
  isRelative,
  limitOf,
  type RelativeId,
  type Objectives,
  type Unit,
} from "./objectives.ts";
import { judgeRelative, type Outcome } from "./relative.ts";

export type { Outcome };

/** One check judged on one target. */
export interface Check {
  id: CheckId;
  /** e.g. "dark p95 latency" */
  name: string;
  /** NaN when there is no sample */
  value: number;
  op: "<=" | ">=";
  limit: number;
  unit: Unit;
  samples: number;
  /** what the samples are */
  sampleNoun: string;
  /** samples needed before it is judged (min_samples; 0 for dispatch failures) */
  needed: number;
  outcome: Outcome;
  /** why, when a count alone does not say it (the reasons of dispatch failures, of skips) */
  detail?: string;
  /** "relative": `value` is the effect, `limit` the tolerance, `samples` the pairs */
  kind: "absolute" | "relative";
  /** relative: the lower bound at fail_confidence, the upper at pass_confidence */
  interval?: { lower: number; upper: number };
  /**
   * A latency shift whose tolerance is estimated from live's quantile: the tolerance the upper
   * bound must be within to pass, and the one the lower bound must exceed to fail
   */
  limitRange?: { pass: number; fail: number };
  /** relative, not enough data: more pairs that would decide it at this effect (null: none) */
  morePairs?: number | null;
  /** …and how long they take at the window's rate (Prometheus) */
  moreSeconds?: number;
  /** relative: the smallest effect this many pairs catch in 80 % of runs (NaN: unknown) */
  detectable?: number;
}

/** Every check on one target, and the worst outcome. */
export interface Verdict {
  target: string;
  outcome: Outcome;
  checks: Check[];
}

/** A count as the report prints it (Prometheus' increase() is not a whole number). */
export const countText = (n: number) => String(Math.round(n));

/** "unknown_cluster 30 (no such cluster…), no_healthy_host 2 (…)" for the non-zero keys. */
function reasonsText(
  counts: Counts,
  keys: readonly string[],
  explain: boolean,
): string {
  return keys
    .filter((k) => Math.round(counts[k] ?? 0) > 0)
    .sort((a, b) => (counts[b] ?? 0) - (counts[a] ?? 0))
    .map((k) => {
      const reason = k.slice(k.indexOf(".") + 1);
      const n = countText(counts[k]);
      return explain ? `${reason} ${n} (${series(k).help})` : `${reason} ${n}`;
    })
    .join(", ");
}

/** The value and samples of one check on `t`. */
function measure(
  id: Exclude<CheckId, RelativeId>,
  t: TargetStats,
): { value: number; samples: number; detail?: string } {
  switch (id) {
    case "copies":
      return {
        value: t.copies,
        samples: t.copies + t.turnedAway,
        detail:
          t.turnedAway > 0
            ? `${countText(t.turnedAway)} requests turned away: ${reasonsText(
                t.counts,
                [
                  ...keysOf("skipped").filter(
                    (k) =>
                      !(NOT_TURNED_AWAY as readonly string[]).includes(
                        k.slice("skipped.".length),
                      ),
                  ),
                  ...keysOf("dispatch_failures"),
                ],
                false,
              )}`
            : undefined,
      };
    case "max_dispatch_failures":
      return {
        value: t.dispatchFailures,
        samples: t.copies + t.dispatchFailures,
        detail:
          t.dispatchFailures > 0
            ? reasonsText(t.counts, keysOf("dispatch_failures"), true)
            : undefined,
      };
    case "max_dark_mean_ms":
      return { value: t.dark.latency.mean, samples: t.dark.latency.count };
    case "max_dark_p95_ms":
      return { value: t.dark.latency.p95, samples: t.dark.latency.count };
    case "max_dark_p99_ms":
      return { value: t.dark.latency.p99, samples: t.dark.latency.count };
    case "max_dark_error_pct":
      return { value: t.dark.errorPct, samples: t.dark.total };
    case "max_mismatch_pct":
      return { value: t.mismatchPct, samples: t.compared };
  }
}

function judge(
  id: Exclude<CheckId, RelativeId>,
  op: "<=" | ">=",
  value: number,
  limit: number,
  samples: number,
  needed: number,
  t: TargetStats,
): Outcome {
  const holds = (v: number) => (op === "<=" ? v <= limit : v >= limit);
  if (id === "copies")
    return t.copies >= 1
      ? "pass"
      : t.turnedAway >= needed
        ? "fail"
        : "not enough data";
  if (needed === 0)
    return holds(Number.isNaN(value) ? 0 : value) ? "pass" : "fail";
  // No later sample can bring a value above a limit of 0 back to it.
  if (limit === 0 && samples > 0 && value > 0) return "fail";
  if (samples < needed || Number.isNaN(value)) return "not enough data";
  return holds(value) ? "pass" : "fail";
}

/**
 * Judges one target against `o` (see the rules at the top of this file); `windowSeconds`, when
 * the source knows it, turns "more pairs" into a time at the window's rate.
 */
export function judgeTarget(
  t: TargetStats,
  o: Objectives,
  windowSeconds?: number,
): Verdict {
  const checks: Check[] = [];
  for (const spec of CHECKS) {
    const limit = limitOf(spec.id, o);
    if (limit === null) continue;
    if (
      t.isBaseline &&
      spec.id !== "copies" &&
      spec.id !== "max_dispatch_failures"
    )
      continue;
    if (isRelative(spec.id)) {
      const j = judgeRelative(spec.id, t, o);
      const rate =
        windowSeconds && windowSeconds > 0 ? j.samples / windowSeconds : 0;
      checks.push({
        id: spec.id,
        name: spec.name,
        value: j.effect,
        op: spec.op,
        limit: j.tolerance,
        unit: spec.unit,
        samples: j.samples,
        sampleNoun: spec.sampleNoun,
        needed: j.needed,
        outcome: j.outcome,
        kind: "relative",
        // the sample bias is a share of this sample: no interval, nothing to detect
        ...(spec.id === "sample_bias"
          ? {}
          : {
              interval: { lower: j.lower, upper: j.upper },
              detectable: j.detectable,
            }),
        ...(j.toleranceRange ? { limitRange: j.toleranceRange } : {}),
        ...(j.morePairs !== undefined ? { morePairs: j.morePairs } : {}),
        ...(j.morePairs && rate > 0 ? { moreSeconds: j.morePairs / rate } : {}),
        ...(j.detail ? { detail: j.detail } : {}),
      });
      continue;
    }
    const { value, samples, detail } = measure(spec.id, t);
    const needed = spec.needsSamples ? o.min_samples : 0;
    checks.push({
      id: spec.id,
      name: spec.name,
      value,
      op: spec.op,
      limit,
      unit: spec.unit,
      samples,
      sampleNoun: spec.sampleNoun,
      needed,
      outcome: judge(spec.id, spec.op, value, limit, samples, needed, t),
      kind: "absolute",
      ...(detail ? { detail } : {}),
    });
  }
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
