// Status: written once per pass, and only when it changed, with an Event
// for every condition that changed status.

package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/translate"
)

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
	r.recordEvents(es, res.Conditions)
	return nil
}

// recordEvents records an Event for every condition of conds whose status
// differs from es's.
func (r *Reconciler) recordEvents(es *egressv1.ExternalService, conds []metav1.Condition) {
	for _, c := range conds {
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
}
