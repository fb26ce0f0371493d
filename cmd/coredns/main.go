// Command coredns is CoreDNS v1.15 with every stock plugin plus egressgate's
// egressoperator plugin (package dnsplugin), the DNS end of egressgate's
// data flow. It is what runs in place of the cluster's stock CoreDNS image.
//
// Plugin order is fixed here, at build time, by dnsserver.Directives; a
// Corefile cannot change it. egressoperator goes after acl and immediately
// before cache, so autopath, cache, dns64, kubernetes and forward never get
// to answer a hijacked name with upstream data.
package main

import (
	"fmt"
	"os"
	"slices"

	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/core/plugin" // every stock plugin, as CoreDNS's own main imports them
	"github.com/coredns/coredns/coremain"

	_ "github.com/egressgate/egressgate/dnsplugin" // registers egressoperator
	"github.com/egressgate/egressgate/internal/version"
)

// directive is the plugin's name in the Corefile.
const directive = "egressoperator"

func init() {
	// CoreDNS's -version prints GitCommit on its second line; make it say
	// which egressgate build this is.
	if coremain.GitCommit == "" {
		v, c := version.Get()
		coremain.GitCommit = fmt.Sprintf("egressgate %s (commit %s)", v, c)
	}
	d, err := withEgressOperator(dnsserver.Directives)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dnsserver.Directives = d
}

// withEgressOperator returns directives with egressoperator inserted right
// after acl, which must directly precede cache.
func withEgressOperator(directives []string) ([]string, error) {
	if slices.Contains(directives, directive) {
		return nil, fmt.Errorf("plugin order: %s is already registered", directive)
	}
	acl := slices.Index(directives, "acl")
	if acl < 0 || acl+1 >= len(directives) || directives[acl+1] != "cache" {
		return nil, fmt.Errorf("plugin order: CoreDNS no longer lists cache right after acl; place %s by hand", directive)
	}
	return slices.Insert(slices.Clone(directives), acl+1, directive), nil
}

func main() {
	coremain.Run()
}
