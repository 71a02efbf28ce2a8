/**
 * The verdict's error rates, by simulation through the report's own code: thousands of dark
 * launches of 2,000 mirrored requests drawn from known distributions (tests/host/verdict-sim.ts:
 * lognormal work shared by both sides, median 15 ms and p95 40 ms, plus each side's own jitter;
 * random 500s on each side; changed bodies), each recorded as the filter records it, merged by
 * the admin source's code into the model, and judged by judgeTarget with the DEFAULT objectives.
 * Checked against docs/report.md's table: how often a healthy dark version passes and fails, how
 * often each regression is caught naming the right check, and each check's false-fail rate when
 * the dark side sits exactly at its tolerance. Every scenario has its own fixed seed; the number
 * of runs is in its name. The rates each run found are printed as diagnostics.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_OBJECTIVES,
  type Objectives,
} from "../../scripts/report/objectives.ts";
import { judgeTarget, type Verdict } from "../../scripts/report/verdict.ts";
import { rng } from "./rng.ts";
import {
  NOISY_JITTER,
  QUIET_JITTER,
  type Scenario,
  simulate,
} from "./verdict-sim.ts";

const REQUESTS = 2000;

/** Healthy: 0.3 % random 500s on each side, bodies equal but for ignored fields. */
const HEALTHY: Scenario = {
  requests: REQUESTS,
  liveErrorRate: 0.003,
  darkErrorRate: 0.003,
  mismatchRate: 0,
  jitter: QUIET_JITTER,
};

interface Tally {
  runs: number;
  verdict: Record<string, number>;
  /** runs in which each check failed / passed */
  failed: Record<string, number>;
  passed: Record<string, number>;
  /** runs with dark latency samples */
  darkLatency: number;
  /** runs that failed naming one of the checks asked for */
  caught: number;
}

function tally(
  s: Scenario,
  runs: number,
  seed: number,
  caughtBy: readonly string[] = [],
  o: Objectives = DEFAULT_OBJECTIVES,
): Tally {
  const r = rng(seed);
  const t: Tally = {
    runs,
    verdict: {},
    failed: {},
    passed: {},
    darkLatency: 0,
    caught: 0,
  };
  for (let i = 0; i < runs; i++) {
    const target = simulate(s, r);
    const v: Verdict = judgeTarget(target, o);
    t.verdict[v.outcome] = (t.verdict[v.outcome] ?? 0) + 1;
    for (const c of v.checks) {
      if (c.outcome === "fail") t.failed[c.id] = (t.failed[c.id] ?? 0) + 1;
      if (c.outcome === "pass") t.passed[c.id] = (t.passed[c.id] ?? 0) + 1;
    }
    if (target.dark.latency.count > 0) t.darkLatency++;
    if (v.checks.some((c) => c.outcome === "fail" && caughtBy.includes(c.id)))
      t.caught++;
  }
  return t;
}

const rate = (n: number | undefined, t: Tally) => (n ?? 0) / t.runs;
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const summary = (t: Tally) =>
  `${t.runs} runs: pass ${pct(rate(t.verdict.pass, t))}, fail ${pct(rate(t.verdict.fail, t))}, not enough data ${pct(rate(t.verdict["not enough data"], t))}; failed checks ${
    Object.entries(t.failed)
      .map(([k, n]) => `${k} ${pct(n / t.runs)}`)
      .join(", ") || "none"
  }`;

describe("a healthy dark version (2,000 requests, 0.3 % random 500s on each side)", () => {
  it("passes in ≥ 97.5 % of 1,000 runs and fails in none (seed 1)", (ctx) => {
    // Expected 98.8 %: the dark error excess check's upper bound at 70 % exceeds 0.5 % in 1.2 %
    // of runs (computed exactly in verdict-stats.test.ts's way); no other check misses.
    const t = tally(HEALTHY, 1000, 1);
    ctx.diagnostic(summary(t));
    assert.ok(rate(t.verdict.pass, t) >= 0.975, summary(t));
    assert.equal(t.verdict.fail ?? 0, 0, summary(t));
  });

  it("with a baseline target: the same (500 runs, seed 2)", (ctx) => {
    const t = tally({ ...HEALTHY, baseline: true }, 500, 2);
    ctx.diagnostic(summary(t));
    assert.ok(rate(t.verdict.pass, t) >= 0.97, summary(t));
    assert.equal(t.verdict.fail ?? 0, 0, summary(t));
  });

  it("faster than live (its work takes 80 % as long): passes as often (500 runs, seed 3)", (ctx) => {
    const t = tally({ ...HEALTHY, darkScale: 0.8 }, 500, 3);
    ctx.diagnostic(summary(t));
    assert.ok(rate(t.verdict.pass, t) >= 0.97, summary(t));
    assert.equal(t.verdict.fail ?? 0, 0, summary(t));
  });

  it("on a noisy machine (jitter ×4): fails p95/p99 without a baseline, passes with one (200 runs each, seed 4)", (ctx) => {
    // The latency checks judge quantiles of dark − live per request: two independent jitters
    // widen that difference both ways, and its p95 and p99 then exceed 5–6 ms. A baseline (a
    // second live instance) has the same spread; the candidate's quantiles minus the
    // baseline's cancel it.
    const noisy = { ...HEALTHY, jitter: NOISY_JITTER };
    const alone = tally(noisy, 200, 4);
    const withBaseline = tally({ ...noisy, baseline: true }, 200, 4);
    ctx.diagnostic(`alone: ${summary(alone)}`);
    ctx.diagnostic(`with a baseline: ${summary(withBaseline)}`);
    assert.ok(rate(alone.failed.latency_shift_p99, alone) >= 0.9);
    assert.equal(alone.failed.latency_shift_p50 ?? 0, 0);
    // (the p99 shift then bounds three quantiles — candidate's, baseline's, live's — each at
    // 1 − 0.3/3 to pass: a few runs are left undecided)
    assert.ok(rate(withBaseline.verdict.pass, withBaseline) >= 0.85);
    assert.equal(withBaseline.verdict.fail ?? 0, 0);
  });
});

describe("regressions, each caught naming its check (2,000 requests, 200 runs each)", () => {
  const cases: Array<{
    name: string;
    scenario: Scenario;
    seed: number;
    checks: string[];
    /** the share of runs that must fail naming one of `checks` */
    power: number;
  }> = [
    {
      name: "+20 ms on every answer",
      scenario: { ...HEALTHY, darkShiftMs: 20 },
      seed: 11,
      checks: ["latency_shift_p50"],
      power: 0.99,
    },
    {
      name: "+120 ms on 5 % of answers",
      scenario: { ...HEALTHY, darkTail: { share: 0.05, ms: 120 } },
      seed: 12,
      checks: ["latency_shift_p99", "latency_shift_p95"],
      power: 0.99,
    },
    {
      name: "2 % 5xx (live 0.3 %)",
      scenario: { ...HEALTHY, darkErrorRate: 0.02 },
      seed: 13,
      checks: ["dark_error_excess"],
      power: 0.95,
    },
    {
      name: "gRPC grpc-status 14 on 2 % of calls",
      scenario: { ...HEALTHY, darkGrpcErrorRate: 0.02 },
      seed: 14,
      checks: ["dark_error_excess"],
      power: 0.95,
    },
    {
      name: "1 % of bodies with one changed field",
      scenario: { ...HEALTHY, mismatchRate: 0.01 },
      seed: 15,
      checks: ["pair_mismatches"],
      power: 0.95,
    },
    {
      name: "1 % of bodies changed, with a baseline target",
      scenario: { ...HEALTHY, mismatchRate: 0.01, baseline: true },
      seed: 16,
      checks: ["pair_mismatches"],
      power: 0.95,
    },
    {
      name: "host down (every dark answer a reset)",
      scenario: { ...HEALTHY, darkDown: true },
      seed: 17,
      checks: ["dark_error_excess"],
      power: 1,
    },
  ];
  for (const c of cases)
    it(`${c.name}: fails naming ${c.checks.join(" or ")} in ≥ ${c.power * 100}% (seed ${c.seed})`, (ctx) => {
      const t = tally(c.scenario, 200, c.seed, c.checks);
      ctx.diagnostic(summary(t));
      assert.ok(t.caught / 200 >= c.power, `${t.caught} of 200: ${summary(t)}`);
      if (c.scenario.darkDown) assert.equal(t.darkLatency, 0);
    });

  it("a sample the filter's limits thinned (10 % overloaded) never passes, and fails only on a regression (200 runs, seed 18)", (ctx) => {
    const t = tally({ ...HEALTHY, cappedShare: 0.1 }, 200, 18);
    ctx.diagnostic(summary(t));
    assert.equal(t.verdict.pass ?? 0, 0);
    assert.equal(t.verdict.fail ?? 0, 0);
    assert.equal(t.failed.sample_bias ?? 0, 0);
    const slow = tally(
      { ...HEALTHY, cappedShare: 0.1, darkShiftMs: 20 },
      50,
      19,
    );
    assert.equal(slow.verdict.fail, 50);
  });
});

/**
 * The true quantiles of the model, from a million draws (seed 99): live's (the tolerance is 10 %
 * of it, at least 5 ms) and those of the jitter difference, so that a dark side can be put
 * exactly at a latency check's tolerance: d = shift + jitter_dark − jitter_live.
 */
function modelQuantiles(q: number): { live: number; jitterDiff: number } {
  const r = rng(99);
  const normal = () =>
    Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next());
  const logn = (m: number, p95: number) => () =>
    m * Math.exp((Math.log(p95 / m) / 1.6448536269514722) * normal());
  const work = logn(15, 40);
  const jitter = logn(QUIET_JITTER.medianMs, QUIET_JITTER.p95Ms);
  const n = 1_000_000;
  const live = new Float64Array(n);
  const diff = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    live[i] = work() + jitter();
    diff[i] = jitter() - jitter();
  }
  live.sort();
  diff.sort();
  return { live: live[Math.floor(q * n)], jitterDiff: diff[Math.floor(q * n)] };
}

describe("each check's false-fail rate at its tolerance (fail_confidence 0.95: at most 5 %)", () => {
  it("each relative check alone with the dark side exactly at its tolerance, and three at once (300 runs each, seed 21)", (ctx) => {
    const atShift = (q: number) => {
      const m = modelQuantiles(q);
      return Math.max(0.1 * m.live, 5) - m.jitterDiff;
    };
    const at: Record<string, [Scenario, string]> = {
      p50: [{ ...HEALTHY, darkShiftMs: atShift(0.5) }, "latency_shift_p50"],
      p95: [{ ...HEALTHY, darkShiftMs: atShift(0.95) }, "latency_shift_p95"],
      p99: [{ ...HEALTHY, darkShiftMs: atShift(0.99) }, "latency_shift_p99"],
      errors: [{ ...HEALTHY, darkErrorRate: 0.008 }, "dark_error_excess"],
      mismatches: [{ ...HEALTHY, mismatchRate: 0.0025 }, "pair_mismatches"],
    };
    const limit = 0.05 + 3 * Math.sqrt((0.05 * 0.95) / 300);
    for (const [name, [s, id]] of Object.entries(at)) {
      const t = tally(s, 300, 21);
      ctx.diagnostic(
        `${name} at its tolerance: fails ${pct(rate(t.failed[id], t))}, passes ${pct(rate(t.passed[id], t))}`,
      );
      assert.ok(rate(t.failed[id], t) <= limit, `${id}: ${summary(t)}`);
    }
    // p99, errors and mismatches at their tolerance at once: the verdict fails when any does,
    // at most 1 − 0.95³ ≈ 14 % (no multiplicity correction)
    const all = tally(
      {
        ...HEALTHY,
        darkShiftMs: atShift(0.99),
        darkErrorRate: 0.008,
        mismatchRate: 0.0025,
      },
      300,
      22,
    );
    ctx.diagnostic(`three at once: ${summary(all)}`);
    assert.ok(
      rate(all.verdict.fail, all) <= 1 - 0.95 ** 3 + 0.05,
      summary(all),
    );
  });
});
