// Live vs dark: the verdict on one mirrored request once both responses are known.

import { Config, StatusCompare } from "./config";
import { classIndex } from "./metrics";

export enum Verdict {
  Ignored,
  Match,
  StatusMismatch,
  BodyMismatch,
}

/**
 * Judges one pair. A live status in `ignore_statuses` is not judged. Statuses
 * are compared exactly, by class (2xx…5xx) or not at all; bodies (their XXH64
 * digests) only when enabled and the statuses agree. A dark reset or timeout
 * has status 0, which agrees with no live status.
 */
export function judge(
  cfg: Config,
  liveStatus: i32,
  darkStatus: i32,
  liveDigest: u64,
  darkDigest: u64,
): Verdict {
  if (cfg.ignoreStatuses.includes(liveStatus)) return Verdict.Ignored;
  let sameStatus = true;
  if (cfg.compareStatus == StatusCompare.Exact) {
    sameStatus = liveStatus == darkStatus;
  } else if (cfg.compareStatus == StatusCompare.Class) {
    sameStatus =
      classIndex(liveStatus) == classIndex(darkStatus) &&
      classIndex(darkStatus) < 4;
  }
  if (!sameStatus) return Verdict.StatusMismatch;
  if (cfg.compareBody && liveDigest != darkDigest) return Verdict.BodyMismatch;
  return Verdict.Match;
}
