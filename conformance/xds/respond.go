package xds

import (
	"fmt"
	"maps"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

func (s *Stream) receive() {
	defer close(s.done)
	for {
		res, err := s.ads.Recv()
		if err == nil {
			err = s.handle(res)
		}
		if err != nil {
			s.mu.Lock()
			s.err = fmt.Errorf("discovery stream as %s: %w", s.ID.NodeID(), err)
			s.notify()
			s.mu.Unlock()
			return
		}
	}
}

// notify wakes whoever waits for a change. The caller holds mu.
func (s *Stream) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// handle applies one response and answers it as Envoy would: an ACK (or a
// NACK when it cannot be decoded), then new subscriptions for the
// endpoints and routes it names.
func (s *Stream) handle(res *discoveryv3.DiscoveryResponse) error {
	typ := res.TypeUrl
	s.nonces[typ] = res.Nonce
	resources, err := decode(typ, res.Resources)
	if err != nil {
		return s.nack(res, err)
	}
	s.version[typ] = res.VersionInfo

	s.mu.Lock()
	cfg := s.cfg.clone()
	s.mu.Unlock()
	apply(&cfg, res, resources)
	if err := s.ads.Send(&discoveryv3.DiscoveryRequest{
		TypeUrl: typ, VersionInfo: res.VersionInfo, ResponseNonce: res.Nonce, ResourceNames: s.names[typ],
	}); err != nil {
		return fmt.Errorf("ACK %s: %w", shortType(typ), err)
	}
	if err := s.follow(typ, cfg); err != nil {
		return err
	}
	s.settle(&cfg)

	s.mu.Lock()
	s.cfg = cfg
	s.notify()
	s.mu.Unlock()
	return nil
}

// nack records why a response could not be decoded and rejects it, with
// the version last accepted, as Envoy does.
func (s *Stream) nack(res *discoveryv3.DiscoveryResponse, err error) error {
	typ := res.TypeUrl
	s.mu.Lock()
	s.cfg = s.cfg.clone()
	s.cfg.Rejected[typ] = err.Error()
	s.notify()
	s.mu.Unlock()
	return s.ads.Send(&discoveryv3.DiscoveryRequest{
		TypeUrl: typ, VersionInfo: s.version[typ], ResponseNonce: res.Nonce, ResourceNames: s.names[typ],
		ErrorDetail: &status.Status{Code: int32(codes.InvalidArgument), Message: err.Error()},
	})
}

// apply puts a decoded response into cfg: clusters and listeners replace
// what was there, endpoints and routes add to it.
func apply(cfg *Config, res *discoveryv3.DiscoveryResponse, resources map[string]proto.Message) {
	typ := res.TypeUrl
	delete(cfg.Rejected, typ)
	cfg.Versions[typ] = res.VersionInfo
	cfg.Responses[typ]++
	switch typ {
	case ClusterType:
		cfg.Clusters = typed[*clusterv3.Cluster](resources)
	case ListenerType:
		cfg.Listeners = typed[*listenerv3.Listener](resources)
	case EndpointType:
		// Endpoints are not state of the world: a push may carry only
		// the clusters whose endpoints changed.
		maps.Copy(cfg.Endpoints, typed[*endpointv3.ClusterLoadAssignment](resources))
	case RouteType:
		maps.Copy(cfg.Routes, typed[*routev3.RouteConfiguration](resources))
	}
}

// settle drops from cfg the endpoints and routes no longer subscribed and
// lists those subscribed and not yet received.
func (s *Stream) settle(cfg *Config) {
	// What is no longer subscribed is gone, as in Envoy.
	for name := range cfg.Endpoints {
		if !slices.Contains(s.names[EndpointType], name) {
			delete(cfg.Endpoints, name)
		}
	}
	for name := range cfg.Routes {
		if !slices.Contains(s.names[RouteType], name) {
			delete(cfg.Routes, name)
		}
	}
	cfg.Pending = nil
	for _, name := range s.names[EndpointType] {
		if cfg.Endpoints[name] == nil {
			cfg.Pending = append(cfg.Pending, "endpoints/"+name)
		}
	}
	for _, name := range s.names[RouteType] {
		if cfg.Routes[name] == nil {
			cfg.Pending = append(cfg.Pending, "routes/"+name)
		}
	}
}
