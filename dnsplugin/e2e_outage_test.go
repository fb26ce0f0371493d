package dnsplugin_test

// The outage cases: CoreDNS without an API server, whether it loses it
// while serving or never had it.

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"

	"github.com/egressgate/egressgate/internal/dnsharness"
)

// testAPIServerGone is TestEndToEnd's last subtest: it stops the API
// server for good.
func (cl *cluster) testAPIServerGone(t *testing.T) {
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
		for _, c := range []answerCase{
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
	if code, err := dnsharness.HTTPStatus(cl.ready); err != nil || code != http.StatusOK {
		t.Errorf("ready answered %d, %v; want 200: the plugin stays ready on its last table", code, err)
	}
}

// Without an API server CoreDNS still starts after a bounded wait, serves
// (every name passes through) and reports the plugin not ready.
func TestStartsWithoutAPIServer(t *testing.T) {
	bin, err := dnsharness.CoreDNSBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A kubeconfig whose server refuses connections: a port nobody listens
	// on. The last two ports are CoreDNS's DNS and ready ports.
	ports := freePorts(t, 3)
	closed, port, readyPort := ports[0], ports[1], ports[2]
	write(t, filepath.Join(dir, "kubeconfig"), fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}}]
users: [{name: gone, user: {token: nothing}}]
contexts: [{name: gone, context: {cluster: gone, user: gone}}]
current-context: gone
`, closed))
	write(t, filepath.Join(dir, "db.example.org"), zoneFile)
	coredns, err := dnsharness.StartCoreDNS(bin, dir, fmt.Sprintf(`.:%d {
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
		code, err := dnsharness.HTTPStatus(ready)
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
