// Client input at the edges: headers up to Envoy's limits (60 KiB, 100 headers)
// and past them, many and duplicate headers, non-ASCII values, empty sampling-key values, HTTP/1.0
// without Host, HTTP/2, bodies at cap−1, cap and cap+1 (content-length and chunked, HTTP/1.1 and
// HTTP/2), and uploads aborted midway. Every request goes through an Envoy without the filter and
// one with it: the client gets the same answer and the live upstream the same request; the copy
// is exact, or skipped with the right reason in the stats.
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { DARK_CLUSTER } from "../support/envoy-config.ts";
import { type Envoy } from "../support/envoy.ts";
import { h2request, type Reply, request } from "../support/clients.ts";
import { type Recorded, sha256, type Upstream } from "../support/upstream.ts";
import { scenario, type Scope } from "../support/scenario.ts";
import { statName } from "../support/stat-names.ts";
import { waitFor } from "../../tools/wait.ts";
import {
  assertLiveUpstreamIdentical,
  bytesOf,
  OUTCOMES,
  sum,
  twinEnvoys,
} from "./traffic.ts";

/** A header value as raw bytes carried in a latin1 string (how Node passes non-ASCII octets). */
const octets = (s: string) => Buffer.from(s, "utf8").toString("latin1");

/** The values of `name` in a record's raw headers, in order. */
function valuesOf(r: Recorded, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2)
    if (r.rawHeaders[i].toLowerCase() === name) out.push(r.rawHeaders[i + 1]);
  return out;
}

const byId = (u: Upstream, id: string) =>
  u.records.filter((r) => r.headers["x-request-id"] === id);

/** What a client got, in a form two Envoys can be compared on (no date, no timings). */
const seen = (r: Reply) => ({
  status: r.status,
  contentType: r.headers["content-type"],
  body: sha256(r.body),
});

/** One raw HTTP/1.0 exchange: writes `head`, reads until Envoy closes the connection. */
function http10(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(head));
    const chunks: Buffer[] = [];
    socket.on("data", (c) => chunks.push(c));
    socket.on("end", () => resolve(Buffer.concat(chunks).toString("latin1")));
    socket.on("error", reject);
    socket.setTimeout(10_000, () =>
      socket.destroy(new Error("HTTP/1.0 timed out")),
    );
  });
}

/** Status line and body of a raw HTTP/1.x response (headers differ by date). */
function statusAndBody(raw: string): { statusLine: string; body: string } {
  const at = raw.indexOf("\r\n\r\n");
  return {
    statusLine: raw.slice(0, raw.indexOf("\r\n")),
    body: raw.slice(at + 4),
  };
}

interface HeaderCase {
  headers: Record<string, string | string[]>;
  /** Client receives this status from both Envoys [200]. */
  status?: number;
  /** The copy: mirrored (and these header names compared with live's, value by value), or the skip counter. */
  copy: { compare: string[] } | { skipped: string } | "never decided";
  h2?: boolean;
}

const many = (n: number, prefix: string) =>
  Object.fromEntries(
    Array.from({ length: n }, (_, i) => [`${prefix}-${i}`, `v${i}`]),
  );
const big = (n: number, kb: number) =>
  Object.fromEntries(
    Array.from({ length: n }, (_, i) => [
      `x-big-${i}`,
      bytesOf(`big${i}`, kb * 1024)
        .toString("base64")
        .slice(0, kb * 1024),
    ]),
  );

const headerCases: Record<string, HeaderCase> = {
  "56 KiB of headers (under Envoy's 60 KiB limit)": {
    headers: big(7, 8),
    copy: { compare: Object.keys(big(7, 8)) },
  },
  "70 KiB of headers (over the limit): 431 from Envoy, the filter never sees it":
    {
      headers: big(7, 10),
      status: 431,
      copy: "never decided",
    },
  "90 headers (under Envoy's 100)": {
    headers: many(90, "x-h"),
    copy: { compare: Object.keys(many(90, "x-h")) },
  },
  "110 headers (over Envoy's 100): 431": {
    headers: many(110, "x-h"),
    status: 431,
    copy: "never decided",
  },
  "duplicate headers keep every value in order": {
    headers: {
      "x-dup": ["first", "second", "third"],
      "x-user-id": ["dup-user", "other-user"],
      accept: ["text/plain", "application/json"],
    },
    copy: { compare: ["x-dup", "x-user-id", "accept"] },
  },
  "non-ASCII header values (UTF-8 bytes) and key": {
    headers: {
      "x-note": octets("josé — 日本 🍔"),
      "x-user-id": octets("josé"),
      "x-latin1": "caf\u00e9",
    },
    copy: { compare: ["x-note", "x-user-id", "x-latin1"] },
  },
  "empty values of every key source: skipped as no_key": {
    headers: { "x-user-id": "", cookie: "session=; theme=dark" },
    copy: { skipped: "skipped.no_key" },
  },
  "an empty header key falls through to the cookie": {
    headers: { "x-user-id": "", cookie: "theme=dark; session=abc" },
    copy: { compare: ["x-user-id"] },
  },
  "HTTP/2 with duplicate, non-ASCII and many headers": {
    h2: true,
    headers: {
      "x-dup": ["first", "second"],
      "x-note": octets("josé — 日本"),
      "x-user-id": "h2-user",
      ...many(40, "x-h2"),
    },
    copy: { compare: ["x-dup", "x-note", ...Object.keys(many(40, "x-h2"))] },
  },
};

/** Sends one request (HTTP/1.1 or h2c) carrying `id` as x-request-id. */
async function sendCase(
  s: Scope,
  envoy: Envoy,
  sessions: Map<Envoy, http2.ClientHttp2Session>,
  id: string,
  c: HeaderCase,
): Promise<Reply> {
  const path = `/menu/${id}?uid=`;
  // The sampling key, unless the case sets its own.
  const key = { "x-user-id": `user-${id}` };
  if (c.h2) {
    let session = sessions.get(envoy);
    if (!session)
      sessions.set(envoy, (session = await s.h2(envoy.listenerPort)));
    const headers: Record<string, string> = {
      ":authority": "kitchen.example",
      "x-request-id": id,
      ...key,
    };
    for (const [k, v] of Object.entries(c.headers))
      (headers as Record<string, string | string[]>)[k] = v;
    return h2request(session, { path, headers });
  }
  return request(envoy.listenerPort, {
    path,
    headers: {
      host: "kitchen.example",
      "x-request-id": id,
      ...key,
      ...c.headers,
    },
    agent: false as unknown as http.Agent,
  });
}

scenario(
  "client headers at Envoy's limits, duplicates, non-ASCII, empty keys, HTTP/1.0 without Host and HTTP/2: live as without the filter, copies exact or skipped",
  async (s) => {
    const dark = await s.upstream("kitchen-next");
    const hcm = (b: Record<string, any>) =>
      b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    const { envoy, baseline, live, baselineLive } = await twinEnvoys(s, {
      dark,
      plugin: {
        targets: [{ cluster: DARK_CLUSTER, percentage: 100 }],
        sampling: { keys: ["header:x-user-id", "cookie:session", "query:uid"] },
      },
      // HTTP/1.0 is refused (426) unless accepted; without Host it needs a default authority.
      mutate: (b) =>
        (hcm(b).http_protocol_options = {
          accept_http_10: true,
          default_host_for_http_10: "kitchen.http10",
        }),
    });
    const sessions = new Map<Envoy, http2.ClientHttp2Session>();
    const expected: Record<string, number> = { copies: 0 };
    for (const [name, c] of Object.entries(headerCases)) {
      const id = `hdr-${Object.keys(headerCases).indexOf(name)}`;
      const without = await sendCase(s, baseline, sessions, id, c);
      const got = await sendCase(s, envoy, sessions, id, c);
      assert.deepEqual(
        seen(got),
        seen(without),
        `${name}: the client saw a difference`,
      );
      assert.equal(got.status, c.status ?? 200, `${name}: status`);
      if (c.copy === "never decided") continue;
      if ("skipped" in c.copy) {
        expected[c.copy.skipped] = (expected[c.copy.skipped] ?? 0) + 1;
        continue;
      }
      expected.copies++;
      await dark.waitForCount(expected.copies);
      const [l] = byId(live, id);
      const copies = byId(dark, id);
      assert.equal(copies.length, 1, `${name}: ${copies.length} copies`);
      for (const h of c.copy.compare)
        assert.deepEqual(
          valuesOf(copies[0], h),
          valuesOf(l, h),
          `${name}: ${h} on the copy`,
        );
    }

    // HTTP/1.0 without Host: Envoy supplies the default authority; the copy carries it.
    const head =
      "GET /menu/h10 HTTP/1.0\r\nX-Request-Id: h10\r\nX-User-Id: h10-user\r\n\r\n";
    const without10 = statusAndBody(await http10(baseline.listenerPort, head));
    const got10 = statusAndBody(await http10(envoy.listenerPort, head));
    assert.deepEqual(got10, without10, "HTTP/1.0: the client saw a difference");
    assert.match(got10.statusLine, /^HTTP\/1\.[01] 200 /);
    expected.copies++;
    await dark.waitForCount(expected.copies);
    const [copy10] = byId(dark, "h10");
    assert.equal(
      copy10?.headers.host,
      "kitchen.http10",
      "HTTP/1.0 copy authority",
    );
    assert.equal(byId(live, "h10")[0]?.headers.host, "kitchen.http10");

    assertLiveUpstreamIdentical(live, baselineLive);
    await envoy.waitForCounter("dark.2xx", expected.copies);
    const c = await envoy.targetCounters();
    for (const [k, v] of Object.entries(expected)) assert.equal(c[k], v, k);
    assert.equal(c.dispatch_failures, 0);
    assert.equal(dark.records.length, expected.copies);
  },
);

const CAP = 1024;

type Transport =
  | "h1 content-length"
  | "h1 chunked"
  | "h2 content-length"
  | "h2 streamed";
const transports: Transport[] = [
  "h1 content-length",
  "h1 chunked",
  "h2 content-length",
  "h2 streamed",
];

/** Irregular pieces of a body, for chunked and streamed uploads. */
function pieces(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < body.length; i++) {
    const n = [1, 100, 333, 7][i % 4];
    out.push(body.subarray(at, at + n));
    at += n;
  }
  return out;
}

async function upload(
  s: Scope,
  envoy: Envoy,
  sessions: Map<Envoy, http2.ClientHttp2Session>,
  transport: Transport,
  id: string,
  body: Buffer,
): Promise<Reply> {
  const headers = {
    host: "kitchen.example",
    "x-request-id": id,
    "content-type": "application/octet-stream",
  };
  const path = `/orders/${id}`;
  if (transport.startsWith("h2")) {
    let session = sessions.get(envoy);
    if (!session)
      sessions.set(envoy, (session = await s.h2(envoy.listenerPort)));
    const { host, ...rest } = headers;
    const h2headers = { ":authority": host, ...rest };
    return h2request(
      session,
      transport === "h2 streamed"
        ? { method: "POST", path, headers: h2headers, chunks: pieces(body) }
        : { method: "POST", path, headers: h2headers, body },
    );
  }
  return request(
    envoy.listenerPort,
    transport === "h1 chunked"
      ? { method: "POST", path, headers, chunks: pieces(body) }
      : { method: "POST", path, headers, body },
  );
}

/** Starts an upload, sends half of it, then goes away (HTTP/1.1: closes the socket; HTTP/2: cancels the stream). */
async function abortedUpload(
  envoy: Envoy,
  session: http2.ClientHttp2Session | undefined,
  id: string,
  chunked: boolean,
): Promise<string> {
  // Under the cap: the copy is still being built when the client goes away.
  const half = Buffer.alloc(CAP / 2 - 10, "u");
  if (session) {
    const stream = session.request({
      ":method": "POST",
      ":path": `/orders/${id}`,
      "x-request-id": id,
      "content-length": String(2 * half.length),
    });
    let status = "no response";
    stream.on("response", (h) => (status = String(h[":status"])));
    stream.on("error", () => undefined);
    await new Promise<void>((r) => stream.write(half, () => r()));
    await new Promise((r) => setTimeout(r, 50));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await new Promise<void>((r) => stream.on("close", () => r()));
    return status;
  }
  return new Promise((resolve) => {
    const req = http.request({
      host: "127.0.0.1",
      port: envoy.listenerPort,
      method: "POST",
      path: `/orders/${id}`,
      headers: chunked
        ? { "x-request-id": id }
        : { "x-request-id": id, "content-length": 2 * half.length },
      agent: false,
    });
    let status = "no response";
    req.on("response", (res) => {
      status = String(res.statusCode);
      res.resume();
    });
    req.on("error", () => undefined);
    req.on("close", () => resolve(status));
    req.write(half, () => setTimeout(() => req.destroy(), 50));
  });
}

scenario(
  "bodies at cap−1, cap and cap+1 (content-length and chunked, HTTP/1.1 and HTTP/2), and uploads aborted midway: live as without the filter, copies exact or skipped",
  async (s) => {
    const dark = await s.upstream("kitchen-next");
    const { envoy, baseline, live, baselineLive } = await twinEnvoys(s, {
      dark,
      liveBehaviour: { echo: true },
      plugin: {
        targets: [{ cluster: DARK_CLUSTER, percentage: 100 }],
        methods: ["GET", "POST"],
        max_body_bytes: CAP,
      },
    });
    const sessions = new Map<Envoy, http2.ClientHttp2Session>();
    const sent = new Map<string, Buffer>();
    let over = 0;
    for (const transport of transports)
      for (const size of [CAP - 1, CAP, CAP + 1]) {
        const id = `${transport.replace(/\W+/g, "_")}-${size}`;
        const body = bytesOf(id, size);
        const without = await upload(
          s,
          baseline,
          sessions,
          transport,
          id,
          body,
        );
        const got = await upload(s, envoy, sessions, transport, id, body);
        assert.deepEqual(
          seen(got),
          seen(without),
          `${id}: the client saw a difference`,
        );
        assert.equal(got.status, 200, id);
        assert.ok(got.body.equals(body), `${id}: live echo differs`);
        if (size > CAP) over++;
        else sent.set(id, body);
      }

    // Aborted uploads: nothing reaches either live upstream whole, nothing is mirrored.
    const aborts: Array<[string, boolean, boolean]> = [
      ["abort-h1-length", false, false],
      ["abort-h1-chunked", false, true],
      ["abort-h2", true, false],
    ];
    for (const [id, h2, chunked] of aborts) {
      const statuses = [];
      for (const e of [baseline, envoy]) {
        let session: http2.ClientHttp2Session | undefined;
        if (h2) {
          session = sessions.get(e);
          if (!session) sessions.set(e, (session = await s.h2(e.listenerPort)));
        }
        statuses.push(await abortedUpload(e, session, id, chunked));
      }
      assert.equal(
        statuses[1],
        statuses[0],
        `${id}: the client saw a difference`,
      );
    }
    await envoy.waitForCounter("skipped.live_reset", aborts.length);
    // A request after the aborts proves the copies are not merely late.
    const after = await upload(
      s,
      envoy,
      sessions,
      "h1 content-length",
      "after-aborts",
      Buffer.from("ok"),
    );
    await upload(
      s,
      baseline,
      sessions,
      "h1 content-length",
      "after-aborts",
      Buffer.from("ok"),
    );
    assert.equal(after.status, 200);
    sent.set("after-aborts", Buffer.from("ok"));

    let c: Record<string, number> = {};
    await waitFor(
      () => `${sent.size} copies answered: ${JSON.stringify(c)}`,
      async () => {
        c = await envoy.targetCounters();
        return sum(c, OUTCOMES) >= sent.size;
      },
    );
    for (const [id, body] of sent) {
      const copies = byId(dark, id);
      assert.equal(copies.length, 1, `${id}: ${copies.length} copies`);
      assert.ok(copies[0].body.equals(body), `${id}: the copy's body differs`);
    }
    assert.equal(
      dark.records.length,
      sent.size,
      "a copy of an oversized or aborted upload",
    );
    assert.equal(c.copies, sent.size);
    assert.equal(c["skipped.body_too_large"], over);
    assert.equal(c["skipped.live_reset"], aborts.length);
    assert.equal(c["dark.2xx"], sent.size);
    for (const [id] of aborts) {
      assert.equal(byId(live, id).length, 0, `${id} reached live whole`);
      assert.equal(byId(baselineLive, id).length, 0);
    }
    assertLiveUpstreamIdentical(live, baselineLive);
  },
);
