package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/testenv"
)

// TestStatusCountsClientsAndNamesWorkloads runs `egressctl status -o wide`
// against a real API server holding an ExternalService, its status as the
// operator writes it, and client pods of a Deployment and a bare pod.
func TestStatusCountsClientsAndNamesWorkloads(t *testing.T) {
	env := testenv.StartOurs(t)
	ctx := context.Background()
	c := env.Client
	if err := env.CreateNamespace(ctx, "apps"); err != nil {
		t.Fatal(err)
	}

	tls := egressv1.ProtocolTLS
	es := &egressv1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Name: "github"},
		Spec:       egressv1.ExternalServiceSpec{DnsName: "github.com", HijackDns: true, Ports: []egressv1.ExternalServicePort{{Port: 443, Protocol: &tls}}},
	}
	if err := c.Create(ctx, es); err != nil {
		t.Fatal(err)
	}
	es.Status.Addresses = []string{"10.96.0.42"}
	es.Status.Conditions = []metav1.Condition{
		{Type: egressv1.ConditionProgrammed, Status: metav1.ConditionTrue, Reason: "Programmed", LastTransitionTime: metav1.Now()},
		{Type: egressv1.ConditionDNSHijacked, Status: metav1.ConditionTrue, Reason: "Hijacked", LastTransitionTime: metav1.Now()},
	}
	if err := c.Status().Update(ctx, es); err != nil {
		t.Fatal(err)
	}

	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec()},
		},
	}
	if err := c.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "apps", OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "Deployment", dep.Name, dep.UID)}},
		Spec:       appsv1.ReplicaSetSpec{Selector: dep.Spec.Selector, Template: dep.Spec.Template},
	}
	if err := c.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	clientLabels := map[string]string{"app": "web", "egress.monzo.com/allowed-github": "true"}
	for _, p := range []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "web-1-a", Namespace: "apps", Labels: clientLabels, OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "ReplicaSet", rs.Name, rs.UID)}}, Spec: podSpec()},
		{ObjectMeta: metav1.ObjectMeta{Name: "web-1-b", Namespace: "apps", Labels: clientLabels, OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "ReplicaSet", rs.Name, rs.UID)}}, Spec: podSpec()},
		{ObjectMeta: metav1.ObjectMeta{Name: "debug", Namespace: "apps", Labels: map[string]string{"egress.monzo.com/allowed-github": "true"}}, Spec: podSpec()},
		{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "apps", Labels: map[string]string{"egress.monzo.com/allowed-github": "false"}}, Spec: podSpec()},
	} {
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	var out bytes.Buffer
	if err := runStatus(ctx, env.Config, &out, true); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a header and one line, got:\n%s", out.String())
	}
	got := strings.Fields(lines[1])
	want := []string{"github", "github.com", "443/TLS", "10.96.0.42", "True", "True", "-", "3", "apps/Deployment/web,apps/Pod/debug"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("status line\n got: %v\nwant: %v", got, want)
	}
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example/app"}}}
}

func controllerRef(apiVersion, kind, name string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: new(true)}
}
