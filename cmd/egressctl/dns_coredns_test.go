package main

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/egressgate/egressgate/internal/dnsharness"
	"github.com/egressgate/egressgate/internal/supervisor"
	"github.com/egressgate/egressgate/internal/testenv"
)

// upstreamAddress is what the test's upstream resolver answers every A
// query with.
const upstreamAddress = "192.0.2.1"

// testEnabledCorefileServes runs the real bin/coredns with the Corefile
// enable wrote, changed only where a test machine differs from a CoreDNS
// pod, and queries it with a real DNS client: a hijacked name gets the
// gateway's address, any other name the upstream's answer.
func testEnabledCorefileServes(t *testing.T, d *dnsCluster, corefile string) {
	bin, err := dnsharness.CoreDNSBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := dnsharness.CreateHijacked(ctx, d.env.Client, "api", "api.example.org", "10.96.0.10"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := dnsharness.WriteKubeconfig(d.env.Config, kubeconfig); err != nil {
		t.Fatal(err)
	}
	upstream := startUpstream(t)
	ports := make([]int, 4)
	for i := range ports {
		if ports[i], err = supervisor.FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	credentials := "kubeconfig " + kubeconfig + " " + dnsharness.KubeconfigContext
	// Every change from the Corefile in the ConfigMap, each made exactly once:
	rewrites := []struct{ why, old, new string }{
		{"listen port, on loopback only", ".:53 {\n", fmt.Sprintf(".:%d {\n    bind 127.0.0.1\n", ports[0])},
		{"listen port of health", "    health {\n", fmt.Sprintf("    health 127.0.0.1:%d {\n", ports[1])},
		{"listen port of ready", "    ready\n", fmt.Sprintf("    ready 127.0.0.1:%d\n", ports[2])},
		{"listen port of prometheus", "    prometheus :9153\n", fmt.Sprintf("    prometheus 127.0.0.1:%d\n", ports[3])},
		{"credentials of kubernetes (a pod uses its service account)",
			"    kubernetes cluster.local in-addr.arpa ip6.arpa {\n", "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n       " + credentials + "\n"},
		{"credentials of egressoperator, and its snapshot file in a temporary directory instead of the emptyDir",
			"       snapshot /var/run/egressoperator/table.json\n", "       " + credentials + "\n       snapshot " + filepath.Join(dir, "table.json") + "\n"},
		{"upstream resolver", "    forward . /etc/resolv.conf {", "    forward . " + upstream + " {"},
	}
	for _, r := range rewrites {
		if n := strings.Count(corefile, r.old); n != 1 {
			t.Fatalf("rewrite for %s: %q occurs %d times in the Corefile, want once:\n%s", r.why, r.old, n, corefile)
		}
		corefile = strings.Replace(corefile, r.old, r.new, 1)
	}
	coredns, err := dnsharness.StartCoreDNS(bin, dir, corefile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		coredns.Stop()
		if t.Failed() {
			t.Logf("Corefile:\n%s\ncoredns output:\n%s", corefile, coredns.Output())
		}
	})
	if err := coredns.WaitHTTP(ctx, time.Minute, fmt.Sprintf("http://127.0.0.1:%d/ready", ports[2]), http.StatusOK); err != nil {
		t.Fatal(err)
	}
	server := fmt.Sprintf("127.0.0.1:%d", ports[0])
	for _, q := range []struct{ name, want string }{
		{"api.example.org.", "10.96.0.10"},            // hijacked: the gateway
		{"other.example.org.", upstreamAddress},       // not hijacked: upstream
		{"kubernetes.default.svc.cluster.local.", ""}, // the kubernetes plugin answers
	} {
		testenv.Eventually(t, "answer for "+q.name, 30*time.Second, func() error { return checkA(server, q.name, q.want) })
	}
}

// checkA asks server for name's A records over UDP and wants NOERROR with
// want among them (any address when want is "").
func checkA(server, name, want string) error {
	c := dns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), server)
	if err != nil {
		return err
	}
	if r.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("%s: rcode %s", name, dns.RcodeToString[r.Rcode])
	}
	var got []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			got = append(got, a.A.String())
			if want == "" || a.A.String() == want {
				return nil
			}
		}
	}
	return fmt.Errorf("%s: A records %v, want %q", name, got, want)
}

// startUpstream runs a resolver on 127.0.0.1 that answers every A query with
// upstreamAddress and everything else with NOERROR and no answer, and
// returns its address.
func startUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg).SetReply(q)
		if len(q.Question) == 1 && q.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(upstreamAddress)})
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}
