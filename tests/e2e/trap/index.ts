// A test-only build of the filter (AssemblyScript) for forcing a VM failure in the real Envoy:
// the same module as assembly/index.ts, except that a request carrying `x-test-trap` makes the
// VM trap (`unreachable`) in proxy_on_request_headers, as an allocation failure would.
// tests/e2e/trap.ts compiles it into build/ with the release options; it is never shipped.
export {
  malloc,
  proxy_abi_version_0_2_0,
  proxy_on_vm_start,
  proxy_on_configure,
  proxy_on_tick,
  proxy_on_context_create,
  proxy_on_request_body,
  proxy_on_request_trailers,
  proxy_on_response_headers,
  proxy_on_response_body,
  proxy_on_response_trailers,
  proxy_on_http_call_response,
  proxy_on_done,
  proxy_on_delete,
} from "../../../assembly/index";
import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import { proxy_on_request_headers as filterRequestHeaders } from "../../../assembly/index";

const TRAP = String.UTF8.encode("x-test-trap");
const OUT: usize = memory.data(8);

export function proxy_on_request_headers(
  id: u32,
  headers: u32,
  endOfStream: u32,
): u32 {
  store<usize>(OUT, 0);
  const r = imports.proxy_get_header_map_value(
    0,
    changetype<usize>(TRAP),
    TRAP.byteLength,
    OUT,
    OUT + 4,
  );
  if (r == 0 && load<usize>(OUT) != 0) unreachable();
  return filterRequestHeaders(id, headers, endOfStream);
}
