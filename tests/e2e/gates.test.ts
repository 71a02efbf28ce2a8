// gates/: the Prometheus rules, the Argo Rollouts AnalysisTemplate and the Flagger MetricTemplates
// and Canary are what `npm run gates` renders from the report's objectives and PromQL; each
// manifest (and gates/README.md's Rollout) validates against its published CRD schema (Argo
// Rollouts v1.10.2, Flagger v1.36.1, fetched from the Go module proxy), a typo or a bad enum is
// caught; promtool accepts the rules and passes their unit tests, and evaluates the relative
// checks' gate queries on series whose outcome is known; the README lists every check with its
// limit and the PromQL the report and the gates run. tests/e2e/prometheus.test.ts runs every
// expression against a real Prometheus scraping real Envoys.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { parseAllDocuments } from "yaml";
import { stringify } from "yaml";
import {
  ARGO_ARGS,
  argoConditions,
  argoTemplate,
  DEFAULT_GATE_OPTIONS,
  flaggerRange,
  gateChecks,
  gateLimitText,
  recordedSeries,
  renderGates,
  slug,
} from "../../scripts/gates.ts";
import { REPO_ROOT } from "../../tools/paths.ts";
import { validateManifests } from "../../scripts/istio-schemas.ts";
import {
  CHECKS,
  DEFAULT_OBJECTIVES,
  isRelative,
} from "../../scripts/report/objectives.ts";
import { checkValue } from "../../scripts/report/promql.ts";
import { gateErrors, gateValidators } from "./gate-crds.ts";
import { promtoolTool } from "./prometheus-server.ts";

const GATES = join(REPO_ROOT, "gates");
const read = (file: string) => readFileSync(join(GATES, file), "utf8");
const docs = (text: string) =>
  parseAllDocuments(text).map((d) => d.toJS() as Record<string, any>);

test("gates/ is what npm run gates renders from the report's objectives and PromQL", async () => {
  const rendered = await renderGates();
  for (const [name, text] of Object.entries(rendered))
    assert.equal(
      read(name),
      text,
      `gates/${name} differs from npm run gates: run it`,
    );
  assert.deepEqual(
    readdirSync(GATES).sort(),
    [
      ...Object.keys(rendered),
      "README.md",
      "prometheus-rules.test.yaml",
    ].sort(),
  );
});

test("the Argo metrics and the Flagger Canary carry the report's limits and min_samples, check by check", () => {
  const checks = gateChecks(DEFAULT_OBJECTIVES);
  // by default: copies and dispatch failures, and every relative check; no absolute limit
  assert.deepEqual(
    checks.map((c) => c.id),
    CHECKS.filter(
      (c) =>
        c.kind === "relative" ||
        c.id === "copies" ||
        c.id === "max_dispatch_failures",
    ).map((c) => c.id),
  );
  const [argo] = docs(read("argo-analysistemplate.yaml"));
  const [canary] = docs(read("flagger-canary.yaml"));
  const templates = docs(read("flagger-metrictemplates.yaml"));
  assert.equal(argo.spec.metrics.length, checks.length);
  assert.equal(canary.spec.analysis.metrics.length, checks.length);
  assert.equal(templates.length, checks.length);
  checks.forEach((c, i) => {
    const m = argo.spec.metrics[i];
    assert.equal(m.name, slug(c.name));
    assert.deepEqual(
      {
        successCondition: m.successCondition,
        failureCondition: m.failureCondition,
      },
      argoConditions(c),
    );
    const f = canary.spec.analysis.metrics[i];
    assert.equal(f.templateRef.name, templates[i].metadata.name);
    assert.deepEqual(f.thresholdRange, flaggerRange(c));
    // a relative check's query gives its outcome (1, 0, -1): Flagger fails it at -1 only
    assert.equal(
      Object.values(f.thresholdRange)[0],
      isRelative(c.id) ? 0 : c.limit,
    );
    // min_samples guards every absolute statistic (not dispatch failures, judged on any count);
    // a relative check's interval is its guard, and p99 waits for min_pairs_p99
    for (const query of [
      m.provider.prometheus.query,
      templates[i].spec.query,
    ]) {
      assert.equal(
        query.includes(`>= ${DEFAULT_OBJECTIVES.min_samples})`),
        c.kind === "absolute" && c.id !== "max_dispatch_failures",
        `${c.id}: ${query}`,
      );
      assert.equal(
        query.includes(`>= ${DEFAULT_OBJECTIVES.min_pairs_p99})`),
        c.id === "latency_shift_p99",
        `${c.id}: ${query}`,
      );
    }
  });
});

test("every gate manifest, and gates/README.md's Rollout, validates against its published CRD schema", async () => {
  const validators = await gateValidators();
  const objects = [
    ...docs(read("argo-analysistemplate.yaml")),
    ...docs(read("flagger-metrictemplates.yaml")),
    ...docs(read("flagger-canary.yaml")),
    ...[...read("README.md").matchAll(/```yaml\n([\s\S]*?)```/g)].flatMap((m) =>
      docs(m[1]),
    ),
  ];
  assert.deepEqual([...new Set(objects.map((o) => o.kind))].sort(), [
    "AnalysisTemplate",
    "Canary",
    "MetricTemplate",
    "Rollout",
    "Service",
  ]);
  for (const o of objects)
    if (o.kind === "Service") {
      // Kubernetes' own kind: its OpenAPI schema, as istio/'s manifests are checked
      const errors = await validateManifests([{ label: "s", object: o }]);
      assert.deepEqual(errors.get("s"), [], `Service ${o.metadata.name}`);
    } else
      assert.deepEqual(await gateErrors(o), [], `${o.kind} ${o.metadata.name}`);
  process.stderr.write(
    `gates: schemas from ${[...new Set([...validators.values()].map((v) => v.source))].join("; ")}\n`,
  );
});

test("the schemas catch a typo and a bad enum", async () => {
  const [argo] = docs(read("argo-analysistemplate.yaml"));
  argo.spec.metrics[0].successCondtion = argo.spec.metrics[0].successCondition;
  argo.spec.metrics[1].provider.prometheus.qurey = "up";
  assert.deepEqual(await gateErrors(argo), [
    '/spec/metrics/0: unknown field "successCondtion"',
    '/spec/metrics/1/provider/prometheus: unknown field "qurey"',
  ]);
  const [template] = docs(read("flagger-metrictemplates.yaml"));
  template.spec.provider.type = "prometeus";
  assert.match(
    (await gateErrors(template)).join("\n"),
    /\/spec\/provider\/type: must be equal to one of the allowed values/,
  );
  const [canary] = docs(read("flagger-canary.yaml"));
  canary.spec.analysis.metrics[0].thresholdRnge = { max: 1 };
  canary.spec.analysis.metrics[1].interval = "ten minutes";
  const errors = (await gateErrors(canary)).join("\n");
  assert.match(errors, /unknown field "thresholdRnge"/);
  assert.match(
    errors,
    /\/spec\/analysis\/metrics\/1\/interval: must match pattern/,
  );
});

test(
  "promtool accepts the rules and passes their unit tests",
  { skip: promtoolTool.skip },
  () => {
    const run = (...args: string[]) =>
      spawnSync(promtoolTool.path!, args, { cwd: REPO_ROOT, encoding: "utf8" });
    const check = run("check", "rules", "gates/prometheus-rules.yaml");
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /SUCCESS: 23 rules found/);
    const unit = run("test", "rules", "gates/prometheus-rules.test.yaml");
    assert.equal(unit.status, 0, unit.stdout + unit.stderr);
    assert.match(unit.stdout, /SUCCESS/);
    // The unit tests cover every recorded series and both alerts.
    const tests = read("prometheus-rules.test.yaml");
    for (const { record } of recordedSeries(DEFAULT_GATE_OPTIONS.window))
      assert.ok(
        tests.includes(`expr: ${record}\n`),
        `no unit test of ${record}`,
      );
    for (const alert of [
      "MirrorDispatchFailures",
      "MirrorDarkUnavailable",
      "MirrorNoCopies",
    ])
      assert.ok(
        tests.includes(`alertname: ${alert}\n`),
        `no unit test of ${alert}`,
      );
  },
);

test(
  "the relative checks' gate queries give the report's outcomes on series whose answer is known (promtool)",
  { skip: promtoolTool.skip },
  (t) => {
    // Ten minutes of one sidecar's counters, a sample a minute, evaluated at 20m:
    //   good: 200 pairs a minute, none in error, all matching; d: half dark faster by ≤ 1 ms,
    //     half slower by ≤ 1 ms; live answers within 25 ms (the tolerance is the 5 ms floor).
    //   bad: d of every pair 10–25 ms; 10 % of pairs only dark in error; 5 % of compared differ.
    //   few: 2 pairs a minute, like good: 20 pairs decide p50 and p95's lower side only.
    //   biased: good, with 30 of 230 sampled requests a minute turned away as overloaded.
    const perMinute = {
      good: {
        pairs: 200,
        darkError: 0,
        differ: 0,
        slowerLe: "1000",
        capped: 0,
      },
      bad: {
        pairs: 200,
        darkError: 20,
        differ: 9,
        slowerLe: "25000",
        capped: 0,
      },
      few: { pairs: 2, darkError: 0, differ: 0, slowerLe: "1000", capped: 0 },
      biased: {
        pairs: 200,
        darkError: 0,
        differ: 0,
        slowerLe: "1000",
        capped: 30,
      },
    };
    const series: Array<{ series: string; values: string }> = [];
    const add = (name: string, labels: Record<string, string>, rate: number) =>
      series.push({
        series: `${name}{${Object.entries(labels)
          .map(([k, v]) => `${k}="${v}"`)
          .join(",")}}`,
        values: `0+${rate}x20`,
      });
    for (const [target, m] of Object.entries(perMinute)) {
      const T = { mirror_target: target };
      const ok = m.pairs - m.darkError;
      add("mirror_copies_total", T, m.pairs);
      add(
        "mirror_skipped_total",
        { ...T, mirror_reason: "overloaded" },
        m.capped,
      );
      add("mirror_pairs_total", { ...T, mirror_pair: "both_ok" }, ok);
      add(
        "mirror_pairs_total",
        { ...T, mirror_pair: "dark_error" },
        m.darkError,
      );
      add(
        "mirror_pair_comparisons_total",
        { ...T, mirror_result: "match" },
        ok - m.differ,
      );
      add(
        "mirror_pair_comparisons_total",
        { ...T, mirror_result: "body_mismatch" },
        m.differ,
      );
      const half = m.pairs / 2;
      const slowerOnly = target === "bad";
      for (const [kind, n] of [
        ["faster", slowerOnly ? 0 : half],
        ["slower", slowerOnly ? m.pairs : half],
      ] as const) {
        const family = `mirror_pair_dark_${kind}_microseconds`;
        const le = kind === "slower" ? m.slowerLe : "1000";
        add(`${family}_bucket`, { ...T, le }, n);
        add(`${family}_bucket`, { ...T, le: "+Inf" }, n);
        add(`${family}_count`, T, n);
      }
      for (const le of ["25000", "+Inf"])
        add("mirror_live_duration_microseconds_bucket", { ...T, le }, m.pairs);
    }
    // 1 pass, 0 not enough data, -1 fail
    const expected: Record<string, Record<string, number>> = {
      good: {
        sample_bias: 1,
        latency_shift_p50: 1,
        latency_shift_p95: 1,
        latency_shift_p99: 1,
        dark_error_excess: 1,
        pair_mismatches: 1,
      },
      bad: {
        sample_bias: 1,
        latency_shift_p50: -1,
        latency_shift_p95: -1,
        latency_shift_p99: -1,
        dark_error_excess: -1,
        pair_mismatches: -1,
      },
      few: {
        sample_bias: 1,
        latency_shift_p50: 1,
        latency_shift_p95: 0,
        latency_shift_p99: 0,
        dark_error_excess: 0,
        pair_mismatches: 0,
      },
      biased: {
        sample_bias: 0,
        latency_shift_p50: 0,
        latency_shift_p95: 0,
        latency_shift_p99: 0,
        dark_error_excess: 0,
        pair_mismatches: 1,
      },
    };
    const template = argoTemplate(DEFAULT_GATE_OPTIONS);
    const names = new Map(
      gateChecks(DEFAULT_OBJECTIVES).map((c) => [slug(c.name), c.id]),
    );
    const tests = [];
    for (const m of template.spec.metrics) {
      const id = names.get(m.name)!;
      if (!isRelative(id)) continue;
      for (const target of Object.keys(perMinute))
        tests.push({
          expr: m.provider.prometheus.query
            .replaceAll(ARGO_ARGS.target, target)
            .replaceAll(ARGO_ARGS.window, "10m"),
          eval_time: "20m",
          exp_samples: [{ labels: "{}", value: expected[target][id] }],
        });
    }
    assert.equal(tests.length, 6 * 4);
    const dir = mkdtempSync(join(tmpdir(), "mirror-gate-queries-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      join(dir, "test.yaml"),
      stringify(
        {
          rule_files: [],
          evaluation_interval: "1m",
          tests: [
            { interval: "1m", input_series: series, promql_expr_test: tests },
          ],
        },
        { lineWidth: 0 },
      ),
    );
    const r = spawnSync(promtoolTool.path!, ["test", "rules", "test.yaml"], {
      cwd: dir,
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  },
);

test("gates/README.md lists each check with its limit, Argo and Flagger names and recorded series, and the PromQL", () => {
  const readme = read("README.md");
  // the checks' table: the rows of the first table with five columns
  const rows = new Map(
    readme
      .split("\n")
      .filter((l) => /^\| [a-z]/.test(l))
      .map((l) =>
        l
          .split("|")
          .slice(1, -1)
          .map((c) => c.trim()),
      )
      .filter((cells) => cells.length === 5)
      .map((cells) => [cells[0], cells]),
  );
  const records = new Map(
    recordedSeries(DEFAULT_GATE_OPTIONS.window)
      .filter((r) => r.check)
      .map((r) => [r.check, r.record]),
  );
  for (const c of gateChecks(DEFAULT_OBJECTIVES)) {
    const row = rows.get(c.name);
    assert.ok(row, `README has no row for ${c.name}`);
    assert.deepEqual(row, [
      c.name,
      gateLimitText(c, DEFAULT_OBJECTIVES),
      `\`${slug(c.name)}\``,
      `\`mirror-${slug(c.name)}\``,
      `\`${records.get(c.id)}\``,
    ]);
  }
  const block = /```promql\n([\s\S]*?)```/.exec(readme)![1];
  assert.equal(
    block,
    CHECKS.map(
      (c) =>
        `# ${c.name}${c.unit === "ms" ? " (ms)" : c.unit === "%" ? " (%)" : ""}\n${checkValue(c.id, { target: "T", window: "10m" })}\n`,
    ).join(""),
  );
});

test("npm run gates -- --objectives FILE renders other limits, still valid", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "mirror-gates-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, "objectives.json"),
    JSON.stringify({
      max_dark_p95_ms: 250,
      max_dark_error_pct: 0,
      max_dispatch_failures: null,
      min_samples: 50,
    }),
  );
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "scripts/gates.ts",
      "--objectives",
      join(dir, "objectives.json"),
      "--window",
      "30m",
      "--out",
      join(dir, "out"),
    ],
    { cwd: REPO_ROOT, encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  const [argo] = docs(
    readFileSync(join(dir, "out", "argo-analysistemplate.yaml"), "utf8"),
  );
  const names = argo.spec.metrics.map((m: { name: string }) => m.name);
  assert.ok(!names.includes("dispatch-failures"));
  const p95 = argo.spec.metrics.find(
    (m: { name: string }) => m.name === "dark-p95-latency",
  );
  assert.equal(p95.successCondition, "len(result) > 0 && result[0] <= 250");
  assert.match(p95.provider.prometheus.query, />= 50\)$/);
  const errors = argo.spec.metrics.find(
    (m: { name: string }) => m.name === "dark-error-rate",
  );
  // a limit of 0 is broken by the first error, whatever the sample count
  assert.match(
    errors.provider.prometheus.query,
    / >= 50 or on\(\) \(100 \* .*\) > 0\)$/,
  );
  assert.equal(
    argo.spec.args.find((a: { name: string }) => a.name === "window").value,
    "30m",
  );
  for (const o of [
    argo,
    ...docs(readFileSync(join(dir, "out", "flagger-canary.yaml"), "utf8")),
  ])
    assert.deepEqual(await gateErrors(o), []);
  const rules = readFileSync(join(dir, "out", "prometheus-rules.yaml"), "utf8");
  assert.match(rules, /record: mirror_target:mirror_dark_errors:percent30m/);
  assert.doesNotMatch(rules, /MirrorDispatchFailures/);
  const bad = spawnSync(
    process.execPath,
    ["--import", "tsx", "scripts/gates.ts", "--window", "soon"],
    { cwd: REPO_ROOT, encoding: "utf8" },
  );
  assert.equal(bad.status, 2);
  assert.match(
    bad.stderr,
    /^gates: --window: must be a Prometheus duration.*\(npm run gates -- --help\)\n$/,
  );
});
