// Package dnsplugin is the CoreDNS plugin egressoperator, the last step of
// egressgate's data flow. The controller writes, in each ExternalService's
// status, the DNSHijacked condition and the gateway Service's ClusterIPs;
// this plugin watches those statuses (and the gateway pods) and answers DNS
// queries for spec.dnsName with the gateway's addresses, so every client in
// the cluster reaches the external host through its egress gateway.
//
// The plugin sits in CoreDNS's chain after acl and immediately before cache
// (see cmd/coredns), so no later plugin can answer a hijacked name from
// upstream data. Queries sent by a gateway pod, and names the plugin does not
// manage, go to the next plugin untouched.
//
// With the Corefile's observe property the plugin also records which
// workload looked up which name outside the cluster and what it was
// answered (observe.go, recorder.go, workloads.go), reports lookups that the
// gateway would refuse (refused.go), and serves the record over HTTPS to
// callers the API server vouches for (observe_http.go): the input of
// `egressctl observe`, which suggests the ExternalServices to create.
package dnsplugin

import (
	"context"
	"net"
	"net/netip"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/miekg/dns"
)

// pluginName is the Corefile directive and the metrics subsystem.
const pluginName = "egressoperator"

// DefaultTTL is the TTL, in seconds, of hijacked answers when the Corefile
// sets none. It is short so that clients follow a changed gateway address
// or an ExternalService that stops hijacking within seconds.
const DefaultTTL = 5

// Source supplies the lookup table. The Kubernetes watcher is the real one;
// handler tests use a fixed table. CoreDNS calls Start in OnStartup and Stop
// in OnShutdown.
type Source interface {
	// Start begins watching and waits a bounded time for the first sync.
	Start() error
	// Stop ends the watches; the last table stays readable.
	Stop() error
	// HasSynced reports whether the table reflects a complete first sync.
	HasSynced() bool
	// Table is the current snapshot; it may be nil before anything loaded.
	Table() *Table
}

// Hijacker is the plugin handler: it answers queries for hijacked names
// with the gateway address and passes everything else to the next plugin.
type Hijacker struct {
	// Next is the next plugin in the chain.
	Next plugin.Handler

	source Source
	ttl    uint32
	// observe is nil unless the Corefile turns observe mode on.
	observe *observeHook
}

// ServeDNS answers queries for hijacked names and passes every other query
// to the next plugin untouched. In observe mode it also records who looked
// up which name outside the cluster, and what was answered.
func (e *Hijacker) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if h := e.observe; h != nil {
		if o := h.o.Load(); o != nil {
			if name, ok := h.recordable(r); ok {
				return e.serveObserved(ctx, h, o, w, r, name)
			}
		}
	}
	return e.answer(ctx, w, r)
}

// answer is ServeDNS without observe mode.
func (e *Hijacker) answer(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if r.Opcode != dns.OpcodeQuery {
		// NOTIFY, UPDATE and the rest go on to the plugins that handle
		// them, except for a hijacked name: no later plugin may answer
		// for it, whatever the opcode.
		if len(r.Question) > 0 && e.source.Table().lookup(r.Question[0].Name) != nil {
			return dns.RcodeRefused, nil
		}
		return plugin.NextOrFailure(e.Name(), e.Next, ctx, w, r)
	}
	// A query has exactly one question and is not itself a response.
	if r.Response || len(r.Question) != 1 {
		return dns.RcodeFormatError, nil
	}
	t := e.source.Table()
	return e.answerQuery(ctx, w, r, t, t.lookup(r.Question[0].Name))
}

// answerQuery answers the query r, whose name has the record rec in t (nil
// when it is not hijacked).
func (e *Hijacker) answerQuery(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, t *Table, rec *record) (int, error) {
	if rec == nil {
		return e.passOn(ctx, w, r)
	}
	q := r.Question[0]
	server := metrics.WithServer(ctx)
	// A gateway resolves the real name; hijacking its lookup would send it
	// to itself.
	if ip, ok := sourceIP(w.RemoteAddr()); ok && t.isGateway(ip) {
		gatewayAnswers.WithLabelValues(server).Inc()
		return e.passOn(ctx, w, r)
	}

	hijackedAnswers.WithLabelValues(server, rec.service).Inc()
	if !rec.hasAddress() {
		// Fail closed: no upstream answer for a hijacked name. CoreDNS
		// writes the SERVFAIL (with EDNS0) for us.
		return dns.RcodeServerFailure, nil
	}

	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if q.Qclass == dns.ClassINET || q.Qclass == dns.ClassANY {
		owner := dns.Fqdn(q.Name) // the name as asked, case included
		switch q.Qtype {
		case dns.TypeA, dns.TypeANY:
			m.Answer = aRecords(owner, e.ttl, rec.a)
		case dns.TypeAAAA:
			m.Answer = aaaaRecords(owner, e.ttl, rec.aaaa)
		}
		// Every other type (HTTPS, SVCB, CNAME, MX, TXT, ...) gets NOERROR
		// with no answer, so no upstream data for the name leaks.
	}
	if o := r.IsEdns0(); o != nil {
		// A fresh OPT record: the request is never changed.
		m.SetEdns0(o.UDPSize(), o.Do())
	}
	// A failed write is the client's connection going away; there is
	// nobody left to tell.
	_ = w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// Name implements plugin.Handler.
func (e *Hijacker) Name() string { return pluginName }

func aRecords(owner string, ttl uint32, ips []net.IP) []dns.RR {
	if len(ips) == 0 {
		return nil
	}
	rrs := make([]dns.RR, len(ips))
	for i, ip := range ips {
		rrs[i] = &dns.A{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: ip}
	}
	return rrs
}

func aaaaRecords(owner string, ttl uint32, ips []net.IP) []dns.RR {
	if len(ips) == 0 {
		return nil
	}
	rrs := make([]dns.RR, len(ips))
	for i, ip := range ips {
		rrs[i] = &dns.AAAA{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: ip}
	}
	return rrs
}

// sourceIP is the client's IP address, without port or zone.
func sourceIP(a net.Addr) (netip.Addr, bool) {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	case nil:
		return netip.Addr{}, false
	default:
		// Other transports (DoH, DoQ, gRPC) report host:port.
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}, false
		}
		return ap.Addr().Unmap().WithZone(""), true
	}
	addr, ok := netip.AddrFromSlice(ip)
	return addr.Unmap(), ok
}
