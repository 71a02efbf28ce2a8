// The relative checks: the dark side against the live one on the same requests (the pairs). Each
// has an effect e (how far the dark side is beyond live), a lower bound at `fail_confidence` and
// an upper bound at `pass_confidence`, a tolerance t and three outcomes: fail when the lower
// bound is above t (shown beyond tolerance), pass when the upper bound is at most t (shown
// within), else not enough data — with how many more pairs would decide it at the observed effect
// and spread, and the smallest effect that this many pairs catch in 80 % of runs.
//
// - latency shift at q (p50, p95, p99): e = the q-quantile of d = dark − live over the pairs with
//   both latencies; bounds from the order statistics (the sign test inverted), taken at the far
//   edges of their bins; t = max(max_latency_shift_pct of live's q-quantile,
//   max_latency_shift_floor_ms). p99 from min_pairs_p99 pairs on. With a baseline target (a
//   second live instance), e = Q_dC(q) − Q_dB(q) and the bounds [loC − hiB, hiC − loB], each
//   side's at (1 + c) / 2 (Bonferroni), so that noise both instances share cancels.
// - dark error excess: e = (dark-only − live-only errors) / pairs; Newcombe's hybrid score
//   interval for paired proportions; errors both sides make, or make equally often, cancel.
// - pair mismatches: e = non-matching / compared among the pairs both sides answered without
//   error; Clopper–Pearson.
// - sample bias: the share of sampled requests the filter's own limits turned away; above
//   max_capped_pct the check is not enough data and the latency and error checks cannot pass
//   (a pass becomes not enough data); it never fails alone.
import { quantileOf } from "./admin.ts";
import type { Bucket, Latency, TargetStats } from "./model.ts";
import {
  type Objectives,
  type RelativeId,
  SHIFT_QUANTILE,
} from "./objectives.ts";
import {
  type Bounds,
  clopperPearson,
  detectableProportion,
  pairedDifference,
  quantileBounds,
  zOf,
} from "./stats.ts";

export type Outcome = "pass" | "fail" | "not enough data";

/** The power the "detects" figure is for. */
export const DETECT_POWER = 0.8;
/** How far "more pairs" looks: beyond this many times the pairs at hand, it says "more than". */
export const MAX_SCALE = 1000;

/** A relative check judged on one target. */
export interface Judged {
  /** e, in the check's unit (ms or %); NaN without a sample */
  effect: number;
  /** at fail_confidence; -Infinity when the pairs are too few for one */
  lower: number;
  /** at pass_confidence; Infinity when the pairs are too few for one */
  upper: number;
  tolerance: number;
  /**
   * A latency shift whose tolerance is estimated from live's quantile: the tolerance at live's
   * lower bound (what the upper bound must be within to pass) and at its upper bound (what the
   * lower bound must exceed to fail)
   */
  toleranceRange?: { pass: number; fail: number };
  /** the pairs it is judged on */
  samples: number;
  /** pairs needed before it is judged (min_pairs_p99; else 0) */
  needed: number;
  outcome: Outcome;
  /** not enough data: how many more pairs would decide it at this effect; null when none would */
  morePairs?: number | null;
  /** the smallest effect this many pairs catch in DETECT_POWER of runs (NaN: unknown) */
  detectable: number;
  detail?: string;
}

/** Bins with every count times `f` (the same sample, f times as large). */
const scaled = (bins: readonly Bucket[], f: number) =>
  f === 1 ? bins : bins.map((b) => ({ ...b, count: b.count * f }));

const liveQuantile = (l: Latency, q: number) =>
  q === 0.5 ? l.p50 : q === 0.95 ? l.p95 : q === 0.99 ? l.p99 : NaN;

/** The latency shift tolerance at q, in ms (NaN when live has no latency and no floor is set). */
export function shiftTolerance(
  t: TargetStats,
  q: number,
  o: Objectives,
  live = liveQuantile(t.live.latency, q),
): number {
  const pct = o.max_latency_shift_pct;
  const floor = o.max_latency_shift_floor_ms ?? 0;
  if (pct === null || Number.isNaN(live))
    return o.max_latency_shift_floor_ms === null ? NaN : floor;
  return Math.max((pct / 100) * Math.max(0, live), floor);
}

/**
 * A check's effect and bounds, with the tolerance each bound is held to: `failAbove` for the
 * lower bound, `passAtMost` for the upper (both the tolerance, but for a latency shift whose
 * tolerance is estimated from live's quantile).
 */
interface Judgement extends Bounds {
  samples: number;
  failAbove: number;
  passAtMost: number;
}

/**
 * A latency shift at q, with each count times `f`. Each quantile that enters is bounded from its
 * own bins by order statistics: d's, the baseline's d's (e = Q_dC − Q_dB, bounds
 * [loC − hiB, hiC − loB]) and, when max_latency_shift_pct of live's quantile is above the floor,
 * live's, which the tolerance is then estimated from: the lower bound must exceed the tolerance
 * at live's upper bound to fail, the upper bound be within it at live's lower bound to pass. With
 * k quantiles bounded, each is at 1 − (1 − c)/k (Bonferroni), so that each decision holds at c.
 */
function shiftJudgement(
  t: TargetStats,
  q: number,
  o: Objectives,
  f = 1,
): Judgement {
  const pointTolerance = shiftTolerance(t, q, o);
  const bounds = (bins: readonly Bucket[], lc: number, uc: number) =>
    quantileBounds(scaled(bins, f), q, lc, uc, quantileOf);
  const liveBound = (c: number, side: "fail" | "pass") => {
    const b = bounds(t.live.latency.buckets, c, c);
    return side === "fail" ? b.upper : b.lower;
  };
  const judge = (c: number, side: "fail" | "pass") => {
    // Is the tolerance live's quantile (not the floor) somewhere within live's interval? With
    // too few live samples for a bound, the estimate stands in for it.
    const far = liveBound(c, side);
    const liveDriven =
      o.max_latency_shift_pct !== null &&
      Number.isFinite(far) &&
      shiftTolerance(t, q, o, far) > (o.max_latency_shift_floor_ms ?? 0);
    const k = 1 + (t.baseline ? 1 : 0) + (liveDriven ? 1 : 0);
    const each = 1 - (1 - c) / k;
    const live = liveDriven ? liveBound(each, side) : NaN;
    const tolerance = Number.isFinite(live)
      ? shiftTolerance(t, q, o, live)
      : pointTolerance;
    const cand = bounds(t.diff.buckets, each, each);
    const base = t.baseline
      ? bounds(t.baseline.diff.buckets, each, each)
      : { lower: 0, upper: 0 };
    return {
      tolerance,
      bound:
        side === "fail" ? cand.lower - base.upper : cand.upper - base.lower,
    };
  };
  const fail = judge(o.fail_confidence, "fail");
  const pass = judge(o.pass_confidence, "pass");
  return {
    estimate:
      liveQuantile(t.diff, q) -
      (t.baseline ? liveQuantile(t.baseline.diff, q) : 0),
    lower: fail.bound,
    upper: pass.bound,
    samples: t.diff.count,
    failAbove: fail.tolerance,
    passAtMost: pass.tolerance,
  };
}

/** Effect and bounds of a check in its unit, with each count times `f`. */
function judgementOf(
  id: RelativeId,
  t: TargetStats,
  o: Objectives,
  f = 1,
): Judgement {
  const cf = o.fail_confidence;
  const cp = o.pass_confidence;
  /** Bounds held to a fixed tolerance; `scale` 100 turns a proportion into a percentage. */
  const fixed = (
    b: Bounds,
    samples: number,
    tolerance: number | null,
    scale = 1,
  ): Judgement => ({
    estimate: scale * b.estimate,
    lower: scale * b.lower,
    upper: scale * b.upper,
    samples,
    failAbove: tolerance ?? NaN,
    passAtMost: tolerance ?? NaN,
  });
  switch (id) {
    case "sample_bias": {
      // a share of this sample, not an estimate: no interval
      const share = t.sampled > 0 ? (100 * t.capped) / t.sampled : NaN;
      return fixed(
        { estimate: share, lower: share, upper: share },
        t.sampled,
        o.max_capped_pct,
      );
    }
    case "dark_error_excess": {
      const p = t.pairs;
      const table = {
        bothError: p.bothError * f,
        firstOnly: p.darkError * f,
        secondOnly: p.liveError * f,
        bothOk: p.bothOk * f,
      };
      return fixed(
        pairedDifference(table, cf, cp),
        p.total,
        o.max_dark_error_excess_pct,
        100,
      );
    }
    case "pair_mismatches":
      return fixed(
        clopperPearson(t.pairMismatches * f, t.pairCompared * f, cf, cp),
        t.pairCompared,
        o.max_pair_mismatch_pct,
        100,
      );
    default:
      return shiftJudgement(t, SHIFT_QUANTILE[id], o, f);
  }
}

function decide(j: Judgement): Outcome {
  if (Number.isNaN(j.estimate)) return "not enough data";
  if (j.lower > j.failAbove) return "fail";
  if (j.upper <= j.passAtMost) return "pass";
  return "not enough data";
}

/** How many more pairs (at this effect and spread) decide the check; null when none would. */
function morePairsOf(
  id: RelativeId,
  t: TargetStats,
  o: Objectives,
  samples: number,
): number | null {
  const decided = (f: number) =>
    decide(judgementOf(id, t, o, f)) !== "not enough data";
  let hi = 1.25;
  while (!decided(hi)) {
    hi *= 2;
    if (hi > MAX_SCALE) return null;
  }
  let lo = hi === 1.25 ? 1 : hi / 2;
  while (hi / lo > 1.01) {
    const mid = Math.sqrt(lo * hi);
    if (decided(mid)) hi = mid;
    else lo = mid;
  }
  return Math.max(1, Math.ceil(samples * (hi - 1)));
}

/** The smallest effect this many pairs catch in DETECT_POWER of runs, in the check's unit. */
function detectableOf(
  id: RelativeId,
  t: TargetStats,
  o: Objectives,
  tolerance: number,
): number {
  const zf = zOf(o.fail_confidence);
  const zPower = zOf(DETECT_POWER);
  switch (id) {
    case "sample_bias":
      return NaN;
    case "pair_mismatches":
      return (
        100 *
        detectableProportion(
          t.pairCompared,
          tolerance / 100,
          o.fail_confidence,
          DETECT_POWER,
        )
      );
    case "dark_error_excess": {
      // (b − c)/n has variance (pb + pc − δ²)/n; live's own rate pc is the one observed
      const n = t.pairs.total;
      if (!(n > 0)) return NaN;
      const pc = t.pairs.liveError / n;
      const tol = tolerance / 100;
      let delta = tol;
      for (let i = 0; i < 50; i++)
        delta =
          tol +
          (zf + zPower) *
            Math.sqrt(Math.max(0, 2 * pc + delta - delta * delta) / n);
      return 100 * delta;
    }
    default: {
      // the standard error the two-sided bounds at fail_confidence imply
      const q = SHIFT_QUANTILE[id];
      const se = (bins: readonly Bucket[], c: number) => {
        const b = quantileBounds(bins, q, c, c, quantileOf);
        return (b.upper - b.lower) / (2 * zOf(c));
      };
      if (!t.baseline) {
        const s = se(t.diff.buckets, o.fail_confidence);
        return tolerance + (zf + zPower) * s;
      }
      const c = (1 + o.fail_confidence) / 2;
      const s = Math.hypot(
        se(t.diff.buckets, c),
        se(t.baseline.diff.buckets, c),
      );
      return tolerance + (zOf(c) + zPower) * s;
    }
  }
}

/** Judges one relative check on `t` under `o` (see the top of this file). */
export function judgeRelative(
  id: RelativeId,
  t: TargetStats,
  o: Objectives,
): Judged {
  const tolerance =
    id === "sample_bias"
      ? (o.max_capped_pct ?? NaN)
      : id === "dark_error_excess"
        ? (o.max_dark_error_excess_pct ?? NaN)
        : id === "pair_mismatches"
          ? (o.max_pair_mismatch_pct ?? NaN)
          : shiftTolerance(t, SHIFT_QUANTILE[id], o);
  const j = judgementOf(id, t, o);
  const needed = id === "latency_shift_p99" ? (o.min_pairs_p99 ?? Infinity) : 0;
  const base: Judged = {
    effect: j.estimate,
    lower: j.lower,
    upper: j.upper,
    tolerance,
    ...(j.failAbove !== tolerance || j.passAtMost !== tolerance
      ? { toleranceRange: { pass: j.passAtMost, fail: j.failAbove } }
      : {}),
    samples: j.samples,
    needed,
    outcome: "not enough data",
    detectable: NaN,
  };
  if (id === "sample_bias") {
    if (Number.isNaN(j.estimate))
      return { ...base, detail: "no request sampled yet" };
    return {
      ...base,
      outcome: j.estimate <= tolerance ? "pass" : "not enough data",
      ...(j.estimate > tolerance
        ? {
            detail: `the pairs lean to the dark side's fast moments, so the latency and error checks cannot pass`,
          }
        : {}),
    };
  }
  if (j.samples < needed)
    return {
      ...base,
      morePairs: Math.ceil(needed - j.samples),
      detail: `judged from ${needed} pairs on`,
    };
  const outcome = decide(j);
  const detectable = detectableOf(id, t, o, tolerance);
  const biased =
    (id === "dark_error_excess" || id in SHIFT_QUANTILE) &&
    o.max_capped_pct !== null &&
    t.sampled > 0 &&
    (100 * t.capped) / t.sampled > o.max_capped_pct;
  if (outcome === "pass" && biased)
    return {
      ...base,
      detectable,
      detail: "within tolerance, but the sample is biased (sample bias)",
    };
  const judged: Judged = { ...base, outcome, detectable };
  if (outcome === "not enough data") {
    if (j.samples > 0) judged.morePairs = morePairsOf(id, t, o, j.samples);
    else judged.detail = "no pair yet";
  }
  return judged;
}
