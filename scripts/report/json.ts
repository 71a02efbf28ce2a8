// The report as JSON (`--json`), for pipelines: the verdict, and per target each check with its
// value, limit and sample count — for a relative check its effect, tolerance and pairs, with the
// interval, the pairs still needed and the smallest effect it detects —, the counts and the
// latency figures. REPORT_JSON_SCHEMA is the
// documented shape (README, "--json"); the tests validate every JSON the report prints against it.
// Numbers that have no value (a rate with no sample) are null. With --json, a report that cannot
// be made prints `{"error": …, "exit_code": 3 or 4}` instead.
import { FAMILY_SPECS } from "../metrics.ts";
import type { Latency, Snapshot } from "./model.ts";
import { CHECKS, OBJECTIVE_KEYS, type Objectives } from "./objectives.ts";
import { exitCodeOf, type Outcome, type Verdict } from "./verdict.ts";

/** A number, or null for NaN (JSON has no NaN). */
const num = (v: number) => (Number.isFinite(v) ? v : null);

const latencyJson = (l: Latency) => ({
  count: l.count,
  mean: num(l.mean),
  p50: num(l.p50),
  p95: num(l.p95),
  p99: num(l.p99),
});

/** The labelled counter families: "skipped" → mirror_skipped_total's reasons, and so on. */
const LABELLED = FAMILY_SPECS.filter(
  (f) => f.kind === "counter" && f.label && f.values,
).map((f) => ({
  name: f.prefix,
  values: f.values!.map(([v]) => v),
}));

/** The JSON document of a report. */
export function reportJson(
  snapshot: Snapshot,
  objectives: Objectives,
  verdicts: readonly Verdict[],
) {
  const s = snapshot.source;
  return {
    version: 2 as const,
    source:
      s.kind === "prometheus"
        ? {
            kind: s.kind,
            url: s.url,
            selector: s.selector,
            window: s.window,
            time: s.time.toISOString(),
          }
        : { kind: s.kind, admins: s.admins, time: s.time.toISOString() },
    objectives,
    verdict: overall(verdicts),
    exit_code: exitCodeOf(verdicts),
    targets: snapshot.targets.map((t, i) => ({
      target: t.target,
      instances: t.instances,
      role: t.isBaseline ? ("baseline" as const) : ("candidate" as const),
      ...(t.baseline ? { baseline: t.baseline.target } : {}),
      verdict: verdicts[i].outcome,
      checks: verdicts[i].checks.map((c) => ({
        id: c.id,
        name: c.name,
        kind: c.kind,
        value: num(c.value),
        op: c.op,
        limit: num(c.limit),
        unit: c.unit,
        samples: c.samples,
        min_samples: Number.isFinite(c.needed) ? c.needed : 0,
        outcome: c.outcome,
        ...(c.interval
          ? {
              interval: {
                lower: num(c.interval.lower),
                upper: num(c.interval.upper),
                lower_confidence: objectives.fail_confidence,
                upper_confidence: objectives.pass_confidence,
              },
            }
          : {}),
        ...(c.limitRange
          ? {
              limit_range: {
                pass: num(c.limitRange.pass),
                fail: num(c.limitRange.fail),
              },
            }
          : {}),
        ...(c.detectable !== undefined
          ? { detectable: num(c.detectable) }
          : {}),
        ...(c.morePairs !== undefined ? { more_pairs: c.morePairs } : {}),
        ...(c.moreSeconds !== undefined ? { more_seconds: c.moreSeconds } : {}),
        ...(c.detail ? { detail: c.detail } : {}),
      })),
      counts: {
        copies: t.copies,
        inflight: t.inflight,
        turned_away: t.turnedAway,
        ...Object.fromEntries(
          LABELLED.map((f) => [
            f.name,
            Object.fromEntries(
              f.values.map((v) => [v, t.counts[`${f.name}.${v}`] ?? 0]),
            ),
          ]),
        ),
      },
      latency_ms: {
        live: latencyJson(t.live.latency),
        dark: latencyJson(t.dark.latency),
        dark_minus_live: latencyJson(t.diff),
      },
      rates_pct: {
        live_errors: num(t.live.errorPct),
        dark_errors: num(t.dark.errorPct),
        mismatches: num(t.mismatchPct),
      },
      ...(t.compare ? { compare: t.compare } : {}),
    })),
  };
}

function overall(verdicts: readonly Verdict[]): Outcome {
  return verdicts.some((v) => v.outcome === "fail")
    ? "fail"
    : verdicts.some((v) => v.outcome === "not enough data")
      ? "not enough data"
      : "pass";
}

/** The JSON document printed instead of a report that could not be made (exit 3 or 4). */
export function errorJson(message: string, code: number) {
  return { error: message, exit_code: code };
}

// ---------------------------------------------------------------------------------------------
// The documented shape, as a JSON Schema (draft-07).

const count = { type: "number", minimum: 0 };
const nullableNumber = { type: ["number", "null"] };
const outcome = { enum: ["pass", "fail", "not enough data"] };
const closed = (
  properties: Record<string, unknown>,
  required = Object.keys(properties),
) => ({
  type: "object",
  additionalProperties: false,
  required,
  properties,
});
const latency = closed({
  count,
  mean: nullableNumber,
  p50: nullableNumber,
  p95: nullableNumber,
  p99: nullableNumber,
});
const counterValues = (values: string[]) =>
  closed(Object.fromEntries(values.map((v) => [v, count])));

/** The shape of `npm run report -- --json` (one of a report, or an error). */
export const REPORT_JSON_SCHEMA = {
  $schema: "http://json-schema.org/draft-07/schema#",
  title: "npm run report -- --json",
  oneOf: [
    closed({
      version: { const: 2 },
      source: {
        oneOf: [
          closed({
            kind: { const: "admin" },
            admins: { type: "array", minItems: 1, items: { type: "string" } },
            time: { type: "string", format: "date-time" },
          }),
          closed({
            kind: { const: "prometheus" },
            url: { type: "string" },
            selector: { type: "string" },
            window: { type: "string" },
            time: { type: "string", format: "date-time" },
          }),
        ],
      },
      objectives: closed(
        Object.fromEntries(
          OBJECTIVE_KEYS.map((k) => [
            k,
            k === "min_samples"
              ? { type: "integer", minimum: 1 }
              : k === "fail_confidence" || k === "pass_confidence"
                ? { type: "number", minimum: 0.5, exclusiveMaximum: 1 }
                : { type: ["number", "null"], minimum: 0 },
          ]),
        ),
      ),
      verdict: outcome,
      exit_code: { enum: [0, 1, 2] },
      targets: {
        type: "array",
        minItems: 1,
        items: closed(
          {
            target: { type: "string" },
            instances: { type: "integer", minimum: 0 },
            role: { enum: ["candidate", "baseline"] },
            baseline: { type: "string" },
            verdict: outcome,
            checks: {
              type: "array",
              items: closed(
                {
                  id: { enum: CHECKS.map((c) => c.id) },
                  name: { enum: CHECKS.map((c) => c.name) },
                  kind: { enum: ["absolute", "relative"] },
                  value: nullableNumber,
                  op: { enum: ["<=", ">="] },
                  limit: { type: ["number", "null"], minimum: 0 },
                  unit: { enum: ["ms", "%", "copies", "failures"] },
                  samples: count,
                  min_samples: { type: "integer", minimum: 0 },
                  outcome,
                  interval: closed({
                    lower: nullableNumber,
                    upper: nullableNumber,
                    lower_confidence: { type: "number" },
                    upper_confidence: { type: "number" },
                  }),
                  limit_range: closed({
                    pass: nullableNumber,
                    fail: nullableNumber,
                  }),
                  detectable: nullableNumber,
                  more_pairs: { type: ["integer", "null"], minimum: 1 },
                  more_seconds: { type: "number", minimum: 0 },
                  detail: { type: "string" },
                },
                [
                  "id",
                  "name",
                  "kind",
                  "value",
                  "op",
                  "limit",
                  "unit",
                  "samples",
                  "min_samples",
                  "outcome",
                ],
              ),
            },
            counts: closed({
              copies: count,
              inflight: count,
              turned_away: count,
              ...Object.fromEntries(
                LABELLED.map((f) => [f.name, counterValues(f.values)]),
              ),
            }),
            latency_ms: closed({
              live: latency,
              dark: latency,
              dark_minus_live: latency,
            }),
            rates_pct: closed({
              live_errors: nullableNumber,
              dark_errors: nullableNumber,
              mismatches: nullableNumber,
            }),
            compare: closed({
              status: { enum: ["exact", "class", "off"] },
              body: { enum: ["off", "exact", "json"] },
            }),
          },
          [
            "target",
            "instances",
            "role",
            "verdict",
            "checks",
            "counts",
            "latency_ms",
            "rates_pct",
          ],
        ),
      },
    }),
    closed({
      error: { type: "string" },
      exit_code: { enum: [3, 4] },
    }),
  ],
} as const;
