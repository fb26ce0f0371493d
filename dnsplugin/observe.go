package dnsplugin

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// What observe mode records: a query (opcode QUERY, one question) for a
// name outside the cluster domain and outside the reverse zones, once it
// is answered, unless the answer is NXDOMAIN and the name ends with one of
// the block's search_suffixes (a search-path expansion: the resolver
// appended the node's search domain to a name that had fewer dots than
// ndots, and the expansion does not exist). Queries from gateway pods,
// which resolve the real upstream, are egressgate's own and not recorded.

// reverseZones are never recorded.
var reverseZones = []string{"in-addr.arpa.", "ip6.arpa."}

// recordable reports whether r is a query whose name observe mode may
// record; the search-suffix rule needs the answer and comes later.
func (h *observeHook) recordable(r *dns.Msg) bool {
	if r.Opcode != dns.OpcodeQuery || r.Response || len(r.Question) != 1 {
		return false
	}
	name := canonicalName(r.Question[0].Name)
	if name == "." || egressv1.InClusterDomain(name, h.zone) {
		return false
	}
	for _, z := range reverseZones {
		if name == z || (strings.HasSuffix(name, z) && name[len(name)-len(z)-1] == '.') {
			return false
		}
	}
	return true
}

// isExpansion reports whether an answer with rcode for the canonical name
// is a search-path expansion that must not be recorded.
func (h *observeHook) isExpansion(name string, rcode int) bool {
	if rcode != dns.RcodeNameError {
		return false
	}
	return slices.ContainsFunc(h.cfg.searchSuffixes, func(s string) bool { return strings.HasSuffix(name, s) })
}

// rcodeWriter notes the rcode of the message written through it.
type rcodeWriter struct {
	dns.ResponseWriter
	rcode   int
	written bool
}

// WriteMsg implements dns.ResponseWriter.
func (w *rcodeWriter) WriteMsg(m *dns.Msg) error {
	w.rcode, w.written = m.Rcode, true
	return w.ResponseWriter.WriteMsg(m)
}

// serveObserved answers r as answer does and records the lookup: the
// workload that sent it, the name and type, and the rcode the client got.
func (e *Hijacker) serveObserved(ctx context.Context, h *observeHook, o *observer, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	rw := &rcodeWriter{ResponseWriter: w}
	rc, err := e.answer(ctx, rw, r)
	rcode := rw.rcode
	if !rw.written {
		// Nothing written: CoreDNS writes rc itself when it is an
		// error rcode (SERVFAIL, REFUSED, ...).
		rcode = rc
		if err != nil && plugin.ClientWrite(rc) {
			rcode = dns.RcodeServerFailure
		}
	}
	q := r.Question[0]
	name := canonicalName(q.Name)
	if h.isExpansion(name, rcode) {
		return rc, err
	}
	ip, _ := sourceIP(w.RemoteAddr())
	t := e.source.Table()
	if t.isGateway(ip) {
		return rc, err // a gateway resolving its upstream: egressgate's own traffic
	}
	src := o.workloads.resolve(ip)
	service := ""
	if rec := t.lookup(name); rec != nil {
		service = rec.service
		if src.pod && !slices.Contains(src.allowedFor, service) {
			o.refusals.report(service, name, src.workload)
		}
	}
	o.recorder.record(lookup{
		workload: src.workload, qname: name, qtype: q.Qtype, rcode: rcode,
		service: service, allowedFor: src.allowedFor, at: time.Now(),
	})
	return rc, err
}
