// `npm run gates`: renders gates/ — the Prometheus recording and alerting rules, the Argo Rollouts
// AnalysisTemplate, the Flagger MetricTemplates and an example Flagger Canary — from the report's
// objectives (scripts/report/objectives.ts) and its PromQL (scripts/report/promql.ts), so that a
// rollout tool gates on the same expressions and the same numbers as `npm run report`. The tests
// fail when a file in gates/ differs from this rendering of the default objectives.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { format } from "prettier";
import { stringify } from "yaml";
import { TAGS } from "./metrics.ts";
import { shownPath, userPath } from "../tools/paths.ts";
import { REPO_ROOT } from "../tools/paths.ts";
import {
  CHECKS,
  type CheckSpec,
  DEFAULT_OBJECTIVES,
  isRelative,
  limitOf,
  type Objectives,
  readObjectivesFile,
} from "./report/objectives.ts";
import {
  answers,
  cappedPct,
  checkValue,
  compared,
  copies,
  diffCount,
  diffQuantileMs,
  dispatchFailures,
  errorPct,
  gateQuery,
  latencyCount,
  meanMs,
  mismatchPct,
  pairCompared,
  pairs,
  type QueryScope,
  quantileMs,
  turnedAway,
} from "./report/promql.ts";
import { DEFAULT_WINDOW, parseWindow } from "./report/prometheus.ts";
import { limitText } from "./report/text.ts";
import { isMain } from "../tools/command.ts";

export const USAGE = `usage: npm run gates -- [--objectives FILE] [--window ${DEFAULT_WINDOW}] [--prometheus-address URL] [--out DIR]

Writes the rollout gates of the mirror's objectives into DIR [gates]: Prometheus recording and
alerting rules, an Argo Rollouts AnalysisTemplate, Flagger MetricTemplates and an example Flagger
Canary, with the PromQL and the limits of \`npm run report\` (README, "Gating a rollout").

  --objectives FILE          objectives other than the defaults (as npm run report takes them)
  --window DURATION          the rules' window, and the templates' default one [${DEFAULT_WINDOW}]
  --prometheus-address URL   where Argo and Flagger query Prometheus
                             [${"http://prometheus.istio-system:9090"}]
  --out DIR                  [gates]
  -h, --help
`;

/** What the gates are rendered for. */
export interface GateOptions {
  objectives: Objectives;
  window: string;
  prometheusAddress: string;
}

export const DEFAULT_GATE_OPTIONS: Readonly<GateOptions> = Object.freeze({
  objectives: DEFAULT_OBJECTIVES,
  window: DEFAULT_WINDOW,
  prometheusAddress: "http://prometheus.istio-system:9090",
});

/** The checks a gate makes under `o` (those with a limit), with the limit. */
export function gateChecks(
  o: Objectives,
): Array<CheckSpec & { limit: number }> {
  return CHECKS.flatMap((c) => {
    const limit = limitOf(c.id, o);
    return limit === null ? [] : [{ ...c, limit }];
  });
}

/** A check's limit as gates/README.md's table shows it: `≤ 100 ms`, `≤ max(10% of live's p95, 5 ms)`. */
export function gateLimitText(
  c: CheckSpec & { limit: number },
  o: Objectives,
): string {
  const q = c.id.match(/^latency_shift_(p\d+)$/)?.[1];
  if (q) {
    const parts = [
      o.max_latency_shift_pct !== null
        ? `${o.max_latency_shift_pct}% of live's ${q}`
        : "",
      o.max_latency_shift_floor_ms !== null
        ? `${o.max_latency_shift_floor_ms} ms`
        : "",
    ].filter(Boolean);
    return `≤ ${parts.length > 1 ? `max(${parts.join(", ")})` : parts[0]}`;
  }
  return `${c.op === "<=" ? "≤" : "≥"} ${limitText(c.limit, c.unit)}`;
}

/** "dark p95 latency" → "dark-p95-latency" */
export const slug = (name: string) => name.replace(/[^a-z0-9]+/g, "-");

// ---------------------------------------------------------------------------------------------
// Prometheus rules.

/** One recorded series per figure the report judges, per target, over `window`. */
export function recordedSeries(window: string): Array<{
  record: string;
  expr: string;
  /** the check whose value it is, if any */
  check?: CheckSpec["id"];
}> {
  const s: QueryScope = { window, by: [TAGS.target] };
  const r = (metric: string, op: string) =>
    `${TAGS.target}:${metric}:${op}${window}`;
  return [
    {
      record: r("mirror_copies", "increase"),
      expr: copies(s),
      check: "copies",
    },
    { record: r("mirror_turned_away", "increase"), expr: turnedAway(s) },
    {
      record: r("mirror_dispatch_failures", "increase"),
      expr: dispatchFailures(s),
      check: "max_dispatch_failures",
    },
    {
      record: r("mirror_dark_latency_samples", "increase"),
      expr: latencyCount("dark", s),
    },
    {
      record: r("mirror_dark_latency_milliseconds", "mean"),
      expr: meanMs("dark", s),
      check: "max_dark_mean_ms",
    },
    {
      record: r("mirror_dark_latency_milliseconds", "p95_"),
      expr: quantileMs("dark", 0.95, s),
      check: "max_dark_p95_ms",
    },
    {
      record: r("mirror_dark_latency_milliseconds", "p99_"),
      expr: quantileMs("dark", 0.99, s),
      check: "max_dark_p99_ms",
    },
    { record: r("mirror_dark_answers", "increase"), expr: answers("dark", s) },
    {
      record: r("mirror_dark_errors", "percent"),
      expr: errorPct("dark", s),
      check: "max_dark_error_pct",
    },
    { record: r("mirror_compared", "increase"), expr: compared(s) },
    {
      record: r("mirror_mismatches", "percent"),
      expr: mismatchPct(s),
      check: "max_mismatch_pct",
    },
    { record: r("mirror_pairs", "increase"), expr: pairs(s) },
    {
      record: r("mirror_dark_error_excess", "percent"),
      expr: checkValue("dark_error_excess", s),
      check: "dark_error_excess",
    },
    { record: r("mirror_pair_compared", "increase"), expr: pairCompared(s) },
    {
      record: r("mirror_pair_mismatches", "percent"),
      expr: checkValue("pair_mismatches", s),
      check: "pair_mismatches",
    },
    {
      record: r("mirror_pair_latency_samples", "increase"),
      expr: diffCount(s),
    },
    ...([50, 95, 99] as const).map((q) => ({
      record: r("mirror_dark_minus_live_milliseconds", `p${q}_`),
      expr: diffQuantileMs(q / 100, s),
      check: `latency_shift_p${q}` as const,
    })),
    {
      record: r("mirror_capped", "percent"),
      expr: cappedPct(s),
      check: "sample_bias",
    },
  ];
}

/**
 * The alerts: copies Envoy refuses to send for a reason a person must fix (no such cluster, any
 * other refusal); a dark service that loses its endpoints while copies reach it, for longer than
 * a rollout's start; a target that gets no copy while requests are turned away. A dark service
 * with no endpoint at all — the canary scaled to zero, the preview selecting no pod between
 * rollouts — is not an alert: its copies fail with no_healthy_host and nothing else happens.
 */
export function alertRules(o: GateOptions) {
  const w = o.window;
  const alerts: object[] = [];
  const max = o.objectives.max_dispatch_failures;
  const s: QueryScope = { window: w, by: [TAGS.target] };
  const recent: QueryScope = { window: "5m", by: [TAGS.target] };
  const failures = (reason: string, scope: QueryScope) =>
    `sum by (${TAGS.target}, ${TAGS.reason}) (increase(mirror_dispatch_failures_total{${reason}}[${scope.window}]))`;
  if (max !== null) {
    alerts.push({
      alert: "MirrorDispatchFailures",
      expr: `${failures(`${TAGS.reason}!="no_healthy_host"`, s)} > ${max}`,
      labels: { severity: "warning" },
      annotations: {
        summary: `Copies to {{ $labels.${TAGS.target} }} fail to dispatch ({{ $labels.${TAGS.reason} }})`,
        description: `{{ $value | humanize }} copies to {{ $labels.${TAGS.target} }} were refused by the sidecars' Envoy in the last ${w} ({{ $labels.${TAGS.reason} }}): unknown_cluster means the sidecars have no such cluster (a typo in targets[].cluster, or a Sidecar resource that hides the dark service). The dark version is not being tested.`,
      },
    });
    alerts.push({
      alert: "MirrorDarkUnavailable",
      expr: `(${failures(`${TAGS.reason}="no_healthy_host"`, recent)} > ${max}) and on (${TAGS.target}) (${copies(recent)} > 0)`,
      for: "10m",
      labels: { severity: "warning" },
      annotations: {
        summary: `{{ $labels.${TAGS.target} }} keeps losing its endpoints while copies reach it`,
        description: `For 10 minutes, some copies to {{ $labels.${TAGS.target} }} found no healthy host while others went through: the dark service's pods are failing their readiness or restarting. (A dark service with no endpoint at all, between rollouts, does not alert.)`,
      },
    });
  }
  alerts.push({
    alert: "MirrorNoCopies",
    expr: `(${copies(s)} == 0) and on (${TAGS.target}) (${turnedAway(s, ["no_healthy_host"])} >= ${o.objectives.min_samples})`,
    labels: { severity: "warning" },
    annotations: {
      summary: `No copy reaches {{ $labels.${TAGS.target} }}`,
      description: `In the last ${w}, no request was copied to {{ $labels.${TAGS.target} }} while at least ${o.objectives.min_samples} were turned away (skipped for another reason than sampling or match, or refused by Envoy for another reason than a dark service without endpoints): see mirror_skipped_total and mirror_dispatch_failures_total by mirror_reason.`,
    },
  });
  return alerts;
}

/** The rules file (recording rules and alerts). */
export function rulesFile(o: GateOptions) {
  return {
    groups: [
      {
        name: "mirror",
        rules: [
          ...recordedSeries(o.window).map(({ record, expr }) => ({
            record,
            expr,
          })),
          ...alertRules(o),
        ],
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Argo Rollouts.

/** The Argo Rollouts placeholders. */
export const ARGO_ARGS = {
  target: "{{args.mirror-target}}",
  window: "{{args.window}}",
  address: "{{args.prometheus-address}}",
};

/**
 * Argo's successCondition and failureCondition for a check (an empty result: Inconclusive). A
 * relative check's query gives its outcome: 1 Successful, -1 Failed, 0 Inconclusive.
 */
export function argoConditions(c: {
  id: CheckSpec["id"];
  op: "<=" | ">=";
  limit: number;
}) {
  if (isRelative(c.id))
    return {
      successCondition: "len(result) > 0 && result[0] == 1",
      failureCondition: "len(result) > 0 && result[0] == -1",
    };
  const [ok, bad] = c.op === "<=" ? ["<=", ">"] : [">=", "<"];
  return {
    successCondition: `len(result) > 0 && result[0] ${ok} ${c.limit}`,
    failureCondition: `len(result) > 0 && result[0] ${bad} ${c.limit}`,
  };
}

/** The AnalysisTemplate: one metric per check, measured once, one window after the start. */
export function argoTemplate(o: GateOptions) {
  const scope: QueryScope = {
    target: ARGO_ARGS.target,
    window: ARGO_ARGS.window,
  };
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "AnalysisTemplate",
    metadata: { name: "mirror-dark-launch" },
    spec: {
      args: [
        { name: "mirror-target" },
        { name: "window", value: o.window },
        { name: "prometheus-address", value: o.prometheusAddress },
      ],
      metrics: gateChecks(o.objectives).map((c) => ({
        name: slug(c.name),
        initialDelay: ARGO_ARGS.window,
        count: 1,
        ...argoConditions(c),
        provider: {
          prometheus: {
            address: ARGO_ARGS.address,
            query: gateQuery(c.id, scope, o.objectives, c.limit),
          },
        },
      })),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Flagger.

/** The Flagger placeholders. */
export const FLAGGER_VARS = {
  target: "{{ variables.mirror_target }}",
  window: "{{ interval }}",
};

/** One MetricTemplate per check. */
export function flaggerTemplates(o: GateOptions) {
  const scope: QueryScope = {
    target: FLAGGER_VARS.target,
    window: FLAGGER_VARS.window,
  };
  return gateChecks(o.objectives).map((c) => ({
    apiVersion: "flagger.app/v1beta1",
    kind: "MetricTemplate",
    metadata: { name: `mirror-${slug(c.name)}` },
    spec: {
      provider: { type: "prometheus", address: o.prometheusAddress },
      query: gateQuery(c.id, scope, o.objectives, c.limit),
    },
  }));
}

/**
 * Flagger's thresholdRange for a check (a value outside it fails the check). A relative check's
 * outcome fails only at -1: Flagger has no "inconclusive", and a check that failed while the
 * pairs are still too few would count towards a rollback (gates/README.md).
 */
export function flaggerRange(c: {
  id: CheckSpec["id"];
  op: "<=" | ">=";
  limit: number;
}) {
  if (isRelative(c.id)) return { min: 0 };
  return c.op === "<=" ? { max: c.limit } : { min: c.limit };
}

/** A Canary's analysis.metrics for the templates: each looks back `interval`. */
export function flaggerMetrics(
  o: GateOptions,
  mirrorTarget: string,
  interval: string,
) {
  return gateChecks(o.objectives).map((c) => ({
    name: `mirror ${c.name}`,
    templateRef: { name: `mirror-${slug(c.name)}` },
    thresholdRange: flaggerRange(c),
    interval,
    templateVariables: { mirror_target: mirrorTarget },
  }));
}

/**
 * The example Canary: Blue/Green (no live traffic shifted) while the filter mirrors to the
 * canary's Service. Flagger scales the canary to zero between rollouts and checks from its first
 * iteration after the canary is ready, so each check looks back one minute (copies sent before
 * the canary was ready fail with no_healthy_host), and threshold 2 forgives one failed check.
 */
export function flaggerCanary(o: GateOptions) {
  return {
    apiVersion: "flagger.app/v1beta1",
    kind: "Canary",
    metadata: { name: "kitchen", namespace: "default" },
    spec: {
      provider: "istio",
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "kitchen" },
      service: { port: 8080, targetPort: 8080 },
      analysis: {
        interval: "1m",
        threshold: 2,
        iterations: 10,
        metrics: flaggerMetrics(
          o,
          "outbound|8080||kitchen-canary.default.svc.cluster.local",
          "1m",
        ),
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Files.

const HEADER = (what: string) =>
  `# ${what}\n# Generated by \`npm run gates\` from scripts/report/objectives.ts and scripts/report/promql.ts, the\n# objectives and PromQL of \`npm run report\`: change those (or render your own objectives with\n# \`npm run gates -- --objectives FILE\`), not this file. gates/README.md says how to use it.\n`;

const yaml = (docs: object[]) =>
  docs.map((d) => stringify(d, { lineWidth: 0 })).join("---\n");

/** Every file of gates/ (README aside) by name, formatted as prettier leaves it. */
export async function renderGates(
  o: GateOptions = DEFAULT_GATE_OPTIONS,
): Promise<Record<string, string>> {
  const files: Record<string, string> = {
    "prometheus-rules.yaml":
      HEADER(
        `Prometheus rules of the mirror's objectives: one recorded series per figure, per target, over ${o.window}, and alerts.`,
      ) + yaml([rulesFile(o)]),
    "argo-analysistemplate.yaml":
      HEADER(
        "Argo Rollouts AnalysisTemplate: the report's checks, measured once a window after the analysis starts.",
      ) + yaml([argoTemplate(o)]),
    "flagger-metrictemplates.yaml":
      HEADER(
        "Flagger MetricTemplates: one per check of the report; the limits are in the Canary (flagger-canary.yaml).",
      ) + yaml(flaggerTemplates(o)),
    "flagger-canary.yaml":
      HEADER(
        "An example Flagger Canary (Blue/Green: no traffic shifted) gated on the MetricTemplates, with the report's limits.",
      ) + yaml([flaggerCanary(o)]),
  };
  for (const [name, text] of Object.entries(files))
    files[name] = await format(text, { parser: "yaml" });
  return files;
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        objectives: { type: "string" },
        window: { type: "string" },
        "prometheus-address": { type: "string" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const o: GateOptions = {
      objectives:
        values.objectives === undefined
          ? DEFAULT_OBJECTIVES
          : readObjectivesFile(userPath(values.objectives)),
      window:
        values.window === undefined
          ? DEFAULT_WINDOW
          : parseWindow(values.window),
      prometheusAddress:
        values["prometheus-address"] ?? DEFAULT_GATE_OPTIONS.prometheusAddress,
    };
    const dir =
      values.out === undefined
        ? join(REPO_ROOT, "gates")
        : userPath(values.out);
    mkdirSync(dir, { recursive: true });
    for (const [name, text] of Object.entries(await renderGates(o))) {
      writeFileSync(join(dir, name), text);
      process.stdout.write(`${shownPath(join(dir, name))}\n`);
    }
    return 0;
  } catch (e) {
    // Bad arguments are exit 2, as for the other scripts (the report's own codes aside).
    const code = 2;
    process.stderr.write(
      `gates: ${(e as Error).message} (npm run gates -- --help)\n`,
    );
    return code;
  }
}

if (isMain(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
