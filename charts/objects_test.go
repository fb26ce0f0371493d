package charts

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestCRDIsTheRepositorys: the chart's CRD is crds/'s, with Helm's keep
// policy unless crds.keep is false.
func TestCRDIsTheRepositorys(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "crds", "egress.monzo.com_externalservices.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(string(data))
	if err != nil || len(objs) != 1 {
		t.Fatalf("crds/: %d objects, %v", len(objs), err)
	}
	for _, c := range []struct {
		values   map[string]any
		wantKeep bool
	}{{nil, true}, {map[string]any{"crds": map[string]any{"keep": false}}, false}} {
		crd := find(t, render(t, c.values), "CustomResourceDefinition", "externalservices.egress.monzo.com")
		if !reflect.DeepEqual(crd.Object["spec"], objs[0].Object["spec"]) {
			t.Errorf("the chart's CRD spec differs from crds/: run make generate")
		}
		if keep := crd.GetAnnotations()["helm.sh/resource-policy"] == "keep"; keep != c.wantKeep {
			t.Errorf("values %v: CRD keeps on uninstall = %v, want %v", c.values, keep, c.wantKeep)
		}
	}
	if objs := render(t, map[string]any{"crds": map[string]any{"install": false}}); len(objsOfKind(objs, "CustomResourceDefinition")) != 0 {
		t.Errorf("crds.install=false still renders the CRD")
	}
}

// TestCoreDNSRBACIsConfigs: the chart's CoreDNS RBAC grants what
// config/coredns/rbac.yaml grants, to the ServiceAccount and gateway
// namespace the values name.
func TestCoreDNSRBACIsConfigs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "config", "coredns", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := decodeAll(string(data))
	if err != nil {
		t.Fatal(err)
	}
	vals := readValues(t, "all-values.yaml")
	got := byKey(render(t, vals))
	for _, w := range want {
		if w.GetNamespace() == "egress-operator-system" {
			w.SetNamespace("egress-gateways") // all-values.yaml's gateway-namespace
		}
		g, ok := got[key(w)]
		if !ok {
			t.Errorf("config/coredns/rbac.yaml has %s; the chart does not", key(w))
			continue
		}
		for _, f := range []string{"rules", "roleRef"} {
			if !reflect.DeepEqual(w.Object[f], g.Object[f]) {
				t.Errorf("%s %s: config has %v, the chart %v", key(w), f, w.Object[f], g.Object[f])
			}
		}
		if subjects, ok := g.Object["subjects"].([]any); ok {
			s := subjects[0].(map[string]any)
			if s["name"] != "dns" || s["namespace"] != "dns-system" {
				t.Errorf("%s binds %v, want the values' ServiceAccount dns-system/dns", key(w), s)
			}
		}
	}
}

// TestCoreDNSObserveRBACIsOptional: coredns.observe=false leaves out
// exactly the RBAC of observe mode.
func TestCoreDNSObserveRBACIsOptional(t *testing.T) {
	names := func(vals map[string]any) []string {
		var out []string
		for _, o := range render(t, vals) {
			if strings.HasPrefix(o.GetKind(), "Cluster") || strings.HasPrefix(o.GetKind(), "Role") {
				out = append(out, o.GetKind()+"/"+o.GetName())
			}
		}
		slices.Sort(out)
		return out
	}
	all := names(nil)
	without := names(map[string]any{"coredns": map[string]any{"observe": false}})
	var left []string
	for _, n := range all {
		if !slices.Contains(without, n) {
			left = append(left, n)
		}
	}
	want := []string{
		"ClusterRole/egressgate-coredns-observe", "ClusterRole/egressgate-observe-reader",
		"ClusterRoleBinding/egressgate-coredns-observe",
		"Role/egressgate-coredns-observe-events", "RoleBinding/egressgate-coredns-observe-events",
	}
	if !slices.Equal(left, want) {
		t.Errorf("coredns.observe=false leaves out %v, want exactly %v", left, want)
	}
	if !slices.Contains(without, "ClusterRole/egressgate-coredns") {
		t.Errorf("coredns.observe=false also dropped the plugin's own ClusterRole: %v", without)
	}
}

// TestRestrictedPodSecurity: the operator's pod meets the restricted Pod
// Security Standard: non-root, read-only root filesystem, no capabilities,
// no privilege escalation, RuntimeDefault seccomp.
func TestRestrictedPodSecurity(t *testing.T) {
	deploy := find(t, render(t, nil), "Deployment", "egress-operator")
	pod, _, _ := unstructured.NestedMap(deploy.Object, "spec", "template", "spec", "securityContext")
	container, _, _ := unstructured.NestedMap(operatorContainer(t, deploy), "securityContext")
	checks := []struct {
		what string
		obj  map[string]any
		path []string
		want any
	}{
		{"runAsNonRoot", pod, []string{"runAsNonRoot"}, true},
		{"seccomp", pod, []string{"seccompProfile", "type"}, "RuntimeDefault"},
		{"readOnlyRootFilesystem", container, []string{"readOnlyRootFilesystem"}, true},
		{"allowPrivilegeEscalation", container, []string{"allowPrivilegeEscalation"}, false},
		{"capabilities", container, []string{"capabilities", "drop"}, []any{"ALL"}},
	}
	for _, c := range checks {
		got, _, _ := unstructured.NestedFieldNoCopy(c.obj, c.path...)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, got, c.want)
		}
	}
}

func objsOfKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// TestServiceMonitorIsWellFormed decodes the chart's ServiceMonitor
// strictly into the prometheus-operator's own type (unknown fields fail)
// and checks it scrapes the metrics Service's port.
func TestServiceMonitorIsWellFormed(t *testing.T) {
	objs := render(t, readValues(t, "all-values.yaml"))
	sm := &monitoringv1.ServiceMonitor{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(
		find(t, objs, "ServiceMonitor", "egress-operator").Object, sm, true); err != nil {
		t.Fatalf("the chart's ServiceMonitor is not a prometheus-operator ServiceMonitor: %v", err)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" {
		t.Errorf("the ServiceMonitor scrapes %+v, want the port named metrics", sm.Spec.Endpoints)
	}
	svc := find(t, objs, "Service", "egress-operator-metrics")
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.GetLabels()[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s; the metrics Service has %q", k, v, svc.GetLabels()[k])
		}
	}
}
