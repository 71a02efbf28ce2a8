/**
 * A proxy-wasm host emulator (ABI 0.2.x, wasm32) on Node's WebAssembly, for driving the release
 * `build/mirror.wasm` from tests.
 *
 * State-based, like proxy-wasm-go-sdk's `proxytest`: drive a callback (configure, a stream's
 * headers/body/trailers, a dark response), then inspect what the module did (header maps,
 * dispatched calls, metrics, logs, traps). Each import behaves as Envoy's implementation
 * (source/extensions/common/wasm/context.cc over proxy-wasm-cpp-host) does, including the parts
 * that bite: a stream's header maps and body are only reachable during their own callback, the
 * dispatch context owns its calls (they are cancelled when it is deleted), metric ids start at
 * 4/5/6. An import the module needs that is not implemented here, or whose signature differs from
 * the ABI, fails `Host.load` with the list of names. A trap (WebAssembly.RuntimeError, stack
 * overflow, or `proc_exit`) is recorded in `host.trapped`, fails the VM like Envoy does, and is
 * thrown as a `GuestTrap` from the driver call that hit it.
 */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";

/** Result codes of host calls (proxy-wasm ABI `WasmResult`). */
export const WasmResult = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  ParseFailure: 4,
  BadExpression: 5,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  ResultMismatch: 9,
  InternalFailure: 10,
  BrokenConnection: 11,
  Unimplemented: 12,
} as const;

/** Log levels as `proxy_log` takes them (spdlog's numbering). */
export const LogLevel = {
  trace: 0,
  debug: 1,
  info: 2,
  warn: 3,
  error: 4,
  critical: 5,
} as const;
export type LogLevelName = keyof typeof LogLevel;

/** Header map types (proxy-wasm ABI `WasmHeaderMapType`). */
export const HeaderMapType = {
  RequestHeaders: 0,
  RequestTrailers: 1,
  ResponseHeaders: 2,
  ResponseTrailers: 3,
  GrpcReceiveInitialMetadata: 4,
  GrpcReceiveTrailingMetadata: 5,
  HttpCallResponseHeaders: 6,
  HttpCallResponseTrailers: 7,
} as const;

/** Buffer types (proxy-wasm ABI `WasmBufferType`). */
export const BufferType = {
  HttpRequestBody: 0,
  HttpResponseBody: 1,
  NetworkDownstreamData: 2,
  NetworkUpstreamData: 3,
  HttpCallResponseBody: 4,
  GrpcReceiveBuffer: 5,
  VmConfiguration: 6,
  PluginConfiguration: 7,
  CallData: 8,
} as const;

/** Metric types (proxy-wasm ABI `MetricType`). */
export const MetricType = { Counter: 0, Gauge: 1, Histogram: 2 } as const;

/** Filter statuses a stream callback returns (headers, body and trailers share 0 = Continue). */
export const FilterStatus = {
  Continue: 0,
  StopIteration: 1,
  StopAllIterationAndBuffer: 3,
  StopAllIterationAndWatermark: 4,
} as const;

const METRIC_TYPE_MASK = 0x3;
const METRIC_ID_INCREMENT = 0x4;
const MAX_BUFFER_TYPE = BufferType.CallData;
const MAX_HEADER_MAP_TYPE = HeaderMapType.HttpCallResponseTrailers;

// ---------------------------------------------------------------------------------------------
// Header maps

/** Header pairs as tests write them: names are lowercased on the way in, like Envoy does. */
export type HeaderInput =
  | Iterable<readonly [string, string | Uint8Array]>
  | Record<string, string>;

/** An ordered multimap of header name → value bytes, as Envoy's HeaderMap keeps it. */
export class HeaderMap {
  /** [name, value bytes] in order; names lowercase. */
  readonly entries: Array<[string, Buffer]> = [];

  constructor(input?: HeaderInput) {
    if (input === undefined) return;
    const pairs =
      Symbol.iterator in Object(input)
        ? (input as Iterable<readonly [string, string | Uint8Array]>)
        : Object.entries(input as Record<string, string>);
    for (const [name, value] of pairs) this.add(name, value);
  }

  /** First value of `name` as UTF-8, or undefined. */
  get(name: string): string | undefined {
    const e = this.entries.find(([k]) => k === name.toLowerCase());
    return e === undefined ? undefined : e[1].toString("utf8");
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    return this.entries
      .filter(([k]) => k === key)
      .map(([, v]) => v.toString("utf8"));
  }

  has(name: string): boolean {
    const key = name.toLowerCase();
    return this.entries.some(([k]) => k === key);
  }

  /** Appends (Envoy `addCopy`). */
  add(name: string, value: string | Uint8Array): void {
    this.entries.push([name.toLowerCase(), toBuffer(value)]);
  }

  /** Removes every `name`, then appends (Envoy `setCopy`). */
  set(name: string, value: string | Uint8Array): void {
    this.remove(name);
    this.add(name, value);
  }

  /** Removes every `name` (Envoy `remove`). */
  remove(name: string): void {
    const key = name.toLowerCase();
    for (let i = this.entries.length - 1; i >= 0; i--) {
      if (this.entries[i][0] === key) this.entries.splice(i, 1);
    }
  }

  /** Number of entries (what Envoy passes as `num_headers`). */
  get size(): number {
    return this.entries.length;
  }

  /** Sum of name and value lengths (Envoy `HeaderMap::byteSize`). */
  byteSize(): number {
    return this.entries.reduce(
      (n, [k, v]) => n + Buffer.byteLength(k) + v.length,
      0,
    );
  }

  /** Names in order, duplicates kept. */
  names(): string[] {
    return this.entries.map(([k]) => k);
  }

  /** [name, value] with values decoded as UTF-8. */
  pairs(): Array<[string, string]> {
    return this.entries.map(([k, v]) => [k, v.toString("utf8")]);
  }

  clone(): HeaderMap {
    const m = new HeaderMap();
    for (const [k, v] of this.entries) m.entries.push([k, Buffer.from(v)]);
    return m;
  }
}

/**
 * Serializes pairs the way the ABI passes header maps:
 * [u32 count][(u32 nameLen, u32 valueLen) × count][name, NUL, value, NUL …], little-endian.
 */
export function serializePairs(
  entries: ReadonlyArray<readonly [string, Uint8Array]>,
): Buffer {
  const names = entries.map(([k]) => Buffer.from(k, "utf8"));
  let size = 4 + entries.length * 8;
  entries.forEach(([, v], i) => (size += names[i].length + 1 + v.length + 1));
  const out = Buffer.alloc(size);
  out.writeUInt32LE(entries.length, 0);
  let pos = 4 + entries.length * 8;
  entries.forEach(([, v], i) => {
    out.writeUInt32LE(names[i].length, 4 + i * 8);
    out.writeUInt32LE(v.length, 8 + i * 8);
    names[i].copy(out, pos);
    pos += names[i].length + 1;
    out.set(v, pos);
    pos += v.length + 1;
  });
  return out;
}

/** Parses serialized pairs; returns a reason string when the bytes are malformed. */
export function parsePairs(
  bytes: Uint8Array,
): Array<[string, Buffer]> | string {
  if (bytes.length === 0) return [];
  if (bytes.length < 4)
    return `pairs buffer of ${bytes.length} bytes is shorter than its count`;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = b.readUInt32LE(0);
  if (4 + n * 8 > b.length)
    return `pairs count ${n} does not fit in ${b.length} bytes`;
  let pos = 4 + n * 8;
  const out: Array<[string, Buffer]> = [];
  for (let i = 0; i < n; i++) {
    const kl = b.readUInt32LE(4 + i * 8);
    const vl = b.readUInt32LE(8 + i * 8);
    if (pos + kl + 1 + vl + 1 > b.length)
      return `pair ${i} runs past the end of the buffer`;
    const key = b.subarray(pos, pos + kl);
    if (b[pos + kl] !== 0) return `pair ${i}: name is not NUL-terminated`;
    pos += kl + 1;
    const value = Buffer.from(b.subarray(pos, pos + vl));
    if (b[pos + vl] !== 0) return `pair ${i}: value is not NUL-terminated`;
    pos += vl + 1;
    out.push([key.toString("utf8"), value]);
  }
  if (pos !== b.length)
    return `${b.length - pos} trailing bytes after ${n} pairs`;
  return out;
}

function toBuffer(v: string | Uint8Array): Buffer {
  return typeof v === "string" ? Buffer.from(v, "utf8") : Buffer.from(v);
}

// ---------------------------------------------------------------------------------------------
// Records

/** One `proxy_log` line. */
export interface LogEntry {
  level: number;
  message: string;
  contextId: number;
  callback: string;
}

/** A metric defined by the module; readable by name. */
export interface Metric {
  name: string;
  type: "counter" | "gauge" | "histogram";
  /** Counter or gauge value (0 for a histogram). */
  value: number;
  /** Every value recorded on a histogram, in order. */
  values: number[];
}

/** A dark response as a test hands it to `host.respond`. */
export interface HttpResponse {
  status?: number;
  headers?: HeaderInput;
  body?: string | Uint8Array;
  trailers?: HeaderInput;
  /**
   * Add what Envoy's router adds to an upstream's response (`x-envoy-upstream-service-time`,
   * ms since dispatch). Default true; Envoy's own local replies carry none.
   */
  envoyHeaders?: boolean;
}

/** A call the module dispatched with `proxy_http_call` and the host accepted. */
export interface HttpCall {
  token: number;
  /** The root context the call belongs to (Envoy cancels it when that context goes away). */
  contextId: number;
  /** The callback that was running when it was dispatched, e.g. `proxy_on_request_body`. */
  dispatchedIn: string;
  cluster: string;
  /** Request headers as sent (names lowercased by the host, as Envoy does). */
  headers: HeaderMap;
  body: Buffer;
  trailers: HeaderMap;
  timeoutMs: number;
  dispatchedAtNs: bigint;
  state: "pending" | "completed" | "reset" | "cancelled";
  /** What the host answered (undefined while pending, for a reset, or when cancelled). */
  response?: { headers: HeaderMap; body: Buffer; trailers: HeaderMap };
}

/** A dispatch the host refused: nothing is pending and no callback will come. */
export interface RejectedHttpCall {
  result: number;
  contextId: number;
  cluster: string;
  headers: HeaderMap;
  body: Buffer;
  timeoutMs: number;
}

/** A trap: the VM is failed from here on, as in Envoy. */
export interface TrapRecord {
  callback: string;
  contextId: number;
  message: string;
  /** Set when the module called `proc_exit` (AssemblyScript's abort does, with 255). */
  exitCode?: number;
  /** The last critical log line before the trap (AssemblyScript's abort message goes there). */
  lastCritical?: string;
}

/** A mutation of a stream's header map, with the callback that made it. */
export interface HeaderMutation {
  map: number;
  op: "add" | "replace" | "remove" | "set_pairs";
  name?: string;
  value?: string;
  callback: string;
}

/** How a cluster answers `proxy_http_call` (Envoy: unknown → BadArgument, no host → InternalFailure). */
export type ClusterState = "healthy" | "no_healthy_host" | "missing";

/** Thrown by a driver call when the module trapped (or the VM had already failed). */
export class GuestTrap extends Error {
  constructor(
    message: string,
    readonly trap: TrapRecord,
  ) {
    super(message);
    this.name = "GuestTrap";
  }
}

/** What `proc_exit` throws through the guest to unwind it (then recorded as a trap). */
class ProcExit extends Error {
  constructor(readonly code: number) {
    super(`proc_exit(${code})`);
    this.name = "ProcExit";
  }
}

// ---------------------------------------------------------------------------------------------
// Contexts

interface RootState {
  kind: "root";
  id: number;
  deleted: boolean;
  configuration: Buffer;
  /** PluginConfiguration is readable only during on_vm_start / on_configure (Envoy temp_plugin_). */
  configuring: boolean;
  configured: boolean;
}

interface StreamState {
  kind: "stream";
  id: number;
  rootId: number;
  deleted: boolean;
  stream: Stream;
}

type Ctx = RootState | StreamState;

interface Frame {
  ctx: Ctx | null;
  callback: string;
  effective: number;
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
    private readonly host: Host,
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

  private assertAlive(what: string): void {
    if (this.deleted)
      throw new Error(
        `stream ${this.id}: ${what} after the stream was deleted`,
      );
  }
}

// ---------------------------------------------------------------------------------------------
// The host

/** Options of `Host.load`. */
export interface HostOptions {
  /** The plugin's root id (`plugin_root_id`). Default "mirror". */
  rootId?: string;
  /** `plugin_name`. Default: the root id. */
  pluginName?: string;
  /** `plugin_vm_id`. Default "". */
  vmId?: string;
  /** VmConfiguration buffer. Default empty. */
  vmConfiguration?: string | Uint8Array;
  /** Lowest level kept (Envoy drops lower ones); also what proxy_get_log_level answers. Default trace. */
  logLevel?: number | LogLevelName;
  /** Clusters that exist. Default: every cluster name exists and is healthy. */
  clusters?: Record<string, ClusterState>;
  /** Start of the clock, in ms since the epoch. Default 2024-01-01T00:00:00Z. */
  nowMs?: number;
  /** Extra import modules for test probes (never for the ABI; env/wasi are the emulator's). */
  imports?: Record<string, Record<string, (...args: never[]) => unknown>>;
}

type ImportFn = (...args: never[]) => number | void;

/** Signatures of the imports the emulator implements: params ":" results (i=i32, I=i64). */
const SIGNATURES: Record<string, string> = {
  "env.proxy_log": "iii:i",
  "env.proxy_get_log_level": "i:i",
  "env.proxy_get_property": "iiii:i",
  "env.proxy_get_buffer_bytes": "iiiii:i",
  "env.proxy_get_buffer_status": "iii:i",
  "env.proxy_get_header_map_value": "iiiii:i",
  "env.proxy_get_header_map_pairs": "iii:i",
  "env.proxy_set_header_map_pairs": "iii:i",
  "env.proxy_add_header_map_value": "iiiii:i",
  "env.proxy_replace_header_map_value": "iiiii:i",
  "env.proxy_remove_header_map_value": "iii:i",
  "env.proxy_get_header_map_size": "ii:i",
  "env.proxy_http_call": "iiiiiiiiii:i",
  "env.proxy_define_metric": "iiii:i",
  "env.proxy_increment_metric": "iI:i",
  "env.proxy_record_metric": "iI:i",
  "env.proxy_get_metric": "ii:i",
  "env.proxy_get_current_time_nanoseconds": "i:i",
  "env.proxy_set_tick_period_milliseconds": "i:i",
  "env.proxy_set_effective_context": "i:i",
  "env.proxy_continue_stream": "i:i",
  "env.proxy_send_local_response": "iiiiiiii:i",
  "env.proxy_done": ":i",
  "wasi_snapshot_preview1.proc_exit": "i:",
  "wasi_snapshot_preview1.fd_write": "iiii:i",
};

const moduleCache = new Map<
  string,
  { mtimeMs: number; module: WebAssembly.Module }
>();

/** The emulated host: one VM (one instance of the module) with its contexts. */
export class Host {
  /** Every trap so far; a test asserts it is empty. */
  readonly trapped: TrapRecord[] = [];
  /** Dispatches the host accepted (pending, completed, reset or cancelled). */
  readonly httpCalls: HttpCall[] = [];
  /** Dispatches the host refused (unknown cluster, no healthy host, missing pseudo-headers…). */
  readonly rejectedHttpCalls: RejectedHttpCall[] = [];
  /** ABI misuse the emulator saw (bad pointers, malformed pairs, invalid levels, gauge < 0). */
  readonly violations: string[] = [];
  /** `proc_exit` codes, in order. */
  readonly exits: number[] = [];
  /** Text written with WASI fd_write to fd 1 and 2. */
  stdout = "";
  stderr = "";
  /** Tick period per root context id, ms (proxy_set_tick_period_milliseconds). */
  readonly tickPeriods = new Map<number, number>();
  /** The root context new streams belong to (the last configured successfully). */
  rootContextId = 0;
  /** Clock in nanoseconds since the epoch (proxy_get_current_time_nanoseconds). */
  nowNs: bigint;
  /** Lowest log level kept; also what proxy_get_log_level answers. */
  logLevel: number;
  /** Properties by path (segments joined by NUL, as the ABI passes them). */
  readonly properties = new Map<string, Buffer>();

  private instance!: WebAssembly.Instance;
  private memory!: WebAssembly.Memory;
  private malloc!: (size: number) => number;
  private readonly contexts = new Map<number, Ctx>();
  /**
   * Host calls the module made, by import name (`env.` dropped), plus `malloc`: the host's calls
   * into the module for the buffers it returns. Reset it to count one stretch of traffic.
   */
  readonly hostCalls = new Map<string, number>();
  private nextContextId = 1;
  /** Next HTTP call token per root context: Envoy counts them per context, from 1. */
  private readonly nextTokens = new Map<number, number>();
  /** Pending calls by root context and token. */
  private readonly pending = new Map<string, HttpCall>();
  private readonly frames: Frame[] = [];
  private readonly logEntries: LogEntry[] = [];
  private readonly metricsById = new Map<number, Metric>();
  private readonly metricsByName = new Map<string, Metric>();
  private readonly nextMetricId = [
    MetricType.Counter,
    MetricType.Gauge,
    MetricType.Histogram,
  ] as number[];
  private readonly clusters: Map<string, ClusterState> | null;
  private readonly vmConfiguration: Buffer;
  private httpCallResponse: {
    headers: HeaderMap;
    body: Buffer;
    trailers: HeaderMap;
  } | null = null;
  private inHttpCallCallback = false;
  private failed: TrapRecord | null = null;
  private viewsOf: ArrayBuffer | null = null;
  private cachedViews: { u8: Buffer; dv: DataView } | null = null;

  private constructor(private readonly options: HostOptions) {
    const rootId = options.rootId ?? "mirror";
    this.properties.set("plugin_root_id", Buffer.from(rootId));
    this.properties.set(
      "plugin_name",
      Buffer.from(options.pluginName ?? rootId),
    );
    this.properties.set("plugin_vm_id", Buffer.from(options.vmId ?? ""));
    this.vmConfiguration = toBuffer(options.vmConfiguration ?? "");
    this.logLevel = levelOf(options.logLevel ?? "trace");
    this.clusters = options.clusters
      ? new Map(Object.entries(options.clusters))
      : null;
    this.nowNs = BigInt(options.nowMs ?? Date.UTC(2024, 0, 1)) * 1_000_000n;
  }

  /**
   * Compiles (cached per path and mtime) and instantiates the module, linking the emulator's
   * imports. Throws, naming them, if the module imports anything the emulator does not
   * implement or imports an ABI function with the wrong signature.
   */
  static async load(
    source: string | Uint8Array,
    options: HostOptions = {},
  ): Promise<Host> {
    let bytes: Uint8Array<ArrayBuffer>;
    let module: WebAssembly.Module;
    if (typeof source === "string") {
      const path = resolve(source);
      const mtimeMs = statSync(path).mtimeMs;
      bytes = new Uint8Array(readFileSync(path));
      const cached = moduleCache.get(path);
      if (cached && cached.mtimeMs === mtimeMs) {
        module = cached.module;
      } else {
        module = await WebAssembly.compile(bytes);
        moduleCache.set(path, { mtimeMs, module });
      }
    } else {
      bytes = new Uint8Array(source);
      module = await WebAssembly.compile(bytes);
    }
    const host = new Host(options);
    const imports = host.link(module, bytes);
    host.frames.push({ ctx: null, callback: "(instantiation)", effective: 0 });
    try {
      host.instance = await WebAssembly.instantiate(module, imports);
    } catch (e) {
      host.recordTrap(e, "(instantiation)", null);
      throw e;
    } finally {
      host.frames.pop();
    }
    host.attach();
    return host;
  }

  // ----- driver API ----------------------------------------------------------------------------

  /**
   * A new root context gets the plugin configuration, as Envoy does on start and on every config
   * change: proxy_on_context_create(id, 0), proxy_on_vm_start, proxy_on_configure. The first call
   * creates root context 1. Returns whether both answered true; only then do new streams belong
   * to it (a refused config leaves the previous root serving, as in Envoy).
   */
  configure(configuration: string | Uint8Array | null): boolean {
    const id = this.nextContextId++;
    const root: RootState = {
      kind: "root",
      id,
      deleted: false,
      configuration: toBuffer(configuration ?? ""),
      configuring: true,
      configured: false,
    };
    this.contexts.set(id, root);
    try {
      this._invoke("proxy_on_context_create", root, [id, 0], 0);
      const started =
        this._invoke(
          "proxy_on_vm_start",
          root,
          [id, this.vmConfiguration.length],
          1,
        ) !== 0;
      const configured =
        started &&
        this._invoke(
          "proxy_on_configure",
          root,
          [id, root.configuration.length],
          1,
        ) !== 0;
      root.configured = configured;
      if (configured) this.rootContextId = id;
      return configured;
    } finally {
      root.configuring = false;
    }
  }

  /**
   * Tears a root context down (a replaced config's plugin released): proxy_on_done, then
   * proxy_on_delete. Its pending calls are cancelled; they never get a callback.
   */
  retireRoot(id = this.rootContextId): void {
    const ctx = this._context(id);
    if (ctx.kind !== "root")
      throw new Error(`context ${id} is not a root context`);
    this._invoke("proxy_on_done", ctx, [id], 1);
    this._deleteContext(ctx);
    if (this.rootContextId === id) this.rootContextId = 0;
  }

  /** A new stream context under the current root (proxy_on_context_create(id, rootId)). */
  stream(rootId = this.rootContextId): Stream {
    const root = this.contexts.get(rootId);
    if (!root || root.kind !== "root" || root.deleted) {
      throw new Error(
        `no live root context ${rootId}: configure() must succeed first`,
      );
    }
    const id = this.nextContextId++;
    const stream = new Stream(this, id, rootId);
    const ctx: StreamState = {
      kind: "stream",
      id,
      rootId,
      deleted: false,
      stream,
    };
    this.contexts.set(id, ctx);
    this._invoke("proxy_on_context_create", ctx, [id, rootId], 0);
    return stream;
  }

  /** proxy_on_tick on a root context. */
  tick(rootId = this.rootContextId): void {
    this._invoke("proxy_on_tick", this._context(rootId), [rootId], 0);
  }

  /**
   * Delivers the dark upstream's response to a pending call, as Envoy's router hands it back:
   * proxy_on_http_call_response(ctx, token, numHeaders, bodySize, numTrailers), `:status`
   * first, then the given headers, then `x-envoy-upstream-service-time` (unless
   * `envoyHeaders: false`). `call` is the HttpCall or its token (tokens are per root context:
   * a token two roots share is refused).
   */
  respond(call: HttpCall | number, response: HttpResponse = {}): void {
    const c = this.pendingCall(call);
    const headers = new HeaderMap([
      [":status", String(response.status ?? 200)],
    ]);
    for (const [k, v] of new HeaderMap(response.headers).entries)
      headers.entries.push([k, v]);
    if (
      response.envoyHeaders !== false &&
      !headers.has("x-envoy-upstream-service-time")
    ) {
      const ms = (this.nowNs - c.dispatchedAtNs) / 1_000_000n;
      headers.add("x-envoy-upstream-service-time", String(ms < 0n ? 0n : ms));
    }
    this.deliver(c, {
      headers,
      body: toBuffer(response.body ?? ""),
      trailers: new HeaderMap(response.trailers),
    });
  }

  /**
   * Envoy answers the call itself (its router's local reply): `status`, content-type
   * text/plain, `body`, no upstream headers. Envoy does this for an upstream it cannot reach
   * (503 "upstream connect error or disconnect/reset before headers…", "no healthy upstream").
   */
  respondLocal(call: HttpCall | number, status: number, body: string): void {
    this.respond(call, {
      status,
      headers: [
        ["content-length", String(Buffer.byteLength(body))],
        ["content-type", "text/plain"],
      ],
      body,
      envoyHeaders: false,
    });
  }

  /** The call's timeout fired: Envoy's local reply 504 "upstream request timeout". */
  respondTimeout(call: HttpCall | number): void {
    this.respondLocal(call, 504, "upstream request timeout");
  }

  /** The callback with 0 headers, 0 body, 0 trailers (a reset, or an oversized response). */
  respondReset(call: HttpCall | number): void {
    this.deliver(this.pendingCall(call), null);
  }

  /** Calls still waiting for a response, in dispatch order. */
  pendingCalls(): HttpCall[] {
    return [...this.pending.values()];
  }

  /** Makes a cluster healthy, unhealthy (InternalFailure) or missing (BadArgument). */
  setCluster(name: string, state: ClusterState): void {
    if (this.clusters === null) {
      throw new Error(
        "setCluster needs the `clusters` option (otherwise every cluster exists)",
      );
    }
    this.clusters.set(name, state);
  }

  /** Sets a property (path segments, or a raw NUL-joined path). */
  setProperty(path: string | string[], value: string | Uint8Array): void {
    this.properties.set(
      Array.isArray(path) ? path.join("\0") : path,
      toBuffer(value),
    );
  }

  /** Moves the clock forward. */
  advance(ms: number): void {
    this.nowNs += BigInt(Math.round(ms * 1_000_000));
  }

  /** Sets the clock, in ms since the epoch. */
  setTimeMs(ms: number): void {
    this.nowNs = BigInt(Math.round(ms * 1_000_000));
  }

  /** The metric named `name`, or undefined if the module never defined it. */
  metric(name: string): Metric | undefined {
    return this.metricsByName.get(name);
  }

  /** A counter's value; throws if it was never defined as a counter. */
  counter(name: string): number {
    return this.typed(name, "counter").value;
  }

  /** A gauge's value; throws if it was never defined as a gauge. */
  gauge(name: string): number {
    return this.typed(name, "gauge").value;
  }

  /** A histogram's recorded values; throws if it was never defined as a histogram. */
  histogram(name: string): number[] {
    return this.typed(name, "histogram").values;
  }

  /** Every metric: counters and gauges as numbers, histograms as their recorded values. */
  metrics(): Record<string, number | number[]> {
    const out: Record<string, number | number[]> = {};
    for (const m of this.metricsByName.values()) {
      out[m.name] = m.type === "histogram" ? [...m.values] : m.value;
    }
    return out;
  }

  /** Log lines, all of them or those at exactly `level`. */
  logs(level?: number | LogLevelName): LogEntry[] {
    if (level === undefined) return [...this.logEntries];
    const l = levelOf(level);
    return this.logEntries.filter((e) => e.level === l);
  }

  /** Log lines at `level` or above (e.g. everything at error and critical). */
  logsAtLeast(level: number | LogLevelName): LogEntry[] {
    const l = levelOf(level);
    return this.logEntries.filter((e) => e.level >= l);
  }

  /** Forgets the log lines recorded so far. */
  clearLogs(): void {
    this.logEntries.length = 0;
  }

  /** The instance's exports (for probes that call into the module directly). */
  get exports(): WebAssembly.Exports {
    return this.instance.exports;
  }

  /** Size of the module's linear memory, bytes. */
  memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** Whether the context exists and was not deleted. */
  hasContext(id: number): boolean {
    const c = this.contexts.get(id);
    return c !== undefined && !c.deleted;
  }

  // ----- internals shared with Stream ------------------------------------------------------------

  /** @internal */
  _context(id: number): Ctx {
    const c = this.contexts.get(id);
    if (!c) throw new Error(`no context ${id} (never created, or deleted)`);
    if (c.deleted) throw new Error(`context ${id} was deleted`);
    return c;
  }

  /** @internal Calls an export as the host does; a missing export answers `absent`. */
  _invoke(
    name: string,
    ctx: Ctx | null,
    args: number[],
    absent: number,
  ): number {
    if (this.failed) {
      throw new GuestTrap(
        `${name}: the VM failed earlier in ${this.failed.callback} (${this.failed.message}); ` +
          `Envoy sends nothing more to a failed VM`,
        this.failed,
      );
    }
    const fn = this.instance.exports[name];
    if (typeof fn !== "function") return absent;
    this.frames.push({ ctx, callback: name, effective: 0 });
    try {
      const r = (fn as (...a: number[]) => unknown)(...args);
      return r === undefined ? 0 : Number(r) >>> 0;
    } catch (e) {
      throw this.asTrap(e, name, ctx);
    } finally {
      this.frames.pop();
    }
  }

  /** @internal */
  _deleteContext(ctx: Ctx): void {
    this._invoke("proxy_on_delete", ctx, [ctx.id], 0);
    ctx.deleted = true;
    if (ctx.kind === "stream") {
      // Forgotten, as in Envoy: a later set_effective_context to it is a BadArgument.
      ctx.stream.deleted = true;
      this.contexts.delete(ctx.id);
      return;
    }
    // Calls belong to root contexts: Envoy cancels them when the root context goes away.
    for (const call of this.pending.values()) {
      if (call.contextId === ctx.id) {
        call.state = "cancelled";
        this.pending.delete(pendingKey(call.contextId, call.token));
      }
    }
  }

  // ----- linking ---------------------------------------------------------------------------------

  private link(
    module: WebAssembly.Module,
    bytes: Uint8Array,
  ): WebAssembly.Imports {
    const impl = this.implementations();
    const signatures = importSignatures(bytes);
    const missing: string[] = [];
    const mismatched: string[] = [];
    const imports: Record<string, Record<string, unknown>> = {};
    for (const imp of WebAssembly.Module.imports(module)) {
      const key = `${imp.module}.${imp.name}`;
      const extra = this.options.imports?.[imp.module]?.[imp.name];
      if (
        imp.module !== "env" &&
        imp.module !== "wasi_snapshot_preview1" &&
        extra
      ) {
        (imports[imp.module] ??= {})[imp.name] = extra;
        continue;
      }
      const fn = impl[key];
      if (imp.kind !== "function" || !fn) {
        missing.push(`${key} (${imp.kind})`);
        continue;
      }
      const want = SIGNATURES[key];
      const got = signatures.get(key);
      if (got !== undefined && (got.size !== 1 || !got.has(want))) {
        mismatched.push(
          `${key}: module has (${[...got].join(" | ")}), ABI is (${want})`,
        );
        continue;
      }
      const counted = imp.name;
      (imports[imp.module] ??= {})[imp.name] = (...a: never[]) => {
        this.hostCalls.set(counted, (this.hostCalls.get(counted) ?? 0) + 1);
        return fn(...a);
      };
    }
    if (missing.length > 0 || mismatched.length > 0) {
      const lines = [
        ...missing.map((m) => `  not implemented by the emulator: ${m}`),
        ...mismatched.map((m) => `  wrong signature: ${m}`),
      ];
      throw new Error(
        `the module's imports cannot be linked:\n${lines.join("\n")}`,
      );
    }
    return imports as WebAssembly.Imports;
  }

  private attach(): void {
    const ex = this.instance.exports;
    const problems: string[] = [];
    if (!(ex.memory instanceof WebAssembly.Memory))
      problems.push("no exported `memory`");
    if (
      typeof ex.malloc !== "function" &&
      typeof ex.proxy_on_memory_allocate !== "function"
    ) {
      problems.push("no exported `malloc` (or `proxy_on_memory_allocate`)");
    }
    if (
      typeof ex.proxy_abi_version_0_2_0 !== "function" &&
      typeof ex.proxy_abi_version_0_2_1 !== "function"
    ) {
      problems.push("no proxy_abi_version_0_2_0 / _0_2_1 export (ABI 0.2.x)");
    }
    if (problems.length > 0)
      throw new Error(`not a proxy-wasm 0.2.x module: ${problems.join("; ")}`);
    this.memory = ex.memory as WebAssembly.Memory;
    this.malloc = (ex.malloc ?? ex.proxy_on_memory_allocate) as (
      size: number,
    ) => number;
    // WASI reactors initialize themselves here (proxy-wasm-cpp-host calls it before anything).
    if (typeof ex._initialize === "function")
      this._invoke("_initialize", null, [], 0);
  }

  // ----- guest memory ----------------------------------------------------------------------------

  /** Views of memory, renewed whenever memory grows (growing replaces the ArrayBuffer). */
  private views(): { u8: Buffer; dv: DataView } {
    const b = this.memory.buffer;
    if (this.viewsOf !== b) {
      this.viewsOf = b;
      this.cachedViews = { u8: Buffer.from(b), dv: new DataView(b) };
    }
    return this.cachedViews!;
  }

  private bytes(): Buffer {
    return this.views().u8;
  }

  private inBounds(ptr: number, len: number): boolean {
    return ptr >= 0 && len >= 0 && ptr + len <= this.views().u8.length;
  }

  /** A copy of guest bytes (for what is recorded), or null (and a violation) if out of bounds. */
  private read(ptr: number, len: number, what: string): Buffer | null {
    const v = this.peek(ptr, len, what);
    return v === null ? null : Buffer.from(v);
  }

  /** A view of guest bytes, valid until the guest runs again; null if out of bounds. */
  private peek(ptr: number, len: number, what: string): Buffer | null {
    ptr >>>= 0;
    len >>>= 0;
    if (!this.inBounds(ptr, len)) {
      this.violation(`${what}: [${ptr}, +${len}) is outside memory`);
      return null;
    }
    return this.bytes().subarray(ptr, ptr + len);
  }

  private writeU32(ptr: number, v: number, what: string): boolean {
    ptr >>>= 0;
    if (!this.inBounds(ptr, 4)) {
      this.violation(`${what}: u32 at ${ptr} is outside memory`);
      return false;
    }
    this.views().dv.setUint32(ptr, v >>> 0, true);
    return true;
  }

  private writeU64(ptr: number, v: bigint, what: string): boolean {
    ptr >>>= 0;
    if (!this.inBounds(ptr, 8)) {
      this.violation(`${what}: u64 at ${ptr} is outside memory`);
      return false;
    }
    this.views().dv.setBigUint64(ptr, BigInt.asUintN(64, v), true);
    return true;
  }

  /**
   * Returns bytes to the guest as proxy-wasm-cpp-host's copyToPointerSize does: malloc(size) in
   * the guest (nothing for an empty value: pointer 0), copy, write pointer and size.
   */
  private copyOut(
    data: Uint8Array,
    ptrPtr: number,
    sizePtr: number,
    what: string,
  ): number {
    let ptr = 0;
    if (data.length > 0) {
      this.hostCalls.set("malloc", (this.hostCalls.get("malloc") ?? 0) + 1);
      ptr = this.malloc(data.length) >>> 0;
      // malloc may have grown memory: every view is taken afresh below.
      if (ptr === 0 || !this.inBounds(ptr, data.length)) {
        this.violation(`${what}: malloc(${data.length}) returned ${ptr}`);
        return WasmResult.InvalidMemoryAccess;
      }
      this.bytes().set(data, ptr);
    }
    if (
      !this.writeU32(ptrPtr, ptr, what) ||
      !this.writeU32(sizePtr, data.length, what)
    ) {
      return WasmResult.InvalidMemoryAccess;
    }
    return WasmResult.Ok;
  }

  // ----- the current context ---------------------------------------------------------------------

  private frame(): Frame {
    const f = this.frames[this.frames.length - 1];
    if (!f) throw new Error("a host function was called outside any callback");
    return f;
  }

  /** contextOrEffectiveContext(): the callee, or what proxy_set_effective_context chose. */
  private current(): Ctx | null {
    const f = this.frame();
    if (f.effective !== 0) return this.contexts.get(f.effective) ?? null;
    return f.ctx;
  }

  private currentId(): number {
    return this.current()?.id ?? 0;
  }

  private violation(message: string): void {
    this.violations.push(`${this.frames.at(-1)?.callback ?? "?"}: ${message}`);
  }

  // ----- header maps -----------------------------------------------------------------------------

  /** The map a mutation may touch (Envoy getMap), or null → BadArgument. */
  private mutableMap(type: number): HeaderMap | null {
    const ctx = this.current();
    if (!ctx || ctx.kind !== "stream") return null;
    const s = ctx.stream;
    switch (type) {
      case HeaderMapType.RequestHeaders:
        return s.live.requestHeaders ? s.request.headers : null;
      case HeaderMapType.RequestTrailers:
        return s.live.requestTrailers ? s.request.trailers : null;
      case HeaderMapType.ResponseHeaders:
        return s.live.responseHeaders ? s.response.headers : null;
      case HeaderMapType.ResponseTrailers:
        return s.live.responseTrailers ? s.response.trailers : null;
      default:
        return null;
    }
  }

  /** The map a read may see (Envoy getConstMap), or null. */
  private constMap(type: number): HeaderMap | null {
    if (type === HeaderMapType.HttpCallResponseHeaders) {
      return this.httpCallResponse?.headers ?? null;
    }
    if (type === HeaderMapType.HttpCallResponseTrailers) {
      return this.httpCallResponse?.trailers ?? null;
    }
    const ctx = this.current();
    if (ctx && ctx.kind === "stream" && ctx.stream.live.logPhase) {
      const s = ctx.stream;
      if (type === HeaderMapType.RequestHeaders) return s.request.headers;
      if (type === HeaderMapType.ResponseHeaders) return s.response.headers;
      if (type === HeaderMapType.ResponseTrailers) return s.response.trailers;
    }
    return this.mutableMap(type);
  }

  private recordMutation(
    map: number,
    op: HeaderMutation["op"],
    name?: string,
    value?: Buffer,
  ) {
    const ctx = this.current();
    if (ctx?.kind !== "stream") return;
    ctx.stream.mutations.push({
      map,
      op,
      name,
      value: value?.toString("utf8"),
      callback: this.frame().callback,
    });
  }

  // ----- HTTP calls ------------------------------------------------------------------------------

  private pendingCall(ref: HttpCall | number): HttpCall {
    let call: HttpCall | undefined;
    if (typeof ref === "number") {
      const pending = [...this.pending.values()].filter((c) => c.token === ref);
      if (pending.length > 1) {
        throw new Error(
          `token ${ref} is pending in root contexts ${pending.map((c) => c.contextId)}: ` +
            `pass the HttpCall instead`,
        );
      }
      call = pending[0] ?? this.httpCalls.findLast((c) => c.token === ref);
    } else {
      call = ref;
    }
    if (!call) throw new Error(`no HTTP call with token ${ref}`);
    if (call.state === "cancelled") {
      throw new Error(
        `HTTP call ${call.token} was cancelled: its context ${call.contextId} was deleted ` +
          `(Envoy cancels a context's calls when it is destroyed)`,
      );
    }
    if (call.state !== "pending") {
      throw new Error(`HTTP call ${call.token} already ${call.state}`);
    }
    return call;
  }

  /** Envoy's nextHttpCallToken: per context, from 1, skipping 0 and tokens still pending. */
  private nextTokenOf(contextId: number): number {
    let token = this.nextTokens.get(contextId) ?? 1;
    while (token === 0 || this.pending.has(pendingKey(contextId, token))) {
      token = (token + 1) >>> 0;
    }
    this.nextTokens.set(contextId, (token + 1) >>> 0);
    return token;
  }

  private deliver(
    call: HttpCall,
    response: { headers: HeaderMap; body: Buffer; trailers: HeaderMap } | null,
  ): void {
    const ctx = this._context(call.contextId);
    call.state = response ? "completed" : "reset";
    this.pending.delete(pendingKey(call.contextId, call.token));
    call.response = response ?? undefined;
    this.httpCallResponse = response;
    this.inHttpCallCallback = true;
    try {
      this._invoke(
        "proxy_on_http_call_response",
        ctx,
        [
          ctx.id,
          call.token,
          response?.headers.size ?? 0,
          response?.body.length ?? 0,
          response?.trailers.size ?? 0,
        ],
        0,
      );
    } finally {
      this.httpCallResponse = null;
      this.inHttpCallCallback = false;
    }
  }

  // ----- traps -----------------------------------------------------------------------------------

  private asTrap(e: unknown, callback: string, ctx: Ctx | null): unknown {
    if (e instanceof GuestTrap) return e;
    const isTrap =
      e instanceof ProcExit ||
      e instanceof WebAssembly.RuntimeError ||
      (e instanceof RangeError && /call stack/i.test(e.message));
    if (!isTrap) return e;
    const trap = this.recordTrap(e, callback, ctx);
    return new GuestTrap(
      `the module trapped in ${callback} (context ${trap.contextId}): ${trap.message}` +
        (trap.lastCritical ? ` — last critical log: ${trap.lastCritical}` : ""),
      trap,
    );
  }

  private recordTrap(
    e: unknown,
    callback: string,
    ctx: Ctx | null,
  ): TrapRecord {
    const critical = this.logEntries
      .filter((l) => l.level === LogLevel.critical)
      .at(-1);
    const trap: TrapRecord = {
      callback,
      contextId: ctx?.id ?? 0,
      message: e instanceof Error ? e.message : String(e),
      exitCode: e instanceof ProcExit ? e.code : undefined,
      lastCritical: critical?.message,
    };
    this.trapped.push(trap);
    this.failed = trap;
    return trap;
  }

  private typed(name: string, type: Metric["type"]): Metric {
    const m = this.metricsByName.get(name);
    if (!m) throw new Error(`metric ${name} was never defined`);
    if (m.type !== type)
      throw new Error(`metric ${name} is a ${m.type}, not a ${type}`);
    return m;
  }

  // ----- the imports -----------------------------------------------------------------------------

  private implementations(): Record<string, ImportFn> {
    const R = WasmResult;
    return {
      // proxy_log(level, msg, len): logs at level; levels below the host's are dropped.
      "env.proxy_log": (level: number, ptr: number, len: number) => {
        const msg = this.peek(ptr, len, "proxy_log");
        if (msg === null) return R.InvalidMemoryAccess;
        if (level < 0 || level > LogLevel.critical) {
          this.violation(`proxy_log: invalid level ${level}`);
          return R.BadArgument;
        }
        if (level >= this.logLevel) {
          this.logEntries.push({
            level,
            message: msg.toString("utf8"),
            contextId: this.currentId(),
            callback: this.frame().callback,
          });
        }
        return R.Ok;
      },

      // proxy_get_log_level(level*) (ABI 0.2.1): writes the host's current log level.
      "env.proxy_get_log_level": (ptr: number) =>
        this.writeU32(ptr, this.logLevel, "proxy_get_log_level")
          ? R.Ok
          : R.InvalidMemoryAccess,

      // proxy_get_property(path, len, value**, size*): NUL-separated path; NotFound if unknown.
      "env.proxy_get_property": (
        ptr: number,
        len: number,
        vpp: number,
        vsp: number,
      ) => {
        const path = this.peek(ptr, len, "proxy_get_property");
        if (path === null) return R.InvalidMemoryAccess;
        const value = this.properties.get(path.toString("utf8"));
        if (value === undefined) return R.NotFound;
        return this.copyOut(value, vpp, vsp, "proxy_get_property");
      },

      // proxy_get_buffer_bytes(type, start, len, data**, size*): a slice of the buffer, clipped
      // to its end (an empty slice answers pointer 0, size 0); NotFound if it is unavailable.
      "env.proxy_get_buffer_bytes": (
        type: number,
        start: number,
        length: number,
        pp: number,
        sp: number,
      ) => {
        if (type < 0 || type > MAX_BUFFER_TYPE) return R.BadArgument;
        const buffer = this.buffer(type);
        if (buffer === null) return R.NotFound;
        start >>>= 0;
        length >>>= 0;
        const end = Math.min(buffer.length, start + length);
        const slice =
          start >= end ? Buffer.alloc(0) : buffer.subarray(start, end);
        return this.copyOut(slice, pp, sp, "proxy_get_buffer_bytes");
      },

      // proxy_get_buffer_status(type, length*, flags*): the buffer's size, flags 0.
      "env.proxy_get_buffer_status": (type: number, lp: number, fp: number) => {
        if (type < 0 || type > MAX_BUFFER_TYPE) return R.BadArgument;
        const buffer = this.buffer(type);
        if (buffer === null) return R.NotFound;
        const ok =
          this.writeU32(lp, buffer.length, "proxy_get_buffer_status") &&
          this.writeU32(fp, 0, "proxy_get_buffer_status");
        return ok ? R.Ok : R.InvalidMemoryAccess;
      },

      // proxy_get_header_map_value(type, key, len, value**, size*): first value of the
      // (lowercased) key; NotFound if absent; BadArgument if the map is not reachable now.
      "env.proxy_get_header_map_value": (
        type: number,
        kp: number,
        kl: number,
        vpp: number,
        vsp: number,
      ) => {
        const key = this.peek(kp, kl, "proxy_get_header_map_value");
        if (key === null) return R.InvalidMemoryAccess;
        if (type < 0 || type > MAX_HEADER_MAP_TYPE) return R.BadArgument;
        const map = this.constMap(type);
        if (map === null) return R.BadArgument;
        const name = key.toString("utf8").toLowerCase();
        const entry = map.entries.find(([k]) => k === name);
        if (entry === undefined) return R.NotFound;
        return this.copyOut(entry[1], vpp, vsp, "proxy_get_header_map_value");
      },

      // proxy_get_header_map_pairs(type, data**, size*): the whole map serialized; an empty or
      // unreachable map answers Ok with pointer 0, size 0 (not a zero count).
      "env.proxy_get_header_map_pairs": (
        type: number,
        pp: number,
        sp: number,
      ) => {
        if (type < 0 || type > MAX_HEADER_MAP_TYPE) return R.BadArgument;
        const map = this.constMap(type);
        const data =
          map && map.size > 0 ? serializePairs(map.entries) : Buffer.alloc(0);
        return this.copyOut(data, pp, sp, "proxy_get_header_map_pairs");
      },

      // proxy_set_header_map_pairs(type, data, size): replaces the whole map with the pairs
      // (malformed pairs: BadArgument and a violation, where Envoy would read garbage).
      "env.proxy_set_header_map_pairs": (
        type: number,
        ptr: number,
        len: number,
      ) => {
        const data = this.peek(ptr, len, "proxy_set_header_map_pairs");
        if (data === null) return R.InvalidMemoryAccess;
        const pairs = parsePairs(data);
        if (typeof pairs === "string") {
          this.violation(`proxy_set_header_map_pairs: ${pairs}`);
          return R.BadArgument;
        }
        const map = this.mutableMap(type);
        if (map === null) return R.BadArgument;
        map.entries.length = 0;
        for (const [k, v] of pairs) map.add(k, v);
        this.recordMutation(type, "set_pairs");
        return R.Ok;
      },

      // proxy_add_header_map_value(type, key, len, value, len): appends (Envoy addCopy).
      "env.proxy_add_header_map_value": (
        type: number,
        kp: number,
        kl: number,
        vp: number,
        vl: number,
      ) => {
        const key = this.peek(kp, kl, "proxy_add_header_map_value");
        const value = this.read(vp, vl, "proxy_add_header_map_value");
        if (key === null || value === null) return R.InvalidMemoryAccess;
        const map = this.mutableMap(type);
        if (map === null) return R.BadArgument;
        map.add(key.toString("utf8"), value);
        this.recordMutation(
          type,
          "add",
          key.toString("utf8").toLowerCase(),
          value,
        );
        return R.Ok;
      },

      // proxy_replace_header_map_value(type, key, len, value, len): removes every value of the
      // key, then appends (Envoy setCopy).
      "env.proxy_replace_header_map_value": (
        type: number,
        kp: number,
        kl: number,
        vp: number,
        vl: number,
      ) => {
        const key = this.peek(kp, kl, "proxy_replace_header_map_value");
        const value = this.read(vp, vl, "proxy_replace_header_map_value");
        if (key === null || value === null) return R.InvalidMemoryAccess;
        const map = this.mutableMap(type);
        if (map === null) return R.BadArgument;
        map.set(key.toString("utf8"), value);
        this.recordMutation(
          type,
          "replace",
          key.toString("utf8").toLowerCase(),
          value,
        );
        return R.Ok;
      },

      // proxy_remove_header_map_value(type, key, len): removes every value of the key; Ok if
      // it was absent.
      "env.proxy_remove_header_map_value": (
        type: number,
        kp: number,
        kl: number,
      ) => {
        const key = this.peek(kp, kl, "proxy_remove_header_map_value");
        if (key === null) return R.InvalidMemoryAccess;
        const map = this.mutableMap(type);
        if (map === null) return R.BadArgument;
        map.remove(key.toString("utf8"));
        this.recordMutation(type, "remove", key.toString("utf8").toLowerCase());
        return R.Ok;
      },

      // proxy_get_header_map_size(type, size*): the map's byte size (Envoy HeaderMap::byteSize,
      // not the count); BadArgument unless the map is mutable now.
      "env.proxy_get_header_map_size": (type: number, sp: number) => {
        const map = this.mutableMap(type);
        if (map === null) return R.BadArgument;
        return this.writeU32(sp, map.byteSize(), "proxy_get_header_map_size")
          ? R.Ok
          : R.InvalidMemoryAccess;
      },

      // proxy_http_call(cluster, len, headers, len, body, len, trailers, len, timeout_ms,
      // token*): BadArgument for an unknown cluster, a negative timeout or missing :method,
      // :path or :authority; InternalFailure when the cluster has no healthy host (no callback);
      // else a token. The call belongs to the root context of the current (effective) context,
      // whichever callback dispatched it (proxy-wasm-cpp-host: `->root_context()`).
      "env.proxy_http_call": (
        up: number,
        ul: number,
        hp: number,
        hl: number,
        bp: number,
        bl: number,
        tp: number,
        tl: number,
        timeout: number,
        tokenPtr: number,
      ) => {
        const what = "proxy_http_call";
        const cluster = this.peek(up, ul, what);
        const rawHeaders = this.peek(hp, hl, what);
        const body = this.read(bp, bl, what);
        const rawTrailers = this.peek(tp, tl, what);
        if (
          cluster === null ||
          rawHeaders === null ||
          body === null ||
          rawTrailers === null
        ) {
          return R.InvalidMemoryAccess;
        }
        const headerPairs = parsePairs(rawHeaders);
        const trailerPairs = parsePairs(rawTrailers);
        if (
          typeof headerPairs === "string" ||
          typeof trailerPairs === "string"
        ) {
          this.violation(
            `${what}: malformed pairs: ${headerPairs}${trailerPairs}`,
          );
          return R.BadArgument;
        }
        const headers = new HeaderMap(headerPairs);
        const trailers = new HeaderMap(trailerPairs);
        const name = cluster.toString("utf8");
        const ctx = this.current();
        const contextId = ctx?.kind === "stream" ? ctx.rootId : (ctx?.id ?? 0);
        if (!this.writeU32(tokenPtr, 0, what)) return R.InvalidMemoryAccess;
        const reject = (result: number) => {
          this.rejectedHttpCalls.push({
            result,
            contextId,
            cluster: name,
            headers,
            body,
            timeoutMs: timeout,
          });
          return result;
        };
        if (timeout < 0) return reject(R.BadArgument);
        const state =
          this.clusters === null
            ? "healthy"
            : (this.clusters.get(name) ?? "missing");
        if (state === "missing") return reject(R.BadArgument);
        if (
          !headers.has(":path") ||
          !headers.has(":method") ||
          !headers.has(":authority")
        ) {
          return reject(R.BadArgument);
        }
        if (state === "no_healthy_host") return reject(R.InternalFailure);
        const token = this.nextTokenOf(contextId);
        if (!this.writeU32(tokenPtr, token, what)) return R.InvalidMemoryAccess;
        const call: HttpCall = {
          token,
          contextId,
          dispatchedIn: this.frame().callback,
          cluster: name,
          headers,
          body,
          trailers,
          timeoutMs: timeout,
          dispatchedAtNs: this.nowNs,
          state: "pending",
        };
        this.httpCalls.push(call);
        this.pending.set(pendingKey(contextId, token), call);
        return R.Ok;
      },

      // proxy_define_metric(type, name, len, id*): a new id each time (type in the low 2 bits,
      // first ids 4/5/6), the same underlying stat for the same name.
      "env.proxy_define_metric": (
        type: number,
        np: number,
        nl: number,
        idp: number,
      ) => {
        const nameBytes = this.peek(np, nl, "proxy_define_metric");
        if (nameBytes === null) return R.InvalidMemoryAccess;
        if (type < 0 || type > MetricType.Histogram) return R.BadArgument;
        const name = nameBytes.toString("utf8");
        const kind = (["counter", "gauge", "histogram"] as const)[type];
        let metric = this.metricsByName.get(name);
        if (metric && metric.type !== kind) {
          this.violation(
            `proxy_define_metric: ${name} redefined as ${kind}, was ${metric.type}`,
          );
          return R.BadArgument;
        }
        if (!metric) {
          metric = { name, type: kind, value: 0, values: [] };
          this.metricsByName.set(name, metric);
        }
        this.nextMetricId[type] += METRIC_ID_INCREMENT;
        const id = this.nextMetricId[type];
        if (!this.writeU32(idp, id, "proxy_define_metric"))
          return R.InvalidMemoryAccess;
        this.metricsById.set(id, metric);
        return R.Ok;
      },

      // proxy_increment_metric(id, i64 offset): counters by offset > 0 only (else BadArgument),
      // gauges up or down; BadArgument for a histogram; NotFound for an unknown id.
      "env.proxy_increment_metric": (id: number, offset: bigint) => {
        const type = id & METRIC_TYPE_MASK;
        if (type === MetricType.Histogram || type === 3) return R.BadArgument;
        const m = this.metricsById.get(id >>> 0);
        if (!m) return R.NotFound;
        const by = Number(BigInt.asIntN(64, offset));
        if (m.type === "counter" && by <= 0) return R.BadArgument;
        m.value += by;
        if (m.type === "gauge" && m.value < 0) {
          this.violation(`gauge ${m.name} went below zero (${m.value})`);
        }
        return R.Ok;
      },

      // proxy_record_metric(id, u64 value): counter += value, gauge = value, histogram records.
      "env.proxy_record_metric": (id: number, value: bigint) => {
        const m = this.metricsById.get(id >>> 0);
        if (!m) return R.NotFound;
        const v = Number(BigInt.asUintN(64, value));
        if (m.type === "counter") m.value += v;
        else if (m.type === "gauge") m.value = v;
        else m.values.push(v);
        return R.Ok;
      },

      // proxy_get_metric(id, u64*): a counter's or gauge's value; BadArgument for a histogram.
      "env.proxy_get_metric": (id: number, rp: number) => {
        const type = id & METRIC_TYPE_MASK;
        if (type === MetricType.Histogram || type === 3) return R.BadArgument;
        const m = this.metricsById.get(id >>> 0);
        if (!m) return R.NotFound;
        return this.writeU64(rp, BigInt(m.value), "proxy_get_metric")
          ? R.Ok
          : R.InvalidMemoryAccess;
      },

      // proxy_get_current_time_nanoseconds(u64*): the emulator's clock (wall time in Envoy).
      "env.proxy_get_current_time_nanoseconds": (ptr: number) =>
        this.writeU64(ptr, this.nowNs, "proxy_get_current_time_nanoseconds")
          ? R.Ok
          : R.InvalidMemoryAccess,

      // proxy_set_tick_period_milliseconds(ms): recorded for the current root context.
      "env.proxy_set_tick_period_milliseconds": (ms: number) => {
        const ctx = this.current();
        if (!ctx || ctx.kind !== "root") return R.BadArgument;
        this.tickPeriods.set(ctx.id, ms >>> 0);
        return R.Ok;
      },

      // proxy_set_effective_context(id): later host calls in this callback act for that
      // context; BadArgument if it does not exist (or was deleted).
      "env.proxy_set_effective_context": (id: number) => {
        const c = this.contexts.get(id >>> 0);
        if (!c || c.deleted) return R.BadArgument;
        this.frame().effective = c.id;
        return R.Ok;
      },

      // proxy_continue_stream(stream_type): resumes a paused request (0) or response (1) and,
      // like Envoy, drops the stream's request maps; BadArgument for other types.
      "env.proxy_continue_stream": (type: number) => {
        if (type !== 0 && type !== 1) return R.BadArgument;
        const ctx = this.current();
        if (ctx?.kind === "stream") {
          ctx.stream.continued.push(type);
          ctx.stream.live.requestHeaders = false;
          ctx.stream.live.requestTrailers = false;
        }
        return R.Ok;
      },

      // proxy_send_local_response(status, details, len, body, len, headers, len, grpc_status):
      // recorded on the stream (Envoy answers the client after the callback).
      "env.proxy_send_local_response": (
        status: number,
        dp: number,
        dl: number,
        bp: number,
        bl: number,
        hp: number,
        hl: number,
        grpc: number,
      ) => {
        const what = "proxy_send_local_response";
        const details = this.read(dp, dl, what);
        const body = this.read(bp, bl, what);
        const raw = this.peek(hp, hl, what);
        if (details === null || body === null || raw === null)
          return R.InvalidMemoryAccess;
        const pairs = parsePairs(raw);
        if (typeof pairs === "string") {
          this.violation(`${what}: ${pairs}`);
          return R.BadArgument;
        }
        const ctx = this.current();
        if (ctx?.kind === "stream") {
          ctx.stream.localResponse = {
            status: status >>> 0,
            details: details.toString("utf8"),
            body,
            headers: new HeaderMap(pairs),
            grpcStatus: grpc,
          };
        }
        return R.Ok;
      },

      // proxy_done(): the module finished a deferred on_done; accepted.
      "env.proxy_done": () => R.Ok,

      // wasi proc_exit(code): the module ends itself; recorded, then unwinds as a trap.
      "wasi_snapshot_preview1.proc_exit": (code: number) => {
        this.exits.push(code);
        throw new ProcExit(code);
      },

      // wasi fd_write(fd, iovs, iovs_len, nwritten*): fd 1 is logged at info, fd 2 at error
      // (one trailing newline dropped), as proxy-wasm-cpp-host does; also kept in stdout/stderr.
      "wasi_snapshot_preview1.fd_write": (
        fd: number,
        iovs: number,
        n: number,
        np: number,
      ) => {
        const ERRNO_BADF = 8;
        const ERRNO_FAULT = 21;
        if (fd !== 1 && fd !== 2) return ERRNO_BADF;
        let text = "";
        let written = 0;
        for (let i = 0; i < n; i++) {
          const iov = this.peek(iovs + i * 8, 8, "fd_write");
          if (iov === null) return ERRNO_FAULT;
          const chunk = this.read(
            iov.readUInt32LE(0),
            iov.readUInt32LE(4),
            "fd_write",
          );
          if (chunk === null) return ERRNO_FAULT;
          text += chunk.toString("utf8");
          written += chunk.length;
        }
        if (fd === 1) this.stdout += text;
        else this.stderr += text;
        const level = fd === 1 ? LogLevel.info : LogLevel.error;
        if (text.length > 0 && level >= this.logLevel) {
          this.logEntries.push({
            level,
            message: text.endsWith("\n") ? text.slice(0, -1) : text,
            contextId: this.currentId(),
            callback: this.frame().callback,
          });
        }
        return this.writeU32(np, written, "fd_write") ? 0 : ERRNO_FAULT;
      },
    } as Record<string, ImportFn>;
  }

  /** A buffer as Envoy's getBuffer gives it to the current context, or null → NotFound. */
  private buffer(type: number): Buffer | null {
    const ctx = this.current();
    switch (type) {
      case BufferType.VmConfiguration:
        return this.vmConfiguration;
      case BufferType.PluginConfiguration:
        return ctx?.kind === "root" && ctx.configuring
          ? ctx.configuration
          : null;
      case BufferType.HttpRequestBody:
        return ctx?.kind === "stream"
          ? (ctx.stream.live.requestBody ?? Buffer.alloc(0))
          : null;
      case BufferType.HttpResponseBody:
        return ctx?.kind === "stream"
          ? (ctx.stream.live.responseBody ?? Buffer.alloc(0))
          : null;
      case BufferType.HttpCallResponseBody:
        return this.inHttpCallCallback
          ? (this.httpCallResponse?.body ?? null)
          : null;
      default:
        return null;
    }
  }
}

function pendingKey(contextId: number, token: number): string {
  return `${contextId}/${token}`;
}

function levelOf(level: number | LogLevelName): number {
  if (typeof level === "number") return level;
  const l = LogLevel[level];
  if (l === undefined) throw new Error(`unknown log level ${level}`);
  return l;
}

// ---------------------------------------------------------------------------------------------
// Import signatures, read from the binary (Node's WebAssembly.Module.imports has no types)

function importSignatures(bytes: Uint8Array): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  let pos = 8;
  const u32 = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[pos++];
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
  };
  const name = (): string => {
    const len = u32();
    const s = Buffer.from(bytes.buffer, bytes.byteOffset + pos, len).toString(
      "utf8",
    );
    pos += len;
    return s;
  };
  const valType = (b: number): string =>
    ({
      0x7f: "i",
      0x7e: "I",
      0x7d: "f",
      0x7c: "F",
      0x7b: "v",
      0x70: "r",
      0x6f: "x",
    })[b] ?? "?";
  const limits = () => {
    const flags = bytes[pos++];
    u32();
    if (flags & 1) u32();
  };
  const types: string[] = [];
  while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = u32();
    const end = pos + size;
    if (id === 1) {
      const count = u32();
      for (let i = 0; i < count; i++) {
        pos++; // 0x60: func type
        const np = u32();
        let params = "";
        for (let j = 0; j < np; j++) params += valType(bytes[pos++]);
        const nr = u32();
        let results = "";
        for (let j = 0; j < nr; j++) results += valType(bytes[pos++]);
        types.push(`${params}:${results}`);
      }
    } else if (id === 2) {
      const count = u32();
      for (let i = 0; i < count; i++) {
        const key = `${name()}.${name()}`;
        const kind = bytes[pos++];
        if (kind === 0) {
          const sig = types[u32()];
          if (!out.has(key)) out.set(key, new Set());
          out.get(key)!.add(sig);
        } else if (kind === 1) {
          pos++;
          limits();
        } else if (kind === 2) {
          limits();
        } else if (kind === 3) {
          pos += 2;
        } else {
          pos++;
          u32();
        }
      }
      break;
    }
    pos = end;
  }
  return out;
}
