// The finalizer: added on the first pass, removed once the gateway and
// then its NetworkPolicies are gone, so a gateway pod is never left
// without the policies that fence it.

package controllers

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// ensureFinalizer adds the finalizer to es unless it is there: the
// admission policy in config/admission adds it at creation where it is
// installed, and this patch is the fallback. The update it causes starts
// no pass of its own (see externalServiceChanged).
func (r *Reconciler) ensureFinalizer(ctx context.Context, es *egressv1.ExternalService) error {
	if controllerutil.ContainsFinalizer(es, egressv1.Finalizer) {
		return nil
	}
	patch := client.MergeFrom(es.DeepCopy())
	controllerutil.AddFinalizer(es, egressv1.Finalizer)
	if err := r.Client.Patch(ctx, es, patch); err != nil {
		return fmt.Errorf("add finalizer: %w", err)
	}
	return nil
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
	policies, err := r.listChildren(ctx, networkPolicyKind, es.Name)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("list NetworkPolicies: %w", err)
	}
	if len(policies) > 0 {
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
