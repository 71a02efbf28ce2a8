// The statistics of the relative checks: one-sided confidence bounds for a binomial proportion
// (Clopper–Pearson, Wilson), for the difference of two paired proportions (Newcombe's hybrid
// score method) and for a quantile of a binned sample (order statistics: the sign test inverted).
// The distributions are @stdlib's; tests/host/verdict-stats.test.ts checks each bound against
// published worked examples and its coverage by simulation.
import betaQuantile from "@stdlib/stats-base-dists-beta-quantile";
import binomialCdf from "@stdlib/stats-base-dists-binomial-cdf";
import binomialQuantile from "@stdlib/stats-base-dists-binomial-quantile";
import normalQuantile from "@stdlib/stats-base-dists-normal-quantile";

/** A one-sided bound's standard normal quantile: 1.645 for 0.95. */
export const zOf = (confidence: number) => normalQuantile(confidence, 0, 1);

/** An estimate with a lower bound (at one confidence) and an upper bound (at another). */
export interface Bounds {
  estimate: number;
  lower: number;
  upper: number;
}

/**
 * Wilson's score bounds for k successes in n: the lower bound at `lowerConfidence`, the upper at
 * `upperConfidence`, each one-sided (the two-sided interval at level 2c − 1 has the same ends).
 */
export function wilson(
  k: number,
  n: number,
  lowerConfidence: number,
  upperConfidence = lowerConfidence,
): Bounds {
  if (!(n > 0)) return { estimate: NaN, lower: 0, upper: 1 };
  const p = Math.min(1, Math.max(0, k / n));
  const bound = (z: number, sign: 1 | -1) => {
    const z2 = z * z;
    const centre = p + z2 / (2 * n);
    const half = z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
    return Math.min(1, Math.max(0, (centre + sign * half) / (1 + z2 / n)));
  };
  return {
    estimate: p,
    lower: bound(zOf(lowerConfidence), -1),
    upper: bound(zOf(upperConfidence), 1),
  };
}

/**
 * Clopper–Pearson (exact) bounds for k successes in n: the lower bound at `lowerConfidence`, the
 * upper at `upperConfidence`. k and n may be fractional (Prometheus' increase()).
 */
export function clopperPearson(
  k: number,
  n: number,
  lowerConfidence: number,
  upperConfidence = lowerConfidence,
): Bounds {
  if (!(n > 0)) return { estimate: NaN, lower: 0, upper: 1 };
  const x = Math.min(n, Math.max(0, k));
  return {
    estimate: x / n,
    lower: x <= 0 ? 0 : betaQuantile(1 - lowerConfidence, x, n - x + 1),
    upper: x >= n ? 1 : betaQuantile(upperConfidence, x + 1, n - x),
  };
}

/** The four cells of a paired 2×2 table: which side of each pair erred. */
export interface PairTable {
  bothError: number;
  /** only the first side (dark) erred */
  firstOnly: number;
  /** only the second side (live) erred */
  secondOnly: number;
  bothOk: number;
}

/**
 * Newcombe's hybrid score interval for the difference of two paired proportions p1 − p2 (method
 * 10 of Newcombe, Stat Med 1998;17:2635–2650; "square-and-add" in Fagerland, Lydersen and Laake):
 * Wilson bounds l1, u1 for p1 and l2, u2 for p2, combined with the correlation φ of the pairs
 * (its numerator AD − BC moved towards 0 by n/2 when positive):
 *   lower = θ − √((p1 − l1)² − 2φ(p1 − l1)(u2 − p2) + (u2 − p2)²)
 *   upper = θ + √((p2 − l2)² − 2φ(p2 − l2)(u1 − p1) + (u1 − p1)²)
 * with θ = p1 − p2 = (firstOnly − secondOnly) / n. Each bound one-sided at its own confidence.
 */
export function pairedDifference(
  t: PairTable,
  lowerConfidence: number,
  upperConfidence = lowerConfidence,
): Bounds {
  const a = t.bothError;
  const b = t.firstOnly;
  const c = t.secondOnly;
  const d = t.bothOk;
  const n = a + b + c + d;
  if (!(n > 0)) return { estimate: NaN, lower: -1, upper: 1 };
  const p1 = (a + b) / n;
  const p2 = (a + c) / n;
  const marginals = (a + b) * (c + d) * (a + c) * (b + d);
  let phi = 0;
  if (marginals > 0) {
    const cross = a * d - b * c;
    phi =
      cross > n / 2
        ? (cross - n / 2) / Math.sqrt(marginals)
        : cross < 0
          ? cross / Math.sqrt(marginals)
          : 0;
  }
  const atLower = {
    one: wilson(a + b, n, lowerConfidence),
    two: wilson(a + c, n, lowerConfidence),
  };
  const atUpper = {
    one: wilson(a + b, n, upperConfidence),
    two: wilson(a + c, n, upperConfidence),
  };
  const spread = (x: number, y: number) =>
    Math.sqrt(Math.max(0, x * x - 2 * phi * x * y + y * y));
  const theta = p1 - p2;
  return {
    estimate: theta,
    lower: Math.max(
      -1,
      theta - spread(p1 - atLower.one.lower, atLower.two.upper - p2),
    ),
    upper: Math.min(
      1,
      theta + spread(p2 - atUpper.two.lower, atUpper.one.upper - p1),
    ),
  };
}

// ---------------------------------------------------------------------------------------------
// Quantiles of a binned sample.

/** A bin of a sample: `count` values in [lower, lower + width] (width 0: all equal to lower). */
export interface Bin {
  lower: number;
  width: number;
  count: number;
}

/**
 * The ranks (1-based) of the order statistics that bound the q-quantile of a continuous
 * distribution from n samples: P(X₍ₗ₎ ≤ ξq) = P(K ≥ l) ≥ lowerConfidence and
 * P(X₍ᵤ₎ ≥ ξq) = P(K ≤ u − 1) ≥ upperConfidence, K ~ Binomial(n, q) the samples below ξq —
 * the sign test inverted. l is 0 (no lower bound) or u is n + 1 (no upper bound) when n is too
 * small for that confidence.
 */
export function quantileRanks(
  n: number,
  q: number,
  lowerConfidence: number,
  upperConfidence = lowerConfidence,
): { lower: number; upper: number } {
  const m = Math.round(n);
  if (m <= 0) return { lower: 0, upper: 1 };
  // the largest j with P(K ≤ j) ≤ 1 − c; then l = j + 1
  const alpha = 1 - lowerConfidence;
  let j = binomialQuantile(alpha, m, q);
  if (binomialCdf(j, m, q) > alpha * (1 + 1e-12)) j -= 1;
  // the smallest u − 1 with P(K ≤ u − 1) ≥ c
  const u = binomialQuantile(upperConfidence, m, q) + 1;
  return { lower: Math.max(0, j + 1), upper: Math.min(m + 1, u) };
}

/** The bin of sorted `bins` that holds the sample of rank `rank` (1-based), by cumulative count. */
function binAt(bins: readonly Bin[], rank: number): Bin | undefined {
  let below = 0;
  for (const b of bins) {
    if (b.count > 0 && below + b.count >= rank - 1e-9) return b;
    below += b.count;
  }
  return undefined;
}

/**
 * Bounds for the q-quantile of the sample in `bins` (sorted by lower): the order statistics of
 * quantileRanks, each taken at the far edge of its bin (the lower bound at its bin's lower edge,
 * the upper at its bin's upper edge), so never narrower than a bin. -Infinity / Infinity when
 * the sample is too small for a bound. The estimate is `estimate(bins, q)`.
 */
export function quantileBounds(
  bins: readonly Bin[],
  q: number,
  lowerConfidence: number,
  upperConfidence: number,
  estimate: (bins: readonly Bin[], q: number) => number,
): Bounds {
  const n = bins.reduce((s, b) => s + b.count, 0);
  if (Math.round(n) <= 0)
    return { estimate: NaN, lower: -Infinity, upper: Infinity };
  const ranks = quantileRanks(n, q, lowerConfidence, upperConfidence);
  const lo = ranks.lower >= 1 ? binAt(bins, ranks.lower) : undefined;
  const hi =
    ranks.upper <= Math.round(n) ? binAt(bins, ranks.upper) : undefined;
  return {
    estimate: estimate(bins, q),
    lower: lo ? lo.lower : -Infinity,
    upper: hi ? hi.lower + hi.width : Infinity,
  };
}

// ---------------------------------------------------------------------------------------------
// Power.

/**
 * The smallest true proportion p that a one-sided Clopper–Pearson test of "p ≤ tolerance" at
 * `confidence` rejects with probability `power` on n trials (both in 0..1): the smallest count
 * whose lower bound exceeds the tolerance, then the p that reaches it that often. NaN when no
 * count of n can.
 */
export function detectableProportion(
  n: number,
  tolerance: number,
  confidence: number,
  power: number,
): number {
  const m = Math.round(n);
  if (m <= 0) return NaN;
  // the smallest k with a lower bound above the tolerance (monotone in k)
  let lo = 0;
  let hi = m;
  if (clopperPearson(m, m, confidence).lower <= tolerance) return NaN;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (clopperPearson(mid, m, confidence).lower > tolerance) hi = mid;
    else lo = mid;
  }
  const k = hi;
  // P(K ≥ k) = 1 − F(k − 1; m, p) grows with p
  let pLo = 0;
  let pHi = 1;
  for (let i = 0; i < 60; i++) {
    const p = (pLo + pHi) / 2;
    if (1 - binomialCdf(k - 1, m, p) >= power) pHi = p;
    else pLo = p;
  }
  return pHi;
}
