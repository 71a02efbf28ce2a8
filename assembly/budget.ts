// The VM-wide limits on copies in progress: how many at once (max_inflight) and the bytes held
// for them (max_buffered_bytes). Every copy takes its slot and its bytes when it starts and gives
// them back when it is over; a copy that would go over is abandoned, never the live request.

import { Config } from "./config";

/** Budget counted per copy for its bookkeeping (the Mirror and its share of the stream). */
export const COPY_BYTES: u64 = 512;

/** Copies in progress in this VM: assembling, awaiting the dark answer, or awaiting live. */
export let slots: u32 = 0;
/** Bytes held for copies in progress in this VM. */
export let bufferedBytes: u64 = 0;

/** A copy starts (its slot is taken). */
export function takeSlot(): void {
  slots++;
}

/** A copy is over (its slot is given back). */
export function giveSlot(): void {
  slots--;
}

/** Counts `n` bytes against the budget if they fit in it. */
export function reserve(cfg: Config, n: u64): bool {
  if (bufferedBytes + n > <u64>cfg.maxBufferedBytes) return false;
  bufferedBytes += n;
  return true;
}

/** Gives `n` bytes back. */
export function release(n: u64): void {
  bufferedBytes = n < bufferedBytes ? bufferedBytes - n : 0;
}
