// The verdict in the real Envoy, one run of the key rows of the benchmark's table (bench/verdict.ts,
// the same cases and code as `npm run bench -- --verdict`): a live service and a dark version of
// it, mirrored GETs (gRPC calls) keyed on x-request-id, then the real `npm run report -- --json`
// with the default objectives. Each case asserts the report's exit code and the check it names,
// and that it counted exactly what the services injected. 1,000 requests a run: where these
// regressions are decided with room to spare (the benchmark runs 2,000, and 5 or 20 times).
import assert from "node:assert/strict";
import test from "node:test";
import {
  caseById,
  CHECK_GROUPS,
  type RunResult,
  runCase,
} from "../../bench/verdict.ts";
import { envoyBinary, skipReason } from "../support/envoy.ts";

const SEED = 190_000;
const REQUESTS = 1000;

async function run(id: string, seed = SEED): Promise<RunResult> {
  const r = await runCase(caseById(id), {
    envoy: envoyBinary!.bin,
    seed,
    requests: REQUESTS,
  });
  return r;
}

/** The run, for a failed assertion's message. */
const show = (r: RunResult) =>
  JSON.stringify(
    {
      why: r.why,
      errorLines: r.errorLines,
      exit: r.exitCode,
      failed: r.failed,
      notEnough: r.notEnough,
      checks: r.checks,
      pairs: r.counts.pairs,
      upstreams: r.upstreams,
    },
    null,
    1,
  );

function verdictCase(
  name: string,
  id: string,
  check: (r: RunResult) => void,
): void {
  test(name, { skip: skipReason, timeout: 60_000 }, async () => {
    const r = await run(id);
    assert.ok(r.met, show(r));
    assert.deepEqual(r.errorLines, [], "Envoy logged errors");
    check(r);
  });
}

/** The dark side's errors the service injected equal the pairs the report counts with a dark error. */
function errorsCountedExactly(r: RunResult) {
  const p = r.counts.pairs;
  assert.equal(p.dark_error + p.both_error, r.upstreams.dark.errors, show(r));
  assert.equal(p.live_error + p.both_error, r.upstreams.live.errors, show(r));
  assert.equal(
    p.both_ok + p.dark_error + p.live_error + p.both_error,
    REQUESTS,
  );
}

verdictCase(
  "healthy: 0.3 % random 500s on each side and bodies differing only in ignored fields pass (exit 0)",
  "healthy",
  (r) => {
    assert.equal(r.exitCode, 0);
    assert.deepEqual(r.failed, []);
    // the noise is there, on both sides, and counted as it happened
    assert.ok(r.upstreams.live.errors + r.upstreams.dark.errors > 0, show(r));
    errorsCountedExactly(r);
    assert.equal(r.counts.pair_compared.body_mismatch, 0);
  },
);

verdictCase(
  "+20 ms on every dark answer fails, naming the latency shift",
  "slower",
  (r) => {
    assert.equal(r.exitCode, 1);
    assert.ok(r.failed.includes("latency_shift_p50"), show(r));
    assert.ok(!r.failed.includes("dark_error_excess"), show(r));
  },
);

verdictCase("2 % dark 5xx fails, naming the errors", "errors", (r) => {
  assert.equal(r.exitCode, 1);
  assert.ok(r.failed.includes("dark_error_excess"), show(r));
  assert.equal(r.counts.dark["5xx"], r.upstreams.dark.errors);
  errorsCountedExactly(r);
});

verdictCase(
  "gRPC over HTTP/2: grpc-status 14 on 2 % of dark calls fails, naming the errors",
  "grpc",
  (r) => {
    assert.equal(r.exitCode, 1);
    assert.ok(r.failed.includes("dark_error_excess"), show(r));
    assert.equal(r.counts.dark.grpc_error, r.upstreams.dark.errors, show(r));
    assert.equal(r.liveStatuses["200 grpc 0"], REQUESTS);
  },
);

verdictCase(
  "a dead dark host fails on errors, and the report shows no dark latency",
  "refused",
  (r) => {
    assert.equal(r.exitCode, 1);
    assert.ok(
      r.failed.some((id) => CHECK_GROUPS["errors or dispatch"].test(id)),
      show(r),
    );
    assert.equal(r.counts.dark.reset, REQUESTS);
    assert.equal(r.darkLatencySamples ?? 0, 0);
    for (const c of r.checks.filter((k) => k.id.startsWith("latency_shift")))
      assert.equal(c.value, null, show(r));
    // live was served all along
    assert.equal(r.liveStatuses["200"], REQUESTS);
  },
);

verdictCase(
  "with a baseline target, bodies with a random id and no ignore list pass",
  "baseline",
  (r) => {
    assert.equal(r.exitCode, 0, show(r));
    // plainly compared, every body differs; against the baseline, none does
    assert.equal(r.counts.compared.body_mismatch, REQUESTS);
    assert.equal(r.counts.pair_compared.body_mismatch, 0);
  },
);

verdictCase(
  "with a baseline target, 1 % of dark bodies with a changed field fail, naming the mismatches",
  "baseline-changed",
  (r) => {
    assert.equal(r.exitCode, 1);
    assert.ok(r.failed.includes("pair_mismatches"), show(r));
    assert.equal(
      r.counts.pair_compared.body_mismatch,
      r.upstreams.dark.changed,
      show(r),
    );
    assert.ok(r.upstreams.dark.changed > 0);
  },
);
