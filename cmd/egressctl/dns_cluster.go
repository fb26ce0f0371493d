package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// The objects `dns enable` checks for, as config/coredns/rbac.yaml and the
// Helm chart name them, and the DNS servers it cannot work with.
const (
	rbacName          = "egressgate-coredns"
	nodeLocalDNS      = "node-local-dns" // NodeLocal DNSCache's DaemonSet
	kubeDNSDeployment = "kube-dns"       // GKE's DNS, which loads no plugins
	corefileKey       = "Corefile"
	// eksManager is the field manager of Amazon EKS add-ons: EKS applies an
	// add-on with server-side apply and documents its fields as "manager:
	// eks" (EKS user guide, "Determine fields you can customize for Amazon
	// EKS add-ons"). It overwrites them when the add-on is updated. The label
	// eks.amazonaws.com/component: coredns is on EKS's self-managed CoreDNS
	// too, so it alone does not make CoreDNS an add-on.
	eksManager = "eks"
	// addonModeLabel with the value Reconcile is the add-on manager's mark
	// (AKS, and clusters run with kube-addon-manager): it puts back every
	// change to the object.
	addonModeLabel = "addonmanager.kubernetes.io/mode"
)

// coreDNS is the cluster's CoreDNS: its Deployment, the container that runs
// CoreDNS, and its ConfigMap.
type coreDNS struct {
	dep       *appsv1.Deployment
	container int // index in dep's pod template
	cm        *corev1.ConfigMap
}

func (c *coreDNS) image() string    { return c.dep.Spec.Template.Spec.Containers[c.container].Image }
func (c *coreDNS) corefile() string { return c.cm.Data[corefileKey] }

// readCoreDNS reads the CoreDNS Deployment and ConfigMap o names.
func readCoreDNS(ctx context.Context, cs kubernetes.Interface, o *dnsOptions) (*coreDNS, error) {
	dep, err := cs.AppsV1().Deployments(o.namespace).Get(ctx, o.deployment, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if _, kerr := cs.AppsV1().Deployments(o.namespace).Get(ctx, kubeDNSDeployment, metav1.GetOptions{}); kerr == nil {
			return nil, fmt.Errorf("no CoreDNS Deployment %s/%s: this cluster's DNS is kube-dns (%s/%s, as on GKE), which cannot load plugins; egressgate's DNS half needs CoreDNS (on GKE, egressctl cannot switch the cluster's DNS)", o.namespace, o.deployment, o.namespace, kubeDNSDeployment)
		}
		return nil, fmt.Errorf("no CoreDNS Deployment %s/%s: pass --namespace and --deployment if your cluster's CoreDNS is named otherwise", o.namespace, o.deployment)
	}
	if err != nil {
		return nil, fmt.Errorf("read Deployment %s/%s: %w", o.namespace, o.deployment, err)
	}
	c := &coreDNS{dep: dep, container: -1}
	containers := dep.Spec.Template.Spec.Containers
	if i := slices.IndexFunc(containers, func(c corev1.Container) bool { return c.Name == "coredns" }); i >= 0 {
		c.container = i
	} else if len(containers) == 1 {
		c.container = 0
	} else {
		return nil, fmt.Errorf("Deployment %s/%s has %d containers and none is named coredns: cannot tell which one runs CoreDNS", o.namespace, o.deployment, len(containers))
	}
	c.cm, err = cs.CoreV1().ConfigMaps(o.namespace).Get(ctx, o.configMap, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read CoreDNS's ConfigMap %s/%s (pass --configmap if it is named otherwise): %w", o.namespace, o.configMap, err)
	}
	if _, ok := c.cm.Data[corefileKey]; !ok {
		return nil, fmt.Errorf("ConfigMap %s/%s has no key %s: egressctl edits the Corefile only there", o.namespace, o.configMap, corefileKey)
	}
	return c, nil
}

// checkNotManaged refuses CoreDNS objects an add-on manager owns: it would
// revert the image and the Corefile.
func checkNotManaged(c *coreDNS) error {
	for _, o := range []struct {
		kind string
		obj  metav1.Object
	}{{"Deployment", c.dep}, {"ConfigMap", c.cm}} {
		obj := o.obj
		kind := fmt.Sprintf("%s %s/%s", o.kind, obj.GetNamespace(), obj.GetName())
		if obj.GetLabels()[addonModeLabel] == "Reconcile" {
			return fmt.Errorf("%s carries %s: Reconcile: an add-on manager (as on AKS) reverts every change to CoreDNS, so egressctl cannot install egressgate's CoreDNS here; this cluster's DNS is not supported", kind, addonModeLabel)
		}
		for _, f := range obj.GetManagedFields() {
			if f.Manager == eksManager {
				return fmt.Errorf("%s is managed by the Amazon EKS add-on (field manager %q), which overwrites the image and the Corefile when it updates CoreDNS: remove the add-on and keep its objects (aws eks delete-addon --addon-name coredns --preserve), so that you manage CoreDNS yourself, then run this again", kind, eksManager)
			}
		}
	}
	return nil
}

// checkNoNodeLocalDNS refuses a cluster with NodeLocal DNSCache unless the
// user says it is configured for egressgate.
func checkNoNodeLocalDNS(ctx context.Context, cs kubernetes.Interface, namespace string) error {
	_, err := cs.AppsV1().DaemonSets(namespace).Get(ctx, nodeLocalDNS, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look for NodeLocal DNSCache (DaemonSet %s/%s): %w", namespace, nodeLocalDNS, err)
	}
	return fmt.Errorf("NodeLocal DNSCache runs here (DaemonSet %s/%s): it sends external names past CoreDNS and hides which pod asked; configure it as the section \"NodeLocal DNSCache\" of dnsplugin/README.md says, then pass --nodelocal-configured", namespace, nodeLocalDNS)
}

// errNoRBAC is the advice when the plugin's RBAC is missing.
const errNoRBAC = "install the egressgate Helm chart (it owns the CoreDNS RBAC) or kubectl apply -f config/coredns/rbac.yaml"

// checkRBAC checks that CoreDNS's service account may read what the plugin
// watches: the ClusterRole and ClusterRoleBinding egressgate-coredns, and the
// Role and RoleBinding of that name in the gateway namespace.
func checkRBAC(ctx context.Context, cs kubernetes.Interface, c *coreDNS, gatewayNamespace string) error {
	sa := c.dep.Spec.Template.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: c.dep.Namespace}
	bound := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == subject.Kind && s.Name == subject.Name && s.Namespace == subject.Namespace
		})
	}
	missing := func(what string, err error) error {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("the CoreDNS plugin's RBAC is missing (%s %s): %s", what, rbacName, errNoRBAC)
		}
		return fmt.Errorf("read %s %s: %w", what, rbacName, err)
	}
	if _, err := cs.RbacV1().ClusterRoles().Get(ctx, rbacName, metav1.GetOptions{}); err != nil {
		return missing("ClusterRole", err)
	}
	crb, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, rbacName, metav1.GetOptions{})
	if err != nil {
		return missing("ClusterRoleBinding", err)
	}
	if _, err := cs.RbacV1().Roles(gatewayNamespace).Get(ctx, rbacName, metav1.GetOptions{}); err != nil {
		return missing("Role "+gatewayNamespace+"/", err)
	}
	rb, err := cs.RbacV1().RoleBindings(gatewayNamespace).Get(ctx, rbacName, metav1.GetOptions{})
	if err != nil {
		return missing("RoleBinding "+gatewayNamespace+"/", err)
	}
	if !bound(crb.Subjects) || !bound(rb.Subjects) {
		return fmt.Errorf("the CoreDNS plugin's RBAC (%s) is not bound to CoreDNS's service account %s/%s: %s, with that service account as subject", rbacName, subject.Namespace, subject.Name, errNoRBAC)
	}
	return nil
}

// checkCRD checks that the API server serves ExternalServices: without them
// the plugin never becomes ready and the rollout would stall.
func checkCRD(cs kubernetes.Interface) error {
	gv := egressv1.GroupVersion.String()
	list, err := cs.Discovery().ServerResourcesForGroupVersion(gv)
	if err == nil && slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == "externalservices" }) {
		return nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("ask the API server for %s: %w", gv, err)
	}
	return fmt.Errorf("the API server does not serve ExternalServices (%s): install egressgate (its CRD) first, or CoreDNS with the plugin never becomes ready", gv)
}

// rolloutPoll is how often waitRollout looks at the Deployment.
const rolloutPoll = time.Second

// waitRollout waits until the Deployment's controller has seen its latest
// generation and every replica is updated and available, as `kubectl
// rollout status` does.
func waitRollout(ctx context.Context, cs kubernetes.Interface, namespace, name string, timeout time.Duration, out io.Writer) error {
	fmt.Fprintf(out, "Waiting for the rollout of Deployment %s/%s (up to %s)...\n", namespace, name, timeout)
	var last string
	err := wait.PollUntilContextTimeout(ctx, rolloutPoll, timeout, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("read Deployment %s/%s: %w", namespace, name, err)
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		s := d.Status
		last = fmt.Sprintf("observed generation %d of %d, %d of %d replicas updated, %d total, %d available", s.ObservedGeneration, d.Generation, s.UpdatedReplicas, want, s.Replicas, s.AvailableReplicas)
		return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want, nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("the rollout of Deployment %s/%s did not finish within %s (%s): see kubectl -n %s rollout status deployment/%s and its pods' logs", namespace, name, timeout, last, namespace, name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Deployment %s/%s rolled out: %s.\n", namespace, name, last)
	return nil
}
