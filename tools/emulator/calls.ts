/**
 * The HTTP calls a module dispatches with `proxy_http_call`, as Envoy handles them: refused for an
 * unknown cluster (BadArgument), one without a healthy host (InternalFailure), a negative timeout or
 * missing pseudo-headers; otherwise pending under their root context with a token counted per
 * context, until answered, reset, or cancelled with that context.
 */
import { WasmResult } from "./abi.ts";
import type { HeaderMap } from "./pairs.ts";
import type { ClusterState, HttpCall, RejectedHttpCall } from "./records.ts";

/** A call as the module asked for it. */
export interface CallRequest {
  cluster: string;
  headers: HeaderMap;
  body: Buffer;
  trailers: HeaderMap;
  timeoutMs: number;
}

export class HttpCalls {
  /** Dispatches the host accepted (pending, completed, reset or cancelled). */
  readonly accepted: HttpCall[] = [];
  /** Dispatches the host refused. */
  readonly rejected: RejectedHttpCall[] = [];
  /** Pending calls by root context and token. */
  private readonly pending = new Map<string, HttpCall>();
  /** Next token per root context: Envoy counts them per context, from 1. */
  private readonly nextTokens = new Map<number, number>();
  private readonly clusters: Map<string, ClusterState> | null;

  /** `clusters`: the clusters that exist; null: every cluster exists and is healthy. */
  constructor(clusters: Record<string, ClusterState> | undefined) {
    this.clusters = clusters ? new Map(Object.entries(clusters)) : null;
  }

  /** Makes a cluster healthy, unhealthy (InternalFailure) or missing (BadArgument). */
  setCluster(name: string, state: ClusterState): void {
    if (this.clusters === null) {
      throw new Error(
        "setCluster needs the `clusters` option (otherwise every cluster exists)",
      );
    }
    this.clusters.set(name, state);
  }

  /**
   * proxy_http_call for root context `contextId`, from `callback`, at `nowNs`: the result and,
   * when accepted, the call's token.
   */
  dispatch(
    request: CallRequest,
    contextId: number,
    callback: string,
    nowNs: bigint,
  ): { result: number; token: number } {
    const reject = (result: number) => {
      this.rejected.push({
        result,
        contextId,
        cluster: request.cluster,
        headers: request.headers,
        body: request.body,
        timeoutMs: request.timeoutMs,
      });
      return { result, token: 0 };
    };
    if (request.timeoutMs < 0) return reject(WasmResult.BadArgument);
    const state =
      this.clusters === null
        ? "healthy"
        : (this.clusters.get(request.cluster) ?? "missing");
    if (state === "missing") return reject(WasmResult.BadArgument);
    const h = request.headers;
    if (!h.has(":path") || !h.has(":method") || !h.has(":authority")) {
      return reject(WasmResult.BadArgument);
    }
    if (state === "no_healthy_host") return reject(WasmResult.InternalFailure);
    const token = this.nextTokenOf(contextId);
    const call: HttpCall = {
      token,
      contextId,
      dispatchedIn: callback,
      cluster: request.cluster,
      headers: request.headers,
      body: request.body,
      trailers: request.trailers,
      timeoutMs: request.timeoutMs,
      dispatchedAtNs: nowNs,
      state: "pending",
    };
    this.accepted.push(call);
    this.pending.set(pendingKey(contextId, token), call);
    return { result: WasmResult.Ok, token };
  }

  /** Calls still waiting for a response, in dispatch order. */
  pendingCalls(): HttpCall[] {
    return [...this.pending.values()];
  }

  /**
   * The pending call `ref` (the HttpCall or its token: tokens are per root context, so a token two
   * roots share is refused); throws if it is not pending.
   */
  find(ref: HttpCall | number): HttpCall {
    let call: HttpCall | undefined;
    if (typeof ref === "number") {
      const pending = [...this.pending.values()].filter((c) => c.token === ref);
      if (pending.length > 1) {
        throw new Error(
          `token ${ref} is pending in root contexts ${pending.map((c) => c.contextId)}: ` +
            `pass the HttpCall instead`,
        );
      }
      call = pending[0] ?? this.accepted.findLast((c) => c.token === ref);
    } else {
      call = ref;
    }
    if (!call) throw new Error(`no HTTP call with token ${ref}`);
    if (call.state === "cancelled") {
      throw new Error(
        `HTTP call ${call.token} was cancelled: its context ${call.contextId} was deleted ` +
          `(Envoy cancels a context's calls when it is destroyed)`,
      );
    }
    if (call.state !== "pending") {
      throw new Error(`HTTP call ${call.token} already ${call.state}`);
    }
    return call;
  }

  /** The call is answered (`response`) or reset (null): no longer pending. */
  settle(call: HttpCall, response: HttpCall["response"] | null): void {
    call.state = response ? "completed" : "reset";
    this.pending.delete(pendingKey(call.contextId, call.token));
    call.response = response ?? undefined;
  }

  /** Root context `contextId` is gone: Envoy cancels its calls, which never get a callback. */
  cancelAll(contextId: number): void {
    for (const call of this.pending.values()) {
      if (call.contextId === contextId) {
        call.state = "cancelled";
        this.pending.delete(pendingKey(call.contextId, call.token));
      }
    }
  }

  /** Envoy's nextHttpCallToken: per context, from 1, skipping 0 and tokens still pending. */
  private nextTokenOf(contextId: number): number {
    let token = this.nextTokens.get(contextId) ?? 1;
    while (token === 0 || this.pending.has(pendingKey(contextId, token))) {
      token = (token + 1) >>> 0;
    }
    this.nextTokens.set(contextId, (token + 1) >>> 0);
    return token;
  }
}

function pendingKey(contextId: number, token: number): string {
  return `${contextId}/${token}`;
}
