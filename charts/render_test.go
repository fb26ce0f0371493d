package charts

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Namespace is where the README installs the chart.
const Namespace = "egress-operator-system"

// KubeVersion is the Kubernetes version the chart is rendered for: the
// embedded cluster's.
const KubeVersion = "v1.37.2"

// readValues reads a values file of testdata/.
func readValues(t testing.TB, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{}
	if err := yaml.Unmarshal(data, &vals); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return vals
}

// renderChart renders the chart as `helm template` does, with vals over
// its defaults; the error is Helm's (a schema violation, say).
func renderChart(vals map[string]any) ([]*unstructured.Unstructured, error) {
	chart, err := loader.Load(filepath.Join("egressgate"))
	if err != nil {
		return nil, err
	}
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName, install.Namespace = "egressgate", Namespace
	install.Replace = true
	if install.KubeVersion, err = common.ParseKubeVersion(KubeVersion); err != nil {
		return nil, err
	}
	rel, err := install.Run(chart, vals)
	if err != nil {
		return nil, err
	}
	return decodeAll(rel.(*release.Release).Manifest)
}

func render(t testing.TB, vals map[string]any) []*unstructured.Unstructured {
	t.Helper()
	objs, err := renderChart(vals)
	if err != nil {
		t.Fatalf("render the chart: %v", err)
	}
	return objs
}

// decodeAll reads every object of a multi-document YAML stream.
func decodeAll(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewBufferString(manifest), 4096)
	var out []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		if len(obj.Object) > 0 {
			out = append(out, obj)
		}
	}
}

// key names an object: kind, namespace and name.
func key(o *unstructured.Unstructured) string {
	return o.GetKind() + " " + strings.TrimPrefix(o.GetNamespace()+"/"+o.GetName(), "/")
}

func byKey(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	m := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		m[key(o)] = o
	}
	return m
}

// find returns the object of kind and name; the test fails without it.
func find(t testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("the chart renders no %s %s", kind, name)
	return nil
}

// operatorArgs are the rendered operator container's args.
func operatorArgs(t testing.TB, objs []*unstructured.Unstructured) []string {
	t.Helper()
	c := operatorContainer(t, find(t, objs, "Deployment", "egress-operator"))
	args, _, _ := unstructured.NestedStringSlice(c, "args")
	return args
}

func operatorContainer(t testing.TB, deploy *unstructured.Unstructured) map[string]any {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("the operator Deployment has %d containers, want 1", len(containers))
	}
	return containers[0].(map[string]any)
}
