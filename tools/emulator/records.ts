/**
 * What the host emulator records of a module's behaviour and hands to tests: log lines, metrics,
 * dispatched and refused HTTP calls, header mutations, traps.
 */
import type { HeaderInput, HeaderMap } from "./pairs.ts";

/** One `proxy_log` line. */
export interface LogEntry {
  level: number;
  message: string;
  contextId: number;
  callback: string;
}

/** A metric defined by the module; readable by name. */
export interface Metric {
  name: string;
  type: "counter" | "gauge" | "histogram";
  /** Counter or gauge value (0 for a histogram). */
  value: number;
  /** Every value recorded on a histogram, in order. */
  values: number[];
}

/** A dark response as a test hands it to `host.respond`. */
export interface HttpResponse {
  status?: number;
  headers?: HeaderInput;
  body?: string | Uint8Array;
  trailers?: HeaderInput;
  /**
   * Add what Envoy's router adds to an upstream's response (`x-envoy-upstream-service-time`,
   * ms since dispatch). Default true; Envoy's own local replies carry none.
   */
  envoyHeaders?: boolean;
}

/** A call the module dispatched with `proxy_http_call` and the host accepted. */
export interface HttpCall {
  token: number;
  /** The root context the call belongs to (Envoy cancels it when that context goes away). */
  contextId: number;
  /** The callback that was running when it was dispatched, e.g. `proxy_on_request_body`. */
  dispatchedIn: string;
  cluster: string;
  /** Request headers as sent (names lowercased by the host, as Envoy does). */
  headers: HeaderMap;
  body: Buffer;
  trailers: HeaderMap;
  timeoutMs: number;
  dispatchedAtNs: bigint;
  state: "pending" | "completed" | "reset" | "cancelled";
  /** What the host answered (undefined while pending, for a reset, or when cancelled). */
  response?: { headers: HeaderMap; body: Buffer; trailers: HeaderMap };
}

/** A dispatch the host refused: nothing is pending and no callback will come. */
export interface RejectedHttpCall {
  result: number;
  contextId: number;
  cluster: string;
  headers: HeaderMap;
  body: Buffer;
  timeoutMs: number;
}

/** A trap: the VM is failed from here on, as in Envoy. */
export interface TrapRecord {
  callback: string;
  contextId: number;
  message: string;
  /** Set when the module called `proc_exit` (AssemblyScript's abort does, with 255). */
  exitCode?: number;
  /** The last critical log line before the trap (AssemblyScript's abort message goes there). */
  lastCritical?: string;
}

/** A mutation of a stream's header map, with the callback that made it. */
export interface HeaderMutation {
  map: number;
  op: "add" | "replace" | "remove" | "set_pairs";
  name?: string;
  value?: string;
  callback: string;
}

/** How a cluster answers `proxy_http_call` (Envoy: unknown → BadArgument, no host → InternalFailure). */
export type ClusterState = "healthy" | "no_healthy_host" | "missing";

/** Thrown by a driver call when the module trapped (or the VM had already failed). */
export class GuestTrap extends Error {
  constructor(
    message: string,
    readonly trap: TrapRecord,
  ) {
    super(message);
    this.name = "GuestTrap";
  }
}

/** What `proc_exit` throws through the guest to unwind it (then recorded as a trap). */
export class ProcExit extends Error {
  constructor(readonly code: number) {
    super(`proc_exit(${code})`);
    this.name = "ProcExit";
  }
}
