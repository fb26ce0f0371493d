package main

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/testenv"
)

const validCorefile = ".:53 {\n    errors\n    kubernetes cluster.local in-addr.arpa ip6.arpa\n    forward . /etc/resolv.conf\n}\n"

// coreDNSObjects are a CoreDNS Deployment and ConfigMap named coredns in ns.
func coreDNSObjects(ns, image, corefile string) (*appsv1.Deployment, *corev1.ConfigMap) {
	labels := map[string]string{"k8s-app": "kube-dns"}
	one := int32(1)
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{ServiceAccountName: "coredns", Containers: []corev1.Container{{
					Name: "coredns", Image: image, Args: []string{"-conf", "/etc/coredns/Corefile"},
				}}},
			},
		},
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: ns}, Data: map[string]string{"Corefile": corefile}}
	return dep, cm
}

// TestDNSEnableRefuses runs enable --dry-run on clusters it must refuse, one
// namespace each, and checks each refusal says why and what to do.
func TestDNSEnableRefuses(t *testing.T) {
	d := startDNSCluster(t)
	create := func(t *testing.T, objs ...any) {
		t.Helper()
		ctx := t.Context()
		for _, o := range objs {
			var err error
			switch o := o.(type) {
			case *appsv1.Deployment:
				_, err = d.cs.AppsV1().Deployments(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			case *corev1.ConfigMap:
				_, err = d.cs.CoreV1().ConfigMaps(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			case *appsv1.DaemonSet:
				_, err = d.cs.AppsV1().DaemonSets(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, ns string)
		flags []string
		want  []string
	}{{
		name: "kube-dns only, as on GKE",
		setup: func(t *testing.T, ns string) {
			dep, _ := coreDNSObjects(ns, "registry.k8s.io/dns/k8s-dns-kube-dns:1.26.4", "")
			dep.Name = "kube-dns"
			create(t, dep)
		},
		want: []string{"no CoreDNS Deployment", "kube-dns", "GKE", "cannot load plugins"},
	}, {
		name:  "no DNS Deployment at all",
		setup: func(*testing.T, string) {},
		want:  []string{"no CoreDNS Deployment", "pass --namespace and --deployment"},
	}, {
		name: "unparsable Corefile",
		setup: func(t *testing.T, ns string) {
			dep, cm := coreDNSObjects(ns, stockImage, ".:53 {\n    errors\n    kubernetes cluster.local\n    rewrite_everything\n}\n")
			create(t, dep, cm)
		},
		want: []string{"does not parse", "Corefile:4", "Unknown directive 'rewrite_everything'", "fix it first"},
	}, {
		name: "no server block with kubernetes",
		setup: func(t *testing.T, ns string) {
			dep, cm := coreDNSObjects(ns, stockImage, ".:53 {\n    forward . /etc/resolv.conf\n}\n")
			create(t, dep, cm)
		},
		want: []string{"no server block holds the kubernetes plugin", "next to kubernetes"},
	}, {
		name: "NodeLocal DNSCache",
		setup: func(t *testing.T, ns string) {
			dep, cm := coreDNSObjects(ns, stockImage, validCorefile)
			create(t, dep, cm, &appsv1.DaemonSet{
				ObjectMeta: metav1.ObjectMeta{Name: "node-local-dns", Namespace: ns},
				Spec:       appsv1.DaemonSetSpec{Selector: dep.Spec.Selector, Template: dep.Spec.Template},
			})
		},
		want: []string{"NodeLocal DNSCache", "node-local-dns", "dnsplugin/README.md", "--nodelocal-configured"},
	}, {
		name: "NodeLocal DNSCache configured: on to the next check",
		setup: func(t *testing.T, ns string) {
			dep, cm := coreDNSObjects(ns, stockImage, validCorefile)
			create(t, dep, cm, &appsv1.DaemonSet{
				ObjectMeta: metav1.ObjectMeta{Name: "node-local-dns", Namespace: ns},
				Spec:       appsv1.DaemonSetSpec{Selector: dep.Spec.Selector, Template: dep.Spec.Template},
			})
		},
		flags: []string{"--nodelocal-configured"},
		want:  []string{"RBAC is missing", errNoRBAC},
	}, {
		name: "Amazon EKS managed add-on",
		setup: func(t *testing.T, ns string) {
			dep, cm := coreDNSObjects(ns, "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/coredns:v1.11.4-eksbuild.2", validCorefile)
			dep.Labels = map[string]string{"eks.amazonaws.com/component": "coredns"}
			create(t, cm)
			applyAs(t, d, "eks", dep)
		},
		want: []string{"Amazon EKS add-on", `field manager "eks"`, "delete-addon", "--preserve"},
	}, {
		name: "EKS self-managed CoreDNS (label only): on to the next check",
		setup: func(t *testing.T, ns string) {
			dep, cm := coreDNSObjects(ns, "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/coredns:v1.11.4-eksbuild.2", validCorefile)
			dep.Labels = map[string]string{"eks.amazonaws.com/component": "coredns"}
			create(t, dep, cm)
		},
		want: []string{"RBAC is missing"},
	}, {
		name: "AKS add-on manager",
		setup: func(t *testing.T, ns string) {
			dep, cm := coreDNSObjects(ns, "mcr.microsoft.com/oss/kubernetes/coredns:v1.12.1-1", validCorefile)
			dep.Labels = map[string]string{"addonmanager.kubernetes.io/mode": "Reconcile"}
			create(t, dep, cm)
		},
		want: []string{"addonmanager.kubernetes.io/mode: Reconcile", "add-on manager", "reverts every change"},
	}, {
		name: "CoreDNS older than 1.10",
		setup: func(t *testing.T, ns string) {
			dep, cm := coreDNSObjects(ns, "registry.k8s.io/coredns/coredns:v1.9.3", validCorefile)
			create(t, dep, cm)
		},
		want: []string{"CoreDNS 1.9.3", "older than 1.10.0", "upgrade CoreDNS"},
	}, {
		name: "CoreDNS version not in the tag",
		setup: func(t *testing.T, ns string) {
			dep, cm := coreDNSObjects(ns, "coredns/coredns:latest", validCorefile)
			create(t, dep, cm)
		},
		want: []string{`cannot tell the CoreDNS version`, `"latest"`, "--force"},
	}, {
		name: "RBAC missing",
		setup: func(t *testing.T, ns string) {
			dep, cm := coreDNSObjects(ns, stockImage, validCorefile)
			create(t, dep, cm)
		},
		want: []string{"ClusterRole egressgate-coredns", errNoRBAC},
	}, {
		name: "RBAC bound to another service account",
		setup: func(t *testing.T, ns string) {
			if err := testenv.CreateFromFile(t.Context(), d.env.Client, "../../config/coredns/rbac.yaml"); err != nil {
				t.Fatal(err)
			}
			dep, cm := coreDNSObjects(ns, stockImage, validCorefile)
			create(t, dep, cm)
		},
		want: []string{"not bound to CoreDNS's service account", "/coredns", errNoRBAC},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ns := strings.NewReplacer(" ", "-", ",", "", ".", "", "(", "", ")", "", ":", "").Replace(strings.ToLower(tc.name))
			if err := d.env.CreateNamespace(t.Context(), ns); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, ns)
			args := append([]string{"dns", "enable", "--dry-run", "--image", testCoreDNSImage, "--namespace", ns}, tc.flags...)
			out, err := d.egressctl(t, args...)
			if err == nil {
				t.Fatalf("enable succeeded; want a refusal:\n%s", out)
			}
			mustContain(t, "the refusal", err.Error(), tc.want...)
		})
	}
}

// applyAs creates dep with server-side apply as field manager manager, as
// an add-on manager does.
func applyAs(t *testing.T, d *dnsCluster, manager string, dep *appsv1.Deployment) {
	t.Helper()
	body, err := json.Marshal(dep)
	if err != nil {
		t.Fatal(err)
	}
	force := true
	if _, err := d.cs.AppsV1().Deployments(dep.Namespace).Patch(t.Context(), dep.Name, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: manager, Force: &force}); err != nil {
		t.Fatal(err)
	}
}

// TestDNSDisableRefuses: disable keeps a user's later Corefile changes
// unless --force, and never leaves the stock image with a Corefile that
// names egressoperator. It runs with --wait=false: nothing here plays the
// Deployment controller (TestDNSEnableDisableOnKubeadmCluster does).
func TestDNSDisableRefuses(t *testing.T) {
	d := startDNSCluster(t)
	ctx := t.Context()
	if err := testenv.CreateFromFile(ctx, d.env.Client, "../../config/coredns/rbac.yaml"); err != nil {
		t.Fatal(err)
	}
	dep, cm := coreDNSObjects("kube-system", stockImage, validCorefile)
	if _, err := d.cs.AppsV1().Deployments("kube-system").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.cs.CoreV1().ConfigMaps("kube-system").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if out, err := d.egressctl(t, "dns", "enable", "--image", testCoreDNSImage, "--wait=false"); err != nil {
		t.Fatalf("enable: %v\n%s", err, out)
	}

	// A user adds the log plugin after enable.
	_, cm = d.get(t)
	cm.Data["Corefile"] = strings.Replace(cm.Data["Corefile"], "    errors\n", "    errors\n    log\n", 1)
	if _, err := d.cs.CoreV1().ConfigMaps("kube-system").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	dep, cm = d.get(t)
	out, err := d.egressctl(t, "dns", "disable", "--wait=false")
	if err == nil {
		t.Fatalf("disable succeeded over a changed Corefile:\n%s", out)
	}
	mustContain(t, "the refusal", err.Error(), "was changed since egressctl dns enable", "--force")
	if dep2, cm2 := d.get(t); dep2.ResourceVersion != dep.ResourceVersion || cm2.ResourceVersion != cm.ResourceVersion {
		t.Fatal("the refused disable wrote to the Deployment or the ConfigMap")
	}
	if out, err := d.egressctl(t, "dns", "disable", "--wait=false", "--force"); err != nil {
		t.Fatalf("disable --force: %v\n%s", err, out)
	}
	dep, cm = d.get(t)
	if cm.Data["Corefile"] != validCorefile || dep.Spec.Template.Spec.Containers[0].Image != stockImage {
		t.Errorf("disable --force left Corefile %q and image %s; want the originals", cm.Data["Corefile"], dep.Spec.Template.Spec.Containers[0].Image)
	}

	// Enabled again, the log plugin added, then the egressoperator line taken
	// out by hand: disable keeps that Corefile and puts the image back.
	if out, err := d.egressctl(t, "dns", "enable", "--image", testCoreDNSImage, "--wait=false"); err != nil {
		t.Fatalf("enable: %v\n%s", err, out)
	}
	_, cm = d.get(t)
	edited := strings.Replace(validCorefile, "    errors\n", "    errors\n    log\n", 1)
	cm.Data["Corefile"] = edited
	if _, err := d.cs.CoreV1().ConfigMaps("kube-system").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if out, err := d.egressctl(t, "dns", "disable", "--wait=false"); err != nil {
		t.Fatalf("disable after the line was taken out by hand: %v\n%s", err, out)
	}
	dep, cm = d.get(t)
	if cm.Data["Corefile"] != edited || cm.Annotations[egressv1.AnnotationOriginalCorefile] != "" || dep.Spec.Template.Spec.Containers[0].Image != stockImage {
		t.Errorf("disable left Corefile %q (annotation %q) and image %s; want the edited Corefile, no annotation and the stock image",
			cm.Data["Corefile"], cm.Annotations[egressv1.AnnotationOriginalCorefile], dep.Spec.Template.Spec.Containers[0].Image)
	}

	// The line added by hand, the image by enable: disable must not put the
	// stock image back under that Corefile.
	cm.Data["Corefile"] = strings.Replace(validCorefile, "    kubernetes", "    egressoperator egress-operator-system cluster.local\n    kubernetes", 1)
	if _, err := d.cs.CoreV1().ConfigMaps("kube-system").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if out, err := d.egressctl(t, "dns", "enable", "--image", testCoreDNSImage, "--wait=false"); err != nil {
		t.Fatalf("enable: %v\n%s", err, out)
	}
	out, err = d.egressctl(t, "dns", "disable", "--wait=false")
	if err == nil {
		t.Fatalf("disable put the stock image back under a Corefile naming egressoperator:\n%s", out)
	}
	mustContain(t, "the refusal", err.Error(), "names egressoperator", "by hand first")
}
