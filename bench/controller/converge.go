package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/testenv"
)

// (a): the operator converges n ExternalServices that clients concurrent
// clients create, then a restarted operator passes over them all.

// childKinds are the kinds of the children, for the watches.
var childKinds = []schema.GroupVersionKind{
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicyList"},
	{Version: "v1", Kind: "ConfigMapList"},
	{Group: "networking.istio.io", Version: "v1", Kind: "ServiceEntryList"},
	{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "GatewayList"},
	{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "TLSRouteList"},
	{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "TCPRouteList"},
}

// operator is (a) and the no-op pass after it.
func (b *bench) operator(ctx context.Context, r *results) error {
	if !*noPolicy {
		if err := applyManifests(ctx, b.env.Client, filepath.Join(b.root, "config", "admission", "finalizer.yaml")); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, ">> (a) the operator converges %d ExternalServices created by %d clients\n", b.n, clients)
	op, err := startOperator(b.operatorBin, b.kubeconfig, b.dir)
	if err != nil {
		return err
	}
	defer op.stop()
	if err := op.waitIdle(ctx, 0, 0); err != nil {
		return err
	}
	before, err := apiWrites(ctx, b.env.Config)
	if err != nil {
		return err
	}
	passes, requests := op.metric(ctx, "controller_runtime_reconcile_total"), op.total(ctx, "rest_client_requests_total")
	w, err := startWatching(ctx, b.env)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := forEach(ctx, b.n, func(ctx context.Context, i int) error {
		return b.env.Client.Create(ctx, service("es", i))
	}); err != nil {
		return err
	}
	if err := w.wait(ctx, b.n, b.n*childrenPerService); err != nil {
		return err
	}
	r.a = time.Since(start)
	if err := op.waitIdle(ctx, passes, float64(b.n)); err != nil {
		return err
	}
	after, err := apiWrites(ctx, b.env.Config)
	if err != nil {
		return err
	}
	r.writes = after.minus(before).per(b.n)
	r.passes = (op.metric(ctx, "controller_runtime_reconcile_total") - passes) / float64(b.n)
	r.requests = (op.total(ctx, "rest_client_requests_total") - requests) / float64(b.n)
	r.consistencyWait = op.histogramSum(ctx, "controller_runtime_client_consistency_wait_duration_seconds")
	if r.peakRSS, err = op.peakRSS(); err != nil {
		return err
	}
	op.stop()
	return b.noopPass(ctx, r, after)
}

// noopPass: a restarted operator reconciles all n again, over converged
// objects, and should write nothing.
func (b *bench) noopPass(ctx context.Context, r *results, before writes) error {
	fmt.Fprintf(os.Stderr, ">> no-op pass: a restarted operator reconciles all %d again\n", b.n)
	start := time.Now()
	op, err := startOperator(b.operatorBin, b.kubeconfig, b.dir)
	if err != nil {
		return err
	}
	defer op.stop()
	if err := op.waitIdle(ctx, 0, float64(b.n)); err != nil {
		return err
	}
	r.noopSeconds = time.Since(start).Seconds()
	r.noopRequests = op.total(ctx, "rest_client_requests_total") / float64(b.n)
	if rss, err := op.peakRSS(); err == nil && rss > r.peakRSS {
		r.peakRSS = rss
	}
	op.stop()
	after, err := apiWrites(ctx, b.env.Config)
	if err != nil {
		return err
	}
	r.noopWrites = after.minus(before).total()
	return nil
}

type kindEvent struct {
	kind string
	ev   watch.Event
}

// watcher sees, through watches, which ExternalServices have a status for
// their generation and which children exist.
type watcher struct {
	events chan kindEvent
	done   map[string]bool // ExternalServices with status
	seen   map[string]bool // children, by kind/name
}

func startWatching(ctx context.Context, env *testenv.Env) (*watcher, error) {
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		return nil, err
	}
	w := &watcher{events: make(chan kindEvent, 1024), done: map[string]bool{}, seen: map[string]bool{}}
	lists := []client.ObjectList{&egressv1.ExternalServiceList{}}
	for _, gvk := range childKinds {
		l := &metav1.PartialObjectMetadataList{}
		l.SetGroupVersionKind(gvk)
		lists = append(lists, l)
	}
	for _, l := range lists {
		go w.follow(ctx, wc, l)
	}
	return w, nil
}

// follow forwards the events of one watch, watching again when the server
// ends it (a new watch starts with every existing object).
func (w *watcher) follow(ctx context.Context, c client.WithWatch, list client.ObjectList) {
	for ctx.Err() == nil {
		wi, err := c.Watch(ctx, list.DeepCopyObject().(client.ObjectList), client.InNamespace(namespaceOf(list)))
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for ev := range wi.ResultChan() {
			select {
			case w.events <- kindEvent{list.GetObjectKind().GroupVersionKind().Kind, ev}:
			case <-ctx.Done():
			}
		}
		wi.Stop()
	}
}

func namespaceOf(list client.ObjectList) string {
	if _, ok := list.(*egressv1.ExternalServiceList); ok {
		return ""
	}
	return gatewayNamespace
}

// wait returns once services ExternalServices have a status and children
// children exist.
func (w *watcher) wait(ctx context.Context, services, children int) error {
	for len(w.done) < services || len(w.seen) < children {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d statuses, %d of %d children: %w", len(w.done), services, len(w.seen), children, ctx.Err())
		case ke := <-w.events:
			w.record(ke.kind, ke.ev)
		}
	}
	return nil
}

func (w *watcher) record(kind string, ev watch.Event) {
	switch o := ev.Object.(type) {
	case *egressv1.ExternalService:
		if meta.FindStatusCondition(o.Status.Conditions, egressv1.ConditionAccepted) != nil && o.Status.ObservedGeneration == o.Generation {
			w.done[o.Name] = true
		}
	case *metav1.PartialObjectMetadata:
		if ev.Type == watch.Added || ev.Type == watch.Modified {
			w.seen[kind+"/"+o.Name] = true
		}
	}
}

// applyManifests creates every object of a multi-document YAML file, then
// waits until the API server's admission adds the finalizer (a policy
// takes effect a moment after it is created).
func applyManifests(ctx context.Context, c client.Client, path string) error {
	if err := testenv.CreateFromFile(ctx, c, path); err != nil {
		return err
	}
	for {
		// Until the policy has the CRD's schema, creates fail: retry.
		probe := service("admission-probe", 0)
		err := c.Create(ctx, probe, client.DryRunAll)
		if err == nil && slices.Contains(probe.Finalizers, egressv1.Finalizer) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the admission policy adds no finalizer (%v): %w", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
