// Live vs dark: the verdict on one mirrored request once both responses are known.

import { BodyCompare, Config, StatusCompare } from "./config";
import { JsonState } from "./jsondigest";
import { classIndex } from "./metrics";

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

/** The headers of a side that compares none (shared: nothing is ever written to it). */
const NO_HEADERS = new StaticArray<u64>(0);

/** One side of a pair, as far as the comparison needs it. */
export class Side {
  status: i32 = 0;
  /** per compare.headers entry: 0 when absent, else a hash of the value (never 0) */
  headers: StaticArray<u64> = NO_HEADERS;
  /** the body went over compare.max_body_bytes */
  tooLarge: bool = false;
  /** XXH64 of the body's bytes */
  exact: u64 = 0;
  /** compare.body "json": what the body was, and its canonical digest */
  json: JsonState = JsonState.Empty;
  digest: u64 = 0;

  reset(headers: i32): void {
    this.status = 0;
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
}

/**
 * Judges one pair. A live status in `ignore_statuses` is not judged. Statuses are compared
 * exactly, by class (2xx…5xx) or not at all; then the headers of compare.headers by value; then
 * the bodies, when enabled and the statuses agree: by the XXH64 of their bytes ("exact") or by
 * their canonical JSON digests ("json": two identical non-JSON bodies still match). A dark
 * reset or timeout has status 0: there is no answer to compare, so it is a status mismatch
 * whatever compare.status says ("off" included).
 */
export function judge(cfg: Config, live: Side, dark: Side): Verdict {
  if (cfg.ignoreStatuses.includes(live.status)) return Verdict.Ignored;
  if (dark.status == 0) return Verdict.StatusMismatch;
  let sameStatus = true;
  if (cfg.compareStatus == StatusCompare.Exact) {
    sameStatus = live.status == dark.status;
  } else if (cfg.compareStatus == StatusCompare.Class) {
    sameStatus =
      classIndex(live.status) == classIndex(dark.status) &&
      classIndex(dark.status) < 4;
  }
  if (!sameStatus) return Verdict.StatusMismatch;
  const n = min(live.headers.length, dark.headers.length);
  for (let i = 0; i < n; i++) {
    if (unchecked(live.headers[i]) != unchecked(dark.headers[i])) {
      return Verdict.HeaderMismatch;
    }
  }
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

/** The result label of a verdict in the sample log line. */
export function verdictName(v: Verdict): string {
  switch (v) {
    case Verdict.StatusMismatch:
      return "status_mismatch";
    case Verdict.HeaderMismatch:
      return "header_mismatch";
    case Verdict.BodyMismatch:
      return "body_mismatch";
    case Verdict.JsonInvalid:
      return "json_invalid";
    default:
      return "match";
  }
}
