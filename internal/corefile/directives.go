package corefile

import "slices"

// Directive is egressgate's plugin's name in a Corefile.
const Directive = "egressoperator"

// CoreDNSVersion is the CoreDNS release cmd/coredns is built from (the
// github.com/coredns/coredns version in go.mod); a test keeps it in step.
const CoreDNSVersion = "1.15.0"

// coreDNSDirectives is CoreDNS v1.15.0's plugin chain,
// core/dnsserver.Directives, generated there from plugin.cfg. It is copied
// rather than imported so that egressctl does not link CoreDNS's server
// (quic-go, the plugin framework, init-time registrations) to parse a
// Corefile; TestDirectivesMatchCoreDNS fails when the two differ.
var coreDNSDirectives = []string{
	"root", "metadata", "geoip", "cancel", "proxyproto", "quic", "grpc_server",
	"https", "https3", "timeouts", "multisocket", "reload", "nsid", "bufsize",
	"bind", "debug", "trace", "ready", "health", "pprof", "shed", "prometheus",
	"errors", "log", "dnstap", "local", "dns64", "siit", "any", "chaos",
	"loadbalance", "tsig", "rewrite", "autopath", "acl", "cache", "header",
	"dnssec", "tls", "minimal", "template", "transfer", "dynupdate", "hosts",
	"route53", "azure", "clouddns", "k8s_external", "kubernetes", "file",
	"auto", "secondary", "etcd", "loop", "forward", "grpc", "erratic", "whoami",
	"on", "sign", "view", "nomad",
}

// Directives is the plugin chain of egressgate's CoreDNS (cmd/coredns):
// CoreDNS's own with egressoperator right after acl, immediately before
// cache. It is the list of directives a Corefile may name; the order is
// the order plugins run in, whatever the order of lines in a server block.
func Directives() []string {
	d := slices.Clone(coreDNSDirectives)
	return slices.Insert(d, slices.Index(d, "acl")+1, Directive)
}
