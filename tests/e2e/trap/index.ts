// A test-only build of the filter (AssemblyScript) for forcing a VM failure in the real Envoy:
// the same module as assembly/index.ts, except that a request carrying `x-test-trap` makes the
// VM trap (`unreachable`) in proxy_on_request_headers, as an allocation failure would.
// tests/e2e/trap.ts compiles it into build/ with the release options; it is never shipped.
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
export { malloc } from "../../../assembly/scratch";
import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import {
  Context,
  FilterHeadersStatusValues,
  RootContext,
  registerRootContext,
} from "@solo-io/proxy-runtime/assembly";
import { MirrorRoot, MirrorStream } from "../../../assembly/filter";

const TRAP = String.UTF8.encode("x-test-trap");
const OUT: usize = memory.data(8);

class TrapStream extends MirrorStream {
  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    store<usize>(OUT, 0);
    const r = imports.proxy_get_header_map_value(
      0,
      changetype<usize>(TRAP),
      TRAP.byteLength,
      OUT,
      OUT + 4,
    );
    if (r == 0 && load<usize>(OUT) != 0) unreachable();
    return super.onRequestHeaders(a, end_of_stream);
  }
}

class TrapRoot extends MirrorRoot {
  createContext(context_id: u32): Context {
    return new TrapStream(context_id, this);
  }
}

registerRootContext((id: u32): RootContext => new TrapRoot(id), "mirror");
