// The contexts: a root context per plugin configuration (the decision for each request, the
// dispatch of its copies, the dark answers, the counters' tick) and the state of a live stream
// that has copies. Each callback reads what it needs through the host room, asks the pure rooms,
// applies, and returns; the live request is never held.

import { giveSlot, reserve, release, slots, COPY_BYTES } from "./budget";
import { BodyDigest, digestBytesOf } from "./compare";
import { BodyCompare, Config, Target, parseConfig } from "./config";
import {
  DigestPool,
  EMPTY,
  LiveHeaders,
  LiveSide,
  Mirror,
  prefixOf,
  scanBody,
  readAnswer,
  readGrpcTrailer,
  usBetween,
} from "./copies";
import {
  BUFFER_CALL_RESPONSE_BODY,
  BUFFER_PLUGIN_CONFIGURATION,
  BUFFER_REQUEST_BODY,
  BUFFER_RESPONSE_BODY,
  LOG_ERROR,
  LOG_INFO,
  LOG_WARN,
  MAP_CALL_RESPONSE_HEADERS,
  MAP_CALL_RESPONSE_TRAILERS,
  MAP_REQUEST_HEADERS,
  MAP_REQUEST_TRAILERS,
  MAP_RESPONSE_HEADERS,
  MAP_RESPONSE_TRAILERS,
  RESULT_BAD_ARGUMENT,
  RESULT_INTERNAL_FAILURE,
  getBuffer,
  httpCall,
  lastCallToken,
  log,
  nowNs,
  property,
  removeHeader,
  resultName,
  setTickPeriod,
} from "./host";
import { IdTable } from "./ids";
import { Stat, darkStatOf } from "./metrics";
import { KeySpan, RequestDecision, Skip, clusterToTry } from "./policy";
import { collectSometimes, noteAllocated } from "./scratch";
import { hasNameLike, namesLike, shadowHeaders } from "./shadow";
import { TargetStats, vmGauges } from "./stats";
import { decimal } from "./text";

const OK: u32 = 0;
/** How often each root context hands its counters to the host. */
const STATS_TICK_MS: u32 = 500;
const LOG_INTERVAL_NS: u64 = 1_000_000_000;
/** Longest request id and path kept for a mismatch sample line. */
const SAMPLE_ID_BYTES: i32 = 128;
const SAMPLE_PATH_BYTES: i32 = 256;
const REQUEST_ID = String.UTF8.encode("x-request-id");
const METHOD = String.UTF8.encode(":method");

/** The request's header map (and trailers, in edge mode), read in one host call each. */
const liveRequest = new LiveHeaders();
const sampleSpan = new KeySpan();

/** The dispatch_failures reason of a proxy_http_call result. */
function dispatchStatOf(r: u32): Stat {
  if (r == RESULT_BAD_ARGUMENT) return Stat.DispatchUnknownCluster;
  if (r == RESULT_INTERNAL_FAILURE) return Stat.DispatchNoHealthyHost;
  return Stat.DispatchOther;
}

// Every root context alive, for the VM-wide slots: each keeps its calls in flight by token
// (Envoy numbers calls per root context, and old and new root contexts coexist while a config
// is replaced).
const rootsAlive: MirrorRoot[] = [];
/**
 * The root configured last: the only one that keeps idle JSON digests for reuse. A replaced
 * root lives on until Envoy deletes it (over LDS, when the old listener has drained: 600 s by
 * default), and a pool in each of them would hold memory the budget does not count.
 */
let newestRoot: MirrorRoot | null = null;
let lastFailureLogNs: u64 = 0;
let failuresSinceLog: u32 = 0;
/** Forgets calls whose answer is long overdue (a host that never called back). */
function forgetOverdue(now: u64): void {
  for (let r = 0; r < rootsAlive.length; r++) {
    const calls = unchecked(rootsAlive[r]).calls;
    for (let i = 0; calls.size > 0 && i < calls.capacity; i++) {
      const m = calls.valueAt(i);
      if (m !== null && now >= m.forgetAtNs) {
        calls.deleteAt(i--);
        m.cancel();
      }
    }
  }
}

/** A slot for one more copy, after forgetting overdue calls if need be. */
function slotFree(cfg: Config, now: u64): bool {
  if (slots < cfg.maxInflight) return true;
  forgetOverdue(now);
  return slots < cfg.maxInflight;
}

/** A failed dispatch to cluster `at` of `t` (every one of them when all are unknown). */
function noteDispatchFailure(t: Target, at: i32, r: u32): void {
  failuresSinceLog++;
  const now = nowNs();
  if (lastFailureLogNs != 0 && now - lastFailureLogNs < LOG_INTERVAL_NS) return;
  lastFailureLogNs = now;
  const all = r == RESULT_BAD_ARGUMENT && t.clusters.length > 1;
  log(
    LOG_WARN,
    "mirror: dispatch to " +
      (all
        ? "clusters '" + t.clusters.join("', '")
        : "cluster '" + t.clusters[at]) +
      "' failed: " +
      resultName(r) +
      " (" +
      decimal(failuresSinceLog) +
      " failure(s) since the last report)",
  );
  failuresSinceLog = 0;
}

// ---------------------------------------------------------------------------------------------
// Contexts.

/** The root id the filter registers (`root_id` in Envoy, `pluginName` in Istio). */
export const ROOT_ID = "mirror";
const PLUGIN_ROOT_ID = String.UTF8.encode("plugin_root_id");

/** The root id Envoy gives a new root context (its `root_id`), "" when it has none. */
function pluginRootId(): string {
  const id = property(PLUGIN_ROOT_ID);
  return id !== null ? id : "";
}

/**
 * A root context (one per plugin configuration): configuration, the decision for each request,
 * dispatch and dark responses. A root id other than "mirror" (a typo in `root_id` or Istio's
 * `pluginName`) gets a root that refuses its configuration, naming it, rather than a filter
 * that silently does nothing.
 */
export class MirrorRoot {
  id: u32;
  /** the root id Envoy named, when it is not ours */
  unknownRootId: string | null = null;
  config: Config | null = null;
  stats: TargetStats[] = [];
  decision: RequestDecision = new RequestDecision(0);
  /** JSON digests not in use, for this config's comparisons */
  pool: DigestPool = new DigestPool();
  /** this root's calls in flight, by token */
  calls: IdTable<Mirror | null> = new IdTable<Mirror | null>();

  constructor(id: u32) {
    this.id = id;
    rootsAlive.push(this);
    const rootId = pluginRootId();
    if (rootId != ROOT_ID) this.unknownRootId = rootId;
  }

  onConfigure(configurationSize: u32): bool {
    const unknown = this.unknownRootId;
    if (unknown !== null) {
      log(
        LOG_ERROR,
        "invalid plugin config: root id '" +
          unknown +
          "': no root context is registered under it (registered: " +
          ROOT_ID +
          ")",
      );
      return false;
    }
    let text = "";
    if (configurationSize > 0) {
      const buf = getBuffer(BUFFER_PLUGIN_CONFIGURATION, configurationSize);
      if (buf !== null) text = String.UTF8.decode(buf);
    }
    const res = parseConfig(text);
    const cfg = res.config;
    if (cfg === null) {
      // Refused: the previous configuration (if any) keeps serving.
      for (let i = 0; i < res.errors.length; i++) {
        log(LOG_ERROR, "invalid plugin config: " + res.errors[i]);
      }
      return false;
    }
    for (let i = 0; i < res.warnings.length; i++) {
      log(LOG_WARN, "plugin config: " + res.warnings[i]);
    }
    cfg.digestBytes = digestBytesOf(cfg);
    vmGauges.define();
    const stats: TargetStats[] = [];
    for (let i = 0; i < cfg.targets.length; i++) {
      stats.push(new TargetStats(cfg.targets[i], cfg));
    }
    // A config replacing this root's previous one: what it counted is shown first.
    this.flushStats();
    const old = this.stats;
    for (let i = 0; i < old.length; i++) old[i].retire();
    this.stats = stats;
    this.config = cfg;
    this.decision = new RequestDecision(cfg.saltPrefixes.length);
    this.pool.keepFor(cfg);
    const previous = newestRoot;
    if (previous !== null && previous !== this) previous.pool.stop();
    newestRoot = this;
    setTickPeriod(STATS_TICK_MS);
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

  /**
   * Sends one copy; counts the outcome; true when it is in flight. Never throws. The target's
   * cluster names are tried in turn while Envoy refuses them as unknown (BadArgument), starting
   * with the one it last accepted.
   */
  dispatch(m: Mirror, headers: ArrayBuffer, body: ArrayBuffer, now: u64): bool {
    const st = m.stats;
    const t = st.target;
    const names = t.clusterNames;
    let r = RESULT_BAD_ARGUMENT;
    let at = t.clusterInUse;
    for (let k = 0; k < names.length && r == RESULT_BAD_ARGUMENT; k++) {
      at = clusterToTry(t.clusterInUse, k);
      r = httpCall(names[at], headers, body, t.timeoutMs);
    }
    if (r != RESULT_BAD_ARGUMENT && at != t.clusterInUse) {
      log(
        LOG_INFO,
        "mirror: target " +
          t.label +
          ": cluster '" +
          t.clusters[t.clusterInUse] +
          "' is unknown to Envoy, dispatching to '" +
          t.clusters[at] +
          "'",
      );
      t.clusterInUse = at;
    }
    if (r != OK) {
      st.inc(dispatchStatOf(r));
      noteDispatchFailure(t, at, r);
      // Envoy sent nothing: the copy does not count against max_rps.
      const rate = st.rate;
      if (rate !== null) rate.refund();
      m.finish();
      return false;
    }
    m.startDark(now, t.timeoutMs);
    this.calls.set(lastCallToken(), m);
    st.inc(Stat.Copies);
    return true;
  }

  onHttpCallResponse(
    token: u32,
    headers: u32,
    bodySize: u32,
    trailers: u32,
  ): void {
    const m = this.calls.get(token);
    if (m === null) return;
    this.calls.delete(token);
    const st = m.stats;
    const cfg = m.cfg;
    const dark = m.dark;
    dark.reset(cfg.compareHeaders.length);
    if (
      headers > 0 &&
      readAnswer(MAP_CALL_RESPONSE_HEADERS, dark, cfg, true) &&
      trailers > 0
    ) {
      readGrpcTrailer(MAP_CALL_RESPONSE_TRAILERS, dark);
    }
    st.inc(darkStatOf(dark.cls()));
    if (dark.status != 0) {
      // Only an answer has a latency: a reset, a timeout or a refused copy has none.
      const now = nowNs();
      m.darkEndNs = now;
      st.record(Stat.DarkDuration, usBetween(m.darkStartNs, now));
    }
    m.darkBytes = <u64>bodySize;
    if (cfg.compareBody != BodyCompare.Off && !m.live.gone) {
      const json =
        cfg.compareBody == BodyCompare.Json ? this.pool.take(cfg) : null;
      m.darkJson = json;
      const digest = new BodyDigest(cfg, json);
      if (bodySize > 0) scanBody(BUFFER_CALL_RESPONSE_BODY, bodySize, digest);
      digest.finishInto(dark);
    }
    m.darkEnded();
    collectSometimes();
  }

  /** Envoy deleted this root (after onDone): it holds no call any more. */
  onDelete(): void {
    const i = rootsAlive.indexOf(this);
    if (i >= 0) rootsAlive.splice(i, 1);
    if (newestRoot === this) newestRoot = null;
  }

  onDone(): void {
    // This root is retired (config replaced, VM shutting down): Envoy cancels
    // its calls without calling back, so their slots are freed here.
    const calls = this.calls;
    for (let i = 0; calls.size > 0 && i < calls.capacity; i++) {
      const m = calls.valueAt(i);
      if (m !== null) {
        calls.deleteAt(i--);
        m.cancel();
      }
    }
    this.flushStats();
    const stats = this.stats;
    for (let i = 0; i < stats.length; i++) stats[i].retire();
  }

  /**
   * A request's headers: the decision for every target (each counts a copy or why not). A
   * request with copies gets a stream (returned, to be kept for its later callbacks); one
   * without costs no object.
   */
  requestHeaders(id: u32, endOfStream: bool): MirrorStream | null {
    const cfg = this.config;
    if (cfg === null) return null;
    const req = liveRequest;
    req.read(MAP_REQUEST_HEADERS);
    const d = this.decision;
    d.begin(cfg, req);
    if (d.stripMarker) {
      // Edge mode: no client may pose as shadow traffic to the live service,
      // in any spelling Envoy passes ("-" and "_" alike).
      removeLike(MAP_REQUEST_HEADERS, req, cfg.markerHeaderBytes);
    }
    // Every target is considered: each gets a copy or counts why not.
    const stats = this.stats;
    let chosen: Mirror[] | null = null;
    let live: LiveSide | null = null;
    let now: u64 = 0;
    for (let i = 0; i < stats.length; i++) {
      const st = stats[i];
      const skip = d.decide(cfg, st.target, req);
      if (skip != Skip.None) {
        st.inc(skipStatOf(skip));
        continue;
      }
      if (now == 0) now = nowNs();
      const rate = st.rate;
      if (rate !== null && !rate.peek(now)) {
        st.inc(Stat.SkipRateLimited);
        continue;
      }
      if (!slotFree(cfg, now)) {
        st.inc(Stat.SkipOverloaded);
        continue;
      }
      if (!reserve(cfg, COPY_BYTES + <u64>cfg.digestBytes)) {
        st.inc(Stat.SkipOverBudget);
        continue;
      }
      if (rate !== null) rate.take(now);
      if (live === null) live = new LiveSide(this.pool, cfg, now);
      if (chosen === null) chosen = [];
      const m = new Mirror(this.pool, st, cfg, live);
      if (st.target.baseline) live.baseline = m;
      chosen.push(m);
    }
    if (chosen === null) {
      // Nothing was allocated unless the map was too large for the scratch area or a marker
      // was stripped: only then is there garbage to count.
      if (req.owned !== null || d.stripMarker) collectSometimes();
      req.drop();
      return null;
    }
    const stream = new MirrorStream(id, this);
    // Held once, whatever the number of copies: the request's headers until its end, and
    // the live response's JSON digest until every copy is judged.
    const shared = <u64>req.size;
    const digest = <u64>cfg.digestBytes;
    if (!reserve(cfg, shared + digest)) {
      req.drop();
      stream.abandonAll(chosen, Stat.SkipOverBudget);
      return null;
    }
    live!.held = digest;
    stream.cfg = cfg;
    stream.mirrors = chosen;
    stream.live = live;
    stream.pairs = req.keep();
    stream.held = shared;
    stream.assembling = true;
    if (cfg.samplesPerSecond > 0) stream.keepSampleFields(cfg, live!, req);
    req.drop();
    if (endOfStream) stream.finish(now);
    return stream;
  }

  /** A request's trailers (`stream`: its state, if it has copies). */
  requestTrailers(stream: MirrorStream | null): void {
    const cfg = this.config;
    if (cfg !== null && cfg.markerStrip) {
      // A marker sent as a trailer never reaches live either.
      const trailers = liveRequest;
      trailers.read(MAP_REQUEST_TRAILERS);
      removeLike(MAP_REQUEST_TRAILERS, trailers, cfg.markerHeaderBytes);
      trailers.drop();
      if (stream === null) collectSometimes();
    }
    // Envoy's async client sends no request trailers: the copy is complete now.
    if (stream !== null && stream.assembling) stream.finish();
  }
}

/**
 * One live request with copies: created by its root when the decision chose a target, kept by
 * the entry points (index.ts) until the stream is deleted. Holds the copy only between its
 * headers and its end.
 */
export class MirrorStream {
  id: u32;
  root: MirrorRoot;
  cfg: Config | null = null;
  /** the copies of this request (one per chosen target) */
  mirrors: Mirror[] | null = null;
  live: LiveSide | null = null;
  /** while the request is assembled: its headers and body, counted in the budget */
  assembling: bool = false;
  pairs: ArrayBuffer = EMPTY;
  chunks: ArrayBuffer[] | null = null;
  bodyBytes: u32 = 0;
  held: u64 = 0;
  /** some copy was dispatched: its live side is awaited */
  comparing: bool = false;

  constructor(id: u32, root: MirrorRoot) {
    this.id = id;
    this.root = root;
  }

  onRequestBody(bodyLength: usize, endOfStream: bool): void {
    if (!this.assembling) return;
    const cfg = this.cfg!;
    const len = <u32>bodyLength;
    if (len > 0) {
      if (<u64>this.bodyBytes + <u64>len > <u64>cfg.maxBodyBytes) {
        this.abandonAll(this.mirrors!, Stat.SkipBodyTooLarge);
        return;
      }
      if (!reserve(cfg, <u64>len)) {
        this.abandonAll(this.mirrors!, Stat.SkipOverBudget);
        return;
      }
      this.held += <u64>len;
      // Continue: Envoy hands each chunk once and keeps nothing for us.
      const chunk = getBuffer(BUFFER_REQUEST_BODY, len);
      if (chunk === null) {
        this.abandonAll(this.mirrors!, Stat.DispatchOther);
        return;
      }
      let chunks = this.chunks;
      if (chunks === null) {
        chunks = [];
        this.chunks = chunks;
      }
      chunks.push(chunk);
      this.bodyBytes += <u32>chunk.byteLength;
    }
    if (endOfStream) this.finish();
    collectSometimes();
  }

  onResponseHeaders(endOfStream: bool): void {
    // Read from the request's headers on, copies sent or not yet: a response may start (and even
    // end) before the request has (a streamed upload, a gRPC client stream).
    const live = this.live;
    if (live === null || live.done) return;
    const cfg = live.cfg;
    live.early = this.assembling;
    live.grpcPending = readAnswer(MAP_RESPONSE_HEADERS, live.side, cfg, false);
    if (cfg.compareBody != BodyCompare.Off) {
      const json =
        cfg.compareBody == BodyCompare.Json ? this.root.pool.take(cfg) : null;
      live.body = new BodyDigest(cfg, json);
    }
    if (endOfStream) this.liveEnded();
  }

  onResponseBody(bodyLength: usize, endOfStream: bool): void {
    const live = this.live;
    if (live === null || live.done) return;
    live.bytes += <u64>bodyLength;
    const b = live.body;
    if (b !== null && bodyLength > 0 && !b.done()) {
      // Hashed as it passes: the live response is never held.
      scanBody(BUFFER_RESPONSE_BODY, <u32>bodyLength, b);
    }
    if (endOfStream) this.liveEnded();
    collectSometimes();
  }

  onResponseTrailers(): void {
    const live = this.live;
    if (live === null || live.done) return;
    if (live.grpcPending) {
      live.grpcPending = false;
      readGrpcTrailer(MAP_RESPONSE_TRAILERS, live.side);
    }
    this.liveEnded();
  }

  onDone(): void {
    if (this.assembling) {
      // The live request ended before its end of stream: reset, not mirrored.
      this.abandonAll(this.mirrors!, Stat.SkipLiveReset);
    }
    const live = this.live;
    if (live !== null && this.comparing && !live.done && !live.gone) {
      // The live response never completed: each dispatched copy's target counts it.
      const mirrors = this.mirrors!;
      for (let i = 0; i < mirrors.length; i++) {
        if (mirrors[i].dispatched) mirrors[i].stats.inc(Stat.LiveReset);
      }
      live.vanished();
    }
    this.live = null;
    this.mirrors = null;
  }

  onDelete(): void {
    this.onDone();
    collectSometimes();
  }

  /**
   * The live response ended: each dispatched copy's target counts its duration, from the
   * request's end (when the copies were dispatched) as for the dark side.
   */
  liveEnded(): void {
    const live = this.live!;
    const now = nowNs();
    live.endNs = now;
    const mirrors = this.mirrors!;
    for (let i = 0; i < mirrors.length; i++) {
      const m = mirrors[i];
      if (m.dispatched && live.side.status != 0) {
        m.stats.record(Stat.LiveDuration, usBetween(live.dispatchNs, now));
      }
    }
    live.ended();
  }

  /**
   * The request has ended: dispatch one copy per chosen target and drop its bytes. `now` is the
   * time already read in this callback, if any (0: read it).
   */
  finish(now: u64 = 0): void {
    const root = this.root;
    const cfg = this.cfg!;
    const mirrors = this.mirrors!;
    const body = this.joinBody();
    const pairs = this.pairs;
    if (now == 0) now = nowNs();
    let sent = 0;
    for (let i = 0; i < mirrors.length; i++) {
      const m = mirrors[i];
      const headers = shadowHeaders(
        cfg,
        m.stats.target,
        changetype<usize>(pairs),
        pairs.byteLength,
      );
      if (root.dispatch(m, headers, body, now)) sent++;
    }
    this.dropRequest();
    this.comparing = sent > 0;
    this.live!.assembling = false;
    this.live!.dispatchNs = now;
    if (!this.comparing) {
      // No copy left (every dispatch failed): nothing will judge against the live side,
      // so its digest's bytes go back to the budget now.
      this.live!.drop();
      this.live = null;
      this.mirrors = null;
    }
  }

  /** The request id, method and path a mismatch sample line names (bounded). */
  keepSampleFields(cfg: Config, live: LiveSide, req: LiveHeaders): void {
    const v = sampleSpan;
    live.requestId = req.find(REQUEST_ID, v)
      ? prefixOf(v, SAMPLE_ID_BYTES)
      : EMPTY;
    live.method = req.find(METHOD, v) ? prefixOf(v, 32) : EMPTY;
    const path = this.root.decision.path;
    v.ptr = path.ptr;
    v.len = cfg.sampleQuery ? path.len : pathLength(path);
    live.path = prefixOf(v, SAMPLE_PATH_BYTES);
  }

  joinBody(): ArrayBuffer {
    const chunks = this.chunks;
    if (chunks === null || this.bodyBytes == 0) return EMPTY;
    if (chunks.length == 1) return chunks[0];
    const out = new ArrayBuffer(this.bodyBytes);
    noteAllocated(<usize>this.bodyBytes);
    let at = changetype<usize>(out);
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i];
      memory.copy(at, changetype<usize>(c), c.byteLength);
      at += c.byteLength;
    }
    return out;
  }

  /** The request is no longer assembled: its headers and body go, and their bytes back. */
  dropRequest(): void {
    this.assembling = false;
    this.pairs = EMPTY;
    this.chunks = null;
    this.bodyBytes = 0;
    release(this.held);
    this.held = 0;
  }

  /** None of this request's copies goes out: each counts `why` on its target. */
  abandonAll(mirrors: Mirror[], why: Stat): void {
    for (let i = 0; i < mirrors.length; i++) {
      const m = mirrors[i];
      if (m.finished) continue;
      m.stats.inc(why);
      // A rate token taken for a copy that never left is given back.
      const rate = m.stats.rate;
      if (rate !== null) rate.refund();
      m.finish();
    }
    const live = this.live;
    if (live !== null) live.drop();
    this.dropRequest();
    this.mirrors = null;
    this.live = null;
    this.comparing = false;
  }
}

/** The counter of a skip reason. */
function skipStatOf(skip: Skip): Stat {
  switch (skip) {
    case Skip.NotMatched:
      return Stat.SkipNotMatched;
    case Skip.Loop:
      return Stat.SkipLoop;
    case Skip.Method:
      return Stat.SkipMethod;
    case Skip.NoKey:
      return Stat.SkipNoKey;
    default:
      return Stat.SkipSampledOut;
  }
}

/** Removes every header of `map` (read into `view`) named like `name` ("-" and "_" alike). */
function removeLike(map: u32, view: LiveHeaders, name: ArrayBuffer): void {
  if (!hasNameLike(view.ptr, view.size, name)) return;
  const names = namesLike(view.ptr, view.size, name);
  for (let i = 0; i < names.length; i++) {
    const n = names[i];
    removeHeader(map, n);
  }
}

/** Bytes of the path before its query (or fragment). */
function pathLength(path: KeySpan): i32 {
  const n = path.len;
  for (let i = 0; i < n; i++) {
    const c = load<u8>(path.ptr + <usize>i);
    if (c == 0x3f || c == 0x23) return i;
  }
  return n;
}
