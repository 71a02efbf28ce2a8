// ABI entry: the proxy-wasm entry points Envoy calls (only those the filter uses: an absent
// export is simply not called), the module's `malloc`, and which context each call is for.
//
// Root contexts (one per plugin configuration) live from their creation to their deletion. A
// stream is only remembered by the root it belongs to, until the decision gives it copies: then
// its state (MirrorStream) is kept for its later callbacks. A request that is not mirrored
// allocates nothing. Every entry point ignores a context it does not know, and returns Continue
// (0) where the ABI expects a status: the live request is never held.
import { MirrorRoot, MirrorStream } from "./filter";
export { malloc } from "./scratch";

// Keyed by u64 although context ids are u32: the pending calls' map (filter.ts) needs u64 keys,
// and one key type lets every map in the module share one compiled Map (0.7 KB).
const roots = new Map<u64, MirrorRoot>();
/** the root of every stream alive */
const streamRoots = new Map<u64, MirrorRoot>();
/** the streams with copies or comparisons in progress */
const streams = new Map<u64, MirrorStream>();

export function proxy_abi_version_0_2_0(): void {}

export function proxy_on_context_create(id: u32, rootId: u32): void {
  if (rootId == 0) {
    if (!roots.has(id)) roots.set(id, new MirrorRoot(id));
  } else if (roots.has(rootId)) {
    streamRoots.set(id, roots.get(rootId));
  }
}

export function proxy_on_vm_start(id: u32, vmConfigurationSize: u32): u32 {
  return roots.has(id) ? 1 : 0;
}

export function proxy_on_configure(id: u32, configurationSize: u32): u32 {
  return roots.has(id) && roots.get(id).onConfigure(configurationSize) ? 1 : 0;
}

export function proxy_on_tick(id: u32): void {
  if (roots.has(id)) roots.get(id).onTick();
}

export function proxy_on_request_headers(
  id: u32,
  headers: u32,
  endOfStream: u32,
): u32 {
  if (streamRoots.has(id)) {
    const s = streamRoots.get(id).requestHeaders(id, endOfStream != 0);
    if (s !== null) streams.set(id, s);
  }
  return 0;
}

export function proxy_on_request_body(
  id: u32,
  size: u32,
  endOfStream: u32,
): u32 {
  if (streams.has(id)) streams.get(id).onRequestBody(size, endOfStream != 0);
  return 0;
}

export function proxy_on_request_trailers(id: u32, trailers: u32): u32 {
  if (streamRoots.has(id)) {
    streamRoots
      .get(id)
      .requestTrailers(streams.has(id) ? streams.get(id) : null);
  }
  return 0;
}

export function proxy_on_response_headers(
  id: u32,
  headers: u32,
  endOfStream: u32,
): u32 {
  if (streams.has(id)) streams.get(id).onResponseHeaders(endOfStream != 0);
  return 0;
}

export function proxy_on_response_body(
  id: u32,
  size: u32,
  endOfStream: u32,
): u32 {
  if (streams.has(id)) streams.get(id).onResponseBody(size, endOfStream != 0);
  return 0;
}

export function proxy_on_response_trailers(id: u32, trailers: u32): u32 {
  if (streams.has(id)) streams.get(id).onResponseTrailers();
  return 0;
}

export function proxy_on_http_call_response(
  id: u32,
  token: u32,
  headers: u32,
  bodySize: u32,
  trailers: u32,
): void {
  if (roots.has(id)) {
    roots.get(id).onHttpCallResponse(token, headers, bodySize, trailers);
  }
}

export function proxy_on_done(id: u32): u32 {
  if (roots.has(id)) roots.get(id).onDone();
  else if (streams.has(id)) streams.get(id).onDone();
  return 1;
}

export function proxy_on_delete(id: u32): void {
  if (roots.has(id)) {
    roots.delete(id);
  } else if (streamRoots.has(id)) {
    streamRoots.delete(id);
    if (streams.has(id)) {
      streams.get(id).onDelete();
      streams.delete(id);
    }
  }
}
