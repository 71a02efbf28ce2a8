/**
 * The pairs the verdict judges, driven through the release module: each copy whose two answers
 * are known counts once by the side in error (5xx, reset, no valid status, gRPC status other
 * than 0), its latency difference dark − live over the same span, gRPC answers classed by their
 * grpc-status, and a candidate's comparison judged against a baseline's answer to the same
 * request.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type {
  HeaderInput,
  Host,
  HttpCall,
  HttpResponse,
  Stream,
} from "../../tools/emulator/index.ts";
import { checkAfterEach, load, mirror, watched } from "./drive.ts";
import { counter, flush, gauge, stat, total } from "./stats.ts";
import { baselineInfoName, keysOf } from "../../scripts/metrics.ts";

checkAfterEach();

const DARK = "dark";
const ALL = { cluster: DARK, percentage: 100 };
let ids = 0;

/** A GET whose request ends with its headers; the stream stays open for its response. */
function get(host: Host, path = "/orders/1"): Stream {
  const s = watched(host.stream());
  s.requestHeaders(
    [
      [":method", "GET"],
      [":scheme", "http"],
      [":path", path],
      [":authority", "kitchen"],
      ["x-request-id", `rid-${++ids}`],
    ],
    true,
  );
  return s;
}

/** The live response: headers (and a body, trailers) ending the stream; then teardown. */
function liveAnswer(
  s: Stream,
  status: number,
  o: { headers?: HeaderInput; body?: string; trailers?: HeaderInput } = {},
): void {
  const headers: Array<[string, string]> = [[":status", String(status)]];
  for (const [k, v] of (o.headers ?? []) as Array<[string, string]>)
    headers.push([k, v]);
  const trailers = o.trailers;
  if (o.body === undefined && trailers === undefined) {
    s.responseHeaders(headers, true);
  } else {
    s.responseHeaders(headers, false);
    if (o.body !== undefined) s.responseBody(o.body, trailers === undefined);
    if (trailers !== undefined) s.responseTrailers(trailers);
  }
  s.done();
}

const pairs = (host: Host, target = DARK) => {
  flush(host);
  return Object.fromEntries(
    keysOf("pairs").map((k) => [
      k.slice("pairs.".length),
      host.counter(stat(target, k)),
    ]),
  );
};

const hist = (host: Host, key: string, target = DARK) =>
  host.histogram(stat(target, key));

describe("pairs by the side in error", () => {
  const cases: Array<
    [string, number, (h: Host, c: HttpCall) => void, string, string]
  > = [
    [
      "both answer 200",
      200,
      (h, c) => h.respond(c, { status: 200 }),
      "both_ok",
      "dark.2xx",
    ],
    [
      "dark 503 (its own)",
      200,
      (h, c) => h.respond(c, { status: 503 }),
      "dark_error",
      "dark.5xx",
    ],
    [
      "live 500, dark 200",
      500,
      (h, c) => h.respond(c, { status: 200 }),
      "live_error",
      "dark.2xx",
    ],
    [
      "live 500, dark reset",
      500,
      (h, c) => h.respondReset(c),
      "both_error",
      "dark.reset",
    ],
    [
      "dark 404 is no error",
      200,
      (h, c) => h.respond(c, { status: 404 }),
      "both_ok",
      "dark.4xx",
    ],
    [
      "dark timeout (Envoy's 504)",
      200,
      (h, c) => h.respondTimeout(c),
      "dark_error",
      "dark.reset",
    ],
    [
      "Envoy's own 502 for a status line it could not parse is a reset",
      200,
      (h, c) =>
        h.respondLocal(
          c,
          502,
          "upstream connect error or disconnect/reset before headers. reset reason: protocol error",
        ),
      "dark_error",
      "dark.reset",
    ],
    [
      "the dark service's own 502 is a 5xx",
      200,
      (h, c) => h.respond(c, { status: 502 }),
      "dark_error",
      "dark.5xx",
    ],
  ];
  for (const [name, liveStatus, answer, pair, darkKey] of cases) {
    it(name, async () => {
      const host = await mirror(ALL);
      const s = get(host);
      host.advance(10);
      liveAnswer(s, liveStatus);
      answer(host, host.httpCalls[0]);
      const want = Object.fromEntries(
        keysOf("pairs").map((k) => [k.slice(6), k === `pairs.${pair}` ? 1 : 0]),
      );
      assert.deepEqual(pairs(host), want);
      assert.equal(counter(host, stat(DARK, darkKey)), 1);
      assert.equal(total(host, DARK, "dark"), 1);
      // only an answer has a latency
      assert.equal(
        hist(host, "dark.duration").length,
        darkKey === "dark.reset" ? 0 : 1,
      );
    });
  }

  it("a copy whose dark answer never comes (its config retired) is no pair", async () => {
    const host = await mirror(ALL);
    const s = get(host);
    liveAnswer(s, 200);
    host.retireRoot();
    flush(host);
    assert.equal(host.counter(stat(DARK, "dark.reset")), 1);
    assert.deepEqual(Object.values(pairs(host)), [0, 0, 0, 0]);
  });

  it("a live response that never completes makes no pair", async () => {
    const host = await mirror(ALL);
    const s = get(host);
    s.responseHeaders([[":status", "200"]], false);
    host.respond(host.httpCalls[0], { status: 200 });
    s.reset();
    assert.deepEqual(Object.values(pairs(host)), [0, 0, 0, 0]);
    assert.equal(counter(host, stat(DARK, "not_compared.incomplete")), 1);
  });
});

describe("latency difference, dark − live over the same span", () => {
  it("dark slower: d into the slower histogram, in µs", async () => {
    const host = await mirror(ALL);
    const s = get(host);
    host.advance(15);
    liveAnswer(s, 200);
    host.advance(20);
    host.respond(host.httpCalls[0], { status: 200 });
    assert.deepEqual(hist(host, "live.duration"), [15_000]);
    assert.deepEqual(hist(host, "dark.duration"), [35_000]);
    assert.deepEqual(hist(host, "pair.slower"), [20_000]);
    assert.deepEqual(hist(host, "pair.faster"), []);
  });

  it("dark faster: −d into the faster histogram", async () => {
    const host = await mirror(ALL);
    const s = get(host);
    host.advance(12);
    host.respond(host.httpCalls[0], { status: 200 });
    host.advance(30);
    liveAnswer(s, 200, { body: "{}" });
    assert.deepEqual(hist(host, "pair.slower"), []);
    assert.deepEqual(hist(host, "pair.faster"), [30_000]);
  });

  it("a 5xx answer has a latency; a reset or timeout none, and no difference", async () => {
    const host = await mirror(ALL);
    const a = get(host);
    const b = get(host);
    host.advance(5);
    liveAnswer(a, 200);
    liveAnswer(b, 200);
    host.advance(5);
    host.respond(host.httpCalls[0], { status: 500 });
    host.respondTimeout(host.httpCalls[1]);
    assert.deepEqual(hist(host, "dark.duration"), [10_000]);
    assert.deepEqual(hist(host, "pair.slower"), [5_000]);
    assert.deepEqual(hist(host, "pair.faster"), []);
  });

  it("spans start when the request ends (the copy is dispatched), for both sides", async () => {
    const host = await mirror({ ...ALL, methods: ["POST"] });
    const s = watched(host.stream());
    s.requestHeaders(
      [
        [":method", "POST"],
        [":path", "/orders"],
        [":authority", "kitchen"],
        ["x-request-id", "upload"],
      ],
      false,
    );
    host.advance(100); // a slow upload
    s.requestBody("order", true);
    host.advance(7);
    liveAnswer(s, 201);
    host.advance(3);
    host.respond(host.httpCalls[0], { status: 201 });
    assert.deepEqual(hist(host, "live.duration"), [7_000]);
    assert.deepEqual(hist(host, "dark.duration"), [10_000]);
    assert.deepEqual(hist(host, "pair.slower"), [3_000]);
  });

  it("a live response that began before the request ended has no difference", async () => {
    const host = await mirror({ ...ALL, methods: ["POST"] });
    const s = watched(host.stream());
    s.requestHeaders(
      [
        [":method", "POST"],
        [":path", "/stream"],
        [":authority", "kitchen"],
        ["x-request-id", "early"],
      ],
      false,
    );
    s.responseHeaders([[":status", "200"]], false);
    host.advance(4);
    s.requestBody("last", true);
    host.advance(4);
    s.responseBody("done", true);
    s.done();
    host.respond(host.httpCalls[0], { status: 200 });
    assert.equal(pairs(host).both_ok, 1);
    assert.deepEqual(hist(host, "pair.slower"), []);
    assert.deepEqual(hist(host, "pair.faster"), []);
  });
});

const GRPC = [["content-type", "application/grpc"]] as Array<[string, string]>;

describe("gRPC answers, judged by their grpc-status", () => {
  const config = {
    ...ALL,
    unsafe_paths: [{ methods: ["POST"], path_prefix: "/shop.Kitchen/" }],
  };
  function call(host: Host): Stream {
    const s = watched(host.stream());
    s.requestHeaders(
      [
        [":method", "POST"],
        [":path", "/shop.Kitchen/Cook"],
        [":authority", "kitchen"],
        ["content-type", "application/grpc"],
        ["te", "trailers"],
        ["x-request-id", `grpc-${++ids}`],
      ],
      false,
    );
    s.requestBody("\0\0\0\0\x02hi", true);
    return s;
  }
  const ok = {
    headers: GRPC,
    body: "\0\0\0\0\x00",
    trailers: [["grpc-status", "0"]] as Array<[string, string]>,
  };
  /** A call mirrored with `cfg`, live answering `live` and dark `dark`: the host after both. */
  async function judged(
    dark: HttpResponse,
    live = ok,
    cfg: object = config,
  ): Promise<Host> {
    const host = await mirror(cfg);
    liveAnswer(call(host), 200, live);
    host.respond(host.httpCalls[0], dark);
    return host;
  }

  it("dark grpc-status 14 in its trailers: a gRPC error, a dark_error pair, a status mismatch", async () => {
    const host = await judged({
      status: 200,
      headers: GRPC,
      trailers: [
        ["grpc-status", "14"],
        ["grpc-message", "unavailable"],
      ],
    });
    assert.equal(counter(host, stat(DARK, "dark.grpc_error")), 1);
    assert.equal(counter(host, stat(DARK, "dark.2xx")), 0);
    assert.equal(counter(host, stat(DARK, "live.2xx")), 1);
    assert.equal(pairs(host).dark_error, 1);
    assert.equal(counter(host, stat(DARK, "compared.status_mismatch")), 1);
  });

  it("a trailers-only answer carries its grpc-status in its headers", async () => {
    const host = await judged({
      status: 200,
      headers: [...GRPC, ["grpc-status", "14"]],
    });
    assert.equal(counter(host, stat(DARK, "dark.grpc_error")), 1);
    assert.equal(pairs(host).dark_error, 1);
  });

  it("grpc-status 0 on both sides: 2xx, both_ok, a match", async () => {
    const host = await judged({
      status: 200,
      headers: GRPC,
      body: "\0\0\0\0\x00",
      trailers: [["grpc-status", "0"]],
    });
    assert.equal(counter(host, stat(DARK, "dark.2xx")), 1);
    assert.equal(pairs(host).both_ok, 1);
    assert.equal(counter(host, stat(DARK, "compared.match")), 1);
  });

  it("a gRPC answer without grpc-status is an error (gRPC's UNKNOWN)", async () => {
    const host = await judged({ status: 200, headers: GRPC, body: "x" });
    assert.equal(counter(host, stat(DARK, "dark.grpc_error")), 1);
  });

  it("live's own gRPC error, from its trailers, is a live_error pair", async () => {
    const host = await judged(
      {
        status: 200,
        headers: GRPC,
        trailers: [["grpc-status", "0"]],
      },
      { ...ok, trailers: [["grpc-status", "13"]] },
    );
    assert.equal(counter(host, stat(DARK, "live.grpc_error")), 1);
    assert.equal(pairs(host).live_error, 1);
  });

  it("grpc-status differs in class mode too; content types are matched in any case", async () => {
    const host = await judged(
      {
        status: 200,
        headers: [["content-type", "Application/GRPC+proto"]],
        trailers: [["grpc-status", "4"]],
      },
      ok,
      { ...config, compare: { status: "class" } },
    );
    assert.equal(counter(host, stat(DARK, "dark.grpc_error")), 1);
    assert.equal(counter(host, stat(DARK, "compared.status_mismatch")), 1);
  });

  it("gRPC-Web and other types are classed by their HTTP status", async () => {
    const host = await mirror(ALL);
    const s = get(host);
    liveAnswer(s, 200);
    host.respond(host.httpCalls[0], {
      status: 200,
      headers: [
        ["content-type", "application/grpc-web+proto"],
        ["grpc-status", "14"],
      ],
    });
    assert.equal(counter(host, stat(DARK, "dark.2xx")), 1);
    assert.equal(pairs(host).both_ok, 1);
  });
});

describe("a baseline target: candidates judged against its answer to the same request", () => {
  const config = (compare: object = { body: "json" }) => ({
    targets: [
      { cluster: "next", percentage: 100 },
      { cluster: "base", percentage: 100, baseline: true },
    ],
    compare,
  });
  const body = (id: string, total: number) =>
    JSON.stringify({ id, items: [{ sku: "a", qty: 1 }], total });
  /** One request: live answers `live`, the candidate `next`, the baseline `base` (in `order`). */
  function round(
    host: Host,
    live: string,
    next: string | null,
    base: string | null,
    order: "base-first" | "next-first" = "next-first",
  ): void {
    const s = get(host);
    liveAnswer(s, 200, { body: live });
    const calls = host.pendingCalls();
    const byCluster = (c: string) => calls.find((x) => x.cluster === c)!;
    const answer = (c: string, b: string | null) =>
      b === null
        ? host.respondReset(byCluster(c))
        : host.respond(byCluster(c), { status: 200, body: b });
    if (order === "next-first") {
      answer("next", next);
      answer("base", base);
    } else {
      answer("base", base);
      answer("next", next);
    }
  }
  const paired = (host: Host, t: string) => {
    flush(host);
    return Object.fromEntries(
      keysOf("pair_compared")
        .map((k) => [
          k.slice("pair_compared.".length),
          host.counter(stat(t, k)),
        ])
        .filter(([, v]) => v !== 0),
    );
  };

  it("a field that differs between any two instances (a random id) cancels; a real change does not", async () => {
    const host = await mirror(config());
    for (let i = 0; i < 20; i++)
      round(host, body(`L${i}`, 10), body(`N${i}`, 10), body(`B${i}`, 10));
    round(host, body("L", 10), body("N", 11), body("B", 10));
    round(host, body("L", 10), body("N", 11), body("B", 10), "base-first");
    // the plain comparison sees every request differ; the candidate's pairs only the changes
    assert.equal(counter(host, stat("next", "compared.body_mismatch")), 22);
    assert.deepEqual(paired(host, "next"), { match: 20, body_mismatch: 2 });
    // the baseline is judged plainly against live: its noise is all there
    assert.deepEqual(paired(host, "base"), { body_mismatch: 22 });
  });

  it("a difference the baseline shares in the same field cancels; one in another field does not", async () => {
    const host = await mirror(config());
    const doc = (id: string, qty: number) =>
      JSON.stringify({ id, items: [{ sku: "a", qty, id: `${id}-1` }] });
    round(host, doc("L", 1), doc("N", 1), doc("B", 1));
    round(host, doc("L", 1), doc("N", 2), doc("B", 1));
    assert.deepEqual(paired(host, "next"), { match: 1, body_mismatch: 1 });
  });

  it("no usable baseline answer (reset, or 5xx): the candidate's pair is not judged", async () => {
    const host = await mirror(config());
    round(host, body("L", 1), body("N", 2), null);
    const s = get(host);
    liveAnswer(s, 200, { body: body("L", 1) });
    for (const c of host.pendingCalls())
      host.respond(c, {
        status: c.cluster === "base" ? 503 : 200,
        body: body("N", 2),
      });
    assert.deepEqual(paired(host, "next"), {});
    assert.equal(counter(host, stat("next", "compared.body_mismatch")), 2);
    assert.equal(gauge(host, stat("next", "inflight")), 0);
  });

  it("a candidate waits for the baseline's answer, and gives its slot back once judged", async () => {
    const host = await mirror(config());
    const s = get(host);
    liveAnswer(s, 200, { body: body("L", 1) });
    const [next, base] = ["next", "base"].map(
      (c) => host.pendingCalls().find((x) => x.cluster === c)!,
    );
    host.respond(next, { status: 200, body: body("N", 1) });
    assert.equal(gauge(host, stat("next", "inflight")), 1);
    host.respond(base, { status: 200, body: body("B", 1) });
    assert.equal(gauge(host, stat("next", "inflight")), 0);
    assert.deepEqual(paired(host, "next"), { match: 1 });
  });

  it("headers and statuses: only where the baseline agrees with live", async () => {
    const host = await mirror(config({ headers: ["etag"] }));
    const once = (l: string, n: string, b: string) => {
      const s = get(host);
      liveAnswer(s, 200, { headers: [["etag", l]] });
      for (const c of host.pendingCalls())
        host.respond(c, {
          status: 200,
          headers: [["etag", c.cluster === "next" ? n : b]],
        });
    };
    once("l", "n", "b"); // a random etag: noise
    once("x", "n", "x"); // the candidate alone differs
    assert.deepEqual(paired(host, "next"), {
      match: 1,
      header_mismatch: 1,
    });
  });

  it("names each candidate's baseline in mirror_baseline_info, per VM, until the config is retired", async () => {
    const host = await mirror(config());
    const first = host.rootContextId;
    const info = baselineInfoName("next", "base");
    assert.equal(host.gauge(info), 1);
    assert.equal(host.metric(baselineInfoName("base", "base")), undefined);
    // a second VM's root with the same config (Envoy: one per worker)
    assert.ok(host.configure(JSON.stringify(config())));
    const second = host.rootContextId;
    assert.equal(host.gauge(info), 2);
    // a config without the baseline replaces both; each retired root takes its 1 back
    assert.ok(host.configure(JSON.stringify(ALL)));
    host.retireRoot(first);
    assert.equal(host.gauge(info), 1);
    host.retireRoot(second);
    assert.equal(host.gauge(info), 0);
  });

  it("refuses a second baseline, or one with another percentage or salt", async () => {
    const cases: Array<[object, string]> = [
      [
        {
          targets: [
            { cluster: "a", percentage: 10, baseline: true },
            { cluster: "b", percentage: 10, baseline: true },
          ],
        },
        "invalid plugin config: targets[1].baseline: a config has at most one baseline, and targets[0] is one",
      ],
      [
        {
          targets: [
            { cluster: "a", percentage: 10 },
            { cluster: "b", percentage: 10.5, baseline: true },
          ],
        },
        "invalid plugin config: targets[0].percentage: must be the percentage of the baseline (it gets the same copies), targets[1] has 10.5",
      ],
      [
        {
          targets: [
            { cluster: "a", percentage: 10, salt: "x" },
            { cluster: "b", percentage: 10, baseline: true },
          ],
        },
        'invalid plugin config: targets[0].salt: must be the salt of the baseline (it gets the same copies), targets[1] has ""',
      ],
      [
        { cluster: "a", percentage: 10, baseline: "yes" },
        'invalid plugin config: baseline: must be true or false, got "yes"',
      ],
    ];
    for (const [cfg, line] of cases) {
      const host = await load();
      assert.equal(host.configure(JSON.stringify(cfg)), false);
      assert.deepEqual(
        host.logs("error").map((l) => l.message),
        [line],
      );
    }
  });
});
