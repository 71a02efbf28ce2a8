/**
 * Reading the filter's metrics from the emulator as tests need them: names from scripts/metrics.ts
 * (the table the module must define), and counters read after every root context's tick, since
 * the filter adds counts up in the module and hands them to the host on its tick.
 */
import { keysOf, metricName } from "../../scripts/metrics.ts";
import type { Host } from "../../tools/emulator/index.ts";

/** The metric name the filter defines for `target` and series `key` ("copies", "skipped.method"…). */
export function stat(target: string, key: string): string {
  return metricName(target, key);
}

/** Ticks every live root context that asked for a tick: the filter flushes its counts. */
export function flush(host: Host): void {
  for (const id of host.tickPeriods.keys())
    if (host.hasContext(id)) host.tick(id);
}

/** A counter's value after a flush. */
export function counter(host: Host, name: string): number {
  flush(host);
  return host.counter(name);
}

/** A gauge's value after a flush. */
export function gauge(host: Host, name: string): number {
  flush(host);
  return host.gauge(name);
}

/** The sum of a family's series for a target ("compared" → every compared.* result). */
export function total(host: Host, target: string, prefix: string): number {
  flush(host);
  return keysOf(prefix).reduce((n, k) => n + host.counter(stat(target, k)), 0);
}
