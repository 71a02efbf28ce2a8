// What the dark version must meet: the objectives, their defaults, the checks they make and the
// objectives file that overrides them. One table for the verdict (verdict.ts), both renderings
// and the gates (scripts/gates.ts renders gates/ from it and from promql.ts).
import { readFileSync } from "node:fs";
import { EXIT, ReportError } from "./exit.ts";

/** The limits a dark version is judged against. A null limit is not judged. */
export interface Objectives {
  max_dark_mean_ms: number | null;
  max_dark_p95_ms: number | null;
  max_dark_p99_ms: number | null;
  max_dark_error_pct: number | null;
  max_mismatch_pct: number | null;
  max_dispatch_failures: number | null;
  min_samples: number;
}

/**
 * The seed tutorial's gate — dark mean ≤ 50 ms, p95 ≤ 100 ms, errors ≤ 1 % — with mismatches
 * ≤ 1 %, no copy that fails to dispatch, each statistic on at least 20 samples.
 */
export const DEFAULT_OBJECTIVES: Readonly<Objectives> = Object.freeze({
  max_dark_mean_ms: 50,
  max_dark_p95_ms: 100,
  max_dark_p99_ms: null,
  max_dark_error_pct: 1,
  max_mismatch_pct: 1,
  max_dispatch_failures: 0,
  min_samples: 20,
});

/** An objective with a limit (every one but min_samples). */
export type LimitKey = Exclude<keyof Objectives, "min_samples">;

/** What a check is called: an objective's limit, or "copies" (always judged, no limit to set). */
export type CheckId = LimitKey | "copies";

export type Unit = "ms" | "%" | "copies" | "failures";

/** One check a target goes through, in the order the report lists them. */
export interface CheckSpec {
  id: CheckId;
  /** as the report prints it */
  name: string;
  unit: Unit;
  /** "<=": a value at most the limit passes; ">=": at least */
  op: "<=" | ">=";
  /** what the samples are, for "not enough data" */
  sampleNoun: string;
  /** judged only on at least min_samples samples (dispatch failures are judged on any) */
  needsSamples: boolean;
  /** one line for --help, README and the gates' comments */
  help: string;
}

/** Every check, in report order. */
export const CHECKS: readonly CheckSpec[] = [
  {
    id: "copies",
    name: "copies dispatched",
    unit: "copies",
    op: ">=",
    sampleNoun: "requests copied or turned away",
    needsSamples: true,
    help: "at least 1 copy once min_samples requests were turned away",
  },
  {
    id: "max_dispatch_failures",
    name: "dispatch failures",
    unit: "failures",
    op: "<=",
    sampleNoun: "copies attempted",
    needsSamples: false,
    help: "copies Envoy refused to send (unknown cluster, no healthy host)",
  },
  {
    id: "max_dark_mean_ms",
    name: "dark mean latency",
    unit: "ms",
    op: "<=",
    sampleNoun: "dark latency samples",
    needsSamples: true,
    help: "dark latency (dispatch → dark answer), mean",
  },
  {
    id: "max_dark_p95_ms",
    name: "dark p95 latency",
    unit: "ms",
    op: "<=",
    sampleNoun: "dark latency samples",
    needsSamples: true,
    help: "dark latency, 95th percentile",
  },
  {
    id: "max_dark_p99_ms",
    name: "dark p99 latency",
    unit: "ms",
    op: "<=",
    sampleNoun: "dark latency samples",
    needsSamples: true,
    help: "dark latency, 99th percentile",
  },
  {
    id: "max_dark_error_pct",
    name: "dark error rate",
    unit: "%",
    op: "<=",
    sampleNoun: "dark answers",
    needsSamples: true,
    help: "dark 5xx, resets and timeouts per dark answer",
  },
  {
    id: "max_mismatch_pct",
    name: "mismatch rate",
    unit: "%",
    op: "<=",
    sampleNoun: "compared requests",
    needsSamples: true,
    help: "compared pairs that differ (status, header, body, invalid JSON)",
  },
];

/** The check of `id`. */
export function checkSpec(id: CheckId): CheckSpec {
  return CHECKS.find((c) => c.id === id)!;
}

/** The objectives with a limit, in report order. */
export const LIMIT_KEYS = CHECKS.map((c) => c.id).filter(
  (id): id is LimitKey => id !== "copies",
);

/** The limit a check judges against under `o`; null when the objective is off. */
export function limitOf(id: CheckId, o: Objectives): number | null {
  return id === "copies" ? 1 : o[id];
}

/** Defaults overridden by `given` (an objectives file's JSON); refuses unknown or bad fields. */
export function parseObjectives(given: unknown): Objectives {
  if (typeof given !== "object" || given === null || Array.isArray(given))
    throw new ReportError("objectives: must be a JSON object", EXIT.usage);
  const out: Objectives = { ...DEFAULT_OBJECTIVES };
  for (const [key, value] of Object.entries(given)) {
    if ((LIMIT_KEYS as readonly string[]).includes(key)) {
      if (
        value !== null &&
        (typeof value !== "number" || !Number.isFinite(value) || value < 0)
      )
        throw new ReportError(
          `objectives: ${key} must be a number of at least 0, or null, got ${JSON.stringify(value)}`,
          EXIT.usage,
        );
      if (
        key === "max_dispatch_failures" &&
        value !== null &&
        !Number.isInteger(value)
      )
        throw new ReportError(
          `objectives: max_dispatch_failures must be a whole number, or null, got ${JSON.stringify(value)}`,
          EXIT.usage,
        );
      out[key as LimitKey] = value as number | null;
    } else if (key === "min_samples") {
      if (!Number.isInteger(value) || (value as number) < 1)
        throw new ReportError(
          `objectives: min_samples must be a whole number of at least 1, got ${JSON.stringify(value)}`,
          EXIT.usage,
        );
      out.min_samples = value as number;
    } else {
      throw new ReportError(
        `objectives: unknown field "${key}" (known: ${[...LIMIT_KEYS, "min_samples"].join(", ")})`,
        EXIT.usage,
      );
    }
  }
  return out;
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

/** The objectives as USAGE and the README list them: one line each, with its default. */
export function objectivesHelp(): string {
  const lines = ["  {"];
  const keys = [...LIMIT_KEYS, "min_samples"] as const;
  keys.forEach((k, i) => {
    const field = `    "${k}": ${JSON.stringify(DEFAULT_OBJECTIVES[k])}${i < keys.length - 1 ? "," : ""}`;
    const help =
      k === "min_samples"
        ? "samples each statistic needs before it is judged"
        : checkSpec(k).help;
    lines.push(`${field.padEnd(33)}${help}`);
  });
  lines.push("  }");
  return lines.join("\n");
}
