// The metric table: one name and one kind per stat, and the dark-response classes.

import {
  MetricKind,
  ResponseClass,
  Stat,
  baselineInfoName,
  classOf,
  darkStatOf,
  isError,
  liveStatOf,
  metricName,
  pairStatOf,
  statFamily,
  statKind,
  tagValue,
} from "../../assembly/metrics";

describe("metric table", () => {
  it("has a metric for every stat", () => {
    for (let i = 0; i < Stat.Count; i++) {
      expect<bool>(statFamily(i).startsWith("mirror_")).toBe(true);
    }
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
      const family = statFamily(i);
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
    expect<string>(metricName("k", Stat.DarkGrpcError)).toBe(
      "mirror_dark_responses_total.mirror_target=.=k;.;mirror_class=.=grpc_error;.;",
    );
    expect<string>(metricName("k", Stat.PairLiveError)).toBe(
      "mirror_pairs_total.mirror_target=.=k;.;mirror_pair=.=live_error;.;",
    );
    expect<string>(metricName("k", Stat.PairCompareBodyMismatch)).toBe(
      "mirror_pair_comparisons_total.mirror_target=.=k;.;mirror_result=.=body_mismatch;.;",
    );
    expect<string>(metricName("k", Stat.PairFaster)).toBe(
      "mirror_pair_dark_faster_microseconds.mirror_target=.=k;.;",
    );
    expect<string>(baselineInfoName("cand", "base")).toBe(
      "mirror_baseline_info.mirror_target=.=cand;.;mirror_baseline=.=base;.;",
    );
  });

  it("replaces ';' in a tag value (it would end the tag)", () => {
    expect<string>(tagValue("a;b")).toBe("a_b");
    expect<string>(tagValue("outbound|80||x.ns")).toBe("outbound|80||x.ns");
  });
});

describe("response classes", () => {
  it("classes an answer by status", () => {
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
      expect<Stat>(darkStatOf(classOf(statuses[i], -1))).toBe(
        stats[i],
        statuses[i].toString(),
      );
      expect<Stat>(liveStatOf(classOf(statuses[i], -1))).toBe(
        <Stat>(stats[i] - Stat.Dark2xx + Stat.Live2xx),
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
      expect<Stat>(darkStatOf(classOf(statuses[i], -1))).toBe(
        Stat.DarkReset,
        statuses[i].toString(),
      );
      expect<Stat>(darkStatOf(classOf(statuses[i], 14))).toBe(
        Stat.DarkReset,
        statuses[i].toString(),
      );
    }
  });

  it("classes a gRPC answer by its grpc-status: 0 by the HTTP status, any other a gRPC error", () => {
    expect<ResponseClass>(classOf(200, 0)).toBe(ResponseClass.C2xx);
    expect<ResponseClass>(classOf(200, 14)).toBe(ResponseClass.GrpcError);
    expect<ResponseClass>(classOf(200, 2)).toBe(ResponseClass.GrpcError);
    expect<ResponseClass>(classOf(200, 5)).toBe(ResponseClass.GrpcError);
    // an HTTP error is one whatever the body's protocol says
    expect<ResponseClass>(classOf(503, 0)).toBe(ResponseClass.C5xx);
    expect<ResponseClass>(classOf(404, 14)).toBe(ResponseClass.C4xx);
    expect<Stat>(darkStatOf(ResponseClass.GrpcError)).toBe(Stat.DarkGrpcError);
    expect<Stat>(liveStatOf(ResponseClass.GrpcError)).toBe(Stat.LiveGrpcError);
  });

  it("errors are 5xx, resets and gRPC errors", () => {
    expect<bool>(isError(ResponseClass.C2xx)).toBe(false);
    expect<bool>(isError(ResponseClass.C3xx)).toBe(false);
    expect<bool>(isError(ResponseClass.C4xx)).toBe(false);
    expect<bool>(isError(ResponseClass.C5xx)).toBe(true);
    expect<bool>(isError(ResponseClass.Reset)).toBe(true);
    expect<bool>(isError(ResponseClass.GrpcError)).toBe(true);
  });

  it("counts a pair by the side in error", () => {
    expect<Stat>(pairStatOf(false, false)).toBe(Stat.PairBothOk);
    expect<Stat>(pairStatOf(false, true)).toBe(Stat.PairDarkError);
    expect<Stat>(pairStatOf(true, false)).toBe(Stat.PairLiveError);
    expect<Stat>(pairStatOf(true, true)).toBe(Stat.PairBothError);
  });
});
