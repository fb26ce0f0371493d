package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egressgate/egressgate/internal/dnsharness"
	"github.com/egressgate/egressgate/internal/supervisor"
	"github.com/egressgate/egressgate/internal/testenv"
)

// TestObserveGolden runs `egressctl observe` against the real CoreDNS with
// observe on, after workloads of several kinds (their pod IPs bound to
// loopback) looked up hijacked, covered and uncovered names. The table and
// the --suggest output are golden files; regenerate them with
// go test ./cmd/egressctl -run TestObserveGolden -update
func TestObserveGolden(t *testing.T) {
	rig := startObserveRig(t)
	o := observeOptions{endpoints: []string{rig.endpoint}, tokenFile: rig.tokenFile, insecure: true, output: "table", ports: "443/TLS"}
	var out, stderr bytes.Buffer
	if err := runObserve(t.Context(), rig.env.Config, &out, &stderr, o); err != nil {
		t.Fatalf("egressctl observe: %v\n%s", err, stderr.String())
	}
	checkGolden(t, filepath.Join("testdata", "observe", "table.txt"), out.String(), "go test ./cmd/egressctl -run TestObserveGolden -update")

	out.Reset()
	o.suggest, o.ports = true, "443/TLS,80/TCP"
	if err := runObserve(t.Context(), rig.env.Config, &out, &stderr, o); err != nil {
		t.Fatalf("egressctl observe --suggest: %v\n%s", err, stderr.String())
	}
	checkGolden(t, filepath.Join("testdata", "observe", "suggest.yaml"), out.String(), "go test ./cmd/egressctl -run TestObserveGolden -update")

	// -o yaml carries the times; it parses and names every workload.
	out.Reset()
	o.suggest, o.output = false, "yaml"
	if err := runObserve(t.Context(), rig.env.Config, &out, &stderr, o); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: CronJob", "firstSeen:", "labelled: false", "externalService: api"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-o yaml lacks %q:\n%s", want, out.String())
		}
	}

	t.Run("endpoints that cannot be read say why", func(t *testing.T) { testObserveErrors(t, rig) })
	t.Run("every DNS pod through the API server's pod proxy", func(t *testing.T) { testObservePodProxy(t, rig) })
}

// testObservePodProxy reads the endpoint as egressctl does by default:
// it finds the DNS pods and goes through the API server's pod proxy. The
// DNS pod's IP is this machine's own address (the API server refuses to
// proxy to loopback), on which CoreDNS's observe listener also listens.
func testObservePodProxy(t *testing.T, rig *observeRig) {
	ip, err := dnsharness.HostAddress()
	if err != nil {
		t.Skip(err)
	}
	ctx := t.Context()
	if _, err := dnsharness.CreateWorkload(ctx, rig.env.Client, dnsharness.Workload{Kind: "Pod", Namespace: "kube-system", Name: "coredns-a",
		IP: ip, Labels: map[string]string{"k8s-app": "kube-dns"}}); err != nil {
		t.Fatal(err)
	}
	direct := observeOptions{endpoints: []string{rig.endpoint}, tokenFile: rig.tokenFile, insecure: true, output: "table", ports: "443/TLS"}
	proxied := observeOptions{dnsNamespace: "kube-system", dnsSelector: "k8s-app=kube-dns", observePort: rig.observePort, tokenFile: rig.tokenFile, output: "table", ports: "443/TLS"}
	var want, got, stderr bytes.Buffer
	if err := runObserve(ctx, rig.env.Config, &want, &stderr, direct); err != nil {
		t.Fatal(err)
	}
	if err := runObserve(ctx, rig.env.Config, &got, &stderr, proxied); err != nil {
		t.Fatalf("through the pod proxy: %v\n%s", err, stderr.String())
	}
	if got.String() != want.String() {
		t.Errorf("through the pod proxy:\n%s\nread directly:\n%s", got.String(), want.String())
	}

	free, err := supervisor.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// The reader's own kubeconfig: it may read the endpoint, not proxy.
	readerCfg := &rest.Config{Host: rig.env.Config.Host, TLSClientConfig: rest.TLSClientConfig{CAData: rig.env.Config.CAData}, BearerToken: readFile(t, rig.tokenFile)}
	for _, c := range []struct {
		what string
		cfg  *rest.Config
		edit func(*observeOptions)
		want string
	}{
		{"a user who may not list the DNS pods", readerCfg, func(*observeOptions) {}, "needs list on pods and get on pods/proxy there"},
		{"a user who may list them but not proxy", readerCfg, func(*observeOptions) { mayListPods(t, rig.env.Client, readerCfg, "team", "observer") }, "the API server refused the pod proxy (403)"},
		{"nothing on the port", rig.env.Config, func(o *observeOptions) { o.observePort = free }, "the API server could not reach the pod's port"},
		{"no DNS pod", rig.env.Config, func(o *observeOptions) { o.dnsSelector = "k8s-app=coredns" }, "no running pod in kube-system matches k8s-app=coredns"},
	} {
		o := proxied
		c.edit(&o)
		var out, stderr bytes.Buffer
		err := runObserve(ctx, c.cfg, &out, &stderr, o)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), c.want) {
			t.Errorf("%s: error %v, stderr %q; want an error or warning containing %q", c.what, err, stderr.String(), c.want)
		}
	}
}

// mayListPods lets the ServiceAccount ns/name, whose credentials cfg holds,
// list pods in kube-system.
func mayListPods(t *testing.T, c client.Client, cfg *rest.Config, ns, name string) {
	t.Helper()
	for _, o := range []client.Object{
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "list-pods", Namespace: "kube-system"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name + "-lists-pods", Namespace: "kube-system"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "list-pods"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}}},
	} {
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// RBAC reaches the authorizer through the API server's informers.
	testenv.Eventually(t, "the Role applies", 30*time.Second, func() error {
		_, err := cs.CoreV1().Pods("kube-system").List(t.Context(), metav1.ListOptions{})
		return err
	})
}

func testObserveErrors(t *testing.T, rig *observeRig) {
	free, err := supervisor.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what, endpoint, want string
	}{
		{"CoreDNS's metrics port: no observe endpoint there", rig.metricsURL, "answered 404: this is not the observe endpoint; turn observe on"},
		{"nothing listening", fmt.Sprintf("https://127.0.0.1:%d", free), "nothing listens at"},
	} {
		o := observeOptions{endpoints: []string{c.endpoint}, tokenFile: rig.tokenFile, insecure: true, output: "table", ports: "443/TLS"}
		var out, stderr bytes.Buffer
		err := runObserve(t.Context(), rig.env.Config, &out, &stderr, o)
		if err == nil || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%s: error %v, stderr %q; want an error and a warning containing %q", c.what, err, stderr.String(), c.want)
		}
	}
	// One unreachable pod among several: a warning, and the others' report.
	o := observeOptions{endpoints: []string{fmt.Sprintf("https://127.0.0.1:%d", free), rig.endpoint}, tokenFile: rig.tokenFile, insecure: true, output: "table", ports: "443/TLS"}
	var out, stderr bytes.Buffer
	if err := runObserve(t.Context(), rig.env.Config, &out, &stderr, o); err != nil || !strings.Contains(out.String(), "team/Deployment/web") || !strings.Contains(stderr.String(), "warning: nothing listens") {
		t.Errorf("one pod unreachable: error %v, stdout %q, stderr %q", err, out.String(), stderr.String())
	}
}

type observeRig struct {
	env                             *testenv.Env
	endpoint, metricsURL, tokenFile string
	observePort                     int
}

// startObserveRig starts an API server with workloads and ExternalServices,
// CoreDNS with observe on, sends the lookups and waits until they show.
func startObserveRig(t *testing.T) *observeRig {
	t.Helper()
	bin, err := dnsharness.CoreDNSBinary()
	if err != nil {
		t.Fatal(err)
	}
	env := testenv.StartOurs(t)
	ctx := t.Context()
	for _, ns := range []string{"team", "data"} {
		if err := env.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []dnsharness.Workload{
		{Kind: "Deployment", Namespace: "team", Name: "web", IP: "127.0.0.41", Labels: map[string]string{"egress.monzo.com/allowed-api": "true"}},
		{Kind: "StatefulSet", Namespace: "data", Name: "db", IP: "127.0.0.42"},
		{Kind: "CronJob", Namespace: "team", Name: "nightly", IP: "127.0.0.43"},
		{Kind: "Pod", Namespace: "team", Name: "debug", IP: "127.0.0.44"},
	} {
		if _, err := dnsharness.CreateWorkload(ctx, env.Client, w); err != nil {
			t.Fatal(err)
		}
	}
	// api is hijacked; v4 exists but is not programmed yet (covered, not hijacked).
	if err := dnsharness.CreateHijacked(ctx, env.Client, "api", "api.example.org", "10.96.0.10"); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, dnsharness.NewExternalService("v4", "v4.example.org")); err != nil {
		t.Fatal(err)
	}
	rig := &observeRig{env: env, tokenFile: filepath.Join(t.TempDir(), "token")}
	if err := os.WriteFile(rig.tokenFile, []byte(readerToken(t, env)), 0o600); err != nil {
		t.Fatal(err)
	}
	dnsAddr := rig.startCoreDNS(t, bin)
	lookups := []struct {
		from, name string
		qtype      uint16
	}{
		{"127.0.0.41", "api.example.org.", dns.TypeA},
		{"127.0.0.41", "plain.example.org.", dns.TypeA},
		{"127.0.0.41", "plain.example.org.", dns.TypeAAAA},
		{"127.0.0.41", "github.com.ec2.internal.", dns.TypeA},
		{"127.0.0.42", "api.example.org.", dns.TypeA},
		{"127.0.0.42", "v4.example.org.", dns.TypeA},
		{"127.0.0.43", "plain.example.org.", dns.TypeA},
		{"127.0.0.43", "typo.example.org.", dns.TypeA},
		{"127.0.0.44", "v4.example.org.", dns.TypeAAAA},
	}
	// Wait until the plugin has listed the pods, then send every lookup once.
	sources, err := observeSources(ctx, rig.env.Config, observeOptions{endpoints: []string{rig.endpoint}, insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the pods listed", 60*time.Second, func() error {
		rep, err := sources[0].fetch(ctx, readFile(t, rig.tokenFile))
		if err != nil {
			return err
		}
		if !rep.WorkloadsSynced {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	for _, l := range lookups {
		if err := lookup(dnsAddr, l.from, l.name, l.qtype); err != nil {
			t.Fatal(err)
		}
	}
	return rig
}

func (rig *observeRig) startCoreDNS(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := dnsharness.WriteKubeconfig(rig.env.Config, kubeconfig); err != nil {
		t.Fatal(err)
	}
	zone := "$ORIGIN example.org.\n@ 3600 IN SOA ns.example.org. hostmaster.example.org. 1 7200 3600 1209600 300\n" +
		"api 300 IN A 192.0.2.1\nplain 300 IN A 192.0.2.2\nplain 300 IN AAAA 2001:db8::2\nv4 300 IN A 192.0.2.4\nprobe 300 IN A 192.0.2.9\n"
	if err := os.WriteFile(filepath.Join(dir, "db.example.org"), []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	var ports [4]int
	for i := range ports {
		p, err := supervisor.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	corefile := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    ready 127.0.0.1:%d
    prometheus 127.0.0.1:%d
    egressoperator egress-operator-system cluster.local {
        kubeconfig %s %s
        observe {
            listen 0.0.0.0:%d
            search_suffixes ec2.internal
        }
    }
    template ANY ANY ec2.internal {
        rcode NXDOMAIN
    }
    file db.example.org example.org
}
`, ports[0], ports[1], ports[2], kubeconfig, dnsharness.KubeconfigContext, ports[3])
	c, err := dnsharness.StartCoreDNS(bin, dir, corefile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			t.Logf("coredns output:\n%s", c.Output())
		}
	})
	if err := c.WaitHTTP(t.Context(), 60*time.Second, fmt.Sprintf("http://127.0.0.1:%d/ready", ports[1]), http.StatusOK); err != nil {
		t.Fatal(err)
	}
	rig.endpoint = fmt.Sprintf("https://127.0.0.1:%d", ports[3])
	rig.observePort = ports[3]
	rig.metricsURL = fmt.Sprintf("http://127.0.0.1:%d", ports[2])
	return fmt.Sprintf("127.0.0.1:%d", ports[0])
}

// readerToken is a token of a ServiceAccount allowed to read the endpoint.
func readerToken(t *testing.T, env *testenv.Env) string {
	t.Helper()
	token, err := dnsharness.ServiceAccountToken(t.Context(), env.Config, env.Client, "team", "observer", observePath)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lookup sends one query from the source address from.
func lookup(server, from, name string, qtype uint16) error {
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(from)}}}
	_, _, err := c.ExchangeContext(context.Background(), new(dns.Msg).SetQuestion(name, qtype), server)
	return err
}

// Several CoreDNS pods: counts add up, times widen, the last answer wins.
func TestMergeReports(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	e := func(count uint64, first, last int, rcode string) observeEntry {
		return observeEntry{Namespace: "team", Kind: "Deployment", Workload: "web", Name: "a.example.org.", Type: "A",
			Rcode: rcode, Count: count, FirstSeen: t0.Add(time.Duration(first) * time.Minute), LastSeen: t0.Add(time.Duration(last) * time.Minute)}
	}
	got := mergeReports([]observeReport{{Entries: []observeEntry{e(2, 5, 10, "NOERROR")}}, {Entries: []observeEntry{e(3, 1, 20, "SERVFAIL")}}})
	want := e(5, 1, 20, "SERVFAIL")
	if len(got) != 1 || got[0].Count != want.Count || !got[0].FirstSeen.Equal(want.FirstSeen) || !got[0].LastSeen.Equal(want.LastSeen) || got[0].Rcode != want.Rcode {
		t.Errorf("merged %+v, want %+v", got, want)
	}
}
