package xds_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/egressgate/egressgate/conformance/xds"
)

// gatewayPod is a pod as istiod's kube-gateway template renders it.
func gatewayPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "github-istio-5d9c-x2", Namespace: "egress-operator-system", Labels: map[string]string{
			"gateway.networking.k8s.io/gateway-name": "github", "pod-template-hash": "5d9c",
		}},
		Spec: corev1.PodSpec{NodeName: "node-0", ServiceAccountName: "github-istio", Containers: []corev1.Container{{
			Name:  "istio-proxy",
			Image: "docker.io/istio/proxyv2:1.31.1-distroless",
			Args:  []string{"proxy", "router", "--domain", "$(POD_NAMESPACE).svc.example.org"},
			Env: []corev1.EnvVar{
				{Name: "ISTIO_META_CLUSTER_ID", Value: "Kubernetes"},
				{Name: "ISTIO_META_WORKLOAD_NAME", Value: "github-istio"},
				{Name: "ISTIO_META_NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
				{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			},
		}}},
		Status: corev1.PodStatus{PodIP: "198.18.0.7", PodIPs: []corev1.PodIP{{IP: "198.18.0.7"}}},
	}
}

func TestGatewayIdentity(t *testing.T) {
	id, err := xds.GatewayIdentity(gatewayPod(), "cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	if want := "router~198.18.0.7~github-istio-5d9c-x2.egress-operator-system~egress-operator-system.svc.example.org"; id.NodeID() != want {
		t.Errorf("node id %s, want %s", id.NodeID(), want)
	}
	if id.IstioVersion != "1.31.1" || id.ClusterID != "Kubernetes" || id.Metadata["NODE_NAME"] != "node-0" || id.Metadata["WORKLOAD_NAME"] != "github-istio" {
		t.Errorf("identity %+v", id)
	}
	if _, ok := id.Labels["pod-template-hash"]; ok {
		t.Errorf("labels %v keep pod-template-hash, which pilot-agent drops", id.Labels)
	}

	pod := gatewayPod()
	pod.Spec.Containers[0].Image = "docker.io/istio/proxyv2:latest"
	if _, err := xds.GatewayIdentity(pod, "cluster.local"); err == nil {
		t.Error("an image tagged latest gave an identity; istiod would generate for the newest proxy")
	}
}

// fakeIstiod is a discovery server the test drives one message at a time.
type fakeIstiod struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	requests  chan *discoveryv3.DiscoveryRequest
	responses chan *discoveryv3.DiscoveryResponse
}

func (f *fakeIstiod) StreamAggregatedResources(s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	go func() {
		for {
			req, err := s.Recv()
			if err != nil {
				close(f.requests)
				return
			}
			f.requests <- req
		}
	}()
	for {
		select {
		case res := <-f.responses:
			if err := s.Send(res); err != nil {
				return err
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

func (f *fakeIstiod) next(t *testing.T) *discoveryv3.DiscoveryRequest {
	t.Helper()
	select {
	case req, ok := <-f.requests:
		if !ok {
			t.Fatal("the stream closed")
		}
		return req
	case <-time.After(10 * time.Second):
		t.Fatal("no request within 10s")
	}
	return nil
}

func (f *fakeIstiod) expect(t *testing.T, typ, version, nonce string, names ...string) *discoveryv3.DiscoveryRequest {
	t.Helper()
	req := f.next(t)
	if req.TypeUrl != typ || req.VersionInfo != version || req.ResponseNonce != nonce || !slices.Equal(req.ResourceNames, names) {
		t.Fatalf("request %s version %q nonce %q names %v, want %s %q %q %v", req.TypeUrl, req.VersionInfo, req.ResponseNonce, req.ResourceNames, typ, version, nonce, names)
	}
	return req
}

func respond(typ, version, nonce string, msgs ...proto.Message) *discoveryv3.DiscoveryResponse {
	res := &discoveryv3.DiscoveryResponse{TypeUrl: typ, VersionInfo: version, Nonce: nonce}
	for _, m := range msgs {
		a, err := anypb.New(m)
		if err != nil {
			panic(err)
		}
		res.Resources = append(res.Resources, a)
	}
	return res
}

// serveFake starts a fakeIstiod on a local port until the test ends.
func serveFake(t *testing.T) (*fakeIstiod, string) {
	t.Helper()
	f := &fakeIstiod{requests: make(chan *discoveryv3.DiscoveryRequest, 16), responses: make(chan *discoveryv3.DiscoveryResponse)}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return f, lis.Addr().String()
}

// TestStreamAcksLikeEnvoy walks the protocol: the node in the first
// request, clusters then listeners, an ACK with version and nonce for each
// response, endpoints asked for once an EDS cluster arrives, a NACK for a
// response that cannot be decoded, and Wait returning once complete.
func TestStreamAcksLikeEnvoy(t *testing.T) {
	f, addr := serveFake(t)
	id, err := xds.GatewayIdentity(gatewayPod(), "cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := xds.Dial(ctx, addr, id)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	expectSubscriptions(t, f, id)
	dns := expectComplete(ctx, t, f, s)
	expectNack(ctx, t, f, s, dns)
	expectEndpointsDropped(ctx, t, f, s, dns)
}

// expectSubscriptions checks the first requests: clusters with the node,
// then listeners without.
func expectSubscriptions(t *testing.T, f *fakeIstiod, id xds.Identity) {
	t.Helper()
	first := f.expect(t, xds.ClusterType, "", "")
	meta := first.GetNode().GetMetadata().GetFields()
	if first.GetNode().GetId() != id.NodeID() || meta["NAMESPACE"].GetStringValue() != "egress-operator-system" ||
		meta["ISTIO_VERSION"].GetStringValue() != "1.31.1" || meta["INSTANCE_IPS"].GetStringValue() != "198.18.0.7" ||
		meta["LABELS"].GetStructValue().GetFields()["gateway.networking.k8s.io/gateway-name"].GetStringValue() != "github" {
		t.Fatalf("first request's node: %v", first.GetNode())
	}
	if _, ok := meta["UNPRIVILEGED_POD"]; ok {
		t.Error("the node says UNPRIVILEGED_POD: istiod would drop listeners below 1024")
	}
	if f.expect(t, xds.ListenerType, "", "").Node != nil {
		t.Error("the node is sent again after the first request")
	}
}

// expectComplete sends an EDS and a DNS cluster, a listener and the EDS
// cluster's endpoints, checking each ACK and subscription, and waits for
// the configuration to be complete. It returns the DNS cluster.
func expectComplete(ctx context.Context, t *testing.T, f *fakeIstiod, s *xds.Stream) *clusterv3.Cluster {
	t.Helper()
	eds := &clusterv3.Cluster{Name: "outbound|443||pinned.example", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{ServiceName: "outbound|443||pinned.example"}}
	dns := &clusterv3.Cluster{Name: "outbound|22||github.com", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}}
	f.responses <- respond(xds.ClusterType, "v1", "n1", eds, dns)
	f.expect(t, xds.ClusterType, "v1", "n1")
	f.expect(t, xds.EndpointType, "", "", eds.Name)

	l := &listenerv3.Listener{Name: "0.0.0.0_443", Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 443}}}}}
	f.responses <- respond(xds.ListenerType, "v1", "n2", l)
	f.expect(t, xds.ListenerType, "v1", "n2")
	if cfg := s.Snapshot(); cfg.Complete() {
		t.Errorf("complete before the EDS cluster's endpoints arrived: %+v", cfg)
	}

	f.responses <- respond(xds.EndpointType, "v1", "n3", &endpointv3.ClusterLoadAssignment{ClusterName: eds.Name})
	f.expect(t, xds.EndpointType, "v1", "n3", eds.Name)
	cfg, err := s.Wait(ctx, func(cfg xds.Config) error {
		if len(cfg.Listeners) != 1 || len(cfg.Clusters) != 2 || cfg.Endpoints[eds.Name] == nil {
			return fmt.Errorf("config %+v", cfg)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := xds.ListenerPort(cfg.Listeners["0.0.0.0_443"]); err != nil || p != 443 {
		t.Errorf("listener port %d, %v", p, err)
	}
	return dns
}

// expectNack sends dns under the listener type and expects a NACK,
// recorded in the configuration.
func expectNack(ctx context.Context, t *testing.T, f *fakeIstiod, s *xds.Stream, dns *clusterv3.Cluster) {
	t.Helper()
	// A cluster under the listener type cannot be decoded: NACK, keeping
	// the version last accepted.
	f.responses <- respond(xds.ListenerType, "v2", "n4", dns)
	nack := f.expect(t, xds.ListenerType, "v1", "n4")
	if nack.ErrorDetail == nil {
		t.Error("a response that cannot be decoded was ACKed")
	}
	if _, err := s.Wait(ctx, func(cfg xds.Config) error {
		if cfg.Rejected[xds.ListenerType] == "" {
			return fmt.Errorf("the rejection is not recorded")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// expectEndpointsDropped sends the clusters without the EDS one and
// expects its endpoints unsubscribed and dropped.
func expectEndpointsDropped(ctx context.Context, t *testing.T, f *fakeIstiod, s *xds.Stream, dns *clusterv3.Cluster) {
	t.Helper()
	// Clusters gone: endpoints unsubscribed and dropped.
	f.responses <- respond(xds.ClusterType, "v2", "n5", dns)
	f.expect(t, xds.ClusterType, "v2", "n5")
	f.expect(t, xds.EndpointType, "v1", "n3")
	if _, err := s.Wait(ctx, func(cfg xds.Config) error {
		if len(cfg.Endpoints) != 0 || len(cfg.Clusters) != 1 {
			return fmt.Errorf("clusters %d, endpoints %d", len(cfg.Clusters), len(cfg.Endpoints))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
