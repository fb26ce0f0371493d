package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// After each change that alters a slot's intended answer, the prober asks
// for the slot's name every probeEvery from the client address until the
// answer is the intended one. The time that took is the change's settle
// time: the operator's reconcile, istiod's Deployment and Service, kwok's
// pod, the operator's DNSHijacked latch, the plugin's table.

// probeEvery is how often a pending slot is asked.
const probeEvery = 250 * time.Millisecond

// settleBound is how long a change may take to show in DNS while nothing is
// disrupted. The operator reconciles with --concurrency=2 here, a gateway
// needs istiod and kwok before it is Programmed, and bench/convergence's
// target for one ExternalService at a time is 5 s at p99; with 200 of them
// churning on a shared 2-core machine, 60 s leaves room for queueing
// behind the other changes and still catches a change that is lost.
const settleBound = 60 * time.Second

// Recovery allowances: after a disruption ends, a change has settleBound
// from the end of the disruption plus this. Operator and istiod restarts
// and the handover end once the operator leads again and has drained its
// queue, so they need none; after an API server outage the operator's
// informers reconnect with client-go's reflector backoff (up to 60 s after
// a 30 s outage, see reconnectAllowance) and a replica that lost the lease
// waits for it to expire (15 s).
const outageRecovery = 75 * time.Second

// disruptions records when the last disruption ended.
type disruptions struct {
	mu      sync.Mutex
	active  bool
	until   time.Time // end of the last disruption plus its allowance
	apiBack time.Time // when the API server last came back
}

func (d *disruptions) begin() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.active = true
}

func (d *disruptions) end(allowance time.Duration, apiBack bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.active = false
	d.until = time.Now().Add(allowance)
	if apiBack {
		d.apiBack = time.Now()
	}
}

// deadline is when a change made at `at` must have settled, bound after
// it or after the end of the last disruption; false while a disruption is
// under way.
func (d *disruptions) deadline(at time.Time, bound time.Duration) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.active {
		return time.Time{}, false
	}
	return later(at, d.until).Add(bound), true
}

// overlaps reports whether a disruption, or the recovery allowed after
// it, was under way at t or since.
func (d *disruptions) overlaps(t time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.active || d.until.After(t)
}

func (d *disruptions) lastAPIBack() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.apiBack
}

// settled collects the settle times and the changes that missed their
// deadline.
type settled struct {
	mu    sync.Mutex
	setup []time.Duration
	// steady are the settle times of changes no disruption overlapped;
	// disrupted those of the others.
	steady, disrupted []time.Duration
	failures          []string
	missed            int
	// lastChange is when the latest change that settled was made.
	lastChange time.Time
}

// changeSettledAfter reports whether a change made after t has settled.
func (s *settled) changeSettledAfter(t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastChange.After(t)
}

// maxProbes bounds the slots asked per round, so the setup (every slot
// pending at once) does not flood CoreDNS; they are picked at random.
const maxProbes = 16

// probe asks once for every pending slot and resolves those that settled
// or missed their deadline. inSetup says which list a settle time joins.
func (c *churner) probe(ctx context.Context, l *loader, d *disruptions, out *settled, inSetup bool) {
	c.mu.Lock()
	var pending []*slot
	for _, s := range c.slots {
		if s.pending != nil {
			pending = append(pending, s)
		}
	}
	c.mu.Unlock()
	rand.Shuffle(len(pending), func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
	pending = pending[:min(len(pending), maxProbes)]
	var wg sync.WaitGroup
	for _, s := range pending {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.mu.Lock()
			p := s.pending
			c.mu.Unlock()
			a := l.send(ctx, s.dnsName, dns.TypeA, l.client, true)
			l.answers <- a
			kind, _ := classify(a)
			out.mu.Lock()
			defer out.mu.Unlock()
			switch deadline, ok := d.deadline(p.at, p.bound); {
			case a.err == nil && kind == p.want:
				switch took := a.recv.Sub(p.at); {
				case inSetup:
					out.setup = append(out.setup, took)
				case d.overlaps(p.at):
					out.disrupted = append(out.disrupted, took)
				default:
					out.steady = append(out.steady, took)
				}
				out.lastChange = later(out.lastChange, p.at)
			case ok && a.sent.After(deadline):
				out.missed++
				out.failures = keep(out.failures, func() string {
					return fmt.Sprintf("%s (%s at %s): still %s after %s, want %s (bound %s after the change or the end of the last disruption)\n      API: %s",
						s.dnsName, p.what, p.at.Format("15:04:05.000"), kind, a.sent.Sub(p.at).Round(time.Second), p.want, p.bound, c.describe(ctx, s))
				})
			default:
				return
			}
			c.mu.Lock()
			s.pending = nil
			c.mu.Unlock()
		}()
	}
	wg.Wait()
}

// pendingBefore is how many slots wait for the answer of a change made
// before t.
func (c *churner) pendingBefore(t time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.slots {
		if s.pending != nil && s.pending.at.Before(t) {
			n++
		}
	}
	return n
}

// probeLoop probes until ctx ends.
func (c *churner) probeLoop(ctx context.Context, l *loader, d *disruptions, out *settled, inSetup func() bool) {
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			c.probe(ctx, l, d, out, inSetup())
		}
	}
}
