// Package envoycheck judges the Envoy configuration istiod computes for an
// egress gateway (read by conformance/xds) against the ExternalService the
// gateway was generated from. It sits at the end of the data flow: where
// the rest of the suite checks the objects the operator writes and istiod's
// status on them, this package says what the gateway's Envoy would do with
// a connection. Every violation says what Envoy would do instead.
//
// The checks are pure functions of the decoded configuration, written
// against Envoy's documented behaviour: filter chain selection (Select), the
// TCP proxy's cluster, the cluster's discovery type, endpoints and circuit
// breakers.
package envoycheck

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/xds"
)

// istioMaxConnections is the largest connection limit Istio's
// DestinationRule carries (an int32); larger values are capped to it.
const istioMaxConnections = math.MaxInt32

// IstioDefaultMaxConnections is the connection limit Istio gives every
// cluster no DestinationRule limits: no practical limit.
const IstioDefaultMaxConnections = math.MaxUint32

// rawBuffer is the transport socket that leaves the bytes as they are.
const rawBuffer = "envoy.transport_sockets.raw_buffer"

// PassthroughCluster is the cluster Istio sends traffic for unknown
// destinations to, with the original destination address.
const PassthroughCluster = "PassthroughCluster"

// Want is what a gateway's Envoy must do for one ExternalService.
type Want struct {
	// DNSName is the only host the gateway may reach, and the only SNI its
	// TLS ports accept.
	DNSName string
	// Ports are the ExternalService's ports, protocols defaulted.
	Ports []egressv1.ExternalServicePort
	// IPOverride, when set, are the only upstream addresses.
	IPOverride []string
	// MaxConnections is the cluster's circuit breaker, when set.
	MaxConnections *int64
}

// WantFor is what the ExternalService spec asks of its gateway.
func WantFor(spec egressv1.ExternalServiceSpec) Want {
	spec = spec.WithDefaults()
	return Want{DNSName: spec.DnsName, Ports: spec.Ports, IPOverride: spec.IpOverride, MaxConnections: spec.EnvoyClusterMaxConnections}
}

// proxied are the ports a gateway listens on (TCP and TLS), by number.
func (w Want) proxied() map[uint32]egressv1.Protocol {
	out := map[uint32]egressv1.Protocol{}
	for _, p := range w.Ports {
		proto := egressv1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if proto != egressv1.ProtocolUDP {
			out[uint32(p.Port)] = proto
		}
	}
	return out
}

// Gateway checks a gateway's configuration: a listener for each TCP and
// TLS port and no other; a TLS port accepts only SNI dnsName and passes
// it through; a TCP port proxies only to dnsName; each upstream cluster
// resolves dnsName or holds exactly the ipOverride addresses, with the
// connection limit; nothing reaches a passthrough or original-destination
// cluster. The error joins every violation.
func Gateway(cfg xds.Config, w Want) error {
	var errs []error
	proxied := w.proxied()
	byPort := map[uint32][]*listenerv3.Listener{}
	for _, name := range sortedKeys(cfg.Listeners) {
		l := cfg.Listeners[name]
		port, err := xds.ListenerPort(l)
		if err != nil {
			errs = append(errs, fmt.Errorf("Envoy would accept connections on listener %s, which is not bound to a TCP port of the ExternalService: %w", name, err))
			continue
		}
		if _, ok := proxied[port]; !ok {
			errs = append(errs, fmt.Errorf("Envoy would listen on port %d (listener %s), which is not a TCP or TLS port of the ExternalService (%s)", port, name, portList(w.Ports)))
			continue
		}
		byPort[port] = append(byPort[port], l)
	}
	for _, port := range sortedKeys(proxied) {
		ls := byPort[port]
		if len(ls) == 0 {
			errs = append(errs, fmt.Errorf("Envoy would refuse every connection to port %d/%s: no listener on that port", port, proxied[port]))
			continue
		}
		for _, l := range ls {
			if proxied[port] == egressv1.ProtocolTLS {
				errs = append(errs, tlsListener(cfg, w, port, l)...)
			} else {
				errs = append(errs, tcpListener(cfg, w, port, l)...)
			}
		}
	}
	errs = append(errs, noPassthrough(cfg)...)
	return errors.Join(errs...)
}

func portList(ports []egressv1.ExternalServicePort) string {
	var out []string
	for _, p := range ports {
		proto := egressv1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		out = append(out, fmt.Sprintf("%d/%s", p.Port, proto))
	}
	return strings.Join(out, " ")
}

func sortedKeys[K int | uint32 | string, V any](m map[K]V) []K {
	var out []K
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
