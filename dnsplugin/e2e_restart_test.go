package dnsplugin_test

// CoreDNS (re)starting while the API server is unreachable: without a
// snapshot it passes names through and is not ready until it can list; with
// the snapshot its last run left, it answers hijacked names at once and is
// ready.

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/egressgate/egressgate/internal/dnsharness"
)

// restartRig is one API server behind a proxy the test cuts and restores,
// and a CoreDNS whose Corefile keeps a snapshot in its directory.
type restartRig struct {
	*cluster
	bin, dir, corefile string
	snapshot           string
}

func newRestartRig(t *testing.T) *restartRig {
	t.Helper()
	bin, err := dnsharness.CoreDNSBinary()
	if err != nil {
		t.Fatal(err)
	}
	r := &restartRig{cluster: startAPIServer(t), bin: bin, dir: t.TempDir()}
	kubeconfig := r.proxyKubeconfig(t, r.dir)
	write(t, filepath.Join(r.dir, "db.example.org"), zoneFile)
	r.snapshot = filepath.Join(r.dir, "egressoperator.snapshot")
	ports := freePorts(t, 2)
	r.dns = fmt.Sprintf("127.0.0.1:%d", ports[0])
	r.ready = fmt.Sprintf("http://127.0.0.1:%d/ready", ports[1])
	r.corefile = fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    ready 127.0.0.1:%d
    egressoperator %s cluster.local {
        kubeconfig %s %s
        snapshot %s
    }
    file db.example.org example.org
}
`, ports[0], ports[1], gatewayNamespace, kubeconfig, dnsharness.KubeconfigContext, r.snapshot)
	return r
}

// start runs CoreDNS and waits until it answers an unmanaged name. It is
// stopped when owner (the whole test, not a subtest) ends.
func (r *restartRig) start(t, owner *testing.T) {
	t.Helper()
	var err error
	r.coredns, err = dnsharness.StartCoreDNS(r.bin, r.dir, r.corefile)
	if err != nil {
		t.Fatal(err)
	}
	c := r.coredns
	owner.Cleanup(func() {
		c.Stop()
		if owner.Failed() {
			t.Logf("coredns output:\n%s", c.Output())
		}
	})
	eventually(t, "CoreDNS serving", startTimeout, func() error {
		return both(func(proto string) error {
			return r.check(proto, "", "ns.example.org.", dns.TypeA, noError("192.0.2.53"))
		})
	})
}

// answers checks api.example.org's A answer and the ready endpoint, once.
func (r *restartRig) answers(want expect, readyCode int) error {
	if err := both(func(proto string) error { return r.check(proto, "", "api.example.org.", dns.TypeA, want) }); err != nil {
		return err
	}
	code, err := dnsharness.HTTPStatus(r.ready)
	if err != nil {
		return err
	}
	if code != readyCode {
		return fmt.Errorf("ready answered %d, want %d", code, readyCode)
	}
	return nil
}

func TestRestartDuringAPIServerOutage(t *testing.T) {
	outer := t
	r := newRestartRig(t)
	if err := dnsharness.CreateHijacked(t.Context(), r.c, "api", "api.example.org", "10.96.0.12"); err != nil {
		t.Fatal(err)
	}

	t.Run("first start without API server or snapshot: pass through, not ready", func(t *testing.T) {
		r.proxy.Cut()
		r.start(t, outer)
		eventually(t, "the real answer and not ready", startTimeout, func() error {
			return r.answers(noError("192.0.2.1"), http.StatusServiceUnavailable)
		})
	})
	t.Run("API server back: hijacked, ready, snapshot written", func(t *testing.T) {
		r.proxy.Restore()
		eventually(t, "the gateway address and ready", noticeTimeout, func() error {
			if err := r.answers(noError("10.96.0.12"), http.StatusOK); err != nil {
				return err
			}
			_, err := os.Stat(r.snapshot)
			return err
		})
	})
	t.Run("restart during an outage with the snapshot: hijacked at once, ready", func(t *testing.T) {
		r.proxy.Cut()
		r.coredns.Stop()
		r.start(t, outer)
		// The first answer after start already comes from the snapshot.
		if err := r.answers(noError("10.96.0.12"), http.StatusOK); err != nil {
			t.Fatal(err)
		}
		if !r.coredns.Contains("loaded the snapshot") {
			t.Errorf("CoreDNS did not log that it loaded the snapshot")
		}
	})
	t.Run("API server back: the live table replaces the snapshot", func(t *testing.T) {
		if err := dnsharness.SetStatus(t.Context(), r.c, "api", metav1.ConditionTrue, "10.96.0.13"); err != nil {
			t.Fatal(err)
		}
		r.proxy.Restore()
		eventually(t, "the new gateway address", noticeTimeout, func() error {
			return r.answers(noError("10.96.0.13"), http.StatusOK)
		})
	})
}
