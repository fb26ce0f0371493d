package soak

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// Judging one answer against the model. The bounds, and why:

// watchSkew is how far apart our watch and the plugin's may see the same
// change: both are watches on one API server, and on a loaded 2-core
// machine one of them can be scheduled a moment late. An answer may match
// any state the model held from watchSkew before the query was sent until
// watchSkew after the answer came back.
const watchSkew = time.Second

// followBound is how long the plugin may answer differently from the model
// after a change: the plugin rebuilds its table on every event of its
// watch (dnsplugin/watch.go), so it follows within a watch round trip; 5 s
// is its default TTL (dnsplugin/README.md: "so that clients follow a
// changed address quickly"), so a client that cached the old answer sees
// the new one at most followBound + TTL after the change.
const followBound = 5 * time.Second

// reconnectAllowance is how long after the API server comes back the plugin
// may still answer from its old table: its watches reconnect on their own
// (dnsplugin/README.md, "When things go wrong") with client-go's reflector
// backoff, which after a 30 s outage has reached its cap of 30 s with a
// jitter of up to 100% (client-go tools/cache/reflector.go: "backoff will
// stop at [30,60) sec interval"), plus a few seconds to list.
const reconnectAllowance = 65 * time.Second

// verdict is the judgement of one answer.
type verdict int

const (
	correct      verdict = iota // what the model says now
	transitional                // what the model said a moment ago or says a moment later
	wrong                       // differs from the model for longer than the bound
	leak                        // an upstream address for a hijacked name, to a client
	noAnswer                    // no reply within the client's timeout
)

// answer is one query and what came back.
type answer struct {
	name       string
	qtype      uint16
	fromClient bool // sent from the client address, not a gateway pod's
	sent, recv time.Time
	phase      phase
	err        error
	rcode      int
	addrs      []string // A and AAAA addresses in the answer section, sorted
}

// classify turns a reply into an answer kind, with the addresses it
// carried. An AAAA query answered by the plugin is NOERROR with no record
// (the gateways have IPv4 ClusterIPs only).
func classify(a answer) (answerKind, []string) {
	if a.rcode == dns.RcodeServerFailure {
		return servfail, nil
	}
	if a.rcode != dns.RcodeSuccess {
		return other, nil
	}
	if carriesUpstream(a.addrs) {
		return upstream, nil
	}
	if len(a.addrs) == 0 {
		if a.qtype == dns.TypeAAAA {
			return gateway, nil
		}
		return other, nil
	}
	for _, s := range a.addrs {
		if ip, err := netip.ParseAddr(s); err != nil || !serviceRange.Contains(ip) {
			return other, a.addrs
		}
	}
	return gateway, a.addrs
}

// carriesUpstream reports whether any address is one the stand-in for the
// internet answers.
func carriesUpstream(addrs []string) bool {
	return slices.ContainsFunc(addrs, func(s string) bool { return upstreamAddrs[s] })
}

// matches reports whether an answer of kind k with addrs is what state s
// asks for. An AAAA answer matches a gateway state without addresses.
func matches(k answerKind, addrs []string, qtype uint16, s state) bool {
	if k != s.kind {
		return false
	}
	return k != gateway || qtype == dns.TypeAAAA || slices.Equal(addrs, s.addrs)
}

// judgement is the verdict with what was expected, for the failure message.
type judgement struct {
	verdict verdict
	want    state
	got     string
	// history is the name's recent changes in the model (wrong and leak).
	history string
}

// judge compares an answer with the model, once watchSkew has passed
// since it came back. apiBack is when the API server last came back from
// an outage (zero: never down).
func (m *model) judge(a answer, apiBack time.Time) judgement {
	if a.err != nil {
		return judgement{verdict: noAnswer, got: a.err.Error()}
	}
	kind, addrs := classify(a)
	got := fmt.Sprintf("%s %v (%s)", dns.RcodeToString[a.rcode], a.addrs, kind)
	if !a.fromClient {
		// A gateway pod always gets the real answer.
		want := state{kind: upstream}
		if kind == upstream {
			return judgement{verdict: correct, want: want, got: got}
		}
		return judgement{verdict: wrong, want: want, got: got}
	}
	w := m.window(a.name, a.sent.Add(-watchSkew), a.recv.Add(watchSkew))
	j := judgement{want: w.current, got: got}
	deadline := w.currentAt.Add(followBound)
	if !apiBack.IsZero() && w.currentAt.Before(apiBack.Add(reconnectAllowance)) {
		deadline = later(deadline, apiBack.Add(reconnectAllowance))
	}
	if kind == upstream && allHijacked(w.states) {
		runDeadline := w.hijackRunStart.Add(followBound)
		if !apiBack.IsZero() && w.hijackRunStart.Before(apiBack.Add(reconnectAllowance)) {
			runDeadline = later(runDeadline, apiBack.Add(reconnectAllowance))
		}
		pluginHadIt := w.seenHijacked.After(w.hijackRunStart) && w.seenHijacked.Before(a.sent)
		if pluginHadIt || a.sent.After(runDeadline) {
			j.verdict, j.history = leak, m.describe(a.name)
			return j
		}
	}
	switch {
	case matches(kind, addrs, a.qtype, w.current):
		j.verdict = correct
	case slices.ContainsFunc(w.states, func(s state) bool { return matches(kind, addrs, a.qtype, s) }):
		j.verdict = transitional
	case a.sent.After(deadline):
		j.verdict, j.history = wrong, m.describe(a.name)
	default:
		j.verdict = transitional
	}
	if kind == gateway && a.qtype == dns.TypeA && j.verdict != wrong {
		m.sawHijacked(a.name, a.recv)
	}
	return j
}

func allHijacked(states []state) bool {
	return !slices.ContainsFunc(states, func(s state) bool { return !s.kind.hijacked() })
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
