// Package controllers holds the ExternalService reconciler: it reads an
// ExternalService and what Istio made of its gateway, asks the pure
// translate package for the desired children, applies them with
// server-side apply under one field manager, prunes the rest and writes
// status once per pass.
//
// Reconcile, in reconcile.go, lists the steps of a pass; each step has its
// own file: observe.go, apply.go, prune.go, status.go and finalize.go, with
// setup.go for the controller's index and watches.
package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/translate"
)

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
	// children are the names of each watched kind's children, by owner.
	children map[string]*childNames
	// verified are the children's resourceVersions known to be up to date.
	verified verifiedVersions
}

// Reconcile brings one ExternalService's children and status in line. It
// reads as the pass it runs: observe the cluster, translate, apply, prune;
// status is written once, on the way out, whatever happened.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	es := &egressv1.ExternalService{}
	if err := r.Client.Get(ctx, req.NamespacedName, es); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !es.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, es)
	}
	if err := r.ensureFinalizer(ctx, es); err != nil {
		return ctrl.Result{}, err
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
