// Setting the controller up: its dnsName index, the watches of
// ExternalServices and of what Istio makes for a gateway, and the watches
// of child kinds, added as their CRDs are found served.

package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// dnsNameIndex indexes ExternalServices by spec.dnsName to find claimants.
const dnsNameIndex = "spec.dnsName"

// SetupWithManager registers the controller, its index and the watches of
// every child kind the cluster serves now. Kinds installed later are watched
// from the first pass that finds them served.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.mgr = mgr
	r.mapper = mgr.GetRESTMapper()
	r.watched = map[string]bool{}
	r.children = map[string]*childNames{}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &egressv1.ExternalService{}, dnsNameIndex,
		func(o client.Object) []string { return []string{o.(*egressv1.ExternalService).Spec.DnsName} }); err != nil {
		return fmt.Errorf("index ExternalServices by dnsName: %w", err)
	}
	ownedByLabel := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		name := o.GetLabels()[egressv1.LabelGatewayName]
		if name == "" || o.GetNamespace() != r.Options.GatewayNamespace {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
	})
	c, err := ctrl.NewControllerManagedBy(mgr).
		Named("externalservice").
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.Concurrency)}).
		WatchesRawSource(source.Kind(mgr.GetCache(), &egressv1.ExternalService{}, r.claimantsHandler())).
		Watches(&appsv1.Deployment{}, ownedByLabel).
		Watches(&corev1.Service{}, ownedByLabel).
		Build(r)
	if err != nil {
		return fmt.Errorf("build the ExternalService controller: %w", err)
	}
	r.controller = c
	_, err = r.ensureWatches()
	return err
}

// claimantsHandler enqueues an ExternalService and every other one that
// claims its old or new dnsName, so a conflict resolves when the winner
// changes or goes.
func (r *Reconciler) claimantsHandler() handler.TypedEventHandler[*egressv1.ExternalService, reconcile.Request] {
	enqueue := func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], es *egressv1.ExternalService) {
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Name: es.Name}})
		// This runs on the informer's goroutine: waiting here for the
		// operator's own writes would hold every other event back.
		var peers egressv1.ExternalServiceList
		if err := r.Client.List(ctx, &peers, client.MatchingFields{dnsNameIndex: es.Spec.DnsName},
			client.DisableReadYourWritesConsistency); err != nil {
			return
		}
		for _, p := range peers.Items {
			q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Name: p.Name}})
		}
	}
	return handler.TypedFuncs[*egressv1.ExternalService, reconcile.Request]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[*egressv1.ExternalService], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.Object)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*egressv1.ExternalService], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if !externalServiceChanged(e.ObjectOld, e.ObjectNew) {
				return
			}
			enqueue(ctx, q, e.ObjectNew)
			if e.ObjectOld.Spec.DnsName != e.ObjectNew.Spec.DnsName {
				enqueue(ctx, q, e.ObjectOld)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[*egressv1.ExternalService], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.Object)
		},
		GenericFunc: func(ctx context.Context, e event.TypedGenericEvent[*egressv1.ExternalService], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.Object)
		},
	}
}

// externalServiceChanged reports whether an update can change what a pass
// does: a new generation (the spec), the start of deletion, or the
// finalizer gone. Status writes and the finalizer being added, which every
// first pass makes, start no second pass.
func externalServiceChanged(old, updated *egressv1.ExternalService) bool {
	return old.Generation != updated.Generation ||
		!old.DeletionTimestamp.Equal(updated.DeletionTimestamp) ||
		!controllerutil.ContainsFinalizer(updated, egressv1.Finalizer)
}

// notOwnCreate drops the create events of children an ExternalService
// controls: the operator made them, and the pass that applied them needs no
// other (at start-up the ExternalServices' own events start every pass). A
// child's updates and deletes, and creates of anything else, still start a
// pass.
var notOwnCreate = predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool { return ownerOf(e.Object) == "" },
}

// ensureWatches watches every child kind the cluster serves and returns the
// ones it does not serve.
func (r *Reconciler) ensureWatches() (missing []string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range childKinds {
		if r.watched[k.String()] {
			continue
		}
		if _, err := r.mapper.RESTMapping(k.gvk.GroupKind(), k.gvk.Version); err != nil {
			if meta.IsNoMatchError(err) {
				missing = append(missing, k.String())
				continue
			}
			return nil, fmt.Errorf("look up %s: %w", k, err)
		}
		names, err := watchChildren(context.Background(), r.mgr.GetCache(), k)
		if err != nil {
			return nil, fmt.Errorf("follow the children of kind %s: %w", k, err)
		}
		r.children[k.String()] = names
		src := source.Kind(r.mgr.GetCache(), k.cached(),
			handler.EnqueueRequestForOwner(r.mgr.GetScheme(), r.mapper, &egressv1.ExternalService{}, handler.OnlyControllerOwner()),
			notOwnCreate)
		if err := r.controller.Watch(src); err != nil {
			return nil, fmt.Errorf("watch %s: %w", k, err)
		}
		r.watched[k.String()] = true
	}
	return missing, nil
}

func (r *Reconciler) served(k childKind) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.watched[k.String()]
}
