// Root and stream contexts: the only room that calls the host. Each callback
// reads what it needs, asks the pure rooms, applies, and returns Continue.
// Host results are checked and handled here, never thrown (a trap fails the VM).

import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import {
  Context,
  FilterDataStatusValues,
  FilterHeadersStatusValues,
  FilterTrailersStatusValues,
  LogLevelValues,
  RootContext,
  log,
} from "@solo-io/proxy-runtime/assembly";
import { free } from "@solo-io/proxy-runtime/assembly/malloc";
import { Config, Target, parseConfig } from "./config";
import {
  MetricKind,
  STAT_KINDS,
  Stat,
  darkStatOf,
  metricName,
} from "./metrics";
import { Decision, RequestView, Skip, decideMirror } from "./policy";
import { parseHeaderMap, serializeHeaderMap, shadowHeaders } from "./shadow";

// proxy-wasm enum values used here.
const OK: u32 = 0;
const MAP_REQUEST_HEADERS: u32 = 0;
const MAP_REQUEST_TRAILERS: u32 = 1;
const MAP_CALL_RESPONSE_HEADERS: u32 = 6;
const BUFFER_REQUEST_BODY: u32 = 0;
const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;

/** Grace past a call's timeout after which a call never answered is forgotten. */
const FORGET_AFTER_NS: u64 = 5_000_000_000;
const NS_PER_MS: u64 = 1_000_000;
const LOG_INTERVAL_NS: u64 = 1_000_000_000;
/** Completed callbacks between two garbage collections. */
const COLLECT_EVERY: u32 = 64;

// Out-parameters for host calls: a static area, no allocation per call.
const OUT_PTR: usize = memory.data(8);
const OUT_SIZE: usize = OUT_PTR + 4;
const OUT_U64: usize = memory.data(8);
const OUT_U32: usize = memory.data(4);

const EMPTY = new ArrayBuffer(0);
const STATUS = String.UTF8.encode(":status");

/** Takes ownership of the buffer the host malloc'ed for the last call. */
function takeOut(): ArrayBuffer {
  const ptr = load<usize>(OUT_PTR);
  const size = load<usize>(OUT_SIZE);
  store<usize>(OUT_PTR, 0);
  store<usize>(OUT_SIZE, 0);
  if (ptr == 0) return EMPTY;
  const buf = changetype<ArrayBuffer>(ptr);
  free(ptr); // unpinned: now owned by the GC like any other object
  return size == 0 ? EMPTY : buf;
}

function clearOut(): void {
  store<usize>(OUT_PTR, 0);
  store<usize>(OUT_SIZE, 0);
}

function getHeader(map: u32, name: ArrayBuffer): ArrayBuffer | null {
  clearOut();
  const r = imports.proxy_get_header_map_value(
    map,
    changetype<usize>(name),
    name.byteLength,
    OUT_PTR,
    OUT_SIZE,
  );
  if (r != OK) {
    takeOut();
    return null;
  }
  return takeOut();
}

function getHeaderPairs(map: u32): ArrayBuffer {
  clearOut();
  const r = imports.proxy_get_header_map_pairs(map, OUT_PTR, OUT_SIZE);
  const buf = takeOut();
  return r == OK ? buf : EMPTY;
}

function getBuffer(kind: u32, length: u32): ArrayBuffer | null {
  clearOut();
  const r = imports.proxy_get_buffer_bytes(kind, 0, length, OUT_PTR, OUT_SIZE);
  const buf = takeOut();
  return r == OK ? buf : null;
}

function nowNs(): u64 {
  store<u64>(OUT_U64, 0);
  imports.proxy_get_current_time_nanoseconds(OUT_U64);
  return load<u64>(OUT_U64);
}

function resultName(r: u32): string {
  if (r == 2)
    return "BadArgument (unknown cluster, or :method/:path/:authority missing)";
  if (r == 10) return "InternalFailure (no healthy host?)";
  return "result " + r.toString();
}

/** The live request, read one header at a time. */
class HostRequest extends RequestView {
  header(name: ArrayBuffer): ArrayBuffer | null {
    return getHeader(MAP_REQUEST_HEADERS, name);
  }
}

const liveRequest = new HostRequest();
const decision = new Decision();

/** The metric ids of one target. */
class TargetStats {
  target: Target;
  ids: StaticArray<u32> = new StaticArray<u32>(Stat.Count);
  ok: bool = true;

  constructor(target: Target) {
    this.target = target;
    for (let i = 0; i < Stat.Count; i++) {
      const name = String.UTF8.encode(metricName(target.statName, i));
      store<u32>(OUT_U32, 0);
      const r = imports.proxy_define_metric(
        <u32>STAT_KINDS[i],
        changetype<usize>(name),
        name.byteLength,
        OUT_U32,
      );
      if (r != OK) this.ok = false;
      this.ids[i] = load<u32>(OUT_U32);
    }
  }

  inc(stat: Stat): void {
    if (this.ok) imports.proxy_increment_metric(this.ids[stat], 1);
  }

  add(stat: Stat, delta: i64): void {
    if (this.ok) imports.proxy_increment_metric(this.ids[stat], delta);
  }

  record(stat: Stat, value: u64): void {
    if (this.ok) imports.proxy_record_metric(this.ids[stat], value);
  }
}

/** A dispatched copy awaiting its dark response. */
class PendingCall {
  stats: TargetStats;
  startNs: u64;
  forgetAtNs: u64;

  constructor(stats: TargetStats, startNs: u64, timeoutMs: u32) {
    this.stats = stats;
    this.startNs = startNs;
    this.forgetAtNs = startNs + <u64>timeoutMs * NS_PER_MS + FORGET_AFTER_NS;
  }
}

// Per VM: tokens are unique per VM, and a response may reach a root context
// other than the one that dispatched (config replaced meanwhile).
const pending = new Map<u32, PendingCall>();
let lastFailureLogNs: u64 = 0;
let failuresSinceLog: u32 = 0;

let callbacksSinceCollect: u32 = 0;

/**
 * The minimal runtime (a third of the incremental one's size) collects only
 * when asked. It is asked here, at the end of a callback, when every live
 * object is reachable from globals (contexts, configs, pending calls), never
 * from a local that is still in use.
 */
function collectSometimes(): void {
  if (++callbacksSinceCollect < COLLECT_EVERY) return;
  callbacksSinceCollect = 0;
  __collect();
}

/** Forgets calls whose answer is long overdue (a host that never called back). */
function forgetOverdue(now: u64): void {
  if (pending.size == 0) return;
  const tokens = pending.keys();
  for (let i = 0; i < tokens.length; i++) {
    const call = pending.get(tokens[i]);
    if (now >= call.forgetAtNs) {
      pending.delete(tokens[i]);
      call.stats.add(Stat.Inflight, -1);
      call.stats.inc(Stat.DarkReset);
    }
  }
}

function noteDispatchFailure(cluster: string, r: u32): void {
  failuresSinceLog++;
  const now = nowNs();
  if (lastFailureLogNs != 0 && now - lastFailureLogNs < LOG_INTERVAL_NS) return;
  lastFailureLogNs = now;
  log(
    LogLevelValues.warn,
    "mirror: dispatch to cluster '" +
      cluster +
      "' failed: " +
      resultName(r) +
      " (" +
      failuresSinceLog.toString() +
      " failure(s) since the last report)",
  );
  failuresSinceLog = 0;
}

/** The root context `mirror`: configuration, dispatch and dark responses. */
export class MirrorRoot extends RootContext {
  config: Config | null = null;
  stats: TargetStats[] = [];

  createContext(context_id: u32): Context {
    return new MirrorStream(context_id, this);
  }

  onConfigure(configuration_size: u32): bool {
    let text = "";
    if (configuration_size > 0) {
      const buf = getBuffer(BUFFER_PLUGIN_CONFIGURATION, configuration_size);
      if (buf !== null) text = String.UTF8.decode(buf);
    }
    const res = parseConfig(text);
    const cfg = res.config;
    if (cfg === null) {
      // Refused: the previous configuration (if any) keeps serving.
      log(LogLevelValues.error, "invalid plugin config: " + res.error);
      return false;
    }
    const stats: TargetStats[] = [];
    for (let i = 0; i < cfg.targets.length; i++) {
      stats.push(new TargetStats(cfg.targets[i]));
    }
    this.stats = stats;
    this.config = cfg;
    return true;
  }

  /** Sends the copy; counts the outcome. Never throws. */
  dispatch(
    st: TargetStats,
    cfg: Config,
    headers: ArrayBuffer,
    body: ArrayBuffer | null,
    trailers: ArrayBuffer | null,
  ): void {
    const now = nowNs();
    if (<u32>pending.size >= cfg.maxInflight) forgetOverdue(now);
    if (<u32>pending.size >= cfg.maxInflight) {
      st.inc(Stat.SkipOverloaded);
      return;
    }
    const t = st.target;
    const b = body !== null ? body : EMPTY;
    const tr = trailers !== null ? trailers : EMPTY;
    store<u32>(OUT_U32, 0);
    const r = imports.proxy_http_call(
      changetype<usize>(t.clusterBytes),
      t.clusterBytes.byteLength,
      changetype<usize>(headers),
      headers.byteLength,
      changetype<usize>(b),
      b.byteLength,
      changetype<usize>(tr),
      tr.byteLength,
      t.timeoutMs,
      OUT_U32,
    );
    if (r != OK) {
      st.inc(Stat.DispatchFailed);
      noteDispatchFailure(t.cluster, r);
      return;
    }
    pending.set(load<u32>(OUT_U32), new PendingCall(st, now, t.timeoutMs));
    st.inc(Stat.Mirrored);
    st.add(Stat.Inflight, 1);
  }

  onHttpCallResponse(
    token: u32,
    headers: u32,
    body_size: u32,
    trailers: u32,
  ): void {
    if (!pending.has(token)) return;
    const call = pending.get(token);
    pending.delete(token);
    const st = call.stats;
    st.add(Stat.Inflight, -1);
    const now = nowNs();
    let status = 0;
    if (headers > 0) {
      const s = getHeader(MAP_CALL_RESPONSE_HEADERS, STATUS);
      if (s !== null) status = parseStatus(s);
    }
    st.inc(darkStatOf(status));
    if (now > call.startNs)
      st.record(Stat.DarkLatency, (now - call.startNs) / NS_PER_MS);
    else st.record(Stat.DarkLatency, 0);
    collectSometimes();
  }

  onDone(): bool {
    // Envoy cancels this root's calls; a call it does answer is still counted
    // through the shared table, and the rest are forgotten when overdue.
    return true;
  }
}

function parseStatus(s: ArrayBuffer): i32 {
  const n = s.byteLength;
  if (n == 0 || n > 3) return 0;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = load<u8>(changetype<usize>(s) + i);
    if (c < 0x30 || c > 0x39) return 0;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

const IDLE: u8 = 0;
const COPYING: u8 = 1;
const FINISHED: u8 = 2;

/** One live request. Holds the copy only between its headers and its end. */
export class MirrorStream extends Context {
  root: MirrorRoot;
  state: u8 = IDLE;
  cfg: Config | null = null;
  stats: TargetStats | null = null;
  headers: ArrayBuffer | null = null;
  chunks: ArrayBuffer[] | null = null;
  bodyBytes: u32 = 0;

  constructor(context_id: u32, root: MirrorRoot) {
    super(context_id, root);
    this.root = root;
  }

  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const cfg = this.root.config;
    if (cfg === null) return FilterHeadersStatusValues.Continue;
    const stats = this.root.stats;
    decideMirror(cfg, liveRequest, decision);
    if (decision.stripMarker) {
      // Edge mode: no client may pose as shadow traffic to the live service.
      const m = cfg.markerHeaderBytes;
      imports.proxy_remove_header_map_value(
        MAP_REQUEST_HEADERS,
        changetype<usize>(m),
        m.byteLength,
      );
    }
    const chosen = decision.target < 0 ? stats.length : decision.target;
    for (let i = 0; i < chosen; i++) stats[i].inc(Stat.SkipNotMatched);
    if (decision.target < 0) return FilterHeadersStatusValues.Continue;
    const st = stats[decision.target];
    switch (decision.reason) {
      case Skip.Loop:
        st.inc(Stat.SkipLoop);
        return FilterHeadersStatusValues.Continue;
      case Skip.Method:
        st.inc(Stat.SkipMethod);
        return FilterHeadersStatusValues.Continue;
      case Skip.NoKey:
        st.inc(Stat.SkipNoKey);
        return FilterHeadersStatusValues.Continue;
      case Skip.SampledOut:
        st.inc(Stat.SkipSampledOut);
        return FilterHeadersStatusValues.Continue;
    }
    if (<u32>pending.size >= cfg.maxInflight) {
      forgetOverdue(nowNs());
      if (<u32>pending.size >= cfg.maxInflight) {
        st.inc(Stat.SkipOverloaded);
        return FilterHeadersStatusValues.Continue;
      }
    }
    // Mirrored: only now is the whole header map read.
    const live = parseHeaderMap(getHeaderPairs(MAP_REQUEST_HEADERS));
    this.headers = serializeHeaderMap(shadowHeaders(cfg, st.target, live));
    this.cfg = cfg;
    this.stats = st;
    if (end_of_stream) {
      this.finish(null);
    } else {
      this.state = COPYING;
    }
    return FilterHeadersStatusValues.Continue;
  }

  onRequestBody(
    body_buffer_length: usize,
    end_of_stream: bool,
  ): FilterDataStatusValues {
    if (this.state != COPYING) return FilterDataStatusValues.Continue;
    const cfg = this.cfg!;
    const len = <u32>body_buffer_length;
    if (len > 0) {
      if (<u64>this.bodyBytes + <u64>len > <u64>cfg.maxBodyBytes) {
        this.stats!.inc(Stat.SkipBodyTooLarge);
        this.abandon();
        return FilterDataStatusValues.Continue;
      }
      // Continue means Envoy hands each chunk once and keeps nothing for us.
      const chunk = getBuffer(BUFFER_REQUEST_BODY, len);
      if (chunk === null) {
        this.stats!.inc(Stat.DispatchFailed);
        this.abandon();
        return FilterDataStatusValues.Continue;
      }
      let chunks = this.chunks;
      if (chunks === null) {
        chunks = [];
        this.chunks = chunks;
      }
      chunks.push(chunk);
      this.bodyBytes += <u32>chunk.byteLength;
    }
    if (end_of_stream) this.finish(null);
    return FilterDataStatusValues.Continue;
  }

  onRequestTrailers(a: u32): FilterTrailersStatusValues {
    if (this.state == COPYING) {
      const pairs = getHeaderPairs(MAP_REQUEST_TRAILERS);
      this.finish(pairs.byteLength > 4 ? pairs : null);
    }
    return FilterTrailersStatusValues.Continue;
  }

  onDone(): bool {
    if (this.state == COPYING) {
      // The live request ended before its end of stream: reset, not mirrored.
      this.stats!.inc(Stat.SkipLiveReset);
      this.abandon();
    }
    return true;
  }

  onDelete(): void {
    this.onDone();
    collectSometimes();
  }

  /** The live request has ended: dispatch the copy and drop stream state. */
  finish(trailers: ArrayBuffer | null): void {
    const body = this.joinBody();
    this.root.dispatch(this.stats!, this.cfg!, this.headers!, body, trailers);
    this.abandon();
  }

  joinBody(): ArrayBuffer | null {
    const chunks = this.chunks;
    if (chunks === null || this.bodyBytes == 0) return null;
    if (chunks.length == 1) return chunks[0];
    const out = new ArrayBuffer(this.bodyBytes);
    let at = changetype<usize>(out);
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i];
      memory.copy(at, changetype<usize>(c), c.byteLength);
      at += c.byteLength;
    }
    return out;
  }

  abandon(): void {
    this.state = FINISHED;
    this.headers = null;
    this.chunks = null;
    this.bodyBytes = 0;
  }
}
