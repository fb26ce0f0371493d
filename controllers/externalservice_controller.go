// Package controllers holds the ExternalService reconciler: it reads an
// ExternalService and what Istio made of its gateway, asks the pure
// translate package for the desired children, applies them with
// server-side apply under one field manager, prunes the rest and writes
// status once per pass.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/translate"
)

// dnsNameIndex indexes ExternalServices by spec.dnsName to find claimants.
const dnsNameIndex = "spec.dnsName"

// requeueWhileWaiting paces passes that wait for something no watch reports:
// gateway pods going away, or a CRD being installed.
const requeueWhileWaiting = 5 * time.Second

// +kubebuilder:rbac:groups=egress.monzo.com,resources=externalservices,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=egress.monzo.com,resources=externalservices/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=egress.monzo.com,resources=externalservices/finalizers,verbs=update
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gateways;tlsroutes;tcproutes,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.istio.io,resources=serviceentries;destinationrules,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services;pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// Leader election records its events through the core API.
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete

// Reconciler reconciles ExternalServices.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads the API server directly, for gateway pods during
	// deletion (they are not cached).
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Options   translate.Options
	// Concurrency is how many ExternalServices are reconciled at once.
	Concurrency int

	mapper     meta.RESTMapper
	controller controller.Controller
	mgr        ctrl.Manager

	mu      sync.Mutex
	watched map[string]bool // child kinds with a watch, by childKind.String()
}

// SetupWithManager registers the controller, its index and the watches of
// every child kind the cluster serves now. Kinds installed later are watched
// from the first pass that finds them served.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.mgr = mgr
	r.mapper = mgr.GetRESTMapper()
	r.watched = map[string]bool{}
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
		var peers egressv1.ExternalServiceList
		if err := r.Client.List(ctx, &peers, client.MatchingFields{dnsNameIndex: es.Spec.DnsName}); err != nil {
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
		src := source.Kind(r.mgr.GetCache(), k.newObj(),
			handler.EnqueueRequestForOwner(r.mgr.GetScheme(), r.mapper, &egressv1.ExternalService{}, handler.OnlyControllerOwner()))
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

// Reconcile brings one ExternalService's children and status in line.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	es := &egressv1.ExternalService{}
	if err := r.Client.Get(ctx, req.NamespacedName, es); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !es.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, es)
	}
	if !controllerutil.ContainsFinalizer(es, egressv1.Finalizer) {
		patch := client.MergeFrom(es.DeepCopy())
		controllerutil.AddFinalizer(es, egressv1.Finalizer)
		if err := r.Client.Patch(ctx, es, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}

	observed, err := r.observe(ctx, es)
	if err != nil {
		return ctrl.Result{}, err
	}
	res := translate.Translate(es, r.Options, observed)
	defer func() {
		if statusErr := r.writeStatus(ctx, es, res); statusErr != nil {
			err = errors.Join(err, statusErr)
		}
	}()

	if err := r.apply(ctx, res.Objects); err != nil {
		return ctrl.Result{}, err
	}
	waiting, err := r.prune(ctx, es.Name, res.Objects)
	if err != nil {
		return ctrl.Result{}, err
	}
	if waiting || len(observed.MissingAPIs) > 0 {
		return ctrl.Result{RequeueAfter: requeueWhileWaiting}, nil
	}
	return ctrl.Result{}, nil
}

// observe gathers what the translator needs to know about the cluster.
func (r *Reconciler) observe(ctx context.Context, es *egressv1.ExternalService) (translate.Observed, error) {
	var o translate.Observed
	missing, err := r.ensureWatches()
	if err != nil {
		return o, err
	}
	o.MissingAPIs = missing
	o.DNSHijacked = meta.IsStatusConditionTrue(es.Status.Conditions, egressv1.ConditionDNSHijacked)

	var claimants egressv1.ExternalServiceList
	if err := r.Client.List(ctx, &claimants, client.MatchingFields{dnsNameIndex: es.Spec.DnsName}); err != nil {
		return o, fmt.Errorf("list ExternalServices claiming %s: %w", es.Spec.DnsName, err)
	}
	all := make([]*egressv1.ExternalService, len(claimants.Items))
	for i := range claimants.Items {
		all[i] = &claimants.Items[i]
	}
	if owner := egressv1.DNSNameOwner(all); owner != nil && owner.Name != es.Name {
		o.ConflictsWith = owner.Name
	}

	ns := r.Options.GatewayNamespace
	if r.served(gatewayKind) {
		gw := &gwapiv1.Gateway{}
		switch err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: es.Name}, gw); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return o, fmt.Errorf("get Gateway %s/%s: %w", ns, es.Name, err)
		default:
			if c := meta.FindStatusCondition(gw.Status.Conditions, string(gwapiv1.GatewayConditionProgrammed)); c != nil && c.ObservedGeneration >= gw.Generation {
				o.Gateway = c
			}
		}
	}

	byGateway := client.MatchingLabels{egressv1.LabelGatewayName: es.Name}
	var deployments appsv1.DeploymentList
	if err := r.Client.List(ctx, &deployments, client.InNamespace(ns), byGateway); err != nil {
		return o, fmt.Errorf("list gateway Deployments: %w", err)
	}
	for _, d := range deployments.Items {
		o.AvailableReplicas += d.Status.AvailableReplicas
	}
	var services corev1.ServiceList
	if err := r.Client.List(ctx, &services, client.InNamespace(ns), byGateway); err != nil {
		return o, fmt.Errorf("list gateway Services: %w", err)
	}
	for _, s := range services.Items {
		for _, ip := range s.Spec.ClusterIPs {
			if ip != "" && ip != corev1.ClusterIPNone {
				o.Addresses = append(o.Addresses, ip)
			}
		}
	}
	slices.Sort(o.Addresses)
	return o, nil
}

// apply server-side applies the desired children in order, skipping those
// already up to date. It stops at the first failure, so a Gateway is never
// applied without its NetworkPolicies.
func (r *Reconciler) apply(ctx context.Context, objects []client.Object) error {
	for _, obj := range objects {
		gvk := obj.GetObjectKind().GroupVersionKind()
		kind, ok := kindOf(gvk)
		if !ok {
			return fmt.Errorf("translator produced an unknown kind %s", gvk)
		}
		if kind.optional && !r.served(kind) {
			continue
		}
		desired, err := ApplyConfiguration(obj)
		if err != nil {
			return err
		}
		existing := kind.newObj()
		err = r.Client.Get(ctx, client.ObjectKeyFromObject(obj), existing)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("get %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(obj), err)
		default:
			m, err := toMap(existing)
			if err != nil {
				return err
			}
			if upToDate(desired, &unstructured.Unstructured{Object: m}) {
				continue
			}
		}
		// The body is the unstructured form; the target is typed, so the
		// client's read-your-writes tracking uses the same typed cache the
		// reads above use.
		body, err := desired.MarshalJSON()
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(obj), err)
		}
		target := kind.newObj()
		target.SetNamespace(obj.GetNamespace())
		target.SetName(obj.GetName())
		if err := r.Client.Patch(ctx, target, client.RawPatch(types.ApplyPatchType, body),
			client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(obj), err)
		}
	}
	return nil
}

// prune deletes the children of name that are no longer desired. A
// NetworkPolicy goes only once no gateway pod or Deployment is left, so
// waiting is true while one must still be waited for.
func (r *Reconciler) prune(ctx context.Context, name string, desired []client.Object) (waiting bool, err error) {
	want := map[string]bool{}
	for _, o := range desired {
		want[o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName()] = true
	}
	for _, k := range childKinds {
		if k.optional && !r.served(k) {
			continue
		}
		list := k.newList()
		if err := r.Client.List(ctx, list, client.InNamespace(r.Options.GatewayNamespace),
			client.MatchingLabels{egressv1.LabelExternalService: name}); err != nil {
			return false, fmt.Errorf("list %s: %w", k, err)
		}
		for _, child := range k.items(list) {
			if want[k.gvk.Kind+"/"+child.GetName()] || !child.GetDeletionTimestamp().IsZero() {
				continue
			}
			if k.gvk.Kind == "NetworkPolicy" {
				gone, err := r.gatewayGone(ctx, name)
				if err != nil {
					return false, err
				}
				if !gone {
					waiting = true
					continue
				}
			}
			if err := r.Client.Delete(ctx, child); client.IgnoreNotFound(err) != nil {
				return false, fmt.Errorf("delete %s %s/%s: %w", k.gvk.Kind, child.GetNamespace(), child.GetName(), err)
			}
		}
	}
	return waiting, nil
}

// gatewayGone reports whether no Gateway, Deployment or pod of the gateway
// called name is left.
func (r *Reconciler) gatewayGone(ctx context.Context, name string) (bool, error) {
	ns := r.Options.GatewayNamespace
	if r.served(gatewayKind) {
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &gwapiv1.Gateway{})
		if err == nil {
			return false, nil
		}
		if !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("get Gateway %s/%s: %w", ns, name, err)
		}
	}
	byGateway := client.MatchingLabels{egressv1.LabelGatewayName: name}
	var deployments appsv1.DeploymentList
	if err := r.Client.List(ctx, &deployments, client.InNamespace(ns), byGateway); err != nil {
		return false, fmt.Errorf("list gateway Deployments: %w", err)
	}
	if len(deployments.Items) > 0 {
		return false, nil
	}
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(ns), byGateway, client.Limit(1)); err != nil {
		return false, fmt.Errorf("list gateway pods: %w", err)
	}
	return len(pods.Items) == 0, nil
}

// finalize removes the gateway before its NetworkPolicies, then lets the
// ExternalService go.
func (r *Reconciler) finalize(ctx context.Context, es *egressv1.ExternalService) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(es, egressv1.Finalizer) {
		return ctrl.Result{}, nil
	}
	waiting, err := r.prune(ctx, es.Name, nil)
	if err != nil {
		return ctrl.Result{}, err
	}
	if waiting {
		log.FromContext(ctx).Info("waiting for the gateway's pods to go before removing its NetworkPolicies")
		return ctrl.Result{RequeueAfter: requeueWhileWaiting}, nil
	}
	var policies networkingv1.NetworkPolicyList
	if err := r.Client.List(ctx, &policies, client.InNamespace(r.Options.GatewayNamespace),
		client.MatchingLabels{egressv1.LabelExternalService: es.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list NetworkPolicies: %w", err)
	}
	if len(policies.Items) > 0 {
		// Deleted above; wait until the cache sees them go.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	patch := client.MergeFrom(es.DeepCopy())
	controllerutil.RemoveFinalizer(es, egressv1.Finalizer)
	if err := r.Client.Patch(ctx, es, patch); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
	}
	return ctrl.Result{}, nil
}

// writeStatus writes status when, and only when, it changed, and records an
// Event for every condition that changed status.
func (r *Reconciler) writeStatus(ctx context.Context, es *egressv1.ExternalService, res translate.Result) error {
	next := es.DeepCopy()
	next.Status.ObservedGeneration = es.Generation
	next.Status.Addresses = res.Addresses
	for _, c := range res.Conditions {
		meta.SetStatusCondition(&next.Status.Conditions, c)
	}
	if equality.Semantic.DeepEqual(es.Status, next.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, next, client.MergeFrom(es)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("write status: %w", err)
	}
	for _, c := range res.Conditions {
		old := meta.FindStatusCondition(es.Status.Conditions, c.Type)
		if old != nil && old.Status == c.Status {
			continue
		}
		warning := (c.Type == egressv1.ConditionAccepted && c.Status == metav1.ConditionFalse) ||
			(c.Type == egressv1.ConditionConflicted && c.Status == metav1.ConditionTrue)
		// A first pass sets every condition; only a problem is news then.
		if old == nil && !warning {
			continue
		}
		eventType := corev1.EventTypeNormal
		if warning {
			eventType = corev1.EventTypeWarning
		}
		if r.Recorder != nil {
			r.Recorder.Eventf(es, nil, eventType, c.Reason, c.Type, "%s=%s: %s", c.Type, c.Status, c.Message)
		}
	}
	return nil
}
