// Package xds reads the configuration istiod computes for one proxy, the
// way that proxy's Envoy would: it connects to istiod's plaintext
// discovery port (15010) as a given pod, opens Envoy's aggregated
// discovery stream (state of the world), subscribes to clusters and
// listeners, then to the endpoints of EDS clusters and the route
// configurations listeners name, and ACKs every response with its
// version and nonce as Envoy does. The decoded resources are Envoy's own
// types (github.com/envoyproxy/go-control-plane/envoy).
//
// It sits beside the data flow: the conformance suite uses it to judge what
// a gateway istiod deployed for an ExternalService would do with a
// connection, since the embedded cluster runs istiod but no Envoy. See
// Identity for how it says who it is.
package xds

import (
	"context"
	"fmt"
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The resource types the reader subscribes to.
const (
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	RouteType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	resourceType = "type.googleapis.com/envoy.service.discovery.v3.Resource"
)

// maxMessage bounds one discovery response; a large mesh's clusters can
// take tens of megabytes.
const maxMessage = 256 << 20

// Stream is an open discovery stream as one proxy. It follows every push
// until Close.
type Stream struct {
	// ID is who the stream says it is.
	ID Identity

	conn   *grpc.ClientConn
	ads    grpc.BidiStreamingClient[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	cfg     Config
	changed chan struct{} // closed and replaced on every change
	err     error         // why the stream ended

	// Owned by the receiving goroutine.
	nonces  map[string]string
	names   map[string][]string // subscribed endpoint and route names
	version map[string]string   // last accepted version per type
}

// Dial connects to istiod's plaintext xDS address (host:port) as id and
// subscribes. The stream lives until ctx ends or Close.
func Dial(ctx context.Context, addr string, id Identity) (*Stream, error) {
	node, err := id.node()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage)))
	if err != nil {
		return nil, fmt.Errorf("connect to istiod at %s: %w", addr, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	ads, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		cancel()
		conn.Close()
		return nil, fmt.Errorf("open the aggregated discovery stream to istiod at %s: %w", addr, err)
	}
	s := &Stream{
		ID: id, conn: conn, ads: ads, cancel: cancel, done: make(chan struct{}),
		cfg:     newConfig(),
		changed: make(chan struct{}),
		nonces:  map[string]string{}, names: map[string][]string{}, version: map[string]string{},
	}
	// Envoy asks for clusters first, then listeners; the node goes in the
	// first request only.
	for i, typ := range []string{ClusterType, ListenerType} {
		req := &discoveryv3.DiscoveryRequest{TypeUrl: typ}
		if i == 0 {
			req.Node = node
		}
		if err := ads.Send(req); err != nil {
			s.Close()
			return nil, fmt.Errorf("subscribe to %s on istiod at %s as %s: %w", shortType(typ), addr, id.NodeID(), err)
		}
	}
	go s.receive()
	return s, nil
}

// Close ends the stream.
func (s *Stream) Close() {
	s.cancel()
	s.conn.Close()
}

// Snapshot is the configuration as it stands.
func (s *Stream) Snapshot() Config {
	cfg, _, _ := s.state()
	return cfg
}

func (s *Stream) state() (Config, <-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.clone(), s.changed, s.err
}

// Wait returns the first complete configuration check accepts, following
// pushes until ctx ends. On timeout the error wraps check's last error.
func (s *Stream) Wait(ctx context.Context, check func(Config) error) (Config, error) {
	for {
		cfg, changed, streamErr := s.state()
		var last error
		if !cfg.Complete() {
			last = fmt.Errorf("the configuration is incomplete: %s", cfg.missing())
		} else if last = check(cfg); last == nil {
			return cfg, nil
		}
		if ctx.Err() != nil {
			return cfg, last
		}
		if streamErr != nil {
			return cfg, fmt.Errorf("%w (and the stream ended: %v)", last, streamErr)
		}
		select {
		case <-ctx.Done():
			return cfg, last
		case <-changed:
		}
	}
}

// Done is closed when the stream has ended; Err says why.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err is why the stream ended, or nil while it runs.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Fetch connects as id, waits for a complete configuration and closes.
func Fetch(ctx context.Context, addr string, id Identity) (Config, error) {
	s, err := Dial(ctx, addr, id)
	if err != nil {
		return Config{}, err
	}
	defer s.Close()
	return s.Wait(ctx, func(Config) error { return nil })
}
