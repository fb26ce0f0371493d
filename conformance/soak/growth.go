package soak

import (
	"context"
	"fmt"
	"time"
)

// Growth is the first and last reading of one process.
type Growth struct {
	Start, End Sample
	// Note says why the two were not compared, when they were not.
	Note string
}

// readings of both processes, with the churn paused so the moment is
// quiet; a reading that fails is reported in the Note, not as an error.
func (r *runner) read(ctx context.Context) (operator, coredns Sample, err error) {
	r.churn.writes.Lock()
	defer r.churn.writes.Unlock()
	if operator, err = sample(ctx, r.h.OperatorMetricsAddr); err != nil {
		return operator, coredns, fmt.Errorf("read the operator's metrics: %w", err)
	}
	coredns, err = sample(ctx, func(context.Context) (string, error) { return r.h.DNSMetrics, nil })
	if err != nil {
		return operator, coredns, fmt.Errorf("read CoreDNS's metrics: %w", err)
	}
	return operator, coredns, nil
}

// sampleBaselines takes the first readings at Options.Baseline after the
// load started, and the operator's again a minute after a restart or
// handover replaced its process (a new process's growth is measured from
// its own second minute).
func (r *runner) sampleBaselines(ctx context.Context, start time.Time) error {
	if !r.o.GrowthChecks {
		return nil
	}
	if !sleepUntil(ctx, start.Add(r.o.Baseline)) {
		return nil
	}
	for r.phase() != phaseSteady && sleepUntil(ctx, time.Now().Add(time.Second)) {
	}
	op, dns, err := r.read(ctx)
	r.growthMu.Lock()
	r.operator.Start, r.corednsGr.Start = op, dns
	if err != nil {
		r.operator.Note = err.Error()
	}
	r.growthMu.Unlock()
	for sleepUntil(ctx, time.Now().Add(time.Second)) {
		r.growthMu.Lock()
		due := !r.rebaseAt.IsZero() && time.Now().After(r.rebaseAt)
		r.growthMu.Unlock()
		if !due || r.phase() != phaseSteady {
			continue
		}
		op, _, err := r.read(ctx)
		r.growthMu.Lock()
		r.rebaseAt = time.Time{}
		if err == nil {
			r.operator.Start = op
		}
		r.growthMu.Unlock()
	}
	return nil
}

// sampleEnd takes the last readings.
func (r *runner) sampleEnd(ctx context.Context) {
	op, dns, err := r.read(ctx)
	r.growthMu.Lock()
	defer r.growthMu.Unlock()
	r.operator.End, r.corednsGr.End = op, dns
	switch {
	case err != nil:
		r.operator.Note = err.Error()
	case r.operator.Start.At.IsZero():
		r.operator.Note = "no baseline was read (the run ended first)"
	case r.operator.Start.Start != op.Start:
		r.operator.Note = "the leader at the end is not the process read as baseline (a restart came less than a minute before the end): not compared"
	}
	if r.corednsGr.Start.At.IsZero() {
		r.corednsGr.Note = "no baseline was read (the run ended first)"
	}
}
