package dnsplugin_test

// End-to-end: the real bin/coredns (with every stock plugin and
// egressoperator) reads ExternalServices from a real kube-apiserver and is
// queried over UDP and TCP by a real DNS client. The Corefile also has
// autopath, cache and upstream zones serving A, AAAA and HTTPS records for
// the test names, so a leak of upstream data would show.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/dnsplugin/internal/harness"
	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/testenv"
)

// Named timeouts: how long a behaviour may take to show, never asserted as
// a duration.
const (
	startTimeout  = 60 * time.Second // CoreDNS up and the plugin synced
	followTimeout = 30 * time.Second // an API change shows in the answers
	noticeTimeout = 60 * time.Second // CoreDNS notices the API server is gone
	queryTimeout  = 2 * time.Second  // one DNS exchange
)

const gatewayNamespace = "egress-operator-system"

// The upstream zone: every test name has A, AAAA and HTTPS records, all of
// which a hijacked name must hide.
const zoneFile = `$ORIGIN example.org.
@        3600 IN SOA ns.example.org. hostmaster.example.org. 1 7200 3600 1209600 300
@        3600 IN NS  ns.example.org.
ns        300 IN A     192.0.2.53
api       300 IN A     192.0.2.1
api       300 IN AAAA  2001:db8::1
api       300 IN HTTPS 1 . alpn=h2 ipv4hint=192.0.2.1
www.api   300 IN A     192.0.2.3
www.api   300 IN AAAA  2001:db8::3
plain     300 IN A     192.0.2.2
plain     300 IN AAAA  2001:db8::2
plain     300 IN HTTPS 1 . alpn=h2
v4        300 IN A     192.0.2.4
v4        300 IN AAAA  2001:db8::4
v4        300 IN HTTPS 1 . alpn=h2
noaddr    300 IN A     192.0.2.5
noaddr    300 IN AAAA  2001:db8::5
`

// upstreamMarks are the address prefixes of the upstream zone: none may
// appear in a hijacked answer.
var upstreamMarks = []string{"192.0.2.", "2001:db8:"}

type cluster struct {
	env     *testenv.Env
	envDown bool
	proxy   *harness.TCPProxy // between CoreDNS and the API server
	c       client.Client
	dns     string // CoreDNS's address
	ready   string // its ready URL
	metrics string // its metrics URL
	coredns *harness.CoreDNS
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	bin, err := harness.CoreDNSBinary()
	if err != nil {
		t.Fatal(err)
	}
	paths, err := crdpaths.Ours()
	if err != nil {
		t.Fatal(err)
	}
	env, err := testenv.Start(paths)
	if err != nil {
		t.Fatal(err)
	}
	cl := &cluster{env: env, c: env.Client}
	t.Cleanup(func() { _ = cl.stopAPIServer() })
	ctx := t.Context()
	for _, ns := range []string{gatewayNamespace, "elsewhere"} {
		if err := env.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	// CoreDNS reaches the API server through a proxy the test can cut.
	apiURL, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	cl.proxy, err = harness.StartTCPProxy(apiURL.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.proxy.Close() })
	viaProxy := rest.CopyConfig(env.Config)
	viaProxy.Host = "https://" + cl.proxy.Addr()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := harness.WriteKubeconfig(viaProxy, kubeconfig); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "db.example.org"), zoneFile)
	// The search path of a pod in namespace "team", for autopath.
	write(t, filepath.Join(dir, "resolv.conf"), "search team.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.1\n")

	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = harness.FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	corefile := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    ready 127.0.0.1:%d
    prometheus 127.0.0.1:%d
    errors
    autopath . resolv.conf
    egressoperator %s cluster.local {
        kubeconfig %s %s
        ttl 7
    }
    cache 300
    template ANY ANY cluster.local {
        rcode NXDOMAIN
    }
    file db.example.org example.org
}
`, ports[0], ports[1], ports[2], gatewayNamespace, kubeconfig, harness.KubeconfigContext)
	cl.coredns, err = harness.StartCoreDNS(bin, dir, corefile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.coredns.Stop()
		if t.Failed() || testing.Verbose() {
			t.Logf("coredns output:\n%s", cl.coredns.Output())
		}
	})
	cl.dns = fmt.Sprintf("127.0.0.1:%d", ports[0])
	cl.ready = fmt.Sprintf("http://127.0.0.1:%d/ready", ports[1])
	cl.metrics = fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2])

	wctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := cl.coredns.WaitHTTP(wctx, cl.ready, http.StatusOK); err != nil {
		t.Fatal(err)
	}
	// ready can answer a moment before the DNS listeners are up.
	eventually(t, "CoreDNS serving", startTimeout, func() error {
		return both(func(proto string) error {
			return cl.check(proto, "", "ns.example.org.", dns.TypeA, noError("192.0.2.53"))
		})
	})
	return cl
}

// stopAPIServer cuts CoreDNS off the API server and stops etcd and
// kube-apiserver, once.
func (cl *cluster) stopAPIServer() error {
	if cl.envDown {
		return nil
	}
	cl.envDown = true
	if cl.proxy != nil {
		cl.proxy.Cut()
	}
	return cl.env.Stop()
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// query sends one question over proto ("udp" or "tcp") from the source
// address from (any loopback address when empty).
func (cl *cluster) query(proto, from, name string, qtype uint16, edns bool) (*dns.Msg, error) {
	c := &dns.Client{Net: proto, Timeout: queryTimeout}
	if from != "" {
		ip := net.ParseIP(from)
		if proto == "tcp" {
			c.Dialer = &net.Dialer{Timeout: queryTimeout, LocalAddr: &net.TCPAddr{IP: ip}}
		} else {
			c.Dialer = &net.Dialer{Timeout: queryTimeout, LocalAddr: &net.UDPAddr{IP: ip}}
		}
	}
	m := new(dns.Msg).SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(1232, true)
	}
	r, _, err := c.Exchange(m, cl.dns)
	if err != nil {
		return nil, fmt.Errorf("%s %s over %s from %q: %w", name, dns.TypeToString[qtype], proto, from, err)
	}
	return r, nil
}

// expect is what an answer must be: its rcode and the answer values (A and
// AAAA addresses, CNAME targets, HTTPS records as text) in any order.
type expect struct {
	rcode  int
	values []string
}

func (e expect) String() string {
	return fmt.Sprintf("%s %v", dns.RcodeToString[e.rcode], e.values)
}

func values(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		case *dns.CNAME:
			out = append(out, "CNAME "+rr.Target)
		default:
			out = append(out, strings.TrimPrefix(rr.String(), rr.Header().String()))
		}
	}
	slices.Sort(out)
	return out
}

func (cl *cluster) check(proto, from, name string, qtype uint16, want expect) error {
	r, err := cl.query(proto, from, name, qtype, false)
	if err != nil {
		return err
	}
	got := expect{rcode: r.Rcode, values: values(r)}
	wantSorted := slices.Clone(want.values)
	slices.Sort(wantSorted)
	if got.rcode != want.rcode || !slices.Equal(got.values, wantSorted) {
		return fmt.Errorf("%s %s over %s from %q: got %v, want %v", name, dns.TypeToString[qtype], proto, from, got, expect{want.rcode, wantSorted})
	}
	return nil
}

// eventually polls check until it passes or the named timeout ends.
func eventually(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	testenv.Eventually(t, what, timeout, check)
}

// both runs check over UDP and TCP.
func both(check func(proto string) error) error {
	for _, proto := range []string{"udp", "tcp"} {
		if err := check(proto); err != nil {
			return err
		}
	}
	return nil
}

var (
	noError  = func(v ...string) expect { return expect{rcode: dns.RcodeSuccess, values: v} }
	servFail = expect{rcode: dns.RcodeServerFailure}
)

func TestEndToEnd(t *testing.T) {
	cl := startCluster(t)
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
		if err := cl.c.Create(ctx, harness.NewExternalService(es.name, es.dnsName)); err != nil {
			t.Fatal(err)
		}
		if err := harness.SetStatus(ctx, cl.c, es.name, es.hijacked, es.addrs...); err != nil {
			t.Fatal(err)
		}
	}

	eventually(t, "api.example.org hijacked", followTimeout, func() error {
		return cl.check("udp", "", "api.example.org.", dns.TypeA, noError("10.96.0.10"))
	})

	t.Run("hijacked answers over UDP and TCP", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			qtype uint16
			want  expect
		}{
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
		} {
			if err := both(func(proto string) error { return cl.check(proto, "", c.name, c.qtype, c.want) }); err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("no upstream data in any section, owner as asked, TTL and EDNS0", func(t *testing.T) {
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
	})

	t.Run("gateway pods get the real answer", func(t *testing.T) {
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
			if err := both(func(proto string) error { return cl.check(proto, c.from, "api.example.org.", c.qtype, c.want) }); err != nil {
				t.Error(err)
			}
		}
		// The gateway's real answer is now in cache: other clients still
		// get the hijacked one.
		if err := cl.check("udp", "", "api.example.org.", dns.TypeAAAA, noError("fd00::10")); err != nil {
			t.Error(err)
		}

		// The gateway pod goes away: its IP is a client like any other.
		if err := cl.c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-gw-1", Namespace: gatewayNamespace}},
			client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
		eventually(t, "deleted gateway pod no longer exempt", followTimeout, func() error {
			return cl.check("udp", "127.0.0.7", "api.example.org.", dns.TypeA, noError("10.96.0.10"))
		})
	})

	t.Run("answers follow flips and deletes", func(t *testing.T) {
		steps := []struct {
			what   string
			change func() error
			name   string
			qtype  uint16
			want   expect
		}{
			{"DNSHijacked=False: upstream answer", func() error {
				return harness.SetStatus(ctx, cl.c, "api", metav1.ConditionFalse, "10.96.0.10")
			}, "api.example.org.", dns.TypeAAAA, noError("2001:db8::1")},
			{"DNSHijacked=True again with a new address", func() error {
				return harness.SetStatus(ctx, cl.c, "api", metav1.ConditionTrue, "10.96.0.11")
			}, "api.example.org.", dns.TypeA, noError("10.96.0.11")},
			{"the new address has no IPv6: empty AAAA, not upstream", nil,
				"api.example.org.", dns.TypeAAAA, noError()},
			{"addresses gone: SERVFAIL", func() error {
				return harness.SetStatus(ctx, cl.c, "api", metav1.ConditionTrue)
			}, "api.example.org.", dns.TypeA, servFail},
			{"plain programmed: hijacked", func() error {
				return harness.SetStatus(ctx, cl.c, "plain", metav1.ConditionTrue, "10.96.0.20")
			}, "plain.example.org.", dns.TypeA, noError("10.96.0.20")},
			{"a younger claimant of plain's name changes nothing", func() error {
				return harness.CreateHijacked(ctx, cl.c, "plain-younger", "plain.example.org", "10.96.0.99")
			}, "plain.example.org.", dns.TypeA, noError("10.96.0.20")},
			{"plain deleted: the younger claimant now owns the name", func() error {
				return cl.c.Delete(ctx, &egressv1.ExternalService{ObjectMeta: metav1.ObjectMeta{Name: "plain"}})
			}, "plain.example.org.", dns.TypeA, noError("10.96.0.99")},
			{"both deleted: upstream answer", func() error {
				return cl.c.Delete(ctx, &egressv1.ExternalService{ObjectMeta: metav1.ObjectMeta{Name: "plain-younger"}})
			}, "plain.example.org.", dns.TypeAAAA, noError("2001:db8::2")},
			{"api restored", func() error {
				return harness.SetStatus(ctx, cl.c, "api", metav1.ConditionTrue, "10.96.0.12")
			}, "api.example.org.", dns.TypeA, noError("10.96.0.12")},
		}
		for _, s := range steps {
			if s.change != nil {
				if err := s.change(); err != nil {
					t.Fatalf("%s: %v", s.what, err)
				}
			}
			eventually(t, s.what, followTimeout, func() error {
				return both(func(proto string) error { return cl.check(proto, "", s.name, s.qtype, s.want) })
			})
		}
	})

	t.Run("malformed queries get FORMERR", func(t *testing.T) {
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
	})

	t.Run("metrics", func(t *testing.T) {
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
	})

	t.Run("API server gone: the last table keeps being served", func(t *testing.T) {
		if err := cl.stopAPIServer(); err != nil {
			t.Fatal(err)
		}
		// The informers reconnect (and fail) more than once: the plugin has
		// noticed, relisted and kept its table.
		eventually(t, "CoreDNS retrying the API server", noticeTimeout, func() error {
			if n := cl.proxy.Dropped(); n < 3 {
				return fmt.Errorf("%d connection attempts since the API server went away, want 3", n)
			}
			return nil
		})
		for range 10 {
			for _, c := range []struct {
				name  string
				qtype uint16
				want  expect
			}{
				{"api.example.org.", dns.TypeA, noError("10.96.0.12")},
				{"v4.example.org.", dns.TypeA, noError("10.96.0.40")},
				{"noaddr.example.org.", dns.TypeA, servFail},
				{"plain.example.org.", dns.TypeA, noError("192.0.2.2")},
			} {
				if err := both(func(proto string) error { return cl.check(proto, "", c.name, c.qtype, c.want) }); err != nil {
					t.Fatal(err)
				}
			}
		}
		if code, err := harness.HTTPStatus(cl.ready); err != nil || code != http.StatusOK {
			t.Errorf("ready answered %d, %v; want 200: the plugin stays ready on its last table", code, err)
		}
	})
}

// Without an API server CoreDNS still starts after a bounded wait, serves
// (every name passes through) and reports the plugin not ready.
func TestStartsWithoutAPIServer(t *testing.T) {
	bin, err := harness.CoreDNSBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A kubeconfig whose server refuses connections: a port nobody listens on.
	closed, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "kubeconfig"), fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}}]
users: [{name: gone, user: {token: nothing}}]
contexts: [{name: gone, context: {cluster: gone, user: gone}}]
current-context: gone
`, closed))
	write(t, filepath.Join(dir, "db.example.org"), zoneFile)
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	readyPort, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	coredns, err := harness.StartCoreDNS(bin, dir, fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    ready 127.0.0.1:%d
    egressoperator {
        kubeconfig kubeconfig
    }
    file db.example.org example.org
}
`, port, readyPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		coredns.Stop()
		if t.Failed() {
			t.Logf("coredns output:\n%s", coredns.Output())
		}
	})

	cl := &cluster{dns: fmt.Sprintf("127.0.0.1:%d", port)}
	eventually(t, "CoreDNS serving without an API server", startTimeout, func() error {
		return both(func(proto string) error {
			return cl.check(proto, "", "api.example.org.", dns.TypeA, noError("192.0.2.1"))
		})
	})
	ready := fmt.Sprintf("http://127.0.0.1:%d/ready", readyPort)
	eventually(t, "ready endpoint up", startTimeout, func() error {
		code, err := harness.HTTPStatus(ready)
		if err != nil {
			return err
		}
		if code != http.StatusServiceUnavailable {
			return fmt.Errorf("ready answered %d, want 503", code)
		}
		return nil
	})
	if !coredns.Contains("not ready") && !coredns.Contains("serving without it") {
		t.Errorf("coredns did not log that it serves without the API server:\n%s", coredns.Output())
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

// rawExchange sends m as it is (no checks by the client library) over UDP.
func rawExchange(server string, m *dns.Msg) (*dns.Msg, error) {
	buf, err := m.Pack()
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial("udp", server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(queryTimeout))
	if _, err := conn.Write(buf); err != nil {
		return nil, err
	}
	reply := make([]byte, dns.MaxMsgSize)
	n, err := conn.Read(reply)
	if err != nil {
		return nil, err
	}
	r := new(dns.Msg)
	if err := r.Unpack(reply[:n]); err != nil {
		return nil, err
	}
	return r, nil
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grep(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
