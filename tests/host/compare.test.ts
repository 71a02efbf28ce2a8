/**
 * Fan-out, rate caps and comparison rules through the ABI (the release build/mirror.wasm on the
 * host emulator): every target's
 * decision per request (fan-out), the max_rps token bucket on the emulator's clock, live/dark
 * comparison (status, headers, exact and canonical-JSON bodies, ignore patterns, size and depth
 * limits, either order, resets and timeouts), the mismatch sample lines and their rate, and the
 * memory budget under many JSON comparisons at once. After every test: nothing trapped, no ABI
 * misuse, no error line, and every callback answered Continue.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  FilterStatus,
  Host,
  type HostOptions,
  type HttpCall,
  LogLevel,
  type Stream,
} from "../../tools/emulator/index.ts";
import { checkAfterEach, keyWhere, mirror, watched } from "./drive.ts";
import { counter, flush, gauge, stat } from "./stats.ts";
import { keysOf } from "../../scripts/metrics.ts";

checkAfterEach();

type Pairs = Array<[string, string]>;

interface Req {
  method?: string;
  path?: string;
  /** x-request-id (default rid-N); null: none */
  id?: string | null;
  headers?: Pairs;
  body?: string[];
  /** the client goes away before the request ends */
  reset?: boolean;
}

let requestIds = 0;

/** A live request through the filter, left open after the request (no response yet). */
function request(host: Host, req: Req = {}): Stream {
  const s = host.stream();
  watched(s);
  const id = req.id === undefined ? `rid-${++requestIds}` : req.id;
  const headers: Pairs = [
    [":method", req.method ?? "GET"],
    [":scheme", "http"],
    [":path", req.path ?? "/orders/1"],
    [":authority", "kitchen"],
    ...(id === null ? [] : ([["x-request-id", id]] as Pairs)),
    ...(req.headers ?? []),
  ];
  const body = req.body ?? [];
  s.requestHeaders(headers, !req.reset && body.length === 0);
  body.forEach((c, i) => s.requestBody(c, !req.reset && i === body.length - 1));
  if (req.reset) s.reset();
  return s;
}

interface LiveAnswer {
  status?: number;
  headers?: Pairs;
  /** one string, or the chunks Envoy hands over one by one */
  body?: string | string[];
}

type DarkAnswer =
  | { status?: number; headers?: Pairs; body?: string }
  | "reset"
  | "timeout";

/** Ends the live response (headers, body chunks, teardown), or resets the stream. */
function answerLive(s: Stream, live: LiveAnswer | "reset"): void {
  if (live === "reset") {
    s.reset();
    return;
  }
  const chunks =
    live.body === undefined
      ? []
      : typeof live.body === "string"
        ? live.body === ""
          ? []
          : [live.body]
        : live.body;
  s.responseHeaders(
    [[":status", String(live.status ?? 200)], ...(live.headers ?? [])],
    chunks.length === 0,
  );
  chunks.forEach((c, i) => s.responseBody(c, i === chunks.length - 1));
  s.done();
}

function answerDark(host: Host, calls: HttpCall[], dark: DarkAnswer): void {
  for (const c of calls) {
    if (c.state !== "pending") continue;
    if (dark === "reset") host.respondReset(c);
    else if (dark === "timeout") host.respondTimeout(c);
    else
      host.respond(c, {
        status: dark.status ?? 200,
        headers: dark.headers,
        body: dark.body,
      });
  }
}

interface Exchange {
  req?: Req;
  live?: LiveAnswer | "reset";
  dark?: DarkAnswer;
  /** the dark answers come before the live response (default: after the live stream is gone) */
  darkFirst?: boolean;
}

/** One mirrored request and both answers, in the given order; returns the copies it made. */
function exchange(host: Host, x: Exchange): HttpCall[] {
  const before = host.httpCalls.length;
  const s = request(host, x.req);
  const calls = host.httpCalls.slice(before);
  const live = x.live ?? {};
  const dark = x.dark ?? {};
  if (x.darkFirst) {
    answerDark(host, calls, dark);
    answerLive(s, live);
  } else {
    answerLive(s, live);
    answerDark(host, calls, dark);
  }
  return calls;
}

const RESULTS = [...keysOf("compared"), ...keysOf("not_compared")];
const OUTCOMES = [
  "copies",
  ...keysOf("skipped"),
  ...keysOf("dispatch_failures"),
];

/** The non-zero counters of `keys` for target `t`. */
function nonZero(
  host: Host,
  t: string,
  keys: string[],
): Record<string, number> {
  flush(host);
  const out: Record<string, number> = {};
  for (const k of keys) {
    const v = host.counter(stat(t, k));
    if (v !== 0) out[k] = v;
  }
  return out;
}

const results = (host: Host, t: string) => nonZero(host, t, RESULTS);
const outcomes = (host: Host, t: string) => nonZero(host, t, OUTCOMES);

/** The mismatch sample lines logged so far (info). */
function samples(host: Host): string[] {
  return host
    .logs("info")
    .map((l) => l.message)
    .filter((m) => m.startsWith("mirror mismatch: "));
}

const buffered = (host: Host) => gauge(host, "mirror_buffered_bytes");

/** The pointer field of a sample line. */
const LINE_POINTER = / pointer="((?:[^"\\]|\\.)*)"$/;

// ----- fan-out ---------------------------------------------------------------------------------

describe("fan-out: every target decides each request", () => {
  const config = {
    targets: [
      { cluster: "orders", percentage: 100, match: { path_prefix: "/orders" } },
      {
        cluster: "acme",
        percentage: 100,
        match: { headers: { "x-tenant": "acme" } },
      },
      { cluster: "half", percentage: 50 },
      { cluster: "none", percentage: 0 },
    ],
    sampling: { keys: ["header:x-user-id"] },
  };
  const mirroredHalf = keyWhere("", 50, true, "u");
  const notHalf = keyWhere("", 50, false, "u");
  const user = (u: string): Pairs => [["x-user-id", u]];
  // [name, request, the outcome per target: orders, acme, half, none]
  const table: Array<[string, Req, [string, string, string, string]]> = [
    [
      "a keyed GET /orders of acme",
      { headers: [...user(mirroredHalf), ["x-tenant", "acme"]] },
      ["copies", "copies", "copies", "skipped.sampled_out"],
    ],
    [
      "a keyed GET /menu, user out of the 50 %",
      { path: "/menu", headers: user(notHalf) },
      [
        "skipped.not_matched",
        "skipped.not_matched",
        "skipped.sampled_out",
        "skipped.sampled_out",
      ],
    ],
    [
      "a POST /orders",
      { method: "POST", headers: user(mirroredHalf) },
      [
        "skipped.method",
        "skipped.not_matched",
        "skipped.method",
        "skipped.method",
      ],
    ],
    [
      "a GET that says X-HTTP-Method-Override: DELETE",
      {
        headers: [
          ...user(mirroredHalf),
          ["x-http-method-override", "DELETE"],
          ["x-tenant", "acme"],
        ],
      },
      ["skipped.method", "skipped.method", "skipped.method", "skipped.method"],
    ],
    [
      "a marked request (loop)",
      { headers: [...user(mirroredHalf), ["x-shadow", "true"]] },
      ["skipped.loop", "skipped.not_matched", "skipped.loop", "skipped.loop"],
    ],
    [
      "no key",
      { headers: [["x-tenant", "acme"]] },
      ["skipped.no_key", "skipped.no_key", "skipped.no_key", "skipped.no_key"],
    ],
    [
      "acme on /menu with a key in the 50 %",
      { path: "/menu", headers: [...user(mirroredHalf), ["x-tenant", "acme"]] },
      ["skipped.not_matched", "copies", "copies", "skipped.sampled_out"],
    ],
  ];
  const clusters = ["orders", "acme", "half", "none"];

  for (const [name, req, want] of table) {
    it(`${name} → ${want.join(", ")}`, async () => {
      const host = await mirror(config);
      request(host, req);
      clusters.forEach((t, i) =>
        assert.deepEqual(outcomes(host, t), { [want[i]]: 1 }, t),
      );
      assert.deepEqual(
        host.httpCalls.map((c) => c.cluster),
        clusters.filter((_, i) => want[i] === "copies"),
      );
    });
  }

  it("counts every request once on every target over the whole table", async () => {
    const host = await mirror(config);
    for (const [, req] of table) request(host, req);
    for (const [i, t] of clusters.entries()) {
      const got = outcomes(host, t);
      const want: Record<string, number> = {};
      for (const [, , w] of table) want[w[i]] = (want[w[i]] ?? 0) + 1;
      assert.deepEqual(got, want, t);
      assert.equal(
        Object.values(got).reduce((a, b) => a + b, 0),
        table.length,
        `${t}: one outcome per request`,
      );
    }
  });

  it("warns, at configure time, about a target at 0 % (and still counts it)", async () => {
    const host = await mirror(config);
    assert.deepEqual(
      host.logs("warn").map((l) => l.message),
      [
        "plugin config: targets[3].percentage: 0 mirrors nothing (every request is counted as sampled_out)",
      ],
    );
  });

  it("gives 64 targets a copy each, in config order, from one body copy", async () => {
    const host = await mirror({
      targets: Array.from({ length: 64 }, (_, i) => ({
        cluster: `t${i}`,
        percentage: 100,
      })),
      unsafe_paths: [{ methods: ["POST"], path_prefix: "/" }],
      max_inflight: 64,
    });
    const s = request(host, { method: "POST", body: ["ab", "cd"] });
    assert.deepEqual(
      host.httpCalls.map((c) => c.cluster),
      Array.from({ length: 64 }, (_, i) => `t${i}`),
    );
    assert.ok(host.httpCalls.every((c) => c.body.toString() === "abcd"));
    assert.equal(buffered(host), 64 * 512, "bookkeeping only, per copy");
    answerLive(s, {});
    answerDark(host, host.httpCalls, {});
    assert.equal(buffered(host), 0);
    for (let i = 0; i < 64; i++)
      assert.equal(counter(host, stat(`t${i}`, "compared.match")), 1);
  });

  it("never passes request trailers to any copy", async () => {
    const host = await mirror({
      targets: [
        { cluster: "a", percentage: 100 },
        { cluster: "b", percentage: 100 },
      ],
      unsafe_paths: [{ methods: ["POST"], path_prefix: "/" }],
    });
    const s = host.stream();
    watched(s);
    s.requestHeaders(
      [
        [":method", "POST"],
        [":path", "/grpc"],
        [":authority", "k"],
        ["x-request-id", "with-trailers"],
      ],
      false,
    );
    s.requestBody("payload", false);
    s.requestTrailers([["grpc-status", "0"]]);
    assert.equal(host.httpCalls.length, 2);
    for (const c of host.httpCalls) {
      assert.equal(c.body.toString(), "payload");
      assert.equal(c.trailers.size, 0, `${c.cluster} got trailers`);
    }
    s.done();
  });
});

// ----- max_rps -----------------------------------------------------------------------------------

describe("max_rps: a token bucket per target per VM, on the filter's clock", () => {
  /** n requests, `gapMs` apart; the count of copies made. */
  function run(host: Host, n: number, gapMs: number, req: Req = {}): number {
    const before = host.httpCalls.length;
    for (let i = 0; i < n; i++) {
      if (i > 0) host.advance(gapMs);
      const s = request(host, req);
      answerLive(s, {});
    }
    const calls = host.httpCalls.slice(before);
    answerDark(host, calls, {});
    return calls.length;
  }

  it("lets a burst of max_rps through at once, then one every 1/max_rps seconds", async () => {
    const host = await mirror({ cluster: "dark", percentage: 100, max_rps: 5 });
    assert.equal(run(host, 8, 0), 5, "burst = max_rps");
    assert.deepEqual(outcomes(host, "dark"), {
      copies: 5,
      "skipped.rate_limited": 3,
    });
    host.advance(199);
    assert.equal(run(host, 1, 0), 0, "199 ms: not a whole token yet");
    host.advance(1);
    assert.equal(run(host, 2, 0), 1, "200 ms after the burst: one token");
    host.advance(10_000);
    assert.equal(run(host, 10, 0), 5, "a long pause refills to the burst only");
  });

  it("holds a steady rate: 20 requests/s for 10 s at max_rps 5 → 5 + 50 copies", async () => {
    // (max_inflight above the copies kept in flight: the rate is the only limit here)
    const host = await mirror({
      cluster: "dark",
      percentage: 100,
      max_rps: 5,
      max_inflight: 1000,
    });
    // 201 requests at t = 0, 50 ms, …, 10 000 ms: the burst of 5, then one per 200 ms.
    const copies = run(host, 201, 50);
    assert.equal(copies, 55);
    assert.deepEqual(outcomes(host, "dark"), {
      copies: 55,
      "skipped.rate_limited": 146,
    });
  });

  // [max_rps, the request times (ms), which get a copy]
  const fractional: Array<[number, number[], boolean[]]> = [
    [
      0.5,
      [0, 1, 1999, 2001, 2002, 4002],
      [true, false, false, true, false, true],
    ],
    // burst 1.5: the half token left after the first copy is whole again 333 ms later
    [1.5, [0, 0, 332, 334, 999, 1001], [true, false, false, true, false, true]],
    [0.1, [0, 9_999, 10_001], [true, false, true]],
    [1e6, Array(50).fill(0), Array(50).fill(true)],
  ];
  for (const [rps, times, want] of fractional) {
    it(`max_rps ${rps}: copies at ${times.filter((_, i) => want[i]).join(", ")} ms of ${times.join(", ")}`, async () => {
      const host = await mirror({
        cluster: "dark",
        percentage: 100,
        max_rps: rps,
      });
      const got: boolean[] = [];
      let at = 0;
      for (const t of times) {
        host.advance(t - at);
        at = t;
        got.push(run(host, 1, 0) === 1);
      }
      assert.deepEqual(got, want);
    });
  }

  it("gives the token back when the copy is abandoned (body too large, live reset, over budget)", async () => {
    const host = await mirror({
      cluster: "dark",
      percentage: 100,
      max_rps: 1,
      unsafe_paths: [{ methods: ["POST"], path_prefix: "/" }],
      max_body_bytes: 4,
    });
    // The only token goes to a copy abandoned for its body: the next request still gets one.
    request(host, { method: "POST", body: ["12345"] });
    assert.deepEqual(outcomes(host, "dark"), { "skipped.body_too_large": 1 });
    request(host, { method: "POST", body: ["12"], reset: true });
    assert.deepEqual(outcomes(host, "dark"), {
      "skipped.body_too_large": 1,
      "skipped.live_reset": 1,
    });
    assert.equal(run(host, 2, 0), 1, "the token came back twice");
    assert.deepEqual(outcomes(host, "dark"), {
      copies: 1,
      "skipped.body_too_large": 1,
      "skipped.live_reset": 1,
      "skipped.rate_limited": 1,
    });
  });

  it("takes no token for a request the target skips for another reason", async () => {
    const host = await mirror({
      cluster: "dark",
      percentage: 100,
      max_rps: 1,
      max_inflight: 1,
    });
    request(host, { method: "POST" });
    request(host, { headers: [["x-shadow", "true"]] });
    const held = request(host); // takes the token and the only slot
    host.advance(1000);
    request(host); // a token again, but no slot: overloaded keeps the token
    answerLive(held, {});
    answerDark(host, host.pendingCalls(), {});
    assert.equal(run(host, 2, 0), 1, "the token kept by overloaded");
    assert.deepEqual(outcomes(host, "dark"), {
      copies: 2,
      "skipped.method": 1,
      "skipped.loop": 1,
      "skipped.overloaded": 1,
      "skipped.rate_limited": 1,
    });
  });

  it("keeps each target's bucket to itself", async () => {
    const host = await mirror({
      targets: [
        { cluster: "capped", percentage: 100, max_rps: 2 },
        { cluster: "free", percentage: 100 },
        { cluster: "slow", percentage: 100, max_rps: 0.5 },
      ],
    });
    run(host, 10, 100); // 0.9 s
    assert.deepEqual(outcomes(host, "capped"), {
      copies: 3,
      "skipped.rate_limited": 7,
    });
    assert.deepEqual(outcomes(host, "free"), { copies: 10 });
    assert.deepEqual(outcomes(host, "slow"), {
      copies: 1,
      "skipped.rate_limited": 9,
    });
  });

  it("starts a new configuration's buckets full", async () => {
    const host = await mirror({ cluster: "dark", percentage: 100, max_rps: 2 });
    assert.equal(run(host, 5, 0), 2);
    assert.equal(
      host.configure(
        JSON.stringify({ cluster: "dark", percentage: 100, max_rps: 3 }),
      ),
      true,
    );
    assert.equal(run(host, 5, 0), 3);
  });
});

// ----- comparison --------------------------------------------------------------------------------

const J = { "content-type": "application/json" };

/** [name, compare block, live answer, dark answer, the one result counted] */
type CompareCase = [string, object, LiveAnswer, DarkAnswer, string];

const deep = (n: number) => "[".repeat(n) + "]".repeat(n);

const compareCases: CompareCase[] = [
  // status
  [
    "same status, bodies not compared",
    {},
    { status: 200, body: "a" },
    { status: 200, body: "b" },
    "compared.match",
  ],
  [
    "200 vs 404",
    {},
    { status: 200 },
    { status: 404 },
    "compared.status_mismatch",
  ],
  [
    "200 vs 201 exactly",
    {},
    { status: 200 },
    { status: 201 },
    "compared.status_mismatch",
  ],
  [
    "200 vs 201 by class",
    { status: "class" },
    { status: 200 },
    { status: 201 },
    "compared.match",
  ],
  [
    "200 vs 302 by class",
    { status: "class" },
    { status: 200 },
    { status: 302 },
    "compared.status_mismatch",
  ],
  [
    "500 vs 503 by class",
    { status: "class" },
    { status: 500 },
    { status: 503 },
    "compared.match",
  ],
  [
    "200 vs 500 with status off",
    { status: "off" },
    { status: 200 },
    { status: 500 },
    "compared.match",
  ],
  [
    "a dark reset by class",
    { status: "class" },
    { status: 200 },
    "reset",
    "compared.status_mismatch",
  ],
  [
    "a dark timeout, exact",
    {},
    { status: 200 },
    "timeout",
    "compared.status_mismatch",
  ],
  [
    "a dark reset with status off",
    { status: "off" },
    { status: 200 },
    "reset",
    "compared.status_mismatch",
  ],
  [
    "a dark timeout with status off and bodies compared",
    { status: "off", body: true },
    { status: 204 },
    "timeout",
    "compared.status_mismatch",
  ],
  [
    "a live status in ignore_statuses",
    { ignore_statuses: [503, 429] },
    { status: 503 },
    { status: 200 },
    "not_compared.ignored_status",
  ],
  [
    "a dark status in ignore_statuses (only live's counts)",
    { ignore_statuses: [503] },
    { status: 200 },
    { status: 503 },
    "compared.status_mismatch",
  ],
  // headers
  [
    "compare.headers equal",
    { headers: ["content-type"] },
    { headers: [["content-type", "text/plain"]] },
    { headers: [["content-type", "text/plain"]] },
    "compared.match",
  ],
  [
    "compare.headers differ by a parameter",
    { headers: ["content-type"] },
    { headers: [["content-type", "application/json"]] },
    { headers: [["content-type", "application/json; charset=utf-8"]] },
    "compared.header_mismatch",
  ],
  [
    "compare.headers absent on dark",
    { headers: ["content-type"] },
    { headers: [["content-type", "text/plain"]] },
    {},
    "compared.header_mismatch",
  ],
  [
    "compare.headers absent on live",
    { headers: ["x-version"] },
    {},
    { headers: [["x-version", "2"]] },
    "compared.header_mismatch",
  ],
  [
    "compare.headers absent on both",
    { headers: ["x-version"] },
    {},
    {},
    "compared.match",
  ],
  [
    "compare.headers: the second differs",
    { headers: ["content-type", "cache-control"] },
    {
      headers: [
        ["content-type", "a"],
        ["cache-control", "no-store"],
      ],
    },
    {
      headers: [
        ["content-type", "a"],
        ["cache-control", "max-age=60"],
      ],
    },
    "compared.header_mismatch",
  ],
  [
    "an unlisted header differs",
    { headers: ["content-type"] },
    { headers: [["date", "x"]] },
    { headers: [["date", "y"]] },
    "compared.match",
  ],
  [
    "status before headers",
    { headers: ["content-type"] },
    { status: 200, headers: [["content-type", "a"]] },
    { status: 500, headers: [["content-type", "b"]] },
    "compared.status_mismatch",
  ],
  [
    "headers before bodies",
    { headers: ["content-type"], body: true },
    { headers: [["content-type", "a"]], body: "x" },
    { headers: [["content-type", "b"]], body: "y" },
    "compared.header_mismatch",
  ],
  // exact bodies
  [
    "exact: same bytes",
    { body: true },
    { body: "burger" },
    { body: "burger" },
    "compared.match",
  ],
  [
    "exact: same bytes in 3 live chunks",
    { body: "exact" },
    { body: ["bur", "g", "er"] },
    { body: "burger" },
    "compared.match",
  ],
  [
    "exact: one byte differs",
    { body: "exact" },
    { body: "burger" },
    { body: "burgeR" },
    "compared.body_mismatch",
  ],
  [
    "exact: JSON respelled is a mismatch",
    { body: "exact" },
    { body: '{"a":1,"b":2}' },
    { body: '{"b":2,"a":1}' },
    "compared.body_mismatch",
  ],
  [
    "exact: both empty",
    { body: true },
    { body: "" },
    { body: "" },
    "compared.match",
  ],
  [
    "exact: empty vs not",
    { body: true },
    { body: "" },
    { body: "x" },
    "compared.body_mismatch",
  ],
  [
    "exact: bodies only judged when statuses agree",
    { body: true },
    { status: 200, body: "a" },
    { status: 404, body: "b" },
    "compared.status_mismatch",
  ],
  [
    "body false",
    { body: false },
    { body: "a" },
    { body: "b" },
    "compared.match",
  ],
  // canonical JSON
  [
    "json: member order",
    { body: "json" },
    { body: '{"a":1,"b":[1,2],"c":{"x":null,"y":true}}' },
    { body: '{"c":{"y":true,"x":null},"b":[1,2],"a":1}' },
    "compared.match",
  ],
  [
    "json: number spelling",
    { body: "json" },
    { body: "[1, 100, 0.5, -0, 12345678901234567890]" },
    { body: "[1.0, 1e2, 5E-1, 0, 1.2345678901234567890e19]" },
    "compared.match",
  ],
  [
    "json: a number's value differs",
    { body: "json" },
    { body: '{"price":1.5}' },
    { body: '{"price":1.50001}' },
    "compared.body_mismatch",
  ],
  [
    "json: string escapes",
    { body: "json" },
    { body: '["A/é😀", "\\n"]' },
    { body: '["\\u0041\\/\\u00e9\\ud83d\\ude00", "\\u000a"]' },
    "compared.match",
  ],
  [
    "json: whitespace",
    { body: "json" },
    { body: '{"a":[1,2]}' },
    { body: ' {\n\t"a" : [ 1 ,\r\n 2 ]\n} \n' },
    "compared.match",
  ],
  [
    "json: array order matters",
    { body: "json" },
    { body: "[1,2]" },
    { body: "[2,1]" },
    "compared.body_mismatch",
  ],
  [
    "json: a duplicate member counts",
    { body: "json" },
    { body: '{"a":1}' },
    { body: '{"a":1,"a":1}' },
    "compared.body_mismatch",
  ],
  [
    'json: types differ (1 vs "1")',
    { body: "json" },
    { body: '{"a":1}' },
    { body: '{"a":"1"}' },
    "compared.body_mismatch",
  ],
  [
    "json: live in many chunks",
    { body: "json" },
    { body: ['{"a', '":[1', ",2]", "}"] },
    { body: '{"a":[1,2]}' },
    "compared.match",
  ],
  // ignore patterns
  [
    "json: only /**/timestamp differs, ignored",
    { body: "json", ignore: ["/**/timestamp"] },
    { body: '{"timestamp":1,"order":{"timestamp":"x","id":7}}' },
    { body: '{"timestamp":2,"order":{"id":7,"timestamp":"y"}}' },
    "compared.match",
  ],
  [
    "json: timestamp differs, nothing ignored",
    { body: "json" },
    { body: '{"timestamp":1,"id":7}' },
    { body: '{"timestamp":2,"id":7}' },
    "compared.body_mismatch",
  ],
  [
    "json: /**/timestamp ignored, another field differs",
    { body: "json", ignore: ["/**/timestamp"] },
    { body: '{"timestamp":1,"id":7}' },
    { body: '{"timestamp":2,"id":8}' },
    "compared.body_mismatch",
  ],
  [
    "json: a field only one side has, ignored",
    { body: "json", ignore: ["/**/request_id"] },
    { body: '{"id":7,"meta":{}}' },
    { body: '{"id":7,"meta":{"request_id":"r-1"}}' },
    "compared.match",
  ],
  [
    "json: /items/*/id ignores each element's id",
    { body: "json", ignore: ["/items/*/id"] },
    { body: '{"items":[{"id":1,"n":"a"},{"id":2,"n":"b"}]}' },
    { body: '{"items":[{"id":9,"n":"a"},{"id":8,"n":"b"}]}' },
    "compared.match",
  ],
  [
    "json: /items/*/id does not ignore the names",
    { body: "json", ignore: ["/items/*/id"] },
    { body: '{"items":[{"id":1,"n":"a"}]}' },
    { body: '{"items":[{"id":9,"n":"z"}]}' },
    "compared.body_mismatch",
  ],
  [
    "json: /items/0 ignores the first element only",
    { body: "json", ignore: ["/items/0"] },
    { body: '{"items":[1,2]}' },
    { body: '{"items":[5,2]}' },
    "compared.match",
  ],
  [
    "json: /items/0 does not ignore the second",
    { body: "json", ignore: ["/items/0"] },
    { body: '{"items":[1,2]}' },
    { body: '{"items":[1,3]}' },
    "compared.body_mismatch",
  ],
  [
    "json: /a~1b names the member a/b",
    { body: "json", ignore: ["/a~1b"] },
    { body: '{"a/b":1,"c":2}' },
    { body: '{"a/b":9,"c":2}' },
    "compared.match",
  ],
  [
    "json: /meta/** ignores meta itself (** matches zero tokens)",
    { body: "json", ignore: ["/meta/**"] },
    { body: '{"meta":{"host":"a","t":[1]},"v":1}' },
    { body: '{"v":1}' },
    "compared.match",
  ],
  [
    "json: /meta/* ignores every member of meta",
    { body: "json", ignore: ["/meta/*"] },
    { body: '{"meta":{"host":"a","t":[1]},"v":1}' },
    { body: '{"meta":{"host":"b"},"v":1}' },
    "compared.match",
  ],
  // invalid JSON
  [
    "json: invalid on dark only",
    { body: "json" },
    { body: '{"a":1}' },
    { body: '{"a":1,}' },
    "compared.json_invalid",
  ],
  [
    "json: invalid on live only",
    { body: "json" },
    { body: "<html>oops</html>" },
    { body: '{"a":1}' },
    "compared.json_invalid",
  ],
  [
    "json: identical non-JSON on both sides",
    { body: "json" },
    { body: "plain text" },
    { body: "plain text" },
    "compared.match",
  ],
  [
    "json: different non-JSON on both sides",
    { body: "json" },
    { body: "plain text" },
    { body: "plain texT" },
    "compared.json_invalid",
  ],
  [
    "json: truncated on dark",
    { body: "json" },
    { body: '{"a":[1,2]}' },
    { body: '{"a":[1,2' },
    "compared.json_invalid",
  ],
  [
    "json: both empty",
    { body: "json" },
    { body: "" },
    { body: "" },
    "compared.match",
  ],
  [
    "json: whitespace only vs empty",
    { body: "json" },
    { body: " \n" },
    { body: "" },
    "compared.match",
  ],
  [
    "json: empty vs a value",
    { body: "json" },
    { body: "" },
    { body: "{}" },
    "compared.body_mismatch",
  ],
  // limits
  [
    "exact: live body over max_body_bytes",
    { body: true, max_body_bytes: 10 },
    { body: "01234567890" },
    { body: "0123456789" },
    "not_compared.body_too_large",
  ],
  [
    "exact: dark body over max_body_bytes",
    { body: true, max_body_bytes: 10 },
    { body: "0123456789" },
    { body: "01234567890" },
    "not_compared.body_too_large",
  ],
  [
    "exact: both at max_body_bytes",
    { body: true, max_body_bytes: 10 },
    { body: "0123456789" },
    { body: "0123456789" },
    "compared.match",
  ],
  [
    "json: live over max_body_bytes, in chunks",
    { body: "json", max_body_bytes: 8 },
    { body: ["[1,", "2,3,", "4]"] },
    { body: "[1,2]" },
    "not_compared.body_too_large",
  ],
  [
    "json: max_body_bytes 0 and empty bodies",
    { body: "json", max_body_bytes: 0 },
    { body: "" },
    { body: "" },
    "compared.match",
  ],
  [
    "a status mismatch is judged before size",
    { body: true, max_body_bytes: 1 },
    { status: 200, body: "big" },
    { status: 500, body: "big" },
    "compared.status_mismatch",
  ],
  [
    "json: 129 levels on dark",
    { body: "json" },
    { body: "[]" },
    { body: deep(129) },
    "not_compared.too_deep",
  ],
  [
    "json: 129 levels on live",
    { body: "json" },
    { body: deep(129) },
    { body: deep(129) },
    "not_compared.too_deep",
  ],
  [
    "json: 128 levels are followed",
    { body: "json" },
    { body: deep(128) },
    { body: deep(128) },
    "compared.match",
  ],
  [
    "exact: depth does not matter",
    { body: "exact" },
    { body: deep(500) },
    { body: deep(500) },
    "compared.match",
  ],
];

describe("comparison through the filter, in both orders", () => {
  for (const [name, compare, live, dark, want] of compareCases) {
    for (const darkFirst of [false, true]) {
      it(`${name} → ${want} (${darkFirst ? "dark first" : "live first"})`, async () => {
        const host = await mirror({
          targets: [{ cluster: "dark", percentage: 100 }],
          compare,
        });
        exchange(host, { live, dark, darkFirst });
        assert.deepEqual(results(host, "dark"), { [want]: 1 });
        assert.equal(gauge(host, stat("dark", "inflight")), 0);
        assert.equal(buffered(host), 0, "every byte given back");
      });
    }
  }

  it("judges each target's copy against the same live response", async () => {
    const host = await mirror({
      targets: [
        { cluster: "v2", percentage: 100 },
        { cluster: "v3", percentage: 100 },
        { cluster: "v4", percentage: 100 },
      ],
      compare: { body: "json", ignore: ["/**/timestamp"] },
    });
    const s = request(host);
    const [v2, v3, v4] = host.httpCalls;
    // v2 answers before the live response, v3 and v4 after it.
    host.respond(v2, { body: '{"a":1,"timestamp":5}' });
    answerLive(s, {
      headers: [["content-type", "application/json"]],
      body: '{"timestamp":1,"a":1}',
    });
    host.respond(v3, { body: '{"a":2}' });
    host.respond(v4, { body: "not json" });
    assert.deepEqual(results(host, "v2"), { "compared.match": 1 });
    assert.deepEqual(results(host, "v3"), { "compared.body_mismatch": 1 });
    assert.deepEqual(results(host, "v4"), { "compared.json_invalid": 1 });
    for (const t of ["v2", "v3", "v4"])
      assert.equal(counter(host, stat(t, "live.2xx")), 1, t);
    assert.equal(buffered(host), 0);
  });

  it("counts a live reset after dispatch as incomplete, whichever side came first", async () => {
    const host = await mirror({
      targets: [
        { cluster: "a", percentage: 100 },
        { cluster: "b", percentage: 100 },
      ],
      compare: { body: "json" },
    });
    // a answers first, then the live stream is reset, then b answers.
    const s = request(host);
    const [a, b] = host.httpCalls;
    host.respond(a, { body: "{}" });
    s.reset();
    host.respond(b, { body: "{}" });
    // the live response starts, then the stream is reset mid-body
    const s2 = request(host);
    s2.responseHeaders([[":status", "200"]], false);
    s2.responseBody('{"a":', false);
    s2.reset();
    answerDark(host, host.pendingCalls(), { body: "{}" });
    for (const t of ["a", "b"]) {
      assert.deepEqual(results(host, t), { "not_compared.incomplete": 2 }, t);
      assert.equal(counter(host, stat(t, "live.reset")), 2, t);
    }
    assert.deepEqual(samples(host), []);
    assert.equal(buffered(host), 0);
  });

  it("compares a dark timeout as a status mismatch and counts it as dark.reset", async () => {
    const host = await mirror({ cluster: "dark", percentage: 100 });
    exchange(host, { dark: "timeout" });
    exchange(host, { dark: "timeout", darkFirst: true });
    assert.equal(counter(host, stat("dark", "dark.reset")), 2);
    assert.deepEqual(results(host, "dark"), { "compared.status_mismatch": 2 });
  });

  describe("a live response that starts before the request has ended", () => {
    const config = {
      targets: [
        { cluster: "a", percentage: 100 },
        { cluster: "b", percentage: 100 },
      ],
      unsafe_paths: [{ methods: ["POST"], path_prefix: "/" }],
      compare: { body: "json", headers: ["content-type"] },
    };
    const post = (host: Host) => {
      const s = host.stream();
      watched(s);
      s.requestHeaders(
        [
          [":method", "POST"],
          [":path", "/upload"],
          [":authority", "k"],
          ["x-request-id", "early"],
        ],
        false,
      );
      s.requestBody("part 1,", false);
      return s;
    };
    const JSON_TYPE: Pairs = [["content-type", "application/json"]];

    it("is compared when its headers came first and its body after", async () => {
      const host = await mirror(config);
      const s = post(host);
      s.responseHeaders([[":status", "200"], ...JSON_TYPE], false);
      s.responseBody('{"items":[{"price"', false);
      s.requestBody("part 2", true);
      s.responseBody(":1}]}", true);
      s.done();
      const [a, b] = host.httpCalls;
      assert.equal(a.body.toString(), "part 1,part 2");
      host.respond(a, {
        headers: JSON_TYPE,
        body: '{"items":[{"price":1.0}]}',
      });
      host.respond(b, { headers: JSON_TYPE, body: '{"items":[{"price":2}]}' });
      assert.deepEqual(results(host, "a"), { "compared.match": 1 });
      assert.deepEqual(results(host, "b"), { "compared.body_mismatch": 1 });
      assert.equal(counter(host, stat("a", "live.2xx")), 1);
      assert.deepEqual(
        samples(host).map((l) => LINE_POINTER.exec(l)?.[1]),
        ["/items/0/price"],
      );
      assert.equal(buffered(host), 0);
    });

    it("is compared when it ended first, with the first difference named", async () => {
      const host = await mirror(config);
      const s = post(host);
      s.responseHeaders([[":status", "201"], ...JSON_TYPE], false);
      s.responseBody('{"id":7,"ok":true}', true);
      s.requestBody("part 2", true);
      s.done();
      const [a, b] = host.httpCalls;
      host.respond(b, {
        status: 201,
        headers: JSON_TYPE,
        body: '{"ok":true,"id":8}',
      });
      host.respond(a, {
        status: 201,
        headers: JSON_TYPE,
        body: '{"ok":true,"id":7}',
      });
      assert.deepEqual(results(host, "a"), { "compared.match": 1 });
      assert.deepEqual(results(host, "b"), { "compared.body_mismatch": 1 });
      assert.deepEqual(
        samples(host).map((l) => LINE_POINTER.exec(l)?.[1]),
        ["/id"],
      );
      assert.equal(buffered(host), 0);
    });

    it("leaves nothing behind when the request is then reset", async () => {
      const host = await mirror(config);
      const s = post(host);
      s.responseHeaders([[":status", "200"], ...JSON_TYPE], false);
      s.responseBody("{}", true);
      s.reset();
      assert.equal(host.httpCalls.length, 0);
      assert.deepEqual(outcomes(host, "a"), { "skipped.live_reset": 1 });
      assert.deepEqual(results(host, "a"), {});
      assert.equal(buffered(host), 0);
    });
  });

  it("does not compare a copy whose dispatch failed, and gives its bytes back", async () => {
    const host = await mirror(
      {
        targets: [
          { cluster: "missing", percentage: 100 },
          { cluster: "gone", percentage: 100 },
        ],
        compare: { body: "json", headers: ["content-type"] },
        max_buffered_bytes: 65536,
      },
      { clusters: { missing: "missing", gone: "no_healthy_host" } },
    );
    for (let i = 0; i < 200; i++) exchange(host, {});
    assert.deepEqual(outcomes(host, "missing"), {
      "dispatch_failures.unknown_cluster": 200,
    });
    assert.deepEqual(outcomes(host, "gone"), {
      "dispatch_failures.no_healthy_host": 200,
    });
    assert.deepEqual(results(host, "missing"), {});
    assert.equal(buffered(host), 0, "the live digest's bytes were kept");
  });
});

// ----- mismatch samples ------------------------------------------------------------------------

describe("mismatch sample lines", () => {
  const LINE =
    /^mirror mismatch: target=(\S+) result=(\w+) request_id="((?:[^"\\]|\\.)*)" method="(\w*)" path="((?:[^"\\]|\\.)*)" live_status=(\d+) dark_status=(\d+) live_bytes=(\d+) dark_bytes=(\d+)(?: pointer="((?:[^"\\]|\\.)*)")?$/;

  it("names the request, both statuses and both body sizes, at info", async () => {
    const host = await mirror({ cluster: "kitchen-next", percentage: 100 });
    exchange(host, {
      req: { path: "/orders/1?secret=1#frag", id: "req-42" },
      live: { status: 200, body: ["bur", "ger"] },
      dark: { status: 500, body: "oops!!!" },
    });
    const lines = host
      .logs()
      .filter((l) => l.message.startsWith("mirror mismatch"));
    assert.equal(lines.length, 1);
    assert.equal(lines[0].level, LogLevel.info);
    assert.equal(
      lines[0].message,
      'mirror mismatch: target=kitchen-next result=status_mismatch request_id="req-42" method="GET" path="/orders/1" live_status=200 dark_status=500 live_bytes=6 dark_bytes=7',
    );
  });

  // [name, compare block, live, dark, the line's result, pointer or undefined]
  const kinds: Array<
    [string, object, LiveAnswer, DarkAnswer, string, string | undefined]
  > = [
    [
      "status",
      {},
      { status: 200 },
      { status: 404 },
      "status_mismatch",
      undefined,
    ],
    ["dark reset", {}, { status: 200 }, "reset", "status_mismatch", undefined],
    [
      "header",
      { headers: ["content-type"] },
      { headers: [["content-type", "a"]] },
      { headers: [["content-type", "b"]] },
      "header_mismatch",
      undefined,
    ],
    [
      "exact body",
      { body: true },
      { body: "a" },
      { body: "b" },
      "body_mismatch",
      undefined,
    ],
    [
      "json body: the first differing pointer",
      { body: "json" },
      { body: '{"items":[{"price":1,"n":"a"}],"total":1}' },
      { body: '{"total":1,"items":[{"n":"a","price":2}]}' },
      "body_mismatch",
      "/items/0/price",
    ],
    [
      "json body: a member only dark has",
      { body: "json" },
      { body: '{"a":1}' },
      { body: '{"a":1,"b~/c":2}' },
      "body_mismatch",
      "/b~0~1c",
    ],
    [
      "json body: a top-level scalar differs",
      { body: "json" },
      { body: "1" },
      { body: "2" },
      "body_mismatch",
      "",
    ],
    [
      "json body: an element only live has",
      { body: "json" },
      { body: "[1]" },
      { body: "{}" },
      "body_mismatch",
      "/0",
    ],
    [
      "json invalid",
      { body: "json" },
      { body: "{}" },
      { body: "{" },
      "json_invalid",
      undefined,
    ],
  ];
  for (const [name, compare, live, dark, result, pointer] of kinds) {
    it(`${name} → result=${result}${pointer === undefined ? ", no pointer" : ` pointer="${pointer}"`}`, async () => {
      const host = await mirror({
        cluster: "dark",
        percentage: 100,
        compare,
      });
      exchange(host, { live, dark, req: { id: "x" } });
      const lines = samples(host);
      assert.equal(lines.length, 1, lines.join("\n"));
      const m = LINE.exec(lines[0]);
      assert.ok(m, lines[0]);
      assert.equal(m[1], "dark");
      assert.equal(m[2], result);
      assert.equal(m[10], pointer);
    });
  }

  it("logs nothing for a match, an ignored status, a size or depth limit, or an incomplete pair", async () => {
    const host = await mirror({
      cluster: "dark",
      percentage: 100,
      compare: { body: "json", ignore_statuses: [503], max_body_bytes: 4 },
    });
    exchange(host, { live: { body: "{}" }, dark: { body: "{ }" } });
    exchange(host, { live: { status: 503 }, dark: { status: 200 } });
    exchange(host, { live: { body: "[1,2,3]" }, dark: { body: "[]" } });
    exchange(host, { live: { body: "[]" }, dark: { body: deep(129) } });
    exchange(host, { live: "reset" });
    assert.deepEqual(samples(host), []);
  });

  it("keeps the query only with sample_query, and truncates a long path", async () => {
    const host = await mirror({
      cluster: "dark",
      percentage: 100,
      compare: { sample_query: true, samples_per_second: 1000 },
    });
    exchange(host, {
      req: { path: "/menu?lang=fr&uid=7" },
      dark: { status: 500 },
    });
    const long = "/" + "p".repeat(400);
    exchange(host, { req: { path: long + "?q=1" }, dark: { status: 500 } });
    const paths = samples(host).map((l) => LINE.exec(l)![5]);
    assert.deepEqual(paths, ["/menu?lang=fr&uid=7", long.slice(0, 256)]);
  });

  it("quotes what the client sent: quotes and backslashes escaped, control bytes as ?", async () => {
    const host = await mirror({
      cluster: "dark",
      percentage: 100,
      compare: { samples_per_second: 1000 },
      sampling: { keys: ["header:x-user-id"] },
    });
    const ids = ['a"b\\c', "tab\there", "x".repeat(200), ""];
    for (const id of ids)
      exchange(host, {
        req: { id, headers: [["x-user-id", "u"]], path: '/a"b' },
        dark: { status: 500 },
      });
    exchange(host, {
      req: { id: null, headers: [["x-user-id", "u"]] },
      dark: { status: 500 },
    });
    const lines = samples(host);
    assert.equal(lines.length, 5);
    for (const l of lines) assert.match(l, LINE);
    assert.deepEqual(
      lines.map((l) => LINE.exec(l)![3]),
      ['a\\"b\\\\c', "tab?here", "x".repeat(128), "", ""],
    );
    assert.equal(LINE.exec(lines[0])![5], '/a\\"b');
  });

  it("logs at most samples_per_second lines per target: a burst, then one per 1/rate", async () => {
    const host = await mirror({
      targets: [
        { cluster: "v2", percentage: 100 },
        { cluster: "v3", percentage: 100 },
      ],
      compare: { samples_per_second: 2 },
    });
    const mismatches = (n: number) => {
      for (let i = 0; i < n; i++) exchange(host, { dark: { status: 500 } });
    };
    const perTarget = () => {
      const n: Record<string, number> = {};
      for (const l of samples(host)) {
        const t = LINE.exec(l)![1];
        n[t] = (n[t] ?? 0) + 1;
      }
      return n;
    };
    mismatches(10);
    assert.deepEqual(perTarget(), { v2: 2, v3: 2 }, "a burst of 2 each");
    host.advance(499);
    mismatches(3);
    assert.deepEqual(perTarget(), { v2: 2, v3: 2 });
    host.advance(1);
    mismatches(3);
    assert.deepEqual(perTarget(), { v2: 3, v3: 3 }, "one more after 500 ms");
    // 20 s at 10 mismatches a second: 2 a second on each target.
    for (let s = 0; s < 20; s++) {
      host.advance(1000);
      mismatches(10);
    }
    assert.deepEqual(perTarget(), { v2: 43, v3: 43 });
    // Every mismatch is still counted.
    assert.equal(counter(host, stat("v2", "compared.status_mismatch")), 216);
  });

  it("logs none with samples_per_second 0, one every 2 s with 0.5", async () => {
    const none = await mirror({
      cluster: "dark",
      percentage: 100,
      compare: { samples_per_second: 0 },
    });
    exchange(none, { dark: { status: 500 } });
    assert.deepEqual(samples(none), []);
    assert.equal(counter(none, stat("dark", "compared.status_mismatch")), 1);

    const slow = await mirror({
      cluster: "dark",
      percentage: 100,
      compare: { samples_per_second: 0.5 },
    });
    const got: number[] = [];
    for (let t = 0; t <= 6000; t += 500) {
      if (t > 0) slow.advance(500);
      exchange(slow, { dark: { status: 500 } });
      got.push(samples(slow).length);
    }
    assert.deepEqual(got, [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4]);
  });
});

// ----- memory --------------------------------------------------------------------------------------

describe("memory budget under JSON comparison", () => {
  const JSON_COMPARE = {
    body: "json",
    ignore: ["/**/timestamp", "/items/*/id"],
    headers: ["content-type"],
  };

  /** Bytes held for one GET with one copy awaiting both answers: 512 + a digest per copy + one per request. */
  async function digestBytes(): Promise<number> {
    const host = await mirror({
      cluster: "dark",
      percentage: 100,
      compare: JSON_COMPARE,
    });
    const s = request(host);
    const held = buffered(host);
    answerLive(s, {});
    answerDark(host, host.httpCalls, {});
    assert.equal(buffered(host), 0);
    assert.ok(held > 512 && (held - 512) % 2 === 0, `held ${held}`);
    return (held - 512) / 2;
  }

  it("counts a JSON digest per copy and one per request", async () => {
    const d = await digestBytes();
    const host = await mirror({
      targets: [
        { cluster: "a", percentage: 100 },
        { cluster: "b", percentage: 100 },
        { cluster: "c", percentage: 100 },
      ],
      compare: JSON_COMPARE,
    });
    const s = request(host);
    assert.equal(buffered(host), 3 * (512 + d) + d);
    // Each copy's bytes go back once it is judged; the live digest's with the last.
    answerLive(s, { body: "{}" });
    host.respond(host.httpCalls[0], { body: "{}" });
    assert.equal(buffered(host), 2 * (512 + d) + d);
    host.respond(host.httpCalls[1], { body: "{}" });
    host.respond(host.httpCalls[2], { body: "{}" });
    assert.equal(buffered(host), 0);
  });

  it("stays within max_buffered_bytes with many comparisons open at once, and returns to 0", async () => {
    const d = await digestBytes();
    const budget = 65536;
    const perCopy = 512 + d;
    const host = await mirror({
      targets: [
        { cluster: "a", percentage: 100 },
        { cluster: "b", percentage: 100 },
      ],
      compare: JSON_COMPARE,
      max_body_bytes: 0,
      max_buffered_bytes: budget,
      max_inflight: 10000,
    });
    const body = JSON.stringify({
      timestamp: Date.now(),
      items: Array.from({ length: 50 }, (_, i) => ({ id: i, price: i * 1.5 })),
    });
    const open: Array<{ s: Stream; calls: HttpCall[] }> = [];
    let peak = 0;
    for (let i = 0; i < 200; i++) {
      const before = host.httpCalls.length;
      const s = request(host, { headers: [["x-pad", "p".repeat(100)]] });
      open.push({ s, calls: host.httpCalls.slice(before) });
      const b = buffered(host);
      peak = Math.max(peak, b);
      assert.ok(b <= budget, `${b} bytes held, over the budget of ${budget}`);
    }
    const copies = host.httpCalls.length;
    assert.ok(copies > 0, "nothing mirrored");
    const skipped =
      counter(host, stat("a", "skipped.over_budget")) +
      counter(host, stat("b", "skipped.over_budget"));
    assert.equal(copies + skipped, 400, "one outcome per request and target");
    assert.ok(skipped > 0, "the budget never bound");
    // Three shared digest + two copies per request at most fit.
    assert.ok(peak > budget - (2 * perCopy + d + 400), `peak ${peak}`);
    // Half answer live first, half dark first; all while others are still open.
    open.forEach(({ s, calls }, i) => {
      const dark: DarkAnswer = {
        headers: [["content-type", "application/json"]],
        body: body.replace(/"id":(\d+)/g, '"id":9$1'),
      };
      if (i % 2) {
        answerDark(host, calls, dark);
        answerLive(s, {
          headers: [["content-type", "application/json"]],
          body,
        });
      } else {
        answerLive(s, {
          headers: [["content-type", "application/json"]],
          body,
        });
        answerDark(host, calls, dark);
      }
      assert.ok(buffered(host) <= budget);
    });
    assert.equal(buffered(host), 0);
    assert.equal(
      counter(host, stat("a", "compared.match")),
      counter(host, stat("a", "copies")),
    );
    assert.equal(
      counter(host, stat("b", "compared.match")),
      counter(host, stat("b", "copies")),
    );
    // Once all is given back, the next request fits again.
    const before = host.httpCalls.length;
    exchange(host, {});
    assert.equal(host.httpCalls.length - before, 2);
  });

  it("keeps linear memory flat over 20 000 JSON comparisons", async () => {
    const host = await mirror({
      targets: [
        { cluster: "a", percentage: 100 },
        { cluster: "b", percentage: 100 },
      ],
      compare: { body: "json", ignore: ["/**/timestamp"] },
      max_inflight: 64,
    });
    const live = JSON.stringify({
      timestamp: 1,
      items: [1, 2, 3],
      n: "x".repeat(2000),
    });
    const dark = JSON.stringify({
      n: "x".repeat(2000),
      items: [1, 2, 3],
      timestamp: 2,
    });
    const one = (i: number) =>
      exchange(host, {
        live: { body: [live.slice(0, 700), live.slice(700)] },
        dark: { body: i % 3 ? dark : "{" },
        darkFirst: i % 2 === 0,
      });
    for (let i = 0; i < 2000; i++) one(i);
    const warm = host.memoryBytes();
    for (let i = 2000; i < 20000; i++) one(i);
    assert.ok(
      host.memoryBytes() <= warm + (1 << 20),
      `linear memory grew from ${warm} to ${host.memoryBytes()}`,
    );
    assert.equal(buffered(host), 0);
    assert.equal(host.pendingCalls().length, 0);
  });
});
