package tests

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egressgate/egressgate/conformance/envoycheck"
	"github.com/egressgate/egressgate/conformance/suite"
	"github.com/egressgate/egressgate/conformance/xds"
)

// xdsAddr is istiod's plaintext xDS address: the harness's, or a
// port-forward to an istiod pod stopped when the test ends. The test is
// skipped, with the reason, when neither is there.
func xdsAddr(t *testing.T, s *suite.Suite) string {
	t.Helper()
	if s.IstiodXDSAddr != "" {
		return s.IstiodXDSAddr
	}
	if s.RestConfig == nil {
		t.Skip("no istiod xDS address and no REST config to port-forward with")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr, stop, err := xds.ForwardToIstiod(ctx, s.RestConfig, s.IstiodNamespace)
	if err != nil {
		t.Skipf("cannot reach istiod's plaintext xDS port %d in namespace %s through the API server: %v", xds.IstiodPlaintextPort, s.IstiodNamespace, err)
	}
	t.Cleanup(stop)
	return addr
}

// gatewayEnvoy follows the configuration istiod pushes to every pod of
// one gateway, one discovery stream per pod, each connected as that
// pod's proxy.
type gatewayEnvoy struct {
	s       *suite.Suite
	addr    string
	name    string
	streams map[types.UID]*podStream
	// gone are the pods whose streams were closed because the pod went.
	gone []string
}

type podStream struct {
	pod    corev1.Pod
	stream *xds.Stream
}

// watchGateway starts following the gateway of ExternalService name. The
// streams are closed when the test ends.
func watchGateway(t *testing.T, s *suite.Suite, addr, name string) *gatewayEnvoy {
	t.Helper()
	g := &gatewayEnvoy{s: s, addr: addr, name: name, streams: map[types.UID]*podStream{}}
	t.Cleanup(g.close)
	s.Eventually(t, "a discovery stream for each pod of gateway "+name, s.Timeouts.Programmed, func() error {
		if err := g.sync(); err != nil {
			return err
		}
		if len(g.streams) == 0 {
			return errors.New("no running gateway pod with an IP yet")
		}
		return nil
	})
	return g
}

// sync opens a stream for each running gateway pod with an IP and closes
// the streams of pods that are gone.
func (g *gatewayEnvoy) sync() error {
	var list corev1.PodList
	if err := g.s.Client.List(context.Background(), &list, client.InNamespace(g.s.GatewayNamespace), suite.GatewayLabels(g.name)); err != nil {
		return err
	}
	live := map[types.UID]bool{}
	for _, p := range list.Items {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			continue
		}
		live[p.UID] = true
		if g.streams[p.UID] != nil {
			continue
		}
		id, err := xds.GatewayIdentity(&p, g.s.ClusterDomain)
		if err != nil {
			return err
		}
		st, err := xds.Dial(context.Background(), g.addr, id)
		if err != nil {
			return err
		}
		g.streams[p.UID] = &podStream{pod: p, stream: st}
	}
	for uid, ps := range g.streams {
		if !live[uid] {
			ps.stream.Close()
			delete(g.streams, uid)
			g.gone = append(g.gone, ps.pod.Name)
		}
	}
	return nil
}

func (g *gatewayEnvoy) close() {
	for _, ps := range g.streams {
		ps.stream.Close()
	}
}

// sorted lists the streams by pod name.
func (g *gatewayEnvoy) sorted() []*podStream {
	var out []*podStream
	for _, ps := range g.streams {
		out = append(out, ps)
	}
	slices.SortFunc(out, func(a, b *podStream) int { return strings.Compare(a.pod.Name, b.pod.Name) })
	return out
}

// expect waits, within the EnvoyConfig timeout, until the configuration
// istiod sent every gateway pod passes envoycheck.Gateway for want, and
// returns one pod's. On failure it reports the last violations and what
// the configuration was, and returns false.
func (g *gatewayEnvoy) expect(t *testing.T, what string, want envoycheck.Want) (xds.Config, bool) {
	t.Helper()
	start := time.Now()
	var last xds.Config
	ok := g.eventually(t, what, func(cfg xds.Config) error {
		last = cfg
		return envoycheck.Gateway(cfg, want)
	})
	if !ok {
		t.Logf("the configuration of gateway %s when it last failed:\n%s", g.name, envoycheck.Summary(last))
		return last, false
	}
	t.Logf("%s: istiod's configuration for %d pod(s) of gateway %s passed after %.1fs", what, len(g.streams), g.name, time.Since(start).Seconds())
	return last, true
}

// eventually polls, within the EnvoyConfig timeout, until check accepts
// the complete configuration of every gateway pod; it reports whether it
// did (having reported the error).
func (g *gatewayEnvoy) eventually(t *testing.T, what string, check func(xds.Config) error) bool {
	t.Helper()
	deadline := time.Now().Add(g.s.Timeouts.EnvoyConfig)
	var last error
	for {
		if last = g.sync(); last == nil {
			last = g.checkAll(check)
		}
		if last == nil {
			return true
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: not within %s (EnvoyConfig timeout):\n%v", what, g.s.Timeouts.EnvoyConfig, last)
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (g *gatewayEnvoy) checkAll(check func(xds.Config) error) error {
	if len(g.streams) == 0 {
		return fmt.Errorf("gateway %s has no running pod", g.name)
	}
	var errs []error
	for _, ps := range g.sorted() {
		if err := ps.stream.Err(); err != nil {
			errs = append(errs, fmt.Errorf("pod %s: %w", ps.pod.Name, err))
			continue
		}
		cfg := ps.stream.Snapshot()
		if !cfg.Complete() {
			errs = append(errs, fmt.Errorf("pod %s: istiod has not sent a complete configuration yet", ps.pod.Name))
			continue
		}
		if len(cfg.Rejected) > 0 {
			errs = append(errs, fmt.Errorf("pod %s: Envoy would reject istiod's configuration: %v", ps.pod.Name, cfg.Rejected))
			continue
		}
		if err := check(cfg); err != nil {
			errs = append(errs, fmt.Errorf("pod %s (%s):\n%w", ps.pod.Name, ps.stream.ID.NodeID(), err))
		}
	}
	return errors.Join(errs...)
}

// istioVersion is the version the gateway's proxies run, for a sidecar
// identity.
func (g *gatewayEnvoy) istioVersion() string {
	for _, ps := range g.sorted() {
		return ps.stream.ID.IstioVersion
	}
	return ""
}

// wantFor reads the ExternalService as the API server holds it (defaults
// applied) and says what its gateway must do.
func wantFor(t *testing.T, s *suite.Suite, name string) envoycheck.Want {
	t.Helper()
	es, err := s.GetExternalService(name)
	if err != nil {
		t.Fatalf("read ExternalService %s: %v", name, err)
	}
	return envoycheck.WantFor(es.Spec)
}

// sidecarConfig reads what istiod computes for a sidecar proxy in pod (a
// workload pod without one: the identity is enough), waiting for the pod's
// IP first.
func sidecarConfig(t *testing.T, s *suite.Suite, addr string, key types.NamespacedName, version string, check func(xds.Config) error) xds.Config {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{}
	s.Eventually(t, "pod "+key.String()+" is running with an IP", s.Timeouts.Programmed, func() error {
		if err := s.Client.Get(ctx, key, pod); err != nil {
			return err
		}
		if pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
			return fmt.Errorf("phase %s, IP %q", pod.Status.Phase, pod.Status.PodIP)
		}
		return nil
	})
	id := xds.SidecarIdentity(pod, s.ClusterDomain, version)
	wctx, cancel := context.WithTimeout(ctx, s.Timeouts.EnvoyConfig)
	defer cancel()
	st, err := xds.Dial(wctx, addr, id)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg, err := st.Wait(wctx, check)
	if err != nil {
		t.Fatalf("the sidecar %s, within %s (EnvoyConfig timeout):\n%v", id.NodeID(), s.Timeouts.EnvoyConfig, err)
	}
	return cfg
}

// podGone reports whether the pod no longer exists.
func podGone(s *suite.Suite, pod corev1.Pod) bool {
	err := s.Client.Get(context.Background(), client.ObjectKeyFromObject(&pod), &corev1.Pod{})
	return apierrors.IsNotFound(err)
}
