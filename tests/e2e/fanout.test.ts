// Fan-out and rate caps in the real Envoy: two dark targets receive exactly the keyed users the
// sampling formula picks (the same users on both, and nothing else); a max_rps cap holds over 10 s of steady load
// (one worker: burst + rate × duration, within a computed tolerance; two workers: up to twice
// that, one bucket per VM); a dark kitchen that adds a timestamp and a request id to an otherwise
// identical JSON answer compares clean with compare.ignore and fails without it, and the report's
// verdict follows; the mismatch sample lines in Envoy's log come at the configured rate and name
// the x-request-id the live kitchen saw.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DARK_CLUSTER } from "../support/envoy-config.ts";
import { type Envoy } from "../support/envoy.ts";
import { mapConcurrent, request } from "../support/clients.ts";
import { mirroredByFormula } from "../support/sampling.ts";
import { now, sleep } from "../../tools/wait.ts";
import { REPO_ROOT } from "../../tools/paths.ts";
import { type Recorded } from "../support/upstream.ts";
import { scenario, type Scope } from "../support/scenario.ts";

const V3 = "kitchen-v3";

/** How many requests of `records` carried each value of header `name`. */
function countBy(records: Recorded[], name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of records) {
    const v = String(r.headers[name]);
    out.set(v, (out.get(v) ?? 0) + 1);
  }
  return out;
}

scenario(
  "two dark targets receive exactly the same keyed users, and nothing else",
  async (s) => {
    const v3 = await s.upstream("kitchen-v3");
    const percentage = 30;
    const { live, dark, envoy } = await s.liveAndDark({
      clusters: { [V3]: v3.port },
      plugin: {
        targets: [
          { cluster: DARK_CLUSTER, percentage },
          { cluster: V3, percentage },
        ],
        sampling: { keys: ["header:x-user-id"] },
        max_inflight: 1000,
      },
    });
    const users = Array.from({ length: 200 }, (_, i) => `diner-${i}`);
    const chosen = users.filter((u) => mirroredByFormula("", u, percentage));
    // Each user orders twice (a GET and a HEAD), sends one POST, and some requests carry no key.
    type Req = { method: string; user?: string; path: string };
    const reqs: Req[] = users.flatMap((u, i) => [
      { method: "GET", user: u, path: `/orders/${i}` },
      { method: "HEAD", user: u, path: `/orders/${i}` },
      { method: "POST", user: u, path: `/orders/${i}` },
    ]);
    for (let i = 0; i < 50; i++)
      reqs.push({ method: "GET", path: `/menu/${i}` });
    const agent = s.agent(8);
    await mapConcurrent(reqs, 8, async (r) => {
      const reply = await request(envoy.listenerPort, {
        method: r.method,
        path: r.path,
        headers: r.user ? { "x-user-id": r.user } : {},
        body: r.method === "POST" ? "order" : undefined,
        agent,
      });
      assert.equal(reply.status, 200, `${r.method} ${r.path}`);
    });
    const want = chosen.length * 2;
    for (const cluster of [DARK_CLUSTER, V3]) {
      const c = await envoy.targetCounters(cluster);
      assert.deepEqual(
        {
          copies: c.copies,
          sampled_out: c["skipped.sampled_out"],
          method: c["skipped.method"],
          no_key: c["skipped.no_key"],
          not_matched: c["skipped.not_matched"],
          dispatch_failures: c.dispatch_failures,
        },
        {
          copies: want,
          sampled_out: (users.length - chosen.length) * 2,
          method: users.length,
          no_key: 50,
          not_matched: 0,
          dispatch_failures: 0,
        },
        cluster,
      );
    }
    await dark.waitForCount(want);
    await v3.waitForCount(want);
    await sleep(200);
    const expected = new Map(chosen.map((u) => [u, 2]));
    for (const target of [dark, v3]) {
      assert.deepEqual(
        countBy(target.records, "x-user-id"),
        expected,
        `${target.name}: the formula's users, each GET and HEAD once`,
      );
      assert.ok(
        target.records.every(
          (r) =>
            ["GET", "HEAD"].includes(r.method) &&
            r.headers["x-shadow"] === "true",
        ),
        `${target.name}: only safe, marked copies`,
      );
    }
    assert.equal(live.records.length, reqs.length, "live got everything");
  },
);

// ----- max_rps -----------------------------------------------------------------------------------

const RATE = 20;
const LOAD_RPS = 100;
const LOAD_SECONDS = 10;

/**
 * Sends LOAD_RPS requests a second for LOAD_SECONDS, paced on the clock, round-robin over 8
 * keep-alive connections (so that with several workers the kernel spreads them); returns the time
 * from the first request sent to the last one answered (s).
 */
async function steadyLoad(s: Scope, envoy: Envoy): Promise<number> {
  const agents = Array.from({ length: 8 }, () => s.agent(1));
  const total = LOAD_RPS * LOAD_SECONDS;
  const start = now();
  let last = start;
  const inflight: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / LOAD_RPS;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    inflight.push(
      request(envoy.listenerPort, {
        path: `/orders/${i}`,
        agent: agents[i % agents.length],
      }).then((reply) => {
        assert.equal(reply.status, 200);
        last = Math.max(last, now());
      }),
    );
  }
  await Promise.all(inflight);
  return (last - start) / 1000;
}

async function rateCapped(s: Scope, concurrency: number) {
  const { live, dark, envoy } = await s.liveAndDark({
    concurrency,
    plugin: {
      targets: [{ cluster: DARK_CLUSTER, percentage: 100, max_rps: RATE }],
      max_inflight: 1000,
    },
  });
  const seconds = await steadyLoad(s, envoy);
  const c = await envoy.targetCounters();
  await dark.waitForCount(c.copies);
  return { seconds, c, next: dark, live };
}

scenario(
  `max_rps ${RATE} holds over ${LOAD_SECONDS} s of ${LOAD_RPS} requests/s (one worker: one bucket)`,
  async (s) => {
    const { seconds, c, next } = await rateCapped(s, 1);
    const total = LOAD_RPS * LOAD_SECONDS;
    // The bucket starts full (a burst of RATE), then adds RATE tokens a second; the load is
    // always above the rate, so every token is used: burst + RATE × the time Envoy saw between
    // the first and last request, minus the part of a token left at the end (< 1). Envoy's view of
    // that time differs from the client's by the first and last requests' latencies (< 100 ms
    // together on loopback): ± RATE × 0.1 s.
    const expected = RATE + RATE * seconds;
    const tolerance = 1 + RATE * 0.1;
    s.t.diagnostic(
      `concurrency 1: ${c.copies} copies in ${seconds.toFixed(2)} s (expected ${expected.toFixed(1)} ± ${tolerance}); rate_limited ${c["skipped.rate_limited"]}`,
    );
    assert.ok(
      Math.abs(c.copies - expected) <= tolerance,
      `${c.copies} copies, expected ${expected.toFixed(1)} ± ${tolerance}`,
    );
    assert.equal(c.copies + c["skipped.rate_limited"], total);
    assert.equal(next.records.length, c.copies);
    // Steady, not a burst and then nothing: every whole second after the first gets RATE copies
    // (± 3: a copy leaves when its request ends, a few ms after the token was taken).
    const t0 = next.records[0].startedAt;
    const perSecond = Array.from({ length: LOAD_SECONDS }, () => 0);
    for (const r of next.records) {
      const i = Math.floor((r.startedAt - t0) / 1000);
      if (i < perSecond.length) perSecond[i]++;
    }
    s.t.diagnostic(`copies per second: ${perSecond.join(" ")}`);
    assert.ok(
      perSecond[0] >= RATE && perSecond[0] <= 2 * RATE + 3,
      `first second: the burst and the rate, got ${perSecond[0]}`,
    );
    for (const n of perSecond.slice(1, -1))
      assert.ok(Math.abs(n - RATE) <= 3, `per second: ${perSecond.join(" ")}`);
  },
);

scenario(
  `max_rps ${RATE} with two workers: one bucket per VM, up to twice the rate`,
  async (s) => {
    const { seconds, c } = await rateCapped(s, 2);
    const oneVm = RATE + RATE * seconds;
    const tolerance = 1 + RATE * 0.1;
    s.t.diagnostic(
      `concurrency 2: ${c.copies} copies in ${seconds.toFixed(2)} s; one VM would allow ${oneVm.toFixed(1)}, two ${(2 * oneVm).toFixed(1)}`,
    );
    // Each worker's VM has its own bucket: never more than two buckets' worth. The kernel spreads
    // the 8 connections over the workers; whichever way, one worker gets at least half the load
    // (50 requests/s, over the rate), so never less than one bucket's worth either.
    assert.ok(
      c.copies <= 2 * (oneVm + tolerance),
      `${c.copies} copies: more than two buckets allow`,
    );
    assert.ok(
      c.copies >= oneVm - tolerance,
      `${c.copies} copies: less than one bucket`,
    );
  },
);

// ----- comparing JSON with ignore rules, the report, the sample lines ------------------------

/** The live kitchen's JSON order for a path. */
function order(path: string): Record<string, unknown> {
  const id = Number(path.split("/")[2].split("?")[0]);
  return {
    order: id,
    items: [
      { name: "classic burger", price: 8.5, qty: 1 + (id % 3) },
      { name: "fries", price: 3, qty: 1 },
    ],
    total: 11.5 + 8.5 * (id % 3),
  };
}

const JSON_HEADERS = { "content-type": "application/json" };

/** Live answers the order; the next kitchen the same, reordered, with a timestamp and a request id. */
async function jsonKitchens(s: Scope) {
  const live = await s.upstream("kitchen", {
    headers: JSON_HEADERS,
    body: (r) => JSON.stringify(order(r.path)),
  });
  const next = await s.upstream("kitchen-next", {
    headers: JSON_HEADERS,
    body: (r) => {
      const o = order(r.path);
      return JSON.stringify({
        timestamp: new Date().toISOString(),
        total: o.total,
        items: (o.items as object[]).map((x) => ({ ...x })),
        order: o.order,
        meta: { request_id: r.headers["x-request-id"], served_by: "next" },
      });
    },
  });
  return { live, next };
}

/** `n` orders paced `gapMs` apart (Envoy makes each x-request-id); all must be 200. */
async function orders(
  s: Scope,
  envoy: Envoy,
  n: number,
  gapMs: number,
): Promise<number> {
  const agent = s.agent(4);
  const start = now();
  await mapConcurrent(
    Array.from({ length: n }, (_, i) => i),
    1,
    async (i) => {
      const wait = start + i * gapMs - now();
      if (wait > 0) await sleep(wait);
      const reply = await request(envoy.listenerPort, {
        path: `/orders/${i}?table=${i % 7}`,
        agent,
      });
      assert.equal(reply.status, 200);
    },
  );
  return (now() - start) / 1000;
}

/**
 * Objectives for a run of 40 pairs: the defaults' tolerances need hundreds of pairs to show a
 * version within them (docs/report.md), so a small run states its own, as a pipeline can.
 */
const SMALL_RUN = {
  min_pairs_p99: null,
  max_pair_mismatch_pct: 5,
  max_dark_error_excess_pct: 5,
  max_latency_shift_floor_ms: 50,
};

/** `npm run report` against `envoy`'s admin, as a pipeline runs it: exit code and output. */
function report(
  s: Scope,
  envoy: Envoy,
): Promise<{ code: number | null; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), "mirror-objectives-"));
  s.defer(() => rmSync(dir, { recursive: true, force: true }));
  const objectives = join(dir, "objectives.json");
  writeFileSync(objectives, JSON.stringify(SMALL_RUN));
  return new Promise((resolve) => {
    const child = spawn(
      "npm",
      [
        "run",
        "--silent",
        "report",
        "--",
        "--admin",
        `http://127.0.0.1:${envoy.adminPort}`,
        "--settle",
        "5",
        "--objectives",
        objectives,
      ],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => resolve({ code, out }));
  });
}

/** The fields of every `mirror mismatch:` line in Envoy's log. */
function sampleLines(envoy: Envoy): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  for (const line of envoy.log.split("\n")) {
    const m = /\]\[info\]\[wasm\].*mirror mismatch: (.*)$/.exec(line);
    if (!m) continue;
    const fields: Record<string, string> = {};
    for (const f of m[1].matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g))
      fields[f[1]] = f[2].startsWith('"') ? JSON.parse(f[2]) : f[2];
    out.push(fields);
  }
  return out;
}

const N = 40;

scenario(
  "a next kitchen that adds a timestamp and a request id compares clean with compare.ignore; the report passes",
  async (s) => {
    const { live, next } = await jsonKitchens(s);
    const envoy = await s.envoy({
      live,
      dark: next,
      plugin: {
        cluster: DARK_CLUSTER,
        percentage: 100,
        compare: {
          body: "json",
          ignore: ["/**/timestamp", "/meta"],
          headers: ["content-type"],
        },
      },
    });
    await orders(s, envoy, N, 0);
    await envoy.waitForCounter("compared", N);
    const c = await envoy.targetCounters();
    assert.equal(c["compared.match"], N, JSON.stringify(c));
    assert.deepEqual(sampleLines(envoy), []);
    const r = await report(s, envoy);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`verdict for ${DARK_CLUSTER}: PASS`));
  },
);

scenario(
  "without compare.ignore every answer is a body mismatch, the report fails on the mismatch rate, and the sample lines name what live saw",
  async (s) => {
    const { live, next } = await jsonKitchens(s);
    const rate = 2;
    const envoy = await s.envoy({
      live,
      dark: next,
      concurrency: 1,
      plugin: {
        cluster: DARK_CLUSTER,
        percentage: 100,
        compare: { body: "json", samples_per_second: rate },
      },
    });
    // About 6 s of mismatches, one every 50 ms.
    const n = 120;
    const seconds = await orders(s, envoy, n, 50);
    await envoy.waitForCounter("compared", n);
    const c = await envoy.targetCounters();
    assert.equal(c["compared.body_mismatch"], n, JSON.stringify(c));

    const r = await report(s, envoy);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`verdict for ${DARK_CLUSTER}: FAIL`));
    // The pair mismatches, and nothing else, fail.
    assert.deepEqual(
      [...r.out.matchAll(/^\s+FAIL\s+(\S.*?)\s{2,}/gm)].map((m) => m[1]),
      ["pair mismatches"],
      r.out,
    );

    // A burst of `rate`, then `rate` a second while mismatches keep coming (each ≥ 50 ms apart,
    // so at most one token is lost at the end): rate + rate × seconds, give or take one.
    const lines = sampleLines(envoy);
    const expected = rate + rate * seconds;
    s.t.diagnostic(
      `${lines.length} sample lines for ${n} mismatches over ${seconds.toFixed(2)} s (expected ${expected.toFixed(1)} ± 2)`,
    );
    assert.ok(
      Math.abs(lines.length - expected) <= 2,
      `${lines.length} sample lines, expected ${expected.toFixed(1)} ± 2`,
    );
    // Each names a request the live kitchen served: its x-request-id (made by Envoy), method and
    // path without the query, and both sizes.
    const byId = new Map(
      live.records.map((x) => [String(x.headers["x-request-id"]), x]),
    );
    for (const f of lines) {
      const seen = byId.get(f.request_id);
      assert.ok(seen, `request_id ${f.request_id} was never seen by live`);
      assert.equal(f.target, DARK_CLUSTER);
      assert.equal(f.result, "body_mismatch");
      assert.equal(f.method, seen.method);
      assert.equal(f.path, seen.path.split("?")[0]);
      assert.equal(f.live_status, "200");
      assert.equal(f.dark_status, "200");
      assert.equal(
        Number(f.live_bytes),
        Buffer.byteLength(JSON.stringify(order(seen.path))),
      );
      const dark = next.records.find(
        (x) => x.headers["x-request-id"] === f.request_id,
      );
      assert.ok(dark, "the copy carries the same x-request-id");
      assert.ok(Number(f.dark_bytes) > Number(f.live_bytes));
      assert.ok(
        ["/timestamp", "/meta"].includes(f.pointer),
        `pointer ${f.pointer}`,
      );
    }
  },
);
