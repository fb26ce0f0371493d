package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/egressgate/egressgate/conformance/embedded"
	"github.com/egressgate/egressgate/internal/crdpaths"
)

// setupTimeout bounds the setup: every slot's first ExternalService made and
// answering as intended.
const setupTimeout = 10 * time.Minute

// runner is one run's state, shared by the goroutines of Run.
type runner struct {
	o      Options
	h      *embedded.Harness
	model  *model
	churn  *churner
	load   *loader
	dis    *disruptions
	settle *settled
	phaseV atomic.Int32

	results   []DisruptionResult
	stopWatch context.CancelFunc
	watchCtx  context.Context

	growthMu  sync.Mutex
	rebaseAt  time.Time
	operator  Growth
	corednsGr Growth
}

func (r *runner) setPhase(p phase) { r.phaseV.Store(int32(p)) }
func (r *runner) phase() phase     { return phase(r.phaseV.Load()) }

func (r *runner) rebaseOperatorAt(t time.Time) {
	r.growthMu.Lock()
	defer r.growthMu.Unlock()
	r.rebaseAt = t
}

// Run starts the embedded cluster, runs the soak described by o and
// returns its report. The error is for a run that could not be carried
// out; a run that found faults returns a Report whose Failures name them.
func Run(ctx context.Context, o Options) (Report, error) {
	if err := o.check(); err != nil {
		return Report{}, fmt.Errorf("soak options: %w", err)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	fmt.Fprintln(o.Progress, ">> starting the embedded cluster (API server, istiod, kwok, two operator replicas, CoreDNS)")
	h, err := embedded.Start(ctx, o.Progress)
	if err != nil {
		return Report{}, err
	}
	defer func() { _ = h.Stop() }()
	r := &runner{o: o, h: h, model: newModel(), dis: &disruptions{}, settle: &settled{}}
	r.setPhase(phaseSetup)
	rep, err := r.run(ctx)
	if err != nil || len(rep.Failures) > 0 {
		if dir, kerr := keepLogs(h); kerr != nil {
			fmt.Fprintf(o.Progress, ">> could not keep the component logs: %v\n", kerr)
		} else {
			fmt.Fprintf(o.Progress, ">> component logs kept in %s\n", dir)
		}
	}
	return rep, err
}

// keepLogs copies the cluster's component logs to bin/soak-logs.
func keepLogs(h *embedded.Harness) (string, error) {
	root, err := crdpaths.RepoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "bin", "soak-logs")
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	return dir, os.CopyFS(dir, os.DirFS(filepath.Join(h.Cluster.Dir, "logs")))
}

// run does the setup, the load with churn and disruptions, and the end.
func (r *runner) run(ctx context.Context) (Report, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.watchCtx = ctx
	if err := r.watch(ctx); err != nil {
		return Report{}, err
	}
	rep := Report{Options: r.o}
	client, note, err := r.clientAddress(ctx)
	if err != nil {
		return rep, err
	}
	rep.ClientSource, rep.SourceNote = client, note
	r.load = &loader{
		server: r.h.DNSServer, client: client, model: r.model, names: r.randomName,
		phase: r.phase, apiBack: r.dis.lastAPIBack,
		answers: make(chan answer, 100000), tally: newTally(),
	}
	if r.h.Cluster.PodIPsAreLocal {
		r.load.sources = &gatewaySources{}
	}
	r.churn = &churner{client: r.h.Cluster.Client, ops: map[string]int{}}

	loadCtx, stopLoad := context.WithCancel(context.WithoutCancel(ctx))
	loadDone := make(chan struct{})
	go func() { r.load.run(loadCtx, r.o.QueryRate); close(loadDone) }()
	defer func() { stopLoad(); <-loadDone }()
	probeCtx, stopProbe := context.WithCancel(ctx)
	probeDone := make(chan struct{})
	go func() {
		r.churn.probeLoop(probeCtx, r.load, r.dis, r.settle, func() bool { return r.phase() == phaseSetup })
		close(probeDone)
	}()
	defer func() { stopProbe(); <-probeDone }()

	setupStart := time.Now()
	if err := r.setup(ctx); err != nil {
		return rep, err
	}
	rep.Setup = time.Since(setupStart)
	fmt.Fprintf(r.o.Progress, ">> setup done in %.1fs; %s of load with churn and disruptions\n", rep.Setup.Seconds(), r.o.Duration)

	if err := r.soak(ctx); err != nil {
		return rep, err
	}
	fmt.Fprintln(r.o.Progress, ">> load over; waiting for the last changes to settle")
	r.waitSettled(ctx)
	if r.o.GrowthChecks {
		r.sampleEnd(ctx)
	}
	stopProbe()
	<-probeDone
	stopLoad()
	<-loadDone
	return r.report(rep), nil
}

// soak runs the load with churn, disruptions and the baseline readings for
// Options.Duration, and longer if the disruptions need it: each one runs,
// with the load around it, however slow the machine.
func (r *runner) soak(ctx context.Context) error {
	start := time.Now()
	r.setPhase(phaseSteady)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		cancel()
	}
	disrupted := make(chan struct{})
	go func() {
		defer close(disrupted)
		if err := r.disrupt(ctx, start); err != nil {
			fail(err)
		}
	}()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	for _, f := range []func(context.Context) error{
		func(ctx context.Context) error {
			return r.churn.loop(ctx, r.o.ChurnInterval, func() bool { return r.phase() == phaseAPIOutage })
		},
		func(ctx context.Context) error { return r.sampleBaselines(ctx, start) },
		r.refreshSources,
	} {
		wg.Go(func() {
			if err := f(loadCtx); err != nil {
				fail(err)
			}
		})
	}
	sleepUntil(ctx, start.Add(r.o.Duration))
	<-disrupted
	stopLoad()
	wg.Wait()
	r.setPhase(phaseSteady)
	return errors.Join(errs...)
}

// waitSettled waits, with the churn stopped, until every pending change has
// settled or missed its deadline.
func (r *runner) waitSettled(ctx context.Context) {
	for ctx.Err() == nil && r.churn.pendingBefore(time.Now().Add(time.Hour)) > 0 {
		time.Sleep(probeEvery)
	}
}
