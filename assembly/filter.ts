// Root and stream contexts: the only room that calls the host. Each callback
// reads what it needs, asks the pure rooms, applies, and returns Continue.
// Host results are checked and handled here, never thrown (a trap fails the VM).
//
// Memory (README, "Memory"): every byte held for a copy in progress (the live
// request's headers and body while it is assembled, the bookkeeping of each copy
// and comparison) is counted against the VM-wide budget max_buffered_bytes; a
// copy that would exceed it is abandoned (skipped: over_budget). Bodies that are
// only scanned (hashed) are read slice by slice into one static scratch area.

import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import { Side, Verdict, judge, verdictName } from "./compare";
import { BodyCompare, Config, Target, parseConfig } from "./config";
import { IdTable } from "./ids";
import { JsonDigest, JsonState, firstDifference } from "./jsondigest";
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
import {
  KeySpan,
  RequestDecision,
  RequestView,
  Skip,
  clusterToTry,
} from "./policy";
import { Xxh64Stream, xxh64 } from "./sampler";
import {
  SCRATCH_PTR,
  SCRATCH_SIZE,
  armScratch,
  disarmScratch,
} from "./scratch";
import { findHeaderAt, hasNameLike, namesLike, shadowHeaders } from "./shadow";
import { decimal } from "./text";
import { TokenBucket } from "./tokens";

// proxy-wasm enum values used here.
const OK: u32 = 0;
const LOG_INFO: u32 = 2;
const LOG_WARN: u32 = 3;
const LOG_ERROR: u32 = 4;
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
/** …or bytes read from the host or allocated for copies, whichever comes first. */
const COLLECT_AFTER_BYTES: usize = 4 << 20;
/** Bytes per read of a body that is only scanned (hashed): one scratch area's worth. */
const SLICE: u32 = <u32>SCRATCH_SIZE;
/** Budget counted per copy for its bookkeeping (the Mirror and its share of the stream). */
const COPY_BYTES: u64 = 512;
/** Longest request id and path kept for a mismatch sample line. */
const SAMPLE_ID_BYTES: i32 = 128;
const SAMPLE_PATH_BYTES: i32 = 256;

// Out-parameters for host calls: a static area, no allocation per call.
const OUT_PTR: usize = memory.data(8);
const OUT_SIZE: usize = OUT_PTR + 4;
const OUT_U64: usize = memory.data(8);
const OUT_U32: usize = memory.data(4);

const EMPTY = new ArrayBuffer(0);
const STATUS = String.UTF8.encode(":status");
const UPSTREAM_TIME = String.UTF8.encode("x-envoy-upstream-service-time");
const REQUEST_ID = String.UTF8.encode("x-request-id");
const METHOD = String.UTF8.encode(":method");

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "proc_exit")
declare function proc_exit(code: u32): void;

/**
 * AssemblyScript's abort (asconfig.json: `use abort=abort_proc_exit`), reached only by a bug:
 * the message and where it was raised go to Envoy's log at level critical, then the VM exits
 * (Envoy fails it, and the failure policy applies).
 */
// @ts-ignore: decorator
@global
export function abort_proc_exit(
  message: string | null,
  fileName: string | null,
  line: u32,
  column: u32,
): void {
  let text = message !== null ? message : "";
  if (fileName !== null) {
    text +=
      " at: " + fileName + "(" + decimal(line) + ":" + decimal(column) + ")";
  }
  log(5, text); // critical (a literal: this runs before any global is initialized)
  proc_exit(255);
}

/** A log line at `level` (the host drops it below its own level). */
function log(level: u32, message: string): void {
  const bytes = String.UTF8.encode(message);
  imports.proxy_log(level, changetype<usize>(bytes), bytes.byteLength);
}

/** A buffer the host malloc'ed (pinned by `malloc`) is now the GC's like any other object. */
function free(ptr: usize): void {
  __unpin(ptr);
}

/** Takes ownership of the buffer the host malloc'ed for the last call. */
function takeOut(): ArrayBuffer {
  const ptr = load<usize>(OUT_PTR);
  const size = load<usize>(OUT_SIZE);
  clearOut();
  if (ptr == 0 || ptr == SCRATCH_PTR) return EMPTY;
  const buf = changetype<ArrayBuffer>(ptr);
  free(ptr); // unpinned: now owned by the GC like any other object
  bytesSinceCollect += <usize>buf.byteLength;
  return size == 0 ? EMPTY : buf;
}

function clearOut(): void {
  store<usize>(OUT_PTR, 0);
  store<usize>(OUT_SIZE, 0);
}

// What the last read into the scratch area returned: `readLen` bytes at `readPtr` (the scratch
// area, or a buffer too large for it, which `readOwner` keeps alive), valid until the next read.
let readPtr: usize = 0;
let readLen: u32 = 0;
let readOwner: ArrayBuffer | null = null;

/**
 * Finishes a host call made with the scratch area armed: where its answer lies, into readPtr
 * and readLen (nothing allocated when it fitted); whether the call succeeded.
 */
function readDone(r: u32): bool {
  disarmScratch();
  const ptr = load<usize>(OUT_PTR);
  const size = <u32>load<usize>(OUT_SIZE);
  clearOut();
  readOwner = null;
  if (ptr != 0 && ptr != SCRATCH_PTR) {
    const buf = changetype<ArrayBuffer>(ptr);
    free(ptr); // unpinned: now owned by the GC like any other object
    bytesSinceCollect += <usize>buf.byteLength;
    readOwner = buf;
  }
  const ok = r == OK;
  readPtr = ok ? ptr : 0;
  readLen = ok && ptr != 0 ? size : 0;
  return ok;
}

/** Reads the value of header `name` of map `map` (a value only scanned); false when absent. */
function readHeader(map: u32, name: ArrayBuffer): bool {
  clearOut();
  armScratch();
  return readDone(
    imports.proxy_get_header_map_value(
      map,
      changetype<usize>(name),
      name.byteLength,
      OUT_PTR,
      OUT_SIZE,
    ),
  );
}

function getBuffer(kind: u32, length: u32): ArrayBuffer | null {
  clearOut();
  const r = imports.proxy_get_buffer_bytes(kind, 0, length, OUT_PTR, OUT_SIZE);
  const buf = takeOut();
  return r == OK ? buf : null;
}

/**
 * Feeds `total` bytes of a host buffer to `sink`, slice by slice through the scratch area:
 * nothing is allocated and nothing is kept. False when the host could not hand a slice.
 */
function scanBuffer(kind: u32, total: u32, sink: BodyDigest): bool {
  let at: u32 = 0;
  while (at < total && !sink.done()) {
    const len = min(SLICE, total - at);
    clearOut();
    armScratch();
    const r = imports.proxy_get_buffer_bytes(kind, at, len, OUT_PTR, OUT_SIZE);
    disarmScratch();
    const ptr = load<usize>(OUT_PTR);
    const size = <u32>load<usize>(OUT_SIZE);
    clearOut();
    if (ptr != 0 && ptr != SCRATCH_PTR) free(ptr); // not ours to keep
    if (r != OK || ptr == 0 || size == 0) return false;
    sink.update(ptr, min(size, len));
    at += size;
  }
  return true;
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
  return "result " + decimal(r);
}

/**
 * A header map read from the host in one call (proxy_get_header_map_pairs) and searched here: in
 * Envoy 1.40 one map read measured cheaper than the three or four single-header reads a decision
 * needs (bench/RESULTS.md). The bytes land in the scratch area when they fit (nothing allocated:
 * a request that is not mirrored leaves no garbage), so they are valid until the next read;
 * a mirrored request copies them (`keep`) for its copy.
 */
class LiveHeaders extends RequestView {
  ptr: usize = 0;
  size: u32 = 0;
  /** the host's buffer when the map did not fit in the scratch area */
  owned: ArrayBuffer | null = null;

  /** Reads header map `map`; an unreadable map reads as empty. */
  read(map: u32): void {
    clearOut();
    armScratch();
    readDone(imports.proxy_get_header_map_pairs(map, OUT_PTR, OUT_SIZE));
    this.ptr = readPtr;
    this.size = readLen;
    this.owned = readOwner;
    readOwner = null;
  }

  /** A copy of the map's bytes, to keep past this callback. */
  keep(): ArrayBuffer {
    const owned = this.owned;
    if (owned !== null && <u32>owned.byteLength == this.size) return owned;
    const buf = new ArrayBuffer(this.size);
    memory.copy(changetype<usize>(buf), this.ptr, this.size);
    bytesSinceCollect += <usize>this.size;
    return buf;
  }

  /** Forgets the map (its bytes may be reused by the next read). */
  drop(): void {
    this.ptr = 0;
    this.size = 0;
    this.owned = null;
  }

  header(name: ArrayBuffer): ArrayBuffer | null {
    const at = findHeaderAt(this.ptr, this.size, name);
    if (at < 0) return null;
    const len = <i32>(at & 0xffffffff);
    const buf = new ArrayBuffer(len);
    memory.copy(changetype<usize>(buf), this.ptr + <usize>(at >> 32), len);
    return buf;
  }

  find(name: ArrayBuffer, out: KeySpan): bool {
    const at = findHeaderAt(this.ptr, this.size, name);
    if (at < 0) return false;
    out.ptr = this.ptr + <usize>(at >> 32);
    out.len = <i32>(at & 0xffffffff);
    out.owner = null;
    return true;
  }

  headerLike(name: ArrayBuffer): bool {
    return hasNameLike(this.ptr, this.size, name);
  }
}

const liveRequest = new LiveHeaders();

// ---------------------------------------------------------------------------------------------
// Metrics.

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
  /** max_rps, when set */
  rate: TokenBucket | null = null;
  /** mismatch sample lines */
  samples: TokenBucket | null = null;

  constructor(target: Target, cfg: Config) {
    this.target = target;
    for (let i = 0; i < Stat.Count; i++) {
      const id = defineMetric(statKind(i), metricName(target.statName, i));
      if (id == U32.MAX_VALUE) this.ok = false;
      this.ids[i] = id;
    }
    if (target.maxRps > 0) this.rate = new TokenBucket(target.maxRps);
    if (cfg.samplesPerSecond > 0) {
      this.samples = new TokenBucket(cfg.samplesPerSecond);
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

// ---------------------------------------------------------------------------------------------
// The VM-wide limits: copies in progress (max_inflight) and bytes held (max_buffered_bytes).

/** Copies in progress in this VM: assembling, awaiting the dark answer, or awaiting live. */
let slots: u32 = 0;
/** Bytes held for copies in progress in this VM. */
let bufferedBytes: u64 = 0;

/** Counts `n` bytes against the budget if they fit in it. */
function reserve(cfg: Config, n: u64): bool {
  if (bufferedBytes + n > <u64>cfg.maxBufferedBytes) return false;
  bufferedBytes += n;
  return true;
}

function release(n: u64): void {
  bufferedBytes = n < bufferedBytes ? bufferedBytes - n : 0;
}

// ---------------------------------------------------------------------------------------------
// Comparison state.

/** A body being digested as it passes, up to compare.max_body_bytes. */
class BodyDigest {
  mode: BodyCompare;
  max: u64;
  bytes: u64 = 0;
  tooLarge: bool = false;
  hash: Xxh64Stream | null = null;
  json: JsonDigest | null = null;

  constructor(cfg: Config, json: JsonDigest | null) {
    this.mode = cfg.compareBody;
    this.max = <u64>cfg.compareMaxBodyBytes;
    if (this.mode == BodyCompare.Exact) this.hash = new Xxh64Stream();
    this.json = json;
  }

  /** Nothing more to learn from further bytes. */
  done(): bool {
    if (this.tooLarge) return true;
    const j = this.json;
    return (
      j !== null &&
      (j.state == JsonState.Invalid || j.state == JsonState.TooDeep)
    );
  }

  update(ptr: usize, len: u32): void {
    if (this.tooLarge) return;
    this.bytes += <u64>len;
    if (this.bytes > this.max) {
      this.tooLarge = true;
      return;
    }
    const h = this.hash;
    if (h !== null) h.update(ptr, len);
    const j = this.json;
    if (j !== null) j.update(ptr, len);
  }

  /** Writes what the comparison needs into `side` (at the end of the body). */
  finishInto(side: Side): void {
    side.tooLarge = this.tooLarge;
    const h = this.hash;
    if (h !== null) side.exact = h.digest();
    const j = this.json;
    if (j !== null) {
      j.finish();
      side.json = j.state;
      side.digest = j.digest;
      side.exact = j.exact;
    }
  }
}

/** compare.headers of a response: 0 when absent, a hash of the value (never 0) when present. */
function readCompareHeaders(
  cfg: Config,
  map: u32,
  out: StaticArray<u64>,
): void {
  const names = cfg.compareHeaderBytes;
  for (let i = 0; i < names.length; i++) {
    unchecked(
      (out[i] = readHeader(map, names[i]) ? xxh64(readPtr, readLen, 0) | 1 : 0),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// One live request and its copies.

/**
 * The live side of one mirrored request, shared by its copies (one per chosen target): its
 * response (status, headers, body digest), what a mismatch sample line names, and the copies
 * whose dark answer came first and now wait for it.
 */
class LiveSide {
  root: MirrorRoot;
  cfg: Config;
  startNs: u64;
  side: Side = new Side();
  body: BodyDigest | null = null;
  /** bytes of the live response body (counted whether or not bodies are compared) */
  bytes: u64 = 0;
  done: bool = false;
  gone: bool = false;
  /** the request is still being assembled: its copies are not dispatched yet */
  assembling: bool = true;
  /** dispatched copies whose dark side is not known yet */
  pendingCopies: i32 = 0;
  /** copies whose dark side is known, awaiting this live response */
  waiting: Mirror[] | null = null;
  /** for mismatch samples */
  requestId: ArrayBuffer = EMPTY;
  method: ArrayBuffer = EMPTY;
  path: ArrayBuffer = EMPTY;
  /** bytes counted in the budget for this live side (its JSON digest) */
  held: u64 = 0;

  constructor(root: MirrorRoot, cfg: Config, startNs: u64) {
    this.root = root;
    this.cfg = cfg;
    this.startNs = startNs;
    this.side.reset(cfg.compareHeaders.length);
  }

  /** The live response ended: judge every copy whose dark answer is already in. */
  ended(): void {
    const b = this.body;
    if (b !== null) b.finishInto(this.side);
    this.done = true;
    const w = this.waiting;
    this.waiting = null;
    if (w !== null) for (let i = 0; i < w.length; i++) w[i].judgeAndFinish();
    // Copies still awaiting their dark answer (or their dispatch) judge against this digest later.
    if (this.pendingCopies == 0 && !this.assembling) this.drop();
  }

  /** The live stream went away before its response ended. */
  vanished(): void {
    this.gone = true;
    const w = this.waiting;
    this.waiting = null;
    if (w !== null)
      for (let i = 0; i < w.length; i++) {
        w[i].stats.inc(Stat.NotComparedIncomplete);
        w[i].finish();
      }
    this.drop();
  }

  /** Gives the live digest back to the pool and its bytes back to the budget. */
  drop(): void {
    const b = this.body;
    if (b !== null) {
      const j = b.json;
      if (j !== null) this.root.giveDigest(j);
      b.json = null;
    }
    release(this.held);
    this.held = 0;
  }
}

/**
 * One copy, from its decision to its verdict. It holds a slot (max_inflight) and COPY_BYTES
 * (and, comparing JSON, a digest's bytes) of the budget from the start of the live request
 * until its dark side is known and the live side is judged, or gone.
 */
class Mirror {
  root: MirrorRoot;
  stats: TargetStats;
  cfg: Config;
  live: LiveSide;
  dispatched: bool = false;
  darkStartNs: u64 = 0;
  forgetAtNs: u64 = 0;
  dark: Side = new Side();
  darkDone: bool = false;
  darkBytes: u64 = 0;
  /** compare.body "json": the dark body's digest (for firstDifference), from the root's pool */
  darkJson: JsonDigest | null = null;
  /** the dark answer will never come: the root was retired, or the host never called back */
  cancelled: bool = false;
  finished: bool = false;

  constructor(
    root: MirrorRoot,
    stats: TargetStats,
    cfg: Config,
    live: LiveSide,
  ) {
    this.root = root;
    this.stats = stats;
    this.cfg = cfg;
    this.live = live;
    slots++;
    stats.inflightAdd(1);
  }

  startDark(now: u64, timeoutMs: u32): void {
    this.dispatched = true;
    this.darkStartNs = now;
    this.forgetAtNs = now + <u64>timeoutMs * NS_PER_MS + FORGET_AFTER_NS;
    this.live.pendingCopies++;
  }

  /** The dark side is known (answer, reset, timeout or forgotten). */
  darkEnded(): void {
    this.darkDone = true;
    const live = this.live;
    live.pendingCopies--;
    if (live.done) {
      this.judgeAndFinish();
      if (live.pendingCopies == 0) live.drop();
    } else if (live.gone) {
      this.stats.inc(Stat.NotComparedIncomplete);
      this.finish();
    } else {
      // The live response is still on its way: it judges this copy when it ends.
      let w = live.waiting;
      if (w === null) live.waiting = w = [];
      w.push(this);
    }
  }

  /** The dark answer will never come (counted as a dark reset): nothing to compare with. */
  cancel(): void {
    this.cancelled = true;
    this.stats.inc(Stat.DarkReset);
    this.darkEnded();
  }

  /** Both sides known: count the live side and the verdict on this copy's target. */
  judgeAndFinish(): void {
    const live = this.live;
    const st = this.stats;
    st.inc(liveStatOf(live.side.status));
    if (this.cancelled) {
      st.inc(Stat.NotComparedIncomplete);
      this.finish();
      return;
    }
    const v = judge(this.cfg, live.side, this.dark);
    switch (v) {
      case Verdict.Ignored:
        st.inc(Stat.NotComparedIgnored);
        break;
      case Verdict.Match:
        st.inc(Stat.CompareMatch);
        break;
      case Verdict.StatusMismatch:
        st.inc(Stat.CompareStatusMismatch);
        break;
      case Verdict.HeaderMismatch:
        st.inc(Stat.CompareHeaderMismatch);
        break;
      case Verdict.BodyMismatch:
        st.inc(Stat.CompareBodyMismatch);
        break;
      case Verdict.JsonInvalid:
        st.inc(Stat.CompareJsonInvalid);
        break;
      case Verdict.TooLarge:
        st.inc(Stat.NotComparedTooLarge);
        break;
      default:
        st.inc(Stat.NotComparedTooDeep);
    }
    if (
      v == Verdict.StatusMismatch ||
      v == Verdict.HeaderMismatch ||
      v == Verdict.BodyMismatch ||
      v == Verdict.JsonInvalid
    ) {
      this.sample(v);
    }
    this.finish();
  }

  /** One info line naming the request, at most compare.samples_per_second per target. */
  sample(v: Verdict): void {
    const limiter = this.stats.samples;
    if (limiter === null || !limiter.take(nowNs())) return;
    const live = this.live;
    let pointer = "";
    const lb = live.body;
    const lj = lb !== null ? lb.json : null;
    const dj = this.darkJson;
    if (v == Verdict.BodyMismatch && lj !== null && dj !== null) {
      pointer = " pointer=" + quoted(firstDifference(lj, dj));
    }
    log(
      LOG_INFO,
      "mirror mismatch: target=" +
        this.stats.target.label +
        " result=" +
        verdictName(v) +
        " request_id=" +
        quoted(String.UTF8.decode(live.requestId)) +
        " method=" +
        quoted(String.UTF8.decode(live.method)) +
        " path=" +
        quoted(String.UTF8.decode(live.path)) +
        " live_status=" +
        decimal(live.side.status) +
        " dark_status=" +
        decimal(this.dark.status) +
        " live_bytes=" +
        decimal(live.bytes) +
        " dark_bytes=" +
        decimal(this.darkBytes) +
        pointer,
    );
  }

  /** This copy is over: its slot, its budget and its dark digest go back. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    slots--;
    this.stats.inflightAdd(-1);
    release(COPY_BYTES + <u64>this.cfg.digestBytes);
    const j = this.darkJson;
    if (j !== null) {
      this.root.giveDigest(j);
      this.darkJson = null;
    }
  }
}

/** A string for a log line: quoted, with `"` and control characters escaped. */
function quoted(s: string): string {
  let plain = true;
  for (let i = 0; i < s.length && plain; i++) {
    const c = s.charCodeAt(i);
    plain = c >= 0x20 && c != 0x22 && c != 0x5c && c != 0x7f;
  }
  if (plain) return '"' + s + '"';
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22 || c == 0x5c) out += "\\" + String.fromCharCode(c);
    else if (c < 0x20 || c == 0x7f) out += "?";
    else out += String.fromCharCode(c);
  }
  return out + '"';
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
let callbacksSinceCollect: u32 = 0;
let bytesSinceCollect: usize = 0;

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

/**
 * The dark response's status, 0 for a reset or timeout. Envoy answers a call
 * whose upstream refused, reset or timed out with a reply of its own (503
 * "upstream connect error…", 504 "upstream request timeout") rather than with
 * no headers; a real upstream response carries x-envoy-upstream-service-time,
 * added by the router on the way back, and Envoy's own reply does not.
 */
function darkStatus(): i32 {
  if (!readHeader(MAP_CALL_RESPONSE_HEADERS, STATUS)) return 0;
  const status = parseStatus();
  if (
    (status == 503 || status == 504) &&
    !readHeader(MAP_CALL_RESPONSE_HEADERS, UPSTREAM_TIME)
  ) {
    return 0;
  }
  return status;
}

/** The status the last read found (readPtr, readLen); 0 when it is not one. */
function parseStatus(): i32 {
  const n = readLen;
  if (n == 0 || n > 3) return 0;
  let v = 0;
  for (let i: u32 = 0; i < n; i++) {
    const c = load<u8>(readPtr + i);
    if (c < 0x30 || c > 0x39) return 0;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

/** A copy of at most `n` bytes of `v` (a prefix), for a sample line. */
function prefixOf(v: KeySpan, n: i32): ArrayBuffer {
  const len = min(v.len, n);
  const buf = new ArrayBuffer(len);
  memory.copy(changetype<usize>(buf), v.ptr, len);
  return buf;
}

const sampleSpan = new KeySpan();

function usBetween(from: u64, to: u64): u64 {
  return to > from ? (to - from) / NS_PER_US : 0;
}

// ---------------------------------------------------------------------------------------------
// Contexts.

/** The root id the filter registers (`root_id` in Envoy, `pluginName` in Istio). */
export const ROOT_ID = "mirror";
const PLUGIN_ROOT_ID = String.UTF8.encode("plugin_root_id");

/** The root id Envoy gives a new root context (its `root_id`), "" when it has none. */
function pluginRootId(): string {
  clearOut();
  const r = imports.proxy_get_property(
    changetype<usize>(PLUGIN_ROOT_ID),
    PLUGIN_ROOT_ID.byteLength,
    OUT_PTR,
    OUT_SIZE,
  );
  const buf = takeOut();
  return r == OK ? String.UTF8.decode(buf) : "";
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
  digests: JsonDigest[] = [];
  /** this root's calls in flight, by token */
  calls: IdTable<Mirror | null> = new IdTable<Mirror | null>();

  constructor(id: u32) {
    this.id = id;
    rootsAlive.push(this);
    const rootId = pluginRootId();
    if (rootId != ROOT_ID) this.unknownRootId = rootId;
  }

  onConfigure(configuration_size: u32): bool {
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
    if (configuration_size > 0) {
      const buf = getBuffer(BUFFER_PLUGIN_CONFIGURATION, configuration_size);
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
    vmGauges.define();
    const stats: TargetStats[] = [];
    for (let i = 0; i < cfg.targets.length; i++) {
      stats.push(new TargetStats(cfg.targets[i], cfg));
    }
    // A config replacing this root's previous one: what it counted is shown first.
    this.flushStats();
    this.stats = stats;
    this.config = cfg;
    this.decision = new RequestDecision(cfg.saltPrefixes.length);
    this.digests = [];
    const previous = newestRoot;
    if (previous !== null && previous !== this) previous.digests = [];
    newestRoot = this;
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

  /** A JSON digest for one body of this config's comparisons. */
  takeDigest(cfg: Config): JsonDigest {
    const d = this.digests;
    if (d.length > 0) {
      const j = d.pop();
      j.reset();
      return j;
    }
    bytesSinceCollect += <usize>cfg.digestBytes;
    return new JsonDigest(cfg.ignoreRules);
  }

  giveDigest(j: JsonDigest): void {
    // Kept for reuse up to what max_inflight copies can need at once.
    const cfg = this.config;
    if (
      this === newestRoot &&
      cfg !== null &&
      <u32>this.digests.length < cfg.maxInflight
    ) {
      this.digests.push(j);
    }
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
      const name = names[at];
      store<u32>(OUT_U32, 0);
      r = imports.proxy_http_call(
        changetype<usize>(name),
        name.byteLength,
        changetype<usize>(headers),
        headers.byteLength,
        changetype<usize>(body),
        body.byteLength,
        changetype<usize>(EMPTY),
        0,
        t.timeoutMs,
        OUT_U32,
      );
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
    this.calls.set(load<u32>(OUT_U32), m);
    st.inc(Stat.Copies);
    return true;
  }

  onHttpCallResponse(
    token: u32,
    headers: u32,
    body_size: u32,
    trailers: u32,
  ): void {
    const m = this.calls.get(token);
    if (m === null) return;
    this.calls.delete(token);
    const st = m.stats;
    const cfg = m.cfg;
    const status = headers > 0 ? darkStatus() : 0;
    st.inc(darkStatOf(status));
    st.record(Stat.DarkDuration, usBetween(m.darkStartNs, nowNs()));
    const dark = m.dark;
    dark.reset(cfg.compareHeaders.length);
    dark.status = status;
    if (headers > 0 && cfg.compareHeaders.length > 0) {
      readCompareHeaders(cfg, MAP_CALL_RESPONSE_HEADERS, dark.headers);
    }
    m.darkBytes = <u64>body_size;
    if (cfg.compareBody != BodyCompare.Off && !m.live.gone) {
      const json =
        cfg.compareBody == BodyCompare.Json ? this.takeDigest(cfg) : null;
      m.darkJson = json;
      const digest = new BodyDigest(cfg, json);
      if (body_size > 0)
        scanBuffer(BUFFER_CALL_RESPONSE_BODY, body_size, digest);
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
      if (live === null) live = new LiveSide(this, cfg, now);
      if (chosen === null) chosen = [];
      chosen.push(new Mirror(this, st, cfg, live));
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

  onRequestBody(body_buffer_length: usize, end_of_stream: bool): void {
    if (!this.assembling) return;
    const cfg = this.cfg!;
    const len = <u32>body_buffer_length;
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
    if (end_of_stream) this.finish();
    collectSometimes();
  }

  onResponseHeaders(end_of_stream: bool): void {
    // Read from the request's headers on, copies sent or not yet: a response may start (and even
    // end) before the request has (a streamed upload, a gRPC client stream).
    const live = this.live;
    if (live === null || live.done) return;
    const cfg = live.cfg;
    live.side.status = readHeader(MAP_RESPONSE_HEADERS, STATUS)
      ? parseStatus()
      : 0;
    if (cfg.compareHeaders.length > 0) {
      readCompareHeaders(cfg, MAP_RESPONSE_HEADERS, live.side.headers);
    }
    if (cfg.compareBody != BodyCompare.Off) {
      const json =
        cfg.compareBody == BodyCompare.Json ? this.root.takeDigest(cfg) : null;
      live.body = new BodyDigest(cfg, json);
    }
    if (end_of_stream) this.liveEnded();
  }

  onResponseBody(body_buffer_length: usize, end_of_stream: bool): void {
    const live = this.live;
    if (live === null || live.done) return;
    live.bytes += <u64>body_buffer_length;
    const b = live.body;
    if (b !== null && body_buffer_length > 0 && !b.done()) {
      // Hashed as it passes: the live response is never held.
      scanBuffer(BUFFER_RESPONSE_BODY, <u32>body_buffer_length, b);
    }
    if (end_of_stream) this.liveEnded();
    collectSometimes();
  }

  onResponseTrailers(): void {
    const live = this.live;
    if (live !== null && !live.done) this.liveEnded();
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

  /** The live response ended: each copy's target counts it and its duration. */
  liveEnded(): void {
    const live = this.live!;
    const now = nowNs();
    const mirrors = this.mirrors!;
    for (let i = 0; i < mirrors.length; i++) {
      const m = mirrors[i];
      if (m.dispatched) {
        m.stats.record(Stat.LiveDuration, usBetween(live.startNs, now));
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
    this.assembling = false;
    this.pairs = EMPTY;
    this.chunks = null;
    this.bodyBytes = 0;
    release(this.held);
    this.held = 0;
    this.comparing = sent > 0;
    this.live!.assembling = false;
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
    bytesSinceCollect += <usize>this.bodyBytes;
    let at = changetype<usize>(out);
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i];
      memory.copy(at, changetype<usize>(c), c.byteLength);
      at += c.byteLength;
    }
    return out;
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
    this.assembling = false;
    this.pairs = EMPTY;
    this.chunks = null;
    this.bodyBytes = 0;
    release(this.held);
    this.held = 0;
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
    imports.proxy_remove_header_map_value(
      map,
      changetype<usize>(n),
      n.byteLength,
    );
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
