package xds

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// Config is one proxy's configuration as the stream last delivered it.
// Its maps and messages must not be modified.
type Config struct {
	// Listeners, Clusters, Endpoints (by cluster or EDS service name) and
	// Routes (by route configuration name).
	Listeners map[string]*listenerv3.Listener
	Clusters  map[string]*clusterv3.Cluster
	Endpoints map[string]*endpointv3.ClusterLoadAssignment
	Routes    map[string]*routev3.RouteConfiguration
	// Versions holds the version_info of the last response of each type.
	Versions map[string]string
	// Responses counts the responses of each type.
	Responses map[string]int
	// Pending lists the endpoints and routes requested and not yet
	// received, as "<type>/<name>".
	Pending []string
	// Rejected holds why the last response of a type could not be
	// decoded (it was NACKed, as Envoy would).
	Rejected map[string]string
}

// newConfig is the configuration before the first response: every map
// empty.
func newConfig() Config {
	return Config{
		Listeners: map[string]*listenerv3.Listener{}, Clusters: map[string]*clusterv3.Cluster{},
		Endpoints: map[string]*endpointv3.ClusterLoadAssignment{}, Routes: map[string]*routev3.RouteConfiguration{},
		Versions: map[string]string{}, Responses: map[string]int{}, Rejected: map[string]string{},
	}
}

// Complete reports whether clusters and listeners have arrived and every
// endpoint and route they name too: what Envoy needs before it serves.
func (c Config) Complete() bool {
	return c.Responses[ClusterType] > 0 && c.Responses[ListenerType] > 0 && len(c.Pending) == 0
}

// missing says what an incomplete Config lacks.
func (c Config) missing() string {
	var m []string
	for _, typ := range []string{ClusterType, ListenerType} {
		if c.Responses[typ] == 0 {
			m = append(m, "no "+shortType(typ)+" response yet")
		}
	}
	if len(c.Pending) > 0 {
		m = append(m, "waiting for "+strings.Join(c.Pending, ", "))
	}
	return strings.Join(m, "; ")
}

func (c Config) clone() Config {
	return Config{
		Listeners: maps.Clone(c.Listeners),
		Clusters:  maps.Clone(c.Clusters),
		Endpoints: maps.Clone(c.Endpoints),
		Routes:    maps.Clone(c.Routes),
		Versions:  maps.Clone(c.Versions),
		Responses: maps.Clone(c.Responses),
		Pending:   slices.Clone(c.Pending),
		Rejected:  maps.Clone(c.Rejected),
	}
}

// errNoPort is returned for a listener not bound to a socket port.
var errNoPort = errors.New("the listener is not bound to a TCP port")

// ListenerPort is the port a listener binds.
func ListenerPort(l *listenerv3.Listener) (uint32, error) {
	sa := l.GetAddress().GetSocketAddress()
	if sa == nil || sa.GetProtocol() != corev3.SocketAddress_TCP {
		return 0, fmt.Errorf("listener %s: %w", l.Name, errNoPort)
	}
	return sa.GetPortValue(), nil
}
