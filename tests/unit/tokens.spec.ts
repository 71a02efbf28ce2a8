// TokenBucket (max_rps, mismatch samples per second): a burst of max(1, rate) tokens, refilled
// at `rate` a second on the filter's clock (nanoseconds), never above the burst; peek does not
// take; refund gives a token back up to the burst; a clock that goes backwards adds nothing.

import { TokenBucket } from "../../assembly/tokens";

const MS: u64 = 1_000_000;
/** Any start: the filter's clock is the wall clock in ns since the epoch. */
const T0: u64 = 1_704_067_200_000 * MS;

/** How many takes succeed at `at` until one fails. */
function drain(b: TokenBucket, at: u64): i32 {
  let n = 0;
  while (b.take(at)) {
    n++;
    if (n > 10_000_000) break;
  }
  return n;
}

describe("TokenBucket", () => {
  it("starts full: a burst of max(1, rate) at once", () => {
    expect<i32>(drain(new TokenBucket(5), T0)).toBe(5);
    expect<i32>(drain(new TokenBucket(1), T0)).toBe(1);
    expect<i32>(drain(new TokenBucket(0.5), T0)).toBe(1);
    expect<i32>(drain(new TokenBucket(0.001), T0)).toBe(1);
    expect<i32>(drain(new TokenBucket(2.5), T0)).toBe(2);
    expect<i32>(drain(new TokenBucket(1e6), T0)).toBe(1_000_000);
    expect<f64>(new TokenBucket(0.5).burst).toBe(1);
    expect<f64>(new TokenBucket(7.5).burst).toBe(7.5);
  });

  it("refills at the rate: one token every 1/rate seconds", () => {
    const b = new TokenBucket(5);
    drain(b, T0);
    expect<bool>(b.take(T0 + 199 * MS)).toBe(false, "199 ms");
    expect<bool>(b.take(T0 + 200 * MS)).toBe(true, "200 ms");
    expect<bool>(b.take(T0 + 200 * MS)).toBe(false, "the same instant");
    expect<bool>(b.take(T0 + 400 * MS)).toBe(true, "400 ms");
    // 1 s later: 5 tokens again, no more
    expect<i32>(drain(b, T0 + 1400 * MS)).toBe(5);
  });

  it("never holds more than the burst, however long the pause", () => {
    const b = new TokenBucket(3);
    drain(b, T0);
    expect<i32>(drain(b, T0 + 3_600_000 * MS)).toBe(3);
    const slow = new TokenBucket(0.5);
    drain(slow, T0);
    expect<i32>(drain(slow, T0 + 3_600_000 * MS)).toBe(1);
  });

  it("keeps fractions between takes: rate 0.5 → one token every 2 s", () => {
    const b = new TokenBucket(0.5);
    expect<bool>(b.take(T0)).toBe(true);
    expect<bool>(b.take(T0 + 1000 * MS)).toBe(false);
    expect<bool>(b.take(T0 + 1999 * MS)).toBe(false);
    expect<bool>(b.take(T0 + 2000 * MS)).toBe(true);
    expect<bool>(b.take(T0 + 3999 * MS)).toBe(false);
    expect<bool>(b.take(T0 + 4000 * MS)).toBe(true);
  });

  it("holds a steady rate: 1000 requests a second for 10 s at rate 7 → 7 + 70", () => {
    const b = new TokenBucket(7);
    let n = 0;
    for (let ms: u64 = 0; ms <= 10_000; ms++) if (b.take(T0 + ms * MS)) n++;
    expect<i32>(n).toBe(77);
  });

  it("peek does not take", () => {
    const b = new TokenBucket(1);
    expect<bool>(b.peek(T0)).toBe(true);
    expect<bool>(b.peek(T0)).toBe(true);
    expect<bool>(b.take(T0)).toBe(true);
    expect<bool>(b.peek(T0)).toBe(false);
    expect<bool>(b.peek(T0 + 999 * MS)).toBe(false);
    expect<bool>(b.peek(T0 + 1000 * MS)).toBe(true);
  });

  it("refund gives a token back, never above the burst", () => {
    const b = new TokenBucket(2);
    drain(b, T0);
    b.refund();
    expect<i32>(drain(b, T0)).toBe(1);
    b.refund();
    b.refund();
    b.refund();
    expect<i32>(drain(b, T0)).toBe(2);
    const full = new TokenBucket(1);
    full.refund();
    expect<i32>(drain(full, T0)).toBe(1);
  });

  it("adds nothing when the clock goes backwards, and counts from the earlier time", () => {
    const b = new TokenBucket(1);
    expect<bool>(b.take(T0)).toBe(true);
    expect<bool>(b.take(T0 - 5000 * MS)).toBe(false);
    expect<f64>(b.tokens).toBe(0);
    // refilling restarts from the time it last saw
    expect<bool>(b.take(T0 - 4001 * MS)).toBe(false);
    expect<bool>(b.take(T0 - 4000 * MS)).toBe(true);
  });

  it("never goes negative, whatever the calls", () => {
    const b = new TokenBucket(3);
    for (let i = 0; i < 100; i++) b.take(T0);
    expect<f64>(b.tokens).toBe(0);
    expect<bool>(b.peek(T0)).toBe(false);
  });
});
