// The filter's metrics as the host keeps them: each target's counters, gauge and histograms
// (metrics.ts names them), counted in the module and handed to the host on the root's tick, and
// the VM-wide gauges.

import { bufferedBytes } from "./budget";
import { Config, Target } from "./config";
import {
  METRIC_GAUGE,
  defineMetric,
  incrementMetric,
  recordMetric,
} from "./host";
import {
  BUFFERED_BYTES,
  Stat,
  WASM_MEMORY_BYTES,
  baselineInfoName,
  metricName,
  statKind,
} from "./metrics";
import { TokenBucket } from "./tokens";

/**
 * The metrics of one target. Counters are added up here and handed to the host on the root's
 * tick (and when the root is retired): a request costs no host call for its counters, whatever
 * the number of targets; /stats lags by at most the tick (STATS_TICK_MS, contexts.ts). Histograms are recorded at once.
 */
export class TargetStats {
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

  /** a candidate's mirror_baseline_info gauge (U32.MAX_VALUE: none) */
  baselineInfo: u32 = U32.MAX_VALUE;

  constructor(target: Target, cfg: Config) {
    this.target = target;
    for (let i = 0; i < Stat.Count; i++) {
      const id = defineMetric(<u32>statKind(i), metricName(target.statName, i));
      if (id == U32.MAX_VALUE) this.ok = false;
      this.ids[i] = id;
    }
    if (cfg.baseline >= 0 && !target.baseline) {
      // Each VM with this config adds 1; a retired config takes its 1 back (retire).
      const id = defineMetric(
        METRIC_GAUGE,
        baselineInfoName(target.statName, cfg.targets[cfg.baseline].statName),
      );
      if (id != U32.MAX_VALUE) {
        incrementMetric(id, 1);
        this.baselineInfo = id;
      }
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
    if (this.ok) recordMetric(this.ids[stat], value);
  }

  /** This config is replaced or gone: its baseline info no longer holds for this VM. */
  retire(): void {
    const id = this.baselineInfo;
    this.baselineInfo = U32.MAX_VALUE;
    if (id != U32.MAX_VALUE) incrementMetric(id, -1);
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
      incrementMetric(unchecked(this.ids[i]), <i64>n);
    }
    if (this.inflight != this.inflightShown) {
      incrementMetric(
        this.ids[Stat.Inflight],
        this.inflight - this.inflightShown,
      );
      this.inflightShown = this.inflight;
    }
  }
}

/**
 * VM-wide gauges, summed over the VMs of an Envoy (each VM adds the change since it last
 * reported): bytes held for copies in progress, and the VM's linear memory.
 */
export class VmGauges {
  bufferedId: u32 = U32.MAX_VALUE;
  memoryId: u32 = U32.MAX_VALUE;
  bufferedShown: i64 = 0;
  memoryShown: i64 = 0;

  define(): void {
    if (this.bufferedId != U32.MAX_VALUE) return;
    this.bufferedId = defineMetric(METRIC_GAUGE, BUFFERED_BYTES);
    this.memoryId = defineMetric(METRIC_GAUGE, WASM_MEMORY_BYTES);
  }

  flush(): void {
    const buffered = <i64>bufferedBytes;
    if (buffered != this.bufferedShown && this.bufferedId != U32.MAX_VALUE) {
      incrementMetric(this.bufferedId, buffered - this.bufferedShown);
      this.bufferedShown = buffered;
    }
    const mem = (<i64>memory.size()) << 16;
    if (mem != this.memoryShown && this.memoryId != U32.MAX_VALUE) {
      incrementMetric(this.memoryId, mem - this.memoryShown);
      this.memoryShown = mem;
    }
  }
}

/** The VM-wide gauges of this VM. */
export const vmGauges = new VmGauges();
