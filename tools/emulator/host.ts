/**
 * A proxy-wasm host emulator (ABI 0.2.x, wasm32) on Node's WebAssembly, for driving the release
 * `build/mirror.wasm` from tests, benchmarks and commands (the filter's own check of a plugin
 * config).
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
 *
 * The emulator's parts: abi.ts (constants), pairs.ts (header maps and their codec), memory.ts
 * (guest memory), imports.ts (each host function and its signature), link.ts (linking a module),
 * stream.ts (contexts and streams), calls.ts (HTTP calls), metrics.ts, records.ts (what tests
 * inspect); this file is the host that holds them together.
 */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import {
  BufferType,
  HeaderMapType,
  levelOf,
  LogLevel,
  type LogLevelName,
  WasmResult,
} from "./abi.ts";
import { type CallRequest, HttpCalls } from "./calls.ts";
import {
  abiImports,
  type AbiHost,
  type LocalResponse,
  SIGNATURES,
} from "./imports.ts";
import { linkImports } from "./link.ts";
import { GuestMemory } from "./memory.ts";
import { MetricTable } from "./metrics.ts";
import { HeaderMap, toBuffer } from "./pairs.ts";
import {
  type ClusterState,
  GuestTrap,
  type HeaderMutation,
  type HttpCall,
  type HttpResponse,
  type LogEntry,
  type Metric,
  ProcExit,
  type RejectedHttpCall,
  type TrapRecord,
} from "./records.ts";
import {
  type ContextHost,
  type Ctx,
  type RootState,
  Stream,
  type StreamState,
} from "./stream.ts";

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

/** A callback running in the module, and the context host calls act for. */
interface Frame {
  ctx: Ctx | null;
  callback: string;
  effective: number;
}

const moduleCache = new Map<
  string,
  { mtimeMs: number; module: WebAssembly.Module }
>();

/** The emulated host: one VM (one instance of the module) with its contexts. */
export class Host implements AbiHost, ContextHost {
  /** Every trap so far; a test asserts it is empty. */
  readonly trapped: TrapRecord[] = [];
  /** Dispatches the host accepted (pending, completed, reset or cancelled). */
  readonly httpCalls: HttpCall[];
  /** Dispatches the host refused (unknown cluster, no healthy host, missing pseudo-headers…). */
  readonly rejectedHttpCalls: RejectedHttpCall[];
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
  /**
   * Host calls the module made, by import name (`env.` dropped), plus `malloc`: the host's calls
   * into the module for the buffers it returns. Reset it to count one stretch of traffic.
   */
  readonly hostCalls = new Map<string, number>();
  /** @internal The module's metrics (read them with `metric`, `counter`, `gauge`, `histogram`). */
  readonly metricTable = new MetricTable((m) => this.violation(m));
  /** @internal The module's linear memory, once instantiated. */
  memory!: GuestMemory;

  private instance!: WebAssembly.Instance;
  private readonly calls: HttpCalls;
  private readonly contexts = new Map<number, Ctx>();
  private nextContextId = 1;
  private readonly frames: Frame[] = [];
  private readonly logEntries: LogEntry[] = [];
  private readonly vmConfiguration: Buffer;
  private httpCallResponse: {
    headers: HeaderMap;
    body: Buffer;
    trailers: HeaderMap;
  } | null = null;
  private inHttpCallCallback = false;
  private failed: TrapRecord | null = null;

  private constructor(options: HostOptions) {
    const rootId = options.rootId ?? "mirror";
    this.properties.set("plugin_root_id", Buffer.from(rootId));
    this.properties.set(
      "plugin_name",
      Buffer.from(options.pluginName ?? rootId),
    );
    this.properties.set("plugin_vm_id", Buffer.from(options.vmId ?? ""));
    this.vmConfiguration = toBuffer(options.vmConfiguration ?? "");
    this.logLevel = levelOf(options.logLevel ?? "trace");
    this.calls = new HttpCalls(options.clusters);
    this.httpCalls = this.calls.accepted;
    this.rejectedHttpCalls = this.calls.rejected;
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
    const imports = linkImports(
      module,
      bytes,
      abiImports(host),
      SIGNATURES,
      options.imports,
      (name) => host.count(name),
    );
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
    const c = this.calls.find(call);
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
    this.deliver(this.calls.find(call), null);
  }

  /** Calls still waiting for a response, in dispatch order. */
  pendingCalls(): HttpCall[] {
    return this.calls.pendingCalls();
  }

  /** Makes a cluster healthy, unhealthy (InternalFailure) or missing (BadArgument). */
  setCluster(name: string, state: ClusterState): void {
    this.calls.setCluster(name, state);
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
    return this.metricTable.named(name);
  }

  /** A counter's value; throws if it was never defined as a counter. */
  counter(name: string): number {
    return this.metricTable.typed(name, "counter").value;
  }

  /** A gauge's value; throws if it was never defined as a gauge. */
  gauge(name: string): number {
    return this.metricTable.typed(name, "gauge").value;
  }

  /** A histogram's recorded values; throws if it was never defined as a histogram. */
  histogram(name: string): number[] {
    return this.metricTable.typed(name, "histogram").values;
  }

  /** Every metric: counters and gauges as numbers, histograms as their recorded values. */
  metrics(): Record<string, number | number[]> {
    return this.metricTable.snapshot();
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
    return this.memory.byteLength;
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
    this.calls.cancelAll(ctx.id);
  }

  // ----- what the imports ask of the host (AbiHost) ------------------------------------------------

  /** @internal */
  violation(message: string): void {
    this.violations.push(`${this.frames.at(-1)?.callback ?? "?"}: ${message}`);
  }

  /** @internal */
  log(level: number, message: string): void {
    this.logEntries.push({
      level,
      message,
      contextId: this.current()?.id ?? 0,
      callback: this.frame().callback,
    });
  }

  /** @internal */
  write(fd: 1 | 2, text: string): void {
    if (fd === 1) this.stdout += text;
    else this.stderr += text;
  }

  /** @internal */
  property(path: string): Buffer | undefined {
    return this.properties.get(path);
  }

  /** @internal A buffer as Envoy's getBuffer gives it to the current context, or null → NotFound. */
  buffer(type: number): Buffer | null {
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

  /**
   * @internal A read sees the HTTP call response's maps during its callback (Envoy getConstMap);
   * otherwise, reads and mutations reach the current stream's maps as its callbacks allow.
   */
  headerMap(type: number, mutation: boolean): HeaderMap | null {
    if (!mutation && type === HeaderMapType.HttpCallResponseHeaders)
      return this.httpCallResponse?.headers ?? null;
    if (!mutation && type === HeaderMapType.HttpCallResponseTrailers)
      return this.httpCallResponse?.trailers ?? null;
    const ctx = this.current();
    if (!ctx || ctx.kind !== "stream") return null;
    return ctx.stream.reachableMap(type, !mutation);
  }

  /** @internal */
  mutated(
    map: number,
    op: HeaderMutation["op"],
    name?: string,
    value?: Buffer,
  ): void {
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

  /**
   * @internal The call belongs to the root context of the current (effective) context, whichever
   * callback dispatched it (proxy-wasm-cpp-host: `->root_context()`).
   */
  httpCall(request: CallRequest): { result: number; token: number } {
    const ctx = this.current();
    const contextId = ctx?.kind === "stream" ? ctx.rootId : (ctx?.id ?? 0);
    return this.calls.dispatch(
      request,
      contextId,
      this.frame().callback,
      this.nowNs,
    );
  }

  /** @internal */
  setTickPeriod(ms: number): number {
    const ctx = this.current();
    if (!ctx || ctx.kind !== "root") return WasmResult.BadArgument;
    this.tickPeriods.set(ctx.id, ms);
    return WasmResult.Ok;
  }

  /** @internal */
  setEffectiveContext(id: number): number {
    const c = this.contexts.get(id);
    if (!c || c.deleted) return WasmResult.BadArgument;
    this.frame().effective = c.id;
    return WasmResult.Ok;
  }

  /** @internal Resumes a paused request (0) or response (1); drops the stream's request maps. */
  continueStream(type: number): number {
    if (type !== 0 && type !== 1) return WasmResult.BadArgument;
    const ctx = this.current();
    if (ctx?.kind === "stream") {
      ctx.stream.continued.push(type);
      ctx.stream.live.requestHeaders = false;
      ctx.stream.live.requestTrailers = false;
    }
    return WasmResult.Ok;
  }

  /** @internal */
  sendLocalResponse(response: LocalResponse): void {
    const ctx = this.current();
    if (ctx?.kind === "stream") {
      ctx.stream.localResponse = {
        ...response,
        details: response.details.toString("utf8"),
      };
    }
  }

  /** @internal */
  exit(code: number): never {
    this.exits.push(code);
    throw new ProcExit(code);
  }

  // ----- linking ---------------------------------------------------------------------------------

  private count(name: string): void {
    this.hostCalls.set(name, (this.hostCalls.get(name) ?? 0) + 1);
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
    this.memory = new GuestMemory(
      ex.memory as WebAssembly.Memory,
      (ex.malloc ?? ex.proxy_on_memory_allocate) as (size: number) => number,
      (m) => this.violation(m),
      () => this.count("malloc"),
    );
    // WASI reactors initialize themselves here (proxy-wasm-cpp-host calls it before anything).
    if (typeof ex._initialize === "function")
      this._invoke("_initialize", null, [], 0);
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

  // ----- HTTP call responses ---------------------------------------------------------------------

  private deliver(
    call: HttpCall,
    response: { headers: HeaderMap; body: Buffer; trailers: HeaderMap } | null,
  ): void {
    const ctx = this._context(call.contextId);
    this.calls.settle(call, response);
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
}
