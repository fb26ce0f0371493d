package soak

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// phase is the part of the run a query was sent in.
type phase int

// The phases, in the order the run goes through them.
const (
	phaseSetup phase = iota
	phaseSteady
	phaseOperatorRestart
	phaseLeaderHandover
	phaseIstiodRestart
	phaseAPIOutage
	phaseRecovery
	numPhases
)

var phaseNames = [numPhases]string{"setup", "steady", "operator restart", "leader handover", "istiod restart", "API outage", "recovery"}

func (p phase) String() string { return phaseNames[p] }

// PhaseCounts are the answers of one phase.
type PhaseCounts struct {
	Phase   string
	Queries int
	// Transitional answers matched the model a moment before or after
	// (within watchSkew) or came within followBound of a change: allowed.
	Transitional int
	// Wrong answers differed from the model for longer than the bound.
	Wrong int
	// Leaks carried an upstream address for a hijacked name to a client.
	Leaks     int
	ServFails int
	// NoAnswer queries timed out.
	NoAnswer int
}

// maxMessages bounds the failure messages kept of each kind.
const maxMessages = 10

// tally counts the verdicts by phase and keeps the first failures.
type tally struct {
	mu       sync.Mutex
	counts   [numPhases]PhaseCounts
	failures []string
	leaks    []string
	timeouts []string
}

func newTally() *tally {
	t := &tally{}
	for p := range numPhases {
		t.counts[p].Phase = p.String()
	}
	return t
}

func (t *tally) add(a answer, j judgement) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := &t.counts[a.phase]
	c.Queries++
	if a.err == nil && a.rcode == dns.RcodeServerFailure {
		c.ServFails++
	}
	from := "the client address"
	if !a.fromClient {
		from = "a gateway pod"
	}
	msg := func() string {
		m := fmt.Sprintf("%s %s %s from %s, sent %s (%s): got %s, want %s",
			a.phase, dns.TypeToString[a.qtype], a.name, from, a.sent.Format("15:04:05.000"),
			a.recv.Sub(a.sent).Round(time.Millisecond), j.got, j.want)
		if j.history != "" {
			m += "\n      model: " + j.history
		}
		return m
	}
	switch j.verdict {
	case transitional:
		c.Transitional++
	case wrong:
		c.Wrong++
		t.failures = keep(t.failures, msg)
	case leak:
		c.Leaks++
		t.leaks = keep(t.leaks, msg)
	case noAnswer:
		c.NoAnswer++
		t.timeouts = keep(t.timeouts, func() string { return a.phase.String() + ": " + j.got })
	}
}

func keep(list []string, msg func() string) []string {
	if len(list) >= maxMessages {
		return list
	}
	return append(list, msg())
}

// snapshot returns the counts of the phases that saw queries.
func (t *tally) snapshot() []PhaseCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []PhaseCounts
	for _, c := range t.counts {
		if c.Queries > 0 {
			out = append(out, c)
		}
	}
	return out
}

// total sums every phase.
func total(counts []PhaseCounts) PhaseCounts {
	s := PhaseCounts{Phase: "total"}
	for _, c := range counts {
		s.Queries += c.Queries
		s.Transitional += c.Transitional
		s.Wrong += c.Wrong
		s.Leaks += c.Leaks
		s.ServFails += c.ServFails
		s.NoAnswer += c.NoAnswer
	}
	return s
}

// percentiles returns p50, p90, p99 and max of ds.
func percentiles(ds []time.Duration) [4]time.Duration {
	if len(ds) == 0 {
		return [4]time.Duration{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return [4]time.Duration{at(0.50), at(0.90), at(0.99), s[len(s)-1]}
}
