package tests

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/egressgate/egressgate/conformance/suite"
)

// upstreamA is what the DNS server answers for name before any
// ExternalService claims it: the answer it must go back to.
func upstreamA(t *testing.T, s *suite.Suite, name string) []string {
	t.Helper()
	ips, rcode, err := s.QueryA(name, "")
	if err != nil {
		t.Fatal(err)
	}
	if rcode != dns.RcodeSuccess || len(ips) == 0 {
		t.Fatalf("%s has no upstream A record (rcode %s): the suite's external domain %q must resolve", name, dns.RcodeToString[rcode], s.ExternalDomain)
	}
	return ips
}

// waitA waits until name's A answer is want.
func waitA(t *testing.T, s *suite.Suite, what, name, source string, want []string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: no address to expect for %s (a gateway Service without an IPv4 ClusterIP?)", what, name)
	}
	s.Eventually(t, what, s.Timeouts.DNS, func() error {
		ips, rcode, err := s.QueryA(name, source)
		if err != nil {
			return err
		}
		if rcode != dns.RcodeSuccess || !slices.Equal(ips, suite.Sorted(want)) {
			return fmt.Errorf("A %s = %v (%s), want %v", name, ips, dns.RcodeToString[rcode], want)
		}
		return nil
	})
}

// ipv4 keeps the IPv4 addresses.
func ipv4(ips []string) []string {
	var out []string
	for _, ip := range ips {
		if !strings.Contains(ip, ":") {
			out = append(out, ip)
		}
	}
	return out
}

// answerAddresses lists every address an answer carries: A and AAAA
// records, and the ipv4hint and ipv6hint of HTTPS and SVCB records, in the
// answer and additional sections.
func answerAddresses(r *dns.Msg) []string {
	var ips []string
	for _, rr := range append(slices.Clone(r.Answer), r.Extra...) {
		switch v := rr.(type) {
		case *dns.A:
			ips = append(ips, v.A.String())
		case *dns.AAAA:
			ips = append(ips, v.AAAA.String())
		case *dns.HTTPS:
			ips = append(ips, svcbHints(v.Value)...)
		case *dns.SVCB:
			ips = append(ips, svcbHints(v.Value)...)
		}
	}
	return ips
}

func svcbHints(kvs []dns.SVCBKeyValue) []string {
	var ips []string
	for _, kv := range kvs {
		switch h := kv.(type) {
		case *dns.SVCBIPv4Hint:
			for _, ip := range h.Hint {
				ips = append(ips, ip.String())
			}
		case *dns.SVCBIPv6Hint:
			for _, ip := range h.Hint {
				ips = append(ips, ip.String())
			}
		}
	}
	return ips
}
