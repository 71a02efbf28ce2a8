/**
 * Downstream clients: one HTTP/1.1 request read whole, GETs that must be answered 200, keep-alive
 * agents, HTTP/2 prior-knowledge sessions and requests, and a bounded-concurrency map for load.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import http from "node:http";
import http2 from "node:http2";
import { now } from "../../tools/wait.ts";

/** A response as the downstream client saw it. */
export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  ms: number;
}

/** One downstream HTTP/1.1 request to `envoy`'s listener (or any port). */
export interface RequestSpec {
  method?: string;
  path?: string;
  headers?: Record<string, string | string[]>;
  /** Sent with content-length. */
  body?: Buffer | string;
  /** Sent chunked, one write per element. */
  chunks?: Buffer[];
  agent?: http.Agent;
}

/** Sends one HTTP/1.1 request and reads the whole response. */
export function request(port: number, spec: RequestSpec = {}): Promise<Reply> {
  const started = now();
  return new Promise((resolve, reject) => {
    const body = spec.body === undefined ? undefined : Buffer.from(spec.body);
    const headers: Record<string, string | string[] | number> = {
      ...spec.headers,
    };
    if (body) headers["content-length"] = body.length;
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: spec.method ?? "GET",
        path: spec.path ?? "/",
        headers,
        agent: spec.agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            ms: now() - started,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (spec.chunks) {
      for (const c of spec.chunks) req.write(c);
      req.end();
    } else req.end(body);
  });
}

/** `/orders/0` … `/orders/${n - 1}`. */
export const orderPaths = (n: number): string[] =>
  Array.from({ length: n }, (_, i) => `/orders/${i}`);

/**
 * GETs each of `paths` (`concurrency` at a time [1: one after another]), each with its own
 * x-request-id and `headers`; asserts that every one was answered 200 and returns the replies.
 */
export function getEach(
  port: number,
  paths: readonly string[],
  o: {
    concurrency?: number;
    agent?: http.Agent;
    headers?: Record<string, string>;
  } = {},
): Promise<Reply[]> {
  return mapConcurrent(paths, o.concurrency ?? 1, async (path) => {
    const reply = await request(port, {
      path,
      headers: { "x-request-id": randomUUID(), ...o.headers },
      agent: o.agent,
    });
    assert.equal(reply.status, 200, path);
    return reply;
  });
}

/** A keep-alive agent bounding the number of connections. */
export function keepAliveAgent(maxSockets = 16): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets });
}

/** Runs `fn` over `items` with at most `concurrency` in flight; results in order. */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, worker),
  );
  return out;
}

/** An HTTP/2 prior-knowledge (h2c) session to `port`. */
export function h2session(port: number): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.once("connect", () => resolve(session));
    session.once("error", reject);
  });
}

/** One HTTP/2 request on `session`: `body` with content-length, or `chunks` written one by one. */
export function h2request(
  session: http2.ClientHttp2Session,
  spec: {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: Buffer;
    chunks?: Buffer[];
  },
): Promise<Reply> {
  const started = now();
  return new Promise((resolve, reject) => {
    const headers: http2.OutgoingHttpHeaders = {
      ":method": spec.method ?? "GET",
      ":path": spec.path ?? "/",
      ...spec.headers,
    };
    if (spec.body) headers["content-length"] = spec.body.length;
    const stream = session.request(headers, {
      endStream: !spec.body && !spec.chunks,
    });
    let status = 0;
    let resHeaders: http.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      resHeaders = h as http.IncomingHttpHeaders;
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () =>
      resolve({
        status,
        headers: resHeaders,
        body: Buffer.concat(chunks),
        ms: now() - started,
      }),
    );
    stream.on("error", reject);
    if (spec.body) stream.end(spec.body);
    else if (spec.chunks) {
      for (const c of spec.chunks) stream.write(c);
      stream.end();
    }
  });
}
