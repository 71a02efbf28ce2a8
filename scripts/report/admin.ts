// The Envoy admin source: the mirror's counters and latency histograms from one or more Envoys'
// `/stats?format=json&histogram_buckets=detailed`, merged (counts added, Envoy's log-linear bins
// added bin by bin), cumulative since each Envoy started. Quantiles are computed as Envoy computes
// its own, from its detailed bins (two significant digits), so for one Envoy they equal /stats'.
import { parseBaselineInfo, parseStatName } from "../metrics.ts";
import { EXIT, ReportError } from "./exit.ts";
import { getJson, httpUrl } from "./http.ts";
import {
  addCounts,
  type Bucket,
  type CompareMode,
  type Counts,
  type Latency,
  CLASSES,
  linkBaselines,
  NO_LATENCY,
  NO_LATENCY_CLASSES,
  signedBins,
  type Snapshot,
  targetName,
  type TargetStats,
  targetStats,
} from "./model.ts";

/** The admin of `npm start`'s demo. */
export const DEFAULT_ADMIN = "http://127.0.0.1:9901";
const ADMIN_TIMEOUT_MS = 5_000;

/** The stat prefix of the filter's metrics in Envoy (`wasmcustom.mirror_<family>.<tags>`). */
export const STAT_PREFIX = "wasmcustom.mirror_";

/** The stats query: only the mirror's metrics, histograms with their detailed buckets. */
export const STATS_PATH = `/stats?format=json&histogram_buckets=detailed&filter=${encodeURIComponent("^wasmcustom\\.mirror_")}`;

// ---------------------------------------------------------------------------------------------
// Envoy's detailed buckets: the log-linear bins of its circllhist ([30, 31), [150, 160), ...).

/**
 * The q-quantile (0..1) of a bucketed distribution, computed as Envoy's circllhist does it (so it
 * equals what `/stats` shows): the rank max(1, ceil(q·n)) falls in some bin, whose c samples are
 * taken as spread evenly inside it, at lower + width·k/(c+1) for the k-th of them.
 */
export function quantileOf(buckets: readonly Bucket[], q: number): number {
  const total = buckets.reduce((n, b) => n + b.count, 0);
  if (total === 0) return NaN;
  const rank = Math.max(1, Math.ceil(q * total));
  let below = 0;
  for (const b of buckets) {
    if (b.count > 0 && below + b.count >= rank)
      return b.width === 0
        ? b.lower
        : b.lower + (b.width * (rank - below)) / (b.count + 1);
    below += b.count;
  }
  const last = buckets[buckets.length - 1];
  return last.lower + last.width;
}

/** The mean of a bucketed distribution, each bin's samples taken at its midpoint (as Envoy's sum). */
export function meanOf(buckets: readonly Bucket[]): number {
  let n = 0;
  let sum = 0;
  for (const b of buckets) {
    n += b.count;
    sum += (b.lower + b.width / 2) * b.count;
  }
  return n === 0 ? NaN : sum / n;
}

/** Count, mean and p50/p95/p99 of Envoy bins (sorted here by their lower bound). */
export function latencyOf(buckets: readonly Bucket[]): Latency {
  if (buckets.length === 0) return { ...NO_LATENCY, buckets: [] };
  const sorted = [...buckets].sort((a, b) => a.lower - b.lower);
  return {
    count: sorted.reduce((n, b) => n + b.count, 0),
    mean: meanOf(sorted),
    p50: quantileOf(sorted, 0.5),
    p95: quantileOf(sorted, 0.95),
    p99: quantileOf(sorted, 0.99),
    buckets: sorted,
  };
}

/** Bins of several Envoys added bin by bin (the bins are the same everywhere). */
export function mergeBins(all: ReadonlyArray<readonly Bucket[]>): Bucket[] {
  const byBin = new Map<string, Bucket>();
  for (const bins of all)
    for (const b of bins) {
      const key = `${b.lower}|${b.width}`;
      const seen = byBin.get(key);
      if (seen) seen.count += b.count;
      else byBin.set(key, { ...b });
    }
  return [...byBin.values()].sort((a, b) => a.lower - b.lower);
}

// ---------------------------------------------------------------------------------------------
// `/stats?format=json&histogram_buckets=detailed`.

/** One Envoy's numbers for one target, before they are judged. */
export interface RawTarget {
  counts: Counts;
  live: Bucket[];
  dark: Bucket[];
  /** the pairs' "dark slower by" and "dark faster by" histograms */
  slower: Bucket[];
  faster: Bucket[];
  /** the baseline target this one is a candidate of (mirror_baseline_info) */
  baseline?: string;
}

/** The histograms of a target by series key, and where each goes in RawTarget. */
const HISTOGRAMS: Record<string, "live" | "dark" | "slower" | "faster"> = {
  "live.duration": "live",
  "dark.duration": "dark",
  "pair.slower": "slower",
  "pair.faster": "faster",
};

/**
 * The mirror's numbers by target in one Envoy's stats answer. Stats of other filters are
 * ignored. Throws when the mirror's histograms come without their detailed buckets (an Envoy that
 * ignores `histogram_buckets=detailed`).
 */
export function parseStatsRaw(json: unknown): Map<string, RawTarget> {
  const out = new Map<string, RawTarget>();
  const of = (t: string) => {
    let r = out.get(t);
    if (!r)
      out.set(
        t,
        (r = { counts: {}, live: [], dark: [], slower: [], faster: [] }),
      );
    return r;
  };
  const split = (name: string) => {
    if (!name.startsWith(STAT_PREFIX)) return undefined;
    const parsed = parseStatName(name);
    return parsed?.target === undefined ? undefined : parsed;
  };
  const histogramTargets = new Set<string>();
  let quantilesOnly = false;
  for (const s of (json as StatsJson).stats ?? []) {
    if (typeof s.name === "string" && typeof s.value === "number") {
      const info = parseBaselineInfo(s.name);
      if (info) {
        if (s.value > 0) of(info.target).baseline = info.baseline;
        continue;
      }
      const p = split(s.name);
      if (p) of(p.target!).counts[p.key] = s.value;
    } else if (s.histograms) {
      if (!s.histograms.details) {
        quantilesOnly = true;
        continue;
      }
      for (const h of s.histograms.details) {
        const p = split(h.name);
        const field = p && HISTOGRAMS[p.key];
        if (!field) continue;
        histogramTargets.add(p.target!);
        // recorded in microseconds, shown in milliseconds
        of(p.target!)[field] = (h.totals ?? []).map((b) => ({
          lower: b.lower_bound / 1000,
          width: b.width / 1000,
          count: b.count,
        }));
      }
    }
  }
  if (quantilesOnly && [...out.keys()].some((t) => !histogramTargets.has(t)))
    throw new ReportError(
      "Envoy answered without detailed histogram buckets: the report needs an Envoy that supports /stats?histogram_buckets=detailed",
      EXIT.noReport,
    );
  return out;
}

/**
 * Targets of several Envoys' raw numbers, merged, sorted by name, each candidate linked to its
 * baseline. Only `only` (a target name) when given, though linked to its baseline all the same.
 */
export function mergeRaw(
  all: ReadonlyArray<Map<string, RawTarget>>,
  only?: string,
): TargetStats[] {
  const names = [...new Set(all.flatMap((m) => [...m.keys()]))].sort();
  const baselineOf = new Map<string, string>();
  const targets = names.map((t) => {
    const parts = all.flatMap((m) => (m.has(t) ? [m.get(t)!] : []));
    for (const p of parts) if (p.baseline) baselineOf.set(t, p.baseline);
    const merged = (side: "live" | "dark" | "slower" | "faster") =>
      mergeBins(parts.map((p) => p[side]));
    return targetStats(
      t,
      addCounts(parts.map((p) => p.counts)),
      {
        live: latencyOf(merged("live")),
        dark: latencyOf(merged("dark")),
        diff: latencyOf(signedBins(merged("slower"), merged("faster"))),
      },
      parts.length,
    );
  });
  const shown =
    only === undefined ? targets : targets.filter((t) => t.target === only);
  linkBaselines(shown, baselineOf, targets);
  return shown;
}

/** The targets in one Envoy's stats answer, sorted by name. */
export function parseStats(json: unknown): TargetStats[] {
  return mergeRaw([parseStatsRaw(json)]);
}

/**
 * How each target compares, from every mirror filter config (root_id `mirror`) found anywhere in
 * Envoy's `/config_dump`: a comparison is off only if it is off everywhere.
 */
export function compareModes(configDump: unknown): Map<string, CompareMode> {
  const out = new Map<string, CompareMode>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (typeof node !== "object" || node === null) return;
    const o = node as Record<string, unknown>;
    const value = (o.configuration as { value?: unknown } | undefined)?.value;
    if (o.root_id === "mirror" && typeof value === "string") {
      try {
        const plugin = JSON.parse(value) as {
          targets?: Array<{ cluster?: string }>;
          cluster?: string;
          compare?: { status?: string; body?: unknown };
        };
        const clusters = plugin.targets
          ? plugin.targets.map((t) => t.cluster)
          : [plugin.cluster];
        const body = plugin.compare?.body;
        const mode = {
          status: plugin.compare?.status ?? "exact",
          body:
            body === true ? "exact" : typeof body === "string" ? body : "off",
        };
        for (const c of clusters) {
          if (typeof c !== "string") continue;
          const t = targetName(c);
          const seen = out.get(t);
          out.set(
            t,
            seen
              ? {
                  status: seen.status === "off" ? mode.status : seen.status,
                  body: seen.body === "off" ? mode.body : seen.body,
                }
              : mode,
          );
        }
      } catch {
        // not JSON: a config Envoy refused; nothing to learn from it
      }
      return;
    }
    for (const v of Object.values(o)) visit(v);
  };
  visit(configDump);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The admin API.

/** An Envoy admin address as `http://host:port`. */
export const adminUrl = (given: string) => httpUrl(given, "--admin");

const adminJson = async (admin: string, path: string) => {
  try {
    return await getJson(admin, path, "Envoy's admin", ADMIN_TIMEOUT_MS);
  } catch (err) {
    if (err instanceof ReportError && err.message.startsWith("cannot reach"))
      err.message += "; is Envoy running, and is --admin its admin address?";
    throw err;
  }
};

/**
 * One Envoy's raw numbers, only `target` (and its baseline) when given; throws when it shows no
 * mirror stats.
 */
async function readOne(
  admin: string,
  target?: string,
): Promise<Map<string, RawTarget>> {
  const raw = parseStatsRaw(await adminJson(admin, STATS_PATH));
  if (raw.size === 0)
    throw new ReportError(
      `Envoy at ${admin} shows no mirror stats (${STAT_PREFIX}*): is the mirror filter loaded, with a valid config?`,
      EXIT.noReport,
    );
  if (target === undefined) return raw;
  const wanted = targetName(target);
  const out = new Map<string, RawTarget>();
  const mine = raw.get(wanted);
  if (mine) out.set(wanted, mine);
  if (mine?.baseline && raw.has(mine.baseline))
    out.set(mine.baseline, raw.get(mine.baseline)!);
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One Envoy's numbers, read again every 250 ms for up to `settleMs` until its latency histograms
 * hold at least as many samples as the counters of the first read showed answers: Envoy's
 * counters are current, its histograms only as of its last stats flush.
 */
async function readSettled(
  admin: string,
  target: string | undefined,
  settleMs: number,
): Promise<Map<string, RawTarget>> {
  let raw = await readOne(admin, target);
  // answers with a valid status are latency samples; resets and timeouts are not
  const answered = (r: RawTarget, side: "live" | "dark") =>
    CLASSES.filter((c) => !NO_LATENCY_CLASSES.includes(c)).reduce(
      (n, c) => n + (r.counts[`${side}.${c}`] ?? 0),
      0,
    );
  const want = new Map(
    [...raw].map(([t, r]) => [
      t,
      { live: answered(r, "live"), dark: answered(r, "dark") },
    ]),
  );
  const samples = (b: Bucket[]) => b.reduce((n, x) => n + x.count, 0);
  const caughtUp = () =>
    [...raw].every(([t, r]) => {
      const w = want.get(t);
      return !w || (samples(r.dark) >= w.dark && samples(r.live) >= w.live);
    });
  const deadline = Date.now() + settleMs;
  while (!caughtUp() && Date.now() < deadline) {
    await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
    raw = await readOne(admin, target);
  }
  return raw;
}

/** What the admin source needs. */
export interface AdminOptions {
  /** Envoy admin addresses (URL, host:port or port); their numbers are added up */
  admins: string[];
  /** only this target (cluster name or its stat name) */
  target?: string;
  /** how long to wait for each Envoy's histograms to catch up with its counters [6000] */
  settleMs?: number;
}

/** Reads and merges every admin's targets and, best effort, how each compares. */
export async function readAdmins(o: AdminOptions): Promise<Snapshot> {
  const admins = o.admins.map(adminUrl);
  const time = new Date();
  const raws = await Promise.all(
    admins.map((a) => readSettled(a, o.target, o.settleMs ?? 6_000)),
  );
  const targets = mergeRaw(
    raws,
    o.target === undefined ? undefined : targetName(o.target),
  );
  if (targets.length === 0) {
    const known = [
      ...new Set(
        (await Promise.all(admins.map((a) => readOne(a)))).flatMap((m) => [
          ...m.keys(),
        ]),
      ),
    ].sort();
    throw new ReportError(
      `no stats for target "${o.target}" at ${admins.join(", ")} (targets: ${known.join(", ")})`,
      EXIT.noReport,
    );
  }
  const modes = await Promise.all(
    admins.map((a) =>
      adminJson(a, "/config_dump").then(compareModes, () => undefined),
    ),
  );
  // The compare modes only refine the text; the stats are what is judged.
  for (const t of targets) {
    const seen = modes.flatMap((m) =>
      m?.has(t.target) ? [m.get(t.target)!] : [],
    );
    if (seen.length > 0)
      t.compare = {
        status: seen.every((m) => m.status === "off")
          ? "off"
          : seen.find((m) => m.status !== "off")!.status,
        body: seen.find((m) => m.body !== "off")?.body ?? "off",
      };
  }
  return { source: { kind: "admin", admins, time }, targets };
}
