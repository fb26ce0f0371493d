package soak

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// maxNoAnswerRatio is the share of queries that may time out: CoreDNS runs
// on a loaded 2-core machine beside the whole control plane, where a UDP
// reply can be late; more than this is a fault.
const maxNoAnswerRatio = 0.01

// Report is what a run found.
type Report struct {
	Options Options
	// ClientSource is the address client queries came from; SourceNote
	// says what it is.
	ClientSource, SourceNote string
	// Setup is how long making every slot's first ExternalService took,
	// until each answered as intended.
	Setup time.Duration
	// Phases counts the answers by phase; Total sums them.
	Phases []PhaseCounts
	Total  PhaseCounts
	// Skipped are ticks of the load that found every query slot busy.
	Skipped int64
	// Settle is p50, p90, p99 and max of the settle times of the Settled
	// changes no disruption (or the recovery allowed after it) overlapped;
	// DisruptedSettle the same for the DisruptedSettled others (their bound
	// starts at the end of that allowance);
	// SetupSettle for the setup's creations.
	Settle, DisruptedSettle, SetupSettle [4]time.Duration
	Settled, DisruptedSettled            int
	// Missed changes did not settle within their bound.
	Missed int
	// Operations counts the changes made, by kind.
	Operations  map[string]int
	Disruptions []DisruptionResult
	// Operator and CoreDNS are the processes' readings (GrowthChecks only).
	Operator, CoreDNS Growth
	// Failures lists every fault found; empty when the run passed.
	Failures []string
}

// report gathers the run's figures and judges them.
func (r *runner) report(rep Report) Report {
	rep.Phases = r.load.tally.snapshot()
	rep.Total = total(rep.Phases)
	rep.Skipped = r.load.skipped.Load()
	r.settle.mu.Lock()
	rep.Settle, rep.DisruptedSettle = percentiles(r.settle.steady), percentiles(r.settle.disrupted)
	rep.SetupSettle = percentiles(r.settle.setup)
	rep.Settled, rep.DisruptedSettled, rep.Missed = len(r.settle.steady), len(r.settle.disrupted), r.settle.missed
	missed := slices.Clone(r.settle.failures)
	r.settle.mu.Unlock()
	r.churn.mu.Lock()
	rep.Operations = maps.Clone(r.churn.ops)
	r.churn.mu.Unlock()
	rep.Disruptions = r.results
	rep.Operator, rep.CoreDNS = r.operator, r.corednsGr

	t := r.load.tally
	t.mu.Lock()
	defer t.mu.Unlock()
	if rep.Total.Leaks > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("SECURITY: %d answers carried an upstream address for a hijacked name to a client, e.g.:\n    %s",
			rep.Total.Leaks, strings.Join(t.leaks, "\n    ")))
	}
	if rep.Total.Wrong > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d answers differed from the model for longer than %s after its last change (%s after the API server came back), e.g.:\n    %s",
			rep.Total.Wrong, followBound, reconnectAllowance, strings.Join(t.failures, "\n    ")))
	}
	if rep.Missed > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d changes did not show in DNS within %s, e.g.:\n    %s",
			rep.Missed, settleBound, strings.Join(missed, "\n    ")))
	}
	if float64(rep.Total.NoAnswer) > maxNoAnswerRatio*float64(rep.Total.Queries) {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d of %d queries got no answer within %s (more than %.0f%%), e.g.:\n    %s",
			rep.Total.NoAnswer, rep.Total.Queries, queryTimeout, 100*maxNoAnswerRatio, strings.Join(t.timeouts, "\n    ")))
	}
	if r.o.GrowthChecks {
		for _, g := range []struct {
			what string
			g    Growth
		}{{"the operator's", rep.Operator}, {"CoreDNS's", rep.CoreDNS}} {
			if g.g.Note == "" {
				rep.Failures = append(rep.Failures, growthViolations(g.what, g.g.Start, g.g.End)...)
			}
		}
	}
	return rep
}

// Print writes the report as tables.
func (rep Report) Print(w io.Writer) {
	o := rep.Options
	fmt.Fprintf(w, "\nsoak: %s of load after a %.0fs setup; %d ExternalServices, %d queries/s, a change every %s\n",
		o.Duration, rep.Setup.Seconds(), o.ExternalServices, o.QueryRate, o.ChurnInterval)
	fmt.Fprintf(w, "client source %s: %s\n\n", rep.ClientSource, rep.SourceNote)
	fmt.Fprintln(w, "| phase | queries | wrong | leaks | SERVFAIL | no answer | transitional |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, c := range append(slices.Clone(rep.Phases), rep.Total) {
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %d |\n", c.Phase, c.Queries, c.Wrong, c.Leaks, c.ServFails, c.NoAnswer, c.Transitional)
	}
	if rep.Skipped > 0 {
		fmt.Fprintf(w, "(%d ticks of the load skipped: %d queries in flight)\n", rep.Skipped, maxInFlight)
	}
	fmt.Fprintf(w, "\n| settle time (change → DNS answer) | changes | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|\n")
	row := func(what string, n int, p [4]time.Duration) {
		fmt.Fprintf(w, "| %s | %d | %.2fs | %.2fs | %.2fs | %.2fs |\n", what, n, p[0].Seconds(), p[1].Seconds(), p[2].Seconds(), p[3].Seconds())
	}
	row("churn, steady", rep.Settled, rep.Settle)
	row("churn, overlapping a disruption", rep.DisruptedSettled, rep.DisruptedSettle)
	row("setup (create)", o.ExternalServices, rep.SetupSettle)
	fmt.Fprintf(w, "missed (not within %s): %d\n", settleBound, rep.Missed)
	var ops []string
	for _, k := range slices.Sorted(maps.Keys(rep.Operations)) {
		ops = append(ops, fmt.Sprintf("%s %d", k, rep.Operations[k]))
	}
	fmt.Fprintf(w, "changes: %s\n\n", strings.Join(ops, ", "))
	for _, d := range rep.Disruptions {
		fmt.Fprintf(w, "- %s: back in %.1fs %s\n", d.Disruption, d.Took.Seconds(), d.Note)
	}
	if o.GrowthChecks {
		rep.printGrowth(w)
	}
	if len(rep.Failures) == 0 {
		fmt.Fprintln(w, "\nPASS")
		return
	}
	fmt.Fprintln(w, "\nFAIL:")
	for _, f := range rep.Failures {
		fmt.Fprintln(w, "- "+f)
	}
}

func (rep Report) printGrowth(w io.Writer) {
	fmt.Fprintf(w, "\n| process | heap metric | heap start | heap end | goroutines start | end | open fds start | end | read at |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, g := range []struct {
		what string
		g    Growth
	}{{"operator (leader)", rep.Operator}, {"CoreDNS", rep.CoreDNS}} {
		s, e := g.g.Start, g.g.End
		fmt.Fprintf(w, "| %s | %s | %.1f MiB | %.1f MiB | %.0f | %.0f | %.0f | %.0f | %s, %s |\n", g.what, e.HeapMetric,
			s.Heap/(1<<20), e.Heap/(1<<20), s.Goroutines, e.Goroutines, s.FDs, e.FDs, s.At.Format("15:04:05"), e.At.Format("15:04:05"))
	}
	for _, g := range []Growth{rep.Operator, rep.CoreDNS} {
		if g.Note != "" {
			fmt.Fprintln(w, "note: "+g.Note)
		}
	}
}
