package envoycheck

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/egressgate/egressgate/conformance/xds"
)

// upstream checks that the cluster named goes to dnsName:port only. The
// error completes "... would be sent to cluster X, which ...".
func upstream(cfg xds.Config, w Want, port uint32, name string) error {
	c := cfg.Clusters[name]
	if c == nil {
		return errors.New("istiod did not send, so Envoy would close the connection")
	}
	if why := passthrough(c); why != "" {
		return errors.New(why)
	}
	if ts := c.GetTransportSocket(); ts != nil && ts.GetName() != rawBuffer {
		return fmt.Errorf("wraps the upstream connection in %s", ts.GetName())
	}
	for _, m := range c.GetTransportSocketMatches() {
		if m.GetTransportSocket().GetName() != rawBuffer {
			return fmt.Errorf("wraps upstream connections matching %v in %s", m.GetMatch(), m.GetTransportSocket().GetName())
		}
	}
	errs := resolves(cfg, w, port, c)
	if err := connectionLimit(w, c); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// resolves checks where the cluster connects: dnsName:port, resolved by
// DNS, or exactly the ipOverride addresses, from EDS.
func resolves(cfg xds.Config, w Want, port uint32, c *clusterv3.Cluster) []error {
	var errs []error
	if len(w.IPOverride) == 0 {
		if typ := c.GetType(); typ != clusterv3.Cluster_STRICT_DNS && typ != clusterv3.Cluster_LOGICAL_DNS {
			errs = append(errs, fmt.Errorf("is a %s cluster, not one that resolves %s (STRICT_DNS or LOGICAL_DNS)", clusterType(c), w.DNSName))
		}
		got := addresses(c.GetLoadAssignment())
		if want := []string{hostPort(w.DNSName, port)}; !slices.Equal(got, want) {
			errs = append(errs, fmt.Errorf("connects to %s, not %s", orNothing(got), want[0]))
		}
		return errs
	}
	if c.GetType() != clusterv3.Cluster_EDS {
		return append(errs, fmt.Errorf("is a %s cluster (connecting to %s), not an EDS cluster of the ipOverride addresses", clusterType(c), orNothing(addresses(c.GetLoadAssignment()))))
	}
	svc := c.GetEdsClusterConfig().GetServiceName()
	if svc == "" {
		svc = c.Name
	}
	var want []string
	for _, ip := range w.IPOverride {
		want = append(want, hostPort(ip, port))
	}
	sort.Strings(want)
	cla := cfg.Endpoints[svc]
	if cla == nil {
		errs = append(errs, fmt.Errorf("has no endpoints from EDS (%s), so Envoy would close the connection", svc))
	} else if got := addresses(cla); !slices.Equal(got, want) {
		errs = append(errs, fmt.Errorf("connects to %s (EDS %s), not exactly the ipOverride addresses %s", orNothing(got), svc, strings.Join(want, ", ")))
	}
	return errs
}

// connectionLimit checks the cluster's circuit breaker against
// envoyClusterMaxConnections, or Istio's default when it is unset.
func connectionLimit(w Want, c *clusterv3.Cluster) error {
	got, limited := maxConnections(c)
	switch {
	case w.MaxConnections == nil:
		if limited && got != IstioDefaultMaxConnections {
			return fmt.Errorf("lets Envoy open only %d connections, though envoyClusterMaxConnections is unset (Istio's default is %d)", got, uint32(IstioDefaultMaxConnections))
		}
	case !limited:
		return fmt.Errorf("has no connection limit for the default priority, so Envoy would open up to 1024 (its default), not %d", min(*w.MaxConnections, istioMaxConnections))
	case int64(got) != min(*w.MaxConnections, istioMaxConnections):
		return fmt.Errorf("lets Envoy open %d connections, not %d (envoyClusterMaxConnections)", got, min(*w.MaxConnections, istioMaxConnections))
	}
	return nil
}

// maxConnections is the default-priority max_connections threshold.
func maxConnections(c *clusterv3.Cluster) (uint32, bool) {
	for _, t := range c.GetCircuitBreakers().GetThresholds() {
		if t.GetPriority() == corev3.RoutingPriority_DEFAULT && t.GetMaxConnections() != nil {
			return t.GetMaxConnections().GetValue(), true
		}
	}
	return 0, false
}

// addresses are the sorted host:port of an assignment's endpoints.
func addresses(cla *endpointv3.ClusterLoadAssignment) []string {
	var out []string
	for _, le := range cla.GetEndpoints() {
		for _, e := range le.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			out = append(out, hostPort(sa.GetAddress(), sa.GetPortValue()))
		}
	}
	sort.Strings(out)
	return out
}

func hostPort(host string, port uint32) string {
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.String()
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(int(port))
	}
	return host + ":" + strconv.Itoa(int(port))
}

func clusterType(c *clusterv3.Cluster) string {
	if c.GetClusterType() != nil {
		return c.GetClusterType().GetName()
	}
	return c.GetType().String()
}

func orNothing(addrs []string) string {
	if len(addrs) == 0 {
		return "no address"
	}
	return strings.Join(addrs, ", ")
}
