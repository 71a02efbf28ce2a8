// What the Gateway API e2e cases add to the harness's Envoy config: more upstream clusters (a
// native mirror's, each mirror backend's under the names an implementation gives it) and a
// handle on the one route, where Envoy Gateway and Istio put a rule's header modifier and mirrors.
import { staticCluster } from "../../tools/envoy/config.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Bootstrap = Record<string, any>;

/** Adds a STATIC cluster `name` reaching 127.0.0.1:`port`. */
export function addCluster(b: Bootstrap, name: string, port: number): void {
  b.static_resources.clusters.push(staticCluster(name, port));
}

/** The rendered config's one route (prefix "/" to the live cluster). */
export function theRoute(b: Bootstrap): Bootstrap {
  const hcm = b.static_resources.listeners[0].filter_chains[0].filters[0];
  return hcm.typed_config.route_config.virtual_hosts[0].routes[0];
}
