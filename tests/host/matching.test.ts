/**
 * The target fields of the Gateway API mapping, through the release build/mirror.wasm on the
 * host emulator: `clusters` (the names Envoy refuses as unknown are skipped, the one it accepts
 * is kept until it is refused, the failure names every one), `label` (two targets on one cluster,
 * each with its own metrics and sample lines), every error of a refused configuration logged, one
 * line each; and `match`, checked against a model written here from the documented semantics on
 * seeded random configurations and requests (JavaScript's RegExp for the patterns), with hostile
 * bytes in paths and headers: nothing traps, every callback answers Continue.
 *
 * MATCHING_SEED replays a run.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LogLevel, type Host } from "../../tools/emulator/index.ts";
import { checkAfterEach, load, mirror, watched } from "./drive.ts";
import { rng, type Rng } from "./rng.ts";
import { counter, stat } from "./stats.ts";

checkAfterEach();

const SEED = Number(process.env.MATCHING_SEED ?? 0x6a7e3a11);
const SIDECAR = "outbound|8080||kitchen.default.svc.cluster.local";
const WAYPOINT = "inbound-vip|8080|http|kitchen.default.svc.cluster.local";

let ids = 0;

/** One request to `host`, its headers ended with the stream, answered 200. */
function send(
  host: Host,
  path: string | Uint8Array = "/menu",
  headers: Array<[string, string | Uint8Array]> = [],
  method = "GET",
): void {
  const s = watched(host.stream());
  s.requestHeaders(
    [
      [":method", method],
      [":path", path],
      [":authority", "kitchen"],
      ["x-request-id", `req-${ids++}`],
      ...headers,
    ],
    true,
  );
  s.responseHeaders([[":status", "200"]], true);
  s.done();
}

describe("clusters", () => {
  it("skips a name Envoy does not know for the next, and keeps the one it accepts", async () => {
    const host = await mirror(
      { targets: [{ clusters: [SIDECAR, WAYPOINT], percentage: 100 }] },
      { clusters: { [SIDECAR]: "missing", [WAYPOINT]: "healthy" } },
    );
    for (let i = 0; i < 3; i++) send(host);
    assert.deepEqual(
      host.httpCalls.map((c) => c.cluster),
      [WAYPOINT, WAYPOINT, WAYPOINT],
    );
    // Only the first request tried the sidecar's name.
    assert.deepEqual(
      host.rejectedHttpCalls.map((c) => c.cluster),
      [SIDECAR],
    );
    assert.equal(counter(host, stat(SIDECAR, "copies")), 3);
    assert.equal(
      counter(host, stat(SIDECAR, "dispatch_failures.unknown_cluster")),
      0,
    );
    assert.deepEqual(
      host.logs("info").map((l) => l.message),
      [
        `mirror: target ${SIDECAR}: cluster '${SIDECAR}' is unknown to Envoy, dispatching to '${WAYPOINT}'`,
      ],
    );
    assert.deepEqual(host.logsAtLeast("warn"), []);

    // The name in use goes away and the first comes: the first is found again.
    host.setCluster(WAYPOINT, "missing");
    host.setCluster(SIDECAR, "healthy");
    send(host);
    send(host);
    assert.deepEqual(
      host.httpCalls.slice(3).map((c) => c.cluster),
      [SIDECAR, SIDECAR],
    );
    assert.deepEqual(
      host.rejectedHttpCalls.map((c) => c.cluster),
      [SIDECAR, WAYPOINT],
    );
    assert.equal(counter(host, stat(SIDECAR, "copies")), 5);
  });

  it("counts one unknown_cluster failure when every name is refused, and names them all", async () => {
    const host = await mirror(
      {
        targets: [
          {
            clusters: [SIDECAR, WAYPOINT, "dark"],
            percentage: 100,
            label: "k",
          },
        ],
      },
      { clusters: {} },
    );
    send(host);
    send(host);
    assert.equal(host.httpCalls.length, 0);
    assert.equal(host.rejectedHttpCalls.length, 6);
    assert.equal(
      counter(host, stat("k", "dispatch_failures.unknown_cluster")),
      2,
    );
    assert.equal(counter(host, stat("k", "copies")), 0);
    const warns = host.logs("warn").map((l) => l.message);
    assert.deepEqual(warns, [
      `mirror: dispatch to clusters '${SIDECAR}', '${WAYPOINT}', 'dark' failed: BadArgument (unknown cluster, or :method/:path/:authority missing) (1 failure(s) since the last report)`,
    ]);
    assert.deepEqual(host.logs("info"), []);
  });

  it("stops at a known name without a healthy host, and dispatches there once it has one", async () => {
    const host = await mirror(
      { targets: [{ clusters: [SIDECAR, WAYPOINT, "dark"], percentage: 100 }] },
      {
        clusters: {
          [SIDECAR]: "missing",
          [WAYPOINT]: "no_healthy_host",
          dark: "healthy",
        },
      },
    );
    send(host);
    assert.equal(host.httpCalls.length, 0);
    assert.equal(
      counter(host, stat(SIDECAR, "dispatch_failures.no_healthy_host")),
      1,
    );
    assert.match(
      host.logs("warn")[0].message,
      new RegExp(
        `^mirror: dispatch to cluster '${escape(WAYPOINT)}' failed: InternalFailure`,
      ),
    );
    host.setCluster(WAYPOINT, "healthy");
    send(host);
    assert.deepEqual(
      host.httpCalls.map((c) => c.cluster),
      [WAYPOINT],
    );
    // The second request started with the waypoint's name: the sidecar's was tried once.
    assert.deepEqual(
      host.rejectedHttpCalls.map((c) => c.cluster),
      [SIDECAR, WAYPOINT],
    );
  });

  it("behaves as a single cluster with one name: the log line names it as before", async () => {
    const host = await mirror(
      { targets: [{ clusters: ["dark"], percentage: 100 }] },
      { clusters: { dark: "missing" } },
    );
    send(host);
    assert.equal(
      counter(host, stat("dark", "dispatch_failures.unknown_cluster")),
      1,
    );
    assert.match(
      host.logs("warn")[0].message,
      /^mirror: dispatch to cluster 'dark' failed: BadArgument/,
    );
  });
});

function escape(s: string): string {
  return s.replace(/[|.]/g, "\\$&");
}

describe("label", () => {
  it("lets two targets share a cluster, each with its own metrics and sample lines", async () => {
    const host = await mirror({
      targets: [
        {
          cluster: "kitchen-next",
          percentage: 100,
          label: "orders",
          match: { path_segment_prefix: "/orders" },
        },
        {
          cluster: "kitchen-next",
          percentage: 100,
          label: "menu",
          match: { path_exact: "/menu" },
        },
      ],
      compare: { status: "exact", samples_per_second: 10 },
    });
    send(host, "/orders/1");
    send(host, "/menu");
    send(host, "/orders-all");
    assert.deepEqual(
      host.httpCalls.map((c) => [c.cluster, c.headers.get(":path")]),
      [
        ["kitchen-next", "/orders/1"],
        ["kitchen-next", "/menu"],
      ],
    );
    assert.equal(counter(host, stat("orders", "copies")), 1);
    assert.equal(counter(host, stat("menu", "copies")), 1);
    assert.equal(counter(host, stat("orders", "skipped.not_matched")), 2);
    assert.equal(counter(host, stat("menu", "skipped.not_matched")), 2);
    assert.equal(host.metric(stat("kitchen-next", "copies")), undefined);
    host.respond(host.httpCalls[0], { status: 500 });
    const samples = host
      .logs("info")
      .map((l) => l.message)
      .filter((m) => m.startsWith("mirror mismatch:"));
    assert.equal(samples.length, 1);
    assert.match(
      samples[0],
      /^mirror mismatch: target=orders result=status_mismatch /,
    );
  });
});

describe("a refused configuration", () => {
  it("logs every error, one line each, the first as a lone error would be", async () => {
    const host = await load();
    const config = JSON.stringify({
      targets: [
        { cluster: "kitchen-next", percentage: 150 },
        {
          cluster: "kitchen-next",
          percentage: 10,
          label: "menu",
          match: [
            { path_exact: "/menu", path_prefix: "/m" },
            { method: "get" },
          ],
        },
      ],
      max_inflight: 0,
    });
    assert.equal(host.configure(config), false);
    assert.deepEqual(
      host.logsAtLeast("warn").map((l) => [l.level, l.message]),
      [
        "targets[0].percentage: must be between 0 and 100, got 150",
        "targets[1].match[0].path_prefix: cannot be combined with path_exact (one path condition per match object)",
        'targets[1].match[1].method: must be an upper-case HTTP method token, got "get"',
        "max_inflight: must be between 1 and 100000, got 0",
      ].map((m) => [LogLevel.error, `invalid plugin config: ${m}`]),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The model: the documented semantics of `match`, written independently of the filter.

type Value = string | { exact: string } | { regex: string };
interface MatchObject {
  path_prefix?: string;
  path_exact?: string;
  path_segment_prefix?: string;
  path_regex?: string;
  headers?: Record<string, Value>;
  query?: Record<string, Value>;
  method?: string;
}
interface Request {
  method: string;
  path: string;
  headers: Array<[string, string]>;
}

function whole(pattern: string, value: string): boolean {
  let p = pattern;
  let flags = "u";
  if (p.startsWith("(?i)")) {
    p = p.slice(4);
    flags += "i";
  }
  return new RegExp(`^(?:${p})$`, flags).test(value);
}

function valueFits(v: Value, actual: string | undefined): boolean {
  if (actual === undefined) return false;
  if (typeof v === "string") return actual === v;
  if ("exact" in v) return actual === v.exact;
  return whole(v.regex, actual);
}

function pathOnly(path: string): string {
  const cut = path.search(/[?#]/);
  return cut < 0 ? path : path.slice(0, cut);
}

/** The raw value of the first parameter `name` ("" without "="), or undefined. */
function firstParam(path: string, name: string): string | undefined {
  const q = path.indexOf("?");
  const hash = path.indexOf("#");
  if (q < 0 || (hash >= 0 && hash < q)) return undefined;
  const query = path.slice(q + 1).split("#")[0];
  for (const part of query.split("&")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    if (key === name) return eq < 0 ? "" : part.slice(eq + 1);
  }
  return undefined;
}

function fits(m: MatchObject, r: Request): boolean {
  const path = pathOnly(r.path);
  if (m.path_prefix !== undefined && !r.path.startsWith(m.path_prefix))
    return false;
  if (m.path_exact !== undefined && path !== m.path_exact) return false;
  if (m.path_segment_prefix !== undefined) {
    const p = m.path_segment_prefix.replace(/\/+$/, "");
    if (!(path === p || path.startsWith(p + "/"))) return false;
  }
  if (m.path_regex !== undefined && !whole(m.path_regex, path)) return false;
  if (m.method !== undefined && r.method !== m.method) return false;
  for (const [name, v] of Object.entries(m.headers ?? {})) {
    const h = r.headers.find(([n]) => n === name.toLowerCase());
    if (!valueFits(v, h?.[1])) return false;
  }
  for (const [name, v] of Object.entries(m.query ?? {})) {
    if (!valueFits(v, firstParam(r.path, name))) return false;
  }
  return true;
}

function targetFits(
  match: MatchObject | MatchObject[] | undefined,
  r: Request,
) {
  if (match === undefined) return true;
  return Array.isArray(match) ? match.some((m) => fits(m, r)) : fits(match, r);
}

// ---------------------------------------------------------------------------------------------
// Random configurations and requests over a small vocabulary, so that matches happen.

const SEGMENTS = [
  "a",
  "ab",
  "percent-mirror",
  "percent-mirror-fraction",
  "api",
  "v1",
  "v22",
  "é",
  "%2F",
];
const PATTERNS = [
  "/api/.*",
  "/a(b|c)?(/.*)?",
  "[a-z0-9]+",
  ".*",
  "v[0-9]+",
  "(?i)acme",
  "/percent-mirror(/.*)?",
  "",
  "[^/]*é",
  "(a|b)+",
  "\\d{2,3}",
];
const HEADER_NAMES = ["x-tenant", "X-Region", "x-flag"];
const HEADER_VALUES = ["acme", "ACME", "globex", "", "12", "a b"];
const QUERY_NAMES = ["id", "v", "debug"];
const QUERY_VALUES = ["1", "22", "333", "", "a%20b", "acme"];
const METHODS = ["GET", "POST", "PUT"];

function randomPath(r: Rng): string {
  let p = "";
  const n = r.int(4);
  for (let i = 0; i < n; i++) p += "/" + r.pick(SEGMENTS);
  if (n === 0 || r.chance(0.15)) p += "/";
  if (r.chance(0.4)) {
    const parts: string[] = [];
    for (let i = 0, k = 1 + r.int(3); i < k; i++) {
      const name = r.pick(QUERY_NAMES);
      parts.push(r.chance(0.15) ? name : `${name}=${r.pick(QUERY_VALUES)}`);
    }
    p += "?" + parts.join("&");
  }
  if (r.chance(0.05)) p += "#" + r.pick(SEGMENTS);
  return p;
}

function randomValue(r: Rng, values: string[]): Value {
  switch (r.int(3)) {
    case 0:
      return r.pick(values);
    case 1:
      return { exact: r.pick(values) };
    default:
      return { regex: r.pick(PATTERNS) };
  }
}

function randomMatch(r: Rng): MatchObject {
  const m: MatchObject = {};
  switch (r.int(5)) {
    case 0:
      m.path_prefix = randomPath(r).split("?")[0] || "/";
      break;
    case 1:
      m.path_exact = pathOnly(randomPath(r)) || "/";
      break;
    case 2:
      m.path_segment_prefix = pathOnly(randomPath(r)) || "/";
      break;
    case 3:
      m.path_regex = r.pick(PATTERNS);
      break;
  }
  if (r.chance(0.4)) {
    m.headers = {};
    for (let i = 0, k = 1 + r.int(2); i < k; i++)
      m.headers[r.pick(HEADER_NAMES)] = randomValue(r, HEADER_VALUES);
  }
  if (r.chance(0.3)) {
    m.query = {};
    for (let i = 0, k = 1 + r.int(2); i < k; i++)
      m.query[r.pick(QUERY_NAMES)] = randomValue(r, QUERY_VALUES);
  }
  if (r.chance(0.2)) m.method = r.pick(METHODS);
  return m;
}

function randomRequest(r: Rng): Request {
  const headers: Array<[string, string]> = [];
  for (const name of HEADER_NAMES)
    if (r.chance(0.5))
      headers.push([name.toLowerCase(), r.pick(HEADER_VALUES)]);
  return { method: r.pick(METHODS), path: randomPath(r), headers };
}

describe("match: against a model of its semantics", () => {
  it("mirrors exactly the requests the model says fit, over seeded random configurations", async () => {
    const r = rng(SEED);
    let fitted = 0;
    let requests = 0;
    for (let round = 0; round < 60; round++) {
      const targets = Array.from({ length: 1 + r.int(4) }, (_, i) => {
        const match = r.chance(0.5)
          ? randomMatch(r)
          : Array.from({ length: 1 + r.int(3) }, () => randomMatch(r));
        return { cluster: `t${i}`, percentage: 100, match };
      });
      const host = await mirror({
        targets,
        methods: METHODS,
        method_override: [],
        max_inflight: 100000,
      });
      for (let k = 0; k < 40; k++) {
        const req = randomRequest(r);
        const before = host.httpCalls.length;
        send(host, req.path, req.headers, req.method);
        const got = host.httpCalls.slice(before).map((c) => c.cluster);
        const want = targets
          .filter((t) => targetFits(t.match, req))
          .map((t) => t.cluster);
        assert.deepEqual(
          got,
          want,
          `request ${JSON.stringify(req)} with targets ${JSON.stringify(targets)} (MATCHING_SEED=${SEED})`,
        );
        for (const c of host.httpCalls.slice(before)) host.respond(c);
        fitted += want.length;
        requests++;
      }
    }
    // Both answers must be common.
    assert.ok(fitted > requests / 4, `only ${fitted} fits in ${requests}`);
    assert.ok(fitted < requests * 2, `${fitted} fits in ${requests}`);
  });

  it("never traps on hostile bytes in paths, headers and queries", async () => {
    const r = rng(SEED ^ 0x1234567);
    const host = await mirror({
      targets: [
        {
          cluster: "re",
          percentage: 100,
          match: [
            {
              path_regex: "(.*)(é|[^a]+)*x.*",
              headers: { "x-tenant": { regex: "(?i)(a|.)+" } },
            },
            { query: { id: { regex: "[\\x{0}-\\x{10FFFF}]*z" } } },
            { path_segment_prefix: "/a", method: "GET" },
          ],
        },
        {
          cluster: "exact",
          percentage: 100,
          match: { path_exact: "/a", query: { id: "" } },
        },
      ],
      method_override: [],
    });
    const bytes = (n: number) => {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++)
        b[i] = r.chance(0.2) ? 0x80 + r.int(128) : 0x20 + r.int(95);
      return b;
    };
    for (let i = 0; i < 300; i++) {
      const path = Buffer.concat([Buffer.from("/"), bytes(r.int(300))]);
      send(host, path, [["x-tenant", bytes(r.int(2000))]]);
    }
    send(host, "/" + "a".repeat(60000) + "?id=" + "b".repeat(60000) + "z", [
      ["x-tenant", "a".repeat(60000)],
    ]);
    for (const c of host.httpCalls) if (c.state === "pending") host.respond(c);
    assert.ok(host.httpCalls.length > 0);
  });
});
