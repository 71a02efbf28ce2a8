// Hostile clients and broken dark services change nothing for live users, in the real Envoy:
// thousands of concurrent uploads held open just under the cap (the VM-wide memory
// budget abandons copies, never live requests, and the VM's memory stays under its bound), the
// marker stripped in every spelling and from trailers (also by the shipped edge config, and
// still after a forced VM failure), method overrides, dark answers of 100 MB at the shipped
// defaults, a config at the target maximum. Rows go to the end-of-suite fault table.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import http from "node:http";
import type http2 from "node:http2";
import {
  DARK_CLUSTER,
  LIVE_CLUSTER,
  shippedConfig,
} from "../support/envoy-config.ts";
import { type Envoy } from "../support/envoy.ts";
import { mapConcurrent, request } from "../support/clients.ts";
import { type Recorded, type Upstream } from "../support/upstream.ts";
import { scenario } from "../support/scenario.ts";
import { sleep, waitFor } from "../../tools/wait.ts";
import { wasmFilterConfigs } from "../../tools/envoy/config.ts";
import { buildTrapWasm } from "./trap.ts";
import { faultRow, recordFault } from "./traffic.ts";

const MIB = 1 << 20;
/** The filter's defaults (assembly/config.ts), which the uploads below are measured against. */
const DEFAULT_MAX_BODY = 64 << 10;
const DEFAULT_BUDGET = 32 * MIB;
const WORKERS = 2;
/**
 * The bound on one VM's linear memory (docs/hostile.md, "Memory"): what it may need at once — the bytes
 * held within the budget, the largest body joined at dispatch, what is collected only at the next
 * collection (4 MiB) and the module's own static area and first pages (2 MiB) — twice, since
 * AssemblyScript's allocator at least doubles the memory each time it grows it.
 */
function vmBound(budget: number, maxBody: number): number {
  return 2 * (budget + maxBody + 6 * MIB);
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Live cluster circuit breakers high enough that plain Envoy serves thousands at once too. */
function unlimitedLive(b: Record<string, any>): void {
  for (const c of b.static_resources.clusters)
    c.circuit_breakers = {
      thresholds: [
        {
          max_connections: 100_000,
          max_pending_requests: 100_000,
          max_requests: 100_000,
        },
      ],
    };
}

/**
 * `n` GET uploads of `size` bytes each, every one held open one byte short of its end until all
 * of them are in Envoy at once; then each sends its last byte. Resolves with every reply.
 */
async function heldUploads(
  port: number,
  live: Upstream,
  n: number,
  size: number,
  during: () => Promise<void>,
): Promise<Array<{ status: number; body: string; sent: string }>> {
  const body = Buffer.alloc(size, 0x62);
  const sent = sha(body);
  const replies: Array<
    Promise<{ status: number; body: string; sent: string }>
  > = [];
  const finishers: Array<() => void> = [];
  for (let i = 0; i < n; i++) {
    const req = http.request({
      host: "127.0.0.1",
      port,
      method: "GET",
      path: `/upload/${i}`,
      headers: {
        "content-length": size,
        "x-request-id": `upload-${i}`,
      },
      agent: false,
    });
    replies.push(
      new Promise((resolve, reject) => {
        req.on("response", (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString(),
              sent,
            }),
          );
        });
        req.on("error", (err) =>
          resolve({ status: -1, body: String(err.message), sent }),
        );
      }),
    );
    req.write(body.subarray(0, size - 1));
    finishers.push(() => req.end(body.subarray(size - 1)));
  }
  // Every upload is in Envoy (and at the live kitchen) at once, one byte short of its end.
  await waitFor(
    () => `${n} uploads held open at the live kitchen (${live.active})`,
    () => live.active >= n,
    60_000,
  );
  await during();
  for (const f of finishers) f();
  return Promise.all(replies);
}

/** Polls the VM-wide gauges while `during` runs: peaks of buffered bytes and Wasm memory. */
async function gaugePeaks<T>(
  envoy: Envoy,
  during: Promise<T>,
): Promise<{ result: T; buffered: number; memory: number }> {
  let buffered = 0;
  let memory = 0;
  let done = false;
  const poll = (async () => {
    while (!done) {
      const stats = await envoy.stats().catch(() => new Map<string, number>());
      buffered = Math.max(
        buffered,
        stats.get("wasmcustom.mirror_buffered_bytes") ?? 0,
      );
      memory = Math.max(
        memory,
        stats.get("wasmcustom.mirror_wasm_memory_bytes") ?? 0,
      );
      await sleep(100);
    }
  })();
  try {
    const result = await during;
    return { result, buffered, memory };
  } finally {
    done = true;
    await poll;
  }
}

const mib = (n: number) =>
  n < MIB ? `${Math.round(n / 1024)} KiB` : `${(n / MIB).toFixed(1)} MiB`;

/**
 * Held uploads at the default cap: as many as this machine's file-descriptor limit allows (each
 * upload holds four descriptors at once: the client's, Envoy's downstream and upstream, the live
 * kitchen's; plus its copy's two), up to 3000.
 */
function uploadsAtDefaultCap(): number {
  const r = spawnSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" });
  const limit = Number(r.stdout.trim()) || 4096;
  return Math.max(500, Math.min(3000, Math.floor((limit - 2000) / 6)));
}

for (const [name, maxBody, n] of [
  [
    "the default cap (64 KiB)",
    DEFAULT_MAX_BODY,
    Number(process.env.UPLOADS ?? uploadsAtDefaultCap()),
  ],
  ["a 1 MiB cap", MIB, 96],
  ["a 16 MiB cap", 16 * MIB, 8],
] as const) {
  scenario(
    `${n} concurrent uploads held open just under ${name}: every live request served byte-exact, copies over the budget abandoned and counted, VM memory under its bound, no VM failure`,
    async (s) => {
      const plugin: Record<string, unknown> = {
        cluster: DARK_CLUSTER,
        percentage: 100,
        max_inflight: 100_000,
      };
      if (maxBody !== DEFAULT_MAX_BODY) plugin.max_body_bytes = maxBody;
      const { live, dark, envoy } = await s.liveAndDark(
        { concurrency: WORKERS, plugin, mutate: unlimitedLive },
        { live: { body: (r) => `kitchen ${sha(r.body)}\n` } },
      );
      const size = maxBody - 1;
      let heldBuffered = 0;
      const { result: replies, memory } = await gaugePeaks(
        envoy,
        heldUploads(envoy.listenerPort, live, n, size, async () => {
          // Every copy in progress is counted, and only what the budget allows is held.
          await sleep(1200);
          heldBuffered = await envoy.stat("wasmcustom.mirror_buffered_bytes");
        }),
      );
      const bad = replies.filter(
        (r) => !(r.status === 200 && r.body === `kitchen ${r.sent}\n`),
      );
      if (bad.length) {
        const st = await envoy.stats();
        s.t.diagnostic(
          `${bad.length} bad: ${JSON.stringify(bad.slice(0, 3))}; ${[...st]
            .filter(
              ([k, v]) =>
                v &&
                /downstream_cx_destroy|rq_rx_reset|overflow|upstream_rq_pending|cx_overflow|downstream_rq_5xx|upstream_cx_destroy|timeout|too_large/.test(
                  k,
                ),
            )
            .map(([k, v]) => `${k}=${v}`)
            .join(" ")}`,
        );
      }
      const ok = replies.filter(
        (r) => r.status === 200 && r.body === `kitchen ${r.sent}\n`,
      ).length;
      const row = await faultRow(
        `${n} uploads held open at ${mib(maxBody)} cap (budget ${mib(DEFAULT_BUDGET)})`,
        envoy,
        { ok, total: n },
        { peakInflight: 0, cap: 0 },
      );
      row.peakVmMemory = memory;
      recordFault(row);
      const c = await envoy.targetCounters();
      const failures = await envoy.wasmFailures();
      const vmFailures = row.vmFailures;
      s.t.diagnostic(
        `held: ${mib(heldBuffered)} buffered (budget ${mib(DEFAULT_BUDGET)} per VM); peak Wasm memory ${mib(memory)} over ${WORKERS} VMs (bound ${mib(WORKERS * vmBound(DEFAULT_BUDGET, maxBody))}); copies ${c.copies}, over_budget ${c["skipped.over_budget"]}`,
      );
      assert.equal(ok, n, "every live request answered byte-exact");
      assert.equal(vmFailures, 0, JSON.stringify(failures));
      assert.ok(
        heldBuffered <= WORKERS * DEFAULT_BUDGET,
        `buffered ${heldBuffered} over the budget`,
      );
      assert.ok(
        memory <= WORKERS * vmBound(DEFAULT_BUDGET, maxBody),
        `Wasm memory ${mib(memory)} over its bound`,
      );
      // Each upload: one copy, or abandoned for the budget.
      assert.equal(c.copies + c["skipped.over_budget"], n, JSON.stringify(c));
      assert.ok(c["skipped.over_budget"] > 0, "the budget was never reached");
      assert.ok(c.copies > 0, "nothing was mirrored");
      // Every copy gets its dark outcome; those the dark kitchen received carry the whole body.
      await envoy.waitForCounter("dark", c.copies, DARK_CLUSTER, 60_000);
      assert.ok(dark.records.length > 0);
      for (const r of dark.records)
        assert.equal(
          sha(r.body),
          replies[0].sent,
          `${r.path}: the copy's body`,
        );
      await waitFor(
        "nothing held once every copy is answered",
        async () =>
          (await envoy.stat("wasmcustom.mirror_buffered_bytes")) === 0,
      );
    },
    { timeout: 300_000 },
  );
}

// ---------------------------------------------------------------------------------------------
// Strip mode: no client marker reaches live, in any spelling Envoy passes, nor in trailers.

/** Any header or trailer named like the marker ("-" and "_" alike, any case). */
function markersIn(r: Recorded): string[] {
  const like = (k: string) => k.toLowerCase().replace(/_/g, "-") === "x-shadow";
  return [
    ...Object.keys(r.headers)
      .filter(like)
      .map((k) => `header ${k}: ${r.headers[k]}`),
    ...Object.keys(r.trailers ?? {})
      .filter(like)
      .map((k) => `trailer ${k}: ${r.trailers[k]}`),
  ];
}

/** The ways a client can send the marker, each as one request over HTTP/1.1 or HTTP/2. */
interface Spelling {
  name: string;
  headers?: Record<string, string>;
  trailers?: Record<string, string>;
  h2?: boolean;
}

const SPELLINGS: Spelling[] = [
  { name: "x-shadow", headers: { "x-shadow": "true" } },
  { name: "X-Shadow", headers: { "X-Shadow": "true" } },
  { name: "x_shadow", headers: { x_shadow: "true" } },
  { name: "X_SHADOW", headers: { X_SHADOW: "true" } },
  {
    name: "x-shadow and x_shadow",
    headers: { "x-shadow": "1", x_shadow: "2" },
  },
  { name: "trailer x-shadow", trailers: { "x-shadow": "true" } },
  { name: "trailer X_Shadow", trailers: { X_Shadow: "true" } },
  { name: "h2 x-shadow", headers: { "x-shadow": "true" }, h2: true },
  { name: "h2 x_shadow", headers: { x_shadow: "true" }, h2: true },
  { name: "h2 trailer x-shadow", trailers: { "x-shadow": "true" }, h2: true },
  { name: "h2 trailer x_shadow", trailers: { x_shadow: "true" }, h2: true },
];

/** One request carrying `sp`'s marker; resolves with the status. */
function sendSpelling(
  port: number,
  session: http2.ClientHttp2Session,
  sp: Spelling,
  id: string,
): Promise<number> {
  const path = `/menu/${encodeURIComponent(sp.name)}/${id}`;
  if (sp.h2) {
    return new Promise((resolve, reject) => {
      const stream = session.request(
        {
          ":method": "GET",
          ":path": path,
          "x-request-id": id,
          ...sp.headers,
        },
        { endStream: false, waitForTrailers: sp.trailers !== undefined },
      );
      let status = 0;
      stream.on("response", (h) => (status = Number(h[":status"])));
      stream.on("wantTrailers", () => stream.sendTrailers(sp.trailers!));
      stream.on("data", () => undefined);
      stream.on("end", () => resolve(status));
      stream.on("error", reject);
      stream.end(sp.trailers ? "body" : undefined);
    });
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: "GET",
        path,
        headers: { "x-request-id": id, ...sp.headers },
        agent: false,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    if (sp.trailers) {
      // Chunked, so that trailers can follow the body.
      req.write("body");
      req.addTrailers(sp.trailers);
    }
    req.end();
  });
}

/** Sends every spelling (each `rounds` times), checks that each got 200. */
async function sendAllSpellings(
  s: { h2(port: number): Promise<http2.ClientHttp2Session> },
  envoy: Envoy,
  tag: string,
): Promise<void> {
  const session = await s.h2(envoy.listenerPort);
  for (const [i, sp] of SPELLINGS.entries()) {
    const status = await sendSpelling(
      envoy.listenerPort,
      session,
      sp,
      `${tag}-${i}`,
    );
    assert.equal(status, 200, `${sp.name}: live answered ${status}`);
  }
}

scenario(
  'the filter in edge mode ("strip") alone: no marker reaches live in any spelling Envoy passes ("-"/"_", any case), in headers or trailers, over HTTP/1.1 and HTTP/2; each copy carries only the filter\'s own marker',
  async (s) => {
    // Envoy's defaults: header names with "_" are allowed through; no native guard.
    const { live, dark, envoy } = await s.liveAndDark({
      plugin: {
        cluster: DARK_CLUSTER,
        percentage: 100,
        marker: { inbound: "strip" },
      },
    });
    await sendAllSpellings(s, envoy, "strip");
    await live.waitForCount(SPELLINGS.length);
    await dark.waitForCount(SPELLINGS.length);
    assert.deepEqual(
      live.records.flatMap((r) => markersIn(r).map((m) => `${r.path}: ${m}`)),
      [],
      "a client marker reached live",
    );
    for (const r of dark.records)
      assert.deepEqual(markersIn(r), ["header x-shadow: true"], r.path);
  },
);

scenario(
  "the shipped edge config (envoy/edge.yaml): no marker reaches live in any spelling, headers or trailers, HTTP/1.1 and HTTP/2 — and still none after the filter's VM fails, while live keeps flowing and mirroring comes back (FAIL_RELOAD)",
  async (s) => {
    const trap = buildTrapWasm();
    const live = await s.upstream(LIVE_CLUSTER);
    const dark = await s.upstream(DARK_CLUSTER);
    const bootstrap = shippedConfig(
      { live: live.port, dark: dark.port },
      "envoy/edge.yaml",
    );
    // The shipped edge config, with the test build that traps on `x-test-trap`.
    for (const c of wasmFilterConfigs(bootstrap))
      c.vm_config.code.local.filename = trap;
    const envoy = await s.envoy({
      name: "edge",
      live,
      dark,
      bootstrap,
      expectFilterErrors: true,
    });
    await sendAllSpellings(s, envoy, "before");
    const before = live.records.length;
    // The VM traps: that request (and any in flight on that worker) gets Envoy's 503.
    const trapped = await request(envoy.listenerPort, {
      path: "/trap",
      headers: { "x-test-trap": "1", "x-request-id": "trap" },
    });
    assert.equal(trapped.status, 503);
    assert.ok(
      (await envoy.wasmFailures()).logLines.some((l) => /unreachable/.test(l)),
      "the VM did not fail",
    );
    await sleep(100); // past the 20-30 ms reload backoff
    await sendAllSpellings(s, envoy, "after");
    await live.waitForCount(before + SPELLINGS.length);
    assert.deepEqual(
      live.records.flatMap((r) => markersIn(r).map((m) => `${r.path}: ${m}`)),
      [],
      "a client marker reached live",
    );
    // Mirroring came back without a config push: the requests after the failure were copied too.
    const c = await envoy.targetCounters();
    assert.ok(
      (await envoy.stat("wasm.mirror.vm_reload_success")) >= 1,
      "no VM reload",
    );
    const afterIds = SPELLINGS.map((_, i) => `after-${i}`);
    const mirroredAfter = dark.records.filter((r) =>
      afterIds.includes(String(r.headers["x-request-id"])),
    ).length;
    const dropped =
      (await envoy.stat("http1.dropped_headers_with_underscores")) +
      (await envoy.stat("http2.dropped_headers_with_underscores"));
    s.t.diagnostic(
      `edge: ${c.copies} copies, ${mirroredAfter} of the requests after the failure mirrored (50 % keyed); header names with "_" dropped by Envoy: ${dropped}`,
    );
    assert.ok(mirroredAfter > 0, "nothing mirrored after the VM failure");
    // Envoy itself dropped the underscore spellings (headers and trailers, both codecs).
    assert.ok(dropped >= 8, `only ${dropped} underscore names dropped`);
  },
);

// ---------------------------------------------------------------------------------------------
// Method overrides: a GET that says it is a DELETE is a DELETE to a dark app that honours it.

scenario(
  "method overrides: a GET carrying X-HTTP-Method-Override, X-Method-Override, X-HTTP-Method or ?_method naming an unsafe method is not mirrored by default; under a matching unsafe_paths rule it is",
  async (s) => {
    const { live, dark, envoy } = await s.liveAndDark({
      plugin: {
        cluster: DARK_CLUSTER,
        percentage: 100,
        unsafe_paths: [{ methods: ["DELETE"], path_prefix: "/admin/" }],
      },
    });
    const cases: Array<[string, string, Record<string, string>, boolean]> = [
      [
        "X-HTTP-Method-Override: DELETE",
        "/orders/1",
        { "X-HTTP-Method-Override": "DELETE" },
        false,
      ],
      [
        "X-Method-Override: PUT",
        "/orders/2",
        { "X-Method-Override": "PUT" },
        false,
      ],
      [
        "X-HTTP-Method: patch (lower case)",
        "/orders/3",
        { "X-HTTP-Method": "patch" },
        false,
      ],
      ["?_method=DELETE", "/orders/4?_method=DELETE", {}, false],
      ["?_method=delete", "/orders/5?x=1&_method=delete", {}, false],
      [
        "X-HTTP-Method-Override: GET",
        "/orders/6",
        { "X-HTTP-Method-Override": "GET" },
        true,
      ],
      ["no override", "/orders/7", {}, true],
      [
        "?_method=DELETE under unsafe_paths DELETE /admin/",
        "/admin/users/8?_method=DELETE",
        {},
        true,
      ],
      [
        "X-HTTP-Method-Override: DELETE under unsafe_paths",
        "/admin/users/9",
        { "X-HTTP-Method-Override": "DELETE" },
        true,
      ],
      [
        "X-HTTP-Method-Override: PUT under a DELETE-only rule",
        "/admin/users/10",
        { "X-HTTP-Method-Override": "PUT" },
        false,
      ],
    ];
    for (const [name, path, headers, mirrored] of cases) {
      const reply = await request(envoy.listenerPort, {
        path,
        headers: { ...headers, "x-request-id": name },
      });
      assert.equal(reply.status, 200, name);
    }
    const expected = cases.filter((c) => c[3]).map((c) => c[0]);
    await dark.waitForCount(expected.length);
    await sleep(300);
    assert.deepEqual(
      dark.records.map((r) => r.headers["x-request-id"]).sort(),
      [...expected].sort(),
    );
    // The copies keep the override headers: the dark app decides as live does.
    assert.equal(
      dark.records.find((r) => r.path === "/admin/users/9")?.headers[
        "x-http-method-override"
      ],
      "DELETE",
    );
    const c = await envoy.targetCounters();
    assert.equal(c["skipped.method"], cases.length - expected.length);
    assert.equal(live.records.length, cases.length);
  },
);

// ---------------------------------------------------------------------------------------------
// Dark answers of 100 MB: what Envoy holds for them is bounded by the shipped runtime limit.

scenario(
  "a dark service answering 100 MB bodies at the shipped defaults (envoy/envoy.yaml): live unaffected, Envoy's memory within workers × max_inflight × http.async_response_buffer_limit",
  async (s) => {
    const big = Buffer.alloc(100 * MIB, 0x61);
    const live = await s.upstream(LIVE_CLUSTER);
    const dark = await s.upstream(DARK_CLUSTER, { body: big });
    const bootstrap = shippedConfig({ live: live.port, dark: dark.port });
    for (const c of wasmFilterConfigs(bootstrap))
      c.configuration.value = JSON.stringify({
        targets: [{ cluster: DARK_CLUSTER, percentage: 100 }],
      });
    const limit =
      bootstrap.layered_runtime.layers[0].static_layer[
        "http.async_response_buffer_limit"
      ];
    assert.equal(limit, MIB, "the shipped limit");
    const envoy = await s.envoy({ live, dark, bootstrap });
    const before = await envoy.memory();
    const n = 60;
    const { result: replies, peak } = await (async () => {
      let top = before.rssBytes;
      let done = false;
      const poll = (async () => {
        while (!done) {
          const m = await envoy.memory().catch(() => undefined);
          if (m) top = Math.max(top, m.rssBytes);
          await sleep(50);
        }
      })();
      const result = await mapConcurrent(
        Array.from({ length: n }, (_, i) => i),
        25,
        (i) =>
          request(envoy.listenerPort, {
            path: `/menu/${i}`,
            headers: { "x-request-id": `big-${i}` },
          }),
      );
      const copies = (await envoy.targetCounters()).copies;
      await envoy.waitForCounter("dark", copies, DARK_CLUSTER, 120_000);
      done = true;
      await poll;
      return { result, peak: top };
    })();
    const c = await envoy.targetCounters();
    // Envoy drops an answer at the limit; the filter counts it as a dark reset.
    const bound = WORKERS * 50 * limit + 64 * MIB;
    s.t.diagnostic(
      `100 MB dark answers: Envoy RSS ${mib(before.rssBytes)} before, ${mib(peak)} at most (+${mib(peak - before.rssBytes)}; bound +${mib(bound)} = ${WORKERS} workers × max_inflight 50 × ${mib(limit)} + 64 MiB); dark ${JSON.stringify({ reset: c["dark.reset"], "2xx": c["dark.2xx"] })}`,
    );
    assert.ok(replies.every((r) => r.status === 200));
    assert.equal(live.records.length, n);
    assert.equal(c.copies + c["skipped.overloaded"], n);
    assert.equal(c["dark.reset"], c.copies);
    assert.ok(
      peak - before.rssBytes <= bound,
      `Envoy grew by ${mib(peak - before.rssBytes)}`,
    );
    const row = await faultRow(
      `dark answers 100 MB at the shipped defaults (async limit ${mib(limit)})`,
      envoy,
      { ok: replies.filter((r) => r.status === 200).length, total: n },
      { peakInflight: 0, cap: 50 },
    );
    recordFault(row);
    assert.equal(row.vmFailures, 0);
  },
  { timeout: 300_000 },
);

// ---------------------------------------------------------------------------------------------
// Targets: the maximum applies and serves; one more is refused.

scenario(
  "a config at the target maximum (64) applies over LDS and serves live traffic (every target counts every request); 65 targets are refused with the field and the reason",
  async (s) => {
    const targets = (n: number) =>
      Array.from({ length: n }, (_, i) => ({
        cluster: i === 0 ? DARK_CLUSTER : `${DARK_CLUSTER}-${i}`,
        percentage: i === 0 ? 100 : 10,
        match: i === 0 ? undefined : { path_prefix: `/t${i}/` },
      }));
    const { envoy } = await s.liveAndDark({
      dynamicListener: true,
      expectFilterErrors: true,
      plugin: { cluster: DARK_CLUSTER, percentage: 100 },
      mutate: (b) => {
        for (let i = 1; i < 65; i++) {
          const c = structuredClone(b.static_resources.clusters[1]);
          c.name = `${DARK_CLUSTER}-${i}`;
          c.load_assignment.cluster_name = c.name;
          b.static_resources.clusters.push(c);
        }
      },
    });
    const t0 = performance.now();
    assert.equal(
      await envoy.updatePlugin({ targets: targets(64) }),
      "accepted",
    );
    const applyMs = performance.now() - t0;
    const agent = s.agent(8);
    const n = 400;
    const replies = await mapConcurrent(
      Array.from({ length: n }, (_, i) => i),
      8,
      (i) =>
        request(envoy.listenerPort, {
          path: `/menu/${i}`,
          headers: { "x-request-id": `t-${i}` },
          agent,
        }),
    );
    assert.ok(replies.every((r) => r.status === 200));
    const sorted = replies.map((r) => r.ms).sort((a, b) => a - b);
    s.t.diagnostic(
      `64 targets: applied in ${applyMs.toFixed(0)} ms (LDS update to accepted); live p50 ${sorted[n >> 1].toFixed(1)} ms, p99 ${sorted[Math.floor(n * 0.99)].toFixed(1)} ms, max ${sorted[n - 1].toFixed(1)} ms over ${n} requests`,
    );
    await envoy.waitForCounter("copies", n);
    const last = await envoy.targetCounters(`${DARK_CLUSTER}-63`);
    assert.equal(
      last["skipped.not_matched"],
      n,
      "target 63 counted every request",
    );
    assert.equal(
      await envoy.updatePlugin({ targets: targets(65) }),
      "rejected",
    );
    assert.match(
      envoy.log,
      /invalid plugin config: targets: must have at most 64 targets, got 65/,
    );
  },
  { timeout: 180_000 },
);
