// What the dark version must meet: the objectives, their defaults, the checks they make and the
// objectives file that overrides them. One table for the verdict (verdict.ts), both renderings
// and the gates (scripts/gates.ts renders gates/ from it and from promql.ts).
//
// Two kinds of check. The relative checks (on by default) judge the dark side against the live
// one on the same requests — the pairs — each with a tolerance, a confidence interval and three
// outcomes (verdict.ts, relative.ts). The absolute checks (off by default) are an SLO gate on the
// dark side alone: a limit the user sets from what they know of their service.
import { readFileSync } from "node:fs";
import { EXIT, ReportError } from "./exit.ts";

/** The limits a dark version is judged against. A null limit is not judged. */
export interface Objectives {
  /** latency shifts: the tolerance is this percentage of live's quantile… */
  max_latency_shift_pct: number | null;
  /** …and at least this many milliseconds */
  max_latency_shift_floor_ms: number | null;
  /** pairs before the p99 shift is judged (null: never) */
  min_pairs_p99: number | null;
  /** dark-only errors minus live-only errors, per pair, in percent */
  max_dark_error_excess_pct: number | null;
  /** pairs where both sides answered without error that differ, in percent */
  max_pair_mismatch_pct: number | null;
  /** sampled requests turned away by overloaded or over_budget, in percent */
  max_capped_pct: number | null;
  /** confidence of a relative check's lower bound, which fails it */
  fail_confidence: number;
  /** confidence of a relative check's upper bound, which passes it */
  pass_confidence: number;
  max_dark_mean_ms: number | null;
  max_dark_p95_ms: number | null;
  max_dark_p99_ms: number | null;
  max_dark_error_pct: number | null;
  max_mismatch_pct: number | null;
  max_dispatch_failures: number | null;
  min_samples: number;
}

/**
 * The relative checks on, with the tolerances and confidences that the simulations of
 * tests/host/verdict-power.test.ts show to catch the regressions of docs/report.md's table in
 * 2,000 pairs while a healthy dark version passes; the absolute limits off (they need the
 * service's own numbers); no copy that fails to dispatch.
 */
export const DEFAULT_OBJECTIVES: Readonly<Objectives> = Object.freeze({
  max_latency_shift_pct: 10,
  max_latency_shift_floor_ms: 5,
  min_pairs_p99: 1000,
  max_dark_error_excess_pct: 0.5,
  max_pair_mismatch_pct: 0.25,
  max_capped_pct: 5,
  fail_confidence: 0.95,
  pass_confidence: 0.7,
  max_dark_mean_ms: null,
  max_dark_p95_ms: null,
  max_dark_p99_ms: null,
  max_dark_error_pct: null,
  max_mismatch_pct: null,
  max_dispatch_failures: 0,
  min_samples: 20,
});

/** The keys of the objectives, in the order --help lists them. */
export const OBJECTIVE_KEYS = Object.keys(
  DEFAULT_OBJECTIVES,
) as readonly (keyof Objectives)[];

/** What each objective means, for --help, the docs and the gates' comments. */
export const OBJECTIVE_HELP: Readonly<Record<keyof Objectives, string>> = {
  max_latency_shift_pct:
    "dark − live per pair, p50/p95/p99: ≤ this % of live's…",
  max_latency_shift_floor_ms: "…or ≤ this many ms, whichever is larger",
  min_pairs_p99: "pairs before the p99 shift is judged",
  max_dark_error_excess_pct:
    "pairs only dark erred minus only live erred, % of pairs",
  max_pair_mismatch_pct: "pairs both answered without error that differ, %",
  max_capped_pct: "sampled requests turned away (overloaded, over_budget), %",
  fail_confidence: "a relative check fails when shown beyond, this sure",
  pass_confidence: "…and passes when shown within, this sure",
  max_dark_mean_ms: "absolute: dark latency, mean",
  max_dark_p95_ms: "absolute: dark latency, 95th percentile",
  max_dark_p99_ms: "absolute: dark latency, 99th percentile",
  max_dark_error_pct: "absolute: dark 5xx, resets, gRPC errors per dark answer",
  max_mismatch_pct: "absolute: compared copies that differ (any comparison)",
  max_dispatch_failures:
    "copies Envoy refused to send (unknown cluster, no host)",
  min_samples: "samples an absolute statistic needs to be judged",
};

/** An absolute objective with a limit. */
export type LimitKey =
  | "max_dark_mean_ms"
  | "max_dark_p95_ms"
  | "max_dark_p99_ms"
  | "max_dark_error_pct"
  | "max_mismatch_pct"
  | "max_dispatch_failures";

/** A relative check. */
export type RelativeId =
  | "sample_bias"
  | "latency_shift_p50"
  | "latency_shift_p95"
  | "latency_shift_p99"
  | "dark_error_excess"
  | "pair_mismatches";

/** What a check is called: an absolute objective's limit, a relative check, or "copies". */
export type CheckId = LimitKey | RelativeId | "copies";

export type Unit = "ms" | "%" | "copies" | "failures";

/** One check a target goes through, in the order the report lists them. */
export interface CheckSpec {
  id: CheckId;
  /** "relative": judged on the pairs with an interval (relative.ts); else a value and a limit */
  kind: "relative" | "absolute";
  /** as the report prints it */
  name: string;
  unit: Unit;
  /** "<=": a value at most the limit passes; ">=": at least */
  op: "<=" | ">=";
  /** what the samples are, for "not enough data" */
  sampleNoun: string;
  /** absolute checks: judged only on at least min_samples samples (dispatch failures: on any) */
  needsSamples: boolean;
  /** one line for --help, the docs and the gates' comments */
  help: string;
}

/** Every check, in report order. */
export const CHECKS: readonly CheckSpec[] = [
  {
    id: "copies",
    kind: "absolute",
    name: "copies dispatched",
    unit: "copies",
    op: ">=",
    sampleNoun: "requests copied or turned away",
    needsSamples: true,
    help: "at least 1 copy once min_samples requests were turned away",
  },
  {
    id: "max_dispatch_failures",
    kind: "absolute",
    name: "dispatch failures",
    unit: "failures",
    op: "<=",
    sampleNoun: "copies attempted",
    needsSamples: false,
    help: OBJECTIVE_HELP.max_dispatch_failures,
  },
  {
    id: "sample_bias",
    kind: "relative",
    name: "sample bias",
    unit: "%",
    op: "<=",
    sampleNoun: "sampled requests",
    needsSamples: false,
    help: "sampled requests turned away by the in-flight cap or the memory budget: above the limit, the pairs lean to the dark side's fast moments and the latency and error checks cannot pass",
  },
  ...([50, 95, 99] as const).map(
    (q): CheckSpec => ({
      id: `latency_shift_p${q}`,
      kind: "relative",
      name: `p${q} latency shift`,
      unit: "ms",
      op: "<=",
      sampleNoun: "pairs with both latencies",
      needsSamples: false,
      help: `the ${q}th percentile of dark − live latency over the pairs, within max(max_latency_shift_pct of live's p${q}, max_latency_shift_floor_ms)${q === 99 ? ", from min_pairs_p99 pairs on" : ""}`,
    }),
  ),
  {
    id: "dark_error_excess",
    kind: "relative",
    name: "dark error excess",
    unit: "%",
    op: "<=",
    sampleNoun: "pairs",
    needsSamples: false,
    help: "pairs where only dark erred minus pairs where only live erred, per pair (errors both sides make cancel)",
  },
  {
    id: "pair_mismatches",
    kind: "relative",
    name: "pair mismatches",
    unit: "%",
    op: "<=",
    sampleNoun: "pairs compared",
    needsSamples: false,
    help: "pairs answered without error on both sides whose statuses, headers or bodies differ (against the baseline's differences, with one)",
  },
  {
    id: "max_dark_mean_ms",
    kind: "absolute",
    name: "dark mean latency",
    unit: "ms",
    op: "<=",
    sampleNoun: "dark latency samples",
    needsSamples: true,
    help: OBJECTIVE_HELP.max_dark_mean_ms,
  },
  {
    id: "max_dark_p95_ms",
    kind: "absolute",
    name: "dark p95 latency",
    unit: "ms",
    op: "<=",
    sampleNoun: "dark latency samples",
    needsSamples: true,
    help: OBJECTIVE_HELP.max_dark_p95_ms,
  },
  {
    id: "max_dark_p99_ms",
    kind: "absolute",
    name: "dark p99 latency",
    unit: "ms",
    op: "<=",
    sampleNoun: "dark latency samples",
    needsSamples: true,
    help: OBJECTIVE_HELP.max_dark_p99_ms,
  },
  {
    id: "max_dark_error_pct",
    kind: "absolute",
    name: "dark error rate",
    unit: "%",
    op: "<=",
    sampleNoun: "dark answers",
    needsSamples: true,
    help: OBJECTIVE_HELP.max_dark_error_pct,
  },
  {
    id: "max_mismatch_pct",
    kind: "absolute",
    name: "mismatch rate",
    unit: "%",
    op: "<=",
    sampleNoun: "compared requests",
    needsSamples: true,
    help: OBJECTIVE_HELP.max_mismatch_pct,
  },
];

/** The check of `id`. */
export function checkSpec(id: CheckId): CheckSpec {
  return CHECKS.find((c) => c.id === id)!;
}

/** The absolute objectives with a limit, in report order. */
export const LIMIT_KEYS = CHECKS.filter((c) => c.kind === "absolute")
  .map((c) => c.id)
  .filter((id): id is LimitKey => id !== "copies");

/** The quantile (0..1) of a latency shift check. */
export const SHIFT_QUANTILE: Readonly<Record<string, number>> = {
  latency_shift_p50: 0.5,
  latency_shift_p95: 0.95,
  latency_shift_p99: 0.99,
};

/** Is `id` a relative check? */
export function isRelative(id: CheckId): id is RelativeId {
  return checkSpec(id).kind === "relative";
}

/** The limit a check judges against under `o`; null when the objective is off. For a latency
 * shift, the percentage of live's quantile (null: the floor alone; both null: off). */
export function limitOf(id: CheckId, o: Objectives): number | null {
  switch (id) {
    case "copies":
      return 1;
    case "sample_bias":
      return o.max_capped_pct;
    case "latency_shift_p50":
    case "latency_shift_p95":
    case "latency_shift_p99":
      if (id === "latency_shift_p99" && o.min_pairs_p99 === null) return null;
      return o.max_latency_shift_pct === null &&
        o.max_latency_shift_floor_ms === null
        ? null
        : (o.max_latency_shift_pct ?? 0);
    case "dark_error_excess":
      return o.max_dark_error_excess_pct;
    case "pair_mismatches":
      return o.max_pair_mismatch_pct;
    default:
      return o[id];
  }
}

/** Is the check judged under `o`? */
export const isOn = (id: CheckId, o: Objectives) => limitOf(id, o) !== null;

const WHOLE = new Set<keyof Objectives>([
  "max_dispatch_failures",
  "min_pairs_p99",
]);

/** Defaults overridden by `given` (an objectives file's JSON); refuses unknown or bad fields. */
export function parseObjectives(given: unknown): Objectives {
  if (typeof given !== "object" || given === null || Array.isArray(given))
    throw new ReportError("objectives: must be a JSON object", EXIT.usage);
  const out: Objectives = { ...DEFAULT_OBJECTIVES };
  const bad = (key: string, what: string, value: unknown) =>
    new ReportError(
      `objectives: ${key} must be ${what}, got ${JSON.stringify(value)}`,
      EXIT.usage,
    );
  for (const [key, value] of Object.entries(given)) {
    if (key === "min_samples") {
      if (!Number.isInteger(value) || (value as number) < 1)
        throw bad(key, "a whole number of at least 1", value);
      out.min_samples = value as number;
    } else if (key === "fail_confidence" || key === "pass_confidence") {
      if (typeof value !== "number" || !(value >= 0.5 && value < 1))
        throw bad(key, "a number from 0.5 up to (not including) 1", value);
      out[key] = value;
    } else if ((OBJECTIVE_KEYS as readonly string[]).includes(key)) {
      const k = key as keyof Objectives;
      if (value === null) {
        (out as unknown as Record<string, unknown>)[k] = null;
        continue;
      }
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0)
        throw bad(key, "a number of at least 0, or null", value);
      if (WHOLE.has(k) && !Number.isInteger(value))
        throw bad(key, "a whole number, or null", value);
      (out as unknown as Record<string, unknown>)[k] = value;
    } else {
      throw new ReportError(
        `objectives: unknown field "${key}"${closest(key)} (known: ${OBJECTIVE_KEYS.join(", ")})`,
        EXIT.usage,
      );
    }
  }
  return out;
}

/** `; did you mean "x"?` for the known key nearest to `key`, when one is near. */
function closest(key: string): string {
  const distance = (a: string, b: string) => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0];
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const cur = row[j];
        row[j] = Math.min(
          row[j] + 1,
          row[j - 1] + 1,
          prev + (a[i - 1] === b[j - 1] ? 0 : 1),
        );
        prev = cur;
      }
    }
    return row[b.length];
  };
  let best = "";
  let bestD = Infinity;
  for (const k of OBJECTIVE_KEYS) {
    const d = distance(key, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(2, Math.floor(best.length / 4))
    ? `; did you mean "${best}"?`
    : "";
}

/** Reads and checks an objectives file. */
export function readObjectivesFile(path: string): Objectives {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ReportError(
      `--objectives: cannot read ${path}: ${(err as Error).message}`,
      EXIT.usage,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ReportError(
      `--objectives: ${path} is not JSON: ${(err as Error).message}`,
      EXIT.usage,
    );
  }
  try {
    return parseObjectives(json);
  } catch (err) {
    throw new ReportError(`${path}: ${(err as Error).message}`, EXIT.usage);
  }
}

/** The objectives as USAGE and the docs list them: one line each, with its default. */
export function objectivesHelp(): string {
  const lines = ["  {"];
  OBJECTIVE_KEYS.forEach((k, i) => {
    const field = `    "${k}": ${JSON.stringify(DEFAULT_OBJECTIVES[k])}${i < OBJECTIVE_KEYS.length - 1 ? "," : ""}`;
    lines.push(`${field.padEnd(38)}${OBJECTIVE_HELP[k]}`);
  });
  lines.push("  }");
  return lines.join("\n");
}
