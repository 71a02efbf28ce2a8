/**
 * Host calls per request of the release build, pinned: a sampled-out request and a mirrored
 * one (the GET `wrk` sends, its 200, and the dark answer), counted by the emulator
 * (bench/hostcalls.ts; bench/RESULTS.md lists them before and after issue 14). In Envoy each
 * call into or out of the Wasm VM costs microseconds, so a new one on the request path is a
 * regression even when every other test passes.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { countCalls, type CallCounts } from "../../bench/hostcalls.ts";

const WASM = fileURLToPath(new URL("../../build/mirror.wasm", import.meta.url));

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

it("a mirrored request: the map, three timestamps, two statuses, the call, two histograms", async () => {
  const c = await countCalls(WASM, 100);
  assert.deepEqual(perRequest(c), {
    malloc: 3,
    proxy_get_current_time_nanoseconds: 3,
    proxy_get_header_map_pairs: 1,
    proxy_get_header_map_value: 2,
    proxy_http_call: 1,
    proxy_record_metric: 2,
  });
  assert.ok((c.proxy_increment_metric ?? 0) < 0.02, JSON.stringify(c));
});
