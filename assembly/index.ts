// ABI entry: the proxy-wasm entry points Envoy calls (only those the filter uses: an absent
// export is simply not called), the module's `malloc`, and the root context "mirror".
export {
  proxy_abi_version_0_2_0,
  proxy_on_vm_start,
  proxy_on_configure,
  proxy_on_tick,
  proxy_on_context_create,
  proxy_on_request_headers,
  proxy_on_request_body,
  proxy_on_request_trailers,
  proxy_on_response_headers,
  proxy_on_response_body,
  proxy_on_response_trailers,
  proxy_on_http_call_response,
  proxy_on_done,
  proxy_on_delete,
} from "@solo-io/proxy-runtime/assembly/exports";
export { malloc } from "./scratch";
import {
  RootContext,
  registerRootContext,
} from "@solo-io/proxy-runtime/assembly";
import { MirrorRoot } from "./filter";

registerRootContext((id: u32): RootContext => new MirrorRoot(id), "mirror");
