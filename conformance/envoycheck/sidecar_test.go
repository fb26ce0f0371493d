package envoycheck

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/egressgate/egressgate/conformance/xds"
)

func TestSidecar(t *testing.T) {
	cfg := xds.Config{
		Clusters: map[string]*clusterv3.Cluster{
			"outbound|443||kubernetes.default.svc.cluster.local": {Name: "outbound|443||kubernetes.default.svc.cluster.local"},
			PassthroughCluster: {Name: PassthroughCluster, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}},
		},
		Listeners: map[string]*listenerv3.Listener{},
		Routes:    map[string]*routev3.RouteConfiguration{},
	}
	if err := Sidecar(cfg, "github.com"); err != nil {
		t.Fatal(err)
	}
	cfg.Clusters["outbound|443||github.com"] = dnsCluster("github.com", 443)
	cfg.Routes["443"] = &routev3.RouteConfiguration{Name: "443", VirtualHosts: []*routev3.VirtualHost{{Name: "github.com:443", Domains: []string{"github.com"}}}}
	err := Sidecar(cfg, "github.com")
	for _, want := range []string{"the sidecar has cluster outbound|443||github.com for github.com", "virtual host github.com:443 for github.com"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no violation says %q: %v", want, err)
		}
	}
}
