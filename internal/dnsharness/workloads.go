package dnsharness

import (
	"context"
	"errors"
	"fmt"
	"net"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Workloads for observe mode's tests: the objects a kube-controller-manager
// would create (ReplicaSets, Jobs, pods) are created by hand with their
// owner references, and each pod gets its IP through the status
// subresource, as a kubelet would write it. No controller or kubelet runs.

// Workload is one workload to create, with one running pod.
type Workload struct {
	// Kind is Deployment, StatefulSet, DaemonSet, CronJob, Job or Pod.
	Kind      string
	Namespace string
	Name      string
	// IP is the pod's IP; the test sends its queries from it.
	IP string
	// Labels go on the pod (the client labels, for instance).
	Labels map[string]string
	// HostNetwork makes the pod a hostNetwork pod, whose IP is its node's.
	HostNetwork bool
}

// CreateWorkload creates w's objects: the workload, the ReplicaSet of a
// Deployment or the Job of a CronJob, and one running pod with w.IP. It
// returns the pod's name.
func CreateWorkload(ctx context.Context, c client.Client, w Workload) (string, error) {
	sel := map[string]string{"app": w.Name}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: sel},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}
	var owner client.Object
	switch w.Kind {
	case "Pod":
	case "Deployment":
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tmpl}}
		if err := c.Create(ctx, d); err != nil {
			return "", fmt.Errorf("create Deployment %s: %w", w.Name, err)
		}
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: w.Name + "-5d8f7c", Namespace: w.Namespace, OwnerReferences: controlledBy(d, "apps/v1", "Deployment")},
			Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tmpl}}
		if err := c.Create(ctx, rs); err != nil {
			return "", fmt.Errorf("create ReplicaSet of %s: %w", w.Name, err)
		}
		owner = rs
	case "StatefulSet":
		owner = &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace},
			Spec: appsv1.StatefulSetSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tmpl}}
	case "DaemonSet":
		owner = &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace},
			Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tmpl}}
	case "CronJob", "Job":
		jobTmpl := tmpl
		jobTmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace}, Spec: batchv1.JobSpec{Template: jobTmpl}}
		if w.Kind == "CronJob" {
			cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace},
				Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobTmpl}}}}
			if err := c.Create(ctx, cj); err != nil {
				return "", fmt.Errorf("create CronJob %s: %w", w.Name, err)
			}
			job.Name = w.Name + "-29430180"
			job.OwnerReferences = controlledBy(cj, "batch/v1", "CronJob")
		}
		owner = job
	default:
		return "", fmt.Errorf("workload kind %q: use Deployment, StatefulSet, DaemonSet, CronJob, Job or Pod", w.Kind)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace, Labels: w.Labels},
		Spec:       corev1.PodSpec{NodeName: "node-1", HostNetwork: w.HostNetwork, Containers: tmpl.Spec.Containers},
	}
	if owner != nil {
		if owner.GetUID() == "" { // not created above
			if err := c.Create(ctx, owner); err != nil {
				return "", fmt.Errorf("create %s %s: %w", w.Kind, w.Name, err)
			}
		}
		apiVersion, kind := "apps/v1", w.Kind
		switch owner.(type) {
		case *appsv1.ReplicaSet:
			kind = "ReplicaSet"
		case *batchv1.Job:
			apiVersion, kind = "batch/v1", "Job"
		}
		pod.Name = owner.GetName() + "-x7k2p"
		pod.OwnerReferences = controlledBy(owner, apiVersion, kind)
	}
	if err := c.Create(ctx, pod); err != nil {
		return "", fmt.Errorf("create pod of %s %s: %w", w.Kind, w.Name, err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: w.IP, PodIPs: []corev1.PodIP{{IP: w.IP}}}
	if err := c.Status().Update(ctx, pod); err != nil {
		return "", fmt.Errorf("set the IP of pod %s: %w", pod.Name, err)
	}
	return pod.Name, nil
}

func controlledBy(owner client.Object, apiVersion, kind string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{
		APIVersion: apiVersion, Kind: kind, Name: owner.GetName(), UID: owner.GetUID(),
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}
}

// HostAddress is an IPv4 address of this machine outside loopback, for a
// pod the API server will proxy to (it refuses loopback addresses).
func HostAddress() (string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagLoopback != 0 || i.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := i.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP.String(), nil
			}
		}
	}
	return "", errors.New("this machine has no IPv4 address outside loopback for the API server to proxy a pod's requests to")
}
