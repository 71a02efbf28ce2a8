// A token bucket on the filter's clock (nanoseconds): `max_rps` per target and the mismatch
// sample lines per second. Pure; one per target per VM.

const NS_PER_S: f64 = 1e9;

export class TokenBucket {
  /** tokens added per second */
  rate: f64;
  /** the most tokens held: a burst of at most this many (and at least one) */
  burst: f64;
  tokens: f64;
  lastNs: u64 = 0;

  constructor(rate: f64) {
    this.rate = rate;
    this.burst = rate > 1 ? rate : 1;
    this.tokens = this.burst;
  }

  private refill(nowNs: u64): void {
    if (nowNs > this.lastNs) {
      const added = (<f64>(nowNs - this.lastNs) / NS_PER_S) * this.rate;
      this.tokens = Math.min(this.burst, this.tokens + added);
    }
    this.lastNs = nowNs;
  }

  /** Whether a token is there now (without taking it). */
  peek(nowNs: u64): bool {
    this.refill(nowNs);
    return this.tokens >= 1;
  }

  /** Takes a token if there is one. */
  take(nowNs: u64): bool {
    this.refill(nowNs);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Gives back a token taken for something that did not happen. */
  refund(): void {
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }
}
