// Live vs dark: what each side's answer is (its status, gRPC status, headers, body digest,
// digested as it passes), the verdict on one mirrored request once both are known, and the
// noise-aware verdict of a candidate when a baseline (a second instance of the live version)
// answered the same request.

import { BodyCompare, Config, StatusCompare } from "./config";
import {
  JsonDigest,
  JsonState,
  SKETCH_SLOTS,
  digestFootprint,
} from "./jsondigest";
import { ResponseClass, Stat, classOf } from "./metrics";
import { Xxh64Stream } from "./xxh64";

/** The grpc-status of a gRPC answer that carries none (gRPC's UNKNOWN). */
export const GRPC_UNKNOWN: i32 = 2;

export enum Verdict {
  /** the live status is in ignore_statuses: not judged */
  Ignored,
  Match,
  StatusMismatch,
  HeaderMismatch,
  BodyMismatch,
  /** compare.body "json" and either body is not JSON (and the bytes differ) */
  JsonInvalid,
  /** a body over compare.max_body_bytes: not compared */
  TooLarge,
  /** JSON nested deeper than the digest follows: not compared */
  TooDeep,
}

/** The counter of each verdict (Verdict order): one table, so that a new outcome is one row. */
const VERDICT_STATS: Stat[] = [
  Stat.NotComparedIgnored,
  Stat.CompareMatch,
  Stat.CompareStatusMismatch,
  Stat.CompareHeaderMismatch,
  Stat.CompareBodyMismatch,
  Stat.CompareJsonInvalid,
  Stat.NotComparedTooLarge,
  Stat.NotComparedTooDeep,
];

/** The result label of each verdict in a sample line (Verdict order). */
const VERDICT_NAMES: string[] = [
  "ignored_status",
  "match",
  "status_mismatch",
  "header_mismatch",
  "body_mismatch",
  "json_invalid",
  "body_too_large",
  "too_deep",
];

/** The counter of a verdict (compared or not compared). */
export function verdictStat(v: Verdict): Stat {
  return VERDICT_STATS[v];
}

/** The result label of a verdict in the sample log line. */
export function verdictName(v: Verdict): string {
  return VERDICT_NAMES[v];
}

/** A verdict that is a comparison's result (match or a mismatch), not a reason not to compare. */
export function isCompared(v: Verdict): bool {
  return v >= Verdict.Match && v <= Verdict.JsonInvalid;
}

/** A comparison's result that differs. */
export function isMismatch(v: Verdict): bool {
  return v > Verdict.Match && v <= Verdict.JsonInvalid;
}

/** The pair-comparison counter of a compared verdict. */
export function pairCompareStat(v: Verdict): Stat {
  return <Stat>(Stat.PairCompareMatch + (v - Verdict.Match));
}

/** The headers of a side that compares none (shared: nothing is ever written to it). */
const NO_HEADERS = new StaticArray<u64>(0);

/** One side of a pair, as far as the comparison needs it. */
export class Side {
  status: i32 = 0;
  /** a gRPC answer's grpc-status (a missing one counts as 2, UNKNOWN); -1: not gRPC */
  grpc: i32 = -1;
  /** per compare.headers entry: 0 when absent, else a hash of the value (never 0) */
  headers: StaticArray<u64> = NO_HEADERS;
  /** the body went over compare.max_body_bytes */
  tooLarge: bool = false;
  /** XXH64 of the body's bytes */
  exact: u64 = 0;
  /** compare.body "json": what the body was, and its canonical digest */
  json: JsonState = JsonState.Empty;
  digest: u64 = 0;
  /** with a baseline, compare.body "json": where the body's values lie (JsonDigest.sketch) */
  sketch: StaticArray<u64> | null = null;

  reset(headers: i32): void {
    this.status = 0;
    this.grpc = -1;
    if (this.headers.length != headers) {
      this.headers = new StaticArray<u64>(headers);
    } else {
      for (let i = 0; i < headers; i++) unchecked((this.headers[i] = 0));
    }
    this.tooLarge = false;
    this.exact = 0;
    this.json = JsonState.Empty;
    this.digest = 0;
  }

  /** The answer's class (2xx…5xx, reset, gRPC error). */
  cls(): ResponseClass {
    return classOf(this.status, this.grpc);
  }
}

/** A body being digested as it passes, up to compare.max_body_bytes. */
export class BodyDigest {
  mode: BodyCompare;
  max: u64;
  bytes: u64 = 0;
  tooLarge: bool = false;
  hash: Xxh64Stream | null = null;
  json: JsonDigest | null = null;
  /** keep the JSON body's sketch in its side (there is a baseline to judge against) */
  sketch: bool;

  constructor(cfg: Config, json: JsonDigest | null) {
    this.mode = cfg.compareBody;
    this.sketch = cfg.baseline >= 0;
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
      if (this.sketch) {
        let sk = side.sketch;
        if (sk === null) side.sketch = sk = new StaticArray<u64>(SKETCH_SLOTS);
        j.sketchInto(sk);
      }
    }
  }
}

/** A status: three decimal digits; 0 when it is not one. */
export function parseStatus(ptr: usize, len: i32): i32 {
  if (len != 3) return 0;
  let v = 0;
  for (let i = 0; i < 3; i++) {
    const c = load<u8>(ptr + <usize>i);
    if (c < 0x30 || c > 0x39) return 0;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

/**
 * A gRPC content type: "application/grpc", alone or followed by "+" (a codec) or ";"
 * (parameters), in any case. gRPC-Web ("application/grpc-web…") carries its status in the
 * body: it is classed by its HTTP status.
 */
export function isGrpc(ptr: usize, len: i32): bool {
  const n = GRPC_TYPE.byteLength;
  if (len < n) return false;
  for (let i = 0; i < n; i++) {
    let c = load<u8>(ptr + <usize>i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c != load<u8>(changetype<usize>(GRPC_TYPE) + <usize>i)) return false;
  }
  if (len == n) return true;
  const next = load<u8>(ptr + <usize>n);
  return next == 0x2b || next == 0x3b || next == 0x20;
}

const GRPC_TYPE = String.UTF8.encode("application/grpc");

/** A grpc-status value: decimal digits (at most 9); anything else is GRPC_UNKNOWN. */
export function parseGrpcStatus(ptr: usize, len: i32): i32 {
  if (len == 0 || len > 9) return GRPC_UNKNOWN;
  let v = 0;
  for (let i = 0; i < len; i++) {
    const c = load<u8>(ptr + <usize>i);
    if (c < 0x30 || c > 0x39) return GRPC_UNKNOWN;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

/**
 * Bytes a JSON comparison holds per body (the budget counts them for each copy and once for its
 * live response): a digest, and with a baseline the sketch its side keeps; 0 without JSON.
 */
export function digestBytesOf(cfg: Config): u32 {
  if (cfg.compareBody != BodyCompare.Json) return 0;
  const sketch = cfg.baseline >= 0;
  return (
    <u32>digestFootprint(cfg.ignoreRules, sketch) +
    (sketch ? <u32>(SKETCH_SLOTS * 8 + 32) : 0)
  );
}

/** The statuses agree under compare.status (a reset never agrees). */
function sameStatus(cfg: Config, a: Side, b: Side): bool {
  if (b.status == 0 || a.status == 0) return false;
  if (cfg.compareStatus == StatusCompare.Exact) {
    return a.status == b.status && a.grpc == b.grpc;
  }
  if (cfg.compareStatus == StatusCompare.Class) return a.cls() == b.cls();
  return true;
}

/**
 * Judges one pair. A live status in `ignore_statuses` is not judged. Statuses are compared
 * exactly (a gRPC answer's grpc-status too), by class (2xx…5xx, gRPC error) or not at all; then
 * the headers of compare.headers by value; then the bodies, when enabled and the statuses agree:
 * by the XXH64 of their bytes ("exact") or by their canonical JSON digests ("json": two identical
 * non-JSON bodies still match). A dark reset or timeout has status 0: there is no answer to
 * compare, so it is a status mismatch whatever compare.status says ("off" included).
 */
export function judge(cfg: Config, live: Side, dark: Side): Verdict {
  if (cfg.ignoreStatuses.includes(live.status)) return Verdict.Ignored;
  if (dark.status == 0) return Verdict.StatusMismatch;
  if (!sameStatus(cfg, live, dark)) return Verdict.StatusMismatch;
  const n = min(live.headers.length, dark.headers.length);
  for (let i = 0; i < n; i++) {
    if (unchecked(live.headers[i]) != unchecked(dark.headers[i])) {
      return Verdict.HeaderMismatch;
    }
  }
  return judgeBodies(cfg, live, dark);
}

function judgeBodies(cfg: Config, live: Side, dark: Side): Verdict {
  if (cfg.compareBody == BodyCompare.Off) return Verdict.Match;
  if (live.tooLarge || dark.tooLarge) return Verdict.TooLarge;
  if (cfg.compareBody == BodyCompare.Exact) {
    return live.exact == dark.exact ? Verdict.Match : Verdict.BodyMismatch;
  }
  if (live.json == JsonState.TooDeep || dark.json == JsonState.TooDeep) {
    return Verdict.TooDeep;
  }
  if (live.json == JsonState.Invalid || dark.json == JsonState.Invalid) {
    return live.exact == dark.exact ? Verdict.Match : Verdict.JsonInvalid;
  }
  if (live.json != dark.json) return Verdict.BodyMismatch; // empty vs a value
  return live.digest == dark.digest ? Verdict.Match : Verdict.BodyMismatch;
}

/**
 * The verdict on a candidate's pair whose plain verdict `v` is a mismatch, given the baseline's
 * answer to the same request (both in no error): a difference counts only where the baseline
 * agrees with live, so what differs between any two instances (ids, timestamps, random order)
 * cancels. Statuses and each header are judged that way; bodies compared as JSON by where their
 * values lie (the digests' sketches: a slot where the candidate differs from live and the
 * baseline does not is a real difference; digests that differ with no slot to show where are
 * one too); other bodies as a whole. Ignored when the baseline's own status differs from live's
 * (it says nothing then of where the candidate's headers and body may differ).
 */
export function judgeAgainstBaseline(
  cfg: Config,
  v: Verdict,
  live: Side,
  cand: Side,
  base: Side,
): Verdict {
  if (v == Verdict.StatusMismatch) {
    return sameStatus(cfg, live, base) ? v : Verdict.Match;
  }
  if (!sameStatus(cfg, live, base) && cfg.compareStatus != StatusCompare.Off) {
    // The baseline's status differs from live: its headers and body say nothing of this one's,
    // so the pair is not judged (Ignored).
    return Verdict.Ignored;
  }
  if (v == Verdict.HeaderMismatch) {
    const n = min(
      live.headers.length,
      min(cand.headers.length, base.headers.length),
    );
    for (let i = 0; i < n; i++) {
      const l = unchecked(live.headers[i]);
      if (unchecked(cand.headers[i]) != l && unchecked(base.headers[i]) == l) {
        return v;
      }
    }
    // Only noisy headers differ: the bodies decide.
    const b = judgeBodies(cfg, live, cand);
    return isMismatch(b) ? judgeAgainstBaseline(cfg, b, live, cand, base) : b;
  }
  if (v == Verdict.JsonInvalid) {
    return base.exact == live.exact ? v : Verdict.Match;
  }
  if (v == Verdict.BodyMismatch) {
    if (cfg.compareBody == BodyCompare.Exact || live.json != JsonState.Valid) {
      return base.exact == live.exact ? v : Verdict.Match;
    }
    if (base.json != JsonState.Valid || base.digest == live.digest) return v;
    if (cand.json != JsonState.Valid) return v;
    const ls = live.sketch;
    const cs = cand.sketch;
    const bs = base.sketch;
    if (ls === null || cs === null || bs === null) return v;
    let located = false;
    for (let i = 0; i < ls.length; i++) {
      const l = unchecked(ls[i]);
      if (unchecked(cs[i]) != l) {
        located = true;
        if (unchecked(bs[i]) == l) return v;
      }
    }
    return located ? Verdict.Match : v;
  }
  return v;
}
