package dnsharness

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ObserveReaderRole is the ClusterRole that may read the plugin's observe
// endpoint, as config/coredns/rbac.yaml names it.
const ObserveReaderRole = "egressgate-observe-reader"

// ServiceAccountToken creates the ServiceAccount namespace/name and returns
// a token the API server issued for it. With a non-empty readPath the
// account may also `get` that non-resource URL (the observe endpoint):
// the ClusterRole ObserveReaderRole and a binding named after the account
// are created.
func ServiceAccountToken(ctx context.Context, cfg *rest.Config, c client.Client, namespace, name, readPath string) (string, error) {
	objs := []client.Object{&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}}
	if readPath != "" {
		objs = append(objs,
			&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ObserveReaderRole},
				Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{readPath}, Verbs: []string{"get"}}}},
			&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ObserveReaderRole},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}}})
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			return "", fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("request a token for %s/%s: %w", namespace, name, err)
	}
	return tr.Status.Token, nil
}
