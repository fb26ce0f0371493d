package charts

import (
	"flag"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/egressgate/egressgate/internal/operatorconfig"
)

// compared are the fields, per kind, in which config/default and the chart
// must agree. Labels and the chart's extra objects (PodDisruptionBudget,
// metrics Service) may differ.
var compared = map[string][][]string{
	"ClusterRole":                    {{"rules"}},
	"Role":                           {{"rules"}},
	"ClusterRoleBinding":             {{"roleRef"}, {"subjects"}},
	"RoleBinding":                    {{"roleRef"}, {"subjects"}},
	"ServiceAccount":                 {},
	"CustomResourceDefinition":       {{"spec"}},
	"MutatingAdmissionPolicy":        {{"spec"}},
	"MutatingAdmissionPolicyBinding": {{"spec"}},
	"Deployment": {
		{"spec", "replicas"}, {"spec", "selector"},
		{"spec", "template", "spec", "serviceAccountName"}, {"spec", "template", "spec", "securityContext"},
	},
}

var clusterScoped = map[string]bool{
	"ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true,
	"MutatingAdmissionPolicy": true, "MutatingAdmissionPolicyBinding": true,
}

// TestChartMatchesKustomize: config/ stays for kubebuilder users, and
// renders the same objects as the chart with its default values: every
// object of `kustomize build config/default` but the Namespace (Helm's
// --create-namespace makes it) is in the chart, equal in what it does.
func TestChartMatchesKustomize(t *testing.T) {
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../config/default")
	if err != nil {
		t.Fatalf("kustomize build config/default: %v", err)
	}
	manifest, err := resources.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	fromKustomize, err := decodeAll(string(manifest))
	if err != nil {
		t.Fatal(err)
	}
	fromChart := byKey(render(t, nil))
	for _, want := range fromKustomize {
		if want.GetKind() == "Namespace" {
			continue
		}
		if clusterScoped[want.GetKind()] {
			// kustomize's schema predates MutatingAdmissionPolicy and
			// gives it the namespace; the API server ignores it.
			want.SetNamespace("")
		}
		fields, ok := compared[want.GetKind()]
		if !ok {
			t.Errorf("config/default has a %s; say in compared which of its fields the chart must match", key(want))
			continue
		}
		got, ok := fromChart[key(want)]
		if !ok {
			t.Errorf("config/default has %s; the chart does not", key(want))
			continue
		}
		for _, f := range fields {
			w, _, _ := unstructured.NestedFieldNoCopy(want.Object, f...)
			g, _, _ := unstructured.NestedFieldNoCopy(got.Object, f...)
			if !reflect.DeepEqual(w, g) {
				t.Errorf("%s %v: config/default has\n%v\nthe chart has\n%v", key(want), f, w, g)
			}
		}
		if want.GetKind() == "Deployment" {
			compareOperatorContainers(t, operatorContainer(t, want), operatorContainer(t, got))
		}
	}
}

// compareOperatorContainers compares what the operator does with each
// container: its configuration once the args are parsed (the chart passes
// every flag, config/ only those off their defaults), environment, probes,
// resources and securityContext.
func compareOperatorContainers(t *testing.T, kustomize, chart map[string]any) {
	t.Helper()
	want, got := parsedFlags(t, kustomize), parsedFlags(t, chart)
	for name, w := range want {
		if got[name] != w {
			t.Errorf("--%s: config/ runs the operator with %q, the chart with %q", name, w, got[name])
		}
	}
	for _, f := range []string{"env", "ports", "livenessProbe", "readinessProbe", "resources", "securityContext"} {
		if !reflect.DeepEqual(kustomize[f], chart[f]) {
			t.Errorf("operator container %s: config/ has\n%v\nthe chart has\n%v", f, kustomize[f], chart[f])
		}
	}
}

func parsedFlags(t *testing.T, container map[string]any) map[string]string {
	t.Helper()
	args, _, _ := unstructured.NestedStringSlice(container, "args")
	fs := flag.NewFlagSet("egress-operator", flag.ContinueOnError)
	operatorconfig.New().AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("egress-operator refuses the args %v: %v", args, err)
	}
	out := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { out[f.Name] = f.Value.String() })
	return out
}
