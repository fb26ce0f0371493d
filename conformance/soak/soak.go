// Package soak runs egressgate for a long while under load and churn and
// checks that DNS stays right: it starts the embedded cluster
// (conformance/embedded: the API server, istiod, kwok, two operator
// replicas, CoreDNS with the egressoperator plugin), makes ExternalServices,
// and judges every DNS answer against a model of what the plugin must
// answer, built from a watch of the ExternalServices (model.go).
//
// It sits at the end of the data flow, judging from outside like the
// conformance suite: an ExternalService changes (churn.go), the operator
// and istiod make its gateway, the operator latches DNSHijacked, CoreDNS
// answers; queries from a client address and from gateway pods (load.go)
// are judged (judge.go) and counted by phase (tally.go); the prober
// (prober.go) times each change until DNS gives the intended answer; the
// disruptions (disrupt.go) restart the operator, hand its leadership over,
// restart istiod and stop the API server; metrics.go reads the heap,
// goroutines and file descriptors of the operator and CoreDNS; report.go
// prints the table.
//
// `make soak DURATION=10m` runs it through ./conformance/soak/cmd;
// TestSoakSmoke runs a short version in `make test`.
package soak

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/egressgate/egressgate/conformance/embedded"
	"github.com/egressgate/egressgate/internal/localcluster"
)

// Disruption is one of the events the run goes through in its middle.
type Disruption int

// The disruptions, in the order they run.
const (
	OperatorRestart Disruption = iota // every operator replica stopped and started again
	LeaderHandover                    // the leading replica killed; the other takes over
	IstiodRestart                     // istiod stopped and started again
	APIOutage                         // the API server stopped for Options.Outage
)

// AllDisruptions is every disruption, in order.
var AllDisruptions = []Disruption{OperatorRestart, LeaderHandover, IstiodRestart, APIOutage}

func (d Disruption) phase() phase {
	return [...]phase{phaseOperatorRestart, phaseLeaderHandover, phaseIstiodRestart, phaseAPIOutage}[d]
}

func (d Disruption) String() string { return d.phase().String() }

// Options configure a run.
type Options struct {
	// Duration is how long the load and churn run, after the setup.
	Duration time.Duration
	// ExternalServices is how many dnsNames are made (each with one or two
	// claimants over the run). At least 3: two stay put as gateway sources.
	ExternalServices int
	// QueryRate is queries a second, from the client and gateway pods.
	QueryRate int
	// ChurnInterval is the time between two changes.
	ChurnInterval time.Duration
	// Disruptions run one after another from 30% of Duration on, in the
	// order given.
	Disruptions []Disruption
	// Outage is how long the API server stays down.
	Outage time.Duration
	// GrowthChecks fails the run when the heap, goroutines or file
	// descriptors of the operator or CoreDNS grow beyond their margins
	// between Baseline and the end.
	GrowthChecks bool
	// Baseline is when, after the setup, the first reading of the operator
	// and CoreDNS is taken.
	Baseline time.Duration
	// Progress gets one line per step; nil discards them.
	Progress io.Writer
}

// DefaultOptions are those of `make soak`.
func DefaultOptions() Options {
	return Options{
		Duration:         10 * time.Minute,
		ExternalServices: 200,
		QueryRate:        100,
		ChurnInterval:    500 * time.Millisecond,
		Disruptions:      AllDisruptions,
		Outage:           30 * time.Second,
		GrowthChecks:     true,
		Baseline:         2 * time.Minute,
	}
}

// check says what to change in options that cannot run.
func (o Options) check() error {
	var errs []error
	if o.Duration < 10*time.Second {
		errs = append(errs, fmt.Errorf("duration %s: give at least 10s", o.Duration))
	}
	if o.ExternalServices < 3 {
		errs = append(errs, fmt.Errorf("%d ExternalServices: give at least 3 (two stay put as gateway sources)", o.ExternalServices))
	}
	if o.QueryRate < 1 || o.QueryRate > 2000 {
		errs = append(errs, fmt.Errorf("query rate %d: give 1 to 2000 a second", o.QueryRate))
	}
	if o.ChurnInterval <= 0 {
		errs = append(errs, fmt.Errorf("churn interval %s: give a positive duration", o.ChurnInterval))
	}
	if o.Outage <= 0 && containsDisruption(o.Disruptions, APIOutage) {
		errs = append(errs, fmt.Errorf("API outage of %s: give a positive duration", o.Outage))
	}
	if o.GrowthChecks && o.Baseline >= o.Duration {
		errs = append(errs, fmt.Errorf("baseline at %s is not before the end (%s): shorten it or lengthen the run", o.Baseline, o.Duration))
	}
	return errors.Join(errs...)
}

func containsDisruption(ds []Disruption, d Disruption) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

// The addresses the run tells apart.
var (
	serviceRange  = netip.MustParsePrefix(localcluster.ServiceCIDR)
	upstreamAddrs = map[string]bool{embedded.UpstreamIPv4: true, netip.MustParseAddr(embedded.UpstreamIPv6).String(): true}
)

// slotName is the object name of slot i's first claimant.
func slotName(i int) string { return fmt.Sprintf("soak-%03d", i) }

// dnsName is slot i's name, under the domain the stand-in for the internet
// answers.
func dnsName(i int) string { return fmt.Sprintf("soak-%03d.%s", i, embedded.ExternalDomain) }

// unmanagedName is a name no ExternalService claims.
func unmanagedName(i int) string { return fmt.Sprintf("free-%03d.%s", i, embedded.ExternalDomain) }
