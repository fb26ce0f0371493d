package tests

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/egressgate/egressgate/conformance/envoycheck"
	"github.com/egressgate/egressgate/conformance/suite"
	"github.com/egressgate/egressgate/conformance/xds"
)

func init() {
	register(suite.ConformanceTest{
		ShortName: "EnvoyConfigSamples",
		Description: "For every sample, the configuration istiod sends each gateway pod makes Envoy listen only on the TCP and TLS ports, " +
			"accept on a TLS port only SNI dnsName and pass it through, proxy a TCP port only to dnsName, resolve dnsName or connect exactly to ipOverride, " +
			"with envoyClusterMaxConnections as the circuit breaker and nothing sent to a passthrough cluster; a workload's sidecar gets no cluster or route for any dnsName.",
		Features: []suite.Feature{suite.FeatureGatewayEnvoyConfig, suite.FeatureIstioGateway, suite.FeatureExternalService},
		Test:     testEnvoyConfigSamples,
	})
}

func testEnvoyConfigSamples(t *testing.T, s *suite.Suite) {
	addr := xdsAddr(t, s)
	var names []string
	for _, smp := range readSamples(t) {
		u := smp.object
		// A real cluster's DNS for github.com and the others is never touched.
		if err := unstructured.SetNestedField(u.Object, false, "spec", "hijackDns"); err != nil {
			t.Fatal(err)
		}
		s.Create(t, u)
		names = append(names, u.GetName())
	}
	var version string
	var dnsNames []string
	for _, name := range names {
		s.WaitProgrammed(t, name)
		want := wantFor(t, s, name)
		g := watchGateway(t, s, addr, name)
		if cfg, ok := g.expect(t, "sample "+name, want); ok {
			t.Logf("gateway %s, as istiod configures it:\n%s", name, envoycheck.Summary(cfg))
		}
		version = g.istioVersion()
		dnsNames = append(dnsNames, want.DNSName)
	}

	s.ApplyManifest(t, "manifests/envoy-config-samples.yaml")
	cfg := sidecarConfig(t, s, addr, types.NamespacedName{Namespace: "conformance-envoy-workload", Name: "client"}, version, func(cfg xds.Config) error {
		var errs []error
		for _, dns := range dnsNames {
			if err := envoycheck.Sidecar(cfg, dns); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
	if c := cfg.Clusters[envoycheck.PassthroughCluster]; c != nil {
		t.Logf("the sidecar has %s (%s): with the mesh's outbound policy ALLOW_ANY it could still dial any address; DNS and NetworkPolicy stop that", c.Name, c.GetType())
	}
}
