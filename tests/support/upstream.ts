/**
 * Recording upstreams on loopback: Node HTTP/1.1 servers that keep every request they receive
 * (headers, body, trailers, timings) and answer as a test's Behaviour says — or hang, reset, or
 * reset mid-response.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import type net from "node:net";
import { refusedPort } from "../../tools/net.ts";
import { now, waitFor } from "../../tools/wait.ts";

export const sha256 = (b: Buffer) =>
  createHash("sha256").update(b).digest("hex");

/** One request as an upstream received it. */
export interface Recorded {
  seq: number;
  method: string;
  path: string;
  httpVersion: string;
  /** Lower-cased names; repeated headers joined as Node does. */
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** Request trailers (HTTP/1.1 chunked or HTTP/2), lower-cased names. */
  trailers: NodeJS.Dict<string>;
  /** `now()` when the headers arrived and when the body ended. */
  startedAt: number;
  endedAt: number;
  /** `now()` when the upstream finished writing its answer (unset while hanging, or when reset). */
  answeredAt?: number;
}

/**
 * How an upstream answers. `hang` never answers; `reset` destroys the connection after reading;
 * `reset-mid-response` sends the status, headers and half of the body, then destroys the connection.
 */
export interface Behaviour {
  status?: number | ((r: Recorded) => number);
  headers?: Record<string, string | string[]>;
  body?: string | Buffer | ((r: Recorded) => string | Buffer);
  /** Echo the request body back (overrides `body`). */
  echo?: boolean;
  delayMs?: number;
  mode?: "answer" | "hang" | "reset" | "reset-mid-response";
  /** Overrides for one request, chosen from what it carries (e.g. a fault named in its path). */
  per?: (r: Recorded) => Omit<Behaviour, "per">;
}

/** A Node HTTP/1.1 server on 127.0.0.1 that records every request. */
export interface Upstream {
  name: string;
  port: number;
  records: Recorded[];
  behaviour: Behaviour;
  /** Requests received and not yet answered or closed; `peakActive` is its highest value so far. */
  active: number;
  peakActive: number;
  /** Waits until at least `n` requests were recorded. */
  waitForCount(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a recording upstream on 127.0.0.1 port 0. `behaviour` may be changed later. */
export async function startUpstream(
  name: string,
  behaviour: Behaviour = {},
): Promise<Upstream> {
  const records: Recorded[] = [];
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const upstream = {
    name,
    port: 0,
    records,
    behaviour,
    active: 0,
    peakActive: 0,
  } as Upstream;
  // Header limits well above Envoy's (60 KiB, 100 headers): the upstream never refuses what Envoy forwards.
  const server = http.createServer(
    { maxHeaderSize: 256 * 1024 },
    (req, res) => {
      const startedAt = now();
      upstream.active++;
      upstream.peakActive = Math.max(upstream.peakActive, upstream.active);
      let settled = false;
      const settle = () => {
        if (!settled) {
          settled = true;
          upstream.active--;
        }
      };
      res.on("finish", settle);
      res.on("close", settle);
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const rec: Recorded = {
          seq: records.length,
          method: req.method ?? "",
          path: req.url ?? "",
          httpVersion: req.httpVersion,
          headers: req.headers,
          rawHeaders: req.rawHeaders,
          body: Buffer.concat(chunks),
          trailers: { ...req.trailers },
          startedAt,
          endedAt: now(),
        };
        records.push(rec);
        const b = { ...upstream.behaviour, ...upstream.behaviour.per?.(rec) };
        const mode = b.mode ?? "answer";
        if (mode === "hang") return;
        if (mode === "reset") {
          req.socket.destroy();
          return;
        }
        if (mode === "reset-mid-response") {
          const body = Buffer.from(
            typeof b.body === "function"
              ? b.body(rec)
              : (b.body ?? "x".repeat(4096)),
          );
          res.writeHead(200, {
            "content-type": "text/plain",
            "content-length": body.length,
          });
          res.write(body.subarray(0, body.length >> 1), () =>
            req.socket.destroy(),
          );
          return;
        }
        const answer = () => {
          timers.delete(timer);
          const body = b.echo
            ? rec.body
            : typeof b.body === "function"
              ? b.body(rec)
              : (b.body ?? `${name} ${rec.method} ${rec.path}\n`);
          res.writeHead(
            typeof b.status === "function" ? b.status(rec) : (b.status ?? 200),
            {
              "content-type": "text/plain",
              "content-length": Buffer.byteLength(body),
              ...b.headers,
            },
          );
          res.end(body, () => (rec.answeredAt = now()));
        };
        const timer = setTimeout(answer, b.delayMs ?? 0);
        timers.add(timer);
      });
    },
  );
  // Envoy pools upstream connections for up to an hour: never close one under it.
  server.keepAliveTimeout = 600_000;
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  // A deep accept queue: thousands of connections may arrive at once (tests/e2e/hostile.test.ts).
  await new Promise<void>((r) =>
    server.listen({ port: 0, host: "127.0.0.1", backlog: 8192 }, r),
  );
  upstream.port = (server.address() as net.AddressInfo).port;
  upstream.waitForCount = (n, timeoutMs = 10_000) =>
    waitFor(
      `${name} to record ${n} requests (has ${records.length})`,
      () => records.length >= n,
      timeoutMs,
    ).then(() => undefined);
  upstream.close = async () => {
    for (const t of timers) clearTimeout(t);
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  };
  return upstream;
}

/** An upstream whose port refuses connections (records stay empty). */
export async function refusingUpstream(name: string): Promise<Upstream> {
  return {
    name,
    port: await refusedPort(),
    records: [],
    behaviour: {},
    active: 0,
    peakActive: 0,
    waitForCount: async () => {
      throw new Error(`${name} refuses connections and records nothing`);
    },
    close: async () => {},
  };
}

/** What `u` recorded, one line per request (at most `limit`), for a failed case's dump. */
export function describeRecords(u: Upstream, limit = 40): string {
  const t0 = u.records[0]?.startedAt ?? 0;
  const lines = u.records.slice(0, limit).map((r) => {
    const headers = JSON.stringify(r.headers);
    const body =
      r.body.length <= 64
        ? JSON.stringify(r.body.toString("latin1"))
        : `sha256 ${sha256(r.body).slice(0, 16)}`;
    return `  #${r.seq} +${(r.startedAt - t0).toFixed(1)}ms ${r.method} ${r.path} HTTP/${r.httpVersion} ${headers} body ${r.body.length} B ${body}`;
  });
  if (u.records.length > limit)
    lines.push(`  ... and ${u.records.length - limit} more`);
  return `upstream ${u.name} (127.0.0.1:${u.port}, ${JSON.stringify(u.behaviour)}) recorded ${u.records.length} requests\n${lines.join("\n")}`;
}
