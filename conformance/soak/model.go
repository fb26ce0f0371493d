package soak

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// The model: what CoreDNS must answer for each name at each moment, derived
// from the ExternalServices as the API server reports them (a watch of our
// own). The plugin's rule, from dnsplugin/README.md: a name is hijacked
// while its owner (api/v1 DNSNameOwner: the oldest claimant not being
// deleted) has DNSHijacked=True; it then answers the owner's
// status.addresses, or SERVFAIL while there are none; every other name, and
// every query from a gateway pod, gets the upstream answer.

// answerKind is the shape of an answer.
type answerKind int

const (
	upstream answerKind = iota // the stand-in for the internet answered
	gateway                    // the plugin answered with gateway addresses
	servfail                   // the plugin answered SERVFAIL (hijacked, no address)
	other                      // anything else: empty, NXDOMAIN, a wrong address
)

func (k answerKind) String() string {
	return [...]string{"upstream", "gateway", "SERVFAIL", "other"}[k]
}

// hijacked reports whether the plugin, not upstream, answers this kind.
func (k answerKind) hijacked() bool { return k == gateway || k == servfail }

// state is what a client must get for one name.
type state struct {
	kind answerKind
	// addrs are the owner's IPv4 gateway addresses, sorted (gateway only).
	addrs []string
}

func (s state) equal(o state) bool { return s.kind == o.kind && slices.Equal(s.addrs, o.addrs) }

func (s state) String() string {
	if s.kind == gateway {
		return "gateway " + strings.Join(s.addrs, ",")
	}
	return s.kind.String()
}

// change is a state taking effect at a moment (when our watch saw it),
// with the owner and its DNSHijacked reason, for failure messages.
type change struct {
	at     time.Time
	want   state
	owner  string
	reason string
}

// model keeps, for every dnsName, the history of its expected state.
type model struct {
	mu       sync.Mutex
	services map[string]*egressv1.ExternalService // by object name
	history  map[string][]change                  // by canonical dnsName
	// hijackedSeen is when a client last got a gateway answer, by name.
	hijackedSeen map[string]time.Time
}

func newModel() *model {
	return &model{
		services:     map[string]*egressv1.ExternalService{},
		history:      map[string][]change{},
		hijackedSeen: map[string]time.Time{},
	}
}

// canonical is the model's key of a DNS name: lowercase, no trailing dot.
func canonical(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") }

// upsert records an added or changed ExternalService at time now.
func (m *model) upsert(es *egressv1.ExternalService, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := []string{canonical(es.Spec.DnsName)}
	if old := m.services[es.Name]; old != nil {
		names = append(names, canonical(old.Spec.DnsName))
	}
	m.services[es.Name] = es
	for _, n := range names {
		m.recompute(n, now)
	}
}

// remove records a deleted ExternalService at time now.
func (m *model) remove(name string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.services[name]
	if old == nil {
		return
	}
	delete(m.services, name)
	m.recompute(canonical(old.Spec.DnsName), now)
}

// recompute appends name's state to its history if it changed.
func (m *model) recompute(name string, now time.Time) {
	var claimants []*egressv1.ExternalService
	for _, es := range m.services {
		if canonical(es.Spec.DnsName) == name {
			claimants = append(claimants, es)
		}
	}
	owner := egressv1.DNSNameOwner(claimants)
	want := expectedState(owner)
	h := m.history[name]
	if len(h) == 0 && want.kind == upstream {
		return // upstream is every name's state before its first change
	}
	if len(h) > 0 && h[len(h)-1].want.equal(want) {
		return
	}
	c := change{at: now, want: want, owner: "none"}
	if owner != nil {
		c.owner = owner.Name
		if cond := meta.FindStatusCondition(owner.Status.Conditions, egressv1.ConditionDNSHijacked); cond != nil {
			c.reason = string(cond.Status) + "/" + cond.Reason
		}
	}
	m.history[name] = append(h, c)
}

// retain forgets the ExternalServices not in names (deleted while the
// watch was away), at time now.
func (m *model) retain(names map[string]bool, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, es := range m.services {
		if !names[name] {
			delete(m.services, name)
			m.recompute(canonical(es.Spec.DnsName), now)
		}
	}
}

// describe lists name's last few changes, for a failure message.
func (m *model) describe(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.history[canonical(name)]
	var out []string
	for _, c := range h[max(0, len(h)-4):] {
		out = append(out, fmt.Sprintf("%s %s (owner %s, DNSHijacked %s)", c.at.Format("15:04:05.000"), c.want, c.owner, c.reason))
	}
	if len(out) == 0 {
		return "never changed"
	}
	return strings.Join(out, "; ")
}

// expectedState is what the plugin must answer for a name owned by owner
// (nil: no claimant).
func expectedState(owner *egressv1.ExternalService) state {
	if owner == nil || !meta.IsStatusConditionTrue(owner.Status.Conditions, egressv1.ConditionDNSHijacked) {
		return state{kind: upstream}
	}
	if len(owner.Status.Addresses) == 0 {
		return state{kind: servfail}
	}
	var v4 []string
	for _, a := range owner.Status.Addresses {
		if ip, err := netip.ParseAddr(a); err == nil && ip.Is4() {
			v4 = append(v4, ip.String())
		}
	}
	slices.Sort(v4)
	return state{kind: gateway, addrs: v4}
}

// window is what the model said about a name around one query.
type window struct {
	// states are every state in force at some moment of the window.
	states []state
	// current is the state in force at the end of the window, since
	// currentAt (zero: from the start).
	current   state
	currentAt time.Time
	// hijackRunStart is when the current unbroken run of hijacked states
	// began (zero when current is not hijacked).
	hijackRunStart time.Time
	// seenHijacked is when a client last got a gateway answer for the name.
	seenHijacked time.Time
}

// window returns the states of name between from and to.
func (m *model) window(name string, from, to time.Time) window {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = canonical(name)
	h := m.history[name]
	w := window{current: state{kind: upstream}, seenHijacked: m.hijackedSeen[name]}
	i := 0
	for i < len(h) && !h[i].at.After(from) {
		w.current, w.currentAt = h[i].want, h[i].at
		i++
	}
	w.states = append(w.states, w.current)
	last := i
	for ; i < len(h) && !h[i].at.After(to); i++ {
		w.current, w.currentAt = h[i].want, h[i].at
		w.states = append(w.states, w.current)
		last = i + 1
	}
	if w.current.kind.hijacked() {
		w.hijackRunStart = w.currentAt
		for j := last - 2; j >= 0 && h[j].want.kind.hijacked(); j-- {
			w.hijackRunStart = h[j].at
		}
	}
	return w
}

// sawHijacked records that a client got a gateway answer for name at t.
func (m *model) sawHijacked(name string, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = canonical(name)
	if t.After(m.hijackedSeen[name]) {
		m.hijackedSeen[name] = t
	}
}

// current is name's state now.
func (m *model) current(name string) state {
	now := time.Now()
	return m.window(name, now, now).current
}
