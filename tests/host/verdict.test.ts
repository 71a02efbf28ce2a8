/**
 * The relative checks on fixtures whose answer is known: the admin source reading the pair
 * families and the baseline gauge, each check's three outcomes, errors both sides make
 * cancelling, a biased sample, a baseline target (not judged as a candidate; its candidates'
 * latency judged against it), a dead dark host, the pairs still needed and how long they take,
 * and the objectives that turn each check off.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  baselineInfoName,
  envoyStatName,
  parseBaselineInfo,
} from "../../scripts/metrics.ts";
import { parseStats } from "../../scripts/report/admin.ts";
import type { Bucket, TargetStats } from "../../scripts/report/model.ts";
import {
  type Objectives,
  parseObjectives,
} from "../../scripts/report/objectives.ts";
import { targetText } from "../../scripts/report/text.ts";
import {
  type Check,
  judgeTarget,
  type Verdict,
} from "../../scripts/report/verdict.ts";

const b = (lower: number, width: number, count: number): Bucket => ({
  lower,
  width,
  count,
});

interface Pairs {
  n: number;
  /** each pair's dark − live, in ms: one bin per value */
  d?: Array<[ms: number, count: number]>;
  liveMs?: number;
  darkError?: number;
  liveError?: number;
  bothError?: number;
  mismatches?: number;
  overloaded?: number;
  /** every dark answer a reset */
  down?: boolean;
  baseline?: string;
}

/** `/stats?format=json&histogram_buckets=detailed` of one Envoy with these targets. */
function statsJson(targets: Record<string, Pairs>) {
  const stats: unknown[] = [];
  const details: unknown[] = [];
  for (const [t, p] of Object.entries(targets)) {
    const ok =
      p.n - (p.darkError ?? 0) - (p.liveError ?? 0) - (p.bothError ?? 0);
    const darkErr = (p.darkError ?? 0) + (p.bothError ?? 0);
    const liveErr = (p.liveError ?? 0) + (p.bothError ?? 0);
    const counters: Record<string, number> = {
      copies: p.n,
      "live.2xx": p.n - liveErr,
      "live.5xx": liveErr,
      [p.down ? "dark.reset" : "dark.2xx"]: p.down ? p.n : p.n - darkErr,
      "dark.5xx": p.down ? 0 : darkErr,
      "pairs.both_ok": ok,
      "pairs.dark_error": p.darkError ?? 0,
      "pairs.live_error": p.liveError ?? 0,
      "pairs.both_error": p.bothError ?? 0,
      "pair_compared.match": ok - (p.mismatches ?? 0),
      "pair_compared.body_mismatch": p.mismatches ?? 0,
      "skipped.overloaded": p.overloaded ?? 0,
    };
    for (const [k, v] of Object.entries(counters))
      stats.push({ name: envoyStatName(t, k), value: v });
    if (p.baseline)
      stats.push({
        name: `wasmcustom.${baselineInfoName(t, p.baseline)}`,
        value: 2,
      });
    const liveMs = p.liveMs ?? 20;
    const d = p.down ? [] : (p.d ?? [[0.5, p.n]]);
    const hist: Record<string, Bucket[]> = {
      "live.duration": [b(liveMs, 1, p.n)],
      "dark.duration": d.map(([ms, c]) => b(liveMs + ms, 1, c)),
      "pair.slower": d
        .filter(([ms]) => ms >= 0)
        .map(([ms, c]) => b(ms, ms < 10 ? 0.1 : 1, c)),
      "pair.faster": d
        .filter(([ms]) => ms < 0)
        .map(([ms, c]) => b(-ms, -ms < 10 ? 0.1 : 1, c)),
    };
    for (const [k, v] of Object.entries(hist))
      details.push({
        name: envoyStatName(t, k),
        totals: v.map((x) => ({
          lower_bound: x.lower * 1000,
          width: x.width * 1000,
          count: x.count,
        })),
      });
  }
  stats.push({ histograms: { details } });
  return { stats };
}

const judge = (
  targets: Record<string, Pairs>,
  objectives: Partial<Objectives> = {},
  windowSeconds?: number,
): Array<{ t: TargetStats; v: Verdict }> =>
  parseStats(statsJson(targets)).map((t) => ({
    t,
    v: judgeTarget(t, parseObjectives(objectives), windowSeconds),
  }));

const check = (v: Verdict, id: string): Check => {
  const c = v.checks.find((x) => x.id === id);
  assert.ok(c, `no check ${id} in ${v.checks.map((x) => x.id).join(", ")}`);
  return c;
};

const outcomes = (v: Verdict) =>
  Object.fromEntries(v.checks.map((c) => [c.id, c.outcome]));

describe("the admin source reads the pairs", () => {
  it("counts by side in error, pair comparisons, d from both histograms (faster mirrored below 0), the baseline gauge", () => {
    const [{ t }, { t: base }] = judge({
      "kitchen-next": {
        n: 100,
        darkError: 3,
        liveError: 1,
        bothError: 1,
        mismatches: 2,
        d: [
          [-4, 30],
          [2, 70],
        ],
        baseline: "kitchen-twin",
      },
      "kitchen-twin": { n: 100 },
    });
    assert.deepEqual(t.pairs, {
      bothOk: 95,
      darkError: 3,
      liveError: 1,
      bothError: 1,
      total: 100,
    });
    assert.equal(t.pairCompared, 95);
    assert.equal(t.pairMismatches, 2);
    assert.equal(t.diff.count, 100);
    assert.deepEqual(t.diff.buckets, [b(-4.1, 0.1, 30), b(2, 0.1, 70)]);
    assert.equal(t.baseline?.target, "kitchen-twin");
    assert.equal(t.baseline?.diff.count, 100);
    assert.equal(t.isBaseline, false);
    assert.equal(base.isBaseline, true);
    assert.deepEqual(
      parseBaselineInfo(
        "wasmcustom.mirror_baseline_info.mirror_target=.=a|b;.;mirror_baseline=.=c;.;",
      ),
      { target: "a|b", baseline: "c" },
    );
    assert.equal(
      parseBaselineInfo(envoyStatName("kitchen", "copies")),
      undefined,
    );
  });
});

describe("the relative checks", () => {
  it("a healthy dark version on 2,000 pairs passes every check", () => {
    const [{ v }] = judge({
      k: {
        n: 2000,
        liveError: 6,
        darkError: 6,
        d: [
          [-1, 900],
          [0.5, 1000],
          [2, 100],
        ],
      },
    });
    assert.equal(v.outcome, "pass", JSON.stringify(v.checks));
    const errors = check(v, "dark_error_excess");
    assert.equal(errors.value, 0);
    assert.ok(
      errors.interval!.lower < 0 && errors.interval!.upper > 0,
      JSON.stringify(errors.interval),
    );
  });

  it("faster than live passes: a negative shift is within any tolerance", () => {
    const [{ v }] = judge({ k: { n: 2000, d: [[-12, 2000]] } });
    assert.equal(v.outcome, "pass");
    const p50 = check(v, "latency_shift_p50");
    assert.ok(
      p50.value < -12 && p50.interval!.upper <= -11.9,
      JSON.stringify(p50),
    );
  });

  it("+20 ms on every pair fails p50, p95 and p99; the tolerance is max(10 % of live's quantile, 5 ms)", () => {
    const [{ v }] = judge({ k: { n: 2000, liveMs: 100, d: [[20, 2000]] } });
    assert.equal(check(v, "latency_shift_p50").outcome, "fail");
    // live's p50 is 100.5 ms: 10 % of it, 10.05 ms, is above the 5 ms floor
    assert.ok(Math.abs(check(v, "latency_shift_p50").limit - 10.05) < 0.01);
    const small = judge({ k: { n: 2000, liveMs: 10, d: [[7, 2000]] } })[0].v;
    assert.equal(check(small, "latency_shift_p50").limit, 5);
    assert.equal(check(small, "latency_shift_p50").outcome, "fail");
  });

  it("a slow tail on 5 % of pairs fails p99 (and not p50)", () => {
    const [{ v }] = judge({
      k: {
        n: 2000,
        d: [
          [0.5, 1900],
          [120, 100],
        ],
      },
    });
    assert.equal(check(v, "latency_shift_p99").outcome, "fail");
    assert.equal(check(v, "latency_shift_p50").outcome, "pass");
  });

  it("errors both sides make cancel; dark-only errors beyond 0.5 % of pairs fail", () => {
    const both = judge({ k: { n: 2000, bothError: 40 } })[0].v;
    assert.equal(check(both, "dark_error_excess").outcome, "pass");
    const equal = judge({ k: { n: 2000, darkError: 8, liveError: 8 } })[0].v;
    assert.equal(check(equal, "dark_error_excess").outcome, "pass");
    const dark = judge({ k: { n: 2000, darkError: 40, liveError: 6 } })[0].v;
    const c = check(dark, "dark_error_excess");
    assert.equal(c.outcome, "fail");
    assert.ok(Math.abs(c.value - 1.7) < 1e-9, String(c.value));
    assert.ok(c.interval!.lower > 0.5, JSON.stringify(c.interval));
  });

  it("1 % of compared pairs differing fails; none in 2,000 passes", () => {
    const bad = judge({ k: { n: 2000, mismatches: 20 } })[0].v;
    assert.equal(check(bad, "pair_mismatches").outcome, "fail");
    const good = judge({ k: { n: 2000 } })[0].v;
    assert.equal(check(good, "pair_mismatches").outcome, "pass");
  });

  it("few pairs: not enough data, with the pairs that would decide it and how long they take at the window's rate", () => {
    const [{ v }] = judge({ k: { n: 200 } }, {}, 600);
    const m = check(v, "pair_mismatches");
    assert.equal(m.outcome, "not enough data");
    // 0 of m differ: the upper bound at 70 % is 1 − 0.3^(1/m) ≤ 0.25 % from m = 481 on
    assert.ok(m.morePairs! >= 276 && m.morePairs! <= 290, String(m.morePairs));
    // 200 pairs in 600 s: a third of a pair a second
    assert.ok(
      Math.abs(m.moreSeconds! - m.morePairs! * 3) < 1e-6,
      String(m.moreSeconds),
    );
    const p99 = check(v, "latency_shift_p99");
    assert.equal(p99.outcome, "not enough data");
    assert.equal(p99.morePairs, 800);
    assert.equal(v.outcome, "not enough data");
    // no window (the admin source): no time
    const [{ v: admin }] = judge({ k: { n: 200 } });
    assert.equal(check(admin, "pair_mismatches").moreSeconds, undefined);
  });

  it("an effect right at the tolerance is undecided by any number of pairs at the admin's resolution", () => {
    // every d in the bin [5, 5.1]: the lower bound is 5 (not above 5 ms), the upper 5.1
    const [{ v }] = judge({ k: { n: 2000, d: [[5, 2000]] } });
    const p50 = check(v, "latency_shift_p50");
    assert.equal(p50.outcome, "not enough data");
    assert.equal(p50.morePairs, null);
  });

  it("a sample the filter's limits thinned: sample bias is not enough data, a pass becomes not enough data, a fail stays", () => {
    const [{ v, t }] = judge({ k: { n: 2000, overloaded: 200 } });
    assert.equal(t.capped, 200);
    const bias = check(v, "sample_bias");
    assert.equal(bias.outcome, "not enough data");
    assert.ok(
      Math.abs(bias.value - (100 * 200) / 2200) < 1e-9,
      String(bias.value),
    );
    assert.equal(check(v, "latency_shift_p50").outcome, "not enough data");
    assert.match(check(v, "latency_shift_p50").detail!, /biased/);
    assert.equal(check(v, "dark_error_excess").outcome, "not enough data");
    // mismatches are not biased by the dark side's speed
    assert.equal(check(v, "pair_mismatches").outcome, "pass");
    const slow = judge({ k: { n: 2000, overloaded: 200, d: [[30, 2000]] } })[0]
      .v;
    assert.equal(slow.outcome, "fail");
    assert.equal(check(slow, "sample_bias").outcome, "not enough data");
  });

  it("a dead dark host: errors fail, and there is no dark latency (the text says why)", () => {
    const [{ v, t }] = judge({ k: { n: 500, down: true, darkError: 500 } });
    assert.equal(t.dark.latency.count, 0);
    assert.equal(t.diff.count, 0);
    assert.equal(check(v, "dark_error_excess").outcome, "fail");
    assert.equal(check(v, "latency_shift_p50").outcome, "not enough data");
    const text = targetText(t, v, {
      kind: "admin",
      admins: ["http://x"],
      time: new Date(0),
    });
    assert.match(
      text,
      /no dark latency: every dark answer was a reset, timeout or refusal \(500\), and those have none/,
    );
    assert.match(
      text,
      /n\/a {3}p50 latency shift {3}not enough data: no pair yet/,
    );
  });
});

describe("a baseline target", () => {
  // Both instances of live differ from live the same way (here: 8 ms later, a slower node);
  // the candidate's shift against the baseline is 0.
  const twins = (candidateD: number, mismatches = 0) =>
    judge({
      candidate: {
        n: 2000,
        d: [[candidateD, 2000]],
        baseline: "baseline",
        mismatches,
      },
      baseline: { n: 2000, d: [[8, 2000]] },
    });

  it("is judged on its copies only; its candidate's latency is judged against it", () => {
    // (sorted by name: the baseline first)
    const [{ v: base }, { v: cand }] = twins(8);
    assert.deepEqual(
      base.checks.map((c) => c.id),
      ["copies", "max_dispatch_failures"],
    );
    assert.equal(base.outcome, "pass");
    assert.equal(cand.outcome, "pass", JSON.stringify(cand.checks));
    assert.equal(check(cand, "latency_shift_p50").value, 0);
    // without the baseline the same candidate fails: 8 ms > 5 ms
    const alone = judge({ c: { n: 2000, d: [[8, 2000]] } })[0].v;
    assert.equal(check(alone, "latency_shift_p50").outcome, "fail");
  });

  it("a candidate slower than the baseline fails; its differences beyond the baseline's fail too", () => {
    const [, { v }] = twins(20);
    assert.equal(check(v, "latency_shift_p50").outcome, "fail");
    // [20, 21] against [8, 8.1]: the estimates' difference, ≈ 12.45 ms
    const shift = check(v, "latency_shift_p50").value;
    assert.ok(Math.abs(shift - 12.45) < 0.01, String(shift));
    const [, { v: differs }] = twins(8, 20);
    assert.equal(check(differs, "pair_mismatches").outcome, "fail");
  });
});

describe("objectives turn checks off", () => {
  it("null drops a check; the latency floor alone, or the percentage alone, still judges", () => {
    const [{ v }] = judge(
      { k: { n: 2000 } },
      {
        max_dark_error_excess_pct: null,
        max_pair_mismatch_pct: null,
        max_capped_pct: null,
        min_pairs_p99: null,
      },
    );
    assert.deepEqual(Object.keys(outcomes(v)), [
      "copies",
      "max_dispatch_failures",
      "latency_shift_p50",
      "latency_shift_p95",
    ]);
    const floorOnly = judge(
      { k: { n: 2000, liveMs: 1000, d: [[20, 2000]] } },
      { max_latency_shift_pct: null },
    )[0].v;
    assert.equal(check(floorOnly, "latency_shift_p50").limit, 5);
    const pctOnly = judge(
      { k: { n: 2000, liveMs: 1000, d: [[20, 2000]] } },
      { max_latency_shift_floor_ms: null },
    )[0].v;
    assert.ok(
      Math.abs(check(pctOnly, "latency_shift_p50").limit - 100.05) < 0.01,
    );
    assert.equal(check(pctOnly, "latency_shift_p50").outcome, "pass");
    const none = judge(
      { k: { n: 10 } },
      { max_latency_shift_pct: null, max_latency_shift_floor_ms: null },
    )[0].v;
    assert.ok(
      !none.checks.some((c) => c.id.startsWith("latency_shift")),
      JSON.stringify(outcomes(none)),
    );
  });

  it("a higher fail_confidence needs a larger effect: 1 % errors in 2,000 fail at 95 %, not at 99.9 %", () => {
    const pairs = { k: { n: 2000, darkError: 20 } };
    assert.equal(check(judge(pairs)[0].v, "dark_error_excess").outcome, "fail");
    assert.equal(
      check(judge(pairs, { fail_confidence: 0.999 })[0].v, "dark_error_excess")
        .outcome,
      "not enough data",
    );
  });
});
