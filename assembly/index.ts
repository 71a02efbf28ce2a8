export * from "@solo-io/proxy-runtime/assembly/proxy";
import {
  RootContext,
  registerRootContext,
} from "@solo-io/proxy-runtime/assembly";
registerRootContext((id: u32): RootContext => new RootContext(id), "mirror");
