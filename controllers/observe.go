// Observing: what the translator needs to know about the cluster, read
// afresh on every pass into one translate.Observed.

package controllers

import (
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/translate"
)

// observe gathers what the translator needs to know about the cluster.
func (r *Reconciler) observe(ctx context.Context, es *egressv1.ExternalService) (translate.Observed, error) {
	var o translate.Observed
	missing, err := r.ensureWatches()
	if err != nil {
		return o, err
	}
	o.MissingAPIs = missing
	o.DNSHijacked = meta.IsStatusConditionTrue(es.Status.Conditions, egressv1.ConditionDNSHijacked)
	if o.ConflictsWith, err = r.dnsNameOwner(ctx, es); err != nil {
		return o, err
	}
	if o.Gateway, err = r.gatewayProgrammed(ctx, es.Name); err != nil {
		return o, err
	}
	if o.AvailableReplicas, err = r.availableReplicas(ctx, es.Name); err != nil {
		return o, err
	}
	if o.Addresses, err = r.gatewayAddresses(ctx, es.Name); err != nil {
		return o, err
	}
	return o, nil
}

// dnsNameOwner names the other ExternalService that owns es's dnsName, or
// returns "" when es owns it.
func (r *Reconciler) dnsNameOwner(ctx context.Context, es *egressv1.ExternalService) (string, error) {
	var claimants egressv1.ExternalServiceList
	// The operator never writes a dnsName, so this list need not wait for
	// its own writes (status, finalizers) to reach the cache.
	if err := r.Client.List(ctx, &claimants, client.MatchingFields{dnsNameIndex: es.Spec.DnsName},
		client.DisableReadYourWritesConsistency); err != nil {
		return "", fmt.Errorf("list ExternalServices claiming %s: %w", es.Spec.DnsName, err)
	}
	all := make([]*egressv1.ExternalService, len(claimants.Items))
	for i := range claimants.Items {
		all[i] = &claimants.Items[i]
	}
	if owner := egressv1.DNSNameOwner(all); owner != nil && owner.Name != es.Name {
		return owner.Name, nil
	}
	return "", nil
}

// gatewayProgrammed is the Programmed condition of the Gateway called name,
// or nil while there is none for its current generation (or no Gateway,
// or no Gateway API).
func (r *Reconciler) gatewayProgrammed(ctx context.Context, name string) (*metav1.Condition, error) {
	if !r.served(gatewayKind) {
		return nil, nil
	}
	ns := r.Options.GatewayNamespace
	gw := &gwapiv1.Gateway{}
	switch err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, gw); {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get Gateway %s/%s: %w", ns, name, err)
	}
	if c := meta.FindStatusCondition(gw.Status.Conditions, string(gwapiv1.GatewayConditionProgrammed)); c != nil && c.ObservedGeneration >= gw.Generation {
		return c, nil
	}
	return nil, nil
}

// availableReplicas adds up the available replicas of the Deployments
// Istio made for the gateway called name.
func (r *Reconciler) availableReplicas(ctx context.Context, name string) (int32, error) {
	var deployments appsv1.DeploymentList
	if err := r.Client.List(ctx, &deployments, client.InNamespace(r.Options.GatewayNamespace),
		client.MatchingLabels{egressv1.LabelGatewayName: name}, client.DisableReadYourWritesConsistency); err != nil {
		return 0, fmt.Errorf("list gateway Deployments: %w", err)
	}
	var available int32
	for _, d := range deployments.Items {
		available += d.Status.AvailableReplicas
	}
	return available, nil
}

// gatewayAddresses are the ClusterIPs, sorted, of the Services Istio made
// for the gateway called name.
func (r *Reconciler) gatewayAddresses(ctx context.Context, name string) ([]string, error) {
	var services corev1.ServiceList
	if err := r.Client.List(ctx, &services, client.InNamespace(r.Options.GatewayNamespace),
		client.MatchingLabels{egressv1.LabelGatewayName: name}, client.DisableReadYourWritesConsistency); err != nil {
		return nil, fmt.Errorf("list gateway Services: %w", err)
	}
	var addresses []string
	for _, s := range services.Items {
		for _, ip := range s.Spec.ClusterIPs {
			if ip != "" && ip != corev1.ClusterIPNone {
				addresses = append(addresses, ip)
			}
		}
	}
	slices.Sort(addresses)
	return addresses, nil
}
