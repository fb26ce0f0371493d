package tests

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/suite"
	"github.com/egressgate/egressgate/conformance/xds"
)

func init() {
	register(suite.ConformanceTest{
		ShortName: "EnvoyConfigFollowsUpdates",
		Description: "On the discovery streams of the gateway's pods, kept open, istiod's configuration follows each change of the ExternalService within the EnvoyConfig timeout " +
			"(a port added, one removed, TLS changed to TCP, ipOverride and a connection limit set, then cleared), and after deletion the streams get no listener (or the pods are gone).",
		Features:  []suite.Feature{suite.FeatureGatewayEnvoyConfig, suite.FeatureIstioGateway, suite.FeatureExternalService},
		Manifests: []string{"manifests/envoy-config-follows-updates.yaml"},
		Test:      testEnvoyConfigFollowsUpdates,
	})
}

func testEnvoyConfigFollowsUpdates(t *testing.T, s *suite.Suite) {
	const name = "envoy-updates"
	addr := xdsAddr(t, s)
	s.WaitProgrammed(t, name)
	g := watchGateway(t, s, addr, name)
	if _, ok := g.expect(t, "as created", wantFor(t, s, name)); !ok {
		t.FailNow()
	}
	followSpecUpdates(t, s, g, name, specUpdates())
	expectNoListenersAfterDelete(t, s, g, name)
}

// specUpdate is one change of the ExternalService's spec.
type specUpdate struct {
	what   string
	change func(*egressv1.ExternalServiceSpec)
}

// specUpdates are the changes the test makes, in order: ports added,
// removed and switched between TLS and TCP, then ipOverride and a
// connection limit set, changed and cleared.
func specUpdates() []specUpdate {
	tls, tcp := egressv1.ProtocolTLS, egressv1.ProtocolTCP
	return []specUpdate{
		{"port 2222/TCP added", func(s *egressv1.ExternalServiceSpec) {
			s.Ports = append(s.Ports, egressv1.ExternalServicePort{Port: 2222, Protocol: &tcp})
		}},
		{"port 22 removed", func(s *egressv1.ExternalServiceSpec) {
			s.Ports = slices.DeleteFunc(s.Ports, func(p egressv1.ExternalServicePort) bool { return p.Port == 22 })
		}},
		{"port 443 changed from TLS to TCP", func(s *egressv1.ExternalServiceSpec) {
			for i := range s.Ports {
				if s.Ports[i].Port == 443 {
					s.Ports[i].Protocol = &tcp
				}
			}
		}},
		{"port 443 changed back to TLS", func(s *egressv1.ExternalServiceSpec) {
			for i := range s.Ports {
				if s.Ports[i].Port == 443 {
					s.Ports[i].Protocol = &tls
				}
			}
		}},
		{"ipOverride and envoyClusterMaxConnections set", func(s *egressv1.ExternalServiceSpec) {
			s.IpOverride = []string{"203.0.113.40", "203.0.113.41"}
			s.EnvoyClusterMaxConnections = new(int64(32))
		}},
		{"ipOverride changed", func(s *egressv1.ExternalServiceSpec) {
			s.IpOverride = []string{"203.0.113.42"}
		}},
		{"ipOverride and envoyClusterMaxConnections cleared", func(s *egressv1.ExternalServiceSpec) {
			s.IpOverride = nil
			s.EnvoyClusterMaxConnections = nil
		}},
	}
}

// followSpecUpdates makes each update and expects the gateway's streams
// to follow it, logging how long each took.
func followSpecUpdates(t *testing.T, s *suite.Suite, g *gatewayEnvoy, name string, steps []specUpdate) {
	t.Helper()
	var took []string
	for _, step := range steps {
		start := time.Now()
		s.UpdateExternalService(t, name, func(es *egressv1.ExternalService) { step.change(&es.Spec) })
		if _, ok := g.expect(t, step.what, wantFor(t, s, name)); !ok {
			t.FailNow()
		}
		took = append(took, fmt.Sprintf("%s %.1fs", step.what, time.Since(start).Seconds()))
	}
	t.Logf("istiod's configuration followed: %s", strings.Join(took, "; "))
}

// expectNoListenersAfterDelete deletes the ExternalService and expects
// the open streams of the last pods to get an empty listener list, or the
// pods to be gone.
func expectNoListenersAfterDelete(t *testing.T, s *suite.Suite, g *gatewayEnvoy, name string) {
	t.Helper()
	streams := g.sorted()
	es, err := s.GetExternalService(name)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Client.Delete(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	outcome := map[string]string{}
	s.Eventually(t, "the gateway's streams get no listener after the ExternalService is deleted", s.Timeouts.EnvoyConfig, func() error {
		for _, ps := range streams {
			if outcome[ps.pod.Name] != "" {
				continue
			}
			cfg := ps.stream.Snapshot()
			switch {
			case len(cfg.Listeners) == 0:
				outcome[ps.pod.Name] = fmt.Sprintf("empty listener list after %.1fs", time.Since(start).Seconds())
			case podGone(s, ps.pod):
				outcome[ps.pod.Name] = fmt.Sprintf("pod gone after %.1fs", time.Since(start).Seconds())
			default:
				return fmt.Errorf("pod %s still has listeners %v", ps.pod.Name, keysOf(cfg))
			}
		}
		return nil
	})
	t.Logf("after deletion: %v", outcome)
	s.DeleteAndWait(t, es)
}

func keysOf(cfg xds.Config) []string {
	var out []string
	for k := range cfg.Listeners {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
