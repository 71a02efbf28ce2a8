// The verdict: each target's checks against the objectives, and the exit code of the whole.
//
// Rules (README, "Is the dark version ready?"):
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
  limitOf,
  type Objectives,
  type Unit,
} from "./objectives.ts";

export type Outcome = "pass" | "fail" | "not enough data";

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
  id: CheckId,
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
  id: CheckId,
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

/** Judges one target against `o` (see the rules at the top of this file). */
export function judgeTarget(t: TargetStats, o: Objectives): Verdict {
  const checks: Check[] = [];
  for (const spec of CHECKS) {
    const limit = limitOf(spec.id, o);
    if (limit === null) continue;
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
