package dnsplugin_test

// The hijack cases: what CoreDNS answers for ExternalServices as their
// status, the gateway pods and the API server change.

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/dnsharness"
)

// TestEndToEnd runs its subtests in order on one cluster: each starts from
// the state the one before left.
func TestEndToEnd(t *testing.T) {
	cl := startCluster(t)
	cl.createExternalServices(t)
	t.Run("hijacked answers over UDP and TCP", cl.testHijackedAnswers)
	t.Run("no upstream data in any section, owner as asked, TTL and EDNS0", cl.testNoUpstreamData)
	t.Run("gateway pods get the real answer", cl.testGatewayPods)
	t.Run("answers follow flips and deletes", cl.testFollowsChanges)
	t.Run("malformed queries get FORMERR", cl.testMalformed)
	t.Run("metrics", cl.testMetrics)
	t.Run("API server gone: the last table keeps being served", cl.testAPIServerGone)
}

// createExternalServices caches an upstream answer, then creates the
// ExternalServices every subtest starts from and waits until the first is
// hijacked.
func (cl *cluster) createExternalServices(t *testing.T) {
	ctx := t.Context()
	// Before any ExternalService: the upstream answer, which cache keeps for
	// 300 s. The hijack below must win over that cached answer.
	if err := cl.check("udp", "", "api.example.org.", dns.TypeA, noError("192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	for _, es := range []struct {
		name, dnsName string
		hijacked      metav1.ConditionStatus
		addrs         []string
	}{
		{"api", "api.example.org", metav1.ConditionTrue, []string{"10.96.0.10", "fd00::10"}},
		{"v4", "v4.example.org", metav1.ConditionTrue, []string{"10.96.0.40"}},
		{"noaddr", "noaddr.example.org", metav1.ConditionTrue, nil},
		{"plain", "plain.example.org", "", []string{"10.96.0.20"}}, // not (yet) programmed
	} {
		if err := cl.c.Create(ctx, dnsharness.NewExternalService(es.name, es.dnsName)); err != nil {
			t.Fatal(err)
		}
		if err := dnsharness.SetStatus(ctx, cl.c, es.name, es.hijacked, es.addrs...); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "api.example.org hijacked", followTimeout, func() error {
		return cl.check("udp", "", "api.example.org.", dns.TypeA, noError("10.96.0.10"))
	})
}

// answerCase is one question and the answer it must get over UDP and TCP.
type answerCase struct {
	name  string
	qtype uint16
	want  expect
}

func (cl *cluster) checkBoth(t *testing.T, from string, cases []answerCase) {
	t.Helper()
	for _, c := range cases {
		if err := both(func(proto string) error { return cl.check(proto, from, c.name, c.qtype, c.want) }); err != nil {
			t.Error(err)
		}
	}
}

func (cl *cluster) testHijackedAnswers(t *testing.T) {
	cl.checkBoth(t, "", []answerCase{
		{"api.example.org.", dns.TypeA, noError("10.96.0.10")},
		{"api.example.org.", dns.TypeAAAA, noError("fd00::10")},
		{"api.example.org.", dns.TypeHTTPS, noError()},
		{"api.example.org.", dns.TypeSVCB, noError()},
		{"api.example.org.", dns.TypeTXT, noError()},
		{"api.example.org.", dns.TypeANY, noError("10.96.0.10")},
		{"ApI.ExAmPlE.OrG.", dns.TypeA, noError("10.96.0.10")},
		{"v4.example.org.", dns.TypeAAAA, noError()},
		{"v4.example.org.", dns.TypeHTTPS, noError()},
		{"noaddr.example.org.", dns.TypeA, servFail},
		{"noaddr.example.org.", dns.TypeAAAA, servFail},
		// Not hijacked: no DNSHijacked condition, or a subdomain.
		{"plain.example.org.", dns.TypeA, noError("192.0.2.2")},
		{"plain.example.org.", dns.TypeAAAA, noError("2001:db8::2")},
		{"www.api.example.org.", dns.TypeA, noError("192.0.2.3")},
		// autopath walks the search path through the plugin chain: the
		// bare name's hijacked answer comes back behind a CNAME.
		{"api.example.org.team.svc.cluster.local.", dns.TypeA, noError("CNAME api.example.org.", "10.96.0.10")},
	})
}

func (cl *cluster) testNoUpstreamData(t *testing.T) {
	for _, proto := range []string{"udp", "tcp"} {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeHTTPS, dns.TypeANY, dns.TypeMX} {
			r, err := cl.query(proto, "", "API.example.org.", qtype, true)
			if err != nil {
				t.Fatal(err)
			}
			if text := r.String(); strings.Contains(text, upstreamMarks[0]) || strings.Contains(text, upstreamMarks[1]) {
				t.Errorf("%s over %s leaks upstream data:\n%s", dns.TypeToString[qtype], proto, text)
			}
			for _, rr := range r.Answer {
				if rr.Header().Name != "API.example.org." || rr.Header().Ttl != 7 {
					t.Errorf("%s over %s: record %s; want owner API.example.org. and TTL 7", dns.TypeToString[qtype], proto, rr)
				}
			}
			opt := r.IsEdns0()
			if opt == nil || !opt.Do() {
				t.Errorf("%s over %s: reply has no OPT record with DO, the query had one:\n%s", dns.TypeToString[qtype], proto, r)
			}
		}
	}
}

func (cl *cluster) testGatewayPods(t *testing.T) {
	// A gateway pod, a pod of the gateway namespace without the label,
	// and a labelled pod elsewhere.
	pods := []struct {
		name, ns, ip string
		labelled     bool
	}{
		{"api-gw-1", gatewayNamespace, "127.0.0.7", true},
		{"unlabelled", gatewayNamespace, "127.0.0.8", false},
		{"other-gw", "elsewhere", "127.0.0.9", true},
	}
	for _, p := range pods {
		createPod(t, cl.c, p.name, p.ns, p.ip, p.labelled)
	}
	eventually(t, "gateway exemption applied", followTimeout, func() error {
		return cl.check("udp", "127.0.0.7", "api.example.org.", dns.TypeA, noError("192.0.2.1"))
	})
	for _, c := range []struct {
		from  string
		qtype uint16
		want  expect
	}{
		{"127.0.0.7", dns.TypeA, noError("192.0.2.1")},
		{"127.0.0.7", dns.TypeAAAA, noError("2001:db8::1")},
		{"127.0.0.7", dns.TypeHTTPS, noError(`1 . alpn="h2" ipv4hint="192.0.2.1"`)},
		{"127.0.0.8", dns.TypeA, noError("10.96.0.10")},
		{"127.0.0.9", dns.TypeA, noError("10.96.0.10")},
		{"127.0.0.1", dns.TypeA, noError("10.96.0.10")},
	} {
		cl.checkBoth(t, c.from, []answerCase{{"api.example.org.", c.qtype, c.want}})
	}
	// The gateway's real answer is now in cache: other clients still
	// get the hijacked one.
	if err := cl.check("udp", "", "api.example.org.", dns.TypeAAAA, noError("fd00::10")); err != nil {
		t.Error(err)
	}

	// The gateway pod goes away: its IP is a client like any other.
	if err := cl.c.Delete(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-gw-1", Namespace: gatewayNamespace}},
		client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted gateway pod no longer exempt", followTimeout, func() error {
		return cl.check("udp", "127.0.0.7", "api.example.org.", dns.TypeA, noError("10.96.0.10"))
	})
}

// changeStep is one change to the API and the answer that must follow it.
type changeStep struct {
	what   string
	change func() error // nil: no change, the answer follows the step before
	answerCase
}

func (cl *cluster) testFollowsChanges(t *testing.T) {
	for _, s := range cl.changeSteps(t) {
		if s.change != nil {
			if err := s.change(); err != nil {
				t.Fatalf("%s: %v", s.what, err)
			}
		}
		eventually(t, s.what, followTimeout, func() error {
			return both(func(proto string) error { return cl.check(proto, "", s.name, s.qtype, s.want) })
		})
	}
}

// changeSteps flip api's DNSHijacked condition and addresses, then let two
// ExternalServices claim plain's name and delete them one after the other.
func (cl *cluster) changeSteps(t *testing.T) []changeStep {
	ctx := t.Context()
	setAPI := func(hijacked metav1.ConditionStatus, addrs ...string) func() error {
		return func() error { return dnsharness.SetStatus(ctx, cl.c, "api", hijacked, addrs...) }
	}
	deleteES := func(name string) func() error {
		return func() error {
			return cl.c.Delete(ctx, &egressv1.ExternalService{ObjectMeta: metav1.ObjectMeta{Name: name}})
		}
	}
	return []changeStep{
		{"DNSHijacked=False: upstream answer", setAPI(metav1.ConditionFalse, "10.96.0.10"),
			answerCase{"api.example.org.", dns.TypeAAAA, noError("2001:db8::1")}},
		{"DNSHijacked=True again with a new address", setAPI(metav1.ConditionTrue, "10.96.0.11"),
			answerCase{"api.example.org.", dns.TypeA, noError("10.96.0.11")}},
		{"the new address has no IPv6: empty AAAA, not upstream", nil,
			answerCase{"api.example.org.", dns.TypeAAAA, noError()}},
		{"addresses gone: SERVFAIL", setAPI(metav1.ConditionTrue),
			answerCase{"api.example.org.", dns.TypeA, servFail}},
		{"plain programmed: hijacked", func() error {
			return dnsharness.SetStatus(ctx, cl.c, "plain", metav1.ConditionTrue, "10.96.0.20")
		}, answerCase{"plain.example.org.", dns.TypeA, noError("10.96.0.20")}},
		{"a younger claimant of plain's name changes nothing", func() error {
			return dnsharness.CreateHijacked(ctx, cl.c, "plain-younger", "plain.example.org", "10.96.0.99")
		}, answerCase{"plain.example.org.", dns.TypeA, noError("10.96.0.20")}},
		{"plain deleted: the younger claimant now owns the name", deleteES("plain"),
			answerCase{"plain.example.org.", dns.TypeA, noError("10.96.0.99")}},
		{"both deleted: upstream answer", deleteES("plain-younger"),
			answerCase{"plain.example.org.", dns.TypeAAAA, noError("2001:db8::2")}},
		{"api restored", setAPI(metav1.ConditionTrue, "10.96.0.12"),
			answerCase{"api.example.org.", dns.TypeA, noError("10.96.0.12")}},
	}
}

func (cl *cluster) testMalformed(t *testing.T) {
	question := new(dns.Msg).SetQuestion("api.example.org.", dns.TypeA)
	noQuestion := &dns.Msg{MsgHdr: dns.MsgHdr{Id: 4242, RecursionDesired: true}}
	twoQuestions := question.Copy()
	twoQuestions.Question = append(twoQuestions.Question, dns.Question{Name: "v4.example.org.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	for name, m := range map[string]*dns.Msg{"no question": noQuestion, "two questions": twoQuestions} {
		r, err := rawExchange(cl.dns, m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Rcode != dns.RcodeFormatError || len(r.Answer) != 0 {
			t.Errorf("%s: got %s with %d answers, want FORMERR", name, dns.RcodeToString[r.Rcode], len(r.Answer))
		}
	}
}

func (cl *cluster) testMetrics(t *testing.T) {
	text := scrape(t, cl.metrics)
	for _, want := range []string{
		`coredns_egressoperator_hijacked_answers_total{external_service="api",server="dns://127.0.0.1:`,
		`coredns_egressoperator_gateway_answers_total{server="dns://127.0.0.1:`,
		"coredns_egressoperator_hijacked_names 3", // api, v4, noaddr
		"coredns_egressoperator_last_sync_timestamp_seconds 1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, grep(text, "coredns_egressoperator_"))
		}
	}
}

func createPod(t *testing.T, c client.Client, name, ns, ip string, labelled bool) {
	t.Helper()
	ctx := t.Context()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName:   "node-1",
			Containers: []corev1.Container{{Name: "istio-proxy", Image: "istio/proxyv2"}},
		},
	}
	if labelled {
		pod.Labels = map[string]string{egressv1.LabelGatewayName: "api"}
	}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	if err := c.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
}
