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
import { Verdict, judge } from "./compare";
import { Config, Target, parseConfig } from "./config";
import {
  BUFFERED_BYTES,
  MetricKind,
  Stat,
  WASM_MEMORY_BYTES,
  darkStatOf,
  liveStatOf,
  metricName,
  statKind,
} from "./metrics";
import { Decision, RequestView, Skip, decideMirror } from "./policy";
import { Xxh64Stream, xxh64 } from "./sampler";
import {
  findHeader,
  parseHeaderMap,
  serializeHeaderMap,
  shadowHeaders,
} from "./shadow";

// proxy-wasm enum values used here.
const OK: u32 = 0;
const RESULT_BAD_ARGUMENT: u32 = 2;
const RESULT_INTERNAL_FAILURE: u32 = 10;
const MAP_REQUEST_HEADERS: u32 = 0;
const MAP_REQUEST_TRAILERS: u32 = 1;
const MAP_RESPONSE_HEADERS: u32 = 2;
const MAP_CALL_RESPONSE_HEADERS: u32 = 6;
const BUFFER_REQUEST_BODY: u32 = 0;
const BUFFER_RESPONSE_BODY: u32 = 1;
const BUFFER_CALL_RESPONSE_BODY: u32 = 4;
const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;

/** Grace past a call's timeout after which a call never answered is forgotten. */
const FORGET_AFTER_NS: u64 = 5_000_000_000;
const NS_PER_MS: u64 = 1_000_000;
const NS_PER_US: u64 = 1_000;
/** How often each root context hands its counters to the host. */
const STATS_TICK_MS: u32 = 500;
const LOG_INTERVAL_NS: u64 = 1_000_000_000;
/** Completed callbacks between two garbage collections… */
const COLLECT_EVERY: u32 = 64;
/** …or bytes of bodies read from the host, whichever comes first. */
const COLLECT_AFTER_BYTES: usize = 4 << 20;

// Out-parameters for host calls: a static area, no allocation per call.
const OUT_PTR: usize = memory.data(8);
const OUT_SIZE: usize = OUT_PTR + 4;
const OUT_U64: usize = memory.data(8);
const OUT_U32: usize = memory.data(4);

const EMPTY = new ArrayBuffer(0);
const STATUS = String.UTF8.encode(":status");
const UPSTREAM_TIME = String.UTF8.encode("x-envoy-upstream-service-time");

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
  bytesSinceCollect += <usize>buf.byteLength;
  return r == OK ? buf : null;
}

function nowNs(): u64 {
  store<u64>(OUT_U64, 0);
  imports.proxy_get_current_time_nanoseconds(OUT_U64);
  return load<u64>(OUT_U64);
}

/** The dispatch_failures reason of a proxy_http_call result. */
function dispatchStatOf(r: u32): Stat {
  if (r == RESULT_BAD_ARGUMENT) return Stat.DispatchUnknownCluster;
  if (r == RESULT_INTERNAL_FAILURE) return Stat.DispatchNoHealthyHost;
  return Stat.DispatchOther;
}

function resultName(r: u32): string {
  if (r == RESULT_BAD_ARGUMENT)
    return "BadArgument (unknown cluster, or :method/:path/:authority missing)";
  if (r == RESULT_INTERNAL_FAILURE) return "InternalFailure (no healthy host?)";
  return "result " + r.toString();
}

/**
 * The live request's headers, read from the host once per request
 * (proxy_get_header_map_pairs) and searched here: the decision needs three or
 * four headers, and in Envoy 1.40 one map read measured cheaper than four
 * single-header reads (bench/RESULTS.md, "Builds compared"); a mirrored
 * request reuses the same bytes for its copy.
 */
class LiveHeaders extends RequestView {
  pairs: ArrayBuffer = EMPTY;

  header(name: ArrayBuffer): ArrayBuffer | null {
    return findHeader(this.pairs, name);
  }
}

const liveRequest = new LiveHeaders();
const decision = new Decision();

/**
 * The metrics of one target. Counters are added up here and handed to the host on the root's
 * tick (and when the root is retired): a request costs no host call for its counters, whatever
 * the number of targets; /stats lags by at most STATS_TICK_MS. Histograms are recorded at once.
 */
class TargetStats {
  target: Target;
  ids: StaticArray<u32> = new StaticArray<u32>(Stat.Count);
  counts: StaticArray<u64> = new StaticArray<u64>(Stat.Count);
  dirty: bool = false;
  /** copies in progress (the inflight gauge), and what the host was last told */
  inflight: i64 = 0;
  inflightShown: i64 = 0;
  ok: bool = true;

  constructor(target: Target) {
    this.target = target;
    for (let i = 0; i < Stat.Count; i++) {
      const id = defineMetric(statKind(i), metricName(target.statName, i));
      if (id == U32.MAX_VALUE) this.ok = false;
      this.ids[i] = id;
    }
  }

  inc(stat: Stat): void {
    unchecked((this.counts[stat] += 1));
    this.dirty = true;
  }

  /** A copy started (+1) or ended (-1). */
  inflightAdd(delta: i64): void {
    this.inflight += delta;
    this.dirty = true;
  }

  record(stat: Stat, value: u64): void {
    if (this.ok) imports.proxy_record_metric(this.ids[stat], value);
  }

  /** Hands the counts gathered since the last flush to the host. */
  flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    if (!this.ok) return;
    for (let i = 0; i < Stat.Count; i++) {
      const n = unchecked(this.counts[i]);
      if (n == 0) continue;
      unchecked((this.counts[i] = 0));
      imports.proxy_increment_metric(unchecked(this.ids[i]), <i64>n);
    }
    if (this.inflight != this.inflightShown) {
      imports.proxy_increment_metric(
        this.ids[Stat.Inflight],
        this.inflight - this.inflightShown,
      );
      this.inflightShown = this.inflight;
    }
  }
}

/** Defines a metric; its id, or U32.MAX_VALUE when the host refused it. */
function defineMetric(kind: MetricKind, name: string): u32 {
  const bytes = String.UTF8.encode(name);
  store<u32>(OUT_U32, 0);
  const r = imports.proxy_define_metric(
    <u32>kind,
    changetype<usize>(bytes),
    bytes.byteLength,
    OUT_U32,
  );
  return r == OK ? load<u32>(OUT_U32) : U32.MAX_VALUE;
}

/**
 * VM-wide gauges, summed over the VMs of an Envoy (each VM adds the change since it last
 * reported): bytes held for copies in progress, and the VM's linear memory.
 */
class VmGauges {
  bufferedId: u32 = U32.MAX_VALUE;
  memoryId: u32 = U32.MAX_VALUE;
  bufferedShown: i64 = 0;
  memoryShown: i64 = 0;

  define(): void {
    if (this.bufferedId != U32.MAX_VALUE) return;
    this.bufferedId = defineMetric(MetricKind.Gauge, BUFFERED_BYTES);
    this.memoryId = defineMetric(MetricKind.Gauge, WASM_MEMORY_BYTES);
  }

  flush(): void {
    const buffered = <i64>bufferedBytes;
    if (buffered != this.bufferedShown && this.bufferedId != U32.MAX_VALUE) {
      imports.proxy_increment_metric(
        this.bufferedId,
        buffered - this.bufferedShown,
      );
      this.bufferedShown = buffered;
    }
    const mem = (<i64>memory.size()) << 16;
    if (mem != this.memoryShown && this.memoryId != U32.MAX_VALUE) {
      imports.proxy_increment_metric(this.memoryId, mem - this.memoryShown);
      this.memoryShown = mem;
    }
  }
}

const vmGauges = new VmGauges();
/** Bytes held for copies in progress, in this VM (see the memory budget). */
let bufferedBytes: u64 = 0;

function usBetween(from: u64, to: u64): u64 {
  return to > from ? (to - from) / NS_PER_US : 0;
}

/**
 * One mirrored request, from its decision to its verdict. The stream fills in
 * the live side, the call's response the dark side. While the copy is in
 * flight it is in the pending table; after the dark answer and before the live
 * one it counts in `awaitingLive`. Together they never exceed max_inflight.
 */
class Mirror {
  stats: TargetStats;
  cfg: Config;
  startNs: u64;
  darkStartNs: u64 = 0;
  forgetAtNs: u64 = 0;
  liveStatus: i32 = 0;
  liveDone: bool = false;
  liveGone: bool = false;
  liveHash: Xxh64Stream | null = null;
  darkDone: bool = false;
  darkStatus: i32 = 0;
  darkDigest: u64 = 0;
  awaitingLive: bool = false;

  constructor(stats: TargetStats, cfg: Config, startNs: u64) {
    this.stats = stats;
    this.cfg = cfg;
    this.startNs = startNs;
    if (cfg.compareBody) this.liveHash = new Xxh64Stream();
  }

  startDark(now: u64, timeoutMs: u32): void {
    this.darkStartNs = now;
    this.forgetAtNs = now + <u64>timeoutMs * NS_PER_MS + FORGET_AFTER_NS;
  }

  /** The dark side is known (answer, reset, timeout or forgotten). */
  darkEnded(status: i32): void {
    this.darkDone = true;
    this.darkStatus = status;
    if (this.liveDone) {
      this.judge();
    } else if (this.liveGone) {
      this.stats.inc(Stat.NotComparedIncomplete);
    } else {
      // The live response is still on its way; its stream judges when it ends.
      this.awaitingLive = true;
      awaitingLive++;
    }
  }

  /** The live side is known. */
  liveEnded(now: u64): void {
    this.liveDone = true;
    this.stats.inc(liveStatOf(this.liveStatus));
    this.stats.record(Stat.LiveDuration, usBetween(this.startNs, now));
    if (this.darkDone) this.judge();
    this.release();
  }

  /** The live stream went away before its response completed. */
  liveVanished(): void {
    if (this.liveDone || this.liveGone) return;
    this.liveGone = true;
    this.stats.inc(Stat.LiveReset);
    if (this.darkDone) this.stats.inc(Stat.NotComparedIncomplete);
    this.release();
  }

  release(): void {
    if (this.awaitingLive) {
      this.awaitingLive = false;
      awaitingLive--;
    }
  }

  /** Both sides known: count the verdict. */
  judge(): void {
    const h = this.liveHash;
    const liveDigest = h !== null ? h.digest() : 0;
    const v = judge(
      this.cfg,
      this.liveStatus,
      this.darkStatus,
      liveDigest,
      this.darkDigest,
    );
    if (v == Verdict.Ignored) this.stats.inc(Stat.NotComparedIgnored);
    else if (v == Verdict.StatusMismatch) {
      this.stats.inc(Stat.CompareStatusMismatch);
    } else if (v == Verdict.BodyMismatch)
      this.stats.inc(Stat.CompareBodyMismatch);
    else this.stats.inc(Stat.CompareMatch);
  }
}

// Per VM, keyed by (root context id, token): Envoy numbers calls per root
// context, and old and new root contexts coexist while a config is replaced.
const pending = new Map<u64, Mirror>();

function callKey(rootId: u32, token: u32): u64 {
  return ((<u64>rootId) << 32) | (<u64>token);
}
/** Mirrors whose dark side is known and whose live side is not yet. */
let awaitingLive: u32 = 0;
let lastFailureLogNs: u64 = 0;
let failuresSinceLog: u32 = 0;
let callbacksSinceCollect: u32 = 0;
let bytesSinceCollect: usize = 0;

/** Copies in flight plus comparisons awaiting their live side. */
function outstanding(): u32 {
  return <u32>pending.size + awaitingLive;
}

/**
 * The minimal runtime (a third of the incremental one's size) collects only
 * when asked. It is asked here, at the end of a callback, when every live
 * object is reachable from globals (contexts, configs, pending calls), never
 * from a local that is still in use.
 */
function collectSometimes(): void {
  if (
    ++callbacksSinceCollect < COLLECT_EVERY &&
    bytesSinceCollect < COLLECT_AFTER_BYTES
  ) {
    return;
  }
  callbacksSinceCollect = 0;
  bytesSinceCollect = 0;
  __collect();
}

/** Forgets calls whose answer is long overdue (a host that never called back). */
function forgetOverdue(now: u64): void {
  if (pending.size == 0) return;
  const keys = pending.keys();
  for (let i = 0; i < keys.length; i++) {
    const m = pending.get(keys[i]);
    if (now >= m.forgetAtNs) {
      pending.delete(keys[i]);
      m.stats.inflightAdd(-1);
      m.stats.inc(Stat.DarkReset);
      m.darkEnded(0);
    }
  }
}

/** No room for another copy, even after forgetting overdue ones. */
function overloaded(cfg: Config, now: u64): bool {
  if (outstanding() < cfg.maxInflight) return false;
  forgetOverdue(now);
  return outstanding() >= cfg.maxInflight;
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

/**
 * The dark response's status, 0 for a reset or timeout. Envoy answers a call
 * whose upstream refused, reset or timed out with a reply of its own (503
 * "upstream connect error…", 504 "upstream request timeout") rather than with
 * no headers; a real upstream response carries x-envoy-upstream-service-time,
 * added by the router on the way back, and Envoy's own reply does not.
 */
function darkStatus(): i32 {
  const s = getHeader(MAP_CALL_RESPONSE_HEADERS, STATUS);
  if (s === null) return 0;
  const status = parseStatus(s);
  if (
    (status == 503 || status == 504) &&
    getHeader(MAP_CALL_RESPONSE_HEADERS, UPSTREAM_TIME) === null
  ) {
    return 0;
  }
  return status;
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
    vmGauges.define();
    const stats: TargetStats[] = [];
    for (let i = 0; i < cfg.targets.length; i++) {
      stats.push(new TargetStats(cfg.targets[i]));
    }
    // A config replacing this root's previous one: what it counted is shown first.
    this.flushStats();
    this.stats = stats;
    this.config = cfg;
    imports.proxy_set_tick_period_milliseconds(STATS_TICK_MS);
    return true;
  }

  onTick(): void {
    this.flushStats();
    collectSometimes();
  }

  flushStats(): void {
    const stats = this.stats;
    for (let i = 0; i < stats.length; i++) stats[i].flush();
    vmGauges.flush();
  }

  /** Sends the copy; counts the outcome; true when it is in flight. Never throws. */
  dispatch(
    m: Mirror,
    headers: ArrayBuffer,
    body: ArrayBuffer | null,
    trailers: ArrayBuffer | null,
  ): bool {
    const st = m.stats;
    const now = nowNs();
    if (overloaded(m.cfg, now)) {
      st.inc(Stat.SkipOverloaded);
      return false;
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
      st.inc(dispatchStatOf(r));
      noteDispatchFailure(t.cluster, r);
      return false;
    }
    m.startDark(now, t.timeoutMs);
    pending.set(callKey(this.context_id, load<u32>(OUT_U32)), m);
    st.inc(Stat.Copies);
    st.inflightAdd(1);
    return true;
  }

  onHttpCallResponse(
    token: u32,
    headers: u32,
    body_size: u32,
    trailers: u32,
  ): void {
    const key = callKey(this.context_id, token);
    if (!pending.has(key)) return;
    const m = pending.get(key);
    pending.delete(key);
    const st = m.stats;
    st.inflightAdd(-1);
    const status = headers > 0 ? darkStatus() : 0;
    st.inc(darkStatOf(status));
    st.record(Stat.DarkDuration, usBetween(m.darkStartNs, nowNs()));
    if (m.cfg.compareBody) {
      let body: ArrayBuffer | null = EMPTY;
      if (body_size > 0) body = getBuffer(BUFFER_CALL_RESPONSE_BODY, body_size);
      if (body !== null) {
        m.darkDigest = xxh64(changetype<usize>(body), body.byteLength, 0);
      }
    }
    m.darkEnded(status);
    collectSometimes();
  }

  onDone(): bool {
    // This root is retired (config replaced, VM shutting down): Envoy cancels
    // its calls without calling back, so their slots are freed here.
    const keys = pending.keys();
    for (let i = 0; i < keys.length; i++) {
      if (<u32>(keys[i] >> 32) != this.context_id) continue;
      const m = pending.get(keys[i]);
      pending.delete(keys[i]);
      m.stats.inflightAdd(-1);
      m.stats.inc(Stat.DarkReset);
      m.darkEnded(0);
    }
    this.flushStats();
    return true;
  }
}

const IDLE: u8 = 0;
const COPYING: u8 = 1;
const FINISHED: u8 = 2;

/** One live request. Holds the copy only between its headers and its end. */
export class MirrorStream extends Context {
  root: MirrorRoot;
  state: u8 = IDLE;
  mirror: Mirror | null = null;
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
    const pairs = getHeaderPairs(MAP_REQUEST_HEADERS);
    liveRequest.pairs = pairs;
    decideMirror(cfg, liveRequest, decision);
    liveRequest.pairs = EMPTY;
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
    const now = nowNs();
    if (overloaded(cfg, now)) {
      st.inc(Stat.SkipOverloaded);
      return FilterHeadersStatusValues.Continue;
    }
    // Mirrored: only now are the headers decoded into the copy.
    const live = parseHeaderMap(pairs);
    this.headers = serializeHeaderMap(shadowHeaders(cfg, st.target, live));
    this.mirror = new Mirror(st, cfg, now);
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
    const m = this.mirror!;
    const len = <u32>body_buffer_length;
    if (len > 0) {
      if (<u64>this.bodyBytes + <u64>len > <u64>m.cfg.maxBodyBytes) {
        m.stats.inc(Stat.SkipBodyTooLarge);
        this.abandon();
        return FilterDataStatusValues.Continue;
      }
      // Continue: Envoy hands each chunk once and keeps nothing for us.
      const chunk = getBuffer(BUFFER_REQUEST_BODY, len);
      if (chunk === null) {
        m.stats.inc(Stat.DispatchOther);
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
    collectSometimes();
    return FilterDataStatusValues.Continue;
  }

  onRequestTrailers(a: u32): FilterTrailersStatusValues {
    if (this.state == COPYING) {
      const pairs = getHeaderPairs(MAP_REQUEST_TRAILERS);
      this.finish(pairs.byteLength > 4 ? pairs : null);
    }
    return FilterTrailersStatusValues.Continue;
  }

  onResponseHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const m = this.mirror;
    if (m === null || m.liveDone) return FilterHeadersStatusValues.Continue;
    const s = getHeader(MAP_RESPONSE_HEADERS, STATUS);
    m.liveStatus = s !== null ? parseStatus(s) : 0;
    const now = nowNs();
    if (end_of_stream) m.liveEnded(now);
    return FilterHeadersStatusValues.Continue;
  }

  onResponseBody(
    body_buffer_length: usize,
    end_of_stream: bool,
  ): FilterDataStatusValues {
    const m = this.mirror;
    if (m === null || m.liveDone) return FilterDataStatusValues.Continue;
    const h = m.liveHash;
    if (h !== null && body_buffer_length > 0) {
      // Hashed as it passes: the live response is never held.
      const chunk = getBuffer(BUFFER_RESPONSE_BODY, <u32>body_buffer_length);
      if (chunk !== null) h.update(changetype<usize>(chunk), chunk.byteLength);
    }
    if (end_of_stream) m.liveEnded(nowNs());
    collectSometimes();
    return FilterDataStatusValues.Continue;
  }

  onResponseTrailers(a: u32): FilterTrailersStatusValues {
    const m = this.mirror;
    if (m !== null && !m.liveDone) m.liveEnded(nowNs());
    return FilterTrailersStatusValues.Continue;
  }

  onDone(): bool {
    if (this.state == COPYING) {
      // The live request ended before its end of stream: reset, not mirrored.
      this.mirror!.stats.inc(Stat.SkipLiveReset);
      this.abandon();
    }
    const m = this.mirror;
    if (m !== null) {
      m.liveVanished();
      this.mirror = null;
    }
    return true;
  }

  onDelete(): void {
    this.onDone();
    collectSometimes();
  }

  /** The live request has ended: dispatch the copy and drop its bytes. */
  finish(trailers: ArrayBuffer | null): void {
    const body = this.joinBody();
    const m = this.mirror!;
    const sent = this.root.dispatch(m, this.headers!, body, trailers);
    this.state = FINISHED;
    this.headers = null;
    this.chunks = null;
    this.bodyBytes = 0;
    if (!sent) this.mirror = null;
  }

  joinBody(): ArrayBuffer | null {
    const chunks = this.chunks;
    if (chunks === null || this.bodyBytes == 0) return null;
    if (chunks.length == 1) return chunks[0];
    const out = new ArrayBuffer(this.bodyBytes);
    bytesSinceCollect += <usize>this.bodyBytes;
    let at = changetype<usize>(out);
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i];
      memory.copy(at, changetype<usize>(c), c.byteLength);
      at += c.byteLength;
    }
    return out;
  }

  /** Not mirrored after all: drop everything. */
  abandon(): void {
    this.state = FINISHED;
    this.mirror = null;
    this.headers = null;
    this.chunks = null;
    this.bodyBytes = 0;
  }
}
