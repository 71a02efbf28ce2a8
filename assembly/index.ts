// ABI entry: the proxy-wasm entry points Envoy calls (only those the filter uses: an absent
// export is simply not called), the module's `malloc`, and which context each call is for.
//
// Root contexts (one per plugin configuration) live from their creation to their deletion. A
// stream is only remembered by the root it belongs to, until the decision gives it copies: then
// its state (MirrorStream) is kept for its later callbacks. A request that is not mirrored
// allocates nothing. Every entry point ignores a context it does not know, and returns Continue
// (0) where the ABI expects a status: the live request is never held.
import { MirrorRoot, MirrorStream } from "./contexts";
import { IdTable } from "./ids";
export { malloc } from "./scratch";

const roots = new IdTable<MirrorRoot | null>(2);
/** the root of every stream alive */
const streamRoots = new IdTable<MirrorRoot | null>();
/** the streams with copies or comparisons in progress */
const streams = new IdTable<MirrorStream | null>();

export function proxy_abi_version_0_2_0(): void {}

export function proxy_on_context_create(id: u32, rootId: u32): void {
  if (rootId == 0) {
    if (roots.get(id) === null) roots.set(id, new MirrorRoot(id));
  } else {
    const root = roots.get(rootId);
    if (root !== null) streamRoots.set(id, root);
  }
}

export function proxy_on_vm_start(id: u32, vmConfigurationSize: u32): u32 {
  return roots.get(id) !== null ? 1 : 0;
}

export function proxy_on_configure(id: u32, configurationSize: u32): u32 {
  const root = roots.get(id);
  return root !== null && root.onConfigure(configurationSize) ? 1 : 0;
}

export function proxy_on_tick(id: u32): void {
  const root = roots.get(id);
  if (root !== null) root.onTick();
}

export function proxy_on_request_headers(
  id: u32,
  headers: u32,
  endOfStream: u32,
): u32 {
  const root = streamRoots.get(id);
  if (root !== null) {
    const s = root.requestHeaders(id, endOfStream != 0);
    if (s !== null) streams.set(id, s);
  }
  return 0;
}

export function proxy_on_request_body(
  id: u32,
  size: u32,
  endOfStream: u32,
): u32 {
  const s = streams.get(id);
  if (s !== null) s.onRequestBody(size, endOfStream != 0);
  return 0;
}

export function proxy_on_request_trailers(id: u32, trailers: u32): u32 {
  const root = streamRoots.get(id);
  if (root !== null) root.requestTrailers(streams.get(id));
  return 0;
}

export function proxy_on_response_headers(
  id: u32,
  headers: u32,
  endOfStream: u32,
): u32 {
  const s = streams.get(id);
  if (s !== null) s.onResponseHeaders(endOfStream != 0);
  return 0;
}

export function proxy_on_response_body(
  id: u32,
  size: u32,
  endOfStream: u32,
): u32 {
  const s = streams.get(id);
  if (s !== null) s.onResponseBody(size, endOfStream != 0);
  return 0;
}

export function proxy_on_response_trailers(id: u32, trailers: u32): u32 {
  const s = streams.get(id);
  if (s !== null) s.onResponseTrailers();
  return 0;
}

export function proxy_on_http_call_response(
  id: u32,
  token: u32,
  headers: u32,
  bodySize: u32,
  trailers: u32,
): void {
  const root = roots.get(id);
  if (root !== null)
    root.onHttpCallResponse(token, headers, bodySize, trailers);
}

export function proxy_on_done(id: u32): u32 {
  const root = roots.get(id);
  if (root !== null) root.onDone();
  else {
    const s = streams.get(id);
    if (s !== null) s.onDone();
  }
  return 1;
}

export function proxy_on_delete(id: u32): void {
  const root = roots.get(id);
  if (root !== null) {
    root.onDelete();
    roots.delete(id);
  } else if (streamRoots.get(id) !== null) {
    streamRoots.delete(id);
    const s = streams.get(id);
    if (s !== null) {
      s.onDelete();
      streams.delete(id);
    }
  }
}
