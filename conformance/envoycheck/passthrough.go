package envoycheck

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/egressgate/egressgate/conformance/xds"
)

// passthrough says why a cluster would send a connection wherever the
// client asked, or "".
func passthrough(c *clusterv3.Cluster) string {
	switch {
	case c.GetName() == PassthroughCluster:
		return "is Istio's passthrough: Envoy would connect to whatever address the client dialled"
	case c.GetType() == clusterv3.Cluster_ORIGINAL_DST:
		return "is an ORIGINAL_DST cluster: Envoy would connect to whatever address the client dialled"
	case c.GetClusterType() != nil:
		return fmt.Sprintf("is a custom cluster (%s), e.g. a dynamic forward proxy that connects wherever the client asks", c.GetClusterType().GetName())
	}
	return ""
}

// noPassthrough checks that no chain of any listener, and no route, sends
// to a passthrough or original-destination cluster.
func noPassthrough(cfg xds.Config) []error {
	var errs []error
	for _, name := range sortedKeys(cfg.Listeners) {
		for _, c := range chains(cfg.Listeners[name]) {
			clusters, err := tcpProxyClusters(c.FilterChain)
			if err != nil {
				continue // the port's own check reports it
			}
			for _, cl := range clusters {
				if why := passthroughNamed(cfg, cl); why != "" {
					errs = append(errs, fmt.Errorf("%s sends to cluster %s, which %s", c.Name, cl, why))
				}
			}
		}
	}
	for _, name := range sortedKeys(cfg.Routes) {
		for _, vh := range cfg.Routes[name].GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				for _, cl := range routeClusters(r.GetRoute()) {
					if why := passthroughNamed(cfg, cl); why != "" {
						errs = append(errs, fmt.Errorf("route configuration %s, virtual host %s sends to cluster %s, which %s", name, vh.GetName(), cl, why))
					}
				}
			}
		}
	}
	return errs
}

// passthroughNamed is passthrough for the cluster of that name.
func passthroughNamed(cfg xds.Config, name string) string {
	if c := cfg.Clusters[name]; c != nil {
		return passthrough(c)
	}
	if name == PassthroughCluster {
		return passthrough(&clusterv3.Cluster{Name: name})
	}
	return ""
}
