// The pairs the verdict judges, in the real Envoy: gRPC answers over HTTP/2 judged by their
// grpc-status (trailers, and the headers of a trailers-only answer); a dark upstream without a
// valid status line, or dead, counted as a reset with no latency; the latency difference dark −
// live; and a candidate judged against a baseline instance's answer to the same request.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import http2 from "node:http2";
import net from "node:net";
import { DARK_CLUSTER } from "../support/envoy-config.ts";
import { type Envoy } from "../support/envoy.ts";
import { getEach, h2request, orderPaths } from "../support/clients.ts";
import { promKey } from "../support/stat-names.ts";
import { scenario, type Scope } from "../support/scenario.ts";
import { type Upstream } from "../support/upstream.ts";
import { promLabels, series } from "../../scripts/metrics.ts";

/** A gRPC-like h2c upstream: each call's grpc-status is chosen from its path's last segment. */
async function grpcUpstream(s: Scope, name: string): Promise<Upstream> {
  const records: Upstream["records"] = [];
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      const path = String(headers[":path"]);
      records.push({
        seq: records.length,
        method: String(headers[":method"]),
        path,
        httpVersion: "2.0",
        headers: headers as never,
        rawHeaders: [],
        body: Buffer.concat(chunks),
        trailers: {},
        startedAt: 0,
        endedAt: 0,
      });
      // /shop.Kitchen/Cook/<code>[/only]: that status; "only": a trailers-only answer.
      const [code, only] = path.split("/").slice(3);
      const status = name === "live" ? "0" : (code ?? "0");
      if (only === "only") {
        stream.respond(
          {
            ":status": 200,
            "content-type": "application/grpc",
            "grpc-status": status,
          },
          { endStream: true },
        );
        return;
      }
      stream.respond(
        { ":status": 200, "content-type": "application/grpc" },
        { waitForTrailers: true },
      );
      stream.on("wantTrailers", () =>
        stream.sendTrailers({ "grpc-status": status }),
      );
      stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const u = {
    name,
    port,
    records,
    behaviour: {},
    active: 0,
    peakActive: 0,
    waitForCount: async (n: number, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      while (records.length < n && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      assert.ok(records.length >= n, `${name}: ${records.length} of ${n}`);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  s.defer(() => {
    for (const sess of sessions) sess.destroy();
    return u.close();
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (sess) => sessions.add(sess));
  return u;
}

/** HTTP/2 (h2c) towards these clusters, as a gRPC service needs. */
function h2Clusters(...names: string[]) {
  return (b: Record<string, any>) => {
    for (const c of b.static_resources.clusters)
      if (names.includes(c.name))
        c.typed_extension_protocol_options = {
          "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type":
              "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            explicit_http_config: { http2_protocol_options: {} },
          },
        };
  };
}

/** A histogram's sample count in `/stats/prometheus` (0 when it has none). */
async function histogramCount(
  envoy: Envoy,
  key: string,
  target = DARK_CLUSTER,
): Promise<number> {
  const samples = await envoy.prometheus();
  return (
    samples.get(
      promKey(`${series(key).family}_count`, promLabels(target, key)),
    ) ?? 0
  );
}

/** Every bucket count of a histogram, by `le`. */
async function buckets(
  envoy: Envoy,
  key: string,
  target = DARK_CLUSTER,
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await envoy.prometheusText()).split("\n")) {
    const family = `${series(key).family}_bucket`;
    if (!line.startsWith(`${family}{`)) continue;
    if (!line.includes(`mirror_target="${target}"`)) continue;
    const m = /le="([^"]+)"\}\s+(\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

scenario(
  "gRPC over HTTP/2: a dark service answering grpc-status 14 (in trailers, or trailers-only) is counted a gRPC error and a dark_error pair; live's grpc-status 0 is 2xx",
  async (s) => {
    const live = await grpcUpstream(s, "live");
    const dark = await grpcUpstream(s, "dark");
    const envoy = await s.envoy({
      live,
      dark,
      plugin: {
        cluster: DARK_CLUSTER,
        percentage: 100,
        unsafe_paths: [{ methods: ["POST"], path_prefix: "/shop.Kitchen/" }],
      },
      mutate: h2Clusters("kitchen", DARK_CLUSTER),
    });
    const session = await s.h2(envoy.listenerPort);
    const paths = [
      ...Array.from({ length: 16 }, () => "/shop.Kitchen/Cook/0"),
      "/shop.Kitchen/Cook/14",
      "/shop.Kitchen/Cook/14",
      "/shop.Kitchen/Cook/14/only",
      "/shop.Kitchen/Cook/0/only",
    ];
    for (const path of paths) {
      const reply = await h2request(session, {
        method: "POST",
        path,
        headers: {
          "content-type": "application/grpc",
          te: "trailers",
          "x-request-id": randomUUID(),
        },
        body: Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]),
      });
      assert.equal(reply.status, 200);
    }
    await dark.waitForCount(paths.length);
    const c = await envoy.waitForCounter("copies", paths.length);
    assert.equal(c, paths.length);
    const counters = await envoy.targetCounters();
    assert.equal(counters["dark.grpc_error"], 3, JSON.stringify(counters));
    assert.equal(counters["dark.2xx"], 17);
    assert.equal(counters["live.2xx"], 20);
    assert.equal(counters["live.grpc_error"], 0);
    assert.equal(counters["pairs.dark_error"], 3);
    assert.equal(counters["pairs.both_ok"], 17);
    assert.equal(counters["compared.status_mismatch"], 3);
  },
);

/** A TCP upstream that answers every request with `reply` and closes. */
async function rawUpstream(s: Scope, name: string, reply: Buffer) {
  const server = net.createServer((sock) => {
    sock.once("data", () => sock.end(reply));
    sock.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  s.defer(() => new Promise<void>((r) => server.close(() => r())));
  return { name, port: (server.address() as net.AddressInfo).port };
}

for (const [what, reply] of [
  [
    "HTTP/1.1 2OO OK",
    Buffer.from("HTTP/1.1 2OO OK\r\ncontent-length: 2\r\n\r\nok"),
  ],
  [
    "a 20-digit status",
    Buffer.from(
      "HTTP/1.1 20000000000000000000 OK\r\ncontent-length: 0\r\n\r\n",
    ),
  ],
  [
    "binary garbage",
    Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x00, 0x7f]),
  ],
] as Array<[string, Buffer]>) {
  scenario(
    `a dark service answering ${what}: each copy a reset (Envoy's own 502), no dark latency, a dark_error pair`,
    async (s) => {
      const live = await s.upstream("kitchen");
      const dark = await rawUpstream(s, "kitchen-next", reply);
      const envoy = await s.envoy({ live, dark });
      await getEach(envoy.listenerPort, orderPaths(6));
      await envoy.waitForCounter("dark", 6);
      const c = await envoy.targetCounters();
      assert.equal(c["dark.reset"], 6, JSON.stringify(c));
      assert.equal(c["dark.5xx"], 0);
      assert.equal(c["pairs.dark_error"], 6);
      assert.equal(await histogramCount(envoy, "dark.duration"), 0);
      assert.equal(await histogramCount(envoy, "pair.slower"), 0);
      assert.equal(await histogramCount(envoy, "pair.faster"), 0);
    },
  );
}

scenario(
  "a dead dark host: every copy a reset and a dark_error pair, no dark latency at all; live latency still recorded",
  async (s) => {
    const live = await s.upstream("kitchen");
    const dark = await s.refusing("kitchen-next");
    const envoy = await s.envoy({ live, dark });
    const n = 20;
    await getEach(envoy.listenerPort, orderPaths(n), { concurrency: 4 });
    await envoy.waitForCounter("dark.reset", n);
    const c = await envoy.targetCounters();
    assert.equal(c["pairs.dark_error"], n);
    assert.equal(c["pairs.both_ok"], 0);
    await waitForHistogram(envoy, "live.duration", n);
    assert.equal(await histogramCount(envoy, "dark.duration"), 0);
    assert.equal(await histogramCount(envoy, "pair.slower"), 0);
    assert.equal(await histogramCount(envoy, "pair.faster"), 0);
  },
);

async function waitForHistogram(
  envoy: Envoy,
  key: string,
  n: number,
  target = DARK_CLUSTER,
) {
  const deadline = Date.now() + 10_000;
  let last = 0;
  while (Date.now() < deadline) {
    last = await histogramCount(envoy, key, target);
    if (last >= n) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`${key}: ${last} of ${n} samples`);
}

scenario(
  "the latency difference: a dark version 30 ms slower than live on each request lands between 25 and 40 ms in the slower histogram; a faster one in the faster histogram",
  async (s) => {
    const { live, dark, envoy } = await s.liveAndDark(
      {},
      { live: { delayMs: 10 }, dark: { delayMs: 40 } },
    );
    const n = 30;
    const send = () => getEach(envoy.listenerPort, orderPaths(n));
    await send();
    await waitForHistogram(envoy, "pair.slower", n);
    // d = dark end − live end over the same span: about 30 ms each time (this loaded machine's
    // timers add a few ms either way, now and then more)
    const around30 = (b: Map<string, number>) => {
      const text = JSON.stringify([...b]);
      assert.ok((b.get("15000") ?? 0) <= 2, text);
      assert.ok((b.get("25000") ?? 0) < n / 2, text);
      assert.ok((b.get("40000") ?? 0) >= n / 2, text);
      assert.ok((b.get("75000") ?? 0) >= n - 2, text);
    };
    around30(await buckets(envoy, "pair.slower"));
    assert.ok((await histogramCount(envoy, "pair.faster")) <= 2);
    // the same Envoy, the dark now 10 ms, live 40 ms: 30 ms faster
    live.behaviour.delayMs = 40;
    dark.behaviour.delayMs = 10;
    await send();
    await waitForHistogram(envoy, "pair.faster", n - 2);
    around30(await buckets(envoy, "pair.faster"));
  },
);

scenario(
  "a baseline target: bodies with a random id field need no ignore list; a changed field is counted, in the candidate's pair comparisons only",
  async (s) => {
    const body = (who: string) => (r: { path: string }) =>
      JSON.stringify({
        id: `${who}-${randomUUID()}`,
        order: r.path,
        total: who === "next" && r.path.endsWith("/changed") ? 11 : 10,
      });
    const json = { "content-type": "application/json" };
    const { envoy } = await s.withBaseline({
      live: { headers: json, body: body("live") },
      dark: { headers: json, body: body("next") },
      base: { headers: json, body: body("base") },
    });
    const paths = Array.from({ length: 30 }, (_, i) =>
      i % 10 === 9 ? `/orders/${i}/changed` : `/orders/${i}`,
    );
    await getEach(envoy.listenerPort, paths);
    const n = paths.length;
    await envoy.waitForCounter("dark", n);
    await envoy.waitForCounter("dark", n, "kitchen-base");
    const next = await envoy.targetCounters();
    const baseline = await envoy.targetCounters("kitchen-base");
    // plainly compared, every body differs (the ids)
    assert.equal(next["compared.body_mismatch"], n, JSON.stringify(next));
    assert.equal(baseline["compared.body_mismatch"], n);
    // against the baseline, only the changed field counts
    assert.equal(next["pair_compared.body_mismatch"], 3, JSON.stringify(next));
    assert.equal(next["pair_compared.match"], n - 3);
    assert.equal(baseline["pair_compared.body_mismatch"], n);
    const info = (await envoy.prometheus()).get(
      promKey("mirror_baseline_info", {
        mirror_target: DARK_CLUSTER,
        mirror_baseline: "kitchen-base",
      }),
    );
    // each root context with this config adds 1 (one per worker, and Envoy's main thread's)
    assert.ok((info ?? 0) >= 2, `mirror_baseline_info ${info}`);
  },
);
