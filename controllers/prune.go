// Pruning: the children of an ExternalService that the translator no
// longer asks for are deleted, the NetworkPolicies only once the gateway's
// pods are gone.

package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

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
		children, err := r.listChildren(ctx, k, name)
		if err != nil {
			return false, fmt.Errorf("list %s: %w", k, err)
		}
		for _, child := range children {
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
			r.verified.forget(k.gvk.Kind, client.ObjectKeyFromObject(child))
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
