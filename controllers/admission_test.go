package controllers_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/egressgate/egressgate/internal/admission"
	"github.com/egressgate/egressgate/internal/crds"
)

// admissionCase is an ExternalService spec (YAML) and the message the API
// server must refuse it with.
type admissionCase struct {
	name, spec, want string
	metaName         string // metadata.name; "x" when empty
}

var invalidExternalServices = []admissionCase{
	{name: "uppercase dnsName", spec: `{dnsName: GitHub.com, ports: [{port: 443}]}`, want: "dnsName must be lowercase"},
	{name: "wildcard", spec: `{dnsName: "*.example.com", ports: [{port: 443}]}`, want: "dnsName must not be a wildcard"},
	{name: "trailing dot", spec: `{dnsName: example.com., ports: [{port: 443}]}`, want: "dnsName must not end with a dot"},
	{name: "IPv4 address", spec: `{dnsName: 192.0.2.1, ports: [{port: 443}]}`, want: "dnsName must be a DNS name, not an IP address"},
	{name: "IPv6 address", spec: `{dnsName: "2001:db8::1", ports: [{port: 443}]}`, want: "dnsName must be a DNS name, not an IP address"},
	{name: "single label", spec: `{dnsName: localhost, ports: [{port: 443}]}`, want: "dnsName must have at least two labels"},
	{name: "underscore", spec: `{dnsName: my_host.example.com, ports: [{port: 443}]}`, want: "dnsName must be a DNS name: labels of 1-63"},
	{name: "label starts with dash", spec: `{dnsName: -a.example.com, ports: [{port: 443}]}`, want: "dnsName must be a DNS name: labels of 1-63"},
	{name: "empty label", spec: `{dnsName: a..example.com, ports: [{port: 443}]}`, want: "dnsName must be a DNS name: labels of 1-63"},
	{name: "label over 63", spec: fmt.Sprintf(`{dnsName: %s.com, ports: [{port: 443}]}`, strings.Repeat("a", 64)), want: "dnsName must be a DNS name: labels of 1-63"},
	{name: "name over 253", spec: fmt.Sprintf(`{dnsName: %s.com, ports: [{port: 443}]}`, strings.Repeat("abcdefghi.", 26)), want: "may not be more than 253"},
	{name: "no dnsName", spec: `{ports: [{port: 443}]}`, want: "spec.dnsName: Required value"},
	{name: "no ports", spec: `{dnsName: example.com, ports: []}`, want: "should have at least 1 items"},
	{name: "17 ports", spec: `{dnsName: example.com, ports: [` + portList(17) + `]}`, want: "must have at most 16 items"},
	{name: "port 0", spec: `{dnsName: example.com, ports: [{port: 0}]}`, want: "should be greater than or equal to 1"},
	{name: "port 65536", spec: `{dnsName: example.com, ports: [{port: 65536}]}`, want: "should be less than or equal to 65535"},
	{name: "TCP port twice", spec: `{dnsName: example.com, ports: [{port: 443}, {port: 443, protocol: TCP}]}`, want: "ports must have at most one TCP or TLS entry per port number"},
	{name: "TCP and TLS on one port", spec: `{dnsName: example.com, ports: [{port: 443, protocol: TLS}, {port: 443}]}`, want: "ports must have at most one TCP or TLS entry per port number"},
	{name: "UDP port twice", spec: `{dnsName: example.com, ports: [{port: 53, protocol: UDP}, {port: 53, protocol: UDP}, {port: 53}]}`, want: "ports must have at most one UDP entry per port number"},
	{name: "unknown protocol", spec: `{dnsName: example.com, ports: [{port: 443, protocol: SCTP}]}`, want: `Unsupported value: "SCTP"`},
	{name: "minReplicas 0", spec: `{dnsName: example.com, ports: [{port: 443}], minReplicas: 0}`, want: "spec.minReplicas: Invalid value: 0: spec.minReplicas in body should be greater than or equal to 1"},
	{name: "min above max", spec: `{dnsName: example.com, ports: [{port: 443}], minReplicas: 5, maxReplicas: 2}`, want: "minReplicas must not be greater than maxReplicas"},
	{name: "min above default max", spec: `{dnsName: example.com, ports: [{port: 443}], minReplicas: 20}`, want: "minReplicas must not be greater than maxReplicas"},
	{name: "cpu target 0", spec: `{dnsName: example.com, ports: [{port: 443}], targetCPUUtilizationPercentage: 0}`, want: "should be greater than or equal to 1"},
	{name: "cpu target 101", spec: `{dnsName: example.com, ports: [{port: 443}], targetCPUUtilizationPercentage: 101}`, want: "should be less than or equal to 100"},
	{name: "ipOverride hostname", spec: `{dnsName: example.com, ports: [{port: 443}], ipOverride: [not-an-ip]}`, want: "ipOverride entries must be IP addresses"},
	{name: "ipOverride CIDR", spec: `{dnsName: example.com, ports: [{port: 443}], ipOverride: [203.0.113.0/24]}`, want: "ipOverride entries must be IP addresses"},
	{name: "ipOverride with port", spec: `{dnsName: example.com, ports: [{port: 443}], ipOverride: ["203.0.113.1:443"]}`, want: "ipOverride entries must be IP addresses"},
	{name: "17 ipOverride", spec: `{dnsName: example.com, ports: [{port: 443}], ipOverride: [` + ipList(17) + `]}`, want: "must have at most 16 items"},
	{name: "unknown log level", spec: `{dnsName: example.com, ports: [{port: 443}], envoyLogLevel: verbose}`, want: `Unsupported value: "verbose"`},
	{name: "unknown traffic distribution", spec: `{dnsName: example.com, ports: [{port: 443}], serviceTrafficDistribution: Nearby}`, want: `Unsupported value: "Nearby"`},
	{name: "max connections 0", spec: `{dnsName: example.com, ports: [{port: 443}], envoyClusterMaxConnections: 0}`, want: "should be greater than or equal to 1"},
	{name: "name with a dot", metaName: "github.com", spec: `{dnsName: github.com, ports: [{port: 443}]}`, want: "metadata.name must be a DNS-1035 label"},
	{name: "name starts with digit", metaName: "1password", spec: `{dnsName: 1password.com, ports: [{port: 443}]}`, want: "metadata.name must be a DNS-1035 label"},
	{name: "name of 56", metaName: strings.Repeat("a", 56), spec: `{dnsName: example.com, ports: [{port: 443}]}`, want: "metadata.name must be at most 55 characters"},
}

func portList(n int) string {
	var ps []string
	for i := 1; i <= n; i++ {
		ps = append(ps, fmt.Sprintf("{port: %d}", i))
	}
	return strings.Join(ps, ", ")
}

func ipList(n int) string {
	var ips []string
	for i := 1; i <= n; i++ {
		ips = append(ips, fmt.Sprintf("203.0.113.%d", i))
	}
	return strings.Join(ips, ", ")
}

func externalServiceFromSpec(t *testing.T, name, spec string) *unstructured.Unstructured {
	t.Helper()
	var s map[string]any
	if err := yaml.Unmarshal([]byte(spec), &s); err != nil {
		t.Fatalf("bad test spec %q: %v", spec, err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "egress.monzo.com/v1", "kind": "ExternalService",
		"metadata": map[string]any{"name": name}, "spec": s,
	}}
	return u
}

// offline is egressctl's admission, which must agree with the API server.
var offline = func() *admission.Admitter {
	a, err := admission.New()
	if err != nil {
		panic(err)
	}
	return a
}()

// TestAdmissionRejectsInvalidObjects sends each invalid object to the real
// API server (dry run) and checks the refusal says what to change.
func TestAdmissionRejectsInvalidObjects(t *testing.T) {
	for _, c := range invalidExternalServices {
		t.Run(c.name, func(t *testing.T) {
			name := c.metaName
			if name == "" {
				name = "x"
			}
			err := k8s.Create(ctxT(t), externalServiceFromSpec(t, name, c.spec), client.DryRunAll)
			if err == nil {
				t.Fatalf("the API server accepted %s", c.spec)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("refusal %q does not say %q", err, c.want)
			}
			// egressctl's offline admission must refuse it the same way.
			errs := offline.Admit(ctxT(t), externalServiceFromSpec(t, name, c.spec).Object)
			if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), c.want) {
				t.Errorf("offline admission gave %v, want a refusal saying %q", errs, c.want)
			}
		})
	}
}

func TestAdmissionAcceptsValidObjects(t *testing.T) {
	valid := []admissionCase{
		{name: "TCP and UDP share a port", spec: `{dnsName: dns.example.com, ports: [{port: 53}, {port: 53, protocol: UDP}]}`},
		{name: "TLS and TCP on different ports", spec: `{dnsName: github.com, ports: [{port: 443, protocol: TLS}, {port: 22}]}`},
		{name: "16 ports", spec: `{dnsName: example.com, ports: [` + portList(16) + `]}`},
		{name: "IPv6 override", spec: `{dnsName: example.com, ports: [{port: 443}], ipOverride: ["2001:db8::10", 203.0.113.9]}`},
		{name: "name of 55", metaName: strings.Repeat("a", 55), spec: `{dnsName: example.com, ports: [{port: 443}]}`},
		{name: "digits in a TLD-like label", spec: `{dnsName: host.example.co1, ports: [{port: 443}]}`},
	}
	for _, c := range valid {
		t.Run(c.name, func(t *testing.T) {
			name := c.metaName
			if name == "" {
				name = "x"
			}
			if err := k8s.Create(ctxT(t), externalServiceFromSpec(t, name, c.spec), client.DryRunAll); err != nil {
				t.Errorf("refused: %v", err)
			}
			if errs := offline.Admit(ctxT(t), externalServiceFromSpec(t, name, c.spec).Object); len(errs) > 0 {
				t.Errorf("offline admission refused it: %v", errs)
			}
		})
	}
}

// TestSamplesAreAccepted applies every file in samples/, the README
// example among them, exactly as written.
func TestSamplesAreAccepted(t *testing.T) {
	root, err := crds.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "samples", "*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("want at least 3 samples, found %v (%v)", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(raw, &u.Object); err != nil {
				t.Fatal(err)
			}
			if err := k8s.Create(ctxT(t), u, client.DryRunAll); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}
