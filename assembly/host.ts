// The one room that calls the host: a wrapper of every proxy-wasm host function the filter uses,
// and the ABI's constants. Host results are returned, never thrown (a trap fails the VM); buffers
// the host hands over are read into the scratch area when they are only scanned.
//
// This room allocates nothing when the module starts and imports only rooms that do not either:
// it holds `abort`, which every room's code refers to, so AssemblyScript runs its start (and its
// imports') before the runtime's lazily initialized lists exist; an object allocated then would
// be lost to the collector (a host test collects right after configuration to catch it).

import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import {
  SCRATCH_PTR,
  armScratch,
  disarmScratch,
  noteAllocated,
} from "./scratch";
import { decimal } from "./text";

// proxy-wasm enum values.
const OK: u32 = 0;
export const LOG_INFO: u32 = 2;
export const LOG_WARN: u32 = 3;
export const LOG_ERROR: u32 = 4;
export const RESULT_BAD_ARGUMENT: u32 = 2;
export const RESULT_INTERNAL_FAILURE: u32 = 10;
export const MAP_REQUEST_HEADERS: u32 = 0;
export const MAP_REQUEST_TRAILERS: u32 = 1;
export const MAP_RESPONSE_HEADERS: u32 = 2;
export const MAP_RESPONSE_TRAILERS: u32 = 3;
export const MAP_CALL_RESPONSE_HEADERS: u32 = 6;
export const MAP_CALL_RESPONSE_TRAILERS: u32 = 7;
export const BUFFER_REQUEST_BODY: u32 = 0;
export const BUFFER_RESPONSE_BODY: u32 = 1;
export const BUFFER_CALL_RESPONSE_BODY: u32 = 4;
export const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;
export const METRIC_COUNTER: u32 = 0;
export const METRIC_GAUGE: u32 = 1;

// Out-parameters for host calls: a static area, no allocation per call.
const OUT_PTR: usize = memory.data(8);
const OUT_SIZE: usize = OUT_PTR + 4;
const OUT_U64: usize = memory.data(8);
const OUT_U32: usize = memory.data(4);

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "proc_exit")
declare function proc_exit(code: u32): void;

/**
 * AssemblyScript's abort (asconfig.json: `use abort=abort_proc_exit`), reached only by a bug:
 * the message and where it was raised go to Envoy's log at level critical, then the VM exits
 * (Envoy fails it, and the failure policy applies).
 */
// @ts-ignore: decorator
@global
export function abort_proc_exit(
  message: string | null,
  fileName: string | null,
  line: u32,
  column: u32,
): void {
  let text = message !== null ? message : "";
  if (fileName !== null) {
    text +=
      " at: " + fileName + "(" + decimal(line) + ":" + decimal(column) + ")";
  }
  log(5, text); // critical (a literal: this runs before any global is initialized)
  proc_exit(255);
}

/** A log line at `level` (the host drops it below its own level). */
export function log(level: u32, message: string): void {
  const bytes = String.UTF8.encode(message);
  imports.proxy_log(level, changetype<usize>(bytes), bytes.byteLength);
}

/** A buffer the host malloc'ed (pinned by `malloc`) is now the GC's like any other object. */
function free(ptr: usize): void {
  __unpin(ptr);
}

/** Takes ownership of the buffer the host malloc'ed for the last call (null: none, or empty). */
function takeOut(): ArrayBuffer | null {
  const ptr = load<usize>(OUT_PTR);
  const size = load<usize>(OUT_SIZE);
  clearOut();
  if (ptr == 0 || ptr == SCRATCH_PTR) return null;
  const buf = changetype<ArrayBuffer>(ptr);
  free(ptr); // unpinned: now owned by the GC like any other object
  noteAllocated(<usize>buf.byteLength);
  return size == 0 ? null : buf;
}

function clearOut(): void {
  store<usize>(OUT_PTR, 0);
  store<usize>(OUT_SIZE, 0);
}

// What the last read into the scratch area returned: `readLen` bytes at `readPtr` (the scratch
// area, or a buffer too large for it, which `readOwner` keeps alive), valid until the next read.
let readPtr: usize = 0;
let readLen: u32 = 0;
let readOwner: ArrayBuffer | null = null;

/**
 * Finishes a host call made with the scratch area armed: where its answer lies, into readPtr
 * and readLen (nothing allocated when it fitted); whether the call succeeded.
 */
function readDone(r: u32): bool {
  disarmScratch();
  const ptr = load<usize>(OUT_PTR);
  const size = <u32>load<usize>(OUT_SIZE);
  clearOut();
  readOwner = null;
  if (ptr != 0 && ptr != SCRATCH_PTR) {
    const buf = changetype<ArrayBuffer>(ptr);
    free(ptr); // unpinned: now owned by the GC like any other object
    noteAllocated(<usize>buf.byteLength);
    readOwner = buf;
  }
  const ok = r == OK;
  readPtr = ok ? ptr : 0;
  readLen = ok && ptr != 0 ? size : 0;
  return ok;
}

/**
 * Where the last read lies: `readLen()` bytes at `readPtr()`, in the scratch area or in a buffer
 * too large for it that `readOwner()` keeps alive; valid until the next read.
 */
export function lastRead(): usize {
  return readPtr;
}

/** Bytes of the last read. */
export function lastReadLength(): u32 {
  return readLen;
}

/** The buffer of the last read when it did not fit in the scratch area (taken: null after). */
export function takeReadOwner(): ArrayBuffer | null {
  const o = readOwner;
  readOwner = null;
  return o;
}

/** Reads the value of header `name` of map `map` (a value only scanned); false when absent. */
export function readHeader(map: u32, name: ArrayBuffer): bool {
  clearOut();
  armScratch();
  return readDone(
    imports.proxy_get_header_map_value(
      map,
      changetype<usize>(name),
      name.byteLength,
      OUT_PTR,
      OUT_SIZE,
    ),
  );
}

/** Reads header map `map` in one call (proxy_get_header_map_pairs); false when unreadable. */
export function readHeaderMap(map: u32): bool {
  clearOut();
  armScratch();
  return readDone(imports.proxy_get_header_map_pairs(map, OUT_PTR, OUT_SIZE));
}

/** Removes every value of header `name` from map `map`. */
export function removeHeader(map: u32, name: ArrayBuffer): void {
  imports.proxy_remove_header_map_value(
    map,
    changetype<usize>(name),
    name.byteLength,
  );
}

/**
 * `length` bytes of buffer `kind` from its start, to keep; null when the host refused (an empty
 * buffer when it handed none).
 */
export function getBuffer(kind: u32, length: u32): ArrayBuffer | null {
  clearOut();
  const r = imports.proxy_get_buffer_bytes(kind, 0, length, OUT_PTR, OUT_SIZE);
  const buf = takeOut();
  if (r != OK) return null;
  return buf !== null ? buf : new ArrayBuffer(0);
}

/**
 * `len` bytes of buffer `kind` from `at`, to scan and drop: into the scratch area (lastRead,
 * lastReadLength; nothing kept, nothing allocated when it fits). False when the host could not
 * hand them.
 */
export function readBufferSlice(kind: u32, at: u32, len: u32): bool {
  clearOut();
  armScratch();
  const r = imports.proxy_get_buffer_bytes(kind, at, len, OUT_PTR, OUT_SIZE);
  disarmScratch();
  const ptr = load<usize>(OUT_PTR);
  const size = <u32>load<usize>(OUT_SIZE);
  clearOut();
  if (ptr != 0 && ptr != SCRATCH_PTR) free(ptr); // not ours to keep
  readOwner = null;
  const ok = r == OK && ptr != 0 && size != 0;
  readPtr = ok ? ptr : 0;
  readLen = ok ? min(size, len) : 0;
  return ok;
}

/** The host's clock, in nanoseconds. */
export function nowNs(): u64 {
  store<u64>(OUT_U64, 0);
  imports.proxy_get_current_time_nanoseconds(OUT_U64);
  return load<u64>(OUT_U64);
}

/** Asks the host to call the root context's on_tick every `ms`. */
export function setTickPeriod(ms: u32): void {
  imports.proxy_set_tick_period_milliseconds(ms);
}

/** A property of the context (e.g. "plugin_root_id"), or null when the host has none. */
export function property(name: ArrayBuffer): string | null {
  clearOut();
  const r = imports.proxy_get_property(
    changetype<usize>(name),
    name.byteLength,
    OUT_PTR,
    OUT_SIZE,
  );
  const buf = takeOut();
  if (r != OK) return null;
  return buf !== null ? String.UTF8.decode(buf) : "";
}

/** Defines a metric; its id, or U32.MAX_VALUE when the host refused it. */
export function defineMetric(kind: u32, name: string): u32 {
  const bytes = String.UTF8.encode(name);
  store<u32>(OUT_U32, 0);
  const r = imports.proxy_define_metric(
    kind,
    changetype<usize>(bytes),
    bytes.byteLength,
    OUT_U32,
  );
  return r == OK ? load<u32>(OUT_U32) : U32.MAX_VALUE;
}

/** Adds `delta` to a counter or gauge. */
export function incrementMetric(id: u32, delta: i64): void {
  imports.proxy_increment_metric(id, delta);
}

/** Records `value` in a histogram. */
export function recordMetric(id: u32, value: u64): void {
  imports.proxy_record_metric(id, value);
}

/** The token of the last call httpCall dispatched. */
export function lastCallToken(): u32 {
  return load<u32>(OUT_U32);
}

/**
 * Dispatches a call (proxy_http_call) to `cluster` with these serialized headers and body, no
 * trailers (Envoy's async client would not send them); its result (OK: the token is
 * lastCallToken()).
 */
export function httpCall(
  cluster: ArrayBuffer,
  headers: ArrayBuffer,
  body: ArrayBuffer,
  timeoutMs: u32,
): u32 {
  store<u32>(OUT_U32, 0);
  return imports.proxy_http_call(
    changetype<usize>(cluster),
    cluster.byteLength,
    changetype<usize>(headers),
    headers.byteLength,
    changetype<usize>(body),
    body.byteLength,
    0,
    0,
    timeoutMs,
    OUT_U32,
  );
}

/** A dispatch result in words, for a log line. */
export function resultName(r: u32): string {
  if (r == RESULT_BAD_ARGUMENT)
    return "BadArgument (unknown cluster, or :method/:path/:authority missing)";
  if (r == RESULT_INTERNAL_FAILURE) return "InternalFailure (no healthy host?)";
  return "result " + decimal(r);
}
