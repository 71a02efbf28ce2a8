// Request bodies through the real Envoy: byte-exact copies under the cap with content-length and
// chunked, over HTTP/1.1 and HTTP/2 downstream; over the cap no copy and the live request intact;
// a live request reset before its end is not mirrored.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import http from "node:http";
import { DARK_CLUSTER } from "../support/envoy-config.ts";
import { type Envoy } from "../support/envoy.ts";
import { h2request, type Reply, request } from "../support/clients.ts";
import { scenario, type Scope } from "../support/scenario.ts";
import { statName } from "../support/stat-names.ts";
import { type Upstream } from "../support/upstream.ts";

const CAP = 65_536;
const plugin = {
  targets: [{ cluster: DARK_CLUSTER, percentage: 100 }],
  methods: ["GET", "POST", "PUT"],
  max_body_bytes: CAP,
};

/** Splits `body` into pieces of irregular sizes (at least one piece, possibly empty). */
function pieces(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  const sizes = [1, 7, 1000, 4096, 16_385, 30_000];
  for (let i = 0; at < body.length; i++) {
    const n = sizes[i % sizes.length];
    out.push(body.subarray(at, at + n));
    at += n;
  }
  return out.length ? out : [Buffer.alloc(0)];
}

type Transport =
  | "HTTP/1.1 content-length"
  | "HTTP/1.1 chunked"
  | "HTTP/2 content-length"
  | "HTTP/2 streamed";
const transports: Transport[] = [
  "HTTP/1.1 content-length",
  "HTTP/1.1 chunked",
  "HTTP/2 content-length",
  "HTTP/2 streamed",
];

async function send(
  s: Scope,
  envoy: Envoy,
  transport: Transport,
  id: string,
  body: Buffer,
  method = "POST",
): Promise<Reply> {
  const headers = {
    "x-request-id": id,
    "content-type": "application/octet-stream",
  };
  const path = `/orders/${id}`;
  switch (transport) {
    case "HTTP/1.1 content-length":
      return request(envoy.listenerPort, { method, path, headers, body });
    case "HTTP/1.1 chunked":
      return request(envoy.listenerPort, {
        method,
        path,
        headers,
        chunks: pieces(body),
      });
    case "HTTP/2 content-length":
      return h2request(await h2(s, envoy), { method, path, headers, body });
    case "HTTP/2 streamed":
      return h2request(await h2(s, envoy), {
        method,
        path,
        headers,
        chunks: pieces(body),
      });
  }
}

const sessions = new WeakMap<Envoy, ReturnType<Scope["h2"]>>();
function h2(s: Scope, envoy: Envoy) {
  let session = sessions.get(envoy);
  if (!session) sessions.set(envoy, (session = s.h2(envoy.listenerPort)));
  return session;
}

function byId(u: Upstream, id: string) {
  return u.records.filter((r) => r.headers["x-request-id"] === id);
}

scenario(
  "bodies under the cap reach dark byte-exact: content-length and chunked, HTTP/1.1 and HTTP/2",
  async (s) => {
    const { live, dark, envoy } = await s.liveAndDark(
      { plugin },
      { live: { echo: true } },
    );
    const sizes = [0, 1, 1000, 16_385, CAP - 1, CAP];
    const sent = new Map<string, Buffer>();
    for (const transport of transports)
      for (const size of sizes) {
        const id = `${transport.replace(/\W+/g, "_")}-${size}`;
        const body = randomBytes(size);
        sent.set(id, body);
        const reply = await send(s, envoy, transport, id, body);
        assert.equal(reply.status, 200, `${id}: live answered ${reply.status}`);
        assert.ok(
          reply.body.equals(body),
          `${id}: live echo differs (${reply.body.length} of ${size} bytes)`,
        );
      }
    await envoy.waitForCounter("dark.2xx", sent.size);
    for (const [id, body] of sent) {
      const copies = byId(dark, id);
      assert.equal(copies.length, 1, `${id}: ${copies.length} copies on dark`);
      const [copy] = copies;
      assert.equal(copy.method, "POST");
      assert.equal(
        copy.body.length,
        body.length,
        `${id}: dark got ${copy.body.length} of ${body.length} bytes`,
      );
      assert.ok(copy.body.equals(body), `${id}: dark body differs`);
      if (body.length > 0)
        assert.equal(
          copy.headers["content-length"],
          String(body.length),
          `${id}: content-length`,
        );
      assert.equal(
        copy.headers["transfer-encoding"],
        undefined,
        `${id}: dark copy is chunked`,
      );
      assert.ok(
        byId(live, id)[0].body.equals(body),
        `${id}: live upstream body differs`,
      );
    }
    const c = await envoy.targetCounters();
    assert.equal(c.copies, sent.size);
    const h2 = await envoy.stat("http.ingress.downstream_rq_http2_total");
    assert.equal(
      h2,
      2 * sizes.length,
      "HTTP/2 requests did not arrive over HTTP/2",
    );
    assert.equal(c["skipped.body_too_large"], 0);
  },
);

scenario(
  "bodies over the cap are not mirrored; live still answers 200 with the full body",
  async (s) => {
    const { live, dark, envoy } = await s.liveAndDark(
      { plugin },
      { live: { echo: true } },
    );
    const sizes = [CAP + 1, 300_000];
    let n = 0;
    for (const transport of transports)
      for (const size of sizes) {
        const id = `over-${transport.replace(/\W+/g, "_")}-${size}`;
        const body = randomBytes(size);
        const reply = await send(s, envoy, transport, id, body);
        n++;
        assert.equal(reply.status, 200, `${id}: live answered ${reply.status}`);
        assert.ok(
          reply.body.equals(body),
          `${id}: live echo differs (${reply.body.length} of ${size} bytes)`,
        );
        assert.ok(
          byId(live, id)[0]?.body.equals(body),
          `${id}: live upstream did not get the full body`,
        );
      }
    // A small request after them proves the copies are not merely late.
    await send(
      s,
      envoy,
      "HTTP/1.1 content-length",
      "small-after",
      Buffer.from("fries"),
    );
    await envoy.waitForCounter("dark.2xx", 1);
    assert.deepEqual(
      dark.records.map((r) => r.headers["x-request-id"]),
      ["small-after"],
    );
    const c = await envoy.targetCounters();
    assert.equal(c["skipped.body_too_large"], n);
    assert.equal(c.copies, 1);
  },
);

scenario("a live request reset before its end is not mirrored", async (s) => {
  const { dark, envoy } = await s.liveAndDark(
    { plugin },
    { live: { echo: true } },
  );
  // Half a chunked body, then the client goes away.
  await new Promise<void>((resolve) => {
    const req = http.request({
      host: "127.0.0.1",
      port: envoy.listenerPort,
      method: "POST",
      path: "/orders/abandoned",
      headers: { "x-request-id": "abandoned" },
    });
    req.on("error", () => resolve());
    req.write(randomBytes(2000), () => setTimeout(() => req.destroy(), 50));
    req.on("close", () => resolve());
  });
  await envoy.waitForCounter("skipped.live_reset", 1);
  await send(
    s,
    envoy,
    "HTTP/1.1 content-length",
    "after-reset",
    Buffer.from("ok"),
  );
  await envoy.waitForCounter("dark.2xx", 1);
  assert.deepEqual(
    dark.records.map((r) => r.headers["x-request-id"]),
    ["after-reset"],
  );
});
