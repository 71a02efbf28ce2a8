/**
 * The mirror filter, driven through the proxy-wasm ABI: the release build/mirror.wasm on the host
 * emulator. Named, table-driven cases for the filter's contract: configuration errors, exact
 * sampling decisions and observed rates against an independent XXH64, methods, the loop guard,
 * every header rule, bodies, resets, dispatch failures, dark responses (also after the stream or
 * the root context is gone) and stats that match what was dispatched. After every test: nothing
 * trapped, no ABI misuse, and every callback answered Continue.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  FilterStatus,
  Host,
  type HostOptions,
  type HttpCall,
  LogLevel,
  type Stream,
} from "../../tools/emulator/index.ts";
import { checkAfterEach, keyWhere, load, mirror, watched } from "./drive.ts";
import { bucketOf, mirroredByFormula } from "../support/sampling.ts";
import { counter, flush, gauge, stat } from "./stats.ts";
import { keysOf, SERIES } from "../../scripts/metrics.ts";

const VECTORS = fileURLToPath(
  new URL("../fixtures/sampling-vectors.json", import.meta.url),
);

checkAfterEach();

type Pairs = Array<[string, string]>;

interface Req {
  method?: string;
  path?: string;
  authority?: string;
  /** Extra headers after the pseudo-headers. */
  headers?: Pairs;
  /** Replaces every header, pseudo-headers included. */
  rawHeaders?: Pairs;
  body?: Array<string | Uint8Array>;
  trailers?: Pairs;
  /** The client goes away before the request ends: no end of stream, no response. */
  reset?: boolean;
  /** Keep the stream open after the request (no response, no teardown). */
  open?: boolean;
  /** Live response status (default 200). */
  status?: number;
}

let requestIds = 0;

/** One live request through the filter: headers, body chunks, trailers, response, teardown. */
function send(host: Host, req: Req = {}): Stream {
  const s = host.stream();
  watched(s);
  const headers: Pairs = req.rawHeaders ?? [
    [":method", req.method ?? "GET"],
    [":scheme", "http"],
    [":path", req.path ?? "/orders/1"],
    [":authority", req.authority ?? "kitchen"],
    ["x-request-id", `rid-${++requestIds}`],
    ...(req.headers ?? []),
  ];
  const body = req.body ?? [];
  const last = !req.reset && req.trailers === undefined;
  s.requestHeaders(headers, last && body.length === 0);
  body.forEach((chunk, i) =>
    s.requestBody(chunk, last && i === body.length - 1),
  );
  if (req.trailers !== undefined && !req.reset) s.requestTrailers(req.trailers);
  if (req.reset) {
    s.reset();
    return s;
  }
  if (req.open) return s;
  s.responseHeaders([[":status", String(req.status ?? 200)]], true);
  s.done();
  return s;
}

/** Answers every pending call with `status` (advancing the clock first by `afterMs`). */
function answerAll(host: Host, status = 200, afterMs = 0): void {
  host.advance(afterMs);
  for (const call of host.pendingCalls()) host.respond(call, { status });
}

/** Counters of one target that sum to one outcome per request. */
const OUTCOMES = [
  "copies",
  ...keysOf("skipped"),
  ...keysOf("dispatch_failures"),
];

function outcomes(host: Host, t: string): Record<string, number> {
  flush(host);
  const out: Record<string, number> = {};
  for (const o of OUTCOMES) {
    const v = host.counter(stat(t, o));
    if (v !== 0) out[o] = v;
  }
  return out;
}

const ALL = { cluster: "dark", percentage: 100 };

// ----- configuration --------------------------------------------------------------------------

describe("configuration", () => {
  it("defines exactly the series of scripts/metrics.ts per target at configure time, with their kind", async () => {
    const clusters = [
      "outbound|8080||kitchen.ns.svc.cluster.local",
      "dark_v2-a",
    ];
    const host = await mirror({
      targets: clusters.map((cluster) => ({ cluster, percentage: 1 })),
    });
    const expected = new Map<string, string>();
    for (const x of SERIES) {
      if (!x.perTarget) expected.set(x.family, x.kind);
      else for (const t of clusters) expected.set(stat(t, x.key), x.kind);
    }
    assert.deepEqual(
      Object.keys(host.metrics()).sort(),
      [...expected.keys()].sort(),
    );
    for (const [name, kind] of expected)
      assert.equal(host.metric(name)?.type, kind, name);
    // The target label keeps the cluster name as it is.
    assert.ok(
      host.metric(
        "mirror_skipped_total.mirror_target=.=outbound|8080||kitchen.ns.svc.cluster.local;.;mirror_reason=.=method;.;",
      ),
    );
    for (const name of expected.keys())
      if (expected.get(name) === "counter")
        assert.equal(counter(host, name), 0, name);
    assert.deepEqual(host.logsAtLeast("warn"), []);
  });

  it("accepts the shorthand and the full form with every field", async () => {
    await mirror({ cluster: "dark", percentage: 10 });
    await mirror({
      targets: [
        {
          cluster: "kitchen-next",
          percentage: 33.3333,
          salt: "s",
          timeout_ms: 600000,
          authority: "kitchen-next.internal:8080",
          match: { path_prefix: "/orders", headers: { "x-tenant": "acme" } },
        },
        {
          cluster: "other",
          percentage: 0,
          host_suffix: "-shadow",
          timeout_ms: 1,
        },
      ],
      sampling: {
        keys: ["header:x-user-id", "cookie:session", "query:uid", "path"],
        salt: "",
      },
      methods: ["GET", "HEAD", "OPTIONS"],
      unsafe_paths: [{ methods: ["POST"], path_prefix: "/catalog.Reader/" }],
      marker: { header: "x-shadow", value: "true", inbound: "strip" },
      headers: { add: { "x-env": "dark" }, remove: ["authorization"] },
      max_body_bytes: 0,
      max_inflight: 1,
    });
  });

  // [name, config text, the line's "<field.path>: <reason>" as a regular expression]
  const refused: Array<[string, string | null, RegExp]> = [
    ["missing configuration", null, /^configuration: .*empty/],
    ["empty configuration", "", /^configuration: .*empty/],
    ["blank configuration", "  \n ", /^configuration: .*empty/],
    ["malformed JSON", '{"cluster": "dark",', /^configuration: .*JSON/],
    [
      "trailing garbage",
      '{"cluster": "dark", "percentage": 1} x',
      /^configuration: /,
    ],
    ["an array", "[]", /^configuration: must be an object/],
    ["a string", '"dark"', /^configuration: must be an object/],
    ["null", "null", /^configuration: must be an object/],
    ["no targets", "{}", /^targets: is required/],
    [
      "percentage without cluster",
      '{"percentage": 10}',
      /^(targets|cluster): is required/,
    ],
    [
      "unknown top-level field",
      '{"cluster":"d","percentage":1,"bogus":1}',
      /^bogus: unknown/,
    ],
    [
      "targets and shorthand",
      '{"cluster":"d","percentage":1,"targets":[]}',
      /^targets: /,
    ],
    ["targets not an array", '{"targets": {}}', /^targets: must be an array/],
    ["targets empty", '{"targets": []}', /^targets: must not be empty/],
    [
      "target not an object",
      '{"targets": [1]}',
      /^targets\[0\]: must be an object/,
    ],
    [
      "unknown target field",
      '{"targets": [{"cluster":"d","percentage":1,"weight":2}]}',
      /^targets\[0\]\.weight: unknown/,
    ],
    [
      "cluster missing",
      '{"targets": [{"percentage": 1}]}',
      /^targets\[0\]\.cluster: is required/,
    ],
    [
      "cluster empty",
      '{"targets": [{"cluster":"","percentage":1}]}',
      /^targets\[0\]\.cluster: /,
    ],
    [
      "cluster a number",
      '{"cluster": 7, "percentage": 1}',
      /^cluster: must be a string/,
    ],
    ["percentage missing", '{"cluster": "d"}', /^percentage: is required/],
    [
      "percentage a string",
      '{"cluster": "d", "percentage": "10"}',
      /^percentage: must be a number/,
    ],
    [
      "percentage 150",
      '{"targets": [{"cluster": "d", "percentage": 150}]}',
      /^targets\[0\]\.percentage: must be between 0 and 100, got 150$/,
    ],
    [
      "percentage negative",
      '{"cluster": "d", "percentage": -1}',
      /^percentage: must be between/,
    ],
    [
      "percentage 5 decimals",
      '{"cluster": "d", "percentage": 10.00001}',
      /^percentage: .*4 decimal/,
    ],
    [
      "timeout 0",
      '{"cluster":"d","percentage":1,"timeout_ms":0}',
      /^timeout_ms: /,
    ],
    [
      "timeout too long",
      '{"cluster":"d","percentage":1,"timeout_ms":600001}',
      /^timeout_ms: /,
    ],
    [
      "timeout fractional",
      '{"cluster":"d","percentage":1,"timeout_ms":1.5}',
      /^timeout_ms: /,
    ],
    [
      "timeout a string",
      '{"cluster":"d","percentage":1,"timeout_ms":"5"}',
      /^timeout_ms: /,
    ],
    [
      "salt a number",
      '{"cluster":"d","percentage":1,"salt":1}',
      /^salt: must be a string/,
    ],
    [
      "authority empty",
      '{"cluster":"d","percentage":1,"authority":""}',
      /^authority: /,
    ],
    [
      "authority with a space",
      '{"cluster":"d","percentage":1,"authority":"a b"}',
      /^authority: /,
    ],
    [
      "authority and host_suffix",
      '{"cluster":"d","percentage":1,"authority":"a","host_suffix":"-s"}',
      /^host_suffix: /,
    ],
    [
      "match not an object",
      '{"cluster":"d","percentage":1,"match":[]}',
      /^match: /,
    ],
    [
      "match unknown field",
      '{"cluster":"d","percentage":1,"match":{"x":1}}',
      /^match\.x: unknown/,
    ],
    [
      "path_prefix without /",
      '{"cluster":"d","percentage":1,"match":{"path_prefix":"orders"}}',
      /^match\.path_prefix: /,
    ],
    [
      "match header value not a string",
      '{"cluster":"d","percentage":1,"match":{"headers":{"x-tenant":1}}}',
      /^match\.headers\.x-tenant: /,
    ],
    [
      "match header bad name",
      '{"cluster":"d","percentage":1,"match":{"headers":{"x tenant":"a"}}}',
      /^match\.headers\."x tenant": /,
    ],
    [
      "sampling not an object",
      '{"cluster":"d","percentage":1,"sampling":1}',
      /^sampling: /,
    ],
    [
      "sampling unknown field",
      '{"cluster":"d","percentage":1,"sampling":{"seed":1}}',
      /^sampling\.seed: unknown/,
    ],
    [
      "sampling keys empty",
      '{"cluster":"d","percentage":1,"sampling":{"keys":[]}}',
      /^sampling\.keys: must not be empty/,
    ],
    [
      "sampling key of another form",
      '{"cluster":"d","percentage":1,"sampling":{"keys":["body:x"]}}',
      /^sampling\.keys\[0\]: /,
    ],
    [
      "sampling key without a name",
      '{"cluster":"d","percentage":1,"sampling":{"keys":["header:x-a","cookie:"]}}',
      /^sampling\.keys\[1\]: /,
    ],
    [
      "sampling salt a number",
      '{"cluster":"d","percentage":1,"sampling":{"salt":1}}',
      /^sampling\.salt: /,
    ],
    [
      "methods not an array",
      '{"cluster":"d","percentage":1,"methods":"GET"}',
      /^methods: /,
    ],
    [
      "method lower-case",
      '{"cluster":"d","percentage":1,"methods":["GET","post"]}',
      /^methods\[1\]: /,
    ],
    [
      "unsafe_paths without methods",
      '{"cluster":"d","percentage":1,"unsafe_paths":[{"path_prefix":"/a"}]}',
      /^unsafe_paths\[0\]\.methods: /,
    ],
    [
      "unsafe_paths with empty methods",
      '{"cluster":"d","percentage":1,"unsafe_paths":[{"methods":[],"path_prefix":"/a"}]}',
      /^unsafe_paths\[0\]\.methods: /,
    ],
    [
      "unsafe_paths without path_prefix",
      '{"cluster":"d","percentage":1,"unsafe_paths":[{"methods":["POST"]}]}',
      /^unsafe_paths\[0\]\.path_prefix: /,
    ],
    [
      "marker inbound unknown",
      '{"cluster":"d","percentage":1,"marker":{"inbound":"drop"}}',
      /^marker\.inbound: /,
    ],
    [
      "marker header a pseudo-header",
      '{"cluster":"d","percentage":1,"marker":{"header":":authority"}}',
      /^marker\.header: /,
    ],
    [
      "marker header hop-by-hop",
      '{"cluster":"d","percentage":1,"marker":{"header":"connection"}}',
      /^marker\.header: /,
    ],
    [
      "marker value empty",
      '{"cluster":"d","percentage":1,"marker":{"value":""}}',
      /^marker\.value: /,
    ],
    [
      "headers.add hop-by-hop",
      '{"cluster":"d","percentage":1,"headers":{"add":{"transfer-encoding":"chunked"}}}',
      /^headers\.add\.transfer-encoding: /,
    ],
    [
      "headers.add value not a string",
      '{"cluster":"d","percentage":1,"headers":{"add":{"x-env":1}}}',
      /^headers\.add\.x-env: /,
    ],
    [
      "headers.add value with CR LF",
      '{"cluster":"d","percentage":1,"headers":{"add":{"x-env":"a\\r\\nx-evil: 1"}}}',
      /^headers\.add\.x-env: /,
    ],
    [
      "headers.remove a pseudo-header",
      '{"cluster":"d","percentage":1,"headers":{"remove":[":path"]}}',
      /^headers\.remove\[0\]: /,
    ],
    [
      "headers.remove not an array",
      '{"cluster":"d","percentage":1,"headers":{"remove":"cookie"}}',
      /^headers\.remove: /,
    ],
    [
      "max_body_bytes negative",
      '{"cluster":"d","percentage":1,"max_body_bytes":-1}',
      /^max_body_bytes: /,
    ],
    [
      "max_body_bytes too large",
      '{"cluster":"d","percentage":1,"max_body_bytes":16777217}',
      /^max_body_bytes: /,
    ],
    [
      "max_inflight 0",
      '{"cluster":"d","percentage":1,"max_inflight":0}',
      /^max_inflight: /,
    ],
    [
      "max_inflight a string",
      '{"cluster":"d","percentage":1,"max_inflight":"1"}',
      /^max_inflight: /,
    ],
  ];

  for (const [name, text, expected] of refused) {
    it(`refuses ${name}, with one error line naming the field`, async () => {
      const host = await load();
      assert.equal(host.configure(text), false);
      const lines = host.logsAtLeast("warn");
      assert.equal(
        lines.length,
        1,
        `one line, got ${JSON.stringify(lines.map((l) => l.message))}`,
      );
      assert.equal(lines[0].level, LogLevel.error);
      const m = /^invalid plugin config: (.*)$/.exec(lines[0].message);
      assert.ok(m, `line: ${lines[0].message}`);
      assert.match(m[1], expected);
      assert.match(m[1], /^[^:]+: .+/, "<field.path>: <reason>");
    });
  }

  it("keeps the previous configuration serving when a new one is refused", async () => {
    const host = await mirror(ALL);
    assert.equal(
      host.configure('{"cluster": "dark", "percentage": 150}'),
      false,
    );
    send(host);
    assert.equal(host.httpCalls.length, 1);
  });

  it("applies a new configuration to new streams; older streams keep theirs", async () => {
    const host = await mirror(ALL);
    const old = host.stream();
    watched(old);
    old.requestHeaders(
      [
        [":method", "GET"],
        [":path", "/a"],
        [":authority", "kitchen"],
        ["x-request-id", "old"],
      ],
      false,
    );
    assert.equal(
      host.configure(JSON.stringify({ cluster: "dark", percentage: 0 })),
      true,
    );
    send(host);
    old.requestBody("x", true);
    old.done();
    assert.equal(host.httpCalls.length, 1);
    assert.equal(host.httpCalls[0].headers.get("x-request-id"), "old");
    assert.equal(host.httpCalls[0].contextId, old.rootId);
    assert.notEqual(old.rootId, host.rootContextId);
    assert.equal(counter(host, stat("dark", "skipped.sampled_out")), 1);
  });

  it("refuses a configuration under another root id without trapping", async () => {
    const host = await load({ rootId: "not-mirror" });
    assert.equal(host.configure(JSON.stringify(ALL)), false);
  });
});

// ----- sampling ------------------------------------------------------------------------------------

interface VectorFile {
  vectors: Array<{
    salt: string;
    key: string;
    percentage: number;
    mirrored: boolean;
  }>;
}

describe("sampling", () => {
  it("decides every fixture key exactly as the sampling formula", async () => {
    const { vectors } = JSON.parse(readFileSync(VECTORS, "utf8")) as VectorFile;
    const byConfig = new Map<string, typeof vectors>();
    for (const v of vectors) {
      if (v.key === "") continue; // an empty value is no key (tested below)
      const k = JSON.stringify([v.salt, v.percentage]);
      byConfig.set(k, [...(byConfig.get(k) ?? []), v]);
    }
    let checked = 0;
    for (const [k, vs] of byConfig) {
      const [salt, percentage] = JSON.parse(k) as [string, number];
      const host = await mirror({
        cluster: "dark",
        percentage,
        salt,
        sampling: { keys: ["header:x-user-id"] },
        max_inflight: 100000,
      });
      for (const v of vs) {
        const before = host.httpCalls.length;
        send(host, { headers: [["x-user-id", v.key]] });
        const mirrored = host.httpCalls.length > before;
        assert.equal(mirrored, v.mirrored, `${JSON.stringify(v)}`);
        checked++;
      }
    }
    assert.ok(checked >= 70, `${checked} vectors`);
  });

  for (const percentage of [0.5, 10, 50]) {
    it(`mirrors exactly the formula's keys at ${percentage}% of 100k, within a 99.9% binomial bound`, async () => {
      const n = 100_000;
      const salt = "rate";
      const host = await mirror({
        cluster: "dark",
        percentage,
        sampling: { keys: ["header:x-user-id"], salt },
        max_inflight: 100000,
      });
      const expected = new Set<string>();
      const got = new Set<string>();
      for (let i = 0; i < n; i++) {
        const key = `user-${i}`;
        if (mirroredByFormula(salt, key, percentage)) expected.add(key);
        const s = host.stream();
        const status = s.requestHeaders(
          [
            [":method", "GET"],
            [":path", "/menu"],
            [":authority", "kitchen"],
            ["x-user-id", key],
          ],
          true,
        );
        assert.equal(status, FilterStatus.Continue);
        s.done();
        const call = host.httpCalls.at(-1);
        if (call?.state === "pending") {
          got.add(call.headers.get("x-user-id") ?? "?");
          host.respond(call, { status: 200 });
        }
      }
      assert.equal(
        got.size,
        expected.size,
        "the filter's count equals the formula's",
      );
      for (const key of expected)
        assert.ok(got.has(key), `${key} must be mirrored`);
      const p = percentage / 100;
      const bound = 3.2905 * Math.sqrt(n * p * (1 - p));
      assert.ok(
        Math.abs(got.size - n * p) <= bound,
        `observed ${got.size}, expected ${n * p} ± ${bound.toFixed(1)}`,
      );
      assert.equal(counter(host, stat("dark", "copies")), got.size);
      assert.equal(
        counter(host, stat("dark", "skipped.sampled_out")),
        n - got.size,
      );
      assert.equal(gauge(host, stat("dark", "inflight")), 0);
    });
  }

  it("keeps every mirrored key when the percentage is raised", async () => {
    const mirroredAt = async (percentage: number) => {
      const host = await mirror({
        cluster: "dark",
        percentage,
        sampling: { keys: ["header:x-user-id"] },
        max_inflight: 100000,
      });
      for (let i = 0; i < 3000; i++)
        send(host, { headers: [["x-user-id", `u${i}`]] });
      return new Set(host.httpCalls.map((c) => c.headers.get("x-user-id")));
    };
    const low = await mirroredAt(5);
    const high = await mirroredAt(20);
    assert.ok(low.size > 0);
    for (const k of low)
      assert.ok(high.has(k), `${k} mirrored at 5% must stay at 20%`);
  });

  it("uses each target's salt (default sampling.salt)", async () => {
    const a = keyWhere("s1", 50, true, "salted");
    const b = keyWhere("s1", 50, false, "salted");
    const host = await mirror({
      targets: [{ cluster: "dark", percentage: 50 }],
      sampling: { keys: ["header:x-user-id"], salt: "s1" },
    });
    send(host, { headers: [["x-user-id", a]] });
    send(host, { headers: [["x-user-id", b]] });
    assert.deepEqual(
      host.httpCalls.map((c) => c.headers.get("x-user-id")),
      [a],
    );
    const own = keyWhere("own", 50, true, "own");
    const host2 = await mirror({
      targets: [{ cluster: "dark", percentage: 50, salt: "own" }],
      sampling: { keys: ["header:x-user-id"], salt: "s1" },
    });
    send(host2, { headers: [["x-user-id", own]] });
    assert.equal(
      host2.httpCalls.length,
      mirroredByFormula("own", own, 50) ? 1 : 0,
    );
  });

  // The key is the first present source; each case builds a request whose candidate values are
  // chosen so that only the right source's value is mirrored at 50%.
  const keys = ["header:x-user-id", "cookie:session", "query:uid", "path"];
  const yes = (p: string) => keyWhere("", 50, true, p);
  const no = (p: string) => keyWhere("", 50, false, p);
  const sources: Array<[string, () => Req]> = [
    [
      "the header when present",
      () => ({
        path: `/${no("p")}?uid=${no("q")}`,
        headers: [
          ["x-user-id", yes("h")],
          ["cookie", `session=${no("c")}`],
        ],
      }),
    ],
    [
      "the cookie when the header is absent",
      () => ({
        path: `/${no("p")}?uid=${no("q")}`,
        headers: [["cookie", `a=1; session=${yes("c")}; b=2`]],
      }),
    ],
    [
      "the query parameter, raw, when header and cookie are absent",
      () => ({
        path: `/${no("p")}?x=1&uid=${yes("q")}&y=2`,
        headers: [["cookie", "other=1"]],
      }),
    ],
    [
      "the path without its query when nothing else is present",
      () => ({ path: `${yes("/pp")}?uid=&x=1` }),
    ],
    [
      "an empty header value as absent",
      () => ({
        path: `/${no("p")}?uid=${yes("q")}`,
        headers: [["x-user-id", ""]],
      }),
    ],
  ];
  it("takes a query parameter raw, not percent-decoded", async () => {
    let raw = "";
    for (let n = 0; ; n++) {
      raw = `a%20b-${n}`;
      if (
        mirroredByFormula("", raw, 50) &&
        !mirroredByFormula("", decodeURIComponent(raw), 50)
      )
        break;
    }
    const host = await mirror({
      cluster: "dark",
      percentage: 50,
      sampling: { keys: ["query:uid"] },
    });
    send(host, { path: `/x?uid=${raw}` });
    assert.equal(host.httpCalls.length, 1);
  });

  for (const [name, build] of sources) {
    it(`takes ${name}`, async () => {
      const host = await mirror({
        cluster: "dark",
        percentage: 50,
        sampling: { keys },
      });
      const req = build();
      send(host, req);
      assert.equal(host.httpCalls.length, 1, JSON.stringify(req));
    });
  }

  it("counts a request without any key source as no_key", async () => {
    const host = await mirror({
      cluster: "dark",
      percentage: 100,
      sampling: { keys: ["header:x-user-id"] },
    });
    send(host);
    send(host, { headers: [["x-user-id", ""]] });
    assert.equal(host.httpCalls.length, 0);
    assert.deepEqual(outcomes(host, "dark"), { "skipped.no_key": 2 });
  });

  it("samples on x-request-id by default, and 0% mirrors nothing, 100% everything", async () => {
    const none = await mirror({ cluster: "dark", percentage: 0 });
    const all = await mirror({ cluster: "dark", percentage: 100 });
    for (let i = 0; i < 50; i++) {
      send(none);
      send(all);
    }
    assert.equal(none.httpCalls.length, 0);
    assert.deepEqual(outcomes(none, "dark"), { "skipped.sampled_out": 50 });
    assert.equal(all.httpCalls.length, 50);
  });
});

// ----- methods ------------------------------------------------------------------------------------

describe("methods", () => {
  const unsafe = [{ methods: ["POST"], path_prefix: "/catalog.Reader/" }];
  // [name, config extra, method, path, mirrored]
  const cases: Array<[string, object, string, string, boolean]> = [
    ["mirrors GET by default", {}, "GET", "/a", true],
    ["mirrors HEAD by default", {}, "HEAD", "/a", true],
    ["mirrors OPTIONS by default", {}, "OPTIONS", "/a", true],
    ["skips POST by default", {}, "POST", "/a", false],
    ["skips PUT by default", {}, "PUT", "/a", false],
    ["skips PATCH by default", {}, "PATCH", "/a", false],
    ["skips DELETE by default", {}, "DELETE", "/a", false],
    ["skips CONNECT by default", {}, "CONNECT", "/a", false],
    [
      "skips a lower-case get (methods are case-sensitive)",
      {},
      "get",
      "/a",
      false,
    ],
    [
      "mirrors POST under an unsafe_paths prefix",
      { unsafe_paths: unsafe },
      "POST",
      "/catalog.Reader/List",
      true,
    ],
    [
      "skips POST outside the unsafe_paths prefix",
      { unsafe_paths: unsafe },
      "POST",
      "/catalog.Writer/Put",
      false,
    ],
    [
      "skips PUT under a POST-only unsafe_paths prefix",
      { unsafe_paths: unsafe },
      "PUT",
      "/catalog.Reader/List",
      false,
    ],
    [
      "mirrors what `methods` lists",
      { methods: ["GET", "POST"] },
      "POST",
      "/a",
      true,
    ],
    [
      "skips GET when `methods` leaves it out",
      { methods: ["POST"] },
      "GET",
      "/a",
      false,
    ],
  ];
  for (const [name, extra, method, path, expected] of cases) {
    it(name, async () => {
      const host = await mirror({ ...ALL, ...extra });
      const s = send(host, { method, path });
      assert.equal(host.httpCalls.length, expected ? 1 : 0);
      assert.deepEqual(
        outcomes(host, "dark"),
        expected ? { copies: 1 } : { "skipped.method": 1 },
      );
      assert.deepEqual(s.mutations, [], "the live request is not touched");
      if (expected)
        assert.equal(host.httpCalls[0].headers.get(":method"), method);
    });
  }
});

// ----- loop guard --------------------------------------------------------------------------------

describe("loop guard", () => {
  it("never mirrors a request that carries the marker (inbound: skip)", async () => {
    const host = await mirror(ALL);
    const s = send(host, { headers: [["x-shadow", "true"]] });
    send(host, { headers: [["X-Shadow", "anything"]] });
    assert.equal(host.httpCalls.length, 0);
    assert.deepEqual(outcomes(host, "dark"), { "skipped.loop": 2 });
    assert.equal(
      s.request.headers.get("x-shadow"),
      "true",
      "the live request keeps it",
    );
    assert.deepEqual(s.mutations, []);
  });

  it("uses the configured marker header", async () => {
    const host = await mirror({
      ...ALL,
      marker: { header: "x-dark", value: "1" },
    });
    send(host, { headers: [["x-shadow", "true"]] });
    send(host, { headers: [["x-dark", "1"]] });
    assert.equal(host.httpCalls.length, 1);
    assert.equal(host.httpCalls[0].headers.get("x-dark"), "1");
    assert.equal(counter(host, stat("dark", "skipped.loop")), 1);
  });

  it("strips a client's marker from the live request in edge mode, then mirrors normally", async () => {
    const host = await mirror({ ...ALL, marker: { inbound: "strip" } });
    const s = send(host, {
      headers: [
        ["x-shadow", "forged"],
        ["x-shadow", "twice"],
      ],
    });
    assert.equal(
      s.request.headers.has("x-shadow"),
      false,
      "removed from the live request",
    );
    assert.deepEqual(
      s.mutations.map((m) => [m.op, m.name, m.callback]),
      [["remove", "x-shadow", "proxy_on_request_headers"]],
    );
    assert.equal(host.httpCalls.length, 1);
    assert.deepEqual(host.httpCalls[0].headers.getAll("x-shadow"), ["true"]);
    assert.deepEqual(outcomes(host, "dark"), { copies: 1 });
  });

  it("strips the marker in edge mode even when the request is not mirrored", async () => {
    const host = await mirror({
      targets: [
        { cluster: "dark", percentage: 100, match: { path_prefix: "/orders" } },
      ],
      marker: { inbound: "strip" },
    });
    const post = send(host, {
      method: "POST",
      headers: [["x-shadow", "true"]],
    });
    const other = send(host, {
      path: "/menu",
      headers: [["x-shadow", "true"]],
    });
    assert.equal(post.request.headers.has("x-shadow"), false);
    assert.equal(other.request.headers.has("x-shadow"), false);
    assert.equal(host.httpCalls.length, 0);
  });

  it("does not touch the live request in edge mode when there is no marker", async () => {
    const host = await mirror({ ...ALL, marker: { inbound: "strip" } });
    const s = send(host);
    assert.deepEqual(s.mutations, []);
  });
});

// ----- the copy's headers ----------------------------------------------------------------------

describe("the copy's headers", () => {
  async function copyOf(config: object, req: Req = {}): Promise<HttpCall> {
    const host = await mirror({ ...ALL, ...config });
    const s = send(host, req);
    assert.deepEqual(s.mutations, [], "the live request is not altered");
    assert.equal(host.httpCalls.length, 1);
    return host.httpCalls[0];
  }

  it("keeps the live headers, in order, multi-valued ones included", async () => {
    const call = await copyOf(
      {},
      {
        rawHeaders: [
          [":method", "GET"],
          [":scheme", "https"],
          [":path", "/orders/1?x=1"],
          [":authority", "kitchen"],
          ["x-request-id", "rid-keep"],
          ["accept", "application/json"],
          ["x-multi", "a"],
          ["x-multi", "b"],
          ["user-agent", "curl/8"],
        ],
      },
    );
    assert.deepEqual(call.headers.pairs(), [
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/orders/1?x=1"],
      [":authority", "kitchen"],
      ["x-request-id", "rid-keep"],
      ["accept", "application/json"],
      ["x-multi", "a"],
      ["x-multi", "b"],
      ["user-agent", "curl/8"],
      ["x-shadow", "true"],
    ]);
  });

  it("stamps the configured marker, replacing any inbound one", async () => {
    const call = await copyOf(
      {
        marker: {
          header: "x-dark-launch",
          value: "kitchen-v2",
          inbound: "skip",
        },
      },
      { headers: [["x-shadow", "true"]] },
    );
    assert.deepEqual(call.headers.getAll("x-dark-launch"), ["kitchen-v2"]);
    assert.equal(
      call.headers.get("x-shadow"),
      "true",
      "another header is just a header",
    );
  });

  // [name, target fields, live authority, copy authority]
  const authorities: Array<[string, object, string, string]> = [
    ["keeps the live :authority by default", {}, "kitchen", "kitchen"],
    [
      "appends host_suffix to the host",
      { host_suffix: "-shadow" },
      "kitchen",
      "kitchen-shadow",
    ],
    [
      "appends host_suffix before the port",
      { host_suffix: "-shadow" },
      "kitchen:8080",
      "kitchen-shadow:8080",
    ],
    [
      "sets a literal authority",
      { authority: "kitchen-next.internal" },
      "kitchen:8080",
      "kitchen-next.internal",
    ],
  ];
  for (const [name, target, live, expected] of authorities) {
    it(name, async () => {
      const call = await copyOf(target, { authority: live });
      assert.deepEqual(call.headers.getAll(":authority"), [expected]);
    });
  }

  it("gives a request without :authority one (a dispatch needs it)", async () => {
    const call = await copyOf(
      {},
      {
        rawHeaders: [
          [":method", "GET"],
          [":path", "/a"],
          ["x-request-id", "r"],
        ],
      },
    );
    assert.equal(call.headers.getAll(":authority").length, 1);
  });

  it("keeps x-request-id", async () => {
    const call = await copyOf({}, { headers: [["x-user-id", "u"]] });
    assert.match(call.headers.get("x-request-id") ?? "", /^rid-/);
  });

  it("drops the default credentials", async () => {
    const call = await copyOf(
      {},
      {
        headers: [
          ["authorization", "Bearer t"],
          ["proxy-authorization", "Basic x"],
          ["cookie", "session=s"],
          ["x-forwarded-client-cert", "By=spiffe://x"],
          ["x-keep", "1"],
        ],
      },
    );
    for (const h of [
      "authorization",
      "proxy-authorization",
      "cookie",
      "x-forwarded-client-cert",
    ]) {
      assert.equal(call.headers.has(h), false, h);
    }
    assert.equal(call.headers.get("x-keep"), "1");
  });

  it("drops what headers.remove lists, which replaces the default list", async () => {
    const call = await copyOf(
      { headers: { remove: ["x-internal"] } },
      {
        headers: [
          ["x-internal", "1"],
          ["cookie", "a=1"],
        ],
      },
    );
    assert.equal(call.headers.has("x-internal"), false);
    assert.equal(call.headers.get("cookie"), "a=1");
  });

  it("applies headers.add, replacing a live header of the same name", async () => {
    const call = await copyOf(
      { headers: { add: { "x-env": "dark", "x-new": "1" } } },
      {
        headers: [
          ["x-env", "prod"],
          ["x-env", "prod2"],
        ],
      },
    );
    assert.deepEqual(call.headers.getAll("x-env"), ["dark"]);
    assert.equal(call.headers.get("x-new"), "1");
  });

  it("drops hop-by-hop headers, those named by Connection, and content-length", async () => {
    const call = await copyOf(
      {},
      {
        headers: [
          ["connection", "keep-alive, X-Private"],
          ["keep-alive", "timeout=5"],
          ["proxy-connection", "keep-alive"],
          ["transfer-encoding", "chunked"],
          ["upgrade", "websocket"],
          ["te", "gzip"],
          ["trailer", "x-checksum"],
          ["x-private", "1"],
          ["content-length", "999"],
          ["x-keep", "1"],
        ],
      },
    );
    for (const h of [
      "connection",
      "keep-alive",
      "proxy-connection",
      "transfer-encoding",
      "upgrade",
      "te",
      "trailer",
      "x-private",
      "content-length",
    ]) {
      assert.equal(call.headers.has(h), false, h);
    }
    assert.equal(call.headers.get("x-keep"), "1");
  });

  it("copies header values byte for byte (non-ASCII, binary)", async () => {
    const call = await copyOf({}, { headers: [["x-name", "josé 日本 😀"]] });
    assert.equal(call.headers.get("x-name"), "josé 日本 😀");
  });

  it("dispatches to the target's cluster with its timeout (default 5000 ms)", async () => {
    const host = await mirror({
      targets: [
        {
          cluster: "kitchen-next",
          percentage: 100,
          timeout_ms: 250,
          match: { path_prefix: "/a" },
        },
        { cluster: "other", percentage: 100 },
      ],
    });
    send(host, { path: "/a/1" });
    send(host, { path: "/b" });
    // Every target whose match fits gets its copy: /a/1 goes to both.
    assert.deepEqual(
      host.httpCalls.map((c) => [c.cluster, c.timeoutMs, c.contextId]),
      [
        ["kitchen-next", 250, 1],
        ["other", 5000, 1],
        ["other", 5000, 1],
      ],
    );
  });
});

// ----- targets ------------------------------------------------------------------------------------

describe("targets", () => {
  const config = {
    targets: [
      { cluster: "orders", percentage: 100, match: { path_prefix: "/orders" } },
      {
        cluster: "acme",
        percentage: 100,
        match: { headers: { "x-tenant": "acme" } },
      },
      { cluster: "rest", percentage: 100, match: { path_prefix: "/menu" } },
    ],
  };

  it("gives every target whose match fits its own copy, and counts not_matched on the others", async () => {
    const host = await mirror(config);
    send(host, { path: "/orders/1", headers: [["x-tenant", "acme"]] });
    send(host, { path: "/pay", headers: [["x-tenant", "acme"]] });
    send(host, { path: "/menu/1" });
    send(host, { path: "/pay", headers: [["x-tenant", "ACME"]] });
    assert.deepEqual(
      host.httpCalls.map((c) => c.cluster),
      ["orders", "acme", "acme", "rest"],
    );
    // Each request counts once on every target.
    assert.deepEqual(outcomes(host, "orders"), {
      copies: 1,
      "skipped.not_matched": 3,
    });
    assert.deepEqual(outcomes(host, "acme"), {
      copies: 2,
      "skipped.not_matched": 2,
    });
    assert.deepEqual(outcomes(host, "rest"), {
      copies: 1,
      "skipped.not_matched": 3,
    });
  });

  it("checks the loop guard, method and key on every target whose match fits", async () => {
    const host = await mirror(config);
    send(host, { path: "/orders", method: "POST" });
    send(host, { path: "/menu", headers: [["x-shadow", "true"]] });
    send(host, {
      path: "/menu",
      rawHeaders: [
        [":method", "GET"],
        [":path", "/menu"],
        [":authority", "kitchen"],
        ["x-tenant", "acme"],
      ],
    });
    assert.deepEqual(outcomes(host, "orders"), {
      "skipped.method": 1,
      "skipped.not_matched": 2,
    });
    assert.deepEqual(outcomes(host, "acme"), {
      "skipped.no_key": 1,
      "skipped.not_matched": 2,
    });
    assert.deepEqual(outcomes(host, "rest"), {
      "skipped.loop": 1,
      "skipped.no_key": 1,
      "skipped.not_matched": 1,
    });
    assert.equal(host.httpCalls.length, 0);
  });

  it("sends the same keys to every target with the same salt, each decided by its own percentage", async () => {
    const host = await mirror({
      targets: [
        { cluster: "v2", percentage: 30 },
        { cluster: "v3", percentage: 30 },
        { cluster: "v3-low", percentage: 10 },
        { cluster: "v4-salted", percentage: 30, salt: "v4" },
      ],
      max_inflight: 10000,
    });
    const ids = Array.from({ length: 400 }, (_, i) => `user-${i}`);
    for (const id of ids)
      send(host, {
        rawHeaders: [
          [":method", "GET"],
          [":path", "/menu"],
          [":authority", "k"],
          ["x-request-id", id],
        ],
      });
    const got = (cluster: string) =>
      host.httpCalls
        .filter((c) => c.cluster === cluster)
        .map((c) => c.headers.get("x-request-id"))
        .sort();
    const want = (salt: string, pct: number) =>
      ids.filter((id) => mirroredByFormula(salt, id, pct)).sort();
    assert.deepEqual(got("v2"), want("", 30));
    assert.deepEqual(
      got("v3"),
      got("v2"),
      "a user mirrored to v2 is mirrored to v3",
    );
    assert.deepEqual(got("v3-low"), want("", 10));
    assert.ok(
      got("v3-low").every((id) => got("v2").includes(id)),
      "10 % is inside 30 %",
    );
    assert.deepEqual(got("v4-salted"), want("v4", 30));
    assert.notDeepEqual(
      got("v4-salted"),
      got("v2"),
      "another salt decorrelates",
    );
    for (const t of ["v2", "v3", "v3-low", "v4-salted"]) {
      const o = outcomes(host, t);
      assert.equal(
        (o.copies ?? 0) + (o["skipped.sampled_out"] ?? 0),
        ids.length,
        t,
      );
    }
  });

  it("copies a body once for all targets: each copy carries it, the budget counts it once", async () => {
    const host = await mirror({
      targets: [
        { cluster: "v2", percentage: 100 },
        { cluster: "v3", percentage: 100, authority: "v3.internal" },
      ],
      unsafe_paths: [{ methods: ["POST"], path_prefix: "/" }],
    });
    const s = send(host, {
      method: "POST",
      body: ["0123456789", "abcdef"],
      open: true,
    });
    assert.deepEqual(
      host.httpCalls.map((c) => [
        c.cluster,
        c.body.toString(),
        c.headers.get(":authority"),
      ]),
      [
        ["v2", "0123456789abcdef", "kitchen"],
        ["v3", "0123456789abcdef", "v3.internal"],
      ],
    );
    // Held now: two copies' bookkeeping (512 bytes each), no body or headers any more.
    assert.equal(gauge(host, "mirror_buffered_bytes"), 2 * 512);
    s.responseHeaders([[":status", "200"]], true);
    answerAll(host);
    s.done();
    assert.equal(gauge(host, "mirror_buffered_bytes"), 0);
    assert.equal(gauge(host, stat("v2", "inflight")), 0);
  });
});

// ----- bodies ------------------------------------------------------------------------------------

describe("bodies", () => {
  const post = {
    ...ALL,
    unsafe_paths: [{ methods: ["POST"], path_prefix: "/" }],
    max_body_bytes: 10,
  };

  // [name, chunks, trailers, mirrored body | null (abandoned), dispatching callback]
  const cases: Array<
    [string, string[], Pairs | undefined, string | null, string]
  > = [
    [
      "a headers-only request is sent at its headers",
      [],
      undefined,
      "",
      "proxy_on_request_headers",
    ],
    ["one chunk", ["hello"], undefined, "hello", "proxy_on_request_body"],
    [
      "chunks, joined in order",
      ["he", "ll", "o"],
      undefined,
      "hello",
      "proxy_on_request_body",
    ],
    [
      "an empty last chunk ends the request",
      ["hello", ""],
      undefined,
      "hello",
      "proxy_on_request_body",
    ],
    [
      "exactly max_body_bytes",
      ["12345", "67890"],
      undefined,
      "1234567890",
      "proxy_on_request_body",
    ],
    [
      "one byte past the cap, across chunks",
      ["12345", "678901"],
      undefined,
      null,
      "",
    ],
    ["past the cap in the first chunk", ["12345678901"], undefined, null, ""],
    [
      "trailers end the request",
      ["abc"],
      [["x-checksum", "1"]],
      "abc",
      "proxy_on_request_trailers",
    ],
  ];
  for (const [name, chunks, trailers, expected, callback] of cases) {
    it(name, async () => {
      const host = await mirror(post);
      const s = send(host, { method: "POST", body: chunks, trailers });
      assert.equal(
        s.request.body.toString(),
        chunks.join(""),
        "the live body flows on",
      );
      if (expected === null) {
        assert.equal(host.httpCalls.length, 0);
        assert.deepEqual(outcomes(host, "dark"), {
          "skipped.body_too_large": 1,
        });
        return;
      }
      assert.equal(host.httpCalls.length, 1);
      const call = host.httpCalls[0];
      assert.equal(call.body.toString(), expected);
      assert.equal(call.dispatchedIn, callback);
      // Envoy's async client sends no request trailers: none are handed to it.
      assert.equal(call.trailers.size, 0);
      assert.deepEqual(outcomes(host, "dark"), { copies: 1 });
    });
  }

  it("with max_body_bytes 0, mirrors bodiless requests only", async () => {
    const host = await mirror({ ...post, max_body_bytes: 0 });
    send(host, { method: "POST" });
    send(host, { method: "POST", body: ["x"] });
    assert.deepEqual(outcomes(host, "dark"), {
      copies: 1,
      "skipped.body_too_large": 1,
    });
  });

  it("copies a large body (default cap, 64 KiB in 1 KiB chunks) byte for byte", async () => {
    const host = await mirror({ ...post, max_body_bytes: 65536 });
    const body = Buffer.alloc(65536);
    for (let i = 0; i < body.length; i++) body[i] = (i * 131 + 7) & 0xff;
    const chunks = Array.from({ length: 64 }, (_, i) =>
      body.subarray(i * 1024, (i + 1) * 1024),
    );
    send(host, { method: "POST", body: chunks });
    assert.equal(host.httpCalls.length, 1);
    assert.ok(host.httpCalls[0].body.equals(body));
  });

  it("keeps memory bounded over many mirrored bodies", async () => {
    const host = await mirror({ ...post, max_body_bytes: 65536 });
    const chunk = Buffer.alloc(16384, 0x61);
    const run = (n: number) => {
      for (let i = 0; i < n; i++) {
        send(host, { method: "POST", body: [chunk, chunk] });
        answerAll(host);
      }
    };
    run(300);
    const warm = host.memoryBytes();
    run(1500);
    assert.ok(
      host.memoryBytes() <= warm + 4 * 1024 * 1024,
      `memory grew from ${warm} to ${host.memoryBytes()} bytes`,
    );
    assert.equal(host.httpCalls.length, 1800);
  });

  it("stays far below the VM's 1 GiB with 16 MiB bodies (collects by bytes, not only by count)", async () => {
    const host = await mirror({ ...post, max_body_bytes: 16 << 20 });
    const chunk = Buffer.alloc(1 << 20, 0x62);
    const body = Array.from({ length: 16 }, () => chunk);
    for (let i = 0; i < 40; i++) {
      send(host, { method: "POST", body });
      answerAll(host);
    }
    assert.equal(host.httpCalls.length, 40);
    assert.equal(host.httpCalls[39].body.length, 16 << 20);
    const mib = host.memoryBytes() / (1 << 20);
    assert.ok(mib <= 160, `linear memory reached ${mib} MiB`);
  });
});

describe("config churn", () => {
  it("keeps memory bounded when configs replace each other faster than Envoy deletes the old roots", async () => {
    // Over LDS a replaced root lives until the old listener drains (600 s by default). Each
    // root here compares 1000 JSON bodies at once and is never deleted: idle digests kept for
    // reuse by every one of them (about 10 MiB a root) grew linear memory past 400 MiB.
    const host = await load();
    const json = '{"order":42,"items":["fries"],"at":"2026-11-28T00:00:00Z"}';
    const headers: Array<[string, string]> = [
      [":status", "200"],
      ["content-type", "application/json"],
    ];
    for (let round = 0; round < 16; round++) {
      assert.ok(
        host.configure(
          JSON.stringify({
            cluster: "dark",
            percentage: 100,
            max_inflight: 1000,
            compare: { body: "json" },
          }),
        ),
      );
      const open = [];
      for (let i = 0; i < 1000; i++) {
        const s = host.stream();
        s.requestHeaders(
          [
            [":method", "GET"],
            [":path", "/orders/42"],
            [":authority", "kitchen"],
            ["x-request-id", `r${round}-${i}`],
          ],
          true,
        );
        open.push(s);
      }
      for (const c of host.pendingCalls())
        host.respond(c, {
          status: 200,
          headers: { "content-type": "application/json" },
          body: json,
        });
      for (const s of open) {
        s.responseHeaders(headers);
        s.responseBody(json, true);
        s.done();
      }
      host.advance(600);
      host.tick();
    }
    assert.equal(host.pendingCalls().length, 0);
    // docs/hostile.md, "Memory": 2 × (budget + max_body_bytes + 6 MiB), with the defaults
    const bound = 2 * (32 + 1 / 16 + 6) * (1 << 20);
    assert.ok(
      host.memoryBytes() <= bound,
      `linear memory reached ${host.memoryBytes() / (1 << 20)} MiB`,
    );
  });
});

// ----- resets ------------------------------------------------------------------------------------

describe("reset streams", () => {
  const post = {
    ...ALL,
    unsafe_paths: [{ methods: ["POST"], path_prefix: "/" }],
  };

  it("does not mirror a request reset after its headers", async () => {
    const host = await mirror(post);
    send(host, { method: "POST", reset: true });
    assert.equal(host.httpCalls.length, 0);
    assert.deepEqual(outcomes(host, "dark"), { "skipped.live_reset": 1 });
  });

  it("does not mirror a request reset in the middle of its body", async () => {
    const host = await mirror(post);
    send(host, { method: "POST", body: ["part"], reset: true });
    assert.equal(host.httpCalls.length, 0);
    assert.deepEqual(outcomes(host, "dark"), { "skipped.live_reset": 1 });
  });

  it("keeps a copy already sent when the stream is reset while the response is pending", async () => {
    const host = await mirror(post);
    const s = send(host, { method: "POST", body: ["all"], open: true });
    s.reset();
    assert.equal(host.httpCalls.length, 1);
    assert.deepEqual(outcomes(host, "dark"), { copies: 1 });
    host.respond(host.httpCalls[0], { status: 200 });
    assert.equal(counter(host, stat("dark", "dark.2xx")), 1);
  });

  it("counts a reset of a request that was not going to be mirrored under its own reason", async () => {
    const host = await mirror({ cluster: "dark", percentage: 0 });
    send(host, { reset: true, body: ["x"] });
    assert.deepEqual(outcomes(host, "dark"), { "skipped.sampled_out": 1 });
  });
});

// ----- dispatch ----------------------------------------------------------------------------------

describe("dispatch failures", () => {
  // [name, cluster state, reason]
  const cases: Array<[string, "missing" | "no_healthy_host", string]> = [
    [
      "counts an unknown cluster (BadArgument) as dispatch_failures{unknown_cluster}",
      "missing",
      "dispatch_failures.unknown_cluster",
    ],
    [
      "counts a cluster without a healthy host (InternalFailure) as dispatch_failures{no_healthy_host}",
      "no_healthy_host",
      "dispatch_failures.no_healthy_host",
    ],
  ];
  for (const [name, state, reason] of cases) {
    it(name, async () => {
      const host = await mirror(ALL, { clusters: { dark: state } });
      send(host);
      assert.equal(host.httpCalls.length, 0);
      assert.equal(host.rejectedHttpCalls.length, 1);
      assert.deepEqual(outcomes(host, "dark"), { [reason]: 1 });
      assert.equal(gauge(host, stat("dark", "inflight")), 0);
      const warns = host.logs("warn");
      assert.equal(warns.length, 1);
      assert.match(warns[0].message, /dark/);
    });
  }

  it("logs dispatch failures at most once a second", async () => {
    const host = await mirror(ALL, { clusters: { dark: "missing" } });
    for (let i = 0; i < 5; i++) send(host);
    assert.equal(host.logs("warn").length, 1);
    host.advance(999);
    send(host);
    assert.equal(host.logs("warn").length, 1);
    host.advance(2);
    send(host);
    assert.equal(host.logs("warn").length, 2);
    assert.equal(
      counter(host, stat("dark", "dispatch_failures.unknown_cluster")),
      7,
    );
    assert.deepEqual(host.logsAtLeast("error"), []);
  });

  it("mirrors again once the cluster is back", async () => {
    const host = await mirror(ALL, { clusters: { dark: "missing" } });
    send(host);
    host.setCluster("dark", "healthy");
    send(host);
    assert.deepEqual(outcomes(host, "dark"), {
      copies: 1,
      "dispatch_failures.unknown_cluster": 1,
    });
  });

  it("skips as overloaded when max_inflight copies are pending", async () => {
    const host = await mirror({ ...ALL, max_inflight: 2 });
    send(host);
    send(host);
    send(host);
    assert.equal(gauge(host, stat("dark", "inflight")), 2);
    assert.deepEqual(outcomes(host, "dark"), {
      copies: 2,
      "skipped.overloaded": 1,
    });
    host.respond(host.httpCalls[0], { status: 200 });
    send(host);
    assert.deepEqual(outcomes(host, "dark"), {
      copies: 3,
      "skipped.overloaded": 1,
    });
    assert.equal(gauge(host, stat("dark", "inflight")), 2);
  });
});

// ----- dark responses ------------------------------------------------------------------------------

describe("dark responses", () => {
  type Answer = number | "reset" | "timeout" | "no healthy upstream";
  // [name, how the call ends, counter]
  const classes: Array<[string, Answer, string]> = [
    ["counts 200 as 2xx", 200, "dark.2xx"],
    ["counts 204 as 2xx", 204, "dark.2xx"],
    ["counts 302 as 3xx", 302, "dark.3xx"],
    ["counts 404 as 4xx", 404, "dark.4xx"],
    ["counts the dark upstream's own 503 as 5xx", 503, "dark.5xx"],
    ["counts the dark upstream's own 504 as 5xx", 504, "dark.5xx"],
    ["counts a reset (no headers) as rq_reset", "reset", "dark.reset"],
    [
      "counts Envoy's timeout reply (504, no upstream) as rq_reset",
      "timeout",
      "dark.reset",
    ],
    [
      "counts Envoy's 503 when no upstream answered as rq_reset",
      "no healthy upstream",
      "dark.reset",
    ],
  ];
  for (const [name, answer, key] of classes) {
    it(name, async () => {
      const host = await mirror(ALL);
      send(host);
      assert.equal(gauge(host, stat("dark", "inflight")), 1);
      host.advance(37);
      const call = host.httpCalls[0];
      if (answer === "reset") host.respondReset(call);
      else if (answer === "timeout") host.respondTimeout(call);
      else if (answer === "no healthy upstream")
        host.respondLocal(call, 503, answer);
      else host.respond(call, { status: answer, body: "dark body" });
      assert.equal(counter(host, stat("dark", key)), 1);
      const all = keysOf("dark");
      assert.equal(
        all.reduce((n, c) => n + counter(host, stat("dark", c)), 0),
        1,
        "exactly one class",
      );
      assert.equal(gauge(host, stat("dark", "inflight")), 0);
      // An answer has a latency; a reset, a timeout or Envoy's own reply has none.
      assert.deepEqual(
        host.histogram(stat("dark", "dark.duration")),
        key === "dark.reset" ? [] : [37_000],
      );
    });
  }

  it("counts a response that arrives after the live stream was deleted", async () => {
    const host = await mirror(ALL);
    const s = send(host);
    assert.equal(s.deleted, true);
    assert.equal(
      host.httpCalls[0].contextId,
      s.rootId,
      "the call belongs to the root context",
    );
    host.advance(5);
    host.respond(host.httpCalls[0], { status: 500 });
    assert.equal(counter(host, stat("dark", "dark.5xx")), 1);
    assert.deepEqual(host.histogram(stat("dark", "dark.duration")), [5_000]);
  });

  it("takes a large dark body without trouble", async () => {
    const host = await mirror(ALL);
    send(host);
    host.respond(host.httpCalls[0], {
      status: 200,
      body: Buffer.alloc(1 << 20, 0x62),
    });
    assert.equal(counter(host, stat("dark", "dark.2xx")), 1);
  });

  it("tells apart calls of an old and a new root context that share a token", async () => {
    const host = await mirror({ ...ALL, max_inflight: 10 });
    send(host);
    assert.equal(
      host.configure(JSON.stringify({ cluster: "dark", percentage: 100 })),
      true,
    );
    send(host);
    const [oldCall, newCall] = host.httpCalls;
    assert.equal(
      oldCall.token,
      newCall.token,
      "Envoy numbers calls per root context",
    );
    assert.notEqual(oldCall.contextId, newCall.contextId);
    host.advance(10);
    host.respond(oldCall, { status: 200 });
    host.advance(10);
    host.respond(newCall, { status: 503 });
    assert.equal(counter(host, stat("dark", "dark.2xx")), 1);
    assert.equal(counter(host, stat("dark", "dark.5xx")), 1);
    assert.deepEqual(
      host.histogram(stat("dark", "dark.duration")),
      [10_000, 20_000],
    );
    assert.equal(gauge(host, stat("dark", "inflight")), 0);
  });

  it("frees the in-flight slots of a retired root context's cancelled calls", async () => {
    const host = await mirror({ ...ALL, max_inflight: 2 });
    send(host);
    send(host);
    const oldRoot = host.rootContextId;
    assert.equal(
      host.configure(JSON.stringify({ ...ALL, max_inflight: 2 })),
      true,
    );
    host.retireRoot(oldRoot);
    assert.ok(host.httpCalls.every((c) => c.state === "cancelled"));
    // Envoy never answers a cancelled call: the filter must not keep counting them.
    send(host);
    assert.equal(
      counter(host, stat("dark", "copies")),
      3,
      "room for a new copy",
    );
    assert.equal(gauge(host, stat("dark", "inflight")), 1);
    // Their comparisons are incomplete (no dark answer will come), never a mismatch.
    assert.equal(counter(host, stat("dark", "dark.reset")), 2);
    assert.equal(counter(host, stat("dark", "not_compared.incomplete")), 2);
    assert.equal(counter(host, stat("dark", "compared.status_mismatch")), 0);
    assert.deepEqual(
      host.logs("info").filter((l) => l.message.startsWith("mirror mismatch")),
      [],
    );
  });

  it("frees overdue calls the host never answered, counting them as rq_reset", async () => {
    const host = await mirror({ ...ALL, max_inflight: 1, timeout_ms: 100 });
    send(host);
    host.advance(100 + 10_000);
    send(host);
    assert.equal(counter(host, stat("dark", "copies")), 2);
    assert.equal(counter(host, stat("dark", "dark.reset")), 1);
    assert.equal(counter(host, stat("dark", "not_compared.incomplete")), 1);
    assert.equal(gauge(host, stat("dark", "inflight")), 1);
    host.respond(host.httpCalls[1], { status: 200 });
    assert.equal(gauge(host, stat("dark", "inflight")), 0);
  });

  it("gives a max_rps token back when Envoy refuses the copy", async () => {
    const host = await mirror(
      { ...ALL, max_rps: 1 },
      { clusters: { dark: "missing" } },
    );
    send(host);
    host.setCluster("dark", "healthy");
    send(host);
    assert.deepEqual(outcomes(host, "dark"), {
      copies: 1,
      "dispatch_failures.unknown_cluster": 1,
    });
  });
});

// ----- stats against what was dispatched ----------------------------------------------------------

describe("stats", () => {
  it("match what was dispatched, one outcome per request, over a mixed workload", async () => {
    const host = await mirror(
      {
        cluster: "dark",
        percentage: 50,
        sampling: { keys: ["header:x-user-id"] },
        unsafe_paths: [{ methods: ["POST"], path_prefix: "/pay" }],
        max_body_bytes: 8,
        max_inflight: 20,
      },
      { clusters: { dark: "healthy" } },
    );
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const n = 3000;
    let answered = 0;
    for (let i = 0; i < n; i++) {
      if (i % 500 === 250) host.setCluster("dark", "no_healthy_host");
      if (i % 500 === 300) host.setCluster("dark", "healthy");
      const req: Req = {
        method: ["GET", "POST", "PUT", "HEAD"][rnd(4)],
        path: rnd(2) ? "/pay/1" : "/menu",
        headers: [],
      };
      if (rnd(10) > 0) req.headers!.push(["x-user-id", `u${rnd(1000)}`]);
      if (rnd(20) === 0) req.headers!.push(["x-shadow", "true"]);
      if (rnd(3) === 0) req.body = ["abcd", "efghij".slice(0, rnd(7))];
      if (rnd(25) === 0) req.reset = true;
      send(host, req);
      host.advance(rnd(3));
      const pending = host.pendingCalls();
      if (pending.length > 0 && rnd(3) === 0) {
        const call = pending[rnd(pending.length)];
        if (rnd(5) === 0) host.respondReset(call);
        else host.respond(call, { status: [200, 302, 404, 503][rnd(4)] });
        answered++;
      }
    }
    const o = outcomes(host, "dark");
    assert.equal(
      Object.values(o).reduce((a, b) => a + b, 0),
      n,
      `one outcome per request: ${JSON.stringify(o)}`,
    );
    assert.equal(o.copies, host.httpCalls.length);
    assert.equal(
      (o["dispatch_failures.unknown_cluster"] ?? 0) +
        (o["dispatch_failures.no_healthy_host"] ?? 0),
      host.rejectedHttpCalls.length,
    );
    for (const reason of [
      "method",
      "loop",
      "no_key",
      "sampled_out",
      "body_too_large",
      "live_reset",
    ]) {
      assert.ok(
        o[`skipped.${reason}`] > 0,
        `the workload exercises skipped.${reason}`,
      );
    }
    const dark = keysOf("dark").reduce(
      (sum, k) => sum + counter(host, stat("dark", k)),
      0,
    );
    assert.equal(dark, answered);
    // Resets have no latency: every other answer has one.
    assert.equal(
      host.histogram(stat("dark", "dark.duration")).length,
      answered - counter(host, stat("dark", "dark.reset")),
    );
    assert.equal(
      gauge(host, stat("dark", "inflight")),
      host.pendingCalls().length,
    );
    assert.ok(host.pendingCalls().length <= 20);
    answerAll(host, 200, 1);
    assert.equal(gauge(host, stat("dark", "inflight")), 0);
  });
});

// ----- robustness -------------------------------------------------------------------------------

describe("nothing traps", () => {
  // [name, request]
  const odd: Array<[string, Req]> = [
    ["no pseudo-headers at all", { rawHeaders: [["x-request-id", "r"]] }],
    [
      "no :method",
      {
        rawHeaders: [
          [":path", "/"],
          [":authority", "a"],
          ["x-request-id", "r"],
        ],
      },
    ],
    [
      "no :path",
      {
        rawHeaders: [
          [":method", "GET"],
          [":authority", "a"],
          ["x-request-id", "r"],
        ],
      },
    ],
    ["an empty :path", { path: "" }],
    ["a 64 KiB header value", { headers: [["x-big", "v".repeat(65536)]] }],
    [
      "300 headers",
      {
        headers: Array.from(
          { length: 300 },
          (_, i) => [`x-h${i}`, `${i}`] as [string, string],
        ),
      },
    ],
    ["binary header bytes", { headers: [["x-bin", "\u00ff\u0000\u0001"]] }],
    [
      "a Connection header naming everything",
      { headers: [["connection", ",,, ,x-a,,,:authority, cookie"]] },
    ],
    [
      "a cookie header of only separators",
      { headers: [["cookie", ";;; ; ="]] },
    ],
    ["a query of only separators", { path: "/?&&=&uid=&uid" }],
    ["a huge body chunk", { body: [Buffer.alloc(1 << 20)] }],
    ["a reset with trailers pending", { body: ["x"], reset: true }],
  ];
  for (const [name, req] of odd) {
    it(`on a request with ${name}`, async () => {
      const host = await mirror({
        cluster: "dark",
        percentage: 100,
        sampling: {
          keys: [
            "header:x-user-id",
            "cookie:s",
            "query:uid",
            "path",
            "header:x-request-id",
          ],
        },
        unsafe_paths: [{ methods: ["POST"], path_prefix: "/" }],
      });
      send(host, req);
      answerAll(host);
    });
  }

  it("on a 20 000-character cluster name, without exhausting memory", async () => {
    const host = await load();
    host.configure(
      JSON.stringify({ cluster: "c".repeat(20_000), percentage: 1 }),
    );
    const mib = host.memoryBytes() / (1 << 20);
    assert.ok(
      mib <= 64,
      `configure grew memory to ${mib} MiB (Envoy's cap is 1 GiB per VM)`,
    );
  });

  it("on response callbacks of every kind", async () => {
    const host = await mirror(ALL);
    const s = send(host, { open: true });
    s.responseHeaders([[":status", "200"]], false);
    s.responseBody("live body", false);
    s.responseTrailers([["grpc-status", "0"]]);
    s.done();
    answerAll(host, 200);
    const t = send(host, { open: true });
    t.responseHeaders([[":status", "abc"]], false);
    t.responseBody("", true);
    t.done();
    answerAll(host, 999);
  });

  it("on a stream under a root context whose configuration was refused", async () => {
    const host = await load();
    assert.equal(host.configure("not json"), false);
    const s = host.stream(1);
    watched(s);
    s.requestHeaders(
      [
        [":method", "GET"],
        [":path", "/"],
        ["x-request-id", "r"],
      ],
      false,
    );
    s.requestBody("x", true);
    s.responseHeaders([[":status", "200"]], true);
    s.done();
    assert.equal(host.httpCalls.length, 0);
  });
});
