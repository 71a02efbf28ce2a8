/**
 * Contexts as the host keeps them, and one HTTP stream (a stream context) driven through its
 * callbacks: which header maps and body a callback may reach, what the filter did to the stream.
 */
import { FilterStatus, HeaderMapType } from "./abi.ts";
import { HeaderMap, type HeaderInput, toBuffer } from "./pairs.ts";
import type { HeaderMutation } from "./records.ts";

/** A root context: it holds a plugin configuration and owns the HTTP calls dispatched under it. */
export interface RootState {
  kind: "root";
  id: number;
  deleted: boolean;
  configuration: Buffer;
  /** PluginConfiguration is readable only during on_vm_start / on_configure (Envoy temp_plugin_). */
  configuring: boolean;
  configured: boolean;
}

/** A stream context, under a root context. */
export interface StreamState {
  kind: "stream";
  id: number;
  rootId: number;
  deleted: boolean;
  stream: Stream;
}

export type Ctx = RootState | StreamState;

/** What a stream needs of its host: the context by id, calls into the module, teardown. */
export interface ContextHost {
  _context(id: number): Ctx;
  _invoke(
    name: string,
    ctx: Ctx | null,
    args: number[],
    absent: number,
  ): number;
  _deleteContext(ctx: Ctx): void;
}

/** Which maps a stream callback may touch: Envoy keeps the pointer only until Continue. */
interface Live {
  requestHeaders: boolean;
  requestTrailers: boolean;
  responseHeaders: boolean;
  responseTrailers: boolean;
  requestBody: Buffer | null;
  responseBody: Buffer | null;
  /** During proxy_on_log: request/response headers and response trailers readable, not writable. */
  logPhase: boolean;
}

type LiveMap =
  | "requestHeaders"
  | "requestTrailers"
  | "responseHeaders"
  | "responseTrailers";

/** One HTTP stream (a stream context) and what the filter did to it. */
export class Stream {
  /** The live request as it leaves the filter (what the upstream would receive). */
  readonly request = {
    headers: new HeaderMap(),
    body: Buffer.alloc(0),
    trailers: new HeaderMap(),
    ended: false,
  };
  /** The live response as it leaves the filter. */
  readonly response = {
    headers: new HeaderMap(),
    body: Buffer.alloc(0),
    trailers: new HeaderMap(),
    ended: false,
  };
  /** Every header-map mutation the module made on this stream. */
  readonly mutations: HeaderMutation[] = [];
  /** `proxy_continue_stream` calls (0 = request, 1 = response). */
  readonly continued: number[] = [];
  /** `proxy_send_local_response`, if the module called it. */
  localResponse?: {
    status: number;
    details: string;
    body: Buffer;
    headers: HeaderMap;
    grpcStatus: number;
  };
  /** Statuses returned by each callback, in order, e.g. ["proxy_on_request_headers", 0]. */
  readonly statuses: Array<[string, number]> = [];
  deleted = false;
  /** proxy_on_done's answer (true = done). */
  doneResult?: boolean;
  /** @internal */
  readonly live: Live = {
    requestHeaders: false,
    requestTrailers: false,
    responseHeaders: false,
    responseTrailers: false,
    requestBody: null,
    responseBody: null,
    logPhase: false,
  };

  constructor(
    private readonly host: ContextHost,
    readonly id: number,
    readonly rootId: number,
  ) {}

  /** proxy_on_request_headers with these headers; returns the filter status. */
  requestHeaders(headers: HeaderInput, endOfStream = false): number {
    this.request.headers = new HeaderMap(headers);
    this.request.ended = endOfStream;
    return this.run("proxy_on_request_headers", "requestHeaders", [
      this.request.headers.size,
      endOfStream ? 1 : 0,
    ]);
  }

  /** Sets HttpRequestBody to `chunk`, then proxy_on_request_body(len, eos); returns the status. */
  requestBody(chunk: string | Uint8Array, endOfStream = false): number {
    const data = toBuffer(chunk);
    this.request.body = Buffer.concat([this.request.body, data]);
    this.request.ended = endOfStream;
    this.live.requestBody = data;
    try {
      return this.run("proxy_on_request_body", null, [
        data.length,
        endOfStream ? 1 : 0,
      ]);
    } finally {
      this.live.requestBody = null;
    }
  }

  /** proxy_on_request_trailers (which ends the request); returns the status. */
  requestTrailers(trailers: HeaderInput): number {
    this.request.trailers = new HeaderMap(trailers);
    this.request.ended = true;
    return this.run("proxy_on_request_trailers", "requestTrailers", [
      this.request.trailers.size,
    ]);
  }

  /** proxy_on_response_headers; returns the status. */
  responseHeaders(headers: HeaderInput, endOfStream = false): number {
    this.response.headers = new HeaderMap(headers);
    this.response.ended = endOfStream;
    return this.run("proxy_on_response_headers", "responseHeaders", [
      this.response.headers.size,
      endOfStream ? 1 : 0,
    ]);
  }

  /** Sets HttpResponseBody to `chunk`, then proxy_on_response_body; returns the status. */
  responseBody(chunk: string | Uint8Array, endOfStream = false): number {
    const data = toBuffer(chunk);
    this.response.body = Buffer.concat([this.response.body, data]);
    this.response.ended = endOfStream;
    this.live.responseBody = data;
    try {
      return this.run("proxy_on_response_body", null, [
        data.length,
        endOfStream ? 1 : 0,
      ]);
    } finally {
      this.live.responseBody = null;
    }
  }

  /** proxy_on_response_trailers; returns the status. */
  responseTrailers(trailers: HeaderInput): number {
    this.response.trailers = new HeaderMap(trailers);
    this.response.ended = true;
    return this.run("proxy_on_response_trailers", "responseTrailers", [
      this.response.trailers.size,
    ]);
  }

  /**
   * The stream is destroyed: proxy_on_done, proxy_on_log, proxy_on_delete. Calls dispatched
   * during its callbacks belong to its root context and stay pending.
   */
  done(): void {
    this.assertAlive("done");
    const ctx = this.host._context(this.id);
    this.doneResult =
      this.host._invoke("proxy_on_done", ctx, [this.id], 1) !== 0;
    this.live.logPhase = true;
    try {
      this.host._invoke("proxy_on_log", ctx, [this.id], 0);
    } finally {
      this.live.logPhase = false;
    }
    this.host._deleteContext(ctx);
  }

  /** A downstream reset before the request ended: to the module it is the same teardown. */
  reset(): void {
    this.done();
  }

  private run(
    callback: string,
    liveMap: LiveMap | null,
    args: number[],
  ): number {
    this.assertAlive(callback);
    const ctx = this.host._context(this.id);
    if (liveMap !== null) this.live[liveMap] = true;
    const status = this.host._invoke(
      callback,
      ctx,
      [this.id, ...args],
      FilterStatus.Continue,
    );
    this.statuses.push([callback, status]);
    // Envoy drops its pointer to the map once the filter answers Continue.
    if (liveMap !== null && status === FilterStatus.Continue)
      this.live[liveMap] = false;
    return status;
  }

  /**
   * The map of `type` a callback of this stream may mutate now (Envoy getMap), or null (the host
   * answers BadArgument); with `forReading`, also what proxy_on_log may read (Envoy getConstMap).
   */
  reachableMap(type: number, forReading: boolean): HeaderMap | null {
    if (forReading && this.live.logPhase) {
      if (type === HeaderMapType.RequestHeaders) return this.request.headers;
      if (type === HeaderMapType.ResponseHeaders) return this.response.headers;
      if (type === HeaderMapType.ResponseTrailers)
        return this.response.trailers;
    }
    switch (type) {
      case HeaderMapType.RequestHeaders:
        return this.live.requestHeaders ? this.request.headers : null;
      case HeaderMapType.RequestTrailers:
        return this.live.requestTrailers ? this.request.trailers : null;
      case HeaderMapType.ResponseHeaders:
        return this.live.responseHeaders ? this.response.headers : null;
      case HeaderMapType.ResponseTrailers:
        return this.live.responseTrailers ? this.response.trailers : null;
      default:
        return null;
    }
  }

  private assertAlive(what: string): void {
    if (this.deleted)
      throw new Error(
        `stream ${this.id}: ${what} after the stream was deleted`,
      );
  }
}
