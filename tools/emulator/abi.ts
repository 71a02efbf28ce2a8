/**
 * The proxy-wasm ABI (0.2.x) as the host emulator speaks it: result codes, log levels, header map,
 * buffer and metric types, the statuses a stream callback returns.
 */

/** Result codes of host calls (proxy-wasm ABI `WasmResult`). */
export const WasmResult = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  ParseFailure: 4,
  BadExpression: 5,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  ResultMismatch: 9,
  InternalFailure: 10,
  BrokenConnection: 11,
  Unimplemented: 12,
} as const;

/** Log levels as `proxy_log` takes them (spdlog's numbering). */
export const LogLevel = {
  trace: 0,
  debug: 1,
  info: 2,
  warn: 3,
  error: 4,
  critical: 5,
} as const;
export type LogLevelName = keyof typeof LogLevel;

/** Header map types (proxy-wasm ABI `WasmHeaderMapType`). */
export const HeaderMapType = {
  RequestHeaders: 0,
  RequestTrailers: 1,
  ResponseHeaders: 2,
  ResponseTrailers: 3,
  GrpcReceiveInitialMetadata: 4,
  GrpcReceiveTrailingMetadata: 5,
  HttpCallResponseHeaders: 6,
  HttpCallResponseTrailers: 7,
} as const;

/** Buffer types (proxy-wasm ABI `WasmBufferType`). */
export const BufferType = {
  HttpRequestBody: 0,
  HttpResponseBody: 1,
  NetworkDownstreamData: 2,
  NetworkUpstreamData: 3,
  HttpCallResponseBody: 4,
  GrpcReceiveBuffer: 5,
  VmConfiguration: 6,
  PluginConfiguration: 7,
  CallData: 8,
} as const;

/** Metric types (proxy-wasm ABI `MetricType`). */
export const MetricType = { Counter: 0, Gauge: 1, Histogram: 2 } as const;

/** Filter statuses a stream callback returns (headers, body and trailers share 0 = Continue). */
export const FilterStatus = {
  Continue: 0,
  StopIteration: 1,
  StopAllIterationAndBuffer: 3,
  StopAllIterationAndWatermark: 4,
} as const;

/** The highest buffer type and header map type the ABI defines. */
export const MAX_BUFFER_TYPE = BufferType.CallData;
export const MAX_HEADER_MAP_TYPE = HeaderMapType.HttpCallResponseTrailers;

/** A level by name or number, as a number; throws for an unknown name. */
export function levelOf(level: number | LogLevelName): number {
  if (typeof level === "number") return level;
  const l = LogLevel[level];
  if (l === undefined) throw new Error(`unknown log level ${level}`);
  return l;
}
