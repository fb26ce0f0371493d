package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/istioimport"
	"github.com/egressgate/egressgate/internal/testenv"
	"github.com/egressgate/egressgate/translate"
)

// importCase runs `egressctl import -f in.yaml` for one testdata/import
// case and returns its stdout and report.
func importCase(t *testing.T, dir string, mutate ...func(*importOptions)) (out, report string, err error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	o := importOptions{files: []string{filepath.Join(dir, "in.yaml")}, output: "yaml", opts: istioimport.DefaultOptions()}
	for _, m := range mutate {
		m(&o)
	}
	err = runImport(context.Background(), nil, &stdout, &stderr, o)
	return stdout.String(), stderr.String(), err
}

// TestImportGolden runs `egressctl import` on every testdata/import/<case>
// and compares the ExternalServices with want.yaml and the report with
// report.txt. Regenerate with: go test ./cmd/egressctl -run TestImport -update
func TestImportGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/import/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 12 {
		t.Fatalf("want at least 12 input sets in testdata/import, found %d", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			out, report, err := importCase(t, dir)
			if err != nil {
				t.Fatalf("import %s: %v", dir, err)
			}
			for _, g := range []struct{ file, got string }{{"want.yaml", out}, {"report.txt", report}} {
				checkGolden(t, filepath.Join(dir, g.file), g.got, "go test ./cmd/egressctl -run TestImport -update")
			}
		})
	}
}

// TestImportReportsWhatIsNotCarriedOver checks, independently of the
// golden files, that each input set's report names what the Istio
// configuration did and the ExternalServices cannot.
func TestImportReportsWhatIsNotCarriedOver(t *testing.T) {
	cases := map[string][]string{
		"istio-http-gateway":      {"port 80: HTTP becomes TCP", "port 443: sidecar-only", "Then delete", "Gateway.networking.istio.io default/istio-egressgateway"},
		"istio-tls-origination":   {"port 443: TLS origination", "unencrypted HTTP to port 80", "mesh mTLS to the gateway", "loadBalancer"},
		"sidecar-tls-origination": {"edition.cnn.com: sidecar-only", "TLS origination", "DestinationRule default/edition-cnn-com tls mode SIMPLE"},
		"wildcard-host":           {"*.wikipedia.org: wildcard host", "Keep these for now", "VirtualService.networking.istio.io default/direct-wikipedia-through-egress-gateway: it also carries *.wikipedia.org"},
		"tcp-mongodb":             {"client addresses", "203.0.113.20/32"},
		"externalname-services":   {"Service alias", "my-httpbin.default.svc.cluster.local", "TLS origination", "Service default/sleep: a ClusterIP Service"},
		"fault-injection-retries": {"fault injection", "retries", "HTTP routing", "timeout"},
		"gatewayapi-tls-origination": {"TLS origination", "HTTP routing: the route matched requests by path",
			"HTTPRoute default/forward-cnn-from-egress-gateway"},
		"sidecar-only":      {"api.stripe.com: sidecar-only", "time.cloudflare.com port 123: UDP", "pods in namespace payments that call api.stripe.com", "location MESH_INTERNAL"},
		"client-labels":     {"pods labelled app=notifier in namespace notifications", "pods labelled app=invoicer in namespace billing (Sidecar billing/invoicer lists egress/api.twilio.com)", "add egress-operator-system/* to its egress hosts"},
		"translate-samples": {"Leave these alone", "NetworkPolicy.networking.k8s.io egress-operator-system/github-ingress", "0 item(s) not carried over"},
	}
	for name, wants := range cases {
		t.Run(name, func(t *testing.T) {
			_, report, err := importCase(t, filepath.Join("testdata/import", name))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range wants {
				if !strings.Contains(report, w) {
					t.Errorf("report does not say %q:\n%s", w, report)
				}
			}
		})
	}
}

// TestImportStrict fails exactly when something was not carried over.
func TestImportStrict(t *testing.T) {
	strict := func(o *importOptions) { o.strict = true }
	if _, _, err := importCase(t, "testdata/import/fault-injection-retries", strict); err == nil || !strings.Contains(err.Error(), "--strict: 4 item(s) could not be carried over") {
		t.Errorf("--strict on fault injection and retries: got %v, want a --strict error", err)
	}
	if out, _, err := importCase(t, "testdata/import/istio-tls-passthrough", strict); err != nil || !strings.Contains(out, "kind: ExternalService") {
		t.Errorf("--strict on a clean TLS passthrough: got %v, want the ExternalService and no error", err)
	}
	if _, _, err := importCase(t, "testdata/import/fault-injection-retries"); err != nil {
		t.Errorf("without --strict, losses are only reported: %v", err)
	}
}

// TestImportStdinJSONListToJSON reads a JSON List from stdin together with
// a second file (-f is repeatable) and prints a JSON List.
func TestImportStdinJSONListToJSON(t *testing.T) {
	stdin, err := os.ReadFile("testdata/import/several-hosts-one-port/in.yaml") // a JSON List
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	o := importOptions{files: []string{"-", "testdata/import/tcp-mongodb/in.yaml"}, output: "json", opts: istioimport.DefaultOptions()}
	if err := runImport(context.Background(), bytes.NewReader(stdin), &stdout, &stderr, o); err != nil {
		t.Fatal(err)
	}
	var list struct {
		Kind  string                     `json:"kind"`
		Items []egressv1.ExternalService `json:"items"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &list); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	var got []string
	for _, es := range list.Items {
		got = append(got, es.Name+"="+es.Spec.DnsName)
	}
	want := []string{"api-github-com=api.github.com", "github-com=github.com", "my-mongo-tcp-svc=my-mongo.tcp.svc", "objects-githubusercontent-com=objects.githubusercontent.com"}
	if list.Kind != "List" || !slices.Equal(got, want) {
		t.Errorf("got %s %v, want List %v", list.Kind, got, want)
	}
	if !strings.Contains(stderr.String(), "4 ExternalService(s) from 10 object(s)") {
		t.Errorf("report on stderr does not count both inputs:\n%s", stderr.String())
	}
}

// TestImportReportFile writes the report to --report and nothing to stderr.
func TestImportReportFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.txt")
	var stdout, stderr bytes.Buffer
	o := importOptions{files: []string{"testdata/import/wildcard-host/in.yaml"}, output: "yaml", report: path, opts: istioimport.DefaultOptions()}
	if err := runImport(context.Background(), nil, &stdout, &stderr, o); err != nil {
		t.Fatal(err)
	}
	report, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 || !strings.Contains(string(report), "*.wikipedia.org: wildcard host") {
		t.Errorf("stderr %q; report file:\n%s", stderr.String(), report)
	}
}

// TestImportRefusesUnreadableInput wants an error that names the object
// and what to change, and no output.
func TestImportRefusesUnreadableInput(t *testing.T) {
	cases := map[string]struct {
		input string
		want  []string
	}{
		"unserved version": {`apiVersion: gateway.networking.k8s.io/v1alpha3
kind: TCPRoute
metadata: {name: db}
spec: {parentRefs: [{name: egress}]}
`, []string{"TCPRoute.gateway.networking.k8s.io default/db", "not a served version of TCPRoute: use v1, v1alpha2"}},
		"malformed Istio spec": {`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: bad, namespace: team}
spec: {hosts: [api.example.com], resolution: SOMETIMES}
`, []string{"stdin: ServiceEntry.networking.istio.io team/bad: decode networking.istio.io/v1", "SOMETIMES"}},
		"no kind": {"metadata: {name: x}\n", []string{"no apiVersion or kind"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			o := importOptions{files: []string{"-"}, output: "yaml", opts: istioimport.DefaultOptions()}
			err := runImport(context.Background(), strings.NewReader(c.input), &stdout, &stderr, o)
			if err == nil {
				t.Fatalf("accepted unreadable input; printed:\n%s", stdout.String())
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("printed ExternalServices for unreadable input:\n%s", stdout.String())
			}
		})
	}
	var stdout bytes.Buffer
	o := importOptions{files: []string{"testdata/import/nope.yaml"}, output: "yaml", opts: istioimport.DefaultOptions()}
	if err := runImport(context.Background(), nil, &stdout, &stdout, o); err == nil {
		t.Error("a missing file was not an error")
	}
	o = importOptions{files: []string{"testdata/import/tcp-mongodb/in.yaml"}, output: "table", opts: istioimport.DefaultOptions()}
	if err := runImport(context.Background(), nil, &stdout, &stdout, o); err == nil || !strings.Contains(err.Error(), "use yaml or json") {
		t.Errorf("-o table: got %v", err)
	}
}

// TestImportHelp shows the command and its examples.
func TestImportHelp(t *testing.T) {
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"import", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"egressctl import -f istio-egress.yaml", "--strict", "--report", "-o, --output", "Examples:"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("--help does not show %q:\n%s", w, out.String())
		}
	}
}

// survivingFields are the ExternalService fields a round trip through
// translate and import keeps, with the API's defaults applied.
type survivingFields struct {
	Name, DnsName                                           string
	Ports                                                   []egressv1.ExternalServicePort
	IpOverride                                              []string
	MinReplicas, MaxReplicas, TargetCPU                     int32
	Requests, Limits                                        map[string]string
	EnvoyClusterMaxConnections                              *int64
	EnvoyLogLevel, ServiceTopologyMode, TrafficDistribution string
}

func surviving(es *egressv1.ExternalService) survivingFields {
	spec := es.Spec.WithDefaults()
	s := survivingFields{
		Name: es.Name, DnsName: spec.DnsName, IpOverride: spec.IpOverride,
		MinReplicas:                *spec.MinReplicas,
		MaxReplicas:                *spec.MaxReplicas,
		TargetCPU:                  *spec.TargetCPUUtilizationPercentage,
		Requests:                   map[string]string{},
		Limits:                     map[string]string{},
		EnvoyClusterMaxConnections: spec.EnvoyClusterMaxConnections,
		EnvoyLogLevel:              spec.EnvoyLogLevel, ServiceTopologyMode: spec.ServiceTopologyMode,
		TrafficDistribution: spec.ServiceTrafficDistribution,
		Ports:               spec.Ports,
	}
	for k, q := range spec.Resources.Requests {
		s.Requests[string(k)] = canonical(q)
	}
	for k, q := range spec.Resources.Limits {
		s.Limits[string(k)] = canonical(q)
	}
	slices.SortFunc(s.Ports, func(a, b egressv1.ExternalServicePort) int { return int(a.Port - b.Port) })
	return s
}

func canonical(q resource.Quantity) string {
	c := q.DeepCopy()
	return c.String()
}

// TestImportSamplesRoundTrip translates every sample with `egressctl
// translate`, imports the printed objects and wants the sample back.
func TestImportSamplesRoundTrip(t *testing.T) {
	samples, err := filepath.Glob("../../samples/*.yaml")
	if err != nil || len(samples) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, sample := range samples {
		t.Run(filepath.Base(sample), func(t *testing.T) {
			var translated, errOut bytes.Buffer
			o := translateOptions{files: []string{sample}, output: "yaml", opts: translate.DefaultOptions()}
			if err := runTranslate(context.Background(), nil, &translated, &errOut, o); err != nil {
				t.Fatal(err)
			}
			var imported, report bytes.Buffer
			imp := importOptions{files: []string{"-"}, output: "json", strict: true, opts: istioimport.DefaultOptions()}
			if err := runImport(context.Background(), &translated, &imported, &report, imp); err != nil {
				t.Fatalf("import of translate's output: %v\n%s", err, report.String())
			}
			var list struct {
				Items []egressv1.ExternalService `json:"items"`
			}
			if err := json.Unmarshal(imported.Bytes(), &list); err != nil || len(list.Items) != 1 {
				t.Fatalf("want one ExternalService, got %v: %s", err, imported.String())
			}
			raw, err := os.ReadFile(sample)
			if err != nil {
				t.Fatal(err)
			}
			want := &egressv1.ExternalService{}
			if err := yaml.UnmarshalStrict(raw, want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(surviving(want), surviving(&list.Items[0])); diff != "" {
				t.Errorf("round trip of %s lost fields (-sample +imported):\n%s", sample, diff)
			}
		})
	}
}

// TestAPIServerAcceptsImportedExternalServices applies what import prints for
// several input sets to a real API server with the ExternalService CRD
// and reads each back.
func TestAPIServerAcceptsImportedExternalServices(t *testing.T) {
	env := testenv.StartOurs(t)
	ctx := context.Background()
	for _, name := range []string{"several-hosts-one-port", "tcp-mongodb", "externalname-services", "gatewayapi-tcp-tls-versions", "translate-samples"} {
		t.Run(name, func(t *testing.T) {
			out, _, err := importCase(t, filepath.Join("testdata/import", name), func(o *importOptions) { o.output = "json" })
			if err != nil {
				t.Fatal(err)
			}
			var list struct {
				Items []map[string]any `json:"items"`
			}
			if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) == 0 {
				t.Fatalf("no ExternalServices (%v): %s", err, out)
			}
			for _, item := range list.Items {
				u := &unstructured.Unstructured{Object: item}
				sent := &egressv1.ExternalService{}
				b, _ := json.Marshal(item)
				if err := json.Unmarshal(b, sent); err != nil {
					t.Fatal(err)
				}
				if err := env.Client.Create(ctx, u); err != nil {
					t.Fatalf("the API server refused ExternalService %s: %v", u.GetName(), err)
				}
				t.Cleanup(func() { // the next input set may use the same name
					if err := env.Client.Delete(ctx, u); err != nil {
						t.Errorf("delete ExternalService %s: %v", u.GetName(), err)
					}
				})
				got := &egressv1.ExternalService{}
				if err := env.Client.Get(ctx, client.ObjectKey{Name: u.GetName()}, got); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(surviving(sent), surviving(got)); diff != "" {
					t.Errorf("ExternalService %s read back differs (-sent +stored):\n%s", u.GetName(), diff)
				}
				if got.Spec.MinReplicas == nil || got.Spec.Resources == nil {
					t.Errorf("ExternalService %s: the API server's defaults were not applied: %+v", u.GetName(), got.Spec)
				}
			}
		})
	}
}
