package xds_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egressgate/egressgate/conformance/xds"
	"github.com/egressgate/egressgate/internal/localcluster"
)

// Named bounds of the test against istiod.
const (
	gatewayPodTimeout = 120 * time.Second
	configTimeout     = 60 * time.Second
)

// TestReadsAGatewayFromIstiod applies what egressctl translate prints for
// samples/github.yaml (no operator), waits for the gateway pod istiod
// deploys, connects to istiod as that pod's proxy and decodes its
// listeners on 443 and 22 and the clusters they send to.
func TestReadsAGatewayFromIstiod(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local cluster with istiod")
	}
	c := startIstiodCluster(t)
	for _, obj := range readObjects(t, filepath.Join("testdata", "github.yaml")) {
		if err := c.Client.Create(context.Background(), obj); err != nil {
			t.Fatalf("create %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}

	pod := waitGatewayPod(t, c.Client, "github")
	id, err := xds.GatewayIdentity(pod, "cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	cfg := waitGatewayListeners(t, c.IstiodXDSAddr, id)
	for _, port := range []uint32{22, 443} {
		for _, l := range listenersOn(cfg, port) {
			if len(l.FilterChains) == 0 {
				t.Errorf("listener %s on %d has no filter chain", l.Name, port)
			}
			for _, fc := range l.FilterChains {
				checkFilterChain(t, cfg, port, l, fc)
			}
		}
	}
	t.Logf("%d listeners, %d clusters, %d endpoint sets, %d route configurations; versions %v",
		len(cfg.Listeners), len(cfg.Clusters), len(cfg.Endpoints), len(cfg.Routes), cfg.Versions)
}

// startIstiodCluster starts the local cluster with istiod until the test
// ends, keeping the components' logs if it fails.
func startIstiodCluster(t *testing.T) *localcluster.Cluster {
	t.Helper()
	c, err := localcluster.Start(context.Background(), localcluster.Options{Istio: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			keepLogs(t, c.Dir)
		}
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	if c.IstiodXDSAddr == "" {
		t.Fatal("the local cluster does not say where istiod serves xDS")
	}
	return c
}

// waitGatewayListeners connects to istiod at addr as id and waits for
// listeners on 22 and 443. The stream stays open until the test ends.
func waitGatewayListeners(t *testing.T, addr string, id xds.Identity) xds.Config {
	t.Helper()
	t.Logf("connecting to istiod at %s as %s (ISTIO_VERSION %s)", addr, id.NodeID(), id.IstioVersion)
	sctx, cancel := context.WithTimeout(context.Background(), configTimeout)
	t.Cleanup(cancel)
	s, err := xds.Dial(sctx, addr, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	cfg, err := s.Wait(sctx, func(cfg xds.Config) error {
		for _, port := range []uint32{22, 443} {
			if len(listenersOn(cfg, port)) == 0 {
				return fmt.Errorf("no listener on port %d among %s", port, strings.Join(keys(cfg.Listeners), ", "))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("istiod did not send the gateway's listeners within %s: %v", configTimeout, err)
	}
	return cfg
}

// checkFilterChain checks that a filter chain of a listener on port ends
// in a TCP proxy to a cluster istiod sent, and logs both.
func checkFilterChain(t *testing.T, cfg xds.Config, port uint32, l *listenerv3.Listener, fc *listenerv3.FilterChain) {
	t.Helper()
	var sni []string
	if fc.FilterChainMatch != nil {
		sni = fc.FilterChainMatch.ServerNames
	}
	var cluster string
	for _, f := range fc.Filters {
		tp := &tcpproxyv3.TcpProxy{}
		if f.GetTypedConfig().MessageIs(tp) {
			if err := f.GetTypedConfig().UnmarshalTo(tp); err != nil {
				t.Fatal(err)
			}
			cluster = tp.GetCluster()
		}
	}
	t.Logf("listener %s (port %d): filter chain %q server_names %v → tcp_proxy cluster %q", l.Name, port, fc.Name, sni, cluster)
	if cluster == "" {
		t.Errorf("listener %s filter chain %q has no TCP proxy to a cluster", l.Name, fc.Name)
		return
	}
	cl := cfg.Clusters[cluster]
	if cl == nil {
		t.Errorf("listener %s sends to cluster %s, which istiod did not send", l.Name, cluster)
		return
	}
	t.Logf("cluster %s: type %s, load assignment %v", cl.Name, cl.GetType(), cl.GetLoadAssignment().GetEndpoints())
}

func listenersOn(cfg xds.Config, port uint32) []*listenerv3.Listener {
	var out []*listenerv3.Listener
	for _, l := range cfg.Listeners {
		if p, err := xds.ListenerPort(l); err == nil && p == port {
			out = append(out, l)
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// waitGatewayPod waits for a running pod of the Gateway, with an IP.
func waitGatewayPod(t *testing.T, c client.Client, gateway string) *corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), gatewayPodTimeout)
	defer cancel()
	var last error
	for {
		pods := &corev1.PodList{}
		last = c.List(ctx, pods, client.InNamespace(localcluster.GatewayNamespace),
			client.MatchingLabels{"gateway.networking.k8s.io/gateway-name": gateway})
		if last == nil {
			last = fmt.Errorf("no running pod of Gateway %s with an IP yet (%d pods)", gateway, len(pods.Items))
			for i := range pods.Items {
				if p := &pods.Items[i]; p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && p.DeletionTimestamp == nil {
					return p
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("istiod deployed no gateway pod within %s: %v", gatewayPodTimeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// readObjects decodes a multi-document YAML file.
func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("read %s: %v", path, err)
		}
		if len(obj.Object) > 0 {
			out = append(out, obj)
		}
	}
}

// keepLogs copies the components' logs where a failed run leaves them.
func keepLogs(t *testing.T, dir string) {
	dst := filepath.Join(os.TempDir(), "egressgate-xds-test-logs")
	_ = os.RemoveAll(dst)
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(dir, "logs"))); err == nil {
		t.Logf("component logs: %s", dst)
	}
}

// TestTestdataIsWhatEgressctlPrints keeps testdata/github.yaml equal to
// egressctl's golden output for samples/github.yaml, NetworkPolicies and
// ownerReferences aside.
func TestTestdataIsWhatEgressctlPrints(t *testing.T) {
	var want []*unstructured.Unstructured
	for _, obj := range readObjects(t, filepath.Join("..", "..", "cmd", "egressctl", "testdata", "translate", "github.out.yaml")) {
		if obj.GetKind() == "NetworkPolicy" {
			continue
		}
		obj.SetOwnerReferences(nil)
		want = append(want, obj)
	}
	got := readObjects(t, filepath.Join("testdata", "github.yaml"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("testdata/github.yaml differs from what egressctl translate prints for samples/github.yaml (-egressctl +testdata):\n%s", diff)
	}
}
