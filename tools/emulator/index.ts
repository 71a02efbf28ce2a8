/**
 * The host emulator's public face: load a module into a `Host`, drive its callbacks, inspect what
 * it did. host.ts says how the parts fit.
 */
export {
  BufferType,
  FilterStatus,
  HeaderMapType,
  LogLevel,
  type LogLevelName,
  MetricType,
  WasmResult,
} from "./abi.ts";
export { Host, type HostOptions } from "./host.ts";
export {
  HeaderMap,
  type HeaderInput,
  parsePairs,
  serializePairs,
} from "./pairs.ts";
export {
  type ClusterState,
  GuestTrap,
  type HeaderMutation,
  type HttpCall,
  type HttpResponse,
  type LogEntry,
  type Metric,
  type RejectedHttpCall,
  type TrapRecord,
} from "./records.ts";
export { Stream } from "./stream.ts";
