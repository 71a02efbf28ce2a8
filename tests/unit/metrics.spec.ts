// The metric table: one name and one kind per stat, and the dark-response classes.

import {
  MetricKind,
  STAT_FAMILIES,
  STAT_LABELS,
  STAT_VALUES,
  Stat,
  darkStatOf,
  metricName,
  statKind,
  tagValue,
} from "../../assembly/metrics";

describe("metric table", () => {
  it("has one family, label and value per stat", () => {
    expect<i32>(STAT_FAMILIES.length).toBe(Stat.Count);
    expect<i32>(STAT_LABELS.length).toBe(Stat.Count);
    expect<i32>(STAT_VALUES.length).toBe(Stat.Count);
  });

  it("has no duplicate series", () => {
    for (let i = 0; i < Stat.Count; i++) {
      for (let j = i + 1; j < Stat.Count; j++) {
        expect<bool>(metricName("k", i) == metricName("k", j)).toBe(
          false,
          metricName("k", i),
        );
      }
    }
  });

  it("names counters *_total, makes inflight a gauge and durations histograms", () => {
    for (let i = 0; i < Stat.Count; i++) {
      const family = STAT_FAMILIES[i];
      let kind = MetricKind.Counter;
      if (family == "mirror_inflight") kind = MetricKind.Gauge;
      if (family.endsWith("_microseconds")) kind = MetricKind.Histogram;
      expect<MetricKind>(statKind(i)).toBe(kind, family);
      expect<bool>(family.endsWith("_total")).toBe(
        kind == MetricKind.Counter,
        family,
      );
    }
  });

  it("writes the target and the label as tags in the name", () => {
    expect<string>(metricName("dark", Stat.Copies)).toBe(
      "mirror_copies_total.mirror_target=.=dark;.;",
    );
    expect<string>(metricName("kitchen-next", Stat.SkipSampledOut)).toBe(
      "mirror_skipped_total.mirror_target=.=kitchen-next;.;mirror_reason=.=sampled_out;.;",
    );
    expect<string>(metricName("k", Stat.DispatchUnknownCluster)).toBe(
      "mirror_dispatch_failures_total.mirror_target=.=k;.;mirror_reason=.=unknown_cluster;.;",
    );
    expect<string>(metricName("k", Stat.Dark5xx)).toBe(
      "mirror_dark_responses_total.mirror_target=.=k;.;mirror_class=.=5xx;.;",
    );
    expect<string>(metricName("k", Stat.LiveReset)).toBe(
      "mirror_live_responses_total.mirror_target=.=k;.;mirror_class=.=reset;.;",
    );
    expect<string>(metricName("k", Stat.CompareBodyMismatch)).toBe(
      "mirror_compared_total.mirror_target=.=k;.;mirror_result=.=body_mismatch;.;",
    );
    expect<string>(metricName("k", Stat.NotComparedIncomplete)).toBe(
      "mirror_not_compared_total.mirror_target=.=k;.;mirror_reason=.=incomplete;.;",
    );
    expect<string>(metricName("k", Stat.Inflight)).toBe(
      "mirror_inflight.mirror_target=.=k;.;",
    );
    expect<string>(metricName("k", Stat.DarkDuration)).toBe(
      "mirror_dark_duration_microseconds.mirror_target=.=k;.;",
    );
  });

  it("replaces ';' in a tag value (it would end the tag)", () => {
    expect<string>(tagValue("a;b")).toBe("a_b");
    expect<string>(tagValue("outbound|80||x.ns")).toBe("outbound|80||x.ns");
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
