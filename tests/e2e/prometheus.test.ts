// `npm run report -- --prometheus` and the gates against a real Prometheus (Debian's) scraping
// two real Envoys that run the filter, with traffic split between them and a known outcome per
// target: a healthy dark version, a slow one, a failing one, one with too few requests, a dark
// cluster that does not exist, one without a healthy host, and one whose requests are all turned
// away. Checked: the report's counts equal the sum of both Envoys' own, each target's verdict and
// exit code (on the command itself too) — the same from Prometheus as from both admins —, the
// window leaving out the traffic before it, --selector, --json against its schema, and every
// PromQL expression of the gates — the recording rules, the alerts, the Argo Rollouts
// AnalysisTemplate and the Flagger MetricTemplates (rendered for this test's objectives) —
// evaluated on the same Prometheus, returning the report's numbers and outcomes.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import test from "node:test";
import { Ajv } from "ajv";
import { parseAllDocuments } from "yaml";
import { tmpdir } from "node:os";
import {
  argoTemplate,
  DEFAULT_GATE_OPTIONS,
  flaggerCanary,
  flaggerTemplates,
  type GateOptions,
} from "../../scripts/gates.ts";
import { keysOf, TAGS } from "../../scripts/metrics.ts";
import { main, runReport } from "../../scripts/report/cli.ts";
import { REPORT_JSON_SCHEMA } from "../../scripts/report/json.ts";
import {
  type CheckId,
  isRelative,
  type Objectives,
  parseObjectives,
} from "../../scripts/report/objectives.ts";
import { refusedPort } from "../../tools/net.ts";
import { type Envoy } from "../support/envoy.ts";
import { mapConcurrent, request } from "../support/clients.ts";
import { REPO_ROOT, repoText } from "../../tools/paths.ts";
import { reportCommand } from "../support/commands.ts";
import { scenario, type Scope } from "../support/scenario.ts";
import { sleep, waitFor } from "../../tools/wait.ts";
import {
  prometheusTool,
  type PrometheusServer,
  startPrometheus,
} from "./prometheus-server.ts";

const BODY = "classic burger\n";

/**
 * The objectives of this test: the relative checks on a few hundred requests (p99 from 200 pairs,
 * mismatches up to 5 %, errors in excess up to 10 %, latency shifts up to 30 ms on a loaded test
 * machine), so that each case is clear-cut for the report and the gates alike.
 */
const OBJECTIVES: Partial<Objectives> = {
  min_pairs_p99: 200,
  max_pair_mismatch_pct: 5,
  max_dark_error_excess_pct: 10,
  max_latency_shift_floor_ms: 30,
};
const GATES: GateOptions = {
  ...DEFAULT_GATE_OPTIONS,
  objectives: parseObjectives(OBJECTIVES),
};

/** The cases: a target per dark cluster, the requests each gets, what the report must say. */
const CASES = {
  "kitchen-healthy": {
    path: "/healthy",
    n: 300,
    outcome: "pass",
    failed: [] as string[],
  },
  "kitchen-slow": {
    path: "/slow",
    n: 30,
    outcome: "fail",
    failed: ["p50 latency shift", "p95 latency shift"],
  },
  "kitchen-failing": {
    path: "/failing",
    n: 60,
    outcome: "fail",
    failed: ["dark error excess"],
  },
  "kitchen-few": { path: "/few", n: 6, outcome: "not enough data", failed: [] },
  // No such cluster in the Envoys (a typo of kitchen-next).
  "kitchen-nxet": {
    path: "/typo",
    n: 24,
    outcome: "fail",
    failed: ["copies dispatched", "dispatch failures"],
  },
  // A cluster without endpoints: no healthy host.
  "kitchen-empty": {
    path: "/empty",
    n: 24,
    outcome: "fail",
    failed: ["copies dispatched", "dispatch failures"],
  },
  // Every request is a POST: all turned away (method), never copied.
  "kitchen-posts": {
    path: "/posts",
    n: 24,
    outcome: "fail",
    failed: ["copies dispatched"],
  },
} as const;
type Target = keyof typeof CASES;
const TARGETS = Object.keys(CASES) as Target[];
/** Dark requests of the healthy target before the window: answered 500. */
const BEFORE = 90;

const EXIT_OF = { pass: 0, fail: 1, "not enough data": 2 } as const;

/** A Writable collecting what is written. */
function sink(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as Writable & { text: () => string };
  w.text = () => chunks.join("");
  return w;
}

/** The report's command in-process (the same main as the CLI): exit code, stdout, stderr. */
async function report(...args: string[]) {
  const out = sink();
  const err = sink();
  const code = await main(args, out, err);
  return { code, out: out.text(), err: err.text() };
}

interface JsonCheck {
  id: string;
  name: string;
  value: number | null;
  limit: number;
  op: "<=" | ">=";
  samples: number;
  min_samples: number;
  outcome: "pass" | "fail" | "not enough data";
  detail?: string;
}
interface JsonTarget {
  target: string;
  instances: number;
  verdict: string;
  checks: JsonCheck[];
  counts: Record<string, number | Record<string, number>>;
  latency_ms: Record<
    "live" | "dark" | "dark_minus_live",
    Record<string, number | null>
  >;
  rates_pct: Record<string, number | null>;
}
interface JsonReport {
  verdict: string;
  exit_code: number;
  source: { time: string; window: string };
  targets: JsonTarget[];
}

const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addFormat("date-time", (s: string) => !Number.isNaN(Date.parse(s)));
const validateJson = ajv.compile(REPORT_JSON_SCHEMA as object);

function parseReportJson(text: string): JsonReport {
  const json = JSON.parse(text) as unknown;
  assert.ok(
    validateJson(json),
    `--json output off its schema: ${JSON.stringify(validateJson.errors)}`,
  );
  return json as JsonReport;
}

/** A relative check's gate value (1, 0, -1) as the report's outcome. */
const OUTCOME_OF_CODE: Record<string, string> = {
  "1": "pass",
  "0": "not enough data",
  "-1": "fail",
};

/** Relative closeness for two evaluations of the same figure. */
function close(a: number, b: number, what: string) {
  assert.ok(
    Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b)),
    `${what}: ${a} vs ${b}`,
  );
}

/** The per-target counters of one Envoy by series key (its own /stats, not the report's). */
async function envoyCounts(envoy: Envoy, target: string) {
  const c = await envoy.countersOnce(target);
  // Dark answers of any class (countersOnce's "dark" sum takes in the histogram's key too).
  c.dark = ["2xx", "3xx", "4xx", "5xx", "reset"].reduce(
    (n, k) => n + c[`dark.${k}`],
    0,
  );
  const prom = await envoy.prometheus();
  for (const side of ["live", "dark"])
    c[`${side}.latency_samples`] =
      prom.get(
        `mirror_${side}_duration_microseconds_count{mirror_target=${JSON.stringify(target)}}`,
      ) ?? 0;
  return c;
}

/** Sends `n` requests for a case, alternating between the Envoys. */
async function send(
  s: Scope,
  envoys: Envoy[],
  path: string,
  n: number,
  method = "GET",
) {
  const agent = s.agent(4);
  await mapConcurrent(
    Array.from({ length: n }, (_, i) => i),
    4,
    async (i) => {
      const reply = await request(envoys[i % envoys.length].listenerPort, {
        method,
        path: `${path}/${i}`,
        headers: { "x-request-id": randomUUID() },
        body: method === "POST" ? "{}" : undefined,
        agent,
      });
      assert.equal(reply.status, 200);
    },
  );
}

/** Go text/template as Flagger renders a MetricTemplate query (the few actions it has). */
function flaggerQuery(template: string, vars: Record<string, string>) {
  return template.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_, expr: string) => {
    if (expr === "interval") return vars.interval;
    const m = /^variables\.(\w+)$/.exec(expr);
    if (m && vars[m[1]] !== undefined) return vars[m[1]];
    throw new Error(`unknown Flagger template action {{ ${expr} }}`);
  });
}

/** Argo Rollouts' {{args.NAME}} substitution. */
function argoResolve(text: string, args: Record<string, string>) {
  return text.replace(/\{\{args\.([\w-]+)\}\}/g, (_, name: string) => {
    if (args[name] === undefined) throw new Error(`no Argo arg ${name}`);
    return args[name];
  });
}

/**
 * An Argo Rollouts condition evaluated on `result` (a vector's values). The shipped conditions use
 * only `len(result)`, `result[0]`, numbers, comparisons and `&&`, which mean the same in
 * expr-lang and JavaScript; anything else is refused here.
 */
function argoCondition(condition: string, result: number[]): boolean {
  assert.match(
    condition,
    /^len\(result\) > 0 && result\[0\] (<=|>=|<|>|==) -?[\d.]+$/,
    condition,
  );
  return new Function("len", "result", `return ${condition};`)(
    (a: unknown[]) => a.length,
    result,
  ) as boolean;
}

const gateYaml = (file: string) =>
  parseAllDocuments(repoText(`gates/${file}`)).map(
    (d) => d.toJS() as Record<string, any>,
  );

const NAME =
  "two Envoys, a real Prometheus: report --prometheus sums both Envoys, judges each target, and the gates agree";

if (prometheusTool.skip) test(NAME, { skip: prometheusTool.skip }, () => {});
else
  scenario(
    NAME,
    async (s) => {
      const started = Date.now();
      const live = await s.upstream("kitchen", { body: BODY });
      const dark = await s.upstream("kitchen-next", {
        body: BODY,
        per: (r) =>
          r.path.startsWith("/healthy/before/") ||
          r.path.startsWith("/failing/")
            ? { status: 500, body: "oven on fire\n" }
            : r.path.startsWith("/slow/")
              ? { delayMs: 150 }
              : {},
      });
      const plugin = {
        targets: TARGETS.map((cluster) => ({
          cluster,
          percentage: 100,
          match: { path_prefix: CASES[cluster].path },
        })),
        max_inflight: 1000,
        compare: { status: "exact", body: true },
      };
      const envoyOptions = {
        live,
        dark,
        darkCluster: "kitchen-healthy",
        plugin,
        clusters: {
          "kitchen-slow": dark.port,
          "kitchen-failing": dark.port,
          "kitchen-few": dark.port,
          "kitchen-posts": dark.port,
          "kitchen-empty": undefined,
        },
      };
      const envoys = [
        await s.envoy({ ...envoyOptions, name: "kitchen-a" }),
        await s.envoy({ ...envoyOptions, name: "kitchen-b" }),
      ];
      const prometheus: PrometheusServer = await startPrometheus({
        targets: envoys.map((e) => ({
          port: e.adminPort,
          labels: { namespace: "shop", pod: e.name },
        })),
        ruleFiles: [join(REPO_ROOT, "gates", "prometheus-rules.yaml")],
      });
      s.defer(() => prometheus.stop());
      const prometheusReady = Date.now();
      await prometheus.scrapes(3);

      // Before the window: the healthy target's dark version answers 500, and Prometheus sees it.
      await send(s, envoys, "/healthy/before", BEFORE);
      await waitFor(
        "Prometheus to see the traffic before the window",
        async () =>
          (await prometheus.value(
            `sum(mirror_dark_responses_total{mirror_target="kitchen-healthy",mirror_class="5xx"})`,
          )) === BEFORE,
      );
      await prometheus.scrapes(3);
      const windowStart = Date.now();
      await sleep(300);

      // The window: every case in turn (the slow one would slow the others down on a small
      // machine), split between the two Envoys.
      for (const t of TARGETS)
        await send(
          s,
          envoys,
          CASES[t].path,
          CASES[t].n,
          t === "kitchen-posts" ? "POST" : "GET",
        );
      // Every count in both Envoys (the filter flushes on its tick), the latency histograms merged
      // (at Envoy's stats flush), then Prometheus holding exactly what the Envoys show.
      const admins: Record<string, Record<string, number>>[] = [];
      await waitFor(
        () =>
          `both Envoys' counts and histograms to settle: ${JSON.stringify(
            Object.fromEntries(
              TARGETS.map((t) => [
                t,
                Object.fromEntries(
                  [
                    "copies",
                    "skipped.method",
                    "dispatch_failures",
                    "dark",
                    "dark.latency_samples",
                    "compared",
                  ].map((k) => [k, admins.map((a) => a[t]?.[k])]),
                ),
              ]),
            ),
          )}`,
        async () => {
          const now = await Promise.all(
            envoys.map(async (e) =>
              Object.fromEntries(
                await Promise.all(
                  TARGETS.map(async (t) => [t, await envoyCounts(e, t)]),
                ),
              ),
            ),
          );
          const stable = JSON.stringify(now) === JSON.stringify(admins);
          admins.splice(0, admins.length, ...now);
          const settled = (t: Target) => {
            const sum = (k: string) => now[0][t][k] + now[1][t][k];
            return (
              sum("copies") +
                sum("skipped.method") +
                sum("dispatch_failures") >=
                CASES[t].n + (t === "kitchen-healthy" ? BEFORE : 0) &&
              sum("dark") === sum("copies") &&
              sum("dark.latency_samples") === sum("dark") &&
              sum("compared") === sum("copies")
            );
          };
          return stable && TARGETS.every(settled);
        },
        30_000,
      );
      const adminSum = (t: Target, key: string) =>
        admins[0][t][key] + admins[1][t][key];
      await waitFor(
        "Prometheus to hold what both Envoys show",
        async () =>
          (await prometheus.value(
            `sum(mirror_dark_duration_microseconds_count)`,
          )) ===
            TARGETS.reduce(
              (n, t) => n + adminSum(t, "dark.latency_samples"),
              0,
            ) &&
          (await prometheus.value(`sum(mirror_skipped_total)`)) ===
            TARGETS.reduce(
              (n, t) =>
                n + keysOf("skipped").reduce((m, k) => m + adminSum(t, k), 0),
              0,
            ),
        20_000,
      );
      await prometheus.scrapes(2);
      const at = new Date();
      const atArg = (at.getTime() / 1000).toFixed(3);
      const windowMs = at.getTime() - windowStart;
      const inWindow = `${windowMs}ms`;
      const url = prometheus.url;
      // Every series was at 0 at its first scrape, so over 10m increase() counts exactly what
      // Prometheus saw, then extrapolates it to the window's end: from the last scrape (at most a
      // scrape interval, 0.1 s, before `at`) over the time since the first one.
      const sampled = (at.getTime() - prometheusReady) / 1000 - 0.1;
      const bound = 1 + (1.1 * 0.1) / sampled;
      const failures: string[] = [];
      const step = async (name: string, fn: () => Promise<void>) => {
        await s.t.test(name, async () => {
          try {
            await fn();
          } catch (err) {
            failures.push(name);
            throw err;
          }
        });
      };

      // -------------------------------------------------------------------------------------------
      const dir = mkdtempSync(join(tmpdir(), "prometheus-e2e-"));
      s.defer(() => rmSync(dir, { recursive: true, force: true }));
      const objectivesFile = join(dir, "objectives.json");
      writeFileSync(objectivesFile, JSON.stringify(OBJECTIVES));
      const all = await runReport({
        prometheus: url,
        window: "10m",
        at,
        objectives: OBJECTIVES,
      });
      const allJson = all.json as unknown as JsonReport;

      await step(
        "the counts over every sidecar equal the sum of both Envoys' own (and --admin twice adds up the same)",
        async () => {
          assert.deepEqual(
            all.targets.map((t) => t.target),
            [...TARGETS].sort(),
          );
          const merged = await runReport({
            admin: envoys.map((e) => `127.0.0.1:${e.adminPort}`),
            settleMs: 0,
            objectives: OBJECTIVES,
          });
          let worst = 0;
          for (const t of TARGETS) {
            const prom = all.targets.find((x) => x.target === t)!;
            const adm = merged.targets.find((x) => x.target === t)!;
            assert.equal(prom.instances, 2, t);
            assert.equal(adm.instances, 2, t);
            const keys = [
              "copies",
              ...keysOf("skipped"),
              ...keysOf("dispatch_failures"),
              ...keysOf("dark").filter((k) => k !== "dark.duration"),
              ...keysOf("live").filter((k) => k !== "live.duration"),
              ...keysOf("compared"),
              ...keysOf("not_compared"),
              ...keysOf("pairs"),
              ...keysOf("pair_compared"),
            ];
            const same = (estimate: number, exact: number, what: string) => {
              assert.ok(
                estimate >= exact - 1e-9 && estimate <= exact * bound + 1e-9,
                `${t} ${what}: Prometheus ${estimate}, the Envoys ${exact}`,
              );
              if (exact > 0)
                worst = Math.max(worst, (estimate - exact) / exact);
            };
            for (const k of keys) {
              same(prom.counts[k] ?? 0, adminSum(t, k), k);
              assert.equal(
                adm.counts[k] ?? 0,
                adminSum(t, k),
                `${t} ${k} (--admin ×2)`,
              );
            }
            for (const side of ["live", "dark"] as const) {
              const exact = adminSum(t, `${side}.latency_samples`);
              same(prom[side].latency.count, exact, `${side} latency samples`);
              assert.equal(adm[side].latency.count, exact, t);
            }
            same(prom.copies, adminSum(t, "copies"), "copies");
            // the same traffic, the same verdict, check by check
            const outcomes = (r: typeof all, x: string) =>
              r.verdicts
                .find((v) => v.target === x)!
                .checks.map((c) => `${c.id} ${c.outcome}`);
            assert.deepEqual(
              outcomes(all, t),
              outcomes(merged, t),
              `${t}: Prometheus vs both admins`,
            );
            same(
              prom.dispatchFailures,
              adminSum(t, "dispatch_failures"),
              "dispatch failures",
            );
          }
          process.stderr.write(
            `prometheus e2e: increase() over the Envoys' exact counts: at most +${(100 * worst).toFixed(2)}% (bound +${(100 * (bound - 1)).toFixed(2)}%) over ${sampled.toFixed(1)} s of samples\n`,
          );
        },
      );

      await step(
        "each target's verdict and exit code over the window, on the command as a pipeline runs it",
        async () => {
          const judged: Record<string, JsonReport> = {};
          for (const t of TARGETS) {
            const r = await report(
              "--prometheus",
              url,
              "--window",
              inWindow,
              "--at",
              atArg,
              "--target",
              t,
              "--objectives",
              objectivesFile,
              "--json",
            );
            const json = parseReportJson(r.out);
            judged[t] = json;
            const target = json.targets[0];
            assert.equal(target.target, t);
            assert.equal(
              target.verdict,
              CASES[t].outcome,
              JSON.stringify(target),
            );
            assert.equal(r.code, EXIT_OF[CASES[t].outcome], r.err);
            assert.deepEqual(
              target.checks
                .filter((c) => c.outcome === "fail")
                .map((c) => c.name)
                .sort(),
              [...CASES[t].failed].sort(),
              JSON.stringify(target.checks),
            );
          }
          const detail = (t: Target, id: string) =>
            judged[t].targets[0].checks.find((c) => c.id === id)!.detail ?? "";
          assert.match(
            detail("kitchen-nxet", "max_dispatch_failures"),
            /^unknown_cluster \d+ \(no such cluster in this Envoy/,
          );
          assert.match(
            detail("kitchen-empty", "max_dispatch_failures"),
            /^no_healthy_host \d+ \(no healthy host in the cluster/,
          );
          assert.match(
            detail("kitchen-posts", "copies"),
            /^\d+ requests turned away: method \d+$/,
          );
          // The same on the command itself, text and exit codes.
          const text = await reportCommand(
            "--prometheus",
            url,
            "--window",
            inWindow,
            "--at",
            atArg,
            "--objectives",
            objectivesFile,
          );
          assert.equal(text.code, 1, text.stderr);
          assert.match(
            text.stdout,
            /^Mirror report: live vs dark, from Prometheus http:\/\/127\.0\.0\.1:\d+: the \d+ms up to /,
          );
          assert.match(
            text.stdout,
            /kitchen-nxet dispatch failures \d+ > 0: unknown_cluster \d+ \(no such cluster in this Envoy/,
          );
          assert.match(
            text.stdout,
            /kitchen-slow p50 latency shift \+\d+\.\d ms \[\+\d+\.\d, \+\d+\.\d\] > 30\.0 ms/,
          );
          assert.match(
            text.stdout,
            /Target kitchen-healthy: \d+ copies, 0 in flight, \d+ skipped, 0 dispatch failures \(2 instances\)/,
          );
          const pass = await reportCommand(
            "--prometheus",
            url,
            "--window",
            inWindow,
            "--at",
            atArg,
            "--target",
            "kitchen-healthy",
            "--objectives",
            objectivesFile,
          );
          assert.equal(pass.code, 0, pass.stdout + pass.stderr);
          assert.match(pass.stdout, /Result: PASS \(exit 0\)\n$/);
          const few = await reportCommand(
            "--prometheus",
            url,
            "--window",
            inWindow,
            "--at",
            atArg,
            "--target",
            "kitchen-few",
            "--objectives",
            objectivesFile,
          );
          assert.equal(few.code, 2, few.stdout + few.stderr);
          // from Prometheus the window is known: how long the pairs still needed take
          assert.match(
            few.stdout,
            /Result: NOT ENOUGH DATA \(exit 2\): kitchen-few .*pair mismatches \(≈ \d+ more pairs, ≈ [\d.]+ (s|min|h|days)\)/,
          );
        },
      );

      await step(
        "the window leaves out the traffic before it: the healthy target fails over 10m, passes over the window",
        async () => {
          const wide = allJson.targets.find(
            (t) => t.target === "kitchen-healthy",
          )!;
          assert.equal(wide.verdict, "fail");
          assert.deepEqual(
            wide.checks.filter((c) => c.outcome === "fail").map((c) => c.name),
            ["dark error excess"],
          );
          const n = CASES["kitchen-healthy"].n;
          const copies = wide.counts.copies as number;
          assert.ok(
            copies >= BEFORE + n && copies < (BEFORE + n) * 1.05,
            `copies over 10m: ${copies}`,
          );
          const narrow = await runReport({
            prometheus: url,
            window: inWindow,
            at,
            target: "kitchen-healthy",
            objectives: OBJECTIVES,
          });
          assert.equal(narrow.code, 0, narrow.text);
          const t = narrow.targets[0];
          // Only the window's copies, and increase()'s extrapolation to both its edges (each
          // within a scrape interval, 0.1 s, of a sample).
          const seconds = windowMs / 1000;
          assert.ok(
            t.copies >= n && t.copies <= n * (1 + 0.22 / (seconds - 0.2)),
            `copies ${t.copies} over ${seconds} s`,
          );
          assert.ok(
            t.dark.classes["5xx"] < 0.5,
            `5xx ${t.dark.classes["5xx"]}`,
          );
        },
      );

      await step(
        "--selector narrows every query: one Envoy's pod is that Envoy's counts",
        async () => {
          const one = await runReport({
            prometheus: url,
            window: "10m",
            at,
            selector: '{namespace="shop",pod="kitchen-a"}',
          });
          for (const t of TARGETS) {
            const x = one.targets.find((y) => y.target === t)!;
            assert.equal(x.instances, 1);
            for (const [estimate, exact] of [
              [x.copies, admins[0][t].copies],
              [x.dispatchFailures, admins[0][t].dispatch_failures],
            ])
              assert.ok(
                estimate >= exact - 1e-9 && estimate <= exact * bound + 1e-9,
                `${t}: Prometheus ${estimate}, kitchen-a ${exact}`,
              );
          }
          const none = await report(
            "--prometheus",
            url,
            "--selector",
            '{namespace="elsewhere"}',
            "--at",
            atArg,
          );
          assert.equal(none.code, 3);
          assert.match(
            none.err,
            /\{namespace="elsewhere"\}\) has no mirror_copies_total series in the 10m before/,
          );
          assert.doesNotMatch(none.err, /usage:/);
        },
      );

      await step(
        "the Argo Rollouts AnalysisTemplate's metrics give the report's values and outcomes",
        async () => {
          const template = argoTemplate(GATES) as Record<string, any>;
          const defaults = Object.fromEntries(
            template.spec.args
              .filter((a: any) => a.value !== undefined)
              .map((a: any) => [a.name, a.value]),
          );
          for (const t of TARGETS) {
            const r = await runReport({
              prometheus: url,
              window: inWindow,
              at,
              target: t,
              objectives: OBJECTIVES,
            });
            const checks = (r.json as unknown as JsonReport).targets[0].checks;
            for (const metric of template.spec.metrics) {
              const check = checks.find(
                (c) => c.name.replace(/ /g, "-") === metric.name,
              )!;
              assert.ok(
                check,
                `no report check for Argo metric ${metric.name}`,
              );
              const args = {
                ...defaults,
                "mirror-target": t,
                window: inWindow,
                "prometheus-address": url,
              };
              const resolved = JSON.parse(
                argoResolve(JSON.stringify(metric), args),
              );
              assert.equal(resolved.provider.prometheus.address, url);
              assert.equal(resolved.initialDelay, inWindow);
              const result = (
                await prometheus.query(resolved.provider.prometheus.query, at)
              ).map((x) => x.value);
              const ok = argoCondition(resolved.successCondition, result);
              const bad = argoCondition(resolved.failureCondition, result);
              const phase = bad ? "fail" : ok ? "pass" : "not enough data";
              assert.equal(
                phase,
                check.outcome,
                `${t} ${metric.name}: ${JSON.stringify(result)} vs ${JSON.stringify(check)}`,
              );
              if (isRelative(check.id as CheckId))
                // the outcome itself: 1, 0 or -1 (no value: not enough data)
                assert.equal(
                  result.length
                    ? OUTCOME_OF_CODE[String(result[0])]
                    : "not enough data",
                  check.outcome,
                  `${t} ${metric.name}: ${JSON.stringify(result)}`,
                );
              else {
                if (check.outcome !== "not enough data")
                  close(result[0], check.value!, `${t} ${metric.name}`);
                assert.equal(
                  metric.successCondition.split(" ").pop(),
                  String(check.limit),
                );
              }
            }
          }
        },
      );

      await step(
        "the Flagger MetricTemplates, with the example Canary's thresholds, give the report's values and outcomes",
        async () => {
          const templates = new Map(
            (flaggerTemplates(GATES) as Array<Record<string, any>>).map((d) => [
              d.metadata.name,
              d,
            ]),
          );
          const canary = flaggerCanary(GATES) as Record<string, any>;
          for (const t of TARGETS) {
            const r = await runReport({
              prometheus: url,
              window: inWindow,
              at,
              target: t,
              objectives: OBJECTIVES,
            });
            const checks = (r.json as unknown as JsonReport).targets[0].checks;
            assert.equal(canary.spec.analysis.metrics.length, checks.length);
            for (const metric of canary.spec.analysis.metrics) {
              const check = checks.find(
                (c) => `mirror ${c.name}` === metric.name,
              )!;
              assert.ok(
                check,
                `no report check for Flagger metric ${metric.name}`,
              );
              const template = templates.get(metric.templateRef.name)!;
              assert.equal(template.spec.provider.type, "prometheus");
              const query = flaggerQuery(template.spec.query, {
                interval: inWindow,
                mirror_target: t,
              });
              const result = await prometheus.query(query, at);
              // Flagger: no value (or NaN) halts the advancement; a value outside thresholdRange fails.
              const v = result.length ? result[result.length - 1].value : NaN;
              const range = metric.thresholdRange as {
                min?: number;
                max?: number;
              };
              const outside =
                (range.min !== undefined && v < range.min) ||
                (range.max !== undefined && v > range.max);
              if (isRelative(check.id as CheckId)) {
                // the outcome itself; Flagger fails the check at -1 only
                const phase = Number.isNaN(v)
                  ? "not enough data"
                  : OUTCOME_OF_CODE[String(v)];
                assert.equal(
                  phase,
                  check.outcome,
                  `${t} ${metric.name}: ${v} vs ${JSON.stringify(check)}`,
                );
                assert.equal(outside, check.outcome === "fail");
                assert.deepEqual(range, { min: 0 });
              } else {
                const phase = Number.isNaN(v)
                  ? "not enough data"
                  : outside
                    ? "fail"
                    : "pass";
                assert.equal(
                  phase,
                  check.outcome,
                  `${t} ${metric.name}: ${v} vs ${JSON.stringify(check)}`,
                );
                if (phase !== "not enough data")
                  close(v, check.value!, `${t} ${metric.name}`);
                assert.equal(range.max ?? range.min, check.limit);
              }
            }
          }
        },
      );

      await step(
        "the recording rules' expressions give the report's figures, and Prometheus records them",
        async () => {
          const [rules] = gateYaml("prometheus-rules.yaml");
          const recorded = rules.groups[0].rules.filter((r: any) => r.record);
          for (const rule of recorded) {
            const result = await prometheus.query(rule.expr, at);
            const byTarget = new Map(
              result.map((x) => [x.metric[TAGS.target], x.value]),
            );
            for (const t of allJson.targets) {
              const v = byTarget.get(t.target);
              const check = (id: string) => t.checks.find((c) => c.id === id)!;
              const expected: Record<string, number | null> = {
                "mirror_target:mirror_copies:increase10m":
                  check("copies").value,
                "mirror_target:mirror_turned_away:increase10m": t.counts
                  .turned_away as number,
                "mirror_target:mirror_dispatch_failures:increase10m": check(
                  "max_dispatch_failures",
                ).value,
                "mirror_target:mirror_dark_latency_samples:increase10m":
                  t.latency_ms.dark.count,
                "mirror_target:mirror_dark_latency_milliseconds:mean10m":
                  t.latency_ms.dark.mean,
                "mirror_target:mirror_dark_latency_milliseconds:p95_10m":
                  t.latency_ms.dark.p95,
                "mirror_target:mirror_dark_latency_milliseconds:p99_10m":
                  t.latency_ms.dark.p99,
                "mirror_target:mirror_dark_answers:increase10m": Object.values(
                  t.counts.dark as Record<string, number>,
                ).reduce((a, b) => a + b, 0),
                "mirror_target:mirror_dark_errors:percent10m":
                  t.rates_pct.dark_errors,
                "mirror_target:mirror_compared:increase10m": Object.values(
                  t.counts.compared as Record<string, number>,
                ).reduce((a, b) => a + b, 0),
                "mirror_target:mirror_mismatches:percent10m":
                  t.rates_pct.mismatches,
                "mirror_target:mirror_pairs:increase10m":
                  check("dark_error_excess").samples,
                "mirror_target:mirror_dark_error_excess:percent10m":
                  check("dark_error_excess").value,
                "mirror_target:mirror_pair_compared:increase10m":
                  check("pair_mismatches").samples,
                "mirror_target:mirror_pair_mismatches:percent10m":
                  check("pair_mismatches").value,
                "mirror_target:mirror_pair_latency_samples:increase10m":
                  t.latency_ms.dark_minus_live.count,
                "mirror_target:mirror_dark_minus_live_milliseconds:p50_10m":
                  t.latency_ms.dark_minus_live.p50,
                "mirror_target:mirror_dark_minus_live_milliseconds:p95_10m":
                  t.latency_ms.dark_minus_live.p95,
                "mirror_target:mirror_dark_minus_live_milliseconds:p99_10m":
                  t.latency_ms.dark_minus_live.p99,
                "mirror_target:mirror_capped:percent10m":
                  check("sample_bias").value,
              };
              assert.ok(
                rule.record in expected,
                `no report figure for ${rule.record}`,
              );
              const want = expected[rule.record];
              if (want === null || v === undefined || Number.isNaN(v))
                assert.ok(
                  want === null && (v === undefined || Number.isNaN(v)),
                  `${rule.record} ${t.target}: ${v} vs ${want}`,
                );
              else close(v, want, `${rule.record} ${t.target}`);
            }
            // Prometheus evaluates the rule itself: its recorded sample equals the expression at its time.
            const stamp = await waitFor(`${rule.record} recorded`, async () => {
              const r = await prometheus.query(
                `max(timestamp(${rule.record}))`,
              );
              return r.length ? r[0].value : undefined;
            });
            const when = new Date(stamp! * 1000);
            const recordedNow = new Map(
              (await prometheus.query(rule.record, when)).map((x) => [
                x.metric[TAGS.target],
                x.value,
              ]),
            );
            for (const x of await prometheus.query(rule.expr, when)) {
              if (Number.isNaN(x.value)) continue;
              // A scrape appended just after the rule ran can move increase()'s end a little.
              const r = recordedNow.get(x.metric[TAGS.target])!;
              assert.ok(
                Math.abs(r - x.value) <= 0.01 * Math.max(1, Math.abs(x.value)),
                `${rule.record} at ${when.toISOString()}: recorded ${r}, expression ${x.value}`,
              );
            }
          }
        },
      );

      await step(
        "the alerts fire for the targets that fail to dispatch or get no copy, not for a dark service without endpoints",
        async () => {
          const firing = async (name: string) =>
            (
              await prometheus.query(
                `ALERTS{alertname="${name}",alertstate="firing"}`,
              )
            )
              .map(
                (x) =>
                  `${x.metric[TAGS.target]}${x.metric[TAGS.reason] ? `/${x.metric[TAGS.reason]}` : ""}`,
              )
              .sort();
          await waitFor(
            "the alerts to fire",
            async () =>
              (await firing("MirrorNoCopies")).length === 2 &&
              (await firing("MirrorDispatchFailures")).length === 1,
          );
          // kitchen-empty has no endpoint at all (a canary scaled to zero, a preview Service
          // between rollouts): its copies are refused no_healthy_host, and nothing alerts
          assert.deepEqual(await firing("MirrorDispatchFailures"), [
            "kitchen-nxet/unknown_cluster",
          ]);
          assert.deepEqual(await firing("MirrorNoCopies"), [
            "kitchen-nxet",
            "kitchen-posts",
          ]);
          assert.deepEqual(await firing("MirrorDarkUnavailable"), []);
        },
      );

      await step(
        "exit 3 and 4 name what is wrong, without the usage text",
        async () => {
          const refused = await refusedPort();
          const cases: Array<[string[], number, RegExp]> = [
            [
              ["--prometheus", `127.0.0.1:${refused}`],
              3,
              /cannot reach Prometheus at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
            ],
            [
              ["--prometheus", url, "--target", "kitchen-nope", "--at", atArg],
              3,
              /no series for target "kitchen-nope" .*\(targets: kitchen-empty, kitchen-failing, kitchen-few, kitchen-healthy, kitchen-nxet, kitchen-posts, kitchen-slow\)/,
            ],
            [
              ["--prometheus", `127.0.0.1:${envoys[0].adminPort}`],
              3,
              /\/api\/v1\/query answered 404 without JSON/,
            ],
            [
              ["--prometheus", url, "--selector", "namespace=shop"],
              4,
              /--selector: expected label matchers/,
            ],
            [
              ["--prometheus", url, "--window", "ten minutes"],
              4,
              /--window: must be a Prometheus duration/,
            ],
            [
              ["--prometheus", url, "--admin", "9901"],
              4,
              /--admin and --prometheus: choose one source/,
            ],
            [["--window", "5m"], 4, /--window goes with --prometheus/],
          ];
          for (const [args, code, message] of cases) {
            const r = await report(...args);
            assert.equal(r.code, code, `${args.join(" ")}: ${r.err}`);
            assert.match(r.err, message);
            assert.doesNotMatch(r.err, /usage:/);
            assert.equal(r.out, "");
            const j = await report(...args, "--json");
            assert.equal(j.code, code);
            const json = parseReportJson(j.out) as unknown as {
              error: string;
              exit_code: number;
            };
            assert.equal(json.exit_code, code);
            assert.match(json.error, message);
          }
        },
      );

      process.stderr.write(
        `prometheus e2e: ${((Date.now() - started) / 1000).toFixed(1)} s in all (Envoys, Prometheus, traffic, checks)\n`,
      );
      if (failures.length) throw new Error(`failed: ${failures.join("; ")}`);
    },
    { timeout: 300_000 },
  );
