// Istio's own xDS generation for an ambient waypoint, run on the objects a TypeScript test
// writes (tests/host/gateway-waypoint.test.ts): the Services, the waypoint and the HTTPRoute and
// WasmPlugin that `npm run gateway` renders. It writes what the waypoint gets — its cluster
// names, each route's mirror policies and the HTTP filters of its listeners — as JSON, for the
// TypeScript side to compare with the rendering. Istio's fake discovery server
// (pilot/test/xds) is the one Istio's own waypoint tests use.
package waypoint

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"istio.io/api/label"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/wellknown"
)

// MirrorPolicy is one request_mirror_policies entry of a route.
type MirrorPolicy struct {
	Cluster string `json:"cluster"`
	// Numerator is the default runtime fraction's numerator; Denominator its unit.
	Numerator   uint32 `json:"numerator"`
	Denominator string `json:"denominator"`
}

// Generated is what the waypoint proxy gets from istiod for the objects.
type Generated struct {
	Clusters    []string                  `json:"clusters"`
	Mirrors     map[string][]MirrorPolicy `json:"mirrors"`
	HTTPFilters []string                  `json:"httpFilters"`
}

// TestWaypointConfig reads each *.yaml of $WAYPOINT_IN and writes, to $WAYPOINT_OUT, what the
// waypoint gets for each, by file name.
func TestWaypointConfig(t *testing.T) {
	in, out := os.Getenv("WAYPOINT_IN"), os.Getenv("WAYPOINT_OUT")
	if in == "" || out == "" {
		t.Fatal("WAYPOINT_IN (a folder of YAML files) and WAYPOINT_OUT (a JSON file) must be set")
	}
	files, err := filepath.Glob(filepath.Join(in, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.yaml in %s (%v)", in, err)
	}
	all := map[string]Generated{}
	for _, f := range files {
		objects, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) { all[filepath.Base(f)] = generate(t, string(objects)) })
	}
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// generate runs istiod's config generation for a waypoint named "waypoint" in "default" (its
// Pod at 3.0.0.1) over the objects.
func generate(t *testing.T, objects string) Generated {
	// The ambient controller reads the objects as Kubernetes objects, the config store as configs.
	d := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		ConfigString:           objects,
		KubernetesObjectString: objects,
	})
	proxy := d.SetupProxy(&model.Proxy{
		Type:            model.Waypoint,
		ConfigNamespace: "default",
		Labels: map[string]string{
			label.IoK8sNetworkingGatewayGatewayName.Name: "waypoint",
			label.GatewayManaged.Name:                    constants.ManagedGatewayMeshControllerLabel,
		},
		IPAddresses: []string{"3.0.0.1"},
	})
	g := Generated{Mirrors: map[string][]MirrorPolicy{}}
	for _, c := range d.Clusters(proxy) {
		g.Clusters = append(g.Clusters, c.Name)
	}
	sort.Strings(g.Clusters)
	listeners := d.Listeners(proxy)
	// A waypoint's per-service routes are inline in its listeners' connection managers; others
	// come over RDS.
	routes := d.RoutesFromListeners(proxy, listeners)
	seen := map[string]bool{}
	for _, l := range listeners {
		for _, fc := range l.FilterChains {
			for _, f := range fc.Filters {
				if f.Name != wellknown.HTTPConnectionManager {
					continue
				}
				h := &hcm.HttpConnectionManager{}
				if err := f.GetTypedConfig().UnmarshalTo(h); err != nil {
					t.Fatal(err)
				}
				if rc := h.GetRouteConfig(); rc != nil {
					routes = append(routes, rc)
				}
				for _, hf := range h.HttpFilters {
					if !seen[hf.Name] {
						seen[hf.Name] = true
						g.HTTPFilters = append(g.HTTPFilters, hf.Name)
					}
				}
			}
		}
	}
	for _, rc := range routes {
		for _, vh := range rc.VirtualHosts {
			for _, r := range vh.Routes {
				for _, m := range r.GetRoute().GetRequestMirrorPolicies() {
					f := m.GetRuntimeFraction().GetDefaultValue()
					key := rc.Name + " " + r.Name
					g.Mirrors[key] = append(g.Mirrors[key], MirrorPolicy{
						Cluster: m.Cluster, Numerator: f.GetNumerator(), Denominator: f.GetDenominator().String(),
					})
				}
			}
		}
	}
	return g
}
