// Live vs dark comparison in the real Envoy: for each kind of difference (status, status class,
// body, a large body streamed in chunks, an ignored live status, an empty body) the filter's
// compare.* counters equal the expected verdicts exactly — with both sides answering at once, with
// every live response complete before any dark answer is let out, and with every dark answer
// counted before any live response is let out. Then a dark timeout, and live streams reset before
// their response.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import http from "node:http";
import net from "node:net";
import {
  parseStats,
  STATS_PATH,
  type TargetStats,
} from "../../scripts/report/admin.ts";
import { DARK_CLUSTER } from "../support/envoy-config.ts";
import { type Envoy } from "../support/envoy.ts";
import {
  getEach,
  mapConcurrent,
  type Reply,
  request,
} from "../support/clients.ts";
import { scenario, type Scope } from "../support/scenario.ts";
import { statName } from "../support/stat-names.ts";
import { waitFor } from "../../tools/wait.ts";

type Verdict = "match" | "status" | "body" | "ignored";

/** A 256 KB body: Envoy hands the live one to the filter in many chunks. */
const BIG = Buffer.from(
  Array.from({ length: 256 * 1024 }, (_, i) => (i * 7919) % 251),
);
const BIG_LAST_BYTE_CHANGED = Buffer.from(BIG);
BIG_LAST_BYTE_CHANGED[BIG.length - 1] ^= 1;

/** What live and dark answer for each kind (the kind is the first path segment). */
const KINDS: Record<
  string,
  { live: [number, string | Buffer]; dark: [number, string | Buffer] }
> = {
  same: { live: [200, "burger"], dark: [200, "burger"] },
  status: { live: [200, "burger"], dark: [404, "burger"] },
  class: { live: [200, "burger"], dark: [201, "burger"] },
  body: { live: [200, "burger"], dark: [200, "brioche burger"] },
  both: { live: [200, "burger"], dark: [500, "oops"] },
  ignored: { live: [503, "busy"], dark: [200, "burger"] },
  darkerr: { live: [200, "burger"], dark: [503, "busy"] },
  empty: { live: [200, ""], dark: [200, ""] },
  big: { live: [200, BIG], dark: [200, BIG] },
  bigdiff: { live: [200, BIG], dark: [200, BIG_LAST_BYTE_CHANGED] },
};

/** exact statuses, body digests, live 503 ignored */
const EXACT_BODY = {
  compare: { status: "exact", body: true, ignore_statuses: [503] },
  verdicts: {
    same: "match",
    status: "status",
    class: "status",
    body: "body",
    // bodies are judged only when the statuses agree
    both: "status",
    ignored: "ignored",
    // ignore_statuses applies to the live status only
    darkerr: "status",
    empty: "match",
    big: "match",
    bigdiff: "body",
  } as Record<string, Verdict>,
};

/** statuses by class, bodies not compared, nothing ignored */
const CLASS_ONLY = {
  compare: { status: "class" },
  verdicts: {
    same: "match",
    status: "status",
    class: "match",
    body: "match",
    both: "status",
    ignored: "status",
    darkerr: "status",
    empty: "match",
    big: "match",
    bigdiff: "match",
  } as Record<string, Verdict>,
};

const PER_KIND = 4;
const kindOf = (path: string) => path.split("/")[1];

interface Run {
  envoy: Envoy;
  replies: Array<{ kind: string; reply: Reply }>;
  counters: Record<string, number>;
}

/**
 * An upstream answering each kind as KINDS says, for one side. While `held`, it answers nothing
 * (the request is read and recorded); `release()` answers everything held and stops holding.
 */
async function kindUpstream(
  s: Scope,
  side: "live" | "dark",
  held: boolean,
): Promise<{ port: number; received: () => number; release: () => void }> {
  const waiting: Array<() => void> = [];
  let received = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      received++;
      const [status, body] = KINDS[kindOf(req.url ?? "/")][side];
      const answer = () =>
        res
          .writeHead(status, {
            "content-type": "text/plain",
            "content-length": Buffer.byteLength(body),
          })
          .end(body);
      if (held) waiting.push(answer);
      else answer();
    });
  });
  server.keepAliveTimeout = 600_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  s.defer(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => received,
    release: () => {
      held = false;
      for (const answer of waiting.splice(0)) answer();
    },
  };
}

/**
 * Sends PER_KIND requests of every kind and waits until each has its verdict counted. `first`
 * orders the two sides of every request: "live" holds each dark answer until every live response
 * has reached the client; "dark" holds every live response until Envoy has counted every dark
 * answer. Without it both answer at once.
 */
async function runKinds(
  s: Scope,
  o: { compare: unknown; first?: "live" | "dark" },
): Promise<Run> {
  const live = await kindUpstream(s, "live", o.first === "dark");
  const dark = await kindUpstream(s, "dark", o.first === "live");
  const envoy = await s.envoy({
    live,
    dark,
    plugin: {
      cluster: DARK_CLUSTER,
      percentage: 100,
      max_inflight: 1000,
      compare: o.compare,
    },
  });
  const paths = Object.keys(KINDS).flatMap((k) =>
    Array.from({ length: PER_KIND }, (_, i) => `/${k}/${i}`),
  );
  let counters: Record<string, number> = {};
  const count = (...keys: string[]) =>
    keys.reduce((n, k) => n + (counters[k] ?? 0), 0);
  const judged = () =>
    count("compared", "not_compared.ignored_status", "not_compared.incomplete");
  const darkAnswers = () =>
    count("dark.2xx", "dark.3xx", "dark.4xx", "dark.5xx", "dark.reset");
  const shown = () =>
    JSON.stringify(
      Object.fromEntries(
        Object.entries(counters).filter(
          ([k, v]) =>
            v !== 0 && /^(compared|not_compared|dark|inflight)/.test(k),
        ),
      ),
    );

  // With the live side held, every request is in flight at once.
  const concurrency = o.first === "dark" ? paths.length : 16;
  const agent = s.agent(concurrency);
  const sending = mapConcurrent(paths, concurrency, async (p) => {
    const reply = await request(envoy.listenerPort, {
      path: p,
      headers: { "x-request-id": randomUUID() },
      agent,
    });
    const [status, body] = KINDS[kindOf(p)].live;
    // the dark side never reaches the client
    assert.equal(reply.status, status, p);
    assert.ok(reply.body.equals(Buffer.from(body)), `${p}: live body`);
    return { kind: kindOf(p), reply };
  });
  if (o.first === "dark") {
    await waitFor(
      () => `every dark answer counted, live held: ${shown()}`,
      async () => {
        counters = await envoy.countersOnce();
        return darkAnswers() === paths.length;
      },
    );
    assert.equal(live.received(), paths.length);
    assert.equal(judged(), 0, `judged before any live response: ${shown()}`);
    live.release();
  }
  const replies = await sending;
  if (o.first === "live") {
    await waitFor(
      () => `every copy at the dark upstream (${dark.received()})`,
      () => dark.received() === paths.length,
    );
    // The in-flight gauge reaches Envoy at the filter's next tick.
    await waitFor(
      () => `every copy shown in flight: ${shown()}`,
      async () => {
        counters = await envoy.countersOnce();
        return count("inflight") === paths.length;
      },
    );
    assert.equal(darkAnswers(), 0, shown());
    assert.equal(judged(), 0, `judged before any dark answer: ${shown()}`);
    dark.release();
  }
  await waitFor(
    () => `every verdict counted: ${shown()}`,
    async () => {
      counters = await envoy.countersOnce();
      return judged() >= paths.length && count("inflight") === 0;
    },
  );
  assert.equal(dark.received(), paths.length);
  return { envoy, replies, counters };
}

/** The exact counts `verdicts` implies, next to what Envoy shows. */
function assertCounts(run: Run, verdicts: Record<string, Verdict>): void {
  const n = (v: Verdict) =>
    Object.values(verdicts).filter((x) => x === v).length * PER_KIND;
  const byClass = (side: "live" | "dark", lo: number) =>
    Object.values(KINDS).filter(
      (k) => k[side][0] >= lo && k[side][0] < lo + 100,
    ).length * PER_KIND;
  const expected: Record<string, number> = {
    copies: Object.keys(KINDS).length * PER_KIND,
    compared: n("match") + n("status") + n("body"),
    "compared.status_mismatch": n("status"),
    "compared.body_mismatch": n("body"),
    "not_compared.ignored_status": n("ignored"),
    "not_compared.incomplete": 0,
    "live.2xx": byClass("live", 200),
    "live.4xx": byClass("live", 400),
    "live.5xx": byClass("live", 500),
    "live.reset": 0,
    "dark.2xx": byClass("dark", 200),
    "dark.4xx": byClass("dark", 400),
    "dark.5xx": byClass("dark", 500),
    "dark.reset": 0,
    "skipped.overloaded": 0,
  };
  const actual = Object.fromEntries(
    Object.keys(expected).map((k) => [k, run.counters[k] ?? 0]),
  );
  assert.deepEqual(actual, expected);
}

/** The target's stats once the latency histograms hold every request (after a stats flush). */
async function flushedTarget(envoy: Envoy, n: number): Promise<TargetStats> {
  const t = await waitFor(
    `latency histograms to hold ${n} samples each`,
    async () => {
      const [t] = parseStats(JSON.parse(await envoy.admin(STATS_PATH)));
      return t?.live.latency.count === n && t.dark.latency.count === n
        ? t
        : undefined;
    },
  );
  return t!;
}

scenario(
  "exact statuses, body digests, ignore_statuses: every kind counted as expected (both sides fast)",
  async (s) => {
    const run = await runKinds(s, { compare: EXACT_BODY.compare });
    assertCounts(run, EXACT_BODY.verdicts);
  },
);

scenario(
  "statuses by class, no body compare: every kind counted as expected",
  async (s) => {
    const run = await runKinds(s, { compare: CLASS_ONLY.compare });
    assertCounts(run, CLASS_ONLY.verdicts);
  },
);

scenario(
  "a live response that ends before its dark answer (dark held until every live response is in) is compared correctly",
  async (s) => {
    const run = await runKinds(s, {
      compare: EXACT_BODY.compare,
      first: "live",
    });
    assertCounts(run, EXACT_BODY.verdicts);
  },
);

scenario(
  "a dark answer that arrives before its live response ends (live held until every dark answer is counted) is compared correctly",
  async (s) => {
    const run = await runKinds(s, {
      compare: EXACT_BODY.compare,
      first: "dark",
    });
    assertCounts(run, EXACT_BODY.verdicts);
    // Every live response ended after its dark answer: Envoy measured the live side as slower.
    const t = await flushedTarget(run.envoy, run.replies.length);
    assert.ok(
      t.live.latency.p50 >= t.dark.latency.p50,
      `live p50 ${t.live.latency.p50} ms, dark p50 ${t.dark.latency.p50} ms`,
    );
  },
);

scenario(
  "a dark timeout is a status mismatch against the live status",
  async (s) => {
    const n = 8;
    const { envoy } = await s.liveAndDark(
      {
        plugin: {
          cluster: DARK_CLUSTER,
          percentage: 100,
          timeout_ms: 300,
          compare: { body: true },
        },
      },
      { live: { body: "burger" }, dark: { mode: "hang" } },
    );
    await getEach(
      envoy.listenerPort,
      Array.from({ length: n }, (_, i) => `/timeout/${i}`),
      { concurrency: n, agent: s.agent(n) },
    );
    await envoy.waitForCounter("compared", n);
    const stats = await envoy.targetCounters();
    const get = (k: string) => stats[k] ?? 0;
    assert.deepEqual(
      Object.fromEntries(
        [
          "copies",
          "live.2xx",
          "dark.5xx",
          "dark.reset",
          "compared",
          "compared.status_mismatch",
          "compared.body_mismatch",
          "not_compared.ignored_status",
          "not_compared.incomplete",
          "inflight",
        ].map((k) => [k, get(k)]),
      ),
      {
        copies: n,
        "live.2xx": n,
        // Envoy answers a timed-out call with its own 504: still a timeout, not a dark 5xx
        "dark.5xx": 0,
        "dark.reset": n,
        compared: n,
        "compared.status_mismatch": n,
        "compared.body_mismatch": 0,
        "not_compared.ignored_status": 0,
        "not_compared.incomplete": 0,
        inflight: 0,
      },
    );
  },
);

/** A GET whose client gives up after `abortMs`, before the response. */
function abandonedRequest(port: number, path: string, abortMs: number) {
  return new Promise<void>((resolve) => {
    const req = http.get({
      host: "127.0.0.1",
      port,
      path,
      headers: { "x-request-id": randomUUID() },
      agent: false,
    });
    req.on("error", () => resolve());
    req.on("response", () => assert.fail(`${path}: answered before abort`));
    setTimeout(() => {
      req.destroy();
      resolve();
    }, abortMs);
  });
}

scenario(
  "a live stream reset before its response (dark answered first, or after) leaves the comparison incomplete and nothing pending",
  async (s) => {
    const n = 8;
    const { dark, envoy } = await s.liveAndDark(
      {
        plugin: { cluster: DARK_CLUSTER, percentage: 100, compare: {} },
      },
      {
        live: { delayMs: 2_000 },
        dark: { delayMs: 0 },
      },
    );
    // Half the copies are answered before the client gives up (dark 0 ms, abort at 300 ms) ...
    await Promise.all(
      Array.from({ length: n / 2 }, (_, i) =>
        abandonedRequest(envoy.listenerPort, `/early/${i}`, 300),
      ),
    );
    await envoy.waitForCounter("live.reset", n / 2);
    // ... the other half after it (dark +600 ms, abort at 100 ms).
    dark.behaviour = { delayMs: 600 };
    await Promise.all(
      Array.from({ length: n / 2 }, (_, i) =>
        abandonedRequest(envoy.listenerPort, `/late/${i}`, 100),
      ),
    );
    await envoy.waitForCounter("not_compared.incomplete", n);
    const stats = await envoy.targetCounters();
    const get = (k: string) => stats[k] ?? 0;
    assert.deepEqual(
      Object.fromEntries(
        [
          "copies",
          "skipped.live_reset",
          "dark.2xx",
          "live.2xx",
          "live.reset",
          "compared",
          "not_compared.incomplete",
          "inflight",
        ].map((k) => [k, get(k)]),
      ),
      {
        copies: n,
        "skipped.live_reset": 0,
        "dark.2xx": n,
        "live.2xx": 0,
        "live.reset": n,
        compared: 0,
        "not_compared.incomplete": n,
        inflight: 0,
      },
    );
  },
);
