/**
 * The host functions a proxy-wasm module imports (`env.*`, and the two WASI functions an
 * AssemblyScript module uses), each with its ABI signature: each reads its arguments out of guest
 * memory, asks the host (an AbiHost) and writes the answer back, as proxy-wasm-cpp-host does over
 * Envoy's context.cc. The behaviour of each is documented where it is implemented.
 */
import {
  LogLevel,
  MAX_BUFFER_TYPE,
  MAX_HEADER_MAP_TYPE,
  WasmResult,
} from "./abi.ts";
import type { CallRequest } from "./calls.ts";
import type { GuestMemory } from "./memory.ts";
import type { MetricTable } from "./metrics.ts";
import { HeaderMap, parsePairs, serializePairs } from "./pairs.ts";
import type { HeaderMutation } from "./records.ts";

export type ImportFn = (...args: never[]) => number | void;

/** Signatures of the imports the emulator implements: params ":" results (i=i32, I=i64). */
export const SIGNATURES: Record<string, string> = {
  "env.proxy_log": "iii:i",
  "env.proxy_get_log_level": "i:i",
  "env.proxy_get_property": "iiii:i",
  "env.proxy_get_buffer_bytes": "iiiii:i",
  "env.proxy_get_buffer_status": "iii:i",
  "env.proxy_get_header_map_value": "iiiii:i",
  "env.proxy_get_header_map_pairs": "iii:i",
  "env.proxy_set_header_map_pairs": "iii:i",
  "env.proxy_add_header_map_value": "iiiii:i",
  "env.proxy_replace_header_map_value": "iiiii:i",
  "env.proxy_remove_header_map_value": "iii:i",
  "env.proxy_get_header_map_size": "ii:i",
  "env.proxy_http_call": "iiiiiiiiii:i",
  "env.proxy_define_metric": "iiii:i",
  "env.proxy_increment_metric": "iI:i",
  "env.proxy_record_metric": "iI:i",
  "env.proxy_get_metric": "ii:i",
  "env.proxy_get_current_time_nanoseconds": "i:i",
  "env.proxy_set_tick_period_milliseconds": "i:i",
  "env.proxy_set_effective_context": "i:i",
  "env.proxy_continue_stream": "i:i",
  "env.proxy_send_local_response": "iiiiiiii:i",
  "env.proxy_done": ":i",
  "wasi_snapshot_preview1.proc_exit": "i:",
  "wasi_snapshot_preview1.fd_write": "iiii:i",
};

/** A local reply as proxy_send_local_response gives it. */
export interface LocalResponse {
  status: number;
  details: Buffer;
  body: Buffer;
  headers: HeaderMap;
  grpcStatus: number;
}

/** What the imports ask of the host, one operation per ABI behaviour. */
export interface AbiHost {
  readonly memory: GuestMemory;
  /** Records ABI misuse (bad pointers, malformed pairs, invalid levels). */
  violation(message: string): void;
  /** Lowest log level kept; also what proxy_get_log_level answers. */
  readonly logLevel: number;
  /** Records a log line of the current context (at or above `logLevel`). */
  log(level: number, message: string): void;
  /** Text the module wrote to fd 1 (stdout) or 2 (stderr). */
  write(fd: 1 | 2, text: string): void;
  /** A property by its NUL-joined path, or undefined. */
  property(path: string): Buffer | undefined;
  /** A buffer as Envoy's getBuffer gives it to the current context, or null → NotFound. */
  buffer(type: number): Buffer | null;
  /** The header map of `type` reachable now for reading, or for mutation; null → BadArgument. */
  headerMap(type: number, mutation: boolean): HeaderMap | null;
  /** Records a mutation of the current stream's header map `map`. */
  mutated(
    map: number,
    op: HeaderMutation["op"],
    name?: string,
    value?: Buffer,
  ): void;
  /** Dispatches a call for the current context's root; the result and, if accepted, its token. */
  httpCall(request: CallRequest): { result: number; token: number };
  readonly metricTable: MetricTable;
  /** The clock, ns since the epoch. */
  readonly nowNs: bigint;
  setTickPeriod(ms: number): number;
  setEffectiveContext(id: number): number;
  continueStream(type: number): number;
  sendLocalResponse(response: LocalResponse): void;
  /** proc_exit: recorded, then unwinds the guest as a trap. */
  exit(code: number): never;
}

/** The implementations, by "module.name". */
export function abiImports(h: AbiHost): Record<string, ImportFn> {
  const R = WasmResult;
  /** Adds a value to a mutable map (`add`), or replaces every value of its key (`replace`). */
  const setValue = (
    op: "add" | "replace",
    type: number,
    kp: number,
    kl: number,
    vp: number,
    vl: number,
  ) => {
    const what = `proxy_${op}_header_map_value`;
    const key = h.memory.peek(kp, kl, what);
    const value = h.memory.read(vp, vl, what);
    if (key === null || value === null) return R.InvalidMemoryAccess;
    const map = h.headerMap(type, true);
    if (map === null) return R.BadArgument;
    const name = key.toString("utf8");
    if (op === "add") map.add(name, value);
    else map.set(name, value);
    h.mutated(type, op, name.toLowerCase(), value);
    return R.Ok;
  };
  return {
    // proxy_log(level, msg, len): logs at level; levels below the host's are dropped.
    "env.proxy_log": (level: number, ptr: number, len: number) => {
      const msg = h.memory.peek(ptr, len, "proxy_log");
      if (msg === null) return R.InvalidMemoryAccess;
      if (level < 0 || level > LogLevel.critical) {
        h.violation(`proxy_log: invalid level ${level}`);
        return R.BadArgument;
      }
      if (level >= h.logLevel) h.log(level, msg.toString("utf8"));
      return R.Ok;
    },

    // proxy_get_log_level(level*) (ABI 0.2.1): writes the host's current log level.
    "env.proxy_get_log_level": (ptr: number) =>
      h.memory.writeU32(ptr, h.logLevel, "proxy_get_log_level")
        ? R.Ok
        : R.InvalidMemoryAccess,

    // proxy_get_property(path, len, value**, size*): NUL-separated path; NotFound if unknown.
    "env.proxy_get_property": (
      ptr: number,
      len: number,
      vpp: number,
      vsp: number,
    ) => {
      const path = h.memory.peek(ptr, len, "proxy_get_property");
      if (path === null) return R.InvalidMemoryAccess;
      const value = h.property(path.toString("utf8"));
      if (value === undefined) return R.NotFound;
      return h.memory.copyOut(value, vpp, vsp, "proxy_get_property");
    },

    // proxy_get_buffer_bytes(type, start, len, data**, size*): a slice of the buffer, clipped
    // to its end (an empty slice answers pointer 0, size 0); NotFound if it is unavailable.
    "env.proxy_get_buffer_bytes": (
      type: number,
      start: number,
      length: number,
      pp: number,
      sp: number,
    ) => {
      if (type < 0 || type > MAX_BUFFER_TYPE) return R.BadArgument;
      const buffer = h.buffer(type);
      if (buffer === null) return R.NotFound;
      start >>>= 0;
      length >>>= 0;
      const end = Math.min(buffer.length, start + length);
      const slice =
        start >= end ? Buffer.alloc(0) : buffer.subarray(start, end);
      return h.memory.copyOut(slice, pp, sp, "proxy_get_buffer_bytes");
    },

    // proxy_get_buffer_status(type, length*, flags*): the buffer's size, flags 0.
    "env.proxy_get_buffer_status": (type: number, lp: number, fp: number) => {
      if (type < 0 || type > MAX_BUFFER_TYPE) return R.BadArgument;
      const buffer = h.buffer(type);
      if (buffer === null) return R.NotFound;
      const ok =
        h.memory.writeU32(lp, buffer.length, "proxy_get_buffer_status") &&
        h.memory.writeU32(fp, 0, "proxy_get_buffer_status");
      return ok ? R.Ok : R.InvalidMemoryAccess;
    },

    // proxy_get_header_map_value(type, key, len, value**, size*): first value of the
    // (lowercased) key; NotFound if absent; BadArgument if the map is not reachable now.
    "env.proxy_get_header_map_value": (
      type: number,
      kp: number,
      kl: number,
      vpp: number,
      vsp: number,
    ) => {
      const key = h.memory.peek(kp, kl, "proxy_get_header_map_value");
      if (key === null) return R.InvalidMemoryAccess;
      if (type < 0 || type > MAX_HEADER_MAP_TYPE) return R.BadArgument;
      const map = h.headerMap(type, false);
      if (map === null) return R.BadArgument;
      const name = key.toString("utf8").toLowerCase();
      const entry = map.entries.find(([k]) => k === name);
      if (entry === undefined) return R.NotFound;
      return h.memory.copyOut(entry[1], vpp, vsp, "proxy_get_header_map_value");
    },

    // proxy_get_header_map_pairs(type, data**, size*): the whole map serialized; an empty or
    // unreachable map answers Ok with pointer 0, size 0 (not a zero count).
    "env.proxy_get_header_map_pairs": (
      type: number,
      pp: number,
      sp: number,
    ) => {
      if (type < 0 || type > MAX_HEADER_MAP_TYPE) return R.BadArgument;
      const map = h.headerMap(type, false);
      const data =
        map && map.size > 0 ? serializePairs(map.entries) : Buffer.alloc(0);
      return h.memory.copyOut(data, pp, sp, "proxy_get_header_map_pairs");
    },

    // proxy_set_header_map_pairs(type, data, size): replaces the whole map with the pairs
    // (malformed pairs: BadArgument and a violation, where Envoy would read garbage).
    "env.proxy_set_header_map_pairs": (
      type: number,
      ptr: number,
      len: number,
    ) => {
      const data = h.memory.peek(ptr, len, "proxy_set_header_map_pairs");
      if (data === null) return R.InvalidMemoryAccess;
      const pairs = parsePairs(data);
      if (typeof pairs === "string") {
        h.violation(`proxy_set_header_map_pairs: ${pairs}`);
        return R.BadArgument;
      }
      const map = h.headerMap(type, true);
      if (map === null) return R.BadArgument;
      map.entries.length = 0;
      for (const [k, v] of pairs) map.add(k, v);
      h.mutated(type, "set_pairs");
      return R.Ok;
    },

    // proxy_add_header_map_value(type, key, len, value, len): appends (Envoy addCopy).
    "env.proxy_add_header_map_value": (
      type: number,
      kp: number,
      kl: number,
      vp: number,
      vl: number,
    ) => setValue("add", type, kp, kl, vp, vl),

    // proxy_replace_header_map_value(type, key, len, value, len): removes every value of the
    // key, then appends (Envoy setCopy).
    "env.proxy_replace_header_map_value": (
      type: number,
      kp: number,
      kl: number,
      vp: number,
      vl: number,
    ) => setValue("replace", type, kp, kl, vp, vl),

    // proxy_remove_header_map_value(type, key, len): removes every value of the key; Ok if
    // it was absent.
    "env.proxy_remove_header_map_value": (
      type: number,
      kp: number,
      kl: number,
    ) => {
      const key = h.memory.peek(kp, kl, "proxy_remove_header_map_value");
      if (key === null) return R.InvalidMemoryAccess;
      const map = h.headerMap(type, true);
      if (map === null) return R.BadArgument;
      map.remove(key.toString("utf8"));
      h.mutated(type, "remove", key.toString("utf8").toLowerCase());
      return R.Ok;
    },

    // proxy_get_header_map_size(type, size*): the map's byte size (Envoy HeaderMap::byteSize,
    // not the count); BadArgument unless the map is mutable now.
    "env.proxy_get_header_map_size": (type: number, sp: number) => {
      const map = h.headerMap(type, true);
      if (map === null) return R.BadArgument;
      return h.memory.writeU32(sp, map.byteSize(), "proxy_get_header_map_size")
        ? R.Ok
        : R.InvalidMemoryAccess;
    },

    // proxy_http_call(cluster, len, headers, len, body, len, trailers, len, timeout_ms,
    // token*): BadArgument for an unknown cluster, a negative timeout or missing :method,
    // :path or :authority; InternalFailure when the cluster has no healthy host (no callback);
    // else a token. The call belongs to the root context of the current (effective) context,
    // whichever callback dispatched it (proxy-wasm-cpp-host: `->root_context()`).
    "env.proxy_http_call": (
      up: number,
      ul: number,
      hp: number,
      hl: number,
      bp: number,
      bl: number,
      tp: number,
      tl: number,
      timeout: number,
      tokenPtr: number,
    ) => {
      const what = "proxy_http_call";
      const cluster = h.memory.peek(up, ul, what);
      const rawHeaders = h.memory.peek(hp, hl, what);
      const body = h.memory.read(bp, bl, what);
      const rawTrailers = h.memory.peek(tp, tl, what);
      if (
        cluster === null ||
        rawHeaders === null ||
        body === null ||
        rawTrailers === null
      ) {
        return R.InvalidMemoryAccess;
      }
      const headerPairs = parsePairs(rawHeaders);
      const trailerPairs = parsePairs(rawTrailers);
      if (typeof headerPairs === "string" || typeof trailerPairs === "string") {
        h.violation(`${what}: malformed pairs: ${headerPairs}${trailerPairs}`);
        return R.BadArgument;
      }
      if (!h.memory.writeU32(tokenPtr, 0, what)) return R.InvalidMemoryAccess;
      const { result, token } = h.httpCall({
        cluster: cluster.toString("utf8"),
        headers: new HeaderMap(headerPairs),
        body,
        trailers: new HeaderMap(trailerPairs),
        timeoutMs: timeout,
      });
      if (result !== R.Ok) return result;
      return h.memory.writeU32(tokenPtr, token, what)
        ? R.Ok
        : R.InvalidMemoryAccess;
    },

    // proxy_define_metric(type, name, len, id*): a new id each time (type in the low 2 bits,
    // first ids 4/5/6), the same underlying stat for the same name.
    "env.proxy_define_metric": (
      type: number,
      np: number,
      nl: number,
      idp: number,
    ) => {
      const name = h.memory.peek(np, nl, "proxy_define_metric");
      if (name === null) return R.InvalidMemoryAccess;
      const { result, id } = h.metricTable.define(type, name.toString("utf8"));
      if (result !== R.Ok) return result;
      return h.memory.writeU32(idp, id, "proxy_define_metric")
        ? R.Ok
        : R.InvalidMemoryAccess;
    },

    // proxy_increment_metric(id, i64 offset): counters by offset > 0 only (else BadArgument),
    // gauges up or down; BadArgument for a histogram; NotFound for an unknown id.
    "env.proxy_increment_metric": (id: number, offset: bigint) =>
      h.metricTable.increment(id, offset),

    // proxy_record_metric(id, u64 value): counter += value, gauge = value, histogram records.
    "env.proxy_record_metric": (id: number, value: bigint) =>
      h.metricTable.record(id, value),

    // proxy_get_metric(id, u64*): a counter's or gauge's value; BadArgument for a histogram.
    "env.proxy_get_metric": (id: number, rp: number) => {
      const { result, value } = h.metricTable.get(id);
      if (result !== R.Ok) return result;
      return h.memory.writeU64(rp, BigInt(value), "proxy_get_metric")
        ? R.Ok
        : R.InvalidMemoryAccess;
    },

    // proxy_get_current_time_nanoseconds(u64*): the emulator's clock (wall time in Envoy).
    "env.proxy_get_current_time_nanoseconds": (ptr: number) =>
      h.memory.writeU64(ptr, h.nowNs, "proxy_get_current_time_nanoseconds")
        ? R.Ok
        : R.InvalidMemoryAccess,

    // proxy_set_tick_period_milliseconds(ms): recorded for the current root context.
    "env.proxy_set_tick_period_milliseconds": (ms: number) =>
      h.setTickPeriod(ms >>> 0),

    // proxy_set_effective_context(id): later host calls in this callback act for that
    // context; BadArgument if it does not exist (or was deleted).
    "env.proxy_set_effective_context": (id: number) =>
      h.setEffectiveContext(id >>> 0),

    // proxy_continue_stream(stream_type): resumes a paused request (0) or response (1) and,
    // like Envoy, drops the stream's request maps; BadArgument for other types.
    "env.proxy_continue_stream": (type: number) => h.continueStream(type),

    // proxy_send_local_response(status, details, len, body, len, headers, len, grpc_status):
    // recorded on the stream (Envoy answers the client after the callback).
    "env.proxy_send_local_response": (
      status: number,
      dp: number,
      dl: number,
      bp: number,
      bl: number,
      hp: number,
      hl: number,
      grpc: number,
    ) => {
      const what = "proxy_send_local_response";
      const details = h.memory.read(dp, dl, what);
      const body = h.memory.read(bp, bl, what);
      const raw = h.memory.peek(hp, hl, what);
      if (details === null || body === null || raw === null)
        return R.InvalidMemoryAccess;
      const pairs = parsePairs(raw);
      if (typeof pairs === "string") {
        h.violation(`${what}: ${pairs}`);
        return R.BadArgument;
      }
      h.sendLocalResponse({
        status: status >>> 0,
        details,
        body,
        headers: new HeaderMap(pairs),
        grpcStatus: grpc,
      });
      return R.Ok;
    },

    // proxy_done(): the module finished a deferred on_done; accepted.
    "env.proxy_done": () => R.Ok,

    // wasi proc_exit(code): the module ends itself; recorded, then unwinds as a trap.
    "wasi_snapshot_preview1.proc_exit": (code: number) => h.exit(code),

    // wasi fd_write(fd, iovs, iovs_len, nwritten*): fd 1 is logged at info, fd 2 at error
    // (one trailing newline dropped), as proxy-wasm-cpp-host does; also kept in stdout/stderr.
    "wasi_snapshot_preview1.fd_write": (
      fd: number,
      iovs: number,
      n: number,
      np: number,
    ) => {
      const ERRNO_BADF = 8;
      const ERRNO_FAULT = 21;
      if (fd !== 1 && fd !== 2) return ERRNO_BADF;
      let text = "";
      let written = 0;
      for (let i = 0; i < n; i++) {
        const iov = h.memory.peek(iovs + i * 8, 8, "fd_write");
        if (iov === null) return ERRNO_FAULT;
        const chunk = h.memory.read(
          iov.readUInt32LE(0),
          iov.readUInt32LE(4),
          "fd_write",
        );
        if (chunk === null) return ERRNO_FAULT;
        text += chunk.toString("utf8");
        written += chunk.length;
      }
      h.write(fd, text);
      const level = fd === 1 ? LogLevel.info : LogLevel.error;
      if (text.length > 0 && level >= h.logLevel)
        h.log(level, text.endsWith("\n") ? text.slice(0, -1) : text);
      return h.memory.writeU32(np, written, "fd_write") ? 0 : ERRNO_FAULT;
    },
  } as Record<string, ImportFn>;
}
