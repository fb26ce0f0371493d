package dnsplugin

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
	ot "github.com/opentracing/opentracing-go"
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
// record, and gives the name in canonical form; the search-suffix rule
// needs the answer and comes later.
func (h *observeHook) recordable(r *dns.Msg) (string, bool) {
	if r.Opcode != dns.OpcodeQuery || r.Response || len(r.Question) != 1 {
		return "", false
	}
	name := canonicalName(r.Question[0].Name)
	if name == "." || inZone(name, h.zone) {
		return "", false
	}
	for _, z := range reverseZones {
		if inZone(name, z) {
			return "", false
		}
	}
	return name, true
}

// inZone reports whether the canonical name is zone or a name under it;
// zone is canonical too (egressv1.InClusterDomain without its per-query
// lowercasing and concatenation).
func inZone(name, zone string) bool {
	if zone == "." || zone == "" {
		return false
	}
	return name == zone || (strings.HasSuffix(name, zone) && name[len(name)-len(zone)-1] == '.')
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
//
// When the query goes on to the next plugin, it is also that call's
// plugin.NextOrFailure writer (see passOn): next names the plugin, which is
// told to a PluginTracker below as CoreDNS's own wrapper does. A recorded
// query then allocates nothing that an unrecorded one does not.
type rcodeWriter struct {
	dns.ResponseWriter
	rcode   int
	written bool
	next    string
}

// WriteMsg implements dns.ResponseWriter.
func (w *rcodeWriter) WriteMsg(m *dns.Msg) error {
	w.rcode, w.written = m.Rcode, true
	w.track()
	return w.ResponseWriter.WriteMsg(m)
}

// Write implements dns.ResponseWriter.
func (w *rcodeWriter) Write(b []byte) (int, error) {
	w.track()
	return w.ResponseWriter.Write(b)
}

func (w *rcodeWriter) track() {
	if t, ok := w.ResponseWriter.(plugin.PluginTracker); ok && w.next != "" {
		t.SetPlugin(w.next)
	}
}

// passOn hands r to the next plugin, as plugin.NextOrFailure does. That
// wraps w in a writer of its own per call; a query observe mode records
// is already wrapped in an rcodeWriter, which then does that writer's
// work, unless a trace span must be started.
func (e *Hijacker) passOn(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if rw, ok := w.(*rcodeWriter); ok && e.Next != nil && ot.SpanFromContext(ctx) == nil {
		rw.next = e.Next.Name()
		return e.Next.ServeDNS(ctx, rw, r)
	}
	return plugin.NextOrFailure(e.Name(), e.Next, ctx, w, r)
}

// clockResolution is how often an observer's clock ticks: first and last
// seen are exact to it.
const clockResolution = 100 * time.Millisecond

// coarseClock is the time at its last tick, read with one atomic load: a
// reading of the system clock per query was a tenth of observe mode's cost
// (BenchmarkServeDNSObserved).
type coarseClock struct {
	nanos atomic.Int64 // Unix nanoseconds
	stop  chan struct{}
	done  chan struct{}
}

// startClock starts a clock that ticks until stopped.
func startClock() *coarseClock {
	c := &coarseClock{stop: make(chan struct{}), done: make(chan struct{})}
	c.nanos.Store(time.Now().UnixNano())
	go func() {
		defer close(c.done)
		t := time.NewTicker(clockResolution)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case now := <-t.C:
				c.nanos.Store(now.UnixNano())
			}
		}
	}()
	return c
}

// now is the time at the last tick; a nil clock reads the system clock.
func (c *coarseClock) now() time.Time {
	if c == nil {
		return time.Now()
	}
	return time.Unix(0, c.nanos.Load())
}

// Stop ends the ticks and waits for them to end.
func (c *coarseClock) Stop() {
	close(c.stop)
	<-c.done
}

// serveObserved answers the recordable query r, whose canonical name is
// name, as answer does and records the lookup: the workload that sent it,
// the name and type, and the rcode the client got.
func (e *Hijacker) serveObserved(ctx context.Context, h *observeHook, o *observer, w dns.ResponseWriter, r *dns.Msg, name string) (int, error) {
	t := e.source.Table()
	rec := t.lookupCanonical(name)
	rw := &rcodeWriter{ResponseWriter: w}
	rc, err := e.answerQuery(ctx, rw, r, t, rec)
	rcode := rw.rcode
	if !rw.written {
		// Nothing written: CoreDNS writes rc itself when it is an
		// error rcode (SERVFAIL, REFUSED, ...).
		rcode = rc
		if err != nil && plugin.ClientWrite(rc) {
			rcode = dns.RcodeServerFailure
		}
	}
	if h.isExpansion(name, rcode) {
		return rc, err
	}
	ip, _ := sourceIP(w.RemoteAddr())
	if t.isGateway(ip) {
		return rc, err // a gateway resolving its upstream: egressgate's own traffic
	}
	src := o.workloads.resolve(ip)
	service := ""
	if rec != nil {
		service = rec.service
		if src.pod && !slices.Contains(src.allowedFor, service) {
			o.refusals.report(service, name, src.workload)
		}
	}
	o.recorder.record(lookup{
		src: src, qname: name, qtype: r.Question[0].Qtype, rcode: rcode, service: service, at: o.clock.now(),
	})
	return rc, err
}
