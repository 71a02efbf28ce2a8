// ABI entry: the SDK's exports (proxy_on_*, malloc) and the root context "mirror".
export * from "@solo-io/proxy-runtime/assembly/proxy";
import {
  RootContext,
  registerRootContext,
} from "@solo-io/proxy-runtime/assembly";
import { MirrorRoot } from "./filter";

registerRootContext((id: u32): RootContext => new MirrorRoot(id), "mirror");
