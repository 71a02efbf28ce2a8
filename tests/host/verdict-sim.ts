/**
 * Simulated runs of a dark launch, as the report's admin source would see them: for each mirrored
 * request a live and a dark answer drawn from known distributions, recorded the way the filter
 * records them (counters by class, pairs by side in error, pair comparisons, latencies and the
 * pairs' dark − live difference in microseconds, in Envoy's detailed log-linear bins of two
 * significant digits), then merged by the admin source's own code (mergeRaw) into the model the
 * verdict judges.
 *
 * The latency model: each request asks for some work, shared by live and dark (the same request
 * is answered by both): lognormal, median 15 ms, p95 40 ms. Each side adds its own independent
 * jitter (scheduling, network, GC): lognormal, median `jitter.medianMs`, p95 `jitter.p95Ms`.
 * live = work + jitter; dark = work × darkScale + jitter + darkShiftMs (+ tail.ms on tail.share
 * of answers). Errors are independent per side; a mismatch is drawn per pair that both sides
 * answered without error.
 */
import { mergeRaw, type RawTarget } from "../../scripts/report/admin.ts";
import type { Bucket, TargetStats } from "../../scripts/report/model.ts";
import type { Rng } from "./rng.ts";

/** What one simulated run looks like. */
export interface Scenario {
  /** mirrored requests */
  requests: number;
  /** per-side chance of a 5xx (independent) */
  liveErrorRate: number;
  darkErrorRate: number;
  /** every dark answer a reset (host down): no status, no latency */
  darkDown?: boolean;
  /** dark answers that are gRPC errors (HTTP 200, grpc-status ≠ 0), on top of darkErrorRate */
  darkGrpcErrorRate?: number;
  /** added to every dark answer */
  darkShiftMs?: number;
  /** added to a share of dark answers */
  darkTail?: { share: number; ms: number };
  /** the dark side's work is this many times live's (0.8: 20 % faster) */
  darkScale?: number;
  /** share of pairs answered without error on both sides whose bodies differ */
  mismatchRate: number;
  /** per-side jitter */
  jitter: { medianMs: number; p95Ms: number };
  /** the shared work */
  work?: { medianMs: number; p95Ms: number };
  /** simulate a baseline target too: a second live instance receiving the same copies */
  baseline?: boolean;
  /** share of sampled requests the filter's limits turned away (overloaded) */
  cappedShare?: number;
}

export const WORK = { medianMs: 15, p95Ms: 40 };
/** Jitter of a quiet machine: median 0.5 ms, p95 2 ms (its p99 ≈ 3.6 ms). */
export const QUIET_JITTER = { medianMs: 0.5, p95Ms: 2 };
/** Jitter of a noisy one: four times as much (median 2 ms, p95 8 ms). */
export const NOISY_JITTER = { medianMs: 2, p95Ms: 8 };

const Z95 = 1.6448536269514722;

/** Standard normal draws (Box–Muller, both of each pair used). */
function normals(rng: Rng) {
  let spare = NaN;
  return () => {
    if (!Number.isNaN(spare)) {
      const z = spare;
      spare = NaN;
      return z;
    }
    const r = Math.sqrt(-2 * Math.log(1 - rng.next()));
    const a = 2 * Math.PI * rng.next();
    spare = r * Math.sin(a);
    return r * Math.cos(a);
  };
}

/** A lognormal sampler with the given median and 95th percentile. */
function lognormal(normal: () => number, median: number, p95: number) {
  const mu = Math.log(median);
  const sigma = Math.log(p95 / median) / Z95;
  return () => Math.exp(mu + sigma * normal());
}

/** Envoy's detailed bin of a value in µs (two significant digits): [lower, lower + width). */
export function envoyBin(us: number): { lower: number; width: number } {
  if (us <= 0) return { lower: 0, width: 0 };
  let width = 0.1;
  while (us >= width * 100) width *= 10;
  if (width < 1) width = Math.round(width * 1e6) / 1e6;
  return { lower: Math.floor(us / width) * width, width };
}

/** Histogram of whole µs values, as Envoy's detailed buckets in ms (as admin.ts reads them). */
class Histogram {
  private counts = new Map<number, number>();
  add(us: number) {
    const v = Math.max(0, Math.round(us));
    // the bin's lower bound: v with all but its two leading digits zeroed
    let width = 1;
    while (v >= width * 100) width *= 10;
    const lower = v < 10 ? v : v - (v % width);
    this.counts.set(lower, (this.counts.get(lower) ?? 0) + 1);
  }
  buckets(): Bucket[] {
    return [...this.counts].map(([lower, count]) => {
      const b = envoyBin(lower);
      return { lower: b.lower / 1000, width: b.width / 1000, count };
    });
  }
}

/** Pair outcome slots: both_ok, dark_error, live_error, both_error. */
const PAIRS = ["both_ok", "dark_error", "live_error", "both_error"];

interface Target {
  name: string;
  copies: number;
  /** 2xx, 5xx, reset, grpc_error */
  classes: number[];
  pairs: number[];
  /** pairs compared: match, body_mismatch; and not-both-ok comparisons (status_mismatch) */
  match: number;
  differ: number;
  statusMismatch: number;
  dark: Histogram;
  slower: Histogram;
  faster: Histogram;
}

/** One run: the target "dark" (and "baseline" with `s.baseline`) as the admin source builds it. */
export function simulate(s: Scenario, rng: Rng): TargetStats {
  const normal = normals(rng);
  const work = s.work ?? WORK;
  const shared = lognormal(normal, work.medianMs, work.p95Ms);
  const jitter = lognormal(normal, s.jitter.medianMs, s.jitter.p95Ms);
  const live = new Histogram();
  const targets: Target[] = ["dark", ...(s.baseline ? ["baseline"] : [])].map(
    (name) => ({
      name,
      copies: 0,
      classes: [0, 0, 0, 0],
      pairs: [0, 0, 0, 0],
      match: 0,
      differ: 0,
      statusMismatch: 0,
      dark: new Histogram(),
      slower: new Histogram(),
      faster: new Histogram(),
    }),
  );
  let live2xx = 0;
  let live5xx = 0;
  const scale = s.darkScale ?? 1;
  const shift = s.darkShiftMs ?? 0;
  const grpcRate = s.darkGrpcErrorRate ?? 0;
  for (let i = 0; i < s.requests; i++) {
    const w = shared();
    const liveUs = Math.round((w + jitter()) * 1000);
    const liveError = rng.next() < s.liveErrorRate;
    if (liveError) live5xx++;
    else live2xx++;
    live.add(liveUs);
    for (const t of targets) {
      const isDark = t.name === "dark";
      t.copies++;
      const down = isDark && s.darkDown === true;
      const grpc = isDark && !down && rng.next() < grpcRate;
      const error =
        down ||
        grpc ||
        rng.next() < (isDark ? s.darkErrorRate : s.liveErrorRate);
      t.classes[down ? 2 : grpc ? 3 : error ? 1 : 0]++;
      t.pairs[(error ? 1 : 0) + (liveError ? 2 : 0)]++;
      if (!error && !liveError) {
        if (isDark && rng.next() < s.mismatchRate) t.differ++;
        else t.match++;
      } else t.statusMismatch++;
      if (down) continue;
      let ms = (isDark ? scale : 1) * w + jitter() + (isDark ? shift : 0);
      if (isDark && s.darkTail && rng.next() < s.darkTail.share)
        ms += s.darkTail.ms;
      // both latencies in whole µs, as the filter records them
      const us = Math.round(ms * 1000);
      t.dark.add(us);
      const d = us - liveUs;
      if (d >= 0) t.slower.add(d);
      else t.faster.add(-d);
    }
  }
  const raw = new Map<string, RawTarget>();
  for (const t of targets) {
    const c: Record<string, number> = {
      copies: t.copies,
      "live.2xx": live2xx,
      "live.5xx": live5xx,
      "dark.2xx": t.classes[0],
      "dark.5xx": t.classes[1],
      "dark.reset": t.classes[2],
      "dark.grpc_error": t.classes[3],
      "pair_compared.match": t.match,
      "pair_compared.body_mismatch": t.differ,
      "compared.match": t.match,
      "compared.body_mismatch": t.differ,
      "compared.status_mismatch": t.statusMismatch,
    };
    PAIRS.forEach((p, i) => (c[`pairs.${p}`] = t.pairs[i]));
    if (s.cappedShare) {
      // copies are (1 − share) of the sampled requests
      const sampled = s.requests / (1 - s.cappedShare);
      c["skipped.overloaded"] = Math.round(sampled - s.requests);
    }
    raw.set(t.name, {
      counts: c,
      live: live.buckets(),
      dark: t.dark.buckets(),
      slower: t.slower.buckets(),
      faster: t.faster.buckets(),
      ...(t.name === "dark" && s.baseline ? { baseline: "baseline" } : {}),
    });
  }
  return mergeRaw([raw], "dark")[0];
}
