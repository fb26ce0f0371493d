package charts

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/egressgate/egressgate/internal/operatorconfig"
)

// TestLint runs Helm's own linter with the default values and with every
// value set; any warning or error fails.
func TestLint(t *testing.T) {
	kube, err := common.ParseKubeVersion(KubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for name, vals := range map[string]map[string]any{"defaults": {}, "all-values.yaml": readValues(t, "all-values.yaml")} {
		t.Run(name, func(t *testing.T) {
			result := lint.RunAll("egressgate", vals, Namespace, lint.WithKubeVersion(kube))
			for _, m := range result.Messages {
				t.Logf("lint: %s", m)
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				}
			}
		})
	}
}

// TestSchemaRefusesWrongValues: a wrong value is refused before anything
// is rendered, by a message that names it.
func TestSchemaRefusesWrongValues(t *testing.T) {
	cases := map[string]struct {
		values string
		want   string
	}{
		"misspelt flag":      {"operator: {flags: {gateway-namspace: x}}", "gateway-namspace"},
		"flag of wrong type": {"operator: {flags: {concurrency: many}}", "concurrency"},
		"unknown variable":   {"operator: {env: {NODE_SELECTOR: role}}", "NODE_SELECTOR"},
		"bad skew":           {"operator: {env: {POD_TOPOLOGY_ZONE_MAX_SKEW: one}}", "POD_TOPOLOGY_ZONE_MAX_SKEW"},
		"bad boolean env":    {"operator: {env: {ENABLE_POD_TOPOLOGY_SPREAD: yes}}", "ENABLE_POD_TOPOLOGY_SPREAD"},
		"unknown top level":  {"imag: {tag: v1}", "imag"},
		"zero replicas":      {"operator: {replicas: 0}", "replicas"},
		"bad namespace":      {"defaultDenyEgress: {namespaces: [Team_A]}", "namespaces"},
		"bad pull policy":    {"image: {pullPolicy: Sometimes}", "pullPolicy"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			vals := map[string]any{}
			if err := yaml.Unmarshal([]byte(c.values), &vals); err != nil {
				t.Fatal(err)
			}
			_, err := renderChart(vals)
			if err == nil {
				t.Fatalf("values %s were accepted", c.values)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("values %s: error does not name %q:\n%v", c.values, c.want, err)
			}
		})
	}
}

// TestAllValuesSetsEveryValue keeps testdata/all-values.yaml complete: a
// value added to the chart must be set there, so lint and install see it.
func TestAllValuesSetsEveryValue(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("egressgate", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]any{}
	if err := yaml.Unmarshal(data, &defaults); err != nil {
		t.Fatal(err)
	}
	all := readValues(t, "all-values.yaml")
	for _, path := range leaves(defaults, "") {
		got, ok := lookup(all, path)
		if !ok {
			t.Errorf("testdata/all-values.yaml does not set %s", path)
			continue
		}
		if def, _ := lookup(defaults, path); reflect.DeepEqual(got, def) && !slices.Contains(sameAsDefault, path) {
			t.Errorf("testdata/all-values.yaml sets %s to its default %v", path, def)
		}
	}
}

// sameAsDefault are values all-values.yaml keeps at their default because
// the other choice turns a part of the chart off.
var sameAsDefault = []string{
	"crds.install", "operator.podDisruptionBudget.enabled", "metrics.service.enabled",
	"coredns.rbac", "coredns.observe", "operator.flags.leader-elect",
}

// leaves lists the dotted paths of every leaf (maps are walked, anything
// else, lists and empty maps included, is a leaf).
func leaves(m map[string]any, prefix string) []string {
	var out []string
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			out = append(out, leaves(sub, prefix+k+".")...)
			continue
		}
		out = append(out, prefix+k)
	}
	sort.Strings(out)
	return out
}

func lookup(m map[string]any, path string) (any, bool) {
	parts := strings.Split(path, ".")
	var cur any = m
	for _, p := range parts {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// TestFlagsReachTheOperator parses the rendered Deployment's args with the
// operator's own flag set: every flag value of all-values.yaml arrives.
func TestFlagsReachTheOperator(t *testing.T) {
	vals := readValues(t, "all-values.yaml")
	objs := render(t, vals)
	fs := flag.NewFlagSet("egress-operator", flag.ContinueOnError)
	operatorconfig.New().AddFlags(fs)
	if err := fs.Parse(operatorArgs(t, objs)); err != nil {
		t.Fatalf("egress-operator refuses the chart's args: %v", err)
	}
	want, _ := lookup(vals, "operator.flags")
	for name, v := range want.(map[string]any) {
		if got := fs.Lookup(name).Value.String(); got != fmt.Sprint(v) {
			t.Errorf("--%s is %q in the operator, %v in the values", name, got, v)
		}
	}

	env := map[string]string{}
	list, _, _ := unstructured.NestedSlice(operatorContainer(t, find(t, objs, "Deployment", "egress-operator")), "env")
	for _, e := range list {
		e := e.(map[string]any)
		env[e["name"].(string)] = fmt.Sprint(e["value"])
	}
	wantEnv, _ := lookup(vals, "operator.env")
	for name, v := range wantEnv.(map[string]any) {
		if env[name] != v {
			t.Errorf("env %s is %q in the Deployment, %q in the values", name, env[name], v)
		}
	}
}
