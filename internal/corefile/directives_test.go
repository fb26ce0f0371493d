package corefile

import (
	"slices"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
)

// The copy of CoreDNS's plugin chain is CoreDNS's, and egressoperator sits
// where cmd/coredns puts it: after acl, immediately before cache.
func TestDirectivesMatchCoreDNS(t *testing.T) {
	if !slices.Equal(coreDNSDirectives, dnsserver.Directives) {
		t.Fatalf("coreDNSDirectives differs from CoreDNS %s's core/dnsserver.Directives; copy it again:\n%q", coremain.CoreVersion, dnsserver.Directives)
	}
	d := Directives()
	at := slices.Index(d, Directive)
	if at < 1 || d[at-1] != "acl" || d[at+1] != "cache" {
		t.Errorf("want acl, %s, cache in a row; got %v", Directive, d)
	}
	if CoreDNSVersion != coremain.CoreVersion {
		t.Errorf("CoreDNSVersion = %s, but go.mod builds CoreDNS %s", CoreDNSVersion, coremain.CoreVersion)
	}
}
