/**
 * The release module itself: its size budget, and the ABI surface Envoy sees
 * (every import is one Envoy provides; the proxy-wasm entry points are exported).
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { RELEASE_WASM_BUDGET_KIB } from "../../bench/report.ts";
import { RELEASE_WASM } from "../../tools/paths.ts";

const WASM = RELEASE_WASM;

// The release module's size budget (bench/report.ts, stated in bench/RESULTS.md): a larger module
// fails here. Far smaller, about 40 KiB, would take dropping features: the config checks with their
// messages, the JSON digest.
it(`the release build/mirror.wasm is at most ${RELEASE_WASM_BUDGET_KIB} KiB`, () => {
  const size = statSync(WASM).size;
  assert.ok(
    size <= RELEASE_WASM_BUDGET_KIB * 1024,
    `build/mirror.wasm is ${size} bytes`,
  );
});

it("imports only proxy-wasm 0.2 host functions and WASI proc_exit, and exports the ABI", () => {
  const mod = new WebAssembly.Module(readFileSync(WASM));
  for (const i of WebAssembly.Module.imports(mod)) {
    const ok =
      (i.module === "env" && i.name.startsWith("proxy_")) ||
      (i.module === "wasi_snapshot_preview1" && i.name === "proc_exit");
    assert.ok(ok, `unexpected import ${i.module}.${i.name}`);
    // proxy_clear_route_cache exists only in ABI 0.1.0
    assert.notEqual(i.name, "proxy_clear_route_cache");
  }
  const exports = new Set(WebAssembly.Module.exports(mod).map((e) => e.name));
  for (const name of [
    "proxy_abi_version_0_2_0",
    "malloc",
    "memory",
    "proxy_on_context_create",
    "proxy_on_configure",
    "proxy_on_request_headers",
    "proxy_on_request_body",
    "proxy_on_request_trailers",
    "proxy_on_response_headers",
    "proxy_on_response_body",
    "proxy_on_http_call_response",
    "proxy_on_done",
    "proxy_on_delete",
  ])
    assert.ok(exports.has(name), `missing export ${name}`);
});

it("the runtime's lists exist before any object the module makes when it starts: a collection right after configuration, and after each step of a mirrored request, traps nothing", async () => {
  // AssemblyScript initializes the minimal runtime's lists where its allocator is first compiled;
  // a room whose start runs earlier (host.ts, which every room's abort pulls in) and allocates
  // would leave objects the collector cannot find, and the first collection would trap.
  const { Host } = await import("../../tools/emulator/index.ts");
  for (const file of [WASM, WASM.replace(/\.wasm$/, ".debug.wasm")]) {
    const host = await Host.load(readFileSync(file), { rootId: "mirror" });
    assert.ok(
      host.configure(
        JSON.stringify({
          cluster: "dark",
          percentage: 100,
          compare: { body: "json" },
        }),
      ),
    );
    // The filter collects every 64 callbacks: ticks are callbacks.
    const collect = () => {
      for (let i = 0; i < 70; i++) host.tick(host.rootContextId);
    };
    collect();
    const s = host.stream();
    s.requestHeaders(
      [
        [":method", "GET"],
        [":path", "/orders/1"],
        [":authority", "kitchen"],
        ["x-request-id", "r1"],
      ],
      true,
    );
    collect();
    s.responseHeaders([[":status", "200"]], false);
    s.responseBody('{"a":1}', true);
    s.done();
    collect();
    host.respond(host.httpCalls[0], { status: 200, body: '{"a":1}' });
    collect();
    assert.deepEqual(host.trapped, [], file);
  }
});
