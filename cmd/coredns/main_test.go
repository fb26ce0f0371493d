package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
)

// The binary's plugin chain: egressoperator after acl and immediately before
// cache, and before every plugin that answers from its own or upstream data.
// (autopath and dns64 run earlier, but they only rewrite what the plugins
// below them answer, so for a hijacked name they see the plugin's answer.)
func TestPluginOrder(t *testing.T) {
	d := dnsserver.Directives
	at := slices.Index(d, directive)
	if at < 0 {
		t.Fatalf("%s is not in dnsserver.Directives", directive)
	}
	if at == 0 || d[at-1] != "acl" || at+1 >= len(d) || d[at+1] != "cache" {
		t.Fatalf("want acl, %s, cache in a row; got %v", directive, d[max(at-1, 0):min(at+2, len(d))])
	}
	for _, later := range []string{"cache", "kubernetes", "forward", "hosts", "file", "template", "etcd", "auto", "secondary", "grpc"} {
		if i := slices.Index(d, later); i < at {
			t.Errorf("%s (position %d) runs before %s (position %d)", later, i, directive, at)
		}
	}
}

func TestWithEgressOperatorRefusesUnexpectedOrder(t *testing.T) {
	for _, d := range [][]string{
		{"acl", "header", "cache"},
		{"cache", "acl"},
		{"acl", directive, "cache"},
	} {
		if _, err := withEgressOperator(d); err == nil {
			t.Errorf("withEgressOperator(%v) succeeded; want an error", d)
		}
	}
}

// CoreDNS's -version line names the egressgate build.
func TestVersionNamesEgressgate(t *testing.T) {
	if !strings.HasPrefix(coremain.GitCommit, "egressgate ") || !strings.Contains(coremain.GitCommit, "(commit ") {
		t.Errorf("coremain.GitCommit = %q, want the egressgate version and commit", coremain.GitCommit)
	}
}
