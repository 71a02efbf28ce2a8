/**
 * Host calls per request of the release build, pinned: a sampled-out request and a mirrored
 * one (the GET `wrk` sends, its 200, and the dark answer), counted by the emulator
 * (bench/hostcalls.ts; bench/RESULTS.md lists them before and after the work toward being close
 * to native). In Envoy each call into or out of the Wasm VM costs microseconds, so a new one on
 * the request path is a regression even when every other test passes.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  countCalls,
  type CallCounts,
  WRK_RESPONSE,
  wrkRequest,
} from "../../bench/hostcalls.ts";
import { nullFilterWasm } from "../../bench/nullwasm.ts";
import { Host } from "../../tools/emulator/index.ts";
import { RELEASE_WASM } from "../../tools/paths.ts";

// MIRROR_WASM=path runs these against another build (e.g. an older commit's, to see a test fail).
const WASM = process.env.MIRROR_WASM ?? RELEASE_WASM;

/** Calls per request, whole; the counters' flush on the 0.5 s tick is checked apart. */
function perRequest(c: CallCounts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(c))
    if (k !== "proxy_increment_metric") out[k] = v;
  return out;
}

it("a sampled-out request: one header map read (and the malloc it calls), nothing else", async () => {
  const c = await countCalls(WASM, 0);
  assert.deepEqual(perRequest(c), {
    malloc: 1,
    proxy_get_header_map_pairs: 1,
  });
  // counters reach the host on the tick, not per request
  assert.ok((c.proxy_increment_metric ?? 0) < 0.01, JSON.stringify(c));
});

it("a mirrored request: three header maps (request, live and dark answers), three timestamps, the call, three histograms (live, dark, their difference)", async () => {
  const c = await countCalls(WASM, 100);
  assert.deepEqual(perRequest(c), {
    malloc: 3,
    proxy_get_current_time_nanoseconds: 3,
    proxy_get_header_map_pairs: 3,
    proxy_http_call: 1,
    proxy_record_metric: 3,
  });
  assert.ok((c.proxy_increment_metric ?? 0) < 0.02, JSON.stringify(c));
});

it("a sampled-out request allocates nothing: 100k of them, with no tick (so no collection), leave linear memory as it was", async () => {
  // The minimal runtime frees only when the filter collects, which a request that is not
  // mirrored never asks for: any allocation on its path (a context object, a map's new arrays
  // as streams come and go) would pile up here until memory grew.
  const host = await Host.load(WASM, { logLevel: "warn" });
  assert.ok(host.configure(JSON.stringify({ cluster: "dark", percentage: 0 })));
  const one = () => {
    const s = host.stream();
    s.requestHeaders(wrkRequest(randomUUID()), true);
    s.responseHeaders(WRK_RESPONSE, true);
    s.done();
  };
  for (let i = 0; i < 1000; i++) one();
  const before = host.memoryBytes();
  for (let i = 0; i < 100_000; i++) one();
  assert.equal(host.memoryBytes(), before);
  assert.equal(host.pendingCalls().length, 0);
  assert.deepEqual(host.trapped, []);
});

it("the bench's bare mirror (bench/nullwasm.ts, the floor under the mirrored target) sends each request's own header map to the dark cluster, with one map read and one call", async () => {
  const dir = mkdtempSync(join(tmpdir(), "mirror-bare-"));
  try {
    const file = join(dir, "bare.wasm");
    writeFileSync(file, nullFilterWasm({ dispatchTo: "dark" }));
    assert.deepEqual(await countCalls(file, 100), {
      malloc: 1,
      proxy_get_header_map_pairs: 1,
      proxy_http_call: 1,
    });
    const host = await Host.load(file, { logLevel: "warn" });
    assert.ok(host.configure("{}"));
    const id = randomUUID();
    host.stream().requestHeaders(wrkRequest(id), true);
    assert.equal(host.httpCalls.length, 1);
    const [call] = host.httpCalls;
    assert.equal(call.cluster, "dark");
    assert.equal(call.timeoutMs, 5000);
    assert.deepEqual(
      call.headers.entries.map(([k, v]) => [k, v.toString()]),
      wrkRequest(id),
    );
    assert.deepEqual(host.trapped, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it("the bench's bare mirror with the filter's host calls makes exactly the calls the filter makes per mirrored request", async () => {
  const dir = mkdtempSync(join(tmpdir(), "mirror-bare-"));
  try {
    const file = join(dir, "verdict.wasm");
    writeFileSync(
      file,
      nullFilterWasm({ dispatchTo: "dark", verdictCalls: true }),
    );
    const bare = await countCalls(file, 100);
    assert.deepEqual(bare, perRequest(await countCalls(WASM, 100)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
