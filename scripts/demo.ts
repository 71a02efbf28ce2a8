// `npm start`: the dark-launch demo. Two kitchens on loopback — the live
// kitchen, which prepares burger orders, and the next kitchen (dark), which
// prepares the mirrored copies with its new recipe — and Envoy in front with the
// mirror filter: envoy/envoy.yaml with the plugin config of envoy/config.json
// (or --config FILE), checked by the filter itself before anything starts. Sends a
// burst of sample orders, then prints what was mirrored, what was skipped and why,
// and how the next kitchen answered, all read from Envoy's stats. Runs until
// Ctrl-C, or `--duration SECONDS`.
import http from "node:http";
import net from "node:net";
import { parseArgs } from "node:util";
import { ensureBuild } from "../tools/build.ts";
import { shownPath, userPath } from "../tools/paths.ts";
import { EnvoyProcess } from "../tools/envoy/process.ts";
import { freePort } from "../tools/net.ts";
import { ensureEnvoy, EnvoySetupError } from "../tools/provision/envoy.ts";
import { parseStatName } from "./metrics.ts";
import {
  type DemoPorts,
  PLUGIN_CONFIG_FILE,
  readCheckedPluginConfig,
  SHIPPED_PORTS,
  shippedEnvoyConfig,
} from "./plugin-config.ts";
import { runReport } from "./report/cli.ts";

const DARK_CLUSTER = "kitchen-next";
/** The ports in use (the shipped ones unless flags say otherwise). */
let ports: DemoPorts = { ...SHIPPED_PORTS };

const say = (s = "") => process.stdout.write(s + "\n");

class DemoError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

export const USAGE = `usage: npm start [-- OPTIONS]

The dark-launch demo: the live kitchen, the next kitchen (dark) and Envoy with the mirror filter.

  --duration SECONDS   stop after this long (default: run until Ctrl-C)
  --config FILE        the plugin config (default envoy/config.json), checked by the filter first
  --listener-port N    Envoy's listener            [${SHIPPED_PORTS.listener}]
  --admin-port N       Envoy's admin               [${SHIPPED_PORTS.admin}]
  --live-port N        the live kitchen            [${SHIPPED_PORTS.live}]
  --dark-port N        the next kitchen (dark)     [${SHIPPED_PORTS.dark}]
                       (0: any free port)
  -h, --help
`;

interface Options {
  duration?: number;
  config: string;
  ports: DemoPorts;
}

/** Parses the command line; nothing is built or started before. */
function options(): Options {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        duration: { type: "string" },
        config: { type: "string" },
        "listener-port": { type: "string" },
        "admin-port": { type: "string" },
        "live-port": { type: "string" },
        "dark-port": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    throw new DemoError(`${(err as Error).message} (npm start -- --help)`, 2);
  }
  if (values.help) {
    say(USAGE.trimEnd());
    process.exit(0);
  }
  const port = (flag: keyof DemoPorts, fallback: number): number => {
    const text = values[`${flag}-port`];
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n > 65535)
      throw new DemoError(
        `--${flag}-port: must be a port number (0-65535, 0: any free port), got "${text}"`,
        2,
      );
    return n;
  };
  const chosen: DemoPorts = {
    listener: port("listener", SHIPPED_PORTS.listener),
    admin: port("admin", SHIPPED_PORTS.admin),
    live: port("live", SHIPPED_PORTS.live),
    dark: port("dark", SHIPPED_PORTS.dark),
  };
  const taken = Object.values(chosen).filter((p) => p !== 0);
  if (new Set(taken).size !== taken.length)
    throw new DemoError(
      `the four ports must differ, got ${JSON.stringify(chosen)}`,
      2,
    );
  const config =
    values.config === undefined ? PLUGIN_CONFIG_FILE : userPath(values.config);
  if (values.duration === undefined) return { config, ports: chosen };
  const d = Number(values.duration);
  if (!Number.isFinite(d) || d <= 0)
    throw new DemoError(
      `--duration: must be a positive number of seconds, got "${values.duration}"`,
      2,
    );
  return { duration: d, config, ports: chosen };
}

/** Fails clearly when a port the demo needs is taken. */
async function checkPortFree(port: number, who: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = net.createServer();
    s.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new DemoError(
          err.code === "EADDRINUSE"
            ? `port ${port} on 127.0.0.1 is taken (${who} needs it); stop whatever listens there and try again`
            : `cannot listen on 127.0.0.1:${port} (${who}): ${err.message}`,
        ),
      ),
    );
    s.listen(port, "127.0.0.1", () => s.close(() => resolve()));
  });
}

interface Order {
  id: number;
  burger: string;
  user: string;
}

/**
 * The order book both kitchens read, as a dark version reads the live
 * datastore: only the live kitchen writes to it, since POSTs are not mirrored.
 */
const orderBook = new Map<number, Order>();

/** A kitchen: GET /menu, GET /orders/:id, POST /orders. Counts what it received. */
function kitchen(name: string, recipe: string, extraMs: number) {
  const orders = orderBook;
  const received: {
    method: string;
    path: string;
    shadow: boolean;
    user: string;
  }[] = [];
  let next = 1;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({
        method: req.method ?? "",
        path: req.url ?? "",
        shadow: req.headers["x-shadow"] === "true",
        user: String(req.headers["x-user-id"] ?? ""),
      });
      const reply = (status: number, body: unknown) =>
        setTimeout(() => {
          const text = JSON.stringify(body) + "\n";
          res.writeHead(status, {
            "content-type": "application/json",
            "x-kitchen": name,
          });
          res.end(text);
        }, extraMs);
      const url = req.url ?? "/";
      if (req.method === "GET" && url.startsWith("/menu")) {
        return reply(200, {
          kitchen: name,
          burgers: ["classic", "cheese", "veggie"],
          recipe,
        });
      }
      const m = /^\/orders\/(\d+)/.exec(url);
      if (req.method === "GET" && m) {
        const o = orders.get(Number(m[1]));
        return reply(o ? 200 : 404, o ?? { error: "no such order" });
      }
      if (req.method === "POST" && url.startsWith("/orders")) {
        if (req.headers["x-shadow"] === "true") {
          // A copy of a write must never write: refuse rather than double-book.
          return reply(409, { error: "shadow traffic never places orders" });
        }
        let burger = "classic";
        try {
          burger =
            JSON.parse(Buffer.concat(chunks).toString()).burger ?? burger;
        } catch {
          /* a plain classic, then */
        }
        const o = {
          id: next++,
          burger,
          user: String(req.headers["x-user-id"] ?? ""),
        };
        orders.set(o.id, o);
        return reply(201, { ...o, recipe, kitchen: name });
      }
      reply(404, { error: "not on the menu" });
    });
  });
  return { name, server, received, orders };
}

function listen(server: http.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
}

function send(
  method: string,
  path: string,
  user: string,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port: ports.listener,
        method,
        path,
        headers: {
          "x-user-id": user,
          authorization: `Bearer token-of-${user}`,
          ...(body ? { "content-type": "application/json" } : {}),
        },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", () => resolve({ status: 0, body: "" }));
    req.end(body);
  });
}

/** The filter's counters for the dark target, from /stats, by series key (scripts/metrics.ts). */
async function mirrorStats(envoy: EnvoyProcess): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const [name, value] of await envoy.stats("wasmcustom")) {
    const parsed = parseStatName(name);
    if (parsed?.target === DARK_CLUSTER) out.set(parsed.key, value);
  }
  return out;
}

async function waitFor(
  cond: () => Promise<boolean>,
  ms: number,
): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if (await cond()) return true;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** The sum of the series whose key is `key` or starts with `key.` (scripts/metrics.ts keys). */
function total(stats: Map<string, number>, ...keys: string[]): number {
  let sum = 0;
  for (const [k, v] of stats)
    if (keys.some((key) => k === key || k.startsWith(`${key}.`))) sum += v;
  return sum;
}

/** Requests the filter has counted: each once, as a copy, a skip or a dispatch failure. */
const accounted = (stats: Map<string, number>) =>
  total(stats, "copies", "skipped", "dispatch_failures");

/**
 * `envoy`'s filter counters once they account for every one of the `sent` orders and every copy has
 * its dark answer (the filter hands its counts to Envoy on a 0.5 s tick, so they lag the
 * requests); after `ms` without that, the counters as they are.
 */
async function settledStats(
  envoy: EnvoyProcess,
  sent: number,
  ms = 10000,
): Promise<Map<string, number>> {
  let stats = new Map<string, number>();
  await waitFor(async () => {
    stats = await mirrorStats(envoy);
    return (
      accounted(stats) === sent &&
      (stats.get("inflight") ?? 0) === 0 &&
      total(stats, "dark") === total(stats, "copies")
    );
  }, ms);
  return stats;
}

function summary(
  stats: Map<string, number>,
  sent: number,
  liveOk: number,
): void {
  const g = (k: string) => stats.get(k) ?? 0;
  say("");
  say(`Live: ${liveOk} of ${sent} orders answered by the live kitchen (2xx).`);
  if (accounted(stats) !== sent)
    say(
      `(Envoy's stats count ${accounted(stats)} of the ${sent} orders so far.)`,
    );
  say(`Mirrored to the next kitchen: ${g("copies")}`);
  const reasons: [string, string][] = [
    [
      "skipped.method",
      "method not mirrored (POST/PUT/PATCH/DELETE are unsafe by default)",
    ],
    [
      "skipped.sampled_out",
      "sampled out (the user's bucket is above the percentage)",
    ],
    ["skipped.no_key", "no sampling key on the request"],
    ["skipped.loop", "already shadow traffic (x-shadow marker)"],
    ["skipped.rate_limited", "over max_rps"],
    ["skipped.body_too_large", "body over max_body_bytes"],
    ["skipped.overloaded", "max_inflight copies already in progress"],
    ["skipped.over_budget", "the memory budget (max_buffered_bytes) was full"],
    ["skipped.not_matched", "the target's match did not fit"],
    ["skipped.live_reset", "live request reset before its end"],
    ["dispatch_failures.unknown_cluster", "dispatch failed: unknown cluster"],
    ["dispatch_failures.no_healthy_host", "dispatch failed: no healthy host"],
    ["dispatch_failures.other", "dispatch failed"],
  ];
  say("Not mirrored:");
  for (const [k, why] of reasons) {
    if (g(k) > 0) say(`  ${String(g(k)).padStart(4)}  ${why}`);
  }
  say(
    `How the next kitchen answered: 2xx ${g("dark.2xx")}, 3xx ${g("dark.3xx")}, ` +
      `4xx ${g("dark.4xx")}, 5xx ${g("dark.5xx")}, reset or timeout ${g("dark.reset")}` +
      ` (in flight: ${g("inflight")})`,
  );
}

async function main(): Promise<void> {
  const opts = options();
  // The filter's own check of the plugin config, before anything starts.
  ensureBuild();
  let pluginJson: string;
  try {
    pluginJson = await readCheckedPluginConfig(opts.config);
  } catch (err) {
    throw new DemoError((err as Error).message);
  }
  ports = { ...opts.ports };
  for (const k of Object.keys(ports) as (keyof DemoPorts)[])
    if (ports[k] === 0) ports[k] = await freePort();
  await checkPortFree(ports.live, "the live kitchen");
  await checkPortFree(ports.dark, "the next kitchen");
  await checkPortFree(ports.listener, "Envoy's listener");
  await checkPortFree(ports.admin, "Envoy's admin");

  const envoy = await ensureEnvoy();
  say(
    `Envoy ${envoy.version} (${envoy.bin}), filter build/mirror.wasm, config ${shownPath(opts.config)}`,
  );

  const live = kitchen("kitchen", "classic recipe", 0);
  const next = kitchen(
    "kitchen-next",
    "new recipe: brioche bun, smoked sauce",
    15,
  );
  await listen(live.server, ports.live);
  await listen(next.server, ports.dark);

  // envoy/envoy.yaml with the plugin config and the ports of this run.
  const e = new EnvoyProcess({
    bin: envoy.bin,
    name: "demo",
    config: await shippedEnvoyConfig(pluginJson, ports),
    concurrency: 2,
    componentLogLevel: "wasm:info",
  });

  const cleanup = async () => {
    await e.stop();
    live.server.close();
    next.server.close();
    live.server.closeAllConnections();
    next.server.closeAllConnections();
    e.removeDir();
  };

  try {
    await e.ready(20_000);
  } catch {
    const log = e.log;
    await cleanup();
    throw new DemoError(`Envoy did not become ready. Its log:\n${log}`);
  }

  say("");
  say(
    `Envoy listens on http://127.0.0.1:${ports.listener} (admin http://127.0.0.1:${ports.admin}).`,
  );
  say(
    `The live kitchen is on :${ports.live}; the next kitchen (dark) on :${ports.dark}.`,
  );
  say("Try:");
  say(`  curl -H 'x-user-id: alice' http://127.0.0.1:${ports.listener}/menu`);
  say(`  curl -s http://127.0.0.1:${ports.admin}/stats?filter=wasmcustom`);
  say("");

  // A short burst of sample orders: eight diners, each reading the menu, placing
  // an order (POST: never mirrored by default) and checking on it.
  const users = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
  ];
  const burgers = ["classic", "cheese", "veggie"];
  let sent = 0;
  let liveOk = 0;
  const track = (r: { status: number; body: string }) => {
    sent++;
    if (r.status >= 200 && r.status < 300) liveOk++;
    return r;
  };
  say("Sending sample orders…");
  await Promise.all(
    users.map(async (user, i) => {
      track(await send("GET", "/menu", user));
      const placed = track(
        await send(
          "POST",
          "/orders",
          user,
          JSON.stringify({ burger: burgers[i % 3] }),
        ),
      );
      let id = 0;
      try {
        id = JSON.parse(placed.body).id;
      } catch {
        /* the order failed; its check will say so */
      }
      track(await send("GET", `/orders/${id}`, user));
      track(await send("GET", "/menu", user));
    }),
  );
  const stats = await settledStats(e, sent);

  for (const r of next.received)
    if (!r.shadow)
      say(
        `  (unexpected: dark received ${r.method} ${r.path} without the marker)`,
      );
  summary(stats, sent, liveOk);
  const darkPosts = next.received.filter((r) => r.method === "POST").length;
  say(
    `The next kitchen received ${next.received.length} copies (${darkPosts} POST), ` +
      `each marked x-shadow: true; its answers went to stats only.`,
  );
  const mirroredUsers = [...new Set(next.received.map((r) => r.user))].sort();
  say(
    `Diners mirrored (keyed on x-user-id, so all of their GETs or none): ` +
      `${mirroredUsers.join(", ") || "none"}.`,
  );
  say(
    "It read the orders from the shared order book; it never placed one, since POSTs are " +
      "not mirrored by default.",
  );
  say("");
  say(
    opts.duration !== undefined
      ? `Diners keep ordering for ${opts.duration} s (or Ctrl-C)…`
      : "Diners keep ordering until Ctrl-C…",
  );
  // A steady trickle of diners, so that the live-vs-dark report has data.
  let round = 0;
  /** Trickle orders still waiting for their live answer. */
  const pending = new Set<Promise<unknown>>();
  const order = (r: Promise<{ status: number; body: string }>) => {
    const p = r.then(track);
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  const trickle = setInterval(() => {
    const user = `diner-${round % 40}`;
    round++;
    const op = round % 4;
    if (op === 0) {
      order(
        send(
          "POST",
          "/orders",
          user,
          JSON.stringify({ burger: burgers[round % 3] }),
        ),
      );
    } else if (op === 1 && orderBook.size > 0) {
      order(send("GET", `/orders/${1 + (round % orderBook.size)}`, user));
    } else {
      order(send("GET", "/menu", user));
    }
  }, 100);
  await new Promise<void>((resolve) => {
    const timer =
      opts.duration !== undefined
        ? setTimeout(resolve, opts.duration * 1000)
        : undefined;
    process.once("SIGINT", () => {
      if (timer) clearTimeout(timer);
      resolve();
    });
    void e.exited.then(() => resolve());
  });
  clearInterval(trickle);
  if (!e.running) {
    const log = e.log;
    await cleanup();
    throw new DemoError(`Envoy exited unexpectedly. Its log:\n${log}`);
  }
  await waitFor(async () => pending.size === 0, 10000);
  const final = await settledStats(e, sent);
  say("");
  say("Final counts:");
  summary(final, sent, liveOk);
  say("");
  say(
    `Is the next kitchen ready? (npm run report -- --admin http://127.0.0.1:${ports.admin})`,
  );
  const report = await runReport({ admin: `http://127.0.0.1:${ports.admin}` });
  process.stdout.write(report.text);
  await cleanup();
}

main().catch((err: unknown) => {
  if (err instanceof DemoError || err instanceof EnvoySetupError) {
    process.stderr.write(`npm start: ${err.message}\n`);
    process.exit(err instanceof DemoError ? err.code : err.exitCode);
  }
  process.stderr.write(
    `npm start: ${err instanceof Error ? err.stack : String(err)}\n`,
  );
  process.exit(1);
});
