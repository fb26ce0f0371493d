package dnsplugin_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egressgate/egressgate/dnsplugin"
	"github.com/egressgate/egressgate/internal/dnsharness"
)

// probeName is looked up until the plugin attributes it to its workload;
// the checks leave it out.
const probeName = "probe.example.org."

// observedQueries are the queries of TestObserve: external names,
// search-path expansions, cluster names, reverse names and hijacked names,
// from labelled and unlabelled pods of every kind, a node and unknown
// sources.
var observedQueries = []struct {
	from, name string
	qtype      uint16
	via2       bool // through the second server block
}{
	{"127.0.0.21", "api.example.org.", dns.TypeA, false},                          // hijacked, labelled
	{"127.0.0.21", "plain.example.org.", dns.TypeA, false},                        // unmanaged
	{"127.0.0.21", "github.com.ec2.internal.", dns.TypeA, false},                  // expansion: NXDOMAIN under a search suffix
	{"127.0.0.21", "web.team.svc.cluster.local.", dns.TypeA, false},               // cluster domain
	{"127.0.0.21", "plain.example.org.team.svc.cluster.local.", dns.TypeA, false}, // in-cluster expansion
	{"127.0.0.21", "21.0.0.127.in-addr.arpa.", dns.TypePTR, false},                // reverse
	{"127.0.0.21", "typo.example.org.", dns.TypeA, false},                         // NXDOMAIN outside the suffixes
	{"127.0.0.22", "api.example.org.", dns.TypeA, false},                          // hijacked, unlabelled: would be refused
	{"127.0.0.22", "API.example.org.", dns.TypeA, false},                          // again, other case
	{"127.0.0.23", "v4.example.org.", dns.TypeA, false},                           // hijacked, labelled
	{"127.0.0.24", "plain.example.org.", dns.TypeAAAA, false},                     // bare pod
	{"127.0.0.25", "plain.example.org.", dns.TypeA, false},                        // hostNetwork: the node
	{"127.0.0.26", "plain.example.org.", dns.TypeA, false},                        // no pod has this IP
	{"127.0.0.27", "plain.example.org.", dns.TypeTXT, true},                       // second block, same recorder
	{"127.0.0.30", "api.example.org.", dns.TypeA, false},                          // a gateway pod: not recorded
}

const wantObserved = `- Node/127.0.0.25 plain.example.org. A NOERROR es= allowed= count=1
- Unknown/127.0.0.26 plain.example.org. A NOERROR es= allowed= count=1
- Unknown/127.0.0.27 plain.example.org. TXT NOERROR es= allowed= count=1
data StatefulSet/db api.example.org. A NOERROR es=api allowed= count=2
team CronJob/nightly v4.example.org. A NOERROR es=v4 allowed=v4 count=1
team Deployment/web api.example.org. A NOERROR es=api allowed=api count=1
team Deployment/web plain.example.org. A NOERROR es= allowed=api count=1
team Deployment/web typo.example.org. A NXDOMAIN es= allowed=api count=1
team Pod/debug plain.example.org. AAAA NOERROR es= allowed= count=1`

func TestObserve(t *testing.T) {
	r := newObserveRig(t)
	// The workload informers list once CoreDNS starts; until then a
	// source is Unknown.
	eventually(t, "the web pod attributed to its Deployment", followTimeout, func() error {
		if _, err := r.query("udp", "127.0.0.21", probeName, dns.TypeA, false); err != nil {
			return err
		}
		rep, err := r.report()
		if err != nil {
			return err
		}
		if !strings.Contains(summary(rep), "team Deployment/web "+probeName) {
			return fmt.Errorf("not yet:\n%s", summary(rep))
		}
		return nil
	})
	for _, q := range observedQueries {
		c := r.cluster
		if q.via2 {
			c = &cluster{dns: r.dns2}
		}
		if _, err := c.query("udp", q.from, q.name, q.qtype, false); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("the endpoint lists what each workload looked up", r.testReport)
	t.Run("metrics by ExternalService and namespace, never a name", r.testMetrics)
	t.Run("one Event per ExternalService and workload", r.testEvents)
	t.Run("unauthenticated and unauthorised callers", r.testAuth)
	t.Run("through the API server's pod proxy, the token in X-Egressgate-Authorization", r.testPodProxy)
	t.Run("bad input", r.testBadInput)
	t.Run("reload keeps the listener and the entries", r.testReload)
	t.Run("API server gone: recording and the endpoint go on", r.testAPIServerGone)
}

// withoutProbe is the summary without the probe's entries and the set-up's
// lookups from 127.0.0.1.
func withoutProbe(rep dnsplugin.Report) string {
	var keep []string
	for _, l := range strings.Split(summary(rep), "\n") {
		if !strings.Contains(l, probeName) && !strings.Contains(l, "Unknown/127.0.0.1 ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func (r *observeRig) testReport(t *testing.T) {
	rep, err := r.report()
	if err != nil {
		t.Fatal(err)
	}
	if got := withoutProbe(rep); got != wantObserved {
		t.Errorf("observed:\n%s\nwant:\n%s", got, wantObserved)
	}
	if rep.MaxEntries != 1000 || rep.Evictions != 0 {
		t.Errorf("maxEntries %d, evictions %d; want 1000 and 0", rep.MaxEntries, rep.Evictions)
	}
	for _, e := range rep.Entries {
		if e.FirstSeen.IsZero() || e.LastSeen.Before(e.FirstSeen) {
			t.Errorf("entry %+v: first seen %s, last seen %s", e, e.FirstSeen, e.LastSeen)
		}
	}
}

func (r *observeRig) testMetrics(t *testing.T) {
	rep, err := r.report()
	if err != nil {
		t.Fatal(err)
	}
	text := scrape(t, r.metrics)
	for _, want := range []string{
		`coredns_egressoperator_observed_lookups_total{external_service="api",namespace="data"} 2`,
		`coredns_egressoperator_observed_lookups_total{external_service="api",namespace="team"} 1`,
		`coredns_egressoperator_observed_lookups_total{external_service="v4",namespace="team"} 1`,
		`coredns_egressoperator_observed_lookups_total{external_service="",namespace="team"}`,
		`coredns_egressoperator_would_be_refused_total{external_service="api",namespace="data"} 2`,
		`coredns_egressoperator_gateway_answers_total{server="dns://127.0.0.1:`,
		fmt.Sprintf("coredns_egressoperator_observed_entries %d\n", len(rep.Entries)),
		"coredns_egressoperator_observed_evictions_total 0",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, grep(text, "coredns_egressoperator_"))
		}
	}
	for _, never := range []string{"plain.example.org", "typo", `namespace="egress-operator-system"`, `would_be_refused_total{external_service="api",namespace="team"}`, `would_be_refused_total{external_service="v4"`} {
		if strings.Contains(text, never) {
			t.Errorf("metrics contain %q:\n%s", never, grep(text, "coredns_egressoperator_"))
		}
	}
}

func (r *observeRig) testEvents(t *testing.T) {
	eventually(t, "the WouldBeRefused Event", followTimeout, func() error {
		var events corev1.EventList
		if err := r.c.List(t.Context(), &events, client.InNamespace("default")); err != nil {
			return err
		}
		var got []corev1.Event
		for _, e := range events.Items {
			if e.Reason == dnsplugin.EventReasonWouldBeRefused {
				got = append(got, e)
			}
		}
		if len(got) != 1 {
			return fmt.Errorf("%d WouldBeRefused Events, want 1: %+v", len(got), got)
		}
		e := got[0]
		io := e.InvolvedObject
		if io.Kind != "ExternalService" || io.Name != "api" || io.APIVersion != "egress.monzo.com/v1" || io.UID == "" || io.Namespace != "" {
			return fmt.Errorf("Event is about %+v, want ExternalService api with its UID", io)
		}
		want := "StatefulSet data/db looked up api.example.org. without the label egress.monzo.com/allowed-api=true"
		if e.Count != 1 || e.Type != corev1.EventTypeWarning || !strings.Contains(e.Message, want) {
			return fmt.Errorf("Event count %d, type %s, message %q; want 1, Warning, containing %q", e.Count, e.Type, e.Message, want)
		}
		return nil
	})
	if !r.coredns.Contains("StatefulSet data/db looked up api.example.org.") {
		t.Error("CoreDNS did not log the would-be-refused lookup")
	}
}

func (r *observeRig) testAuth(t *testing.T) {
	for _, c := range []struct {
		what, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"a token the API server never issued", "not-a-token", http.StatusUnauthorized},
		{"a ServiceAccount without the reader role", r.nobody, http.StatusForbidden},
		{"a reader", r.reader, http.StatusOK},
	} {
		code, body, err := r.get(c.token)
		if err != nil {
			t.Fatal(err)
		}
		if code != c.want {
			t.Errorf("%s: got %d (%s), want %d", c.what, code, body, c.want)
		}
		if c.want != http.StatusOK && strings.Contains(string(body), "example.org") {
			t.Errorf("%s: the refusal carries the record: %s", c.what, body)
		}
	}
}

// testPodProxy reads the endpoint through the API server's pod proxy, as a
// reader who may also use the proxy. The API server authenticates the
// reader by its Authorization header and connects to the pod without it:
// the plugin answers 401, unless the token also comes in
// X-Egressgate-Authorization, which the API server passes on and the
// plugin reviews like Authorization. (The pod's IP is this machine's
// address, since the API server refuses to proxy to loopback.)
func (r *observeRig) testPodProxy(t *testing.T) {
	ctx := t.Context()
	hostIP, err := dnsharness.HostAddress()
	if err != nil {
		t.Skip(err)
	}
	_, port, _ := strings.Cut(strings.TrimPrefix(strings.TrimSuffix(r.endpoint, dnsplugin.ObservePath), "https://"), ":")
	if _, err := dnsharness.CreateWorkload(ctx, r.c, dnsharness.Workload{Kind: "Pod", Namespace: "kube-system", Name: "coredns-observe", IP: hostIP}); err != nil {
		t.Fatal(err)
	}
	for _, o := range []client.Object{
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "proxy", Namespace: "kube-system"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/proxy"}, Verbs: []string{"get"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "proxy", Namespace: "kube-system"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "proxy"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "observer", Namespace: "team"}}},
	} {
		if err := r.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	hc, err := rest.HTTPClientFor(&rest.Config{Host: r.env.Config.Host, BearerToken: r.reader, TLSClientConfig: rest.TLSClientConfig{CAData: r.env.Config.CAData}})
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("%s/api/v1/namespaces/kube-system/pods/https:coredns-observe:%s/proxy%s", strings.TrimSuffix(r.env.Config.Host, "/"), port, dnsplugin.ObservePath)
	for _, c := range []struct {
		what, header string // header: X-Egressgate-Authorization's token
		want         int
		body         string
	}{
		{"no token for the pod", "", http.StatusUnauthorized, "send a bearer token"},
		{"a token without the reader role", r.nobody, http.StatusForbidden, "may not get"},
		{"the reader's token", r.reader, http.StatusOK, `"entries"`},
	} {
		eventually(t, "through the pod proxy, "+c.what, followTimeout, func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			if c.header != "" {
				req.Header.Set(dnsplugin.ProxiedAuthorizationHeader, "Bearer "+c.header)
			}
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.want || !strings.Contains(string(body), c.body) {
				return fmt.Errorf("%d %s; want %d with %q", resp.StatusCode, body, c.want, c.body)
			}
			return nil
		})
	}
}

// testBadInput sends an oversized name and one with bytes that are not
// UTF-8 from an unknown source: both are recorded, nothing crashes, and
// the endpoint still serves JSON.
func (r *observeRig) testBadInput(t *testing.T) {
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61) + "."
	for _, name := range []string{long, `\255\254\000x.example.org.`} {
		if _, err := r.query("udp", "127.0.0.28", name, dns.TypeA, true); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := r.report()
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, e := range rep.Entries {
		if e.Workload == "127.0.0.28" {
			found++
		}
	}
	if found != 2 {
		t.Errorf("%d entries from 127.0.0.28, want 2:\n%s", found, summary(rep))
	}
	if err := r.check("udp", "", "ns.example.org.", dns.TypeA, noError("192.0.2.53")); err != nil {
		t.Error(err)
	}
}

// testReload lowers max_entries in the Corefile; CoreDNS's reload plugin
// starts the new blocks, then stops the old ones. The endpoint stays up on
// the same address, keeps the most recent entries and applies the new cap.
func (r *observeRig) testReload(t *testing.T) {
	r.writeCorefile(t, strings.Replace(r.corefile, "max_entries 1000", "max_entries 5", 2))
	eventually(t, "the new cap", followTimeout, func() error {
		rep, err := r.report()
		if err != nil {
			return err
		}
		if rep.MaxEntries != 5 || len(rep.Entries) != 5 {
			return fmt.Errorf("maxEntries %d with %d entries, want 5 and 5", rep.MaxEntries, len(rep.Entries))
		}
		if !r.coredns.Contains("Reloading complete") {
			return fmt.Errorf("CoreDNS has not finished reloading")
		}
		return nil
	})
	if r.coredns.Contains("address already in use", "[ERROR]") || strings.Count(r.coredns.Output(), "observe: serving") != 1 {
		t.Errorf("reload did not complete cleanly:\n%s", r.coredns.Output())
	}
	// Still recording, and the second block still shares the recorder.
	if _, err := (&cluster{dns: r.dns2}).query("udp", "127.0.0.29", "plain.example.org.", dns.TypeA, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a lookup after the reload", followTimeout, func() error {
		rep, err := r.report()
		if err != nil {
			return err
		}
		if !strings.Contains(summary(rep), "Unknown/127.0.0.29 plain.example.org.") {
			return fmt.Errorf("not recorded:\n%s", summary(rep))
		}
		return nil
	})
}

func (r *observeRig) testAPIServerGone(t *testing.T) {
	if err := r.stopAPIServer(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.query("udp", "127.0.0.24", "gone.example.org.", dns.TypeA, false); err != nil {
		t.Fatal(err)
	}
	rep, err := r.report() // the reader's recent allow still holds
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(summary(rep), "team Pod/debug gone.example.org. A NXDOMAIN") {
		t.Errorf("a lookup after the API server went away was not attributed from the last pod list:\n%s", summary(rep))
	}
	code, _, err := r.get(r.nobody + "x")
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable {
		t.Errorf("an unreviewed token while the API server is gone: %d, want 503", code)
	}
}
