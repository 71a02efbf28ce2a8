/**
 * The parts of `npm run report` (scripts/report/) that need no Envoy and no Prometheus:
 * quantiles and means from Envoy's detailed histogram buckets (checked against what Envoy 1.40
 * itself printed for the same buckets), parsing `/stats?format=json`, merging several Envoys,
 * objectives, the verdict's rules and exit codes, the Prometheus source's arguments; then
 * `runReport` and the CLI against fake admin APIs on loopback (unreachable, no stats, unknown
 * target, bad arguments, several --admin, --json against its schema, --watch).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { Ajv } from "ajv";
import {
  adminUrl,
  compareModes,
  latencyOf,
  meanOf,
  mergeBins,
  parseStats,
  quantileOf,
  STATS_PATH,
} from "../../scripts/report/admin.ts";
import { main, runReport, USAGE } from "../../scripts/report/cli.ts";
import { ReportError } from "../../scripts/report/exit.ts";
import { REPORT_JSON_SCHEMA } from "../../scripts/report/json.ts";
import type { Bucket, TargetStats } from "../../scripts/report/model.ts";
import {
  DEFAULT_OBJECTIVES,
  type Objectives,
  parseObjectives,
} from "../../scripts/report/objectives.ts";
import {
  parseSelector,
  parseTime,
  parseWindow,
} from "../../scripts/report/prometheus.ts";
import { HISTOGRAM_EDGES, rebin } from "../../scripts/report/text.ts";
import { exitCodeOf, judgeTarget } from "../../scripts/report/verdict.ts";
import { envoyStatName, LATENCY_BUCKETS_US } from "../../scripts/metrics.ts";

const PERCENTILES = [0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1];
const b = (lower: number, width: number, count: number): Bucket => ({
  lower,
  width,
  count,
});

// Captured from Envoy 1.40.0 (`/stats?format=json&histogram_buckets=detailed`) after 30 mirrored
// requests to a dark upstream delayed 30 ms: each histogram's `totals` and the `cumulative`
// value of its `percentiles` (P0, P25, P50, P75, P90, P95, P99, P99.5, P99.9, P100).
const ENVOY_CAPTURES: Record<
  string,
  { totals: Bucket[]; percentiles: number[] }
> = {
  "dark.latency_ms": {
    totals: [
      b(29, 1, 1),
      b(30, 1, 15),
      b(31, 1, 8),
      b(32, 1, 3),
      b(33, 1, 2),
      b(36, 1, 1),
    ],
    percentiles: [
      29.5, 30.4375, 30.875, 31.77777777777778, 32.75, 33.666666666666664, 36.5,
      36.5, 36.5, 36.5,
    ],
  },
  "live.headers_ms": {
    totals: [
      b(0, 0, 1),
      b(1, 0.1, 10),
      b(2, 0.1, 14),
      b(4, 0.1, 2),
      b(5, 0.1, 2),
      b(14, 1, 1),
    ],
    percentiles: [
      0, 1.0636363636363637, 2.026666666666667, 2.08, 4.066666666666666,
      5.066666666666666, 14.5, 14.5, 14.5, 14.5,
    ],
  },
};

describe("quantiles and means from detailed buckets", () => {
  for (const [name, capture] of Object.entries(ENVOY_CAPTURES))
    it(`equal Envoy 1.40's own percentiles of ${name}`, () => {
      const ours = PERCENTILES.map((q) => quantileOf(capture.totals, q));
      for (let i = 0; i < PERCENTILES.length; i++)
        assert.ok(
          Math.abs(ours[i] - capture.percentiles[i]) < 1e-9,
          `P${PERCENTILES[i] * 100}: ours ${ours[i]}, Envoy ${capture.percentiles[i]}`,
        );
    });

  it("mean takes each bin's samples at its midpoint", () => {
    assert.equal(meanOf([b(10, 1, 1), b(20, 1, 3)]), (10.5 + 3 * 20.5) / 4);
    assert.equal(meanOf([b(0, 0, 5)]), 0);
    assert.ok(Number.isNaN(meanOf([])));
  });

  it("edge cases: empty, one sample, a zero-width bin, q beyond the data", () => {
    assert.ok(Number.isNaN(quantileOf([], 0.5)));
    assert.equal(quantileOf([b(150, 10, 1)], 0.5), 155);
    assert.equal(quantileOf([b(0, 0, 3), b(7, 1, 1)], 0.5), 0);
    assert.equal(quantileOf([b(0, 0, 3), b(7, 1, 1)], 1), 7.5);
    // bins with no sample are skipped
    assert.equal(quantileOf([b(1, 1, 0), b(9, 1, 1)], 0), 9.5);
  });

  it("latencyOf sorts the bins and gives count, mean, p50/p95/p99", () => {
    const l = latencyOf([b(200, 10, 1), b(10, 1, 19)]);
    assert.equal(l.count, 20);
    assert.deepEqual(
      l.buckets.map((x) => x.lower),
      [10, 200],
    );
    assert.equal(l.p50, quantileOf(l.buckets, 0.5));
    assert.equal(l.p95, 10 + 19 / 20);
    assert.equal(l.p99, 205);
    assert.equal(l.mean, (19 * 10.5 + 205) / 20);
  });

  it("the text histogram's rows are the Prometheus buckets, and rebin puts each Envoy bin whole into one", () => {
    assert.deepEqual(HISTOGRAM_EDGES, [
      0,
      ...LATENCY_BUCKETS_US.map((us) => us / 1000),
    ]);
    const counts = rebin([
      b(0, 0, 2),
      b(0.049, 0.001, 1),
      b(1, 0.1, 3),
      b(2.4, 0.1, 4),
      b(2.5, 0.1, 5),
      b(49, 1, 6),
      b(50, 1, 7),
      b(99, 1, 1),
      b(149.99999999999997, 10, 9),
      b(70000, 1000, 8),
    ]);
    const at = (edge: number) => counts[HISTOGRAM_EDGES.indexOf(edge)];
    assert.equal(at(0), 3);
    assert.equal(at(1), 7);
    assert.equal(at(2.5), 5);
    assert.equal(at(25), 6);
    assert.equal(at(50), 7);
    assert.equal(at(75), 1);
    assert.equal(at(150), 9);
    assert.equal(at(60000), 8);
    assert.equal(
      counts.reduce((n, c) => n + c, 0),
      2 + 1 + 3 + 4 + 5 + 6 + 7 + 1 + 9 + 8,
    );
  });

  it("several Envoys' bins add up bin by bin", () => {
    assert.deepEqual(
      mergeBins([
        [b(30, 1, 2), b(150, 10, 1)],
        [b(0, 0, 4), b(30, 1, 3)],
      ]),
      [b(0, 0, 4), b(30, 1, 5), b(150, 10, 1)],
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Stats JSON as Envoy 1.40 writes it.

interface Fake {
  counters?: Record<string, number>;
  histograms?: Record<string, Bucket[]>;
}

/** `/stats?format=json&histogram_buckets=detailed` for targets → {counters, histograms}. */
function statsJson(
  targets: Record<string, Fake>,
  extra: Array<{ name: string; value: number }> = [],
) {
  const stats: unknown[] = [...extra];
  const details: unknown[] = [];
  for (const [t, f] of Object.entries(targets)) {
    for (const [k, v] of Object.entries(f.counters ?? {}))
      stats.push({ name: envoyStatName(t, k), value: v });
    // given in milliseconds, recorded by the filter in microseconds
    for (const [k, v] of Object.entries(f.histograms ?? {}))
      details.push({
        name: envoyStatName(t, k),
        totals: v.map((x) => ({
          lower_bound: x.lower * 1000,
          width: x.width * 1000,
          count: x.count,
        })),
        intervals: [],
        percentiles: [],
      });
  }
  stats.push({
    histograms: {
      supported_percentiles: PERCENTILES.map((q) => q * 100),
      details,
    },
  });
  return { stats };
}

/**
 * A target with `n` answers on each side, `darkMs` / `liveMs` each, as `n` pairs that both
 * answered without error and match, each dark − live = darkMs − liveMs; and the given extras.
 */
function healthy(
  n: number,
  darkMs = 10,
  liveMs = 5,
  counters: Record<string, number> = {},
): Fake {
  const d = darkMs - liveMs;
  return {
    counters: {
      copies: n,
      inflight: 0,
      "skipped.sampled_out": 3,
      "skipped.method": 2,
      "dispatch_failures.unknown_cluster": 0,
      "live.2xx": n,
      "dark.2xx": n,
      "compared.match": n,
      "compared.status_mismatch": 0,
      "compared.body_mismatch": 0,
      "not_compared.ignored_status": 0,
      "not_compared.incomplete": 0,
      "pairs.both_ok": n,
      "pair_compared.match": n,
      ...counters,
    },
    histograms: {
      "dark.duration": [b(darkMs, 1, n)],
      "live.duration": [b(liveMs, 0.1, n)],
      [d >= 0 ? "pair.slower" : "pair.faster"]: [b(Math.abs(d), 0.1, n)],
    },
  };
}

/** The seed tutorial's absolute gate, the relative checks off: the objectives files of before. */
const ABSOLUTE: Partial<Objectives> = {
  max_dark_mean_ms: 50,
  max_dark_p95_ms: 100,
  max_dark_error_pct: 1,
  max_mismatch_pct: 1,
  max_latency_shift_pct: null,
  max_latency_shift_floor_ms: null,
  max_dark_error_excess_pct: null,
  max_pair_mismatch_pct: null,
  max_capped_pct: null,
};

describe("parseStats", () => {
  it("reads every target's counters and latency, ignoring other stats", () => {
    const json = statsJson(
      {
        "kitchen-next": healthy(40, 30, 2, {
          "dark.2xx": 36,
          "dark.5xx": 3,
          "dark.reset": 1,
          "compared.match": 35,
          "compared.status_mismatch": 4,
          "compared.body_mismatch": 1,
        }),
        "outbound|8080||menu.dark.svc": healthy(5),
      },
      [{ name: "cluster.kitchen.upstream_rq_total", value: 99 }],
    );
    const [a, menu] = parseStats(json);
    assert.equal(a.target, "kitchen-next");
    assert.equal(menu.target, "outbound|8080||menu.dark.svc");
    assert.equal(a.copies, 40);
    assert.equal(a.skipped, 5);
    // skipped for their method (2) are turned away; sampled out (3) are not
    assert.equal(a.turnedAway, 2);
    assert.equal(a.dark.total, 40);
    assert.equal(a.dark.errors, 4);
    assert.equal(a.dark.errorPct, 10);
    assert.equal(a.live.errorPct, 0);
    assert.equal(a.compared, 40);
    assert.equal(a.mismatches, 5);
    assert.equal(a.mismatchPct, 12.5);
    assert.equal(a.counts["compared.status_mismatch"], 4);
    assert.equal(a.instances, 1);
    assert.equal(a.dark.latency.count, 40);
    assert.equal(a.dark.latency.mean, 30.5);
    assert.equal(menu.live.total, 5);
  });

  it("a target with no answers yet has NaN rates and empty latencies", () => {
    const [t] = parseStats(
      statsJson({ k: { counters: { copies: 0 }, histograms: {} } }),
    );
    assert.equal(t.dark.total, 0);
    assert.ok(Number.isNaN(t.dark.errorPct));
    assert.equal(t.dark.latency.count, 0);
    assert.ok(Number.isNaN(t.dark.latency.p95));
  });

  it("refuses histograms without detailed buckets (an Envoy ignoring histogram_buckets)", () => {
    const json = {
      stats: [
        { name: envoyStatName("k", "copies"), value: 1 },
        {
          histograms: {
            supported_quantiles: [50],
            computed_quantiles: [
              { name: envoyStatName("k", "dark.duration"), values: [] },
            ],
          },
        },
      ],
    };
    assert.throws(
      () => parseStats(json),
      (e: unknown) =>
        e instanceof ReportError &&
        e.code === 3 &&
        /histogram_buckets=detailed/.test(e.message),
    );
  });

  it("compareModes reads the mirror's plugin JSON anywhere in a config dump", () => {
    const filter = (plugin: unknown) => ({
      name: "envoy.filters.http.wasm",
      typed_config: {
        config: {
          root_id: "mirror",
          configuration: {
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            value: JSON.stringify(plugin),
          },
        },
      },
    });
    const dump = {
      configs: [
        {
          static_listeners: [
            {
              listener: {
                http_filters: [
                  filter({ cluster: "kitchen-next", percentage: 10 }),
                  filter({
                    targets: [
                      { cluster: "outbound|80||menu.dark", percentage: 5 },
                    ],
                    compare: { status: "off", body: true },
                  }),
                  filter({
                    targets: [{ cluster: "kitchen-json", percentage: 5 }],
                    compare: { body: "json" },
                  }),
                  { root_id: "other", configuration: { value: "{}" } },
                ],
              },
            },
          ],
        },
      ],
    };
    const modes = compareModes(dump);
    assert.deepEqual(modes.get("kitchen-next"), {
      status: "exact",
      body: "off",
    });
    assert.deepEqual(modes.get("outbound|80||menu.dark"), {
      status: "off",
      body: "exact",
    });
    assert.deepEqual(modes.get("kitchen-json"), {
      status: "exact",
      body: "json",
    });
    assert.equal(modes.size, 3);
  });
});

// ---------------------------------------------------------------------------------------------
// Objectives, verdicts, exit codes.

describe("objectives", () => {
  it("defaults: the relative checks on, the absolute limits off; a file overrides any of them", () => {
    assert.deepEqual(parseObjectives({}), DEFAULT_OBJECTIVES);
    assert.deepEqual(DEFAULT_OBJECTIVES, {
      max_latency_shift_pct: 10,
      max_latency_shift_floor_ms: 5,
      min_pairs_p99: 1000,
      max_dark_error_excess_pct: 0.5,
      max_pair_mismatch_pct: 0.25,
      max_capped_pct: 5,
      fail_confidence: 0.95,
      pass_confidence: 0.7,
      max_dark_mean_ms: null,
      max_dark_p95_ms: null,
      max_dark_p99_ms: null,
      max_dark_error_pct: null,
      max_mismatch_pct: null,
      max_dispatch_failures: 0,
      min_samples: 20,
    });
    // an objectives file of the absolute gate still works, the relative checks on beside it
    const old = parseObjectives({
      max_dark_mean_ms: 50,
      max_dark_p95_ms: 100,
      max_dark_p99_ms: null,
      max_dark_error_pct: 1,
      max_mismatch_pct: 1,
      max_dispatch_failures: 0,
      min_samples: 20,
    });
    assert.equal(old.max_dark_p95_ms, 100);
    assert.equal(old.max_dark_error_excess_pct, 0.5);
    const relative = parseObjectives({
      max_latency_shift_pct: null,
      min_pairs_p99: null,
      fail_confidence: 0.99,
      pass_confidence: 0.5,
    });
    assert.equal(relative.max_latency_shift_pct, null);
    assert.equal(relative.fail_confidence, 0.99);
    const o = parseObjectives({
      max_dark_p95_ms: 250,
      max_mismatch_pct: null,
      min_samples: 5,
    });
    assert.equal(o.max_dark_p95_ms, 250);
    assert.equal(o.max_mismatch_pct, null);
    assert.equal(o.min_samples, 5);
    assert.equal(o.max_dark_mean_ms, null);
    // 0 is a limit: none allowed
    assert.equal(
      parseObjectives({ max_dark_error_pct: 0 }).max_dark_error_pct,
      0,
    );
  });

  const refused: Record<string, [unknown, RegExp]> = {
    "not an object": [[1], /must be a JSON object/],
    "unknown field": [{ max_p95: 1 }, /unknown field "max_p95"/],
    "negative limit": [{ max_dark_mean_ms: -1 }, /max_dark_mean_ms must be/],
    "string limit": [{ max_dark_error_pct: "1%" }, /max_dark_error_pct/],
    "zero min_samples": [{ min_samples: 0 }, /min_samples must be/],
    "fractional min_samples": [{ min_samples: 2.5 }, /min_samples must be/],
    "fractional max_dispatch_failures": [
      { max_dispatch_failures: 0.5 },
      /max_dispatch_failures must be a whole number/,
    ],
    "fractional min_pairs_p99": [
      { min_pairs_p99: 99.5 },
      /min_pairs_p99 must be a whole number/,
    ],
    "a confidence of 1": [
      { fail_confidence: 1 },
      /fail_confidence must be a number from 0\.5 up to \(not including\) 1, got 1/,
    ],
    "a confidence given in percent": [
      { pass_confidence: 70 },
      /pass_confidence must be a number from 0\.5/,
    ],
    "a null confidence": [{ pass_confidence: null }, /pass_confidence must be/],
    "a near miss, with the likely name": [
      { max_latency_shift_percent: 10 },
      /unknown field "max_latency_shift_percent"; did you mean "max_latency_shift_pct"\?/,
    ],
  };
  for (const [name, [given, message]] of Object.entries(refused))
    it(`refuses ${name}`, () =>
      assert.throws(
        () => parseObjectives(given),
        (e: unknown) =>
          e instanceof ReportError && e.code === 4 && message.test(e.message),
      ));
});

describe("judgeTarget and exitCodeOf: the absolute limits", () => {
  const target = (f: Fake) => parseStats(statsJson({ t: f }))[0];
  const cases: Record<
    string,
    {
      stats: TargetStats;
      objectives?: Partial<Objectives>;
      outcome: string;
      failed?: string[];
      lacking?: string[];
    }
  > = {
    "a healthy dark side passes": {
      stats: target(healthy(40, 20)),
      outcome: "pass",
    },
    "a slow dark side fails mean and p95": {
      stats: target(healthy(40, 150)),
      outcome: "fail",
      failed: ["dark mean latency", "dark p95 latency"],
    },
    "a value equal to its limit passes (≤): a mean of exactly 50 ms": {
      stats: target({
        ...healthy(40),
        histograms: { "dark.duration": [b(50, 0, 40)] },
      }),
      outcome: "pass",
    },
    "a limit of 0 fails on the first bad sample, before min_samples": {
      stats: target(healthy(5, 10, 5, { "dark.2xx": 4, "dark.5xx": 1 })),
      objectives: { max_dark_error_pct: 0 },
      outcome: "fail",
      failed: ["dark error rate"],
      lacking: ["dark mean latency", "dark p95 latency", "mismatch rate"],
    },
    "a limit of 0 without a bad sample still needs min_samples": {
      stats: target(healthy(5)),
      objectives: { max_dark_error_pct: 0 },
      outcome: "not enough data",
      lacking: [
        "dark mean latency",
        "dark p95 latency",
        "dark error rate",
        "mismatch rate",
      ],
    },
    "a limit of 0 is met by none at all": {
      stats: target(healthy(40)),
      objectives: { max_dark_error_pct: 0, max_mismatch_pct: 0 },
      outcome: "pass",
    },
    "a dark cluster that does not exist fails on its first copy, not enough data or not":
      {
        stats: target({
          counters: {
            copies: 0,
            "dispatch_failures.unknown_cluster": 3,
            "skipped.sampled_out": 2,
          },
        }),
        outcome: "fail",
        failed: ["dispatch failures"],
        lacking: [
          "copies dispatched",
          "dark mean latency",
          "dark p95 latency",
          "dark error rate",
          "mismatch rate",
        ],
      },
    "copies without a healthy host fail too; max_dispatch_failures can allow some":
      {
        stats: target(
          healthy(40, 10, 5, { "dispatch_failures.no_healthy_host": 2 }),
        ),
        outcome: "fail",
        failed: ["dispatch failures"],
      },
    "max_dispatch_failures allows that many": {
      stats: target(
        healthy(40, 10, 5, { "dispatch_failures.no_healthy_host": 2 }),
      ),
      objectives: { max_dispatch_failures: 2 },
      outcome: "pass",
    },
    "no copy while min_samples requests were turned away fails, naming why": {
      stats: target({
        counters: {
          copies: 0,
          "skipped.no_key": 15,
          "skipped.method": 10,
          "skipped.sampled_out": 100,
          "skipped.not_matched": 100,
        },
      }),
      outcome: "fail",
      failed: ["copies dispatched"],
      lacking: [
        "dark mean latency",
        "dark p95 latency",
        "dark error rate",
        "mismatch rate",
      ],
    },
    "no copy with only sampled-out and unmatched requests is not enough data": {
      stats: target({
        counters: {
          copies: 0,
          "skipped.sampled_out": 500,
          "skipped.not_matched": 50,
          "skipped.method": 19,
        },
      }),
      outcome: "not enough data",
      lacking: [
        "copies dispatched",
        "dark mean latency",
        "dark p95 latency",
        "dark error rate",
        "mismatch rate",
      ],
    },
    "a tail over p95 but not the mean fails p95 only": {
      stats: target({
        ...healthy(40),
        histograms: { "dark.duration": [b(5, 1, 37), b(300, 10, 3)] },
      }),
      outcome: "fail",
      failed: ["dark p95 latency"],
    },
    "dark 5xx and resets count as errors": {
      stats: target(
        healthy(100, 10, 5, {
          "dark.2xx": 98,
          "dark.5xx": 1,
          "dark.reset": 1,
        }),
      ),
      outcome: "fail",
      failed: ["dark error rate"],
    },
    "2 errors in 200 are 1%: at the limit, which passes": {
      stats: target(healthy(200, 10, 5, { "dark.2xx": 198, "dark.5xx": 2 })),
      outcome: "pass",
    },
    "4xx are not errors": {
      stats: target(healthy(100, 10, 5, { "dark.2xx": 50, "dark.4xx": 50 })),
      outcome: "pass",
    },
    "every result but match is a mismatch: 3 of 200 is over 1%": {
      stats: target(
        healthy(200, 10, 5, {
          "compared.match": 197,
          "compared.status_mismatch": 1,
          "compared.body_mismatch": 1,
          "compared.header_mismatch": 1,
        }),
      ),
      outcome: "fail",
      failed: ["mismatch rate"],
    },
    "below min_samples nothing is judged": {
      stats: target(healthy(19, 500, 5, { "dark.2xx": 0, "dark.5xx": 19 })),
      outcome: "not enough data",
      lacking: [
        "dark mean latency",
        "dark p95 latency",
        "dark error rate",
        "mismatch rate",
      ],
    },
    "a failure wins over not enough data": {
      stats: target(healthy(30, 500, 5, { "compared.match": 3 })),
      outcome: "fail",
      failed: ["dark mean latency", "dark p95 latency"],
      lacking: ["mismatch rate"],
    },
    "latency samples lagging behind the counters are not enough data": {
      stats: target({
        ...healthy(30),
        histograms: { "dark.duration": [b(10, 1, 4)] },
      }),
      outcome: "not enough data",
      lacking: ["dark mean latency", "dark p95 latency"],
    },
    "a null limit is not judged, min_samples can be lowered": {
      stats: target(healthy(5, 150)),
      objectives: {
        max_dark_mean_ms: null,
        max_dark_p95_ms: null,
        min_samples: 5,
      },
      outcome: "pass",
    },
    "p99 is judged when set": {
      stats: target({
        ...healthy(100),
        histograms: { "dark.duration": [b(5, 1, 98), b(90, 1, 2)] },
      }),
      objectives: { max_dark_p99_ms: 50 },
      outcome: "fail",
      failed: ["dark p99 latency"],
    },
  };
  for (const [name, c] of Object.entries(cases))
    it(name, () => {
      const v = judgeTarget(
        c.stats,
        parseObjectives({ ...ABSOLUTE, ...c.objectives }),
      );
      assert.equal(v.checks[0].name, "copies dispatched");
      const by = (o: string) =>
        v.checks.filter((x) => x.outcome === o).map((x) => x.name);
      assert.equal(v.outcome, c.outcome, JSON.stringify(v.checks));
      assert.deepEqual(by("fail"), c.failed ?? []);
      assert.deepEqual(by("not enough data"), c.lacking ?? []);
    });

  it("the checks name the reasons: dispatch failures with their meaning, copies with the skips", () => {
    const typo = judgeTarget(
      target({
        counters: {
          copies: 0,
          "dispatch_failures.unknown_cluster": 30,
          "skipped.method": 4,
        },
      }),
      parseObjectives(ABSOLUTE),
    );
    const by = (id: string) => typo.checks.find((c) => c.id === id)!;
    assert.equal(
      by("max_dispatch_failures").detail,
      "unknown_cluster 30 (no such cluster in this Envoy (BadArgument))",
    );
    assert.equal(by("copies").outcome, "fail");
    assert.equal(
      by("copies").detail,
      "34 requests turned away: unknown_cluster 30, method 4",
    );
    assert.deepEqual(
      [by("copies").value, by("copies").op, by("copies").limit],
      [0, ">=", 1],
    );
  });

  it("exit code: 1 if any target fails, else 2 if any lacks data, else 0", () => {
    const v = (outcome: "pass" | "fail" | "not enough data") => ({
      target: "t",
      outcome,
      checks: [],
    });
    assert.equal(exitCodeOf([v("pass"), v("pass")]), 0);
    assert.equal(exitCodeOf([v("pass"), v("not enough data")]), 2);
    assert.equal(exitCodeOf([v("not enough data"), v("fail")]), 1);
  });
});

// ---------------------------------------------------------------------------------------------
// runReport and the CLI against a fake admin.

/** An admin API on 127.0.0.1 answering `routes` (path → [status, body]); 404 elsewhere. */
async function fakeAdmin(
  routes: Record<string, [number, string]>,
): Promise<{ url: string; hits: string[]; close: () => Promise<void> }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? "");
    const [status, body] = routes[req.url ?? ""] ?? [404, "no such path"];
    res.writeHead(status, { "content-type": "application/json" });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** A Writable collecting what is written. */
function sink(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as Writable & { text: () => string };
  w.text = () => chunks.join("");
  return w;
}

describe("runReport", () => {
  it("prints both sides, the pairs, the histogram and the verdict; 0 when every check passes", async (t) => {
    const admin = await fakeAdmin({
      [STATS_PATH]: [
        200,
        JSON.stringify(
          statsJson({
            "kitchen-next": healthy(1200, 30.5, 30),
            other: healthy(1200, 9, 10),
          }),
        ),
      ],
      "/config_dump": [200, "{}"],
    });
    t.after(admin.close);
    const r = await runReport({ admin: admin.url, settleMs: 0 });
    assert.equal(r.code, 0, r.text);
    assert.deepEqual(
      r.targets.map((x) => x.target),
      ["kitchen-next", "other"],
    );
    assert.match(
      r.text,
      /^Mirror report: live vs dark, from Envoy's admin http:\/\/127\.0\.0\.1:\d+ at \S+ \(counted since Envoy started\)\n/,
    );
    assert.match(
      r.text,
      /\nRelative \(dark vs live, pair by pair\): latency shift p50\/p95\/p99 \(p99 from 1000 pairs\) ≤ 10% of live's, at least 5 ms, dark error excess ≤ 0\.5%, pair mismatches ≤ 0\.25%, sample bias ≤ 5% capped; fails when beyond at 95% confidence, passes when within at 70% \(intervals: \[lower at 95%, upper at 70%\]\)\.\nAbsolute: dispatch failures ≤ 0; at least 1 copy; each absolute statistic on at least 20 samples\.\n/,
    );
    assert.match(
      r.text,
      /Target kitchen-next: 1200 copies, 0 in flight, 5 skipped, 0 dispatch failures \(1 Envoy\)\n {2}skipped: sampled_out 3, method 2\n/,
    );
    assert.match(r.text, /mean latency\s+30\.1 ms\s+31\.0 ms/);
    assert.match(
      r.text,
      /pairs 1200: both ok 1200, only dark erred 0, only live erred 0, both erred 0\n/,
    );
    assert.match(
      r.text,
      /dark − live latency over 1200 pairs: p50 \+0\.5 ms, p95 \+0\.6 ms, p99 \+0\.6 ms\n/,
    );
    assert.match(r.text, /latency ms\s+live\s+dark/);
    assert.match(r.text, /pass {2}copies dispatched\s+1200 ≥ 1\n/);
    assert.match(r.text, /pass {2}dispatch failures\s+0 ≤ 0\n/);
    assert.match(
      r.text,
      /pass {2}sample bias {9}0\.00% of 1200 sampled requests turned away by overloaded or over_budget ≤ 5%\n/,
    );
    // effect [lower at 95 %, upper at 70 %] ≤ tolerance (pairs; the effect 80 % of runs catch)
    assert.match(
      r.text,
      /pass {2}p50 latency shift {3}\+0\.5 ms \[\+0\.5, \+0\.6\] ≤ 5\.0 ms \(1200 pairs with both latencies; detects ≥ 5\.\d ms\)\n/,
    );
    assert.match(
      r.text,
      /pass {2}dark error excess {3}0\.00% \[−0\.22, \+0\.02\] ≤ 0\.5% \(1200 pairs; detects ≥ 1\.32%\)\n/,
    );
    assert.match(
      r.text,
      /pass {2}pair mismatches {5}0\.00% \[0\.00, 0\.10\] ≤ 0\.25% \(1200 pairs compared; detects ≥ 0\.76%\)\n/,
    );
    assert.match(r.text, /Result: PASS \(exit 0\)\n$/);
  });

  it("names each failed check in the result line, with its effect, interval and tolerance", async (t) => {
    const admin = await fakeAdmin({
      [STATS_PATH]: [
        200,
        JSON.stringify(
          statsJson({
            "kitchen-next": healthy(1200, 150, 2, {
              "pairs.both_ok": 1176,
              "pairs.dark_error": 24,
              "dark.5xx": 24,
              "dark.2xx": 1176,
            }),
          }),
        ),
      ],
    });
    t.after(admin.close);
    const r = await runReport({ admin: admin.url, settleMs: 0 });
    assert.equal(r.code, 1);
    assert.match(
      r.text,
      /Result: FAIL \(exit 1\): kitchen-next p50 latency shift \+148\.0 ms \[\+148\.0, \+148\.1\] > 5\.0 ms; kitchen-next p95 latency shift \+148\.1 ms \[\+148\.0, \+148\.1\] > 5\.0 ms; kitchen-next p99 latency shift \+148\.1 ms \[\+148\.0, \+148\.1\] > 5\.0 ms; kitchen-next dark error excess \+2\.00% \[\+1\.39, \+2\.22\] > 0\.5%\n$/,
    );
  });

  it("too few pairs: not enough data, with the pairs that would decide each check", async (t) => {
    const admin = await fakeAdmin({
      [STATS_PATH]: [
        200,
        JSON.stringify(
          statsJson({
            "kitchen-next": healthy(300, 10, 10),
            "outbound|80||menu.dark": healthy(3),
          }),
        ),
      ],
    });
    t.after(admin.close);
    const one = await runReport({
      admin: admin.url,
      target: "kitchen-next",
      settleMs: 0,
    });
    assert.equal(one.code, 2, one.text);
    assert.match(
      one.text,
      /n\/a {3}p99 latency shift {3}not enough data: 300 of the 1000 pairs with both latencies it is judged from\n/,
    );
    assert.match(
      one.text,
      /n\/a {3}pair mismatches {5}0\.00% \[0\.00, 0\.40\] vs 0\.25% \(300 pairs compared; detects ≥ \d\.\d\d%; ≈ 180 more pairs would decide it\)\n/,
    );
    assert.match(
      one.text,
      /Result: NOT ENOUGH DATA \(exit 2\): kitchen-next p99 latency shift \(300 of the 1000 pairs with both latencies it needs\), pair mismatches \(≈ 180 more pairs\)\n$/,
    );
  });

  it("--target picks one by its cluster name; an unknown one is exit 3 naming the known ones", async (t) => {
    const admin = await fakeAdmin({
      [STATS_PATH]: [
        200,
        JSON.stringify(
          statsJson({
            "kitchen-next": healthy(40),
            "outbound|80||menu.dark": healthy(3),
          }),
        ),
      ],
    });
    t.after(admin.close);
    const one = await runReport({
      admin: admin.url,
      target: "outbound|80||menu.dark",
      settleMs: 0,
      objectives: ABSOLUTE,
    });
    assert.equal(one.code, 2);
    assert.deepEqual(
      one.targets.map((x) => x.target),
      ["outbound|80||menu.dark"],
    );
    assert.match(
      one.text,
      /Result: NOT ENOUGH DATA \(exit 2\): outbound\|80\|\|menu\.dark has 3 of 20 dark latency samples, 3 of 20 dark answers, 3 of 20 compared requests\n$/,
    );
    const none = await runReport({
      admin: admin.url,
      target: "nope",
      settleMs: 0,
    });
    assert.equal(none.code, 3);
    assert.match(
      none.text,
      /no stats for target "nope".*targets: kitchen-next, outbound\|80\|\|menu\.dark/,
    );
  });

  it("waits (up to settleMs) for the histograms to catch up with the counters", async (t) => {
    let reads = 0;
    const server = http.createServer((req, res) => {
      if (req.url !== STATS_PATH) return res.writeHead(404).end();
      reads++;
      // the first two reads are before a stats flush: counters ahead of the histogram
      const f = healthy(40);
      if (reads <= 2) f.histograms!["dark.duration"] = [b(10, 1, 30)];
      res.end(JSON.stringify(statsJson({ k: f })));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const r = await runReport({
      admin: url,
      settleMs: 3000,
      objectives: ABSOLUTE,
    });
    assert.equal(reads, 3);
    assert.equal(r.targets[0].dark.latency.count, 40);
    assert.equal(r.code, 0, r.text);
    reads = 0;
    const early = await runReport({ admin: url, settleMs: 0 });
    assert.equal(early.targets[0].dark.latency.count, 30);
    assert.match(
      early.text,
      /latency histograms hold 30 of 40 dark answers with a status: Envoy merges them at each stats flush/,
    );
  });

  const noReport: Record<
    string,
    { routes?: Record<string, [number, string]>; message: RegExp }
  > = {
    "an unreachable admin": {
      message:
        /cannot reach Envoy's admin at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    },
    "an Envoy without the mirror's stats": {
      routes: { [STATS_PATH]: [200, JSON.stringify(statsJson({}))] },
      message: /shows no mirror stats \(wasmcustom\.mirror_\*\)/,
    },
    "an admin answering an error": {
      routes: { [STATS_PATH]: [503, "busy"] },
      message:
        /Envoy's admin at http:\/\/127\.0\.0\.1:\d+ answered \/stats with 503: busy/,
    },
    "something that is not Envoy's admin": {
      routes: { [STATS_PATH]: [200, "<html>"] },
      message: /did not answer JSON/,
    },
  };
  for (const [name, c] of Object.entries(noReport))
    it(`${name} is exit 3 with a message`, async (t) => {
      let url = `http://127.0.0.1:${await closedPort()}`;
      if (c.routes) {
        const admin = await fakeAdmin(c.routes);
        t.after(admin.close);
        url = admin.url;
      }
      const r = await runReport({ admin: url, settleMs: 0 });
      assert.equal(r.code, 3);
      assert.match(r.text, c.message);
    });

  it("adminUrl takes a URL, host:port or a port", () => {
    assert.equal(adminUrl("http://127.0.0.1:9901/"), "http://127.0.0.1:9901");
    assert.equal(adminUrl("localhost:9901"), "http://localhost:9901");
    assert.equal(adminUrl("9901"), "http://127.0.0.1:9901");
    assert.equal(
      adminUrl("https://envoy.example/admin/"),
      "https://envoy.example/admin",
    );
    assert.throws(() => adminUrl("ftp://x"), /must be http/);
  });
});

describe("the Prometheus source's arguments", () => {
  it("--selector takes label matchers, with or without braces", () => {
    assert.deepEqual(parseSelector('{namespace="shop", app=~"kitchen.*"}'), [
      'namespace="shop"',
      'app=~"kitchen.*"',
    ]);
    assert.deepEqual(parseSelector('pod!="a\\"b"'), ['pod!="a\\"b"']);
    assert.deepEqual(parseSelector("{}"), []);
    for (const bad of [
      "namespace=shop",
      '{namespace="shop"',
      '{mirror_target="x"}',
      "{,}",
    ])
      assert.throws(
        () => parseSelector(bad),
        (e: unknown) => e instanceof ReportError && e.code === 4,
        bad,
      );
  });

  it("--window takes a Prometheus duration above 0; --at a time", () => {
    for (const w of ["10m", "1h30m", "90s", "2500ms"])
      assert.equal(parseWindow(w), w);
    for (const w of ["0s", "10", "ten minutes", "-5m", ""])
      assert.throws(
        () => parseWindow(w),
        /--window: must be a Prometheus duration/,
        w,
      );
    assert.equal(
      parseTime("1700000000").toISOString(),
      "2023-11-14T22:13:20.000Z",
    );
    assert.equal(
      parseTime("2025-06-01T12:00:00Z").toISOString(),
      "2025-06-01T12:00:00.000Z",
    );
    assert.throws(() => parseTime("noon"), /--at: must be a time/);
  });
});

describe("the Prometheus source against a fake Prometheus API", () => {
  /** Answers /api/v1/query with `answer(query)`: [status, body]. */
  async function fakePrometheus(answer: (query: string) => [number, object]) {
    const queries: string[] = [];
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "", "http://x");
      if (url.pathname !== "/api/v1/query") return res.writeHead(404).end();
      const q = url.searchParams.get("query") ?? "";
      queries.push(q);
      const [status, body] = answer(q);
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as net.AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      queries,
      close: () => new Promise<void>((r) => server.close(() => r())),
    };
  }
  const vector = (result: unknown[]) =>
    [200, { status: "success", data: { resultType: "vector", result } }] as [
      number,
      object,
    ];

  const cases: Record<string, [(q: string) => [number, object], RegExp]> = {
    "a refused query is exit 3 naming Prometheus' reason": [
      () => [
        400,
        {
          status: "error",
          errorType: "bad_data",
          error: "parse error at char 3",
        },
      ],
      /Prometheus at http:\/\/127\.0\.0\.1:\d+ refused a query \(400: parse error at char 3\): sum by/,
    ],
    "metrics without labels (no stats tags in the sidecars) are named as such":
      [
        (q) =>
          q.includes('__name__=~"mirror_copies_total_.+"')
            ? vector([{ metric: {}, value: [0, "5"] }])
            : vector([]),
        /has the mirror's metrics without labels .*stats_config of envoy\/envoy\.yaml.*istio\/kitchen\.yaml/,
      ],
    "no mirror metrics at all": [
      () => vector([]),
      /\(\{namespace="shop"\}\) has no mirror_copies_total series in the 10m before \S+: is it scraping/,
    ],
  };
  for (const [name, [answer, message]] of Object.entries(cases))
    it(name, async (t) => {
      const p = await fakePrometheus(answer);
      t.after(p.close);
      const r = await runReport({
        prometheus: p.url,
        selector: '{namespace="shop"}',
      });
      assert.equal(r.code, 3, r.text);
      assert.match(r.text, message);
      // every query carries the selector
      assert.ok(
        p.queries.every(
          (q) => q.includes('namespace="shop"') || q.includes("__name__"),
        ),
        p.queries.join("\n"),
      );
    });

  it("one target's figures come from the gates' expressions, latency bins from the le buckets", async (t) => {
    const target = { mirror_target: "kitchen-next" };
    const p = await fakePrometheus((q) => {
      if (q.startsWith("sum by (mirror_target) (increase(mirror_copies_total"))
        return vector([{ metric: target, value: [0, "40"] }]);
      if (
        q.startsWith(
          "sum by (mirror_target, mirror_class) (increase(mirror_dark_responses_total",
        )
      )
        return vector([
          { metric: { ...target, mirror_class: "2xx" }, value: [0, "40"] },
        ]);
      if (
        q.startsWith(
          "sum by (mirror_target, le) (increase(mirror_dark_duration",
        )
      )
        // in any order: "+Inf" first (it is no number to Number())
        return vector([
          { metric: { ...target, le: "+Inf" }, value: [0, "40"] },
          { metric: { ...target, le: "25000" }, value: [0, "30"] },
          { metric: { ...target, le: "50000" }, value: [0, "40"] },
        ]);
      if (
        q.startsWith(
          "count by (mirror_target) (count by (mirror_target, instance)",
        )
      )
        return vector([{ metric: target, value: [0, "3"] }]);
      // the per-target expressions
      if (
        q ===
        'sum(increase(mirror_copies_total{mirror_target="kitchen-next"}[5m]))'
      )
        return vector([{ metric: {}, value: [0, "40"] }]);
      if (
        q.startsWith(
          "histogram_quantile(0.95, sum by (le) (increase(mirror_dark_duration",
        )
      )
        return vector([{ metric: {}, value: [0, "48.75"] }]);
      if (q.startsWith("sum(increase(mirror_dark_duration_microseconds_count"))
        return vector([{ metric: {}, value: [0, "40"] }]);
      if (q.startsWith("sum(increase(mirror_dark_responses_total"))
        return vector([{ metric: {}, value: [0, "40"] }]);
      if (q.startsWith("100 * (sum(increase(mirror_dark_responses_total"))
        return vector([{ metric: {}, value: [0, "0"] }]);
      if (q.startsWith("sum(increase(mirror_dark_duration_microseconds_sum"))
        return vector([{ metric: {}, value: [0, "1200"] }]);
      return vector([]);
    });
    t.after(p.close);
    const r = await runReport({
      prometheus: p.url,
      window: "5m",
      at: new Date("2025-06-01T12:00:00Z"),
    });
    const [k] = r.targets;
    assert.equal(k.target, "kitchen-next");
    assert.equal(k.instances, 3);
    assert.equal(k.copies, 40);
    assert.equal(k.dark.latency.p95, 48.75);
    assert.deepEqual(
      k.dark.latency.buckets.filter((x) => x.count > 0),
      [b(0, 25, 30), b(25, 25, 10)],
    );
    assert.match(
      r.text,
      /from Prometheus http:\/\/127\.0\.0\.1:\d+: the 5m up to 2025-06-01T12:00:00\.000Z/,
    );
    assert.match(r.text, /\(3 instances\)/);
    assert.ok(
      p.queries.includes(
        'histogram_quantile(0.95, sum by (le) (increase(mirror_dark_duration_microseconds_bucket{mirror_target="kitchen-next"}[5m]))) / 1000',
      ),
    );
  });
});

describe("the CLI", () => {
  const admin40 = async () =>
    fakeAdmin({
      [STATS_PATH]: [
        200,
        JSON.stringify(statsJson({ "kitchen-next": healthy(40, 150) })),
      ],
    });

  it("--help prints the exit codes and objectives, exit 0", async () => {
    const out = sink();
    assert.equal(await main(["--help"], out, sink()), 0);
    for (const s of [
      "--admin URL",
      "--prometheus URL",
      "--selector MATCHERS",
      "--window DURATION",
      "--objectives FILE",
      "--json",
      "--watch",
      "0  every check passes",
      "1  a check fails",
      "2  not enough data",
      "3  no report",
      "4  usage",
      '"max_latency_shift_pct": 10',
      '"max_latency_shift_floor_ms": 5',
      '"min_pairs_p99": 1000',
      '"max_dark_error_excess_pct": 0.5',
      '"max_pair_mismatch_pct": 0.25',
      '"max_capped_pct": 5',
      '"fail_confidence": 0.95',
      '"pass_confidence": 0.7',
      '"max_dark_mean_ms": null',
      '"max_dispatch_failures": 0',
      '"min_samples": 20',
    ])
      assert.ok(out.text().includes(s), s);
    assert.equal(out.text(), USAGE);
  });

  it("an objectives file overrides the defaults; bad ones are exit 4", async (t) => {
    const admin = await admin40();
    const dir = mkdtempSync(join(tmpdir(), "report-test-"));
    t.after(async () => {
      await admin.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const file = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const run = async (...args: string[]) => {
      const out = sink();
      const err = sink();
      const code = await main(
        ["--admin", admin.url, "--settle", "0", ...args],
        out,
        err,
      );
      return { code, out: out.text(), err: err.text() };
    };
    const slow = await run();
    assert.equal(slow.code, 1, slow.out);
    // an objectives file of the absolute gate, the relative checks off
    const lenient = await run(
      "--objectives",
      file(
        "ok.json",
        JSON.stringify({
          ...ABSOLUTE,
          max_dark_mean_ms: 200,
          max_dark_p95_ms: 200,
        }),
      ),
    );
    assert.equal(lenient.code, 0, lenient.out);
    assert.match(
      lenient.out,
      /dark mean latency ≤ 200 ms, dark p95 latency ≤ 200 ms/,
    );
    for (const [text, message] of [
      ["{", /is not JSON/],
      ['{"max_p95": 1}', /unknown field "max_p95"/],
    ] as const) {
      const bad = await run("--objectives", file("bad.json", text));
      assert.equal(bad.code, 4);
      assert.match(bad.err, message);
      assert.equal(bad.out, "");
    }
    const missing = await run("--objectives", join(dir, "missing.json"));
    assert.equal(missing.code, 4);
    assert.match(missing.err, /cannot read/);
  });

  it("bad arguments are exit 4 with one line naming what is wrong (not the whole usage)", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--nope"], /Unknown option '--nope'/],
      [["--settle", "soon"], /--settle: must be a number of seconds/],
      [["--watch", "--interval", "0"], /--interval: must be above 0/],
      [["--admin", "ftp://x"], /--admin: must be http\(s\)/],
      [["--json", "--watch"], /--json and --watch: choose one/],
      [["--prometheus", "9090", "--settle", "1"], /--settle goes with --admin/],
      [["--at", "noon"], /--at goes with --prometheus/],
      [["--prometheus", "9090", "--at", "noon"], /--at: must be a time/],
    ];
    for (const [args, message] of cases) {
      const out = sink();
      const err = sink();
      assert.equal(await main(args, out, err), 4, args.join(" "));
      assert.match(err.text(), message);
      assert.match(err.text(), /^report: .* \(npm run report -- --help\)\n$/);
      // with --json, stdout holds the error as JSON; else nothing
      if (args.includes("--json"))
        assert.equal(JSON.parse(out.text()).exit_code, 4);
      else assert.equal(out.text(), "");
    }
  });

  it("--admin several times adds the Envoys up: counts, and latency bins bin by bin", async (t) => {
    const a = await fakeAdmin({
      [STATS_PATH]: [
        200,
        JSON.stringify(statsJson({ "kitchen-next": healthy(12, 30, 2) })),
      ],
    });
    const b2 = await fakeAdmin({
      [STATS_PATH]: [
        200,
        JSON.stringify(
          statsJson({
            "kitchen-next": healthy(10, 30, 2, { "dark.5xx": 1 }),
            other: healthy(3),
          }),
        ),
      ],
    });
    t.after(async () => {
      await a.close();
      await b2.close();
    });
    const out = sink();
    const code = await main(
      ["--admin", a.url, "--admin", b2.url, "--settle", "0"],
      out,
      sink(),
    );
    const text = out.text();
    // kitchen-next fails (1 dark 5xx in 23 answers), other lacks data
    assert.equal(code, 1, text);
    assert.match(
      text,
      /^Mirror report: live vs dark, from the Envoy admins http:\/\/127\.0\.0\.1:\d+, http:\/\/127\.0\.0\.1:\d+ at \S+, added up/,
    );
    assert.match(
      text,
      /Target kitchen-next: 22 copies, 0 in flight, 10 skipped, 0 dispatch failures \(2 Envoys\)/,
    );
    assert.match(text, /Target other: 3 copies, .* \(1 Envoy\)/);
    const r = await runReport({ admin: [a.url, b2.url], settleMs: 0 });
    const k = r.targets[0];
    assert.equal(k.dark.latency.count, 22);
    assert.deepEqual(k.dark.latency.buckets, [b(30, 1, 22)]);
    assert.equal(k.dark.classes["5xx"], 1);
    assert.equal(k.dark.total, 23);
  });

  it("--json prints one document of the documented shape, for a report and for an error", async (t) => {
    const admin = await admin40();
    t.after(admin.close);
    const ajv = new Ajv({ allErrors: true, strict: false });
    ajv.addFormat("date-time", (x: string) => !Number.isNaN(Date.parse(x)));
    const validate = ajv.compile(REPORT_JSON_SCHEMA as object);
    const out = sink();
    const code = await main(
      ["--admin", admin.url, "--settle", "0", "--json"],
      out,
      sink(),
    );
    assert.equal(code, 1);
    const json = JSON.parse(out.text()) as Record<string, any>;
    assert.ok(validate(json), JSON.stringify(validate.errors));
    assert.equal(json.verdict, "fail");
    assert.equal(json.exit_code, 1);
    assert.equal(json.source.kind, "admin");
    const [t0] = json.targets;
    assert.equal(t0.target, "kitchen-next");
    assert.equal(json.version, 2);
    assert.equal(t0.role, "candidate");
    const p95 = t0.checks.find(
      (c: { id: string }) => c.id === "latency_shift_p95",
    );
    assert.deepEqual(
      {
        name: p95.name,
        kind: p95.kind,
        limit: p95.limit,
        op: p95.op,
        samples: p95.samples,
        min_samples: p95.min_samples,
        outcome: p95.outcome,
      },
      {
        name: "p95 latency shift",
        kind: "relative",
        limit: 5,
        op: "<=",
        samples: 40,
        min_samples: 0,
        outcome: "fail",
      },
    );
    // dark 150 ms against live 5: d = 145 ms in every pair, the bin [145, 145.1]
    assert.ok(Math.abs(p95.value - 145.05) < 0.06, String(p95.value));
    assert.deepEqual(p95.interval, {
      lower: 145,
      upper: 145.1,
      lower_confidence: 0.95,
      upper_confidence: 0.7,
    });
    // 40 pairs give p95 no upper bound at 95 %: what they would detect is unknown
    assert.equal(p95.detectable, null);
    assert.equal(p95.more_pairs, undefined);
    const p99 = t0.checks.find(
      (c: { id: string }) => c.id === "latency_shift_p99",
    );
    assert.equal(p99.outcome, "not enough data");
    assert.equal(p99.min_samples, 1000);
    assert.equal(p99.more_pairs, 960);
    const mismatches = t0.checks.find(
      (c: { id: string }) => c.id === "pair_mismatches",
    );
    assert.equal(mismatches.outcome, "not enough data");
    assert.ok(mismatches.more_pairs > 400, String(mismatches.more_pairs));
    assert.equal(t0.latency_ms.dark_minus_live.count, 40);
    assert.equal(t0.counts.copies, 40);
    assert.equal(t0.counts.skipped.sampled_out, 3);
    assert.equal(t0.counts.dark["2xx"], 40);
    assert.equal(t0.latency_ms.dark.count, 40);
    assert.equal(t0.rates_pct.dark_errors, 0);
    for (const [args, exit] of [
      [["--admin", `127.0.0.1:${await closedPort()}`], 3],
      [["--window", "5m"], 4],
    ] as const) {
      const o = sink();
      const e = sink();
      assert.equal(await main([...args, "--json"], o, e), exit);
      const j = JSON.parse(o.text()) as Record<string, any>;
      assert.ok(validate(j), JSON.stringify(validate.errors));
      assert.equal(j.exit_code, exit);
      assert.match(e.text(), /^report: /);
    }
    // A NaN is null, not a number.
    const empty = await fakeAdmin({
      [STATS_PATH]: [
        200,
        JSON.stringify(statsJson({ k: { counters: { copies: 0 } } })),
      ],
    });
    t.after(empty.close);
    const o = sink();
    assert.equal(
      await main(["--admin", empty.url, "--settle", "0", "--json"], o, sink()),
      2,
    );
    const j = JSON.parse(o.text()) as Record<string, any>;
    assert.ok(validate(j), JSON.stringify(validate.errors));
    assert.equal(j.targets[0].latency_ms.dark.p95, null);
    assert.equal(j.targets[0].checks[2].value, null);
  });

  it("--watch prints again every --interval until stopped, exiting with the last code", async (t) => {
    const admin = await admin40();
    t.after(admin.close);
    const out = sink();
    const stop = new AbortController();
    const running = main(
      ["--admin", admin.url, "--watch", "--interval", "0.05", "--settle", "0"],
      out,
      sink(),
      stop.signal,
    );
    while ((out.text().match(/Mirror report/g) ?? []).length < 3)
      await new Promise((r) => setTimeout(r, 10));
    stop.abort();
    assert.equal(await running, 1);
    assert.match(out.text(), /every 0\.05 s; Ctrl-C stops/);
  });
});
