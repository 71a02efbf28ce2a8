// A misbehaving dark side never touches live traffic: dark refusing connections, never answering,
// answering in 2 s, answering 500, resetting; the in-flight cap; an unknown dark cluster. Every
// live request succeeds with its latency unchanged within noise, and the outcome is counted.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { type Behaviour, type Upstream } from "../support/upstream.ts";
import { DARK_CLUSTER } from "../support/envoy-config.ts";
import { type Envoy } from "../support/envoy.ts";
import { mapConcurrent, request } from "../support/clients.ts";
import { scenario, type Scope } from "../support/scenario.ts";
import { statName } from "../support/stat-names.ts";
import { waitFor } from "../../tools/wait.ts";

const stat = (suffix: string) => statName(DARK_CLUSTER, suffix);

function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Sends `n` GETs (4 at a time) and returns each live latency; all must answer 200 from live.
 * With `interleave`, every other request carries those headers and the latencies come back in two
 * groups: [without, with]. Interleaving keeps machine-load swings out of the comparison.
 */
async function liveLatencies(
  s: Scope,
  envoy: Envoy,
  n: number,
  interleave?: Record<string, string>,
): Promise<[number[], number[]]> {
  const agent = s.agent(4);
  const groups: [number[], number[]] = [[], []];
  await mapConcurrent(
    Array.from({ length: n }, (_, i) => i),
    4,
    async (i) => {
      const marked = interleave !== undefined && i % 2 === 1;
      const reply = await request(envoy.listenerPort, {
        path: `/orders/${i}`,
        headers: {
          "x-request-id": randomUUID(),
          ...(marked ? interleave : {}),
        },
        agent,
      });
      assert.equal(
        reply.status,
        200,
        `live request ${i}: ${reply.status} ${reply.body.toString()}`,
      );
      assert.match(reply.body.toString(), /^kitchen GET/);
      groups[marked ? 1 : 0].push(reply.ms);
    },
  );
  return groups;
}

interface DarkCase {
  /** The dark upstream's behaviour, or "refuse" for a closed port. */
  dark: Behaviour | "refuse";
  timeoutMs?: number;
  /** The counter that must count every copy. */
  outcome: string;
}

const darkCases: Record<string, DarkCase> = {
  "dark refusing connections": { dark: "refuse", outcome: "dark.reset" },
  "dark never answering (timeout_ms 1500)": {
    dark: { mode: "hang" },
    timeoutMs: 1500,
    outcome: "dark.reset",
  },
  "dark answering in 2 s": { dark: { delayMs: 2000 }, outcome: "dark.2xx" },
  "dark answering 500": {
    dark: { status: 500, body: "recipe not found" },
    outcome: "dark.5xx",
  },
  "dark resetting the connection": {
    dark: { mode: "reset" },
    outcome: "dark.reset",
  },
};

const N = 40;

for (const [name, c] of Object.entries(darkCases)) {
  scenario(
    `${name}: every live request succeeds, live latency unchanged, outcome counted as ${c.outcome}`,
    async (s) => {
      const live = await s.upstream("kitchen");
      const dark: Upstream =
        c.dark === "refuse"
          ? await s.refusing("kitchen-next")
          : await s.upstream("kitchen-next", c.dark);
      const envoy = await s.envoy({
        live,
        dark,
        plugin: {
          targets: [
            {
              cluster: DARK_CLUSTER,
              percentage: 100,
              ...(c.timeoutMs ? { timeout_ms: c.timeoutMs } : {}),
            },
          ],
        },
      });
      // Baseline: the same path through the same Envoy, not mirrored (the marker makes the filter skip).
      const [mirrored, baseline] = await liveLatencies(s, envoy, 2 * N, {
        "x-shadow": "true",
      });
      const [b50, b90] = [quantile(baseline, 0.5), quantile(baseline, 0.9)];
      const [m50, m90, mMax] = [
        quantile(mirrored, 0.5),
        quantile(mirrored, 0.9),
        Math.max(...mirrored),
      ];
      s.t.diagnostic(
        `live ms: baseline p50 ${b50.toFixed(1)} p90 ${b90.toFixed(1)}; mirrored p50 ${m50.toFixed(1)} p90 ${m90.toFixed(1)} max ${mMax.toFixed(1)}`,
      );
      assert.ok(
        m50 <= Math.max(3 * b50, b50 + 10),
        `live p50 ${m50.toFixed(1)} ms vs baseline ${b50.toFixed(1)} ms`,
      );
      assert.ok(
        m90 <= Math.max(3 * b90, b90 + 25),
        `live p90 ${m90.toFixed(1)} ms vs baseline ${b90.toFixed(1)} ms`,
      );
      // Below the dark delay (2 s) and timeout (1.5 s): live never waited for dark.
      assert.ok(mMax < 1000, `a live request took ${mMax.toFixed(0)} ms`);
      assert.equal(live.records.length, 2 * N);

      await envoy.waitForCounter("copies", N);
      // Every copy ends in exactly one outcome; then it must be the expected one.
      const outcomes = [
        "dark.2xx",
        "dark.3xx",
        "dark.4xx",
        "dark.5xx",
        "dark.reset",
      ];
      let counters: Record<string, number> = {};
      await waitFor(
        () => `${N} dark outcomes: ${JSON.stringify(counters)}`,
        async () => {
          counters = await envoy.targetCounters();
          return outcomes.reduce((sum, o) => sum + counters[o], 0) >= N;
        },
      );
      const counted = Object.fromEntries(outcomes.map((o) => [o, counters[o]]));
      assert.deepEqual(
        counted,
        { ...Object.fromEntries(outcomes.map((o) => [o, 0])), [c.outcome]: N },
        `outcomes of ${name}`,
      );
      assert.equal(counters["skipped.loop"], N);
      assert.equal(counters.dispatch_failures, 0);
      await envoy.waitForCounter("inflight", 0);
      if (c.dark !== "refuse") assert.equal(dark.records.length, N);
    },
  );
}

scenario(
  "max_inflight: with dark never answering, copies beyond the cap are skipped as overloaded",
  async (s) => {
    const { dark, envoy } = await s.liveAndDark(
      {
        concurrency: 1,
        plugin: {
          targets: [
            { cluster: DARK_CLUSTER, percentage: 100, timeout_ms: 60_000 },
          ],
          max_inflight: 5,
        },
      },
      { dark: { mode: "hang" } },
    );
    const [latencies] = await liveLatencies(s, envoy, 12);
    assert.ok(Math.max(...latencies) < 1000);
    await dark.waitForCount(5);
    await envoy.waitForCounter("skipped.overloaded", 7);
    const c = await envoy.targetCounters();
    assert.equal(c.copies, 5);
    assert.equal(c.inflight, 5);
    assert.equal(dark.records.length, 5);
  },
);

scenario(
  "an unknown dark cluster: dispatch failures counted (reason unknown_cluster), live unaffected, logged at most once a second",
  async (s) => {
    const live = await s.upstream("kitchen");
    const dark = await s.upstream("kitchen-next");
    const started = Date.now();
    const envoy = await s.envoy({
      live,
      dark,
      plugin: { targets: [{ cluster: "kitchen-nowhere", percentage: 100 }] },
    });
    await liveLatencies(s, envoy, N);
    await envoy.waitForCounter(
      "dispatch_failures.unknown_cluster",
      N,
      "kitchen-nowhere",
    );
    const elapsed = (Date.now() - started) / 1000;
    const reports = envoy.log
      .split("\n")
      .filter((l) => /wasm log.*kitchen-nowhere/.test(l));
    assert.ok(reports.length >= 1, "the failed dispatch was not logged");
    // Once a second per VM at most (2 workers).
    assert.ok(
      reports.length <= 2 * (Math.ceil(elapsed) + 1),
      `${reports.length} reports in ${elapsed.toFixed(1)} s`,
    );
    assert.equal(await envoy.stat(statName("kitchen-nowhere", "copies")), 0);
    assert.equal(dark.records.length, 0);
  },
);
