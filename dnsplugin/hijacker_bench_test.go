package dnsplugin

import (
	"context"
	"fmt"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// The plugin's own cost per query, without sockets: a hijacked answer and a
// pass-through to a next plugin that does nothing. `make bench-dns` measures
// the whole CoreDNS process.
func BenchmarkServeDNS(b *testing.B) {
	var services []*egressv1.ExternalService
	for i := range 1000 {
		services = append(services, externalService(fmt.Sprintf("s-%d", i), fmt.Sprintf("h-%05d.example.org", i),
			epoch, metav1.ConditionTrue, fmt.Sprintf("10.100.%d.%d", i/250, i%250+1)))
	}
	next := test.HandlerFunc(func(context.Context, dns.ResponseWriter, *dns.Msg) (int, error) { return dns.RcodeSuccess, nil })
	e := &Hijacker{Next: next, source: &fakeSource{table: buildTable(services, nil, DefaultZone), synced: true}, ttl: DefaultTTL}
	w := &test.ResponseWriter{}
	for _, c := range []struct{ name, qname string }{
		{"hijacked", "h-00500.example.org."},
		{"pass-through", "p-00500.example.org."},
	} {
		r := new(dns.Msg).SetQuestion(c.qname, dns.TypeA)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.ServeDNS(context.Background(), w, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
