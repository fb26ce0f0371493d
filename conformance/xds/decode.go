package xds

import (
	"fmt"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

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
