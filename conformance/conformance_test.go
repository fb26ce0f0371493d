// Package conformance runs the egress.monzo.com/v1 conformance suite
// (conformance/tests, driven by conformance/suite).
//
// With no flags it starts the embedded cluster (conformance/embedded) and
// claims every feature but the data plane. It runs the operator from
// bin/egress-operator, which `make conformance` and `make test` rebuild
// first (with plain go test, run `make build` after changing the operator):
//
//	make conformance
//
// Against an existing cluster, give its kubeconfig, its DNS server and the
// operator's gateway namespace:
//
//	go test ./conformance -timeout 60m -args \
//	    -kubeconfig ~/.kube/config -dns-server 10.96.0.10:53 \
//	    -gateway-namespace egress-operator-system -external-domain example.com
//
// A real cluster claims Core, DNS, Policy, Istio, EnvoyConfig and
// DataPlane by default (-supported-features changes that); Resilience
// needs a harness that controls the control plane and is skipped. Either way the run prints a
// summary table and writes a YAML report (-report).
package conformance

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/egressgate/egressgate/conformance/embedded"
	"github.com/egressgate/egressgate/conformance/suite"
	"github.com/egressgate/egressgate/conformance/tests"
	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/kubescheme"
	"github.com/egressgate/egressgate/internal/localcluster"
)

var (
	dnsServer         = flag.String("dns-server", "", "host:port of the cluster's DNS server, reachable from here (existing cluster)")
	gatewayNamespace  = flag.String("gateway-namespace", localcluster.GatewayNamespace, "the operator's --gateway-namespace (existing cluster)")
	dnsNamespace      = flag.String("dns-namespace", "kube-system", "namespace of the cluster DNS pods (existing cluster)")
	istiodNamespace   = flag.String("istiod-namespace", "istio-system", "namespace of istiod (label app=istiod), whose port 15010 the EnvoyConfig tests reach by port-forward (existing cluster)")
	clusterDomain     = flag.String("cluster-domain", "cluster.local", "the cluster's DNS domain (existing cluster)")
	externalDomain    = flag.String("external-domain", embedded.ExternalDomain, "a domain whose every name resolves upstream; tests make their dnsNames under it (existing cluster)")
	dataPlaneHost     = flag.String("dataplane-host", "github.com", "a real host with TLS on 443 and SSH on 22, for the DataPlane profile")
	supportedFeatures = flag.String("supported-features", "", "comma-separated features the implementation claims (existing cluster; default: every feature of Core, DNS, Policy, Istio, EnvoyConfig and DataPlane)")
	exemptFeatures    = flag.String("exempt-features", "", "comma-separated features to leave out of the claimed set")
	podDisruption     = flag.Bool("pod-disruption-budgets", false, "the operator runs with --enable-pod-disruption-budgets (existing cluster)")
	runTest           = flag.String("run-test", "", "run only the test with this ShortName")
	keepLogsFlag      = flag.Bool("keep-logs", false, "copy the embedded cluster's component logs to bin/conformance-logs even when every test passes (they are kept on failure)")
	reportPath        = flag.String("report", "", "where to write the YAML report (default: bin/conformance-report.yaml in the repository)")
	implOrg           = flag.String("organization", "egressgate", "implementation's organization, for the report")
	implProject       = flag.String("project", "egressgate", "implementation's project, for the report")
	implURL           = flag.String("url", "https://github.com/egressgate/egressgate", "implementation's URL, for the report")
	implVersion       = flag.String("version", "dev", "implementation's version, for the report")
)

func TestConformance(t *testing.T) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	all, err := tests.ConformanceTests()
	if err != nil {
		t.Fatal(err)
	}
	if *runTest != "" && !slices.Contains(tests.Order, *runTest) {
		t.Fatalf("-run-test %s: no test has that ShortName; the tests are %s", *runTest, strings.Join(tests.Order, ", "))
	}
	ctx := context.Background()
	start := time.Now()
	var opts suite.Options
	if kubeconfig() == "" {
		h, err := embedded.Start(ctx, os.Stderr)
		if err != nil {
			t.Fatalf("start the embedded cluster: %v", err)
		}
		defer func() {
			if t.Failed() || *keepLogsFlag {
				keepLogs(h.Cluster.Dir)
			}
			_ = h.Stop()
		}()
		fmt.Fprintf(os.Stderr, "embedded cluster, %d operator replicas and CoreDNS up in %.1fs\n", embedded.Replicas, time.Since(start).Seconds())
		opts = h.Options()
		opts.Implementation.Mode = "embedded cluster"
	} else {
		var err error
		if opts, err = existingCluster(); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range splitList(*exemptFeatures) {
		delete(opts.SupportedFeatures, suite.Feature(f))
	}
	opts.Implementation = suite.Implementation{
		Organization: *implOrg, Project: *implProject, URL: *implURL, Version: *implVersion, Mode: opts.Implementation.Mode,
	}
	opts.Manifests = tests.Manifests
	opts.RunTest = *runTest
	opts.DataPlaneHost = *dataPlaneHost
	s, err := suite.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Run(t, all)
	writeResults(t, s, start)
}

// writeResults prints the summary table and writes the YAML report (and,
// next to it, the summary as text).
func writeResults(t *testing.T, s *suite.Suite, start time.Time) {
	var summary strings.Builder
	fmt.Fprintf(&summary, "conformance took %.1fs\n", time.Since(start).Seconds())
	s.PrintSummary(&summary)
	fmt.Fprint(os.Stderr, "\n"+summary.String())
	path := *reportPath
	if path == "" {
		root, err := crdpaths.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(root, "bin", "conformance-report.yaml")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteReport(path); err != nil {
		t.Fatal(err)
	}
	// go test shows a passing package's output only with -v; make
	// conformance prints this file instead.
	summaryPath := strings.TrimSuffix(path, filepath.Ext(path)) + ".txt"
	if err := os.WriteFile(summaryPath, []byte(summary.String()+"report: "+path+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// keepLogs copies the components' logs (and the audit log) to
// bin/conformance-logs before the cluster's directory is removed.
func keepLogs(dir string) {
	root, err := crdpaths.RepoRoot()
	if err != nil {
		return
	}
	dst := filepath.Join(root, "bin", "conformance-logs")
	_ = os.RemoveAll(dst)
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(dir, "logs"))); err != nil {
		fmt.Fprintf(os.Stderr, "keep the component logs: %v\n", err)
		return
	}
	_ = copyFile(filepath.Join(dir, "audit.log"), filepath.Join(dst, "audit.log"))
	fmt.Fprintf(os.Stderr, "component logs: %s\n", dst)
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// existingCluster builds the options for a cluster given by -kubeconfig.
func existingCluster() (suite.Options, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig())
	if err != nil {
		return suite.Options{}, fmt.Errorf("read -kubeconfig %s: %w", kubeconfig(), err)
	}
	scheme, err := kubescheme.New()
	if err != nil {
		return suite.Options{}, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return suite.Options{}, fmt.Errorf("reach the cluster in %s: %w", kubeconfig(), err)
	}
	features := suite.NewFeatureSet()
	if *supportedFeatures == "" {
		for _, p := range []suite.ProfileName{suite.ProfileCore, suite.ProfileDNS, suite.ProfilePolicy, suite.ProfileIstio, suite.ProfileEnvoyConfig, suite.ProfileDataPlane} {
			for _, f := range suite.Profiles[p] {
				features[f] = true
			}
		}
		delete(features, suite.FeatureDNSQueryFromPodIP)
	}
	why := map[suite.Feature]string{
		suite.FeatureDNSQueryFromPodIP: "the suite does not run on this cluster's pod network, so it cannot query from a gateway pod's IP",
	}
	for _, f := range suite.Profiles[suite.ProfileResilience] {
		why[f] = "the suite does not run this cluster's control plane"
	}
	for _, f := range splitList(*supportedFeatures) {
		if suite.ProfileOf(suite.Feature(f)) == "" {
			return suite.Options{}, fmt.Errorf("-supported-features: %q is not a feature; features are those of suite.Profiles", f)
		}
		features[suite.Feature(f)] = true
	}
	return suite.Options{
		Client:               c,
		RestConfig:           cfg,
		SupportedFeatures:    features,
		UnsupportedReasons:   why,
		GatewayNamespace:     *gatewayNamespace,
		ClusterDomain:        *clusterDomain,
		DNSServer:            *dnsServer,
		DNSNamespace:         *dnsNamespace,
		IstiodNamespace:      *istiodNamespace,
		ExternalDomain:       *externalDomain,
		PodDisruptionBudgets: *podDisruption,
		Implementation:       suite.Implementation{Mode: "existing cluster " + cfg.Host},
	}, nil
}

// kubeconfig is the -kubeconfig flag, which controller-runtime defines:
// the kubeconfig of an existing cluster to test; empty starts the
// embedded cluster. (KUBECONFIG is deliberately not read.)
func kubeconfig() string {
	if f := flag.Lookup("kubeconfig"); f != nil {
		return f.Value.String()
	}
	return ""
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
