// Deterministic sampling in the real Envoy: the mirrored share at 10 % over 20,000 requests, each
// request id's fate against the sampling formula (independent XXH64), the same fate on every worker
// and after a restart, and per-user all-or-none mirroring keyed on a header and on a cookie.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { binomialBound, mirroredByFormula } from "../support/sampling.ts";
import { DARK_CLUSTER, type EnvoyOptions } from "../support/envoy-config.ts";
import { type Envoy } from "../support/envoy.ts";
import { mapConcurrent, request } from "../support/clients.ts";
import { now } from "../../tools/wait.ts";
import { scenario, type Scope } from "../support/scenario.ts";
import { statName } from "../support/stat-names.ts";
import { type Recorded, type Upstream } from "../support/upstream.ts";

/** Sends one GET per id (x-request-id = id) over a fresh keep-alive agent; all must be 200. */
async function sendIds(
  s: Scope,
  envoy: Envoy,
  ids: readonly string[],
  sockets = 32,
): Promise<number> {
  const agent = s.agent(sockets);
  const started = now();
  await mapConcurrent(ids, sockets * 2, async (id, i) => {
    const reply = await request(envoy.listenerPort, {
      path: `/menu/${i}`,
      headers: { "x-request-id": id },
      agent,
    });
    assert.equal(
      reply.status,
      200,
      `request ${id}: ${reply.status} ${reply.body.toString()}`,
    );
  });
  agent.destroy();
  return now() - started;
}

/** Waits until every decision of `n` requests is counted and every dark copy has been answered. */
async function settle(
  envoy: Envoy,
  dark: Upstream,
  decided: number,
): Promise<Record<string, number>> {
  await envoy.waitForCounter(
    "skipped.sampled_out",
    (v) => v > 0 || decided === 0,
  );
  let c: Record<string, number> = {};
  await envoyWait(envoy, async () => {
    c = await envoy.targetCounters();
    return (
      c.copies + c["skipped.sampled_out"] >= decided &&
      c["dark.2xx"] >= c.copies &&
      dark.records.length >= c.copies
    );
  });
  return c;
}

async function envoyWait(
  envoy: Envoy,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = now() + 20_000;
  while (!(await check())) {
    if (now() > deadline)
      throw new Error(
        `${envoy.name}: counters did not settle: ${JSON.stringify(await envoy.targetCounters())}`,
      );
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** How many copies of each x-request-id the dark upstream received. */
function darkCountsById(dark: Upstream): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of dark.records) {
    const id = String(r.headers["x-request-id"]);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** Ids whose dark copy count differs from `copies` × formula. */
function fateMismatches(
  dark: Upstream,
  ids: readonly string[],
  salt: string,
  percentage: number,
  copies: number,
): string[] {
  const counts = darkCountsById(dark);
  return ids.filter(
    (id) =>
      (counts.get(id) ?? 0) !==
      (mirroredByFormula(salt, id, percentage) ? copies : 0),
  );
}

/** Per-worker downstream connection counts of the listener. */
async function connectionsPerWorker(envoy: Envoy): Promise<number[]> {
  const out: number[] = [];
  for (const [name, value] of await envoy.stats()) {
    const m = /^listener\.ingress\.worker_(\d+)\.downstream_cx_total$/.exec(
      name,
    );
    if (m) out[Number(m[1])] = value;
  }
  return out;
}

scenario(
  "at 10 % over 20,000 requests the share is within the 99.9 % binomial bound, each id's fate follows the sampling formula, on every worker and after a restart",
  async (s) => {
    const salt = "e2e-rollout-1";
    const percentage = 10;
    const n = 20_000;
    const live = await s.upstream("kitchen");
    const dark = await s.upstream("kitchen-next");
    const options: EnvoyOptions = {
      live,
      dark,
      concurrency: 2,
      plugin: {
        targets: [{ cluster: DARK_CLUSTER, percentage }],
        sampling: { salt },
        max_inflight: 1000,
      },
    };
    let envoy = await s.envoy({ ...options, name: "first" });
    const ids = Array.from({ length: n }, () => randomUUID());

    const ms = await sendIds(s, envoy, ids);
    s.t.diagnostic(
      `${n} requests through Envoy in ${(ms / 1000).toFixed(1)} s (${Math.round(n / (ms / 1000))} req/s)`,
    );
    const c = await settle(envoy, dark, n);
    assert.equal(live.records.length, n);
    const liveIds = new Set(live.records.map((r) => r.headers["x-request-id"]));
    assert.ok(
      ids.every((id) => liveIds.has(id)),
      "live did not receive every client x-request-id unchanged",
    );
    assert.equal(
      c["skipped.overloaded"],
      0,
      "overload skips would break determinism",
    );
    assert.equal(c.copies + c["skipped.sampled_out"], n);
    assert.equal(dark.records.length, c.copies);
    const [lo, hi] = binomialBound(n, percentage / 100);
    assert.ok(
      c.copies >= lo && c.copies <= hi,
      `mirrored ${c.copies} of ${n}, 99.9 % bound [${lo.toFixed(0)}, ${hi.toFixed(0)}]`,
    );
    const wrong = fateMismatches(dark, ids, salt, percentage, 1);
    assert.deepEqual(
      wrong.slice(0, 10),
      [],
      `${wrong.length} ids whose fate differs from the sampling formula`,
    );
    const workers = await connectionsPerWorker(envoy);
    assert.ok(
      workers.length === 2 && workers.every((w) => w > 0),
      `connections per worker ${workers}: one worker served nothing`,
    );

    // Same ids again on fresh connections (landing on either worker), then after a restart.
    const yes = ids
      .filter((id) => mirroredByFormula(salt, id, percentage))
      .slice(0, 1000);
    const no = ids
      .filter((id) => !mirroredByFormula(salt, id, percentage))
      .slice(0, 1000);
    const again = [...no, ...yes].sort(() => Math.random() - 0.5);
    const darkBefore = dark.records.length;
    await sendIds(s, envoy, again, 16);
    await settle(envoy, dark, n + again.length);
    assert.equal(dark.records.length - darkBefore, yes.length);
    const wrongAgain = fateMismatches(dark, again, salt, percentage, 2);
    assert.deepEqual(
      wrongAgain.slice(0, 10),
      [],
      `${wrongAgain.length} ids changed fate on a second pass across workers`,
    );

    await envoy.stop();
    envoy = await s.envoy({ ...options, name: "restarted" });
    await sendIds(s, envoy, again, 16);
    await settle(envoy, dark, again.length);
    const wrongRestart = fateMismatches(dark, again, salt, percentage, 3);
    assert.deepEqual(
      wrongRestart.slice(0, 10),
      [],
      `${wrongRestart.length} ids changed fate after an Envoy restart`,
    );
    const restartedWorkers = await connectionsPerWorker(envoy);
    assert.ok(
      restartedWorkers.length === 2 && restartedWorkers.every((w) => w > 0),
      `connections per worker ${restartedWorkers}`,
    );
  },
  { timeout: 240_000 },
);

/**
 * Users sending `perUser` requests each (`path`, `headersOf` the user), interleaved, every request
 * with its own x-request-id.
 */
async function sendPerUser(
  s: Scope,
  envoy: Envoy,
  users: readonly string[],
  perUser: number,
  headersOf: (user: string) => Record<string, string>,
  path: (user: string) => string = () => "/orders/mine",
): Promise<void> {
  const agent = s.agent(8);
  const sends = Array.from({ length: perUser }, () => users).flat();
  await mapConcurrent(sends, 16, async (user) => {
    const reply = await request(envoy.listenerPort, {
      path: path(user),
      headers: { ...headersOf(user), "x-request-id": randomUUID() },
      agent,
    });
    assert.equal(reply.status, 200);
  });
}

/** Per user: dark copies must be all (perUser) or none, as the formula says; both fates occur. */
function assertAllOrNone(
  dark: Upstream,
  users: readonly string[],
  userOf: (r: Recorded) => string | undefined,
  salt: string,
  pct: number,
  perUser: number,
): void {
  const counts = new Map<string, number>();
  for (const r of dark.records) {
    const u = userOf(r);
    assert.ok(
      u !== undefined,
      `a dark copy without its user: ${r.path} ${JSON.stringify(r.headers)}`,
    );
    counts.set(u, (counts.get(u) ?? 0) + 1);
  }
  const wrong = users.filter(
    (u) =>
      (counts.get(u) ?? 0) !== (mirroredByFormula(salt, u, pct) ? perUser : 0),
  );
  assert.deepEqual(
    wrong.slice(0, 10).map((u) => `${u}: ${counts.get(u) ?? 0} copies`),
    [],
    `${wrong.length} users not mirrored all-or-none per the formula`,
  );
  const mirroredUsers = users.filter((u) =>
    mirroredByFormula(salt, u, pct),
  ).length;
  assert.ok(
    mirroredUsers > 0 && mirroredUsers < users.length,
    "the fixture users should get both fates",
  );
}

scenario(
  "keyed on header:x-user-id, each user is mirrored on all or none of their requests",
  async (s) => {
    const salt = "users";
    const pct = 50;
    const perUser = 5;
    const users = Array.from(
      { length: 120 },
      (_, i) => `user-${i}-${randomUUID().slice(0, 8)}`,
    );
    const { dark, envoy } = await s.liveAndDark({
      plugin: {
        targets: [{ cluster: DARK_CLUSTER, percentage: pct }],
        sampling: { keys: ["header:x-user-id"], salt },
      },
    });
    await sendPerUser(s, envoy, users, perUser, (u) => ({ "x-user-id": u }));
    const expected =
      users.filter((u) => mirroredByFormula(salt, u, pct)).length * perUser;
    await envoy.waitForCounter("copies", expected);
    await dark.waitForCount(expected);
    assertAllOrNone(
      dark,
      users,
      (r) => r.headers["x-user-id"] as string | undefined,
      salt,
      pct,
      perUser,
    );
    // A request without the key is not mirrored.
    await request(envoy.listenerPort, { path: "/orders/anonymous" });
    await envoy.waitForCounter("skipped.no_key", 1);
    assert.equal(dark.records.length, expected);
  },
);

scenario(
  "keyed on cookie:session, each session is mirrored on all or none of its requests",
  async (s) => {
    const salt = "";
    const pct = 50;
    const perUser = 4;
    const sessions = Array.from({ length: 120 }, () => randomUUID());
    const { dark, envoy } = await s.liveAndDark({
      plugin: {
        targets: [{ cluster: DARK_CLUSTER, percentage: pct }],
        sampling: { keys: ["cookie:session"] },
      },
    });
    // The session is identified on the dark side by a path token: cookies never leave for dark.
    await sendPerUser(
      s,
      envoy,
      sessions,
      perUser,
      (sid) => ({ cookie: `theme=dark; session=${sid}; lang=en` }),
      (sid) => `/orders/mine?sid=${sid}`,
    );
    const expected =
      sessions.filter((sid) => mirroredByFormula(salt, sid, pct)).length *
      perUser;
    await envoy.waitForCounter("copies", expected);
    await dark.waitForCount(expected);
    for (const r of dark.records)
      assert.equal(r.headers.cookie, undefined, "cookie reached dark");
    assertAllOrNone(
      dark,
      sessions,
      (r) => new URL(r.path, "http://x").searchParams.get("sid") ?? undefined,
      salt,
      pct,
      perUser,
    );
  },
);
