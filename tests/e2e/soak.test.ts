// Soak: 100,000 live requests (SOAK_REQUESTS overrides) through one Envoy whose
// dark side mixes every fault: a refusing cluster, a cluster with no healthy host, and a dark
// kitchen that answers, answers 5xx, hangs past the timeout, answers late, resets before or in
// the middle of its answer, returns 256 KiB or 20 MB, or answers after the live stream finished; clients
// also send unsafe methods, marked requests and uploads they abort. Every live request must be
// answered exactly as the live kitchen answers it; afterwards every copy has its outcome, nothing
// is in flight, and Envoy's memory after warm-up grows by no more than a generous bound (printed).
import assert from "node:assert/strict";
import http from "node:http";
import { type Behaviour, type Recorded } from "../support/upstream.ts";
import { type Envoy } from "../support/envoy.ts";
import { mapConcurrent, request } from "../support/clients.ts";
import { mirroredByFormula } from "../support/sampling.ts";
import { scenario } from "../support/scenario.ts";
import { statName } from "../support/stat-names.ts";
import { waitFor } from "../../tools/wait.ts";
import { faultRow, OUTCOMES, peakOf, recordFault, sum } from "./traffic.ts";

const TOTAL = Number(process.env.SOAK_REQUESTS ?? 100_000);
const WARMUP = Math.min(10_000, Math.floor(TOTAL / 10));
const CONCURRENCY = 24;
const TIMEOUT_MS = 300;
const MAX_INFLIGHT = 50;
const BIG = Buffer.alloc(256 * 1024, "b");
const TWENTY_MB = Buffer.alloc(20 * 1024 * 1024, "m");

const REFUSE = "kitchen-refusing";
const NOHOST = "kitchen-nohost";
const NEXT = "kitchen-next";
const CLUSTERS = [REFUSE, NOHOST, NEXT];

/** How the dark kitchen treats a copy, chosen by the request's `f` parameter. */
const FAULTS = [
  "ok",
  "ok",
  "ok",
  "5xx",
  "hang",
  "late",
  "reset",
  "resetmid",
  "after-live",
  "big",
] as const;
type Fault = (typeof FAULTS)[number];
const faultOf = (path: string) =>
  (/[?&]f=([a-z0-9-]+)/.exec(path)?.[1] ?? "ok") as Fault;

/** The live kitchen's answer, known in advance: every live reply is checked against it. */
const liveAnswer = (method: string, path: string) =>
  `kitchen ${method} ${path}\n`;

interface SoakRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  abort?: boolean;
}

/** Request `i` of the mix. */
function soakRequest(i: number): SoakRequest {
  const id = `soak-${i}`;
  const headers: Record<string, string> = { "x-request-id": id };
  const f = FAULTS[i % FAULTS.length];
  const path = `/menu/${i}?f=${f}`;
  if (i % 500 === 250) return { method: "GET", path, headers, abort: true };
  if (i % 97 === 0) headers["x-fault"] = "refuse";
  else if (i % 89 === 0) headers["x-fault"] = "nohost";
  if (i % 41 === 0) headers["x-shadow"] = "true";
  if (i % 20 === 7)
    return { method: "POST", path, headers, body: `{"order":${i}}` };
  return { method: "GET", path, headers };
}

/** Sends a request that declares a 2 KiB body, writes 1 KiB and goes away. */
function abortedUpload(port: number, r: SoakRequest): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request({
      host: "127.0.0.1",
      port,
      method: r.method,
      path: r.path,
      headers: { ...r.headers, "content-length": 2048 },
      agent: false,
    });
    req.on("error", () => undefined);
    req.on("close", () => resolve());
    req.write(Buffer.alloc(1024, "a"), () =>
      setTimeout(() => req.destroy(), 5),
    );
  });
}

/** Sends requests [from, to); resolves with how many were answered exactly as the live kitchen answers. */
async function drive(
  envoy: Envoy,
  agent: http.Agent,
  from: number,
  to: number,
  failures: string[],
): Promise<{ ok: number; total: number; aborted: number }> {
  let ok = 0;
  let aborted = 0;
  await mapConcurrent(
    Array.from({ length: to - from }, (_, k) => from + k),
    CONCURRENCY,
    async (i) => {
      const r = soakRequest(i);
      if (r.abort) {
        aborted++;
        return abortedUpload(envoy.listenerPort, r);
      }
      try {
        const reply = await request(envoy.listenerPort, { ...r, agent });
        if (
          reply.status === 200 &&
          reply.body.toString() === liveAnswer(r.method, r.path)
        )
          ok++;
        else if (failures.length < 10)
          failures.push(
            `${r.method} ${r.path}: ${reply.status} ${reply.body.toString().slice(0, 120)}`,
          );
      } catch (err) {
        if (failures.length < 10)
          failures.push(`${r.method} ${r.path}: ${(err as Error).message}`);
      }
    },
  );
  return { ok, total: to - from - aborted, aborted };
}

/** Every target's copies answered and none in flight. */
async function settled(
  envoy: Envoy,
): Promise<Record<string, Record<string, number>>> {
  const all: Record<string, Record<string, number>> = {};
  await waitFor(
    () => `every copy of every target answered: ${JSON.stringify(all)}`,
    async () => {
      for (const c of CLUSTERS) all[c] = await envoy.targetCounters(c);
      return CLUSTERS.every(
        (c) => all[c].inflight === 0 && sum(all[c], OUTCOMES) === all[c].copies,
      );
    },
    20_000,
  ).catch(() => undefined);
  for (const c of CLUSTERS) all[c] = await envoy.targetCounters(c);
  return all;
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

scenario(
  `soak: ${TOTAL} requests mixing every dark fault: every live request answered, every copy counted, nothing left in flight, memory back to its level after warm-up`,
  async (s) => {
    const live = await s.upstream("kitchen", {
      body: (r: Recorded) => liveAnswer(r.method, r.path),
    });
    const dark = await s.upstream("kitchen-next", {
      status: (r) => (faultOf(r.path) === "5xx" ? 503 : 200),
      // One "big" copy in a thousand gets 20 MB, the others 256 KiB.
      body: (r) =>
        faultOf(r.path) !== "big"
          ? "next"
          : /^\/menu\/\d*9999\?/.test(r.path)
            ? TWENTY_MB
            : BIG,
      per: (r) =>
        ({
          ok: {},
          "5xx": {},
          big: {},
          hang: { mode: "hang" },
          late: { delayMs: TIMEOUT_MS + 200 },
          reset: { mode: "reset" },
          resetmid: { mode: "reset-mid-response" },
          "after-live": { delayMs: 50 },
        })[faultOf(r.path)] as Omit<Behaviour, "per">,
    });
    const refusing = await s.refusing(REFUSE);
    const envoy = await s.envoy({
      live,
      dark,
      plugin: {
        targets: [
          {
            cluster: REFUSE,
            percentage: 100,
            match: { headers: { "x-fault": "refuse" } },
          },
          {
            cluster: NOHOST,
            percentage: 100,
            match: { headers: { "x-fault": "nohost" } },
          },
          { cluster: NEXT, percentage: 50, timeout_ms: TIMEOUT_MS },
        ],
        max_inflight: MAX_INFLIGHT,
      },
      mutate: (b) => {
        const clusters = b.static_resources.clusters;
        const next = clusters.find((c: { name: string }) => c.name === NEXT);
        const refuse = structuredClone(next);
        refuse.name = refuse.load_assignment.cluster_name = REFUSE;
        refuse.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value =
          refusing.port;
        const nohost = structuredClone(next);
        nohost.name = nohost.load_assignment.cluster_name = NOHOST;
        nohost.load_assignment.endpoints[0].lb_endpoints[0].health_status =
          "UNHEALTHY";
        nohost.common_lb_config = { healthy_panic_threshold: { value: 0 } };
        clusters.push(refuse, nohost);
      },
    });
    const agent = s.agent(CONCURRENCY);
    const failures: string[] = [];
    const started = performance.now();

    const warm = await drive(envoy, agent, 0, WARMUP, failures);
    await settled(envoy);
    const base = await envoy.memory();

    const { result: rest, peak } = await peakOf(
      envoy,
      statName(NEXT, "inflight"),
      drive(envoy, agent, WARMUP, TOTAL, failures),
    );
    const counters = await settled(envoy);
    const end = await envoy.memory();
    const seconds = (performance.now() - started) / 1000;
    const liveOk = warm.ok + rest.ok;
    const liveTotal = warm.total + rest.total;
    const aborted = warm.aborted + rest.aborted;

    const row = await faultRow(
      `soak: ${TOTAL} requests mixing every fault`,
      envoy,
      { ok: liveOk, total: liveTotal },
      { peakInflight: peak, cap: MAX_INFLIGHT * 2, cluster: NEXT },
    );
    recordFault(row);
    s.t.diagnostic(
      `${TOTAL} requests in ${seconds.toFixed(0)} s (${(TOTAL / seconds).toFixed(0)}/s): live ${liveOk}/${liveTotal} OK, ${aborted} uploads aborted; ` +
        CLUSTERS.map(
          (c) =>
            `${c}: mirrored ${counters[c].copies}, outcomes ${JSON.stringify(Object.fromEntries(OUTCOMES.map((o) => [o.slice(5), counters[c][o]])))}, dispatch_failed ${counters[c].dispatch_failures}, inflight ${counters[c].inflight}`,
        ).join("; "),
    );
    s.t.diagnostic(
      `Envoy memory after warm-up (${WARMUP} requests): RSS ${mb(base.rssBytes)}, allocated ${mb(base.allocatedBytes)}, heap ${mb(base.heapSizeBytes)}; ` +
        `after ${TOTAL}: RSS ${mb(end.rssBytes)} (${end.rssBytes >= base.rssBytes ? "+" : ""}${mb(end.rssBytes - base.rssBytes)}), allocated ${mb(end.allocatedBytes)} (${end.allocatedBytes >= base.allocatedBytes ? "+" : ""}${mb(end.allocatedBytes - base.allocatedBytes)}); peak inflight ${peak} (cap ${MAX_INFLIGHT} per worker)`,
    );

    assert.deepEqual(
      failures,
      [],
      "live requests not answered as the live kitchen answers",
    );
    assert.equal(liveOk, liveTotal);
    assert.ok(live.records.length >= liveTotal);
    for (const c of CLUSTERS) {
      assert.equal(counters[c].inflight, 0, `${c}: copies still in flight`);
      assert.equal(
        sum(counters[c], OUTCOMES),
        counters[c].copies,
        `${c}: every copy counted once`,
      );
    }
    // Every target counts every request once: a copy, a skip (not_matched included) or a
    // dispatch failure.
    for (const c of CLUSTERS) {
      const counted =
        counters[c].copies +
        counters[c].dispatch_failures +
        Object.entries(counters[c])
          .filter(([k]) => k.startsWith("skipped."))
          .reduce((a, [, v]) => a + v, 0);
      assert.equal(counted, TOTAL, `${c}: requests counted`);
    }
    assert.equal(counters[REFUSE]["dark.reset"], counters[REFUSE].copies);
    assert.ok(counters[REFUSE].copies > 0);
    assert.equal(counters[NOHOST].copies, 0);
    assert.ok(counters[NOHOST].dispatch_failures > 0);
    for (const o of OUTCOMES)
      assert.ok(
        counters[NEXT][o] > 0 || o === "dark.3xx" || o === "dark.4xx",
        `${NEXT}: no ${o}`,
      );
    // Aborted uploads are never mirrored; those the sampling chose were being copied (counted as
    // live resets) unless the cap had already skipped them.
    const abortedIds = new Set(
      Array.from({ length: TOTAL }, (_, i) => soakRequest(i))
        .filter((r) => r.abort)
        .map((r) => r.headers["x-request-id"]),
    );
    const abortedSampled = [...abortedIds].filter((id) =>
      mirroredByFormula("", id, 50),
    ).length;
    assert.deepEqual(
      dark.records
        .map((r) => String(r.headers["x-request-id"]))
        .filter((id) => abortedIds.has(id)),
      [],
      "aborted uploads reached dark",
    );
    const liveReset = counters[NEXT]["skipped.live_reset"];
    assert.ok(
      liveReset <= abortedSampled &&
        liveReset + counters[NEXT]["skipped.overloaded"] >= abortedSampled,
      `${liveReset} live resets for ${abortedSampled} sampled aborted uploads`,
    );
    assert.ok(peak <= MAX_INFLIGHT * 2, `inflight peaked at ${peak}`);
    assert.ok(
      dark.peakActive <= MAX_INFLIGHT * 2,
      `dark held ${dark.peakActive} at once`,
    );
    assert.equal(row.vmFailures, 0, "Wasm VM failures");
    // Generous bounds: a leak of even 1 KiB per request would exceed them.
    const growth = TOTAL - WARMUP;
    assert.ok(
      end.allocatedBytes - base.allocatedBytes <
        Math.max(64 << 20, growth * 512),
      `Envoy's allocated memory grew by ${mb(end.allocatedBytes - base.allocatedBytes)}`,
    );
    assert.ok(
      end.rssBytes - base.rssBytes < Math.max(128 << 20, growth * 1024),
      `Envoy's RSS grew by ${mb(end.rssBytes - base.rssBytes)}`,
    );
  },
  { timeout: 300_000 },
);
