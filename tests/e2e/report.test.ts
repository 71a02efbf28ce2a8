// `npm run report` against the real Envoy, the filter mirroring 100 % with compare on: a healthy
// next kitchen passes (exit 0), a slow one (+150 ms) and a failing one (500s) fail naming the
// objective (exit 1), too few requests are not enough data (exit 2). The exit codes are checked on
// the command itself as a pipeline would run it, and the report's quantiles against Envoy's own.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseStats, STATS_PATH } from "../../scripts/report/admin.ts";
import { type ReportResult, runReport } from "../../scripts/report/cli.ts";
import {
  type Behaviour,
  DARK_CLUSTER,
  type Envoy,
  mapConcurrent,
  reportCommand,
  request,
  scenario,
  type Scope,
  statName,
} from "./harness.ts";

const BODY = "classic burger\n";

/** Live and next kitchens, Envoy mirroring everything with compare on, and `n` GETs sent. */
async function kitchens(
  s: Scope,
  dark: Behaviour,
  n: number,
  concurrency = 2,
): Promise<Envoy> {
  const live = await s.upstream("kitchen", { body: BODY });
  const next = await s.upstream("kitchen-next", { body: BODY, ...dark });
  const envoy = await s.envoy({
    live,
    dark: next,
    plugin: {
      cluster: DARK_CLUSTER,
      percentage: 100,
      max_inflight: 1000,
      compare: { status: "exact", body: true },
    },
  });
  const agent = s.agent(concurrency);
  await mapConcurrent(
    Array.from({ length: n }, (_, i) => i),
    concurrency,
    async (i) => {
      const reply = await request(envoy.listenerPort, {
        path: `/orders/${i}`,
        headers: { "x-request-id": randomUUID() },
        agent,
      });
      assert.equal(reply.status, 200);
      assert.equal(reply.body.toString(), BODY);
    },
  );
  await envoy.waitForCounter("compared", n);
  return envoy;
}

const adminOf = (envoy: Envoy) => `http://127.0.0.1:${envoy.adminPort}`;

/** The report, waiting for Envoy's histograms to hold every answer (flushed every 0.5 s here). */
const report = (envoy: Envoy, objectives?: object) =>
  runReport({ admin: adminOf(envoy), objectives, settleMs: 5_000 });

function failedChecks(r: ReportResult): string[] {
  return r.verdicts.flatMap((v) =>
    v.checks.filter((c) => c.outcome === "fail").map((c) => c.name),
  );
}

/** The report's p50/p95/p99 equal the percentiles Envoy itself computes from the same bins. */
async function assertQuantilesAreEnvoys(envoy: Envoy, r: ReportResult) {
  const json = JSON.parse(await envoy.admin(STATS_PATH)) as {
    stats: Array<{
      histograms?: {
        supported_percentiles: number[];
        details: Array<{
          name: string;
          percentiles: Array<{ cumulative: number }>;
        }>;
      };
    }>;
  };
  const h = json.stats.find((x) => x.histograms)!.histograms!;
  const [again] = parseStats(json);
  for (const side of ["live", "dark"] as const) {
    const ours = r.targets[0][side].latency;
    assert.equal(again[side].latency.count, ours.count, "histograms moved");
    const theirs = h.details.find(
      (d) => d.name === statName(DARK_CLUSTER, `${side}.duration`),
    )!.percentiles;
    for (const [p, v] of [
      [50, ours.p50],
      [95, ours.p95],
      [99, ours.p99],
    ]) {
      // Envoy's percentile is in the recorded unit (µs); the report's in ms.
      const envoyValue =
        theirs[h.supported_percentiles.indexOf(p)].cumulative / 1000;
      assert.ok(
        Math.abs(v - envoyValue) < 1e-9,
        `${side} p${p}: report ${v}, Envoy ${envoyValue}`,
      );
    }
  }
}

scenario(
  "healthy next kitchen (same answers, fast): the report passes, exit 0",
  async (s) => {
    // 60 samples: p95 is then the 57th, so a loaded machine's stray stalls do not decide it.
    const n = 60;
    const envoy = await kitchens(s, {}, n);
    const r = await report(envoy);
    assert.equal(r.code, 0, r.text);
    const t = r.targets[0];
    assert.equal(t.target, DARK_CLUSTER);
    assert.equal(t.live.total, n);
    assert.equal(t.dark.total, n);
    assert.equal(t.compared, n);
    assert.equal(t.dark.latency.count, n);
    assert.deepEqual(t.compare, { status: "exact", body: "exact" });
    assert.match(r.text, /Target kitchen-next: 60 copies, 0 in flight/);
    assert.match(r.text, /latency ms\s+live\s+dark/);
    assert.match(r.text, /compared 60, mismatches 0\.00%\n/);
    assert.match(r.text, /Result: PASS \(exit 0\)/);
    await assertQuantilesAreEnvoys(envoy, r);
    const cli = await reportCommand("--admin", adminOf(envoy));
    assert.equal(cli.code, 0, cli.stdout + cli.stderr);
    assert.match(cli.stdout, /Result: PASS \(exit 0\)/);
  },
);

scenario(
  "slow next kitchen (+150 ms): the report fails on dark mean and p95 latency, exit 1",
  async (s) => {
    const n = 30;
    const envoy = await kitchens(s, { delayMs: 150 }, n, 8);
    const r = await report(envoy);
    assert.equal(r.code, 1, r.text);
    assert.deepEqual(failedChecks(r), [
      "dark mean latency",
      "dark p95 latency",
    ]);
    assert.ok(r.targets[0].dark.latency.p50 >= 150, r.text);
    assert.match(
      r.text,
      /Result: FAIL \(exit 1\): kitchen-next dark mean latency \d+\.\d ms > 50 ms; kitchen-next dark p95 latency \d+\.\d ms > 100 ms\n/,
    );
    assert.match(r.text, /FAIL {2}dark p95 latency/);
    assert.match(r.text, /pass {2}dark error rate/);
    assert.match(r.text, /pass {2}mismatch rate/);
    await assertQuantilesAreEnvoys(envoy, r);

    const cli = await reportCommand("--admin", adminOf(envoy));
    assert.equal(cli.code, 1, cli.stdout + cli.stderr);
    assert.match(cli.stdout, /FAIL \(exit 1\): kitchen-next dark mean latency/);
    // Objectives a slower dark version is allowed: the same kitchen passes.
    const dir = mkdtempSync(join(tmpdir(), "report-e2e-"));
    s.defer(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "objectives.json");
    writeFileSync(
      file,
      JSON.stringify({ max_dark_mean_ms: 2000, max_dark_p95_ms: 2000 }),
    );
    const lenient = await reportCommand(
      "--admin",
      adminOf(envoy),
      "--objectives",
      file,
      "--target",
      DARK_CLUSTER,
    );
    assert.equal(lenient.code, 0, lenient.stdout + lenient.stderr);
  },
);

scenario(
  "failing next kitchen (500s): the report fails on dark errors and mismatches, exit 1",
  async (s) => {
    const n = 30;
    const envoy = await kitchens(s, { status: 500, body: "oven on fire\n" }, n);
    const r = await report(envoy);
    assert.equal(r.code, 1, r.text);
    const failed = failedChecks(r);
    assert.ok(failed.includes("dark error rate"), r.text);
    assert.ok(failed.includes("mismatch rate"), r.text);
    const t = r.targets[0];
    assert.equal(t.dark.classes["5xx"], n);
    assert.equal(t.dark.errorPct, 100);
    assert.equal(t.counts["compared.status_mismatch"], n);
    assert.equal(t.counts["compared.body_mismatch"], 0);
    assert.equal(t.mismatchPct, 100);
    assert.match(r.text, /kitchen-next dark error rate 100\.00% > 1%/);
    assert.match(r.text, /kitchen-next mismatch rate 100\.00% > 1%/);
    assert.match(
      r.text,
      /compared 30, mismatches 100\.00%: status_mismatch 30\n/,
    );
  },
);

scenario("too few mirrored requests: not enough data, exit 2", async (s) => {
  const envoy = await kitchens(s, {}, 5);
  const r = await report(envoy);
  assert.equal(r.code, 2, r.text);
  assert.match(
    r.text,
    /Result: NOT ENOUGH DATA \(exit 2\): kitchen-next has 5 of 20 dark latency samples, 5 of 20 dark answers, 5 of 20 compared requests\n/,
  );
  const cli = await reportCommand("--admin", adminOf(envoy), "--settle", "0");
  assert.equal(cli.code, 2, cli.stdout + cli.stderr);
});

scenario("an unreachable admin: exit 3 with a message", async () => {
  const cli = await reportCommand("--admin", "127.0.0.1:1", "--settle", "0");
  assert.equal(cli.code, 3);
  assert.match(
    cli.stderr,
    /cannot reach Envoy's admin at http:\/\/127\.0\.0\.1:1/,
  );
  assert.equal(cli.stdout, "");
});

scenario(
  "a typo in the dark cluster's name: FAIL naming unknown_cluster after 3 requests, exit 1 (not 'not enough data')",
  async (s) => {
    const live = await s.upstream("kitchen", { body: BODY });
    const next = await s.upstream("kitchen-next", { body: BODY });
    const envoy = await s.envoy({
      live,
      dark: next,
      plugin: { cluster: "kitchen-nxet", percentage: 100 },
    });
    for (let i = 0; i < 3; i++) {
      const reply = await request(envoy.listenerPort, {
        path: `/orders/${i}`,
        headers: { "x-request-id": randomUUID() },
      });
      assert.equal(reply.status, 200);
    }
    await envoy.waitForCounter("dispatch_failures", 3, "kitchen-nxet");
    const cli = await reportCommand("--admin", adminOf(envoy), "--settle", "0");
    assert.equal(cli.code, 1, cli.stdout + cli.stderr);
    assert.match(
      cli.stdout,
      /Result: FAIL \(exit 1\): kitchen-nxet dispatch failures 3 > 0: unknown_cluster 3 \(no such cluster in this Envoy \(BadArgument\)\)\n$/,
    );
    assert.match(
      cli.stdout,
      /n\/a {3}copies dispatched {3}not enough data: 3 of the 20 requests copied or turned away needed/,
    );
    assert.equal(next.records.length, 0);
  },
);
