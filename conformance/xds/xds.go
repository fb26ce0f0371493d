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
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
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
		cfg: Config{
			Listeners: map[string]*listenerv3.Listener{}, Clusters: map[string]*clusterv3.Cluster{},
			Endpoints: map[string]*endpointv3.ClusterLoadAssignment{}, Routes: map[string]*routev3.RouteConfiguration{},
			Versions: map[string]string{}, Responses: map[string]int{}, Rejected: map[string]string{},
		},
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
			close(s.changed)
			s.changed = make(chan struct{})
			s.mu.Unlock()
			return
		}
	}
}

// handle applies one response and answers it as Envoy would: an ACK (or a
// NACK when it cannot be decoded), then new subscriptions for the
// endpoints and routes it names.
func (s *Stream) handle(res *discoveryv3.DiscoveryResponse) error {
	typ := res.TypeUrl
	s.nonces[typ] = res.Nonce
	resources, err := decode(typ, res.Resources)
	if err != nil {
		s.mu.Lock()
		s.cfg = s.cfg.clone()
		s.cfg.Rejected[typ] = err.Error()
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		return s.ads.Send(&discoveryv3.DiscoveryRequest{
			TypeUrl: typ, VersionInfo: s.version[typ], ResponseNonce: res.Nonce, ResourceNames: s.names[typ],
			ErrorDetail: &status.Status{Code: int32(codes.InvalidArgument), Message: err.Error()},
		})
	}
	s.version[typ] = res.VersionInfo

	s.mu.Lock()
	cfg := s.cfg.clone()
	s.mu.Unlock()
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
	if err := s.ads.Send(&discoveryv3.DiscoveryRequest{
		TypeUrl: typ, VersionInfo: res.VersionInfo, ResponseNonce: res.Nonce, ResourceNames: s.names[typ],
	}); err != nil {
		return fmt.Errorf("ACK %s: %w", shortType(typ), err)
	}
	switch typ {
	case ClusterType:
		if err := s.subscribe(EndpointType, edsNames(cfg.Clusters)); err != nil {
			return err
		}
	case ListenerType:
		if err := s.subscribe(RouteType, rdsNames(cfg.Listeners)); err != nil {
			return err
		}
	}
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

	s.mu.Lock()
	s.cfg = cfg
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
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

// decode unpacks a response's resources by name. Resources wrapped in
// discovery's Resource are unwrapped.
func decode(typ string, resources []*anypb.Any) (map[string]proto.Message, error) {
	out := map[string]proto.Message{}
	for _, a := range resources {
		if a.TypeUrl == resourceType {
			r := &discoveryv3.Resource{}
			if err := a.UnmarshalTo(r); err != nil {
				return nil, fmt.Errorf("decode a wrapped %s: %w", shortType(typ), err)
			}
			a = r.Resource
		}
		if a.GetTypeUrl() != typ {
			return nil, fmt.Errorf("a %s response carries a %s", shortType(typ), a.GetTypeUrl())
		}
		var m interface {
			proto.Message
			GetName() string
		}
		switch typ {
		case ClusterType:
			m = &clusterv3.Cluster{}
		case ListenerType:
			m = &listenerv3.Listener{}
		case RouteType:
			m = &routev3.RouteConfiguration{}
		case EndpointType:
			cla := &endpointv3.ClusterLoadAssignment{}
			if err := a.UnmarshalTo(cla); err != nil {
				return nil, fmt.Errorf("decode %s: %w", shortType(typ), err)
			}
			out[cla.ClusterName] = cla
			continue
		default:
			return nil, fmt.Errorf("unexpected resource type %s", typ)
		}
		if err := a.UnmarshalTo(m); err != nil {
			return nil, fmt.Errorf("decode %s: %w", shortType(typ), err)
		}
		out[m.GetName()] = m
	}
	return out, nil
}

func typed[T proto.Message](in map[string]proto.Message) map[string]T {
	out := make(map[string]T, len(in))
	for k, v := range in {
		out[k] = v.(T)
	}
	return out
}

// shortType is "Listener" for Envoy's Listener type URL.
func shortType(typ string) string {
	return typ[strings.LastIndex(typ, ".")+1:]
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
