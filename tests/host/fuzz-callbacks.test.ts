/**
 * Callbacks fuzzed: hundreds of streams at once, their callbacks interleaved in a random order
 * with random sizes (bodies over and under every cap, trailers, resets at any point, responses
 * that start before the request ends), dark answers in any order (JSON, garbage, empty, large,
 * resets, timeouts, never), the clock moving, and configurations replaced (and their roots
 * retired) mid-way — through the release build/mirror.wasm in the host emulator. After every
 * step: nothing trapped, the buffered bytes never above the budget, linear memory under its
 * bound. At the end, once everything is answered and torn down: no slot, no byte held, and every
 * request counted exactly once on every target. Replay with FUZZ_SEED=<seed>.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import {
  type HttpCall,
  Host,
  type Stream,
} from "../../tools/emulator/index.ts";
import { flush, stat } from "./stats.ts";
import { keysOf } from "../../scripts/metrics.ts";
import { rng } from "./rng.ts";
import { RELEASE_WASM } from "../../tools/paths.ts";

const WASM = RELEASE_WASM;
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 1e6));
const STEPS = Number(process.env.FUZZ_STEPS ?? 60_000);
const MAX_OPEN = 300;
const BUDGET = 256 << 10;
const MAX_BODY = 16 << 10;
const TARGETS = ["v2", "v3", "v4"];

/** The configurations swapped in turn: the same targets, every feature on in some of them. */
function configs(): object[] {
  const base = {
    targets: [
      { cluster: "v2", percentage: 60 },
      { cluster: "v3", percentage: 60, match: { path_prefix: "/orders" } },
      { cluster: "v4", percentage: 30, salt: "v4", max_rps: 50 },
    ],
    sampling: { keys: ["header:x-user-id", "header:x-request-id"] },
    unsafe_paths: [{ methods: ["POST"], path_prefix: "/orders/" }],
    max_body_bytes: MAX_BODY,
    max_buffered_bytes: BUDGET,
    max_inflight: 40,
  };
  return [
    {
      ...base,
      compare: {
        body: "json",
        ignore: ["/**/ts", "/items/*/id"],
        headers: ["content-type"],
        samples_per_second: 5,
      },
    },
    { ...base, marker: { inbound: "strip" }, compare: { body: "exact" } },
    {
      ...base,
      compare: { status: "class", body: "json", max_body_bytes: 2048 },
      method_override: ["header:x-http-method-override", "query:_method"],
    },
    {
      // v4 the baseline of v2 and v3: candidates wait for its answer to each request
      ...base,
      targets: [
        { cluster: "v2", percentage: 60 },
        { cluster: "v3", percentage: 60, match: { path_prefix: "/orders" } },
        { cluster: "v4", percentage: 60, baseline: true, max_rps: 50 },
      ],
      compare: { body: "json", headers: ["content-type"] },
    },
  ];
}

interface Open {
  s: Stream;
  /** request ended; response started; response ended */
  reqEnded: boolean;
  respStarted: boolean;
  respEnded: boolean;
}

it(`${STEPS} random steps over up to ${MAX_OPEN} open streams: no trap, the budget and memory bounded, everything counted once (seed ${SEED})`, async (t) => {
  const rnd = rng(SEED).next;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const int = (n: number) => Math.floor(rnd() * n);
  const host = await Host.load(WASM, { rootId: "mirror" });
  const cfgs = configs();
  let cfgIndex = 0;
  assert.equal(host.configure(JSON.stringify(cfgs[0])), true);
  const open: Open[] = [];
  let requests = 0;
  let maxBuffered = 0;
  const failures: string[] = [];
  const fail = (step: number, what: string) => {
    if (failures.length < 5) failures.push(`step ${step}: ${what}`);
  };

  const bytes = (n: number) => Buffer.alloc(n, 0x61 + int(26));
  const darkBody = (): string | Buffer => {
    switch (int(6)) {
      case 0:
        return "";
      case 1:
        return JSON.stringify({
          ts: Date.now(),
          items: [{ id: int(9), v: 1 }],
        });
      case 2:
        return "{not json";
      case 3:
        return bytes(int(4) ? int(4096) : 64 << 10);
      case 4:
        return "[".repeat(200 + int(2000));
      default:
        return JSON.stringify({ a: [1, 2, { b: "ç" }], n: 1.0e3 });
    }
  };
  const liveBody = (): string =>
    pick([
      "",
      '{"items":[{"id":1,"v":1}],"ts":1}',
      "plain text",
      "x".repeat(int(3000)),
    ]);

  const start = (step: number) => {
    const s = host.stream();
    requests++;
    const method = pick(["GET", "GET", "HEAD", "POST", "PUT", "OPTIONS"]);
    const headers: Array<[string, string]> = [
      [":method", method],
      [":scheme", "http"],
      [
        ":path",
        pick(["/orders/1", "/orders/2?_method=DELETE", "/menu", "/", ""]),
      ],
      [":authority", "kitchen"],
    ];
    if (int(4)) headers.push(["x-request-id", `r${requests}`]);
    if (int(3)) headers.push(["x-user-id", `u${int(200)}`]);
    if (!int(15)) headers.push([pick(["x-shadow", "x_shadow"]), "true"]);
    if (!int(15)) headers.push(["x-http-method-override", "DELETE"]);
    if (!int(10)) headers.push(["content-type", "application/json"]);
    const eos = !int(3);
    s.requestHeaders(headers, eos);
    open.push({ s, reqEnded: eos, respStarted: false, respEnded: false });
  };

  const answer = (call: HttpCall) => {
    const r = int(12);
    if (r === 0) host.respondReset(call);
    else if (r === 1) host.respondTimeout(call);
    else if (r === 2) host.respondLocal(call, 502, "protocol error");
    else if (r === 3)
      host.respond(call, {
        status: 200,
        headers: [
          ["content-type", "application/grpc"],
          ...(int(2)
            ? [["grpc-status", String(int(17))] as [string, string]]
            : []),
        ],
        body: bytes(int(64)),
        trailers: int(2) ? [["grpc-status", pick(["0", "14", "x", ""])]] : [],
      });
    else
      host.respond(call, {
        status: pick([200, 200, 201, 404, 500, 503]),
        headers: int(2) ? [["content-type", "application/json"]] : [],
        body: darkBody(),
      });
  };

  for (let step = 0; step < STEPS; step++) {
    const action = int(100);
    try {
      if (action < 18 && open.length < MAX_OPEN) start(step);
      else if (action < 40 && open.length) {
        const o = pick(open);
        if (!o.reqEnded) {
          // A body chunk, sometimes over the cap, sometimes the end; or trailers.
          if (!int(12)) {
            o.s.requestTrailers([[pick(["x-checksum", "x_shadow"]), "1"]]);
            o.reqEnded = true;
          } else {
            const eos = !int(3);
            o.s.requestBody(bytes(int(5) ? int(4096) : int(MAX_BODY * 2)), eos);
            o.reqEnded = eos;
          }
        } else if (!o.respStarted) {
          const eos = !int(4);
          o.s.responseHeaders(
            [
              [":status", String(pick([200, 200, 404, 500]))],
              [
                "content-type",
                pick(["application/json", "text/plain", "application/grpc"]),
              ],
              ...(int(8) ? [] : [["grpc-status", "0"] as [string, string]]),
            ],
            eos,
          );
          o.respStarted = true;
          o.respEnded = eos;
        } else if (!o.respEnded) {
          if (!int(10)) {
            o.s.responseTrailers([["grpc-status", "0"]]);
            o.respEnded = true;
          } else {
            const eos = !int(2);
            o.s.responseBody(liveBody(), eos);
            o.respEnded = eos;
          }
        }
      } else if (action < 52 && open.length) {
        // Teardown: a finished stream, or a reset at any point.
        const i = int(open.length);
        const o = open[i];
        if ((o.reqEnded && o.respEnded) || !int(4)) {
          o.s.done();
          open.splice(i, 1);
        }
      } else if (action < 80) {
        const pending = host.pendingCalls();
        if (pending.length) answer(pick(pending));
      } else if (action < 93) {
        host.advance(int(3) ? int(50) : int(20_000));
        flush(host);
      } else if (action < 94 && !int(20)) {
        // A new configuration; the old root is retired with whatever it has in flight.
        const old = host.rootContextId;
        cfgIndex = (cfgIndex + 1) % cfgs.length;
        assert.equal(host.configure(JSON.stringify(cfgs[cfgIndex])), true);
        if (int(2)) {
          // Envoy retires a root once its listener has drained: its streams are gone first.
          for (let i = open.length - 1; i >= 0; i--)
            if (open[i].s.rootId === old) open.splice(i, 1)[0].s.done();
          host.retireRoot(old);
        }
      }
    } catch (err) {
      fail(step, `threw: ${(err as Error).message}`);
      break;
    }
    if (host.trapped.length) {
      fail(step, `trapped: ${JSON.stringify(host.trapped[0])}`);
      break;
    }
    if (step % 50 === 0) {
      flush(host);
      const buffered = host.gauge("mirror_buffered_bytes");
      maxBuffered = Math.max(maxBuffered, buffered);
      // One VM here; the budget of every configuration is the same.
      if (buffered > BUDGET) fail(step, `buffered ${buffered} > ${BUDGET}`);
    }
  }
  assert.deepEqual(failures, [], `replay with FUZZ_SEED=${SEED}`);

  // Drain: every stream ends, every call is answered.
  for (const o of open.splice(0)) {
    if (!o.reqEnded) o.s.requestBody("", true);
    if (!o.respStarted) o.s.responseHeaders([[":status", "200"]], true);
    else if (!o.respEnded) o.s.responseBody("", true);
    o.s.done();
  }
  for (const call of host.pendingCalls()) host.respond(call, { status: 200 });
  host.advance(60_000);
  flush(host);
  assert.deepEqual(host.trapped, []);
  assert.deepEqual(host.violations, []);
  assert.equal(host.gauge("mirror_buffered_bytes"), 0, "bytes still held");
  for (const t of TARGETS) {
    assert.equal(host.gauge(stat(t, "inflight")), 0, `${t}: slots held`);
    const counted =
      host.counter(stat(t, "copies")) +
      [...keysOf("skipped"), ...keysOf("dispatch_failures")].reduce(
        (n, k) => n + host.counter(stat(t, k)),
        0,
      );
    assert.equal(counted, requests, `${t}: requests counted once`);
    // every copy dispatched ends as a pair or uncompared (its live side or dark answer lost),
    // and gets one verdict
    const sum = (prefix: string) =>
      keysOf(prefix).reduce((n, k) => n + host.counter(stat(t, k)), 0);
    const copies = host.counter(stat(t, "copies"));
    assert.equal(
      sum("pairs") + host.counter(stat(t, "not_compared.incomplete")),
      copies,
      `${t}: every copy a pair or incomplete`,
    );
    assert.equal(
      sum("compared") + sum("not_compared"),
      copies,
      `${t}: one verdict per copy`,
    );
    assert.ok(
      sum("pair_compared") <= host.counter(stat(t, "pairs.both_ok")),
      `${t}: pair comparisons only of pairs without error`,
    );
    assert.equal(
      host.histogram(stat(t, "pair.slower")).length +
        host.histogram(stat(t, "pair.faster")).length <=
        sum("pairs"),
      true,
    );
  }
  // A bound on the VM's memory (docs/hostile.md, "Memory"): 2 × (budget + max_body_bytes + 6 MiB).
  const bound = 2 * (BUDGET + MAX_BODY + 6 * (1 << 20));
  assert.ok(
    host.memoryBytes() <= bound,
    `linear memory ${host.memoryBytes()} over ${bound}`,
  );
  assert.ok(maxBuffered > 0, "the budget was never used");
  const seen: Record<string, number> = {};
  for (const k of [
    "copies",
    ...keysOf("skipped"),
    ...keysOf("dispatch_failures"),
    ...keysOf("compared"),
    ...keysOf("not_compared"),
    ...keysOf("pairs"),
    ...keysOf("pair_compared"),
    "dark.grpc_error",
    "live.grpc_error",
  ]) {
    const n = TARGETS.reduce((a, x) => a + host.counter(stat(x, k)), 0);
    if (n) seen[k] = n;
  }
  t.diagnostic(
    `${requests} requests; peak buffered ${maxBuffered} of ${BUDGET}; memory ${host.memoryBytes()}; ${JSON.stringify(seen)}`,
  );
  // The run reached the limits it is about.
  for (const k of [
    "skipped.over_budget",
    "skipped.body_too_large",
    "skipped.live_reset",
  ])
    assert.ok(seen[k] > 0, `the run never reached ${k}`);
});
