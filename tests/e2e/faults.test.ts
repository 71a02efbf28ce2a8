// Dark faults against live traffic: for each way the dark side can fail, the
// same live workload goes through an Envoy without the filter and one with it. Every live request
// must succeed with exactly the body (and reach the live upstream exactly as) without the filter;
// the in-flight cap holds (Envoy's gauge and the dark upstream's concurrent requests); each copy
// is counted in exactly the expected outcome; Envoy's Wasm failure stats stay 0 and nothing is
// logged at error or critical. Each fault adds a row to the end-of-suite table.
import assert from "node:assert/strict";
import { type Behaviour, type Upstream } from "../support/upstream.ts";
import { DARK_CLUSTER, type EnvoyOptions } from "../support/envoy-config.ts";
import { mirroredByFormula } from "../support/sampling.ts";
import { scenario } from "../support/scenario.ts";
import { statName } from "../support/stat-names.ts";
import { vmFailureLines } from "../support/envoy.ts";
import {
  assertLiveIdentical,
  assertLiveUpstreamIdentical,
  countIdentical,
  faultRow,
  isSafe,
  liveWorkload,
  OUTCOMES,
  peakOf,
  recordFault,
  sendAll,
  settledCounters,
  sum,
  twinEnvoys,
} from "./traffic.ts";

/** Live requests per fault. */
const N = 100;
/** max_inflight of every fault's config: small, so that slow faults reach it. */
const CAP = 10;
/** Envoy worker threads: each runs its own VM, with its own cap. */
const WORKERS = 2;
const TWENTY_MB = Buffer.alloc(20 * 1024 * 1024, "d");

interface Fault {
  /** How the dark upstream misbehaves; "refuse" is a closed port; "no-healthy-host" an endpoint marked unhealthy. */
  dark: Behaviour | "refuse" | "no-healthy-host";
  timeoutMs?: number;
  /** Share of keys mirrored [100]. */
  percentage?: number;
  /** The one counter every dispatched copy must end in, or "dispatch_failures" when none is dispatched. */
  outcome: (typeof OUTCOMES)[number] | "dispatch_failures";
  /** Extra checks once the counters settled. */
  check?: (ctx: {
    dark: Upstream;
    counters: Record<string, number>;
    liveEndedAt: Map<string, number>;
  }) => void;
}

const faults: Record<string, Fault> = {
  "dark refuses connections": { dark: "refuse", outcome: "dark.reset" },
  "dark accepts and never answers (timeout_ms 1000)": {
    dark: { mode: "hang" },
    timeoutMs: 1000,
    outcome: "dark.reset",
  },
  "dark answers after the timeout (1500 ms for timeout_ms 500)": {
    dark: { delayMs: 1500 },
    timeoutMs: 500,
    outcome: "dark.reset",
  },
  "dark answers a real 5xx (500, 502, 503, 504 with a body)": {
    // A real upstream answer carries x-envoy-upstream-service-time: even 503 and 504 count as
    // rq_5xx, not as the reset Envoy's own 503/504 reply stands for.
    dark: {
      status: (r) => [500, 502, 503, 504][r.seq % 4],
      body: "the next kitchen is on fire",
    },
    outcome: "dark.5xx",
    check: ({ dark }) => {
      const statuses = new Set(
        dark.records.map((r) => [500, 502, 503, 504][r.seq % 4]),
      );
      assert.ok(
        statuses.has(503) && statuses.has(504),
        "no copy was answered 503 and 504",
      );
    },
  },
  "dark resets mid-response (half of a 64 KiB body, then the connection closes)":
    {
      dark: { mode: "reset-mid-response", body: Buffer.alloc(65_536, "h") },
      outcome: "dark.reset",
    },
  "dark returns a 20 MB body (20 % of keys)": {
    dark: { body: TWENTY_MB },
    percentage: 20,
    outcome: "dark.2xx",
  },
  "dark answers after the live stream finished (300 ms late)": {
    dark: { delayMs: 300 },
    outcome: "dark.2xx",
    check: ({ dark, counters, liveEndedAt }) => {
      const early = dark.records.filter(
        (r) =>
          r.answeredAt === undefined ||
          r.answeredAt <=
            (liveEndedAt.get(String(r.headers["x-request-id"])) ?? Infinity),
      );
      assert.deepEqual(
        early.map((r) => r.headers["x-request-id"]),
        [],
        "copies answered before their live stream had finished",
      );
      // Both sides known, the later one dark: every verdict given at the dark answer.
      assert.equal(counters["compared"], counters.copies);
    },
  },
  "dark cluster with no healthy host": {
    dark: "no-healthy-host",
    outcome: "dispatch_failures",
  },
};

for (const [name, f] of Object.entries(faults)) {
  scenario(
    `${name}: every live request answered as without the filter, cap held, ${f.outcome} counted, no VM failure`,
    async (s) => {
      const dark: Upstream =
        f.dark === "refuse"
          ? await s.refusing("kitchen-next")
          : await s.upstream(
              "kitchen-next",
              f.dark === "no-healthy-host" ? {} : f.dark,
            );
      const percentage = f.percentage ?? 100;
      const options: Omit<EnvoyOptions, "live"> = {
        dark,
        plugin: {
          targets: [
            {
              cluster: DARK_CLUSTER,
              percentage,
              ...(f.timeoutMs ? { timeout_ms: f.timeoutMs } : {}),
            },
          ],
          max_inflight: CAP,
        },
        mutate:
          f.dark === "no-healthy-host"
            ? (b) => {
                // Envoy routes to unhealthy hosts in panic mode (under 50 % healthy) unless the
                // panic threshold is 0.
                const c = b.static_resources.clusters.find(
                  (x: { name: string }) => x.name === DARK_CLUSTER,
                );
                c.load_assignment.endpoints[0].lb_endpoints[0].health_status =
                  "UNHEALTHY";
                c.common_lb_config = {
                  healthy_panic_threshold: { value: 0 },
                };
              }
            : undefined,
      };
      const { envoy, baseline, live, baselineLive } = await twinEnvoys(
        s,
        options,
      );
      const requests = liveWorkload("fault", N);
      const without = await sendAll(
        baseline.listenerPort,
        requests,
        s.agent(8),
      );
      const { result: got, peak } = await peakOf(
        envoy,
        statName(DARK_CLUSTER, "inflight"),
        sendAll(envoy.listenerPort, requests, s.agent(8)),
      );
      const liveEndedAt = new Map(
        requests.map((r, i) => [r.headers["x-request-id"], got[i].endedAt]),
      );
      const counters = await settledCounters(envoy);
      const row = await faultRow(
        name,
        envoy,
        { ok: countIdentical(got, without), total: N },
        { peakInflight: Math.max(peak, dark.peakActive), cap: CAP * WORKERS },
      );
      recordFault(row);
      s.t.diagnostic(JSON.stringify(row));

      assertLiveIdentical(requests, got, without);
      assertLiveUpstreamIdentical(live, baselineLive);

      // Which requests the filter had to consider for a copy, by the sampling formula.
      const safe = requests.filter((r) => isSafe(r.method));
      const sampled = safe.filter((r) =>
        mirroredByFormula("", r.headers["x-request-id"], percentage),
      ).length;
      assert.equal(counters["skipped.method"], N - safe.length);
      assert.equal(counters["skipped.sampled_out"], safe.length - sampled);
      assert.equal(
        counters.copies +
          counters["skipped.overloaded"] +
          counters.dispatch_failures,
        sampled,
        "every sampled request is mirrored, skipped as overloaded, or failed to dispatch",
      );
      if (f.outcome === "dispatch_failures") {
        assert.equal(counters.dispatch_failures, sampled);
        assert.equal(dark.records.length, 0);
      } else {
        assert.ok(counters.copies > 0, "nothing was mirrored");
        assert.equal(counters.dispatch_failures, 0);
        assert.deepEqual(
          Object.fromEntries(OUTCOMES.map((o) => [o, counters[o]])),
          {
            ...Object.fromEntries(OUTCOMES.map((o) => [o, 0])),
            [f.outcome]: counters.copies,
          },
          "every copy counted once, in the expected outcome",
        );
      }
      assert.equal(counters.inflight, 0, "copies still counted in flight");
      assert.ok(
        peak <= CAP * WORKERS,
        `inflight gauge peaked at ${peak}, over ${CAP} per worker`,
      );
      assert.ok(
        dark.peakActive <= CAP * WORKERS,
        `the dark upstream held ${dark.peakActive} copies at once, over ${CAP} per worker`,
      );
      f.check?.({ dark, counters, liveEndedAt });

      assert.equal(
        row.vmFailures,
        0,
        "Envoy counted or logged a Wasm VM failure",
      );
      // The whole log, shutdown included (scenario() checks the filter's own error lines).
      await envoy.stop();
      assert.deepEqual(vmFailureLines(envoy.log), []);
    },
    { timeout: 90_000 },
  );
}

scenario(
  "plugin config replaced by a listener update while copies are in flight (old chain drained in 1 s, dark answering in 2 s): live untouched, every copy counted, nothing left in flight",
  async (s) => {
    const dark = await s.upstream("kitchen-next", { delayMs: 2000 });
    const plugin = (marker: string) => ({
      targets: [{ cluster: DARK_CLUSTER, percentage: 100 }],
      marker: { value: marker },
      // Every copy of the run fits: both configs' copies share one VM's slots.
      max_inflight: 100,
    });
    const { envoy, baseline, live, baselineLive } = await twinEnvoys(s, {
      dark,
      plugin: plugin("v1"),
      dynamicListener: true,
      drainTimeS: 1,
    });
    const requests = liveWorkload("reload", N);
    const before = requests.slice(0, N / 2);
    const after = requests.slice(N / 2);
    const without = await sendAll(baseline.listenerPort, requests, s.agent(8));

    const { result: got, peak } = await peakOf(
      envoy,
      statName(DARK_CLUSTER, "inflight"),
      (async () => {
        // The first half on connections of the first filter chain; their copies are in flight
        // (dark answers in 2 s) when the config is replaced and when that chain is torn down.
        const first = await sendAll(envoy.listenerPort, before, s.agent(8));
        assert.equal(await envoy.updatePlugin(plugin("v2")), "accepted");
        // New connections get the new chain.
        const second = await sendAll(envoy.listenerPort, after, s.agent(8));
        return [...first, ...second];
      })(),
    );
    const counters = await settledCounters(envoy, DARK_CLUSTER, 10_000);
    const row = await faultRow(
      "plugin config replaced while copies are in flight (listener update)",
      envoy,
      { ok: countIdentical(got, without), total: N },
      { peakInflight: Math.max(peak, dark.peakActive), cap: 100 * WORKERS },
    );
    recordFault(row);
    s.t.diagnostic(JSON.stringify(row));

    assertLiveIdentical(requests, got, without);
    assertLiveUpstreamIdentical(live, baselineLive);
    const markerOf = (tag: (typeof requests)[number][]) =>
      new Set(
        dark.records
          .filter((r) =>
            tag.some(
              (q) => q.headers["x-request-id"] === r.headers["x-request-id"],
            ),
          )
          .map((r) => r.headers["x-shadow"]),
      );
    assert.deepEqual([...markerOf(before)], ["v1"], "copies before the update");
    assert.deepEqual([...markerOf(after)], ["v2"], "copies after the update");
    const safe = requests.filter((r) => isSafe(r.method)).length;
    assert.equal(counters.copies, safe);
    assert.deepEqual(
      {
        outcomes: sum(counters, OUTCOMES),
        inflight: counters.inflight,
      },
      { outcomes: counters.copies, inflight: 0 },
      `every copy counted once and none left in flight after the old chain was torn down: ${JSON.stringify(counters)}`,
    );
    assert.equal(row.vmFailures, 0);
  },
  { timeout: 90_000 },
);
