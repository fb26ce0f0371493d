package soak

import (
	"context"
	"fmt"
	"time"

	"github.com/egressgate/egressgate/conformance/embedded"
)

// The disruptions, run one after another from 30% of the run on, each
// followed by a gap of steady load. While one runs, queries are counted
// under its phase and no change has a deadline; after the API outage the
// phase is "recovery" until every pending change has settled.

// operatorSettleTimeout bounds the wait for the operator to drain its
// queue after a restart or handover (the conformance suite's Recovery).
const operatorSettleTimeout = 2 * time.Minute

// DisruptionResult is what one disruption took.
type DisruptionResult struct {
	Disruption string
	// Took is from its start until the system was back (operator leading
	// with an empty queue, istiod ready, API server ready).
	Took time.Duration
	Note string
}

// disrupt runs the disruptions of o at their times, setting the phase.
func (r *runner) disrupt(ctx context.Context, loadStart time.Time) error {
	gap := max(3*time.Second, r.o.Duration/20)
	if !sleepUntil(ctx, loadStart.Add(r.o.Duration*3/10)) {
		return nil
	}
	for _, d := range r.o.Disruptions {
		r.setPhase(d.phase())
		r.dis.begin()
		start := time.Now()
		// Once begun, a disruption runs to its end (the API server must
		// come back) even if the run's time is up.
		note, err := r.runDisruption(context.WithoutCancel(ctx), d)
		r.dis.end(allowance(d), d == APIOutage)
		if err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
		r.results = append(r.results, DisruptionResult{Disruption: d.String(), Took: time.Since(start), Note: note})
		fmt.Fprintf(r.o.Progress, "   %-20s done in %.1fs %s\n", d, time.Since(start).Seconds(), note)
		if d != IstiodRestart {
			// A new operator process: after a restart or handover, and
			// after an outage too (a leader that cannot renew its lease
			// exits and is started again).
			r.rebaseOperatorAt(time.Now().Add(time.Minute))
		}
		if d == APIOutage {
			// Recovery: until the changes made before the API server came
			// back have settled, and one made after it has too (the
			// operator reconciles again).
			r.setPhase(phaseRecovery)
			back := time.Now()
			for ctx.Err() == nil && time.Since(back) < outageRecovery+settleBound &&
				(r.churn.pendingBefore(back) > 0 || !r.settle.changeSettledAfter(back)) {
				time.Sleep(probeEvery)
			}
			fmt.Fprintf(r.o.Progress, "   %-20s done in %.1fs\n", phaseRecovery, time.Since(back).Seconds())
		}
		r.setPhase(phaseSteady)
		if !sleepUntil(ctx, time.Now().Add(gap)) {
			return nil
		}
	}
	return nil
}

func allowance(d Disruption) time.Duration {
	if d == APIOutage {
		return outageRecovery
	}
	return 0
}

// runDisruption runs one disruption and waits until the system is back.
func (r *runner) runDisruption(ctx context.Context, d Disruption) (string, error) {
	h := r.h
	switch d {
	case OperatorRestart:
		if _, err := h.RestartOperator(ctx); err != nil {
			return "", err
		}
		return "", h.WaitOperatorSettled(ctx, 1, operatorSettleTimeout)
	case LeaderHandover:
		return r.handover(ctx, h)
	case IstiodRestart:
		return "", h.Cluster.RestartIstiod(ctx)
	case APIOutage:
		r.churn.writes.Lock() // no change in flight when the API server stops
		defer r.churn.writes.Unlock()
		if err := h.StopAPIServer(); err != nil {
			return "", err
		}
		time.Sleep(r.o.Outage)
		if err := h.StartAPIServer(ctx); err != nil {
			return "", err
		}
		if err := r.watch(r.watchCtx); err != nil {
			return "", fmt.Errorf("watch again after the outage: %w", err)
		}
		return fmt.Sprintf("(down %s)", r.o.Outage), nil
	}
	return "", fmt.Errorf("unknown disruption %d", d)
}

// handover kills the leader, waits until the other replica leads and has
// drained its queue, then brings the killed one back as a follower.
func (r *runner) handover(ctx context.Context, h *embedded.Harness) (string, error) {
	old, err := h.KillLeader(ctx)
	if err != nil {
		return "", err
	}
	start := time.Now()
	leader, err := h.Leader(ctx)
	if err != nil {
		return "", err
	}
	if leader == old {
		return "", fmt.Errorf("the killed replica %s still leads", old)
	}
	took := time.Since(start)
	if err := h.WaitOperatorSettled(ctx, 1, operatorSettleTimeout); err != nil {
		return "", err
	}
	if err := h.ResumeOperator(); err != nil {
		return "", err
	}
	return fmt.Sprintf("(%s took over from %s in %.1fs)", leader, old, took.Seconds()), nil
}

// sleepUntil waits until t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}
