// The metric table: one name and one kind per stat, and the dark-response classes.

import {
  MetricKind,
  STAT_KINDS,
  STAT_NAMES,
  Stat,
  darkStatOf,
  metricName,
} from "../../assembly/metrics";

describe("metric table", () => {
  it("has one name and one kind per stat", () => {
    expect<i32>(STAT_NAMES.length).toBe(Stat.Count);
    expect<i32>(STAT_KINDS.length).toBe(Stat.Count);
  });

  it("has no duplicate names", () => {
    for (let i = 0; i < STAT_NAMES.length; i++) {
      expect<i32>(STAT_NAMES.lastIndexOf(STAT_NAMES[i])).toBe(i, STAT_NAMES[i]);
    }
  });

  it("makes *_ms a histogram, inflight a gauge and the rest counters", () => {
    for (let i = 0; i < Stat.Count; i++) {
      const name = STAT_NAMES[i];
      let kind = MetricKind.Counter;
      if (name == "inflight") kind = MetricKind.Gauge;
      if (name.endsWith("_ms")) kind = MetricKind.Histogram;
      expect<MetricKind>(STAT_KINDS[i]).toBe(kind, name);
    }
    expect<MetricKind>(STAT_KINDS[Stat.Inflight]).toBe(MetricKind.Gauge);
    expect<MetricKind>(STAT_KINDS[Stat.DarkLatency]).toBe(MetricKind.Histogram);
  });

  it("names a metric mirror.<target>.<name>", () => {
    expect<string>(metricName("dark", Stat.Mirrored)).toBe(
      "mirror.dark.mirrored",
    );
    expect<string>(metricName("kitchen-next", Stat.SkipSampledOut)).toBe(
      "mirror.kitchen-next.skipped.sampled_out",
    );
    expect<string>(metricName("k", Stat.SkipNotMatched)).toBe(
      "mirror.k.skipped.not_matched",
    );
    expect<string>(metricName("k", Stat.SkipLoop)).toBe(
      "mirror.k.skipped.loop",
    );
    expect<string>(metricName("k", Stat.SkipMethod)).toBe(
      "mirror.k.skipped.method",
    );
    expect<string>(metricName("k", Stat.SkipNoKey)).toBe(
      "mirror.k.skipped.no_key",
    );
    expect<string>(metricName("k", Stat.SkipBodyTooLarge)).toBe(
      "mirror.k.skipped.body_too_large",
    );
    expect<string>(metricName("k", Stat.SkipOverloaded)).toBe(
      "mirror.k.skipped.overloaded",
    );
    expect<string>(metricName("k", Stat.DispatchFailed)).toBe(
      "mirror.k.dispatch_failed",
    );
    expect<string>(metricName("k", Stat.Dark5xx)).toBe("mirror.k.dark.rq_5xx");
    expect<string>(metricName("k", Stat.DarkReset)).toBe(
      "mirror.k.dark.rq_reset",
    );
    expect<string>(metricName("k", Stat.Inflight)).toBe("mirror.k.inflight");
    expect<string>(metricName("k", Stat.DarkLatency)).toBe(
      "mirror.k.dark.latency_ms",
    );
  });
});

describe("darkStatOf", () => {
  it("classes a dark response by status", () => {
    const statuses: i32[] = [
      200, 204, 299, 300, 304, 399, 400, 404, 499, 500, 503, 599,
    ];
    const stats: Stat[] = [
      Stat.Dark2xx,
      Stat.Dark2xx,
      Stat.Dark2xx,
      Stat.Dark3xx,
      Stat.Dark3xx,
      Stat.Dark3xx,
      Stat.Dark4xx,
      Stat.Dark4xx,
      Stat.Dark4xx,
      Stat.Dark5xx,
      Stat.Dark5xx,
      Stat.Dark5xx,
    ];
    for (let i = 0; i < statuses.length; i++) {
      expect<Stat>(darkStatOf(statuses[i])).toBe(
        stats[i],
        statuses[i].toString(),
      );
    }
  });

  it("counts no status (reset or timeout) and nonsense statuses as reset", () => {
    const statuses: i32[] = [
      0,
      -1,
      1,
      100,
      199,
      600,
      999,
      i32.MAX_VALUE,
      i32.MIN_VALUE,
    ];
    for (let i = 0; i < statuses.length; i++) {
      expect<Stat>(darkStatOf(statuses[i])).toBe(
        Stat.DarkReset,
        statuses[i].toString(),
      );
    }
  });
});
