// Package suite is the engine of the egress.monzo.com/v1 conformance
// suite: the ConformanceTest type the tests in conformance/tests register,
// the features and profiles they claim, the manifests they apply (with
// placeholders for what differs between clusters, see Expand), what the
// implementation under test declares, and the report. It sits outside the operator's data flow: it
// drives a cluster from the outside, through the API server and the
// cluster's DNS server, like a user would.
package suite

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ConformanceTest is one test: a file in conformance/tests, registered in
// its init().
type ConformanceTest struct {
	// ShortName names the test in output and the report.
	ShortName string
	// Description says what a user gains when it passes.
	Description string
	// Features must all be claimed by the implementation for the test to
	// run. The first one's profile is the test's profile: list the
	// feature the test is about first, then the ones it relies on.
	Features []Feature
	// Manifests are files in the tests' manifest FS, their placeholders
	// replaced (see Expand), applied in order before Test and deleted
	// (waiting until gone) after it. A test that must create objects at a
	// moment of its choosing leaves its file out of here and uses
	// Suite.ReadManifest or Suite.ApplyManifest.
	Manifests []string
	// Test runs the checks.
	Test func(*testing.T, *Suite)
}

// Profile is the profile the test reports under.
func (c ConformanceTest) Profile() ProfileName { return ProfileOf(c.Features[0]) }

// Implementation says what is under test.
type Implementation struct {
	Organization string `json:"organization"`
	Project      string `json:"project"`
	URL          string `json:"url"`
	Version      string `json:"version"`
	Mode         string `json:"mode"`
}

// ControlPlane is what a harness that runs the control plane itself can
// do to it. A real cluster has none, and the Resilience tests are skipped.
type ControlPlane interface {
	// StopAPIServer stops the API server; StartAPIServer brings it back
	// with the same address and waits until it is ready.
	StopAPIServer() error
	StartAPIServer(ctx context.Context) error
	// RestartOperator stops every operator replica, then starts them
	// again. It returns when the last old replica had stopped: no write
	// after that moment comes from them.
	RestartOperator(ctx context.Context) (time.Time, error)
	// WaitOperatorSettled waits until the leading replica has finished at
	// least n reconciles since it started and has nothing queued.
	WaitOperatorSettled(ctx context.Context, n int, timeout time.Duration) error
	// OperatorWrites lists every write the operator made after since
	// (leader election Leases and Events aside), oldest first, as
	// "verb resource namespace/name".
	OperatorWrites(since time.Time) ([]string, error)
	// KillLeader kills the leading replica with SIGKILL, keeps it down
	// until ResumeOperator, and names it.
	KillLeader(ctx context.Context) (string, error)
	// Leader names the replica that leads now, waiting for one.
	Leader(ctx context.Context) (string, error)
	// ResumeOperator starts again the replicas KillLeader left down.
	ResumeOperator() error
}

// Options configure a Suite.
type Options struct {
	// Client and RestConfig reach the cluster under test.
	Client     client.Client
	RestConfig *rest.Config
	// Implementation is written into the report.
	Implementation Implementation
	// SupportedFeatures are what the implementation claims.
	SupportedFeatures FeatureSet
	// UnsupportedReasons say why a feature is not claimed; the report
	// gives them with the tests skipped for it.
	UnsupportedReasons map[Feature]string
	// GatewayNamespace holds the gateways (the operator's --gateway-namespace).
	GatewayNamespace string
	// ClusterDomain is the cluster's DNS domain (${CLUSTER_DOMAIN} in
	// manifests).
	ClusterDomain string
	// DNSServer is host:port of the cluster's DNS server.
	DNSServer string
	// DNSNamespace holds the cluster DNS pods (label k8s-app=kube-dns).
	DNSNamespace string
	// ExternalDomain is a domain whose names resolve upstream (A, AAAA and
	// HTTPS records); the tests make their dnsNames under it
	// (${EXTERNAL_DOMAIN} in manifests).
	ExternalDomain string
	// PodDisruptionBudgets is true when the operator gives every gateway a
	// PodDisruptionBudget (its --enable-pod-disruption-budgets).
	PodDisruptionBudgets bool
	// DataPlaneHost is a real external host with TLS on 443 and SSH on 22
	// the DataPlane tests reach through a gateway (github.com by default;
	// ${DATAPLANE_HOST} in manifests).
	DataPlaneHost string
	// ControlPlane is set when the harness runs the control plane.
	ControlPlane ControlPlane
	// IstiodXDSAddr is host:port of istiod's plaintext xDS port, reachable
	// from here. When empty, the EnvoyConfig tests port-forward to port
	// 15010 of an istiod pod in IstiodNamespace through the API server.
	IstiodXDSAddr string
	// IstiodNamespace holds istiod (label app=istiod); istio-system when
	// empty.
	IstiodNamespace string
	// Manifests holds the files ConformanceTest.Manifests names and tests
	// read with ReadManifest or ApplyManifest.
	Manifests fs.FS
	// RunTest runs only the test with this ShortName when set.
	RunTest string
	// Timeouts bound every wait.
	Timeouts Timeouts
}

// Timeouts are the named bounds the assertions poll within.
type Timeouts struct {
	// Accepted: an ExternalService's Accepted condition is written.
	Accepted time.Duration
	// Programmed: the gateway is deployed and Ready, and the
	// ExternalService Programmed.
	Programmed time.Duration
	// Restored: a deleted or edited child is put back.
	Restored time.Duration
	// Deleted: an ExternalService and everything made for it are gone.
	Deleted time.Duration
	// DNS: the DNS server follows a change.
	DNS time.Duration
	// LeaderHandover: after the leader is killed, another replica leads
	// and reconciles a new ExternalService. The stated bound.
	LeaderHandover time.Duration
	// Recovery: after an API server outage, the operator reconciles again.
	Recovery time.Duration
	// DataPlane: a client pod finishes its request.
	DataPlane time.Duration
	// EnvoyConfig: istiod sends a gateway pod's proxy the configuration
	// for the ExternalService as it now is.
	EnvoyConfig time.Duration
}

// DefaultTimeouts suit a small cluster.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		Accepted:       30 * time.Second,
		Programmed:     120 * time.Second,
		Restored:       30 * time.Second,
		Deleted:        120 * time.Second,
		DNS:            30 * time.Second,
		LeaderHandover: 45 * time.Second,
		Recovery:       120 * time.Second,
		DataPlane:      180 * time.Second,
		EnvoyConfig:    60 * time.Second,
	}
}

// Suite is a configured run.
type Suite struct {
	Options
	results []result
}

// New checks the options and makes a Suite.
func New(o Options) (*Suite, error) {
	var missing []string
	if o.Client == nil {
		missing = append(missing, "Client")
	}
	if o.GatewayNamespace == "" {
		missing = append(missing, "GatewayNamespace (the operator's --gateway-namespace)")
	}
	if o.DNSServer == "" && (o.SupportedFeatures[FeatureDNSHijack] || o.SupportedFeatures[FeatureDNSQueryFromPodIP]) {
		missing = append(missing, "DNSServer (host:port of the cluster's DNS), or drop the DNS features")
	}
	if o.ExternalDomain == "" {
		missing = append(missing, "ExternalDomain")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("conformance options missing: %s", strings.Join(missing, ", "))
	}
	if o.ClusterDomain == "" {
		o.ClusterDomain = "cluster.local"
	}
	if o.DataPlaneHost == "" {
		o.DataPlaneHost = "github.com"
	}
	if o.DNSNamespace == "" {
		o.DNSNamespace = "kube-system"
	}
	if o.IstiodNamespace == "" {
		o.IstiodNamespace = "istio-system"
	}
	if o.Timeouts == (Timeouts{}) {
		o.Timeouts = DefaultTimeouts()
	}
	return &Suite{Options: o}, nil
}

// ExternalName is a name under the external domain, unique to a test.
func (s *Suite) ExternalName(label string) string { return label + "." + s.ExternalDomain }

type result struct {
	test    ConformanceTest
	outcome string // passed, failed, skipped
	reason  string
	took    time.Duration
}

// Run runs the tests in order: each whose features are all claimed is
// run as a subtest; the others are recorded as skipped, naming what is
// missing.
func (s *Suite) Run(t *testing.T, tests []ConformanceTest) {
	for _, ct := range tests {
		if s.RunTest != "" && ct.ShortName != s.RunTest {
			s.results = append(s.results, result{test: ct, outcome: "skipped", reason: "not selected by -run-test " + s.RunTest})
			continue
		}
		if missing := s.SupportedFeatures.Missing(ct.Features); len(missing) > 0 {
			reason := "unsupported features: " + s.explain(missing)
			s.results = append(s.results, result{test: ct, outcome: "skipped", reason: reason})
			t.Run(ct.ShortName, func(t *testing.T) { t.Skip(reason) })
			continue
		}
		start := time.Now()
		skipReason := ""
		ok := t.Run(ct.ShortName, func(t *testing.T) {
			defer func() {
				if t.Skipped() {
					skipReason = "skipped by the test"
				}
			}()
			for _, m := range ct.Manifests {
				s.ApplyManifest(t, m)
			}
			ct.Test(t, s)
		})
		r := result{test: ct, outcome: "passed", took: time.Since(start)}
		switch {
		case skipReason != "":
			r.outcome, r.reason = "skipped", skipReason
		case !ok:
			r.outcome = "failed"
		}
		s.results = append(s.results, r)
	}
}

// explain lists features, each with the reason it is not claimed if known.
func (s *Suite) explain(fs []Feature) string {
	var out []string
	for _, f := range fs {
		if why := s.UnsupportedReasons[f]; why != "" {
			out = append(out, fmt.Sprintf("%s (%s)", f, why))
		} else {
			out = append(out, string(f))
		}
	}
	return strings.Join(out, ", ")
}

// byProfile groups results in report order.
func (s *Suite) byProfile() map[ProfileName][]result {
	out := map[ProfileName][]result{}
	for _, r := range s.results {
		p := r.test.Profile()
		out[p] = append(out[p], r)
	}
	for _, rs := range out {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].test.ShortName < rs[j].test.ShortName })
	}
	return out
}
