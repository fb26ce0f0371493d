package istioimport_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/controllers"
	"github.com/egressgate/egressgate/internal/admission"
	"github.com/egressgate/egressgate/internal/istioimport"
	"github.com/egressgate/egressgate/translate"
)

// TestRoundTripProperty generates random valid ExternalServices, turns
// them into objects exactly as the operator applies them (translate, then
// controllers.ApplyConfiguration), imports those and wants every surviving
// field back, nothing reported as lost, and the same objects when the
// imported ExternalServices are translated again.
func TestRoundTripProperty(t *testing.T) {
	admitter, err := admission.New()
	if err != nil {
		t.Fatal(err)
	}
	opts := translate.DefaultOptions()
	for seed := range uint64(150) {
		r := rand.New(rand.NewPCG(seed, 0xe9e55))
		batch := randomExternalServices(r, 1+r.IntN(5))
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			var objects []istioimport.Object
			applied := map[string][]map[string]any{}
			for _, es := range batch {
				if errs := admitter.Admit(context.Background(), toMap(t, es)); len(errs) > 0 {
					t.Fatalf("the generator made an invalid ExternalService %s: %v", es.Name, errs.ToAggregate())
				}
				applied[es.Name] = appliedObjects(t, es, opts)
				for _, obj := range applied[es.Name] {
					objects = append(objects, istioimport.Object{Source: "seed " + fmt.Sprint(seed), Doc: obj})
				}
			}
			res, err := istioimport.Import(objects, istioimport.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Report.NotCarried)+len(res.Report.Changed) > 0 {
				t.Errorf("round trip reported losses or changes: %+v %+v", res.Report.NotCarried, res.Report.Changed)
			}
			got := map[string]*egressv1.ExternalService{}
			for _, im := range res.ExternalServices {
				got[im.ExternalService.Name] = im.ExternalService
			}
			if len(got) != len(batch) {
				t.Fatalf("imported %d ExternalServices from %d", len(got), len(batch))
			}
			for _, want := range batch {
				imported := got[want.Name]
				if imported == nil {
					t.Fatalf("ExternalService %s (%s) was not imported under its name; got %v", want.Name, want.Spec.DnsName, slices.Sorted(maps.Keys(got)))
				}
				if diff := cmp.Diff(surviving(want), surviving(imported), quantities); diff != "" {
					t.Errorf("%s lost fields (-original +imported):\n%s", want.Name, diff)
				}
				if errs := admitter.Admit(context.Background(), toMap(t, imported)); len(errs) > 0 {
					t.Errorf("imported %s would be refused: %v", want.Name, errs.ToAggregate())
				}
				if diff := cmp.Diff(applied[want.Name], appliedObjects(t, imported, opts)); diff != "" {
					t.Errorf("translating the imported %s gives other objects (-original +imported):\n%s", want.Name, diff)
				}
			}
		})
	}
}

var quantities = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

// appliedObjects are the objects the operator applies for es, as maps.
func appliedObjects(t *testing.T, es *egressv1.ExternalService, opts translate.Options) []map[string]any {
	t.Helper()
	res := translate.Translate(es, opts, translate.Observed{})
	if len(res.Objects) == 0 {
		t.Fatalf("translate made nothing for %s: %+v", es.Name, res.Conditions)
	}
	var out []map[string]any
	for _, obj := range res.Objects {
		u, err := controllers.ApplyConfiguration(obj)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, u.Object)
	}
	return out
}

func toMap(t *testing.T, es *egressv1.ExternalService) map[string]any {
	t.Helper()
	b, err := json.Marshal(es)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "status")
	delete(m["metadata"].(map[string]any), "creationTimestamp")
	return m
}

// survivingFields are what a round trip keeps, with the API's defaults
// applied. Not kept: hijackDns (no generated object carries it; import
// sets it from its options), UDP ports, the envoyDnsRefreshRateS,
// envoyRespectDnsTTL and JSON access log fields (they have no effect).
type survivingFields struct {
	Name, DnsName                                                  string
	Ports                                                          []egressv1.ExternalServicePort
	IpOverride                                                     []string
	MinReplicas, MaxReplicas, TargetCPU                            int32
	Resources                                                      corev1.ResourceRequirements
	EnvoyClusterMaxConnections                                     *int64
	EnvoyLogLevel, ServiceTopologyMode, ServiceTrafficDistribution string
}

func surviving(es *egressv1.ExternalService) survivingFields {
	spec := es.Spec.WithDefaults()
	s := survivingFields{
		Name: es.Name, DnsName: spec.DnsName, IpOverride: spec.IpOverride,
		MinReplicas:                *spec.MinReplicas,
		MaxReplicas:                *spec.MaxReplicas,
		TargetCPU:                  *spec.TargetCPUUtilizationPercentage,
		EnvoyClusterMaxConnections: spec.EnvoyClusterMaxConnections,
		EnvoyLogLevel:              spec.EnvoyLogLevel,
		ServiceTopologyMode:        spec.ServiceTopologyMode,
		ServiceTrafficDistribution: spec.ServiceTrafficDistribution,
		Resources:                  *spec.Resources,
		Ports:                      spec.Ports,
	}
	slices.SortFunc(s.Ports, func(a, b egressv1.ExternalServicePort) int { return int(a.Port - b.Port) })
	return s
}

// randomExternalServices makes n valid ExternalServices with distinct
// names and hosts.
func randomExternalServices(r *rand.Rand, n int) []*egressv1.ExternalService {
	var out []*egressv1.ExternalService
	names, hosts := map[string]bool{}, map[string]bool{}
	for len(out) < n {
		name, host := randomName(r), randomHost(r)
		if names[name] || hosts[host] {
			continue
		}
		names[name], hosts[host] = true, true
		es := &egressv1.ExternalService{
			TypeMeta:   metav1.TypeMeta{APIVersion: egressv1.GroupVersion.String(), Kind: "ExternalService"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: egressv1.ExternalServiceSpec{
				DnsName:    host,
				HijackDns:  r.IntN(2) == 0,
				Ports:      randomPorts(r),
				IpOverride: randomIPs(r),
			},
		}
		randomSettings(r, &es.Spec)
		out = append(out, es)
	}
	return out
}

const (
	letters     = "abcdefghijklmnopqrstuvwxyz"
	labelChars  = letters + "0123456789-"
	alnumChars  = letters + "0123456789"
	maxInt32    = 1<<31 - 1
	dnsLabelMax = 63
)

func pick(r *rand.Rand, chars string) byte { return chars[r.IntN(len(chars))] }

// randomLabel is a DNS label of 1 to max characters.
func randomLabel(r *rand.Rand, first string, max int) string {
	n := 1 + r.IntN(max)
	b := []byte{pick(r, first)}
	for len(b) < n {
		b = append(b, pick(r, labelChars))
	}
	if n > 1 {
		b[n-1] = pick(r, alnumChars)
	}
	return string(b)
}

// randomName is a DNS-1035 label of at most MaxNameLength characters.
func randomName(r *rand.Rand) string {
	return randomLabel(r, letters, egressv1.MaxNameLength)
}

// randomHost has two to four labels under a public suffix; a quarter of
// them are long enough that a name derived from them would be cut.
func randomHost(r *rand.Rand) string {
	max := 12
	if r.IntN(4) == 0 {
		max = dnsLabelMax
	}
	var labels []string
	for range 1 + r.IntN(3) {
		labels = append(labels, randomLabel(r, alnumChars, max))
	}
	tlds := []string{"com", "net", "org", "io", "dev", "example", "co.uk"}
	return strings.Join(append(labels, tlds[r.IntN(len(tlds))]), ".")
}

func randomPorts(r *rand.Rand) []egressv1.ExternalServicePort {
	var ports []egressv1.ExternalServicePort
	seen := map[int32]bool{}
	for len(ports) < 1+r.IntN(4) {
		n := int32(1 + r.IntN(65535))
		if seen[n] {
			continue
		}
		seen[n] = true
		p := egressv1.ExternalServicePort{Port: n}
		switch r.IntN(3) {
		case 0:
			p.Protocol = new(egressv1.ProtocolTLS)
		case 1:
			p.Protocol = new(egressv1.ProtocolTCP)
		} // else unset: TCP by default
		ports = append(ports, p)
	}
	return ports
}

// randomIPs are up to three public addresses, IPv4 and IPv6.
func randomIPs(r *rand.Rand) []string {
	var ips []string
	for range r.IntN(4) {
		if r.IntN(3) == 0 {
			var b [16]byte
			b[0], b[1] = 0x2a, 0x00 // 2a00::/12, RIPE's global unicast
			for i := 2; i < 16; i++ {
				b[i] = byte(r.IntN(256))
			}
			ips = append(ips, netip.AddrFrom16(b).String())
			continue
		}
		public := []byte{8, 34, 52, 104, 151, 185, 203}
		ips = append(ips, netip.AddrFrom4([4]byte{public[r.IntN(len(public))], byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))}).String())
	}
	return slices.Compact(ips)
}

// randomSettings sets each optional field in about half the cases.
func randomSettings(r *rand.Rand, s *egressv1.ExternalServiceSpec) {
	maybe := func() bool { return r.IntN(2) == 0 }
	if maybe() {
		s.MinReplicas = new(int32(1 + r.IntN(10)))
	}
	if maybe() {
		least := egressv1.DefaultMinReplicas
		if s.MinReplicas != nil {
			least = *s.MinReplicas
		}
		s.MaxReplicas = new(least + int32(r.IntN(20)))
	} else if s.MinReplicas != nil && *s.MinReplicas > egressv1.DefaultMaxReplicas {
		s.MinReplicas = new(egressv1.DefaultMaxReplicas)
	}
	if maybe() {
		s.TargetCPUUtilizationPercentage = new(int32(1 + r.IntN(100)))
	}
	if maybe() {
		cpus := []string{"50m", "100m", "250m", "500m", "1", "2"}
		mems := []string{"32Mi", "64Mi", "128Mi", "512Mi", "1Gi", "2Gi"}
		s.Resources = &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpus[r.IntN(3)]), corev1.ResourceMemory: resource.MustParse(mems[r.IntN(3)])},
		}
		if maybe() {
			s.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpus[3+r.IntN(3)]), corev1.ResourceMemory: resource.MustParse(mems[3+r.IntN(3)])}
		}
	}
	if maybe() {
		s.EnvoyClusterMaxConnections = new(int64(1 + r.IntN(maxInt32)))
	}
	if maybe() {
		levels := []string{"trace", "debug", "info", "warning", "warn", "error", "critical", "off"}
		s.EnvoyLogLevel = levels[r.IntN(len(levels))]
	}
	if maybe() {
		s.ServiceTopologyMode = []string{"Auto", "None", "auto"}[r.IntN(3)]
	}
	if maybe() {
		s.ServiceTrafficDistribution = []string{"PreferClose", "PreferSameZone", "PreferSameNode"}[r.IntN(3)]
	}
	if maybe() { // fields without effect, which do not survive
		s.EnvoyDnsRefreshRateS = int64(r.IntN(60))
		s.EnvoyRespectDnsTTL = true
	}
}
