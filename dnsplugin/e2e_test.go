package dnsplugin_test

// End-to-end: the real bin/coredns (with every stock plugin and
// egressoperator) reads ExternalServices from a real kube-apiserver and is
// queried over UDP and TCP by a real DNS client. The Corefile also has
// autopath, cache and upstream zones serving A, AAAA and HTTPS records for
// the test names, so a leak of upstream data would show.
//
// This file sets the cluster up (API server, a proxy the test can cut,
// CoreDNS); e2e_query_test.go sends queries and checks answers;
// e2e_hijack_test.go holds the hijack cases and e2e_outage_test.go the
// cases without an API server.

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/dnsharness"
	"github.com/egressgate/egressgate/internal/supervisor"
	"github.com/egressgate/egressgate/internal/testenv"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// Named timeouts: how long a behaviour may take to show, never asserted as
// a duration.
const (
	startTimeout  = 60 * time.Second // CoreDNS up and the plugin synced
	followTimeout = 30 * time.Second // an API change shows in the answers
	noticeTimeout = 60 * time.Second // CoreDNS notices the API server is gone
	queryTimeout  = 2 * time.Second  // one DNS exchange
)

const gatewayNamespace = egressv1.DefaultGatewayNamespace

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
	proxy   *dnsharness.TCPProxy // between CoreDNS and the API server
	c       client.Client
	dns     string // CoreDNS's address
	ready   string // its ready URL
	metrics string // its metrics URL
	coredns *dnsharness.CoreDNS
}

// startCluster starts etcd and kube-apiserver, then CoreDNS reading them
// through a proxy, and returns once CoreDNS serves.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	bin, err := dnsharness.CoreDNSBinary()
	if err != nil {
		t.Fatal(err)
	}
	cl := startAPIServer(t)
	dir := t.TempDir()
	kubeconfig := cl.proxyKubeconfig(t, dir)
	write(t, filepath.Join(dir, "db.example.org"), zoneFile)
	// The search path of a pod in namespace "team", for autopath.
	write(t, filepath.Join(dir, "resolv.conf"), "search team.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.1\n")
	cl.startCoreDNS(t, bin, dir, kubeconfig)
	return cl
}

// startAPIServer starts etcd and kube-apiserver with our CRDs and the
// namespaces the gateway pods live in, each with its default
// ServiceAccount.
func startAPIServer(t *testing.T) *cluster {
	t.Helper()
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
	return cl
}

// proxyKubeconfig starts the proxy CoreDNS reaches the API server through,
// so the test can cut it, and writes a kubeconfig for it into dir.
func (cl *cluster) proxyKubeconfig(t *testing.T, dir string) string {
	t.Helper()
	apiURL, err := url.Parse(cl.env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	cl.proxy, err = dnsharness.StartTCPProxy(apiURL.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.proxy.Close() })
	viaProxy := rest.CopyConfig(cl.env.Config)
	viaProxy.Host = "https://" + cl.proxy.Addr()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := dnsharness.WriteKubeconfig(viaProxy, kubeconfig); err != nil {
		t.Fatal(err)
	}
	return kubeconfig
}

// startCoreDNS runs bin in dir with the test's Corefile and waits until it
// is ready and answers over UDP and TCP.
func (cl *cluster) startCoreDNS(t *testing.T, bin, dir, kubeconfig string) {
	t.Helper()
	ports := freePorts(t, 3)
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
`, ports[0], ports[1], ports[2], gatewayNamespace, kubeconfig, dnsharness.KubeconfigContext)
	var err error
	cl.coredns, err = dnsharness.StartCoreDNS(bin, dir, corefile)
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

	if err := cl.coredns.WaitHTTP(t.Context(), startTimeout, cl.ready, http.StatusOK); err != nil {
		t.Fatal(err)
	}
	// ready can answer a moment before the DNS listeners are up.
	eventually(t, "CoreDNS serving", startTimeout, func() error {
		return both(func(proto string) error {
			return cl.check(proto, "", "ns.example.org.", dns.TypeA, noError("192.0.2.53"))
		})
	})
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

// freePorts returns n ports free on 127.0.0.1 for TCP and UDP.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		p, err := supervisor.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	return ports
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
