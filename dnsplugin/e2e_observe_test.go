package dnsplugin_test

// Observe mode end to end: the real bin/coredns with observe on, the real
// API server holding ExternalServices and workloads of every kind (their
// pods' IPs bound to loopback, so queries come from them), and the
// endpoint read with real ServiceAccount tokens that the API server
// reviews.

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/dnsplugin"
	"github.com/egressgate/egressgate/internal/dnsharness"
)

// observeRig is an API server, CoreDNS with observe on (two server blocks
// sharing one observe listener) and the tokens of a reader and of a
// ServiceAccount that may not read.
type observeRig struct {
	*cluster
	dir, bin, corefile string
	dns2               string // the second server block
	endpoint           string // https://.../egressgate/observe
	reader, nobody     string // bearer tokens
}

// observeWorkloads are the pods the queries come from: one per kind, with
// and without client labels, a hostNetwork pod (its IP is its node's).
var observeWorkloads = []dnsharness.Workload{
	{Kind: "Deployment", Namespace: "team", Name: "web", IP: "127.0.0.21", Labels: map[string]string{"egress.monzo.com/allowed-api": "true"}},
	{Kind: "StatefulSet", Namespace: "data", Name: "db", IP: "127.0.0.22"},
	{Kind: "CronJob", Namespace: "team", Name: "nightly", IP: "127.0.0.23", Labels: map[string]string{"egress.monzo.com/allowed-v4": "true"}},
	{Kind: "Pod", Namespace: "team", Name: "debug", IP: "127.0.0.24"},
	{Kind: "DaemonSet", Namespace: "kube-system", Name: "node-exporter", IP: "127.0.0.25", HostNetwork: true},
	// A gateway pod: its lookups are egressgate's own and not recorded.
	{Kind: "Deployment", Namespace: gatewayNamespace, Name: "api-gw", IP: "127.0.0.30", Labels: map[string]string{egressv1.LabelGatewayName: "api"}},
}

const corefileObserve = `.:%[1]d {
    bind 127.0.0.1
    ready 127.0.0.1:%[2]d
    prometheus 127.0.0.1:%[3]d
    reload 2s 1s
    egressoperator %[5]s cluster.local {
        kubeconfig %[6]s %[7]s
        observe {
            listen 0.0.0.0:%[4]d
            max_entries %[8]d
            search_suffixes ec2.internal
        }
    }
    template ANY ANY cluster.local in-addr.arpa ec2.internal {
        rcode NXDOMAIN
    }
    file db.example.org example.org
}
.:%[9]d {
    bind 127.0.0.1
    egressoperator %[5]s cluster.local {
        kubeconfig %[6]s %[7]s
        observe {
            listen 0.0.0.0:%[4]d
            max_entries %[8]d
        }
    }
    file db.example.org example.org
}
`

func newObserveRig(t *testing.T) *observeRig {
	t.Helper()
	bin, err := dnsharness.CoreDNSBinary()
	if err != nil {
		t.Fatal(err)
	}
	r := &observeRig{cluster: startAPIServer(t), bin: bin, dir: t.TempDir()}
	ctx := t.Context()
	for _, ns := range []string{"team", "data"} { // kube-system exists
		if err := r.env.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range observeWorkloads {
		if _, err := dnsharness.CreateWorkload(ctx, r.c, w); err != nil {
			t.Fatal(err)
		}
	}
	for _, es := range []struct{ name, dnsName, addr string }{{"api", "api.example.org", "10.96.0.10"}, {"v4", "v4.example.org", "10.96.0.40"}} {
		if err := dnsharness.CreateHijacked(ctx, r.c, es.name, es.dnsName, es.addr); err != nil {
			t.Fatal(err)
		}
	}
	r.reader = r.serviceAccountToken(t, "observer", true)
	r.nobody = r.serviceAccountToken(t, "nobody", false)

	kubeconfig := r.proxyKubeconfig(t, r.dir)
	write(t, filepath.Join(r.dir, "db.example.org"), zoneFile)
	ports := freePorts(t, 5)
	r.dns = fmt.Sprintf("127.0.0.1:%d", ports[0])
	r.ready = fmt.Sprintf("http://127.0.0.1:%d/ready", ports[1])
	r.metrics = fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2])
	r.endpoint = fmt.Sprintf("https://127.0.0.1:%d%s", ports[3], dnsplugin.ObservePath)
	r.dns2 = fmt.Sprintf("127.0.0.1:%d", ports[4])
	r.corefile = fmt.Sprintf(corefileObserve, ports[0], ports[1], ports[2], ports[3], gatewayNamespace, kubeconfig, dnsharness.KubeconfigContext, 1000, ports[4])
	r.coredns, err = dnsharness.StartCoreDNS(bin, r.dir, r.corefile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.coredns.Stop()
		if t.Failed() || testing.Verbose() {
			t.Logf("coredns output:\n%s", r.coredns.Output())
		}
	})
	if err := r.coredns.WaitHTTP(ctx, startTimeout, r.ready, http.StatusOK); err != nil {
		t.Fatal(err)
	}
	eventually(t, "api.example.org hijacked", followTimeout, func() error {
		return r.check("udp", "", "api.example.org.", dns.TypeA, noError("10.96.0.10"))
	})
	return r
}

// serviceAccountToken creates a ServiceAccount in team (allowed to read the
// observe endpoint when reader) and returns a token the API server issued
// for it.
func (r *observeRig) serviceAccountToken(t *testing.T, name string, reader bool) string {
	t.Helper()
	path := ""
	if reader {
		path = dnsplugin.ObservePath
	}
	token, err := dnsharness.ServiceAccountToken(t.Context(), r.env.Config, r.c, "team", name, path)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// get reads the endpoint with token ("" sends none) and returns the status
// code and body.
func (r *observeRig) get(token string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, r.endpoint, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the plugin's self-signed certificate
	}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// report reads the endpoint as the reader.
func (r *observeRig) report() (dnsplugin.Report, error) {
	code, body, err := r.get(r.reader)
	if err != nil {
		return dnsplugin.Report{}, err
	}
	if code != http.StatusOK {
		return dnsplugin.Report{}, fmt.Errorf("observe endpoint answered %d: %s", code, body)
	}
	var rep dnsplugin.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		return rep, fmt.Errorf("decode the report: %w\n%s", err, body)
	}
	return rep, nil
}

// summary is the report without times, one line per entry.
func summary(rep dnsplugin.Report) string {
	var lines []string
	for _, e := range rep.Entries {
		lines = append(lines, fmt.Sprintf("%s %s/%s %s %s %s es=%s allowed=%s count=%d",
			orDash(e.Namespace), e.Kind, e.Workload, e.Name, e.Type, e.Rcode, e.ExternalService, strings.Join(e.AllowedFor, ","), e.Count))
	}
	return strings.Join(lines, "\n")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeCorefile replaces the Corefile CoreDNS reloads.
func (r *observeRig) writeCorefile(t *testing.T, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, "Corefile"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
