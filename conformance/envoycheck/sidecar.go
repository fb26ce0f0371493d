package envoycheck

import (
	"errors"
	"fmt"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/egressgate/egressgate/conformance/xds"
)

// Sidecar checks that a sidecar's configuration knows nothing of dnsName:
// no cluster for it, no filter chain matching its SNI, no route or
// virtual host for it. The gateway's ServiceEntry is exported to the
// gateway namespace only, so a workload's sidecar must not reach dnsName
// by itself. (With the mesh's ALLOW_ANY it still has a passthrough
// cluster: stopping that is DNS's and NetworkPolicy's job.)
func Sidecar(cfg xds.Config, dnsName string) error {
	var errs []error
	mentions := func(s string) bool {
		return s == dnsName || strings.HasSuffix(s, "|"+dnsName) || strings.HasPrefix(s, dnsName+":")
	}
	for _, name := range sortedKeys(cfg.Clusters) {
		c := cfg.Clusters[name]
		if mentions(name) || mentions(c.GetEdsClusterConfig().GetServiceName()) {
			errs = append(errs, fmt.Errorf("the sidecar has cluster %s for %s: it would reach %s without the gateway", name, dnsName, dnsName))
			continue
		}
		for _, a := range addresses(c.GetLoadAssignment()) {
			if strings.HasPrefix(a, dnsName+":") {
				errs = append(errs, fmt.Errorf("the sidecar's cluster %s connects to %s: it would reach %s without the gateway", name, a, dnsName))
			}
		}
	}
	for _, name := range sortedKeys(cfg.Listeners) {
		for _, c := range chains(cfg.Listeners[name]) {
			for _, sn := range c.GetFilterChainMatch().GetServerNames() {
				if sn == dnsName {
					errs = append(errs, fmt.Errorf("the sidecar's %s matches SNI %s%s", c.Name, dnsName, destination(&c)))
				}
			}
		}
	}
	for _, name := range sortedKeys(cfg.Routes) {
		for _, vh := range cfg.Routes[name].GetVirtualHosts() {
			for _, d := range vh.GetDomains() {
				if mentions(d) {
					errs = append(errs, fmt.Errorf("the sidecar's route configuration %s has virtual host %s for %s", name, vh.GetName(), d))
				}
			}
			for _, r := range vh.GetRoutes() {
				for _, cl := range routeClusters(r.GetRoute()) {
					if mentions(cl) {
						errs = append(errs, fmt.Errorf("the sidecar's route configuration %s, virtual host %s routes to cluster %s", name, vh.GetName(), cl))
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

// routeClusters are the clusters a route action names.
func routeClusters(a *routev3.RouteAction) []string {
	if a == nil {
		return nil
	}
	if c := a.GetCluster(); c != "" {
		return []string{c}
	}
	var out []string
	for _, wc := range a.GetWeightedClusters().GetClusters() {
		out = append(out, wc.GetName())
	}
	return out
}
