// Which requests reach the dark cluster and what they look like there: safe methods only by
// default, `unsafe_paths` exceptions, the loop guard, the copy's headers (marker, authority,
// x-request-id, credentials removed, headers added), and a live response left untouched.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import type http from "node:http";
import { DARK_CLUSTER } from "../support/envoy-config.ts";
import { type Envoy } from "../support/envoy.ts";
import { request, type RequestSpec } from "../support/clients.ts";
import {
  CREDENTIAL_HEADERS,
  CREDENTIALS,
  SAFE_METHODS,
} from "../support/registry.ts";
import { scenario } from "../support/scenario.ts";
import { statName } from "../support/stat-names.ts";
import { type Upstream } from "../support/upstream.ts";

const stat = (suffix: string) => statName(DARK_CLUSTER, suffix);

/** Waits until `decided` requests are counted as mirrored or skipped (any reason) and copies are answered. */
async function settle(
  envoy: Envoy,
  dark: Upstream,
  decided: number,
): Promise<Record<string, number>> {
  let c: Record<string, number> = {};
  const deadline = Date.now() + 10_000;
  for (;;) {
    c = await envoy.targetCounters();
    const counted = Object.entries(c)
      .filter(([k]) => k === "copies" || k.startsWith("skipped."))
      .reduce((a, [, v]) => a + v, 0);
    const answered =
      c["dark.2xx"] +
      c["dark.3xx"] +
      c["dark.4xx"] +
      c["dark.5xx"] +
      c["dark.reset"];
    if (
      counted >= decided &&
      answered >= c.copies &&
      dark.records.length >= c.copies
    )
      return c;
    if (Date.now() > deadline)
      throw new Error(
        `counters did not settle at ${decided} decisions: ${JSON.stringify(c)}`,
      );
    await new Promise((r) => setTimeout(r, 25));
  }
}

scenario(
  "POST, PUT, PATCH and DELETE never reach dark by default; GET, HEAD and OPTIONS do",
  async (s) => {
    const { live, dark, envoy } = await s.liveAndDark({
      plugin: { targets: [{ cluster: DARK_CLUSTER, percentage: 100 }] },
    });
    const agent = s.agent(4);
    const safe = SAFE_METHODS;
    const unsafe = ["POST", "PUT", "PATCH", "DELETE"];
    for (let round = 0; round < 3; round++)
      for (const method of [...safe, ...unsafe]) {
        const reply = await request(envoy.listenerPort, {
          method,
          path: `/orders/${round}`,
          body: unsafe.includes(method)
            ? `{"burger":"classic","round":${round}}`
            : undefined,
          headers: { "x-request-id": randomUUID() },
          agent,
        });
        assert.equal(reply.status, 200, `${method}: ${reply.status}`);
      }
    const c = await settle(envoy, dark, 21);
    assert.equal(live.records.length, 21);
    assert.deepEqual(
      dark.records.map((r) => r.method).sort(),
      [...safe, ...safe, ...safe].sort(),
    );
    assert.equal(c.copies, 9);
    assert.equal(c["skipped.method"], 12);
  },
);

scenario("an unsafe_paths rule lets exactly its POSTs through", async (s) => {
  const { dark, envoy } = await s.liveAndDark({
    plugin: {
      targets: [{ cluster: DARK_CLUSTER, percentage: 100 }],
      unsafe_paths: [{ methods: ["POST"], path_prefix: "/catalog.Reader/" }],
    },
  });
  const sends: Array<{ method: string; path: string; mirrored: boolean }> = [
    { method: "POST", path: "/catalog.Reader/List", mirrored: true },
    { method: "POST", path: "/catalog.Reader/Get?id=7", mirrored: true },
    { method: "POST", path: "/catalog.Writer/Put", mirrored: false },
    { method: "POST", path: "/catalog.Reader", mirrored: false },
    { method: "PUT", path: "/catalog.Reader/List", mirrored: false },
    { method: "DELETE", path: "/catalog.Reader/List", mirrored: false },
    { method: "GET", path: "/catalog.Reader/List", mirrored: true },
  ];
  const agent = s.agent(2);
  for (const [i, send] of sends.entries()) {
    const reply = await request(envoy.listenerPort, {
      method: send.method,
      path: send.path,
      body: send.method === "GET" ? undefined : `{"n":${i}}`,
      headers: { "x-request-id": `unsafe-${i}` },
      agent,
    });
    assert.equal(reply.status, 200);
  }
  const c = await settle(envoy, dark, sends.length);
  const got = dark.records.map((r) => `${r.method} ${r.path}`).sort();
  const want = sends
    .filter((x) => x.mirrored)
    .map((x) => `${x.method} ${x.path}`)
    .sort();
  assert.deepEqual(got, want);
  for (const r of dark.records.filter((r) => r.method === "POST")) {
    const i = Number(String(r.headers["x-request-id"]).split("-")[1]);
    assert.equal(
      r.body.toString(),
      `{"n":${i}}`,
      "the POST body reached dark intact",
    );
  }
  assert.equal(c["skipped.method"], sends.length - want.length);
});

/** A header expectation on the dark copy: an exact value, present with any value, or absent. */
const PRESENT = Symbol("present");
const ABSENT = Symbol("absent");
type Expect = string | typeof PRESENT | typeof ABSENT;

interface CopyCase {
  plugin: object;
  send: Record<string, string>;
  /** Expected headers on the copy; `x-request-id` is always compared with live's. */
  dark: Record<string, Expect>;
  /** Expected headers on the live request. */
  live?: Record<string, Expect>;
  mirrored?: boolean;
}

const credentialsAbsent = Object.fromEntries(
  CREDENTIAL_HEADERS.map((k) => [k, ABSENT]),
);

const copyCases: Record<string, CopyCase> = {
  "defaults: marker x-shadow: true, host unchanged, credentials removed, other headers kept":
    {
      plugin: { targets: [{ cluster: DARK_CLUSTER, percentage: 100 }] },
      send: {
        host: "kitchen.example",
        "x-order-note": "extra pickles",
        te: "trailers",
        ...CREDENTIALS,
      },
      dark: {
        "x-shadow": "true",
        host: "kitchen.example",
        "x-order-note": "extra pickles",
        // the one TE value HTTP/2 allows (gRPC needs it); live keeps it too
        te: "trailers",
        ...credentialsAbsent,
      },
      live: {
        "x-shadow": ABSENT,
        host: "kitchen.example",
        te: "trailers",
        ...CREDENTIALS,
      },
    },
  "authority rewritten, headers added, custom removals": {
    plugin: {
      targets: [
        {
          cluster: DARK_CLUSTER,
          percentage: 100,
          authority: "kitchen-next.internal:8443",
        },
      ],
      headers: {
        add: { "x-mirror-env": "dark", "x-recipe": "v2" },
        remove: ["x-order-note", "authorization"],
      },
    },
    send: {
      host: "kitchen.example",
      "x-order-note": "extra pickles",
      ...CREDENTIALS,
    },
    dark: {
      "x-shadow": "true",
      host: "kitchen-next.internal:8443",
      "x-mirror-env": "dark",
      "x-recipe": "v2",
      "x-order-note": ABSENT,
      authorization: ABSENT,
      cookie: CREDENTIALS.cookie,
    },
    live: { "x-mirror-env": ABSENT, "x-order-note": "extra pickles" },
  },
  "host suffixed when no authority is set": {
    plugin: {
      targets: [
        { cluster: DARK_CLUSTER, percentage: 100, host_suffix: "-shadow" },
      ],
    },
    send: { host: "kitchen.example" },
    dark: { host: "kitchen.example-shadow", "x-shadow": "true" },
    live: { host: "kitchen.example" },
  },
  "custom marker": {
    plugin: {
      targets: [{ cluster: DARK_CLUSTER, percentage: 100 }],
      marker: { header: "x-dark-launch", value: "kitchen-v2" },
    },
    send: { host: "kitchen.example" },
    dark: { "x-dark-launch": "kitchen-v2", "x-shadow": ABSENT },
  },
  "loop guard: a request already carrying the marker is not mirrored": {
    plugin: { targets: [{ cluster: DARK_CLUSTER, percentage: 100 }] },
    send: { host: "kitchen.example", "x-shadow": "true" },
    mirrored: false,
    dark: {},
    live: { "x-shadow": "true" },
  },
  "edge mode (inbound: strip): a client-supplied marker is removed from live, the request mirrored":
    {
      plugin: {
        targets: [{ cluster: DARK_CLUSTER, percentage: 100 }],
        marker: { inbound: "strip" },
      },
      send: { host: "kitchen.example", "x-shadow": "true" },
      dark: { "x-shadow": "true" },
      live: { "x-shadow": ABSENT },
    },
};

function checkHeaders(
  where: string,
  headers: http.IncomingHttpHeaders,
  want: Record<string, Expect>,
): void {
  for (const [name, expect] of Object.entries(want)) {
    const got = headers[name];
    if (expect === PRESENT)
      assert.ok(got !== undefined, `${where}: ${name} missing`);
    else if (expect === ABSENT)
      assert.equal(got, undefined, `${where}: ${name} must be absent`);
    else assert.equal(got, expect, `${where}: ${name}`);
  }
}

for (const [name, c] of Object.entries(copyCases)) {
  scenario(`what dark received — ${name}`, async (s) => {
    const { live, dark, envoy } = await s.liveAndDark({
      plugin: c.plugin,
      forwardClientCert: true,
    });
    // No x-request-id from the client: Envoy generates one, and the copy must carry the same.
    const reply = await request(envoy.listenerPort, {
      path: "/orders/42?side=fries",
      headers: c.send,
    });
    assert.equal(reply.status, 200);
    const counters = await settle(envoy, dark, 1);
    assert.equal(live.records.length, 1);
    const l = live.records[0];
    checkHeaders("live", l.headers, c.live ?? {});
    if (c.mirrored === false) {
      assert.equal(dark.records.length, 0);
      assert.equal(counters["skipped.loop"], 1);
      return;
    }
    assert.equal(dark.records.length, 1);
    const d = dark.records[0];
    assert.equal(d.method, "GET");
    assert.equal(d.path, "/orders/42?side=fries");
    assert.ok(l.headers["x-request-id"], "Envoy generated no x-request-id");
    assert.equal(
      d.headers["x-request-id"],
      l.headers["x-request-id"],
      "x-request-id differs between live and dark",
    );
    checkHeaders("dark", d.headers, c.dark);
    for (const hop of ["keep-alive", "proxy-connection", "upgrade"])
      assert.equal(d.headers[hop], undefined, `hop-by-hop ${hop} reached dark`);
  });
}

scenario(
  "the live response (status, headers, body) and the live request are identical with and without the filter",
  async (s) => {
    const payload = randomBytes(3000);
    const live = await s.upstream("kitchen", {
      status: 201,
      headers: {
        "x-kitchen": "live",
        "set-cookie": ["order=42; Path=/", "seen=1; HttpOnly"],
        "cache-control": "no-store",
        "content-type": "application/octet-stream",
      },
      body: payload,
    });
    const dark = await s.upstream("kitchen-next", {
      status: 500,
      body: "the dark kitchen is on fire",
    });
    const plain = await s.envoy({
      name: "without-filter",
      live,
      dark,
      withoutFilter: true,
    });
    const filtered = await s.envoy({
      name: "with-filter",
      live,
      dark,
      plugin: {
        targets: [
          { cluster: DARK_CLUSTER, percentage: 100, host_suffix: "-shadow" },
        ],
        methods: ["GET", "HEAD", "POST"],
        headers: { add: { "x-mirror-env": "dark" } },
      },
    });
    const requests: RequestSpec[] = [
      {
        method: "GET",
        path: "/orders/1",
        headers: {
          "x-request-id": "same-1",
          host: "kitchen.example",
          authorization: "Bearer t",
        },
      },
      {
        method: "HEAD",
        path: "/orders/1",
        headers: { "x-request-id": "same-2", host: "kitchen.example" },
      },
      {
        method: "POST",
        path: "/orders",
        body: randomBytes(5000),
        headers: {
          "x-request-id": "same-3",
          host: "kitchen.example",
          cookie: "session=abc",
        },
      },
      {
        method: "POST",
        path: "/orders",
        chunks: [randomBytes(100), randomBytes(7000)],
        headers: { "x-request-id": "same-4", host: "kitchen.example" },
      },
    ];
    const volatile = new Set(["date", "x-envoy-upstream-service-time"]);
    const strip = (h: http.IncomingHttpHeaders) =>
      Object.fromEntries(Object.entries(h).filter(([k]) => !volatile.has(k)));
    for (const spec of requests) {
      const a = await request(plain.listenerPort, spec);
      const b = await request(filtered.listenerPort, spec);
      const what = `${spec.method} ${spec.path}`;
      assert.equal(b.status, a.status, what);
      assert.deepEqual(strip(b.headers), strip(a.headers), what);
      assert.ok(b.body.equals(a.body), `${what}: bodies differ`);
      if (spec.method !== "HEAD")
        assert.ok(a.body.equals(payload), `${what}: not the upstream's body`);
    }
    await filtered.waitForCounter("dark.5xx", requests.length);
    // What the live service received, request by request (Envoy's x-envoy-expected-rq-timeout-ms included).
    assert.equal(live.records.length, requests.length * 2);
    for (let i = 0; i < requests.length; i++) {
      const [first, second] = live.records.filter(
        (r) => r.headers["x-request-id"] === `same-${i + 1}`,
      );
      assert.ok(
        first && second,
        `live did not receive same-${i + 1} from both Envoys`,
      );
      assert.equal(second.method, first.method);
      assert.equal(second.path, first.path);
      assert.deepEqual(
        second.headers,
        first.headers,
        `live request ${i + 1} altered by the filter`,
      );
      assert.ok(
        second.body.equals(first.body),
        `live request ${i + 1} body altered`,
      );
    }
  },
);
