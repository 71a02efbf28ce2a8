// Shared by the fault, input, reload and soak cases: a deterministic live service, a mixed live
// workload, the same workload sent through an Envoy without the filter (the baseline) and with it,
// and the comparison of what clients and the live upstream saw in both runs. Also the fault
// summary rows written to the run registry for the suite's last step (tests/e2e/last/security.ts).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type http from "node:http";
import { appendRegistry, SAFE_METHODS } from "../support/registry.ts";
import { DARK_CLUSTER, type EnvoyOptions } from "../support/envoy-config.ts";
import {
  type Behaviour,
  type Recorded,
  type Upstream,
} from "../support/upstream.ts";
import { type Envoy } from "../support/envoy.ts";
import { mapConcurrent, type Reply, request } from "../support/clients.ts";
import { type Scope } from "../support/scenario.ts";
import { waitFor } from "../../tools/wait.ts";

/** Deterministic bytes of length `n` seeded by `seed`: live bodies depend only on the path. */
export function bytesOf(seed: string, n: number): Buffer {
  const out = Buffer.alloc(n);
  let block = createHash("sha256").update(seed).digest();
  for (let at = 0; at < n; at += block.length) {
    block.copy(out, at, 0, Math.min(block.length, n - at));
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

/** Size of the live answer for a path: `?kb=N` asks for N KiB, otherwise a short line. */
export function liveSizeOf(path: string): number | undefined {
  const m = /[?&]kb=(\d+)/.exec(path);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** The live kitchen: answers every request with a body that depends only on its method and path. */
export const liveKitchen: Behaviour = {
  headers: { "x-kitchen": "live" },
  body: (r: Recorded) => {
    const size = liveSizeOf(r.path);
    return size === undefined
      ? `kitchen ${r.method} ${r.path} ${r.body.length}\n`
      : bytesOf(`${r.method} ${r.path}`, size);
  },
};

/** One live request of a workload. */
export interface LiveRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

/** Safe methods are mirrored by default. */
export const isSafe = (m: string) => SAFE_METHODS.includes(m);

/**
 * `n` live requests tagged `tag`: mostly GETs (some with answers up to 256 KiB, some carrying
 * credentials), a few HEAD, OPTIONS, POST and DELETE. Every one has its own x-request-id.
 */
export function liveWorkload(tag: string, n: number): LiveRequest[] {
  return Array.from({ length: n }, (_, i) => {
    const id = `${tag}-${i}`;
    const headers: Record<string, string> = {
      host: "kitchen.example",
      "x-request-id": id,
    };
    const kind = i % 10;
    if (kind === 3) headers.authorization = `Bearer token-${i}`;
    if (kind === 4) headers.cookie = `session=s${i}; theme=dark`;
    if (kind === 7)
      return {
        method: "POST",
        path: `/orders/${id}`,
        headers: { ...headers, "content-type": "application/json" },
        body: Buffer.from(JSON.stringify({ burger: "classic", n: i })),
      };
    if (kind === 8 && i % 20 === 8)
      return { method: "DELETE", path: `/orders/${id}`, headers };
    if (kind === 9 && i % 20 === 9)
      return { method: "HEAD", path: `/menu/${id}`, headers };
    if (kind === 9) return { method: "OPTIONS", path: `/menu/${id}`, headers };
    const kb = [0, 1, 16, 64, 256][i % 5];
    return {
      method: "GET",
      path: kb ? `/menu/${id}?kb=${kb}` : `/menu/${id}`,
      headers,
    };
  });
}

/** What the client got for one request (or the error that ended it). */
export interface Outcome {
  status: number;
  body: Buffer;
  contentType?: string;
  error?: string;
  endedAt: number;
}

/** Sends `requests` (`concurrency` at a time) on `agent`; never throws: errors become outcomes. */
export async function sendAll(
  port: number,
  requests: LiveRequest[],
  agent: http.Agent,
  concurrency = 8,
): Promise<Outcome[]> {
  return mapConcurrent(requests, concurrency, async (r) => {
    try {
      const reply: Reply = await request(port, { ...r, agent });
      return {
        status: reply.status,
        body: reply.body,
        contentType: String(reply.headers["content-type"] ?? ""),
        endedAt: performance.now(),
      };
    } catch (err) {
      return {
        status: 0,
        body: Buffer.alloc(0),
        error: (err as Error).message,
        endedAt: performance.now(),
      };
    }
  });
}

/** How many outcomes are a 2xx with exactly the baseline's status, content type and body. */
export function countIdentical(got: Outcome[], baseline: Outcome[]): number {
  return got.filter(
    (o, i) =>
      o.status >= 200 &&
      o.status < 300 &&
      o.status === baseline[i].status &&
      o.contentType === baseline[i].contentType &&
      o.body.equals(baseline[i].body),
  ).length;
}

/** Asserts that every request got exactly what the baseline (no filter) got, naming the first few that did not. */
export function assertLiveIdentical(
  requests: LiveRequest[],
  got: Outcome[],
  baseline: Outcome[],
): void {
  const bad: string[] = [];
  got.forEach((o, i) => {
    const b = baseline[i];
    const same =
      o.status === b.status &&
      o.contentType === b.contentType &&
      o.body.equals(b.body);
    if (!same || o.status < 200 || o.status >= 300)
      bad.push(
        `${requests[i].method} ${requests[i].path}: got ${o.status}${o.error ? ` (${o.error})` : ""} ${o.body.length} B, without the filter ${b.status} ${b.body.length} B`,
      );
  });
  assert.equal(
    bad.length,
    0,
    `${bad.length} of ${got.length} live requests differ from the run without the filter:\n${bad.slice(0, 10).join("\n")}`,
  );
}

/** What a live upstream received, keyed by x-request-id: method, path, headers as sent, body digest. */
export function receivedByLive(u: Upstream): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of u.records)
    out.set(
      String(r.headers["x-request-id"]),
      JSON.stringify([
        r.method,
        r.path,
        r.rawHeaders,
        createHash("sha256").update(r.body).digest("hex"),
      ]),
    );
  return out;
}

/** Asserts that the live upstream received the same requests, byte for byte, with and without the filter. */
export function assertLiveUpstreamIdentical(
  withFilter: Upstream,
  without: Upstream,
): void {
  const a = receivedByLive(withFilter);
  const b = receivedByLive(without);
  assert.equal(a.size, b.size, "live upstream request counts differ");
  const differing = [...b.keys()].filter((id) => a.get(id) !== b.get(id));
  assert.deepEqual(
    differing
      .slice(0, 5)
      .map((id) => ({ with: a.get(id), without: b.get(id) })),
    [],
    `${differing.length} requests reached live differently with the filter`,
  );
}

/** The dark outcome counters. */
export const OUTCOMES = [
  "dark.2xx",
  "dark.3xx",
  "dark.4xx",
  "dark.5xx",
  "dark.reset",
] as const;

/** Sum of the named counters. */
export const sum = (c: Record<string, number>, names: readonly string[]) =>
  names.reduce((a, n) => a + (c[n] ?? 0), 0);

/**
 * Waits until every dispatched copy has an outcome and nothing is in flight, up to `timeoutMs`;
 * returns the counters as they are then (the caller asserts on them, so a stuck copy shows).
 */
export async function settledCounters(
  envoy: Envoy,
  cluster = DARK_CLUSTER,
  timeoutMs = 15_000,
): Promise<Record<string, number>> {
  let c: Record<string, number> = {};
  await waitFor(
    () =>
      `${envoy.name}: every copy answered and none in flight: ${JSON.stringify(c)}`,
    async () => {
      c = await envoy.targetCounters(cluster);
      return sum(c, OUTCOMES) >= c.copies && c.inflight === 0;
    },
    timeoutMs,
  ).catch(() => undefined);
  return envoy.targetCounters(cluster);
}

/** Polls a gauge while `during` runs; resolves with the highest value seen. */
export async function peakOf<T>(
  envoy: Envoy,
  name: string,
  during: Promise<T>,
): Promise<{ result: T; peak: number }> {
  let peak = 0;
  let done = false;
  const poll = (async () => {
    while (!done) {
      peak = Math.max(peak, await envoy.stat(name).catch(() => 0));
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  try {
    const result = await during;
    return { result, peak };
  } finally {
    done = true;
    await poll;
  }
}

/** An Envoy with the filter and one without it, each with its own live upstream of the same behaviour. */
export async function twinEnvoys(
  s: Scope,
  options: Omit<EnvoyOptions, "live"> & { liveBehaviour?: Behaviour },
): Promise<{
  envoy: Envoy;
  baseline: Envoy;
  live: Upstream;
  baselineLive: Upstream;
}> {
  const { liveBehaviour = liveKitchen, ...rest } = options;
  const live = await s.upstream("kitchen", liveBehaviour);
  const baselineLive = await s.upstream("kitchen-baseline", liveBehaviour);
  const baseline = await s.envoy({
    ...rest,
    name: "without-filter",
    live: baselineLive,
    withoutFilter: true,
    dynamicListener: false,
  });
  const envoy = await s.envoy({ ...rest, name: "with-filter", live });
  return { envoy, baseline, live, baselineLive };
}

/** One row of the end-of-suite fault table. */
export interface FaultRow {
  fault: string;
  liveOk: number;
  liveTotal: number;
  mirrored: number;
  outcomes: Record<string, number>;
  skipped: Record<string, number>;
  dispatchFailed: number;
  peakInflight: number;
  cap: number;
  vmFailures: number;
  /** Peak of the filter's Wasm linear memory over the Envoy's VMs (mirror_wasm_memory_bytes), when measured. */
  peakVmMemory?: number;
}

/** Appends a row to the run's fault table (printed by the suite's last step). */
export function recordFault(row: FaultRow): void {
  appendRegistry("faults", row);
}

/** The row for `fault` from an Envoy's counters and Wasm failure signs. */
export async function faultRow(
  fault: string,
  envoy: Envoy,
  live: { ok: number; total: number },
  extra: { peakInflight: number; cap: number; cluster?: string },
): Promise<FaultRow> {
  const cluster = extra.cluster ?? DARK_CLUSTER;
  const c = await envoy.targetCounters(cluster);
  const failures = await envoy.wasmFailures();
  const skipped: Record<string, number> = {};
  for (const [k, v] of Object.entries(c))
    if (k.startsWith("skipped.") && v) skipped[k.slice(8)] = v;
  return {
    fault,
    liveOk: live.ok,
    liveTotal: live.total,
    mirrored: c.copies,
    outcomes: Object.fromEntries(OUTCOMES.map((o) => [o.slice(5), c[o]])),
    skipped,
    dispatchFailed: c.dispatch_failures,
    peakInflight: extra.peakInflight,
    cap: extra.cap,
    vmFailures:
      Object.values(failures.stats).reduce((a, v) => a + v, 0) +
      failures.logLines.length,
  };
}
