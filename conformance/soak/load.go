package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// The query load: QueryRate queries a second, each for a random name (an
// ExternalService's, or one no ExternalService claims) from the client
// address or a gateway pod's, A or AAAA. Every answer is judged against the
// model watchSkew after it came back, in the order answers arrived.

// queryTimeout is how long one query waits for its reply.
const queryTimeout = 2 * time.Second

// maxInFlight bounds concurrent queries; a tick finding them all busy is
// counted as skipped rather than queued, so a stalled server does not pile
// up goroutines.
const maxInFlight = 64

// loader sends the queries and judges their answers.
type loader struct {
	server  string
	client  string // source address of client queries
	model   *model
	names   func() string   // a random name to ask
	sources *gatewaySources // gateway pod addresses; nil: none
	phase   func() phase
	apiBack func() time.Time

	answers chan answer
	tally   *tally
	skipped atomic.Int64
}

// send asks one question and returns what came back.
func (l *loader) send(ctx context.Context, name string, qtype uint16, source string, fromClient bool) answer {
	a := answer{name: name, qtype: qtype, fromClient: fromClient, phase: l.phase()}
	c := &dns.Client{Timeout: queryTimeout, Dialer: &net.Dialer{
		Timeout: queryTimeout, LocalAddr: &net.UDPAddr{IP: net.ParseIP(source)},
	}}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	a.sent = time.Now()
	r, _, err := c.ExchangeContext(ctx, m, l.server)
	a.recv = time.Now()
	if err != nil {
		a.err = fmt.Errorf("query %s %s from %s: %w", dns.TypeToString[qtype], name, source, err)
		return a
	}
	a.rcode = r.Rcode
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			a.addrs = append(a.addrs, v.A.String())
		case *dns.AAAA:
			a.addrs = append(a.addrs, v.AAAA.String())
		}
	}
	slices.Sort(a.addrs)
	return a
}

// run sends queries at rate per second until ctx ends, then waits for the
// last answers to be judged.
func (l *loader) run(ctx context.Context, rate int) {
	var inflight sync.WaitGroup
	slots := make(chan struct{}, maxInFlight)
	judged := make(chan struct{})
	go func() { l.judgeAll(); close(judged) }()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			select {
			case slots <- struct{}{}:
			default:
				l.skipped.Add(1)
				continue
			}
			inflight.Add(1)
			go func() {
				defer func() { <-slots; inflight.Done() }()
				l.answers <- l.random(ctx)
			}()
		}
	}
	inflight.Wait()
	close(l.answers)
	<-judged
}

// random sends one query with a random name, type and source.
func (l *loader) random(ctx context.Context) answer {
	qtype := dns.TypeA
	if rand.IntN(100) < 15 {
		qtype = dns.TypeAAAA
	}
	name := l.names()
	if l.sources != nil && rand.IntN(100) < 25 {
		if src, ok := l.sources.pick(); ok {
			// A gateway is judged on its IPv4 answer only: AAAA from a
			// gateway is the same code path.
			return l.send(context.WithoutCancel(ctx), name, dns.TypeA, src, false)
		}
	}
	return l.send(context.WithoutCancel(ctx), name, qtype, l.client, true)
}

// judgeAll judges each answer watchSkew after it came back.
func (l *loader) judgeAll() {
	for a := range l.answers {
		if d := time.Until(a.recv.Add(watchSkew)); d > 0 {
			time.Sleep(d)
		}
		l.tally.add(a, l.model.judge(a, l.apiBack()))
	}
}

// gatewaySources keeps the addresses of gateway pods that the plugin knows
// and that stay put (see Run: the anchors' pods).
type gatewaySources struct {
	mu  sync.Mutex
	ips []string
}

func (g *gatewaySources) set(ips []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ips = slices.Clone(ips)
}

func (g *gatewaySources) list() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.ips)
}

func (g *gatewaySources) pick() (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.ips) == 0 {
		return "", false
	}
	return g.ips[rand.IntN(len(g.ips))], true
}
