// One live request's copies, from the decision to the verdict: the live side they share (its
// answer, its latency, what a mismatch sample line names) and each copy (its dark answer, its
// slot and bytes of the budget), judged once both answers are known — and, for a candidate with
// a baseline target, once the baseline's answer to the same request is known too.

import { COPY_BYTES, giveSlot, release, takeSlot } from "./budget";
import {
  GRPC_UNKNOWN,
  Side,
  Verdict,
  isCompared,
  isGrpc,
  isMismatch,
  judge,
  judgeAgainstBaseline,
  pairCompareStat,
  parseGrpcStatus,
  parseStatus,
  verdictName,
  verdictStat,
} from "./compare";
import { BodyDigest } from "./compare";
import { Config } from "./config";
import {
  LOG_INFO,
  lastRead,
  lastReadLength,
  log,
  nowNs,
  readBufferSlice,
  readHeader,
  readHeaderMap,
  takeReadOwner,
} from "./host";
import { JsonDigest, firstDifference } from "./jsondigest";
import {
  ResponseClass,
  Stat,
  isError,
  liveStatOf,
  pairStatOf,
} from "./metrics";
import { KeySpan, RequestView } from "./policy";
import { xxh64 } from "./xxh64";
import { SCRATCH_SIZE, noteAllocated } from "./scratch";
import { findHeaderAt, hasNameLike } from "./shadow";
import { TargetStats } from "./stats";
import { decimal } from "./text";

/** Grace past a call's timeout after which a call never answered is forgotten. */
const FORGET_AFTER_NS: u64 = 5_000_000_000;
const NS_PER_MS: u64 = 1_000_000;
const NS_PER_US: u64 = 1_000;
const STATUS = String.UTF8.encode(":status");
const UPSTREAM_TIME = String.UTF8.encode("x-envoy-upstream-service-time");
const CONTENT_TYPE = String.UTF8.encode("content-type");
const GRPC_STATUS = String.UTF8.encode("grpc-status");
/** Bytes per read of a body that is only scanned (hashed): one scratch area's worth. */
const SLICE: u32 = <u32>SCRATCH_SIZE;

export const EMPTY = new ArrayBuffer(0);

/**
 * A header map read from the host in one call (proxy_get_header_map_pairs) and searched here: in
 * Envoy 1.40 one map read measured cheaper than the three or four single-header reads a decision
 * needs (bench/RESULTS.md). The bytes land in the scratch area when they fit (nothing allocated:
 * a request that is not mirrored leaves no garbage), so they are valid until the next read;
 * a mirrored request copies them (`keep`) for its copy.
 */
export class LiveHeaders extends RequestView {
  ptr: usize = 0;
  size: u32 = 0;
  /** the host's buffer when the map did not fit in the scratch area */
  owned: ArrayBuffer | null = null;

  /** Reads header map `map`; an unreadable map reads as empty. */
  read(map: u32): void {
    readHeaderMap(map);
    this.ptr = lastRead();
    this.size = lastReadLength();
    this.owned = takeReadOwner();
  }

  /** A copy of the map's bytes, to keep past this callback. */
  keep(): ArrayBuffer {
    const owned = this.owned;
    if (owned !== null && <u32>owned.byteLength == this.size) return owned;
    const buf = new ArrayBuffer(this.size);
    memory.copy(changetype<usize>(buf), this.ptr, this.size);
    noteAllocated(<usize>this.size);
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

/**
 * Feeds `total` bytes of a host buffer to `sink`, slice by slice through the scratch area:
 * nothing is allocated and nothing is kept. False when the host could not hand a slice.
 */
export function scanBody(kind: u32, total: u32, sink: BodyDigest): bool {
  let at: u32 = 0;
  while (at < total && !sink.done()) {
    if (!readBufferSlice(kind, at, min(SLICE, total - at))) return false;
    const n = lastReadLength();
    sink.update(lastRead(), n);
    at += n;
  }
  return true;
}

/** A response's header map, read in one host call (like the request's) and searched here. */
const answer = new LiveHeaders();
const answerSpan = new KeySpan();

/**
 * Reads what the comparison and the classes need from a response's headers (map `map`) into
 * `side`: the status, for gRPC the grpc-status of a trailers-only answer (else GRPC_UNKNOWN until
 * the trailers tell), and the values of compare.headers (0 when absent, else a hash, never 0).
 * `call`: the dark answer, where Envoy's own reply to a copy it could not complete (502 protocol
 * error, 503 reset or refused, 504 timeout: without the x-envoy-upstream-service-time the router
 * adds to a real answer) is no answer (status 0). True when the answer is gRPC and its
 * grpc-status is still to come (in the trailers).
 */
export function readAnswer(
  map: u32,
  side: Side,
  cfg: Config,
  call: bool,
): bool {
  const view = answer;
  const v = answerSpan;
  view.read(map);
  let status = view.find(STATUS, v) ? parseStatus(v.ptr, v.len) : 0;
  if (call && status >= 502 && status <= 504 && !view.find(UPSTREAM_TIME, v)) {
    status = 0;
  }
  side.status = status;
  let pending = false;
  if (status != 0 && view.find(CONTENT_TYPE, v) && isGrpc(v.ptr, v.len)) {
    if (view.find(GRPC_STATUS, v)) {
      side.grpc = parseGrpcStatus(v.ptr, v.len);
    } else {
      side.grpc = GRPC_UNKNOWN;
      pending = true;
    }
  }
  const names = cfg.compareHeaderBytes;
  const out = side.headers;
  for (let i = 0; i < names.length; i++) {
    unchecked(
      (out[i] = view.find(names[i], v) ? xxh64(v.ptr, v.len, 0) | 1 : 0),
    );
  }
  view.drop();
  return pending;
}

/** The grpc-status of trailers map `map` into `side` (GRPC_UNKNOWN when it has none). */
export function readGrpcTrailer(map: u32, side: Side): void {
  side.grpc = readHeader(map, GRPC_STATUS)
    ? parseGrpcStatus(lastRead(), <i32>lastReadLength())
    : GRPC_UNKNOWN;
}

/**
 * JSON digests not in use, for one configuration's comparisons. Only the configuration applied
 * last keeps idle ones, up to what max_inflight copies can need at once: a replaced root lives on
 * until Envoy deletes it (over LDS, when the old listener has drained: 600 s by default), and a
 * pool in each of them would hold memory the budget does not count.
 */
export class DigestPool {
  cfg: Config | null = null;
  digests: JsonDigest[] = [];

  /** Keeps idle digests of `cfg` from now on. */
  keepFor(cfg: Config): void {
    this.cfg = cfg;
    this.digests = [];
  }

  /** Keeps none any more (a newer configuration keeps its own). */
  stop(): void {
    this.cfg = null;
    this.digests = [];
  }

  /** A digest for one body of `cfg`'s comparisons. */
  take(cfg: Config): JsonDigest {
    const d = this.digests;
    if (this.cfg === cfg && d.length > 0) {
      const j = d.pop();
      j.reset();
      return j;
    }
    noteAllocated(<usize>cfg.digestBytes);
    return new JsonDigest(cfg.ignoreRules, cfg.baseline >= 0);
  }

  /** A digest of `cfg` no longer in use. */
  give(j: JsonDigest, cfg: Config): void {
    if (this.cfg === cfg && <u32>this.digests.length < cfg.maxInflight) {
      this.digests.push(j);
    }
  }
}

/**
 * The live side of one mirrored request, shared by its copies (one per chosen target): its
 * response (status, headers, body digest), the times its latency is measured between, what a
 * mismatch sample line names, the copies whose dark answer came first and now wait for it, and
 * with a baseline target, the baseline's copy and the candidates that wait for its answer.
 */
export class LiveSide {
  pool: DigestPool;
  cfg: Config;
  startNs: u64;
  /** when the request ended and its copies were dispatched (0: not yet) */
  dispatchNs: u64 = 0;
  /** when the live response ended (0: not yet) */
  endNs: u64 = 0;
  /** the live response began before the request ended: no latency difference */
  early: bool = false;
  side: Side = new Side();
  body: BodyDigest | null = null;
  /** a gRPC response whose grpc-status is still to come, in its trailers */
  grpcPending: bool = false;
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
  /** the baseline target's copy of this request, if it has one */
  baseline: Mirror | null = null;
  /** candidates judged but for the comparison against the baseline, awaiting its answer */
  awaitingBaseline: Mirror[] | null = null;
  /** for mismatch samples */
  requestId: ArrayBuffer = EMPTY;
  method: ArrayBuffer = EMPTY;
  path: ArrayBuffer = EMPTY;
  /** bytes counted in the budget for this live side (its JSON digest) */
  held: u64 = 0;

  constructor(pool: DigestPool, cfg: Config, startNs: u64) {
    this.pool = pool;
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

  /**
   * The baseline's copy answered or is over without an answer (failed, cancelled, abandoned):
   * the candidates that wait for it are judged against its answer, when it is one without error.
   */
  baselineOver(): void {
    const w = this.awaitingBaseline;
    this.awaitingBaseline = null;
    if (w === null) return;
    const answer = baselineAnswer(this.baseline!);
    for (let i = 0; i < w.length; i++) {
      const m = w[i];
      if (answer !== null) m.countAgainstBaseline(answer);
      m.finish();
    }
  }

  /** Gives the live digest back to the pool and its bytes back to the budget. */
  drop(): void {
    const b = this.body;
    if (b !== null) {
      const j = b.json;
      if (j !== null) this.pool.give(j, this.cfg);
      b.json = null;
    }
    release(this.held);
    this.held = 0;
  }
}

/**
 * One copy, from its decision to its verdict. It holds a slot (max_inflight) and COPY_BYTES
 * (and, comparing JSON, a digest's bytes) of the budget from the start of the live request
 * until its dark side is known and the live side is judged (and, for a candidate with a
 * baseline, the baseline's answer is known), or gone.
 */
export class Mirror {
  pool: DigestPool;
  stats: TargetStats;
  cfg: Config;
  live: LiveSide;
  dispatched: bool = false;
  darkStartNs: u64 = 0;
  /** when the dark answer came (0: none) */
  darkEndNs: u64 = 0;
  forgetAtNs: u64 = 0;
  dark: Side = new Side();
  darkDone: bool = false;
  darkBytes: u64 = 0;
  /** compare.body "json": the dark body's digest (for firstDifference), from the root's pool */
  darkJson: JsonDigest | null = null;
  /** the dark answer will never come: the root was retired, or the host never called back */
  cancelled: bool = false;
  finished: bool = false;
  /** the compared verdict still to be judged against the baseline's answer */
  pending: Verdict = Verdict.Ignored;

  constructor(
    pool: DigestPool,
    stats: TargetStats,
    cfg: Config,
    live: LiveSide,
  ) {
    this.pool = pool;
    this.stats = stats;
    this.cfg = cfg;
    this.live = live;
    takeSlot();
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

  /**
   * Both sides known: count the live side, the pair (by the side in error), the latency
   * difference over the same span (from the request's end to each answer's end), and the
   * verdict on this copy's target.
   */
  judgeAndFinish(): void {
    const live = this.live;
    const st = this.stats;
    const liveClass = live.side.cls();
    st.inc(liveStatOf(liveClass));
    if (this.cancelled) {
      st.inc(Stat.NotComparedIncomplete);
      this.finish();
      return;
    }
    const darkClass = this.dark.cls();
    const liveError = isError(liveClass);
    const darkError = isError(darkClass);
    st.inc(pairStatOf(liveError, darkError));
    if (
      liveClass != ResponseClass.Reset &&
      darkClass != ResponseClass.Reset &&
      !live.early &&
      live.endNs != 0 &&
      this.darkEndNs != 0
    ) {
      const liveEnd = live.endNs;
      const darkEnd = this.darkEndNs;
      if (darkEnd >= liveEnd)
        st.record(Stat.PairSlower, (darkEnd - liveEnd) / NS_PER_US);
      else st.record(Stat.PairFaster, (liveEnd - darkEnd) / NS_PER_US);
    }
    const v = judge(this.cfg, live.side, this.dark);
    st.inc(verdictStat(v));
    if (isMismatch(v)) this.sample(v);
    if (!liveError && !darkError && isCompared(v)) {
      if (this.cfg.baseline < 0 || st.target.baseline) {
        st.inc(pairCompareStat(v));
      } else {
        // A candidate: judged against the baseline's answer to the same request, if it has one
        // without error (a request the baseline did not get a copy of is not counted).
        this.pending = v;
        const b = live.baseline;
        if (b !== null) {
          if (!b.darkDone && !b.finished) {
            let w = live.awaitingBaseline;
            if (w === null) live.awaitingBaseline = w = [];
            w.push(this);
            return;
          }
          const answer = baselineAnswer(b);
          if (answer !== null) this.countAgainstBaseline(answer);
        }
      }
    }
    this.finish();
  }

  /** The pending verdict, judged against the baseline's answer `base` (without error). */
  countAgainstBaseline(base: Side): void {
    const v = this.pending;
    const w = isMismatch(v)
      ? judgeAgainstBaseline(this.cfg, v, this.live.side, this.dark, base)
      : v;
    if (isCompared(w)) this.stats.inc(pairCompareStat(w));
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

  /**
   * This copy is over: its slot, its budget and its dark digest go back; a baseline's candidates
   * waiting for it are judged.
   */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    giveSlot();
    this.stats.inflightAdd(-1);
    release(COPY_BYTES + <u64>this.cfg.digestBytes);
    const j = this.darkJson;
    if (j !== null) {
      this.pool.give(j, this.cfg);
      this.darkJson = null;
    }
    const live = this.live;
    if (live.baseline === this) live.baselineOver();
  }
}

/** The baseline copy's answer when it is one without error; null otherwise (or not yet). */
function baselineAnswer(b: Mirror): Side | null {
  return b.darkDone && !b.cancelled && !isError(b.dark.cls()) ? b.dark : null;
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

/** A copy of at most `n` bytes of `v` (a prefix), for a sample line. */
export function prefixOf(v: KeySpan, n: i32): ArrayBuffer {
  const len = min(v.len, n);
  const buf = new ArrayBuffer(len);
  memory.copy(changetype<usize>(buf), v.ptr, len);
  return buf;
}

export function usBetween(from: u64, to: u64): u64 {
  return to > from ? (to - from) / NS_PER_US : 0;
}
