/**
 * The statistics of the relative checks (scripts/report/stats.ts): each interval against
 * published worked examples, and its coverage — exactly, by enumerating the binomial or
 * multinomial outcomes, where that is cheap; by simulation (fixed seed, stated runs) for the
 * quantile bounds on binned samples.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import binomialCdf from "@stdlib/stats-base-dists-binomial-cdf";
import {
  type Bin,
  clopperPearson,
  detectableProportion,
  pairedDifference,
  quantileBounds,
  quantileRanks,
  wilson,
  zOf,
} from "../../scripts/report/stats.ts";
import { quantileOf } from "../../scripts/report/admin.ts";
import { rng } from "./rng.ts";
import { envoyBin } from "./verdict-sim.ts";

const near = (a: number, b: number, eps: number, what: string) =>
  assert.ok(Math.abs(a - b) <= eps, `${what}: ${a} vs ${b}`);

/** log n! for the exact enumerations. */
const LOG_FACT = [0];
for (let i = 1; i <= 5000; i++) LOG_FACT[i] = LOG_FACT[i - 1] + Math.log(i);

describe("intervals against published worked examples", () => {
  it("Newcombe's paired interval: Cavo et al. 2012 (59, 6, 16, 80) is −0.0621 (−0.1186 to −0.0046)", () => {
    // Fagerland, Lydersen and Laake, Statistical Analysis of Contingency Tables (2017), ch. 8;
    // the same numbers in their R package contingencytables' tests. Two-sided 95 % = one-sided
    // 97.5 % at each end.
    const r = pairedDifference(
      { bothError: 59, firstOnly: 6, secondOnly: 16, bothOk: 80 },
      0.975,
    );
    near(r.estimate, -0.0621, 5e-5, "estimate");
    near(r.lower, -0.1186, 5e-5, "lower");
    near(r.upper, -0.0046, 5e-5, "upper");
  });

  it("Clopper–Pearson: 13 of 16 is 0.8125 (0.5435 to 0.9595); 0 of n and n of n reach 0 and 1", () => {
    const r = clopperPearson(13, 16, 0.975);
    near(r.lower, 0.5435, 5e-5, "lower");
    near(r.upper, 0.9595, 5e-5, "upper");
    // k = 0: the upper bound solves (1 − p)^n = 1 − c
    const zero = clopperPearson(0, 2000, 0.95);
    assert.equal(zero.lower, 0);
    near(zero.upper, 1 - 0.05 ** (1 / 2000), 1e-12, "upper of 0/2000");
    assert.equal(clopperPearson(5, 5, 0.95).upper, 1);
  });

  it("Wilson: 81 of 263 at 95 % is 0.2553 to 0.3662 (Newcombe 1998, single proportion, method 3)", () => {
    const r = wilson(81, 263, 0.975);
    near(r.lower, 0.2553, 5e-5, "lower");
    near(r.upper, 0.3662, 5e-5, "upper");
  });

  it("order statistics: the 95 % interval of a median of 100 is X(40) to X(61); of p99 of 2,000, X(1972) to X(1988)", () => {
    assert.deepEqual(quantileRanks(100, 0.5, 0.975), { lower: 40, upper: 61 });
    const r = quantileRanks(2000, 0.99, 0.95);
    // P(K ≥ l) ≥ 0.95 and P(K ≤ u − 1) ≥ 0.95 for K ~ Bin(2000, 0.99), and the tightest such
    const cdf = (k: number) => binomialCdf(k, 2000, 0.99);
    assert.ok(1 - cdf(r.lower - 1) >= 0.95, `P(K ≥ ${r.lower})`);
    assert.ok(1 - cdf(r.lower) < 0.95, `P(K ≥ ${r.lower + 1})`);
    assert.ok(cdf(r.upper - 1) >= 0.95, `P(K ≤ ${r.upper - 1})`);
    assert.ok(cdf(r.upper - 2) < 0.95, `P(K ≤ ${r.upper - 2})`);
    assert.deepEqual(r, { lower: 1972, upper: 1988 });
    // too few samples for a bound: none
    assert.deepEqual(quantileRanks(10, 0.99, 0.95), { lower: 9, upper: 11 });
  });
});

describe("coverage, computed exactly", () => {
  it("Clopper–Pearson's one-sided bounds cover p at least as often as their confidence", () => {
    for (const n of [50, 500, 2000])
      for (const p of [0.001, 0.0025, 0.01, 0.05]) {
        for (const c of [0.7, 0.95]) {
          // P(lower(K) ≤ p) and P(upper(K) ≥ p), K ~ Bin(n, p)
          let lowerCovers = 0;
          let upperCovers = 0;
          for (let k = 0; k <= n; k++) {
            const pk =
              binomialCdf(k, n, p) - (k > 0 ? binomialCdf(k - 1, n, p) : 0);
            if (pk < 1e-15 && k > n * p) break;
            const r = clopperPearson(k, n, c);
            if (r.lower <= p) lowerCovers += pk;
            if (r.upper >= p) upperCovers += pk;
          }
          assert.ok(lowerCovers >= c - 1e-9, `lower n=${n} p=${p} c=${c}`);
          assert.ok(upperCovers >= c - 1e-9, `upper n=${n} p=${p} c=${c}`);
        }
      }
  });

  it("Newcombe's bounds hold their confidence within a few points for paired errors at the tolerance (n = 2,000)", () => {
    // Live errs 0.3 % of the time, dark 0.8 % (an excess of exactly 0.5 %, the tolerance),
    // independently: the chance the lower bound (95 %) is above 0.5 % — a false fail — and the
    // upper bound (70 %) at or below it — a false pass. Newcombe's method is approximate: with
    // live at 0 % and dark at 0.5 %, a false pass is 33 % likely, not 30 %.
    const n = 2000;
    for (const [pl, pd] of [
      [0.003, 0.008],
      [0.0, 0.005],
      [0.02, 0.025],
    ]) {
      const cells = [
        pl * pd,
        pd * (1 - pl),
        pl * (1 - pd),
        (1 - pl) * (1 - pd),
      ];
      const logs = cells.map((x) => (x > 0 ? Math.log(x) : -Infinity));
      let falseFail = 0;
      let falsePass = 0;
      const top = (x: number) => Math.ceil(n * x + 12 * Math.sqrt(n * x + 1));
      for (let a = 0; a <= top(cells[0]); a++)
        for (let b = 0; b <= top(cells[1]); b++)
          for (let c = 0; c <= top(cells[2]); c++) {
            const d = n - a - b - c;
            const counts = [a, b, c, d];
            if (counts.some((k, i) => k > 0 && cells[i] === 0)) continue;
            const lp =
              LOG_FACT[n] -
              counts.reduce((s, k) => s + LOG_FACT[k], 0) +
              counts.reduce((s, k, i) => s + (k > 0 ? k * logs[i] : 0), 0);
            const p = Math.exp(lp);
            const r = pairedDifference(
              { bothError: a, firstOnly: b, secondOnly: c, bothOk: d },
              0.95,
              0.7,
            );
            if (r.lower > pd - pl) falseFail += p;
            if (r.upper <= pd - pl) falsePass += p;
          }
      assert.ok(falseFail <= 0.055, `false fail ${falseFail} at ${pl}/${pd}`);
      assert.ok(falsePass <= 0.34, `false pass ${falsePass} at ${pl}/${pd}`);
    }
  });

  it("the smallest detectable proportion is caught as often as asked, and a smaller one less often", () => {
    const n = 2000;
    const p = detectableProportion(n, 0.0025, 0.95, 0.8);
    // the smallest failing count, and the chance of reaching it at p and just below
    let k = 0;
    while (clopperPearson(k, n, 0.95).lower <= 0.0025) k++;
    near(1 - binomialCdf(k - 1, n, p), 0.8, 1e-6, "power at p");
    assert.ok(1 - binomialCdf(k - 1, n, p * 0.98) < 0.8, `k=${k} p=${p}`);
    // 1 % of 2,000 pairs is caught in far more than 80 % of runs
    assert.ok(p < 0.01, `detectable ${p}`);
  });
});

describe("quantile bounds on binned samples, by simulation", () => {
  /** A sample in Envoy's detailed bins (µs values shown in ms), sorted. */
  function binned(values: number[]): Bin[] {
    const m = new Map<number, Bin>();
    for (const v of values) {
      const b = envoyBin(Math.round(v * 1000));
      const seen = m.get(b.lower);
      if (seen) seen.count++;
      else m.set(b.lower, { lower: b.lower, width: b.width, count: 1 });
    }
    return [...m.values()]
      .map((b) => ({ ...b, lower: b.lower / 1000, width: b.width / 1000 }))
      .sort((a, b) => a.lower - b.lower);
  }

  it("cover the true quantile at least as often as their confidence (2,000 runs of 500, seed 7)", () => {
    // Exponential(1 ms) values: ξq = −ln(1 − q). Runs: 2,000; a one-sided bound at 95 % must
    // miss in at most 5 % (+ 3 sd of 2,000 runs: 1.5 %), at 70 % in at most 30 % (+ 3 %).
    const r = rng(7);
    const runs = 2000;
    for (const q of [0.5, 0.95, 0.99]) {
      const truth = -Math.log(1 - q);
      let lowMiss = 0;
      let highMiss = 0;
      for (let i = 0; i < runs; i++) {
        const values = Array.from(
          { length: 500 },
          () => -Math.log(1 - r.next()) + 0,
        );
        const b = quantileBounds(binned(values), q, 0.95, 0.7, quantileOf);
        if (b.lower > truth) lowMiss++;
        if (b.upper < truth) highMiss++;
      }
      assert.ok(lowMiss / runs <= 0.065, `q=${q}: lower misses ${lowMiss}`);
      assert.ok(highMiss / runs <= 0.33, `q=${q}: upper misses ${highMiss}`);
    }
  });

  it("take the far edges of their bins, and are infinite when the sample is too small", () => {
    const bins = [
      { lower: -2, width: 1, count: 10 },
      { lower: 0, width: 0, count: 5 },
      { lower: 1, width: 0.5, count: 85 },
    ];
    const b = quantileBounds(bins, 0.5, 0.95, 0.7, quantileOf);
    assert.equal(b.lower, 1);
    assert.equal(b.upper, 1.5);
    const few = quantileBounds(bins.slice(0, 1), 0.99, 0.95, 0.7, quantileOf);
    assert.equal(few.upper, Infinity);
    assert.equal(few.lower, -2);
    assert.equal(zOf(0.95).toFixed(4), "1.6449");
  });
});
