package istioimport

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// objects parses YAML documents separated by "---".
func objects(t *testing.T, docs string) []Object {
	t.Helper()
	var out []Object
	for _, d := range strings.Split(docs, "\n---\n") {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, Object{Source: "test", Doc: m})
	}
	return out
}

func importYAML(t *testing.T, docs string) Result {
	t.Helper()
	res, err := Import(objects(t, docs), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func findingList(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s|%d|%s\n", f.Host, f.Port, f.Reason)
	}
	return b.String()
}

// dns1035Label is the CRD's rule for metadata.name.
var dns1035Label = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

func TestNameForHost(t *testing.T) {
	for host, want := range map[string]string{
		"api.github.com":         "api-github-com",
		"1password.com":          "es-1password-com",
		"sftp.bank.example":      "sftp-bank-example",
		"a.b.c.d.e.f.g.h.i.j.io": "a-b-c-d-e-f-g-h-i-j-io",
	} {
		if got := NameForHost(host); got != want {
			t.Errorf("NameForHost(%s) = %s, want %s", host, got, want)
		}
	}
	long1 := strings.Repeat("x", 50) + ".one.example.com"
	long2 := strings.Repeat("x", 50) + ".two.example.com"
	n1, n2 := NameForHost(long1), NameForHost(long2)
	for _, n := range []string{n1, n2} {
		if len(n) > egressv1.MaxNameLength || !dns1035Label.MatchString(n) {
			t.Errorf("%s is not a valid name of at most %d characters", n, egressv1.MaxNameLength)
		}
	}
	if n1 == n2 || n1 != NameForHost(long1) {
		t.Errorf("long names must differ by host and be stable: %s, %s", n1, n2)
	}
}

// TestNamesDoNotCollide: two hosts whose derived names are equal get
// different names.
func TestNamesDoNotCollide(t *testing.T) {
	res := importYAML(t, `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: both}
spec:
  hosts: [a-b.example.com, a.b-example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS`)
	if len(res.ExternalServices) != 2 {
		t.Fatalf("want 2 ExternalServices, got %d", len(res.ExternalServices))
	}
	a, b := res.ExternalServices[0].ExternalService.Name, res.ExternalServices[1].ExternalService.Name
	if a == b || a != "a-b-example-com" {
		t.Errorf("names %s and %s: want a-b-example-com and a hashed one", a, b)
	}
}

func TestProtocols(t *testing.T) {
	for _, c := range []struct {
		declared, name string
		want           protocol
	}{
		{"HTTPS", "", protoTLS}, {"TLS", "", protoTLS}, {"", "https-api", protoTLS},
		{"HTTP", "", protoHTTP}, {"GRPC", "", protoHTTP}, {"", "http2", protoHTTP},
		{"TCP", "", protoTCP}, {"MONGO", "", protoTCP}, {"", "", protoTCP}, {"UDP", "", protoUDP},
	} {
		if got := istioProtocol(c.declared, c.name); got != c.want {
			t.Errorf("istioProtocol(%q, %q) = %s, want %s", c.declared, c.name, got, c.want)
		}
	}
	if got := serviceProtocol("TCP", "https", "web"); got != protoTLS {
		t.Errorf("appProtocol https: got %s", got)
	}
	if got := serviceProtocol("TCP", "kubernetes.io/h2c", ""); got != protoHTTP {
		t.Errorf("appProtocol h2c: got %s", got)
	}
}

// TestPrivateEndpointsAreReported: the CRD accepts a private ipOverride
// but the operator refuses it, so the Istio objects must stay.
func TestPrivateEndpointsAreReported(t *testing.T) {
	docs := `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: data}
spec:
  hosts: [db.corp.example]
  ports: [{number: 5432, name: tcp-pg, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 10.1.2.3}]`
	res := importYAML(t, docs)
	if len(res.ExternalServices) != 1 || res.ExternalServices[0].ExternalService.Spec.IpOverride[0] != "10.1.2.3" {
		t.Fatalf("want the ExternalService with ipOverride 10.1.2.3, got %+v", res.ExternalServices)
	}
	if !strings.Contains(findingList(res.Report.NotCarried), "db.corp.example|0|refused by the operator") || len(res.Report.Keep) != 1 || len(res.Report.Delete) != 0 {
		t.Errorf("want a refusal and the ServiceEntry kept; report %+v", res.Report)
	}
	opts := DefaultOptions()
	opts.Operator.AllowPrivateIPOverride = true
	allowed, err := Import(objects(t, docs), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(allowed.Report.NotCarried) != 1 || len(allowed.Report.Delete) != 1 { // only sidecar-only remains
		t.Errorf("with --allow-private-ip-override: %+v", allowed.Report)
	}
}

// TestUnreadKindsAreReported: Istio and Gateway API kinds import does not
// read count as not carried over; other kinds are only ignored.
func TestUnreadKindsAreReported(t *testing.T) {
	res := importYAML(t, `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: lua, namespace: istio-system}
spec: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: egress-allow, namespace: istio-system}
spec: {}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio}
spec: {controllerName: istio.io/gateway-controller}
---
apiVersion: v1
kind: Namespace
metadata: {name: team}`)
	got := findingList(res.Report.NotCarried)
	if !strings.Contains(got, "|0|not read") || strings.Count(got, "not read") != 2 {
		t.Errorf("want EnvoyFilter and AuthorizationPolicy not read, got:\n%s", got)
	}
	if len(res.Report.Ignored) != 2 {
		t.Errorf("want GatewayClass and Namespace ignored, got %+v", res.Report.Ignored)
	}
}

func TestUnservedVersionIsAnError(t *testing.T) {
	_, err := Import(objects(t, `apiVersion: networking.istio.io/v2
kind: ServiceEntry
metadata: {name: x}
spec: {}`), DefaultOptions())
	if err == nil || !strings.Contains(err.Error(), "use v1, v1alpha3, v1beta1") {
		t.Errorf("got %v", err)
	}
}

// TestTooManyPorts keeps the first 16 and says so.
func TestTooManyPorts(t *testing.T) {
	var ports []string
	for i := range 20 {
		ports = append(ports, fmt.Sprintf("{number: %d, name: tcp-%d, protocol: TCP}", 9000+i, i))
	}
	res := importYAML(t, `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: many}
spec:
  hosts: [many.example.com]
  ports: [`+strings.Join(ports, ", ")+`]
  resolution: DNS`)
	if n := len(res.ExternalServices[0].ExternalService.Spec.Ports); n != 16 {
		t.Errorf("got %d ports, want 16", n)
	}
	if !strings.Contains(findingList(res.Report.NotCarried), "many.example.com|0|too many ports") {
		t.Errorf("not reported: %s", findingList(res.Report.NotCarried))
	}
}

// TestInvalidSettingsAreNotCarried: a Gateway customization the API would
// refuse is reported and left at its default, so the output stays valid.
func TestInvalidSettingsAreNotCarried(t *testing.T) {
	res := importYAML(t, `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  annotations: {sidecar.istio.io/logLevel: "upstream:debug"}
spec:
  gatewayClassName: istio
  infrastructure: {parametersRef: {group: "", kind: ConfigMap, name: gw-options}}
  listeners: [{name: tcp, port: 5432, protocol: TCP}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: gw-options}
data:
  horizontalPodAutoscaler: |
    spec: {minReplicas: 9, maxReplicas: 4}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata: {name: pg}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{group: networking.istio.io, kind: Hostname, name: pg.example.com, port: 5432}]}]`)
	spec := res.ExternalServices[0].ExternalService.Spec
	if spec.MinReplicas != nil || spec.MaxReplicas != nil || spec.EnvoyLogLevel != "" {
		t.Errorf("invalid settings were carried: %+v", spec)
	}
	got := findingList(res.Report.NotCarried)
	if strings.Count(got, "invalid setting") != 1 {
		t.Errorf("want one merged invalid setting finding, got:\n%s", got)
	}
}

// TestGatewayWithoutDestinationPorts: a gateway rule without a destination
// port forwards each listener port to the same port of the host.
func TestGatewayWithoutDestinationPorts(t *testing.T) {
	res := importYAML(t, `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: egress}
spec:
  selector: {istio: egressgateway}
  servers:
  - {port: {number: 80, name: http, protocol: HTTP}, hosts: [api.example.com]}
  - {port: {number: 8080, name: http-alt, protocol: HTTP}, hosts: [api.example.com]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api}
spec:
  hosts: [api.example.com]
  gateways: [egress]
  http:
  - route: [{destination: {host: api.example.com}}]`)
	if len(res.ExternalServices) != 1 {
		t.Fatalf("got %d ExternalServices", len(res.ExternalServices))
	}
	var ports []int32
	for _, p := range res.ExternalServices[0].ExternalService.Spec.Ports {
		ports = append(ports, p.Port)
	}
	if fmt.Sprint(ports) != "[80 8080]" || strings.Contains(findingList(res.Report.NotCarried), "port change") {
		t.Errorf("ports %v, findings:\n%s", ports, findingList(res.Report.NotCarried))
	}
}
