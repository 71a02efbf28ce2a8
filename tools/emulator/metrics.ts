/**
 * The metrics a module defines, as Envoy's Wasm stats keep them: ids with the type in their low two
 * bits (first ids 4/5/6), one underlying stat per name however often it is defined.
 */
import { MetricType, WasmResult } from "./abi.ts";
import type { Metric } from "./records.ts";

const METRIC_TYPE_MASK = 0x3;
const METRIC_ID_INCREMENT = 0x4;
const KINDS = ["counter", "gauge", "histogram"] as const;

export class MetricTable {
  private readonly byId = new Map<number, Metric>();
  private readonly byName = new Map<string, Metric>();
  private readonly nextId = [
    MetricType.Counter,
    MetricType.Gauge,
    MetricType.Histogram,
  ] as number[];

  /** `onViolation` receives each misuse (a name redefined with another type, a gauge below 0). */
  constructor(private readonly onViolation: (message: string) => void) {}

  /** proxy_define_metric: a new id each time, the same stat for the same name. */
  define(type: number, name: string): { result: number; id: number } {
    if (type < 0 || type > MetricType.Histogram)
      return { result: WasmResult.BadArgument, id: 0 };
    const kind = KINDS[type];
    let metric = this.byName.get(name);
    if (metric && metric.type !== kind) {
      this.onViolation(
        `proxy_define_metric: ${name} redefined as ${kind}, was ${metric.type}`,
      );
      return { result: WasmResult.BadArgument, id: 0 };
    }
    if (!metric) {
      metric = { name, type: kind, value: 0, values: [] };
      this.byName.set(name, metric);
    }
    this.nextId[type] += METRIC_ID_INCREMENT;
    const id = this.nextId[type];
    this.byId.set(id, metric);
    return { result: WasmResult.Ok, id };
  }

  /**
   * proxy_increment_metric: counters by offset > 0 only (else BadArgument), gauges up or down;
   * BadArgument for a histogram; NotFound for an unknown id.
   */
  increment(id: number, offset: bigint): number {
    const type = id & METRIC_TYPE_MASK;
    if (type === MetricType.Histogram || type === 3)
      return WasmResult.BadArgument;
    const m = this.byId.get(id >>> 0);
    if (!m) return WasmResult.NotFound;
    const by = Number(BigInt.asIntN(64, offset));
    if (m.type === "counter" && by <= 0) return WasmResult.BadArgument;
    m.value += by;
    if (m.type === "gauge" && m.value < 0) {
      this.onViolation(`gauge ${m.name} went below zero (${m.value})`);
    }
    return WasmResult.Ok;
  }

  /** proxy_record_metric: counter += value, gauge = value, histogram records. */
  record(id: number, value: bigint): number {
    const m = this.byId.get(id >>> 0);
    if (!m) return WasmResult.NotFound;
    const v = Number(BigInt.asUintN(64, value));
    if (m.type === "counter") m.value += v;
    else if (m.type === "gauge") m.value = v;
    else m.values.push(v);
    return WasmResult.Ok;
  }

  /** proxy_get_metric: a counter's or gauge's value; BadArgument for a histogram. */
  get(id: number): { result: number; value: number } {
    const type = id & METRIC_TYPE_MASK;
    if (type === MetricType.Histogram || type === 3)
      return { result: WasmResult.BadArgument, value: 0 };
    const m = this.byId.get(id >>> 0);
    if (!m) return { result: WasmResult.NotFound, value: 0 };
    return { result: WasmResult.Ok, value: m.value };
  }

  /** The metric named `name`, or undefined if the module never defined it. */
  named(name: string): Metric | undefined {
    return this.byName.get(name);
  }

  /** The metric named `name`; throws unless it was defined with that type. */
  typed(name: string, type: Metric["type"]): Metric {
    const m = this.byName.get(name);
    if (!m) throw new Error(`metric ${name} was never defined`);
    if (m.type !== type)
      throw new Error(`metric ${name} is a ${m.type}, not a ${type}`);
    return m;
  }

  /** Every metric: counters and gauges as numbers, histograms as their recorded values. */
  snapshot(): Record<string, number | number[]> {
    const out: Record<string, number | number[]> = {};
    for (const m of this.byName.values()) {
      out[m.name] = m.type === "histogram" ? [...m.values] : m.value;
    }
    return out;
  }
}
