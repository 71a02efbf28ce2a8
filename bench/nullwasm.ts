// An empty proxy-wasm filter: the same exports as build/mirror.wasm (Envoy calls an entry point
// only when the module exports it, and each call into V8 has a cost), each returning at once
// (Continue, or "true" where the ABI expects it). In Envoy it is the reference configuration (z),
// what any proxy-wasm filter in V8 costs before it does anything; in the host emulator it is the
// micro benchmark's floor.
import binaryen from "binaryen";
import { existsSync, readFileSync } from "node:fs";
import { WASM } from "./envoy.ts";

/** Export name → [params, result or "" for none, returned constant]. */
const EXPORTS: Array<[string, number, boolean, number]> = [
  ["proxy_abi_version_0_2_0", 0, false, 0],
  ["proxy_on_vm_start", 2, true, 1],
  ["proxy_validate_configuration", 2, true, 1],
  ["proxy_on_configure", 2, true, 1],
  ["proxy_on_tick", 1, false, 0],
  ["proxy_on_foreign_function", 3, false, 0],
  ["proxy_on_queue_ready", 2, false, 0],
  ["proxy_on_context_create", 2, false, 0],
  ["proxy_on_request_headers", 3, true, 0],
  ["proxy_on_request_body", 3, true, 0],
  ["proxy_on_request_trailers", 2, true, 0],
  ["proxy_on_request_metadata", 2, true, 0],
  ["proxy_on_response_headers", 3, true, 0],
  ["proxy_on_response_body", 3, true, 0],
  ["proxy_on_response_trailers", 2, true, 0],
  ["proxy_on_response_metadata", 2, true, 0],
  ["proxy_on_http_call_response", 5, false, 0],
  ["proxy_on_grpc_receive_initial_metadata", 3, false, 0],
  ["proxy_on_grpc_trailing_metadata", 3, false, 0],
  ["proxy_on_grpc_receive", 3, false, 0],
  ["proxy_on_grpc_close", 3, false, 0],
  ["proxy_on_done", 1, true, 1],
  ["proxy_on_log", 1, false, 0],
  ["proxy_on_delete", 1, false, 0],
  ["free", 1, false, 0],
];

/** Host work the otherwise empty filter does in on_request_headers (for the host-call costs). */
export interface NullWork {
  /** request headers read one at a time with proxy_get_header_map_value */
  headerReads?: string[];
  /** the whole request header map read once with proxy_get_header_map_pairs */
  pairs?: boolean;
  /**
   * then that map sent unchanged to this cluster with proxy_http_call (no body, the filter's
   * default 5 s timeout), its answer ignored: the least any proxy-wasm filter must do to mirror
   */
  dispatchTo?: string;
  /**
   * with `dispatchTo`: also the filter's other host calls per mirror (a timestamp at the request,
   * the live response and the dark answer, both answers' header maps, three histogram records)
   */
  verdictCalls?: boolean;
  /** the entry points to export (default: those of the release build/mirror.wasm) */
  exports?: string[];
}

/** The proxy-wasm entry points `file` exports (every one of EXPORTS when it is missing). */
export function entryPointsOf(file = WASM): string[] {
  if (!existsSync(file)) return EXPORTS.map(([name]) => name);
  const names = new Set(
    WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(file))).map(
      (e) => e.name,
    ),
  );
  return EXPORTS.map(([name]) => name).filter((n) => names.has(n));
}

/**
 * The module's binary (built from WAT text with binaryen, which AssemblyScript ships). With
 * `work`, on_request_headers makes those host calls (each value comes back through the module's
 * malloc, a call from the host into the module, as with any proxy-wasm SDK) and ignores them, or
 * sends the header map on as a bare copy.
 */
export function nullFilterWasm(work: NullWork = {}): Uint8Array {
  const names = work.headerReads ?? [];
  let at = 256;
  const data: string[] = [];
  const reads: string[] = [];
  for (const n of names) {
    data.push(`(data (i32.const ${at}) "${n}")`);
    reads.push(
      `(drop (call $get (i32.const 0) (i32.const ${at}) (i32.const ${n.length}) (i32.const 64) (i32.const 68)))`,
    );
    at += n.length + 1;
  }
  if (work.pairs || work.dispatchTo)
    reads.push(
      `(drop (call $pairs (i32.const 0) (i32.const 64) (i32.const 68)))`,
    );
  if (work.dispatchTo) {
    const cluster = work.dispatchTo;
    data.push(`(data (i32.const ${at}) "${cluster}")`);
    reads.push(
      `(drop (call $http (i32.const ${at}) (i32.const ${cluster.length})` +
        ` (i32.load (i32.const 64)) (i32.load (i32.const 68))` +
        ` (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 5000) (i32.const 72)))`,
    );
    at += cluster.length + 1;
  }
  const bodies: Record<string, string[]> = { proxy_on_request_headers: reads };
  const verdict = work.dispatchTo !== undefined && work.verdictCalls === true;
  if (verdict) {
    const metric = at;
    data.push(`(data (i32.const ${metric}) "bench_null_us")`);
    at = metric + 14;
    const now = `(drop (call $now (i32.const 80)))`;
    const record = `(drop (call $record (i32.load (i32.const 88)) (i64.rem_u (i64.load (i32.const 80)) (i64.const 1000000))))`;
    // Each answer's header map in one read, as the filter reads them.
    const mapOf = (map: number) =>
      `(drop (call $pairs (i32.const ${map}) (i32.const 64) (i32.const 68)))`;
    bodies.proxy_on_configure = [
      `(drop (call $define (i32.const 2) (i32.const ${metric}) (i32.const 13) (i32.const 88)))`,
    ];
    reads.push(now);
    bodies.proxy_on_response_headers = [mapOf(2), now, record];
    // the dark latency and the pair's latency difference
    bodies.proxy_on_http_call_response = [mapOf(6), now, record, record];
  }
  const exported = new Set(work.exports ?? entryPointsOf());
  const funcs = EXPORTS.filter(([name]) => exported.has(name)).map(
    ([name, params, result, value]) => {
      const p = params ? ` (param${" i32".repeat(params)})` : "";
      const body = (bodies[name] ?? []).join(" ");
      return result
        ? `(func (export "${name}")${p} (result i32) ${body} (i32.const ${value}))`
        : `(func (export "${name}")${p} ${body})`;
    },
  );
  // malloc: a bump allocator over one 64 KiB page that wraps (nothing is kept across calls)
  const wat = `(module
    (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
    (import "env" "proxy_get_header_map_pairs" (func $pairs (param i32 i32 i32) (result i32)))
    ${work.dispatchTo ? '(import "env" "proxy_http_call" (func $http (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))' : ""}
    ${verdict ? '(import "env" "proxy_get_current_time_nanoseconds" (func $now (param i32) (result i32)))' : ""}
    ${verdict ? '(import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))' : ""}
    ${verdict ? '(import "env" "proxy_record_metric" (func $record (param i32 i64) (result i32)))' : ""}
    (memory (export "memory") 2)
    (global $top (mut i32) (i32.const 1024))
    (func (export "malloc") (param $n i32) (result i32)
      (local $p i32)
      (if (i32.gt_u (i32.add (global.get $top) (local.get $n)) (i32.const 131072))
        (then (global.set $top (i32.const 1024))))
      (local.set $p (global.get $top))
      (global.set $top (i32.and (i32.add (i32.add (global.get $top) (local.get $n)) (i32.const 15)) (i32.const -16)))
      (local.get $p))
    ${data.join("\n    ")}
    ${funcs.join("\n    ")})`;
  const mod = binaryen.parseText(wat);
  if (!mod.validate()) throw new Error("null filter: invalid module");
  const bin = mod.emitBinary();
  mod.dispose();
  return bin;
}
