package xds

import (
	"fmt"
	"slices"
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// follow subscribes to what a response names, as Envoy does: the
// endpoints of EDS clusters after clusters, the route configurations of
// HTTP connection managers after listeners.
func (s *Stream) follow(typ string, cfg Config) error {
	switch typ {
	case ClusterType:
		return s.subscribe(EndpointType, edsNames(cfg.Clusters))
	case ListenerType:
		return s.subscribe(RouteType, rdsNames(cfg.Listeners))
	}
	return nil
}

// subscribe asks for exactly names of typ when they changed (none is an
// unsubscribe), with the last nonce of that type as Envoy does.
func (s *Stream) subscribe(typ string, names []string) error {
	if slices.Equal(names, s.names[typ]) {
		return nil
	}
	s.names[typ] = names
	if err := s.ads.Send(&discoveryv3.DiscoveryRequest{
		TypeUrl: typ, VersionInfo: s.version[typ], ResponseNonce: s.nonces[typ], ResourceNames: names,
	}); err != nil {
		return fmt.Errorf("subscribe to %s %v: %w", shortType(typ), names, err)
	}
	return nil
}

// edsNames are the endpoint names EDS clusters ask for, sorted.
func edsNames(clusters map[string]*clusterv3.Cluster) []string {
	var names []string
	for _, c := range clusters {
		if c.GetType() != clusterv3.Cluster_EDS {
			continue
		}
		name := c.GetEdsClusterConfig().GetServiceName()
		if name == "" {
			name = c.Name
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return slices.Compact(names)
}

// rdsNames are the route configurations HTTP connection managers name,
// sorted.
func rdsNames(listeners map[string]*listenerv3.Listener) []string {
	var names []string
	for _, l := range listeners {
		chains := slices.Clone(l.FilterChains)
		if l.DefaultFilterChain != nil {
			chains = append(chains, l.DefaultFilterChain)
		}
		for _, fc := range chains {
			for _, f := range fc.Filters {
				hcm := &hcmv3.HttpConnectionManager{}
				if f.GetTypedConfig().MessageIs(hcm) && f.GetTypedConfig().UnmarshalTo(hcm) == nil {
					if name := hcm.GetRds().GetRouteConfigName(); name != "" {
						names = append(names, name)
					}
				}
			}
		}
	}
	sort.Strings(names)
	return slices.Compact(names)
}
