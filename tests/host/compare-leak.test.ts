/**
 * The comparison's memory bound: nothing leaks across 100k mirrored requests with comparison
 * on — live first, dark first, live reset after dispatch, dark timeout — as
 * seen from the host: linear memory after warm-up, pending calls, the
 * in-flight gauge, and one verdict (or incomplete) per request.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Host } from "../../tools/emulator/index.ts";
import { counter, gauge, stat as statOf, total } from "./stats.ts";
import { RELEASE_WASM } from "../../tools/paths.ts";

const WASM = RELEASE_WASM;
const T = "kitchen-next";
const stat = (key: string) => statOf(T, key);

it("100k mirrored requests with comparison leave nothing behind", async () => {
  const host = await Host.load(readFileSync(WASM), { rootId: "mirror" });
  assert.equal(
    host.configure(
      JSON.stringify({
        targets: [{ cluster: T, percentage: 100 }],
        compare: { body: true },
        max_inflight: 8,
      }),
    ),
    true,
  );
  let id = 0;
  const one = (kind: number) => {
    const s = host.stream();
    s.requestHeaders(
      [
        [":method", "GET"],
        [":scheme", "http"],
        [":path", `/orders/${id}`],
        [":authority", "kitchen"],
        ["x-request-id", `rid-${id++}`],
      ],
      true,
    );
    const [call] = host.pendingCalls();
    assert.ok(call, "dispatched");
    const live = () => {
      s.responseHeaders([[":status", "200"]], false);
      s.responseBody("burger", true);
      s.done();
    };
    if (kind === 0) {
      live();
      host.respond(call, { status: 200, body: "burger" });
    } else if (kind === 1) {
      host.respond(call, { status: 200, body: "brioche burger" });
      live();
    } else if (kind === 2) {
      s.reset();
      host.respond(call, { status: 200, body: "burger" });
    } else {
      live();
      host.respondTimeout(call);
    }
  };
  const n = 100_000;
  const warmup = 10_000;
  for (let i = 0; i < warmup; i++) one(i % 4);
  const warm = host.memoryBytes();
  for (let i = warmup; i < n; i++) one(i % 4);

  assert.deepEqual(host.trapped, []);
  assert.equal(host.pendingCalls().length, 0, "calls still pending");
  assert.equal(gauge(host, stat("inflight")), 0);
  assert.equal(counter(host, stat("copies")), n);
  assert.equal(
    total(host, T, "compared") + counter(host, stat("not_compared.incomplete")),
    n,
  );
  assert.equal(counter(host, stat("not_compared.incomplete")), n / 4);
  assert.equal(counter(host, stat("compared.body_mismatch")), n / 4);
  assert.equal(counter(host, stat("compared.status_mismatch")), n / 4);
  assert.equal(counter(host, stat("skipped.overloaded")), 0, "slots leaked");
  assert.ok(
    host.memoryBytes() <= warm + (1 << 20),
    `linear memory grew from ${warm} to ${host.memoryBytes()} bytes after warm-up`,
  );
});
