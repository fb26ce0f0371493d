package tests

import (
	"io/fs"
	"os"
	"path"
	"strings"
	"testing"

	"github.com/egressgate/egressgate/conformance/suite"
)

// These checks need no cluster: they keep the declarations of the tests
// (their order, their manifests) consistent with each other.

func TestEveryTestIsOrdered(t *testing.T) {
	all, err := ConformanceTests()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(Order) {
		t.Errorf("%d tests in order, Order has %d names", len(all), len(Order))
	}
	for i, ct := range all {
		if ct.ShortName != Order[i] {
			t.Errorf("test %d is %s, Order says %s", i, ct.ShortName, Order[i])
		}
	}
}

func TestOrderFailsLoudly(t *testing.T) {
	core := suite.ConformanceTest{ShortName: "A", Features: []suite.Feature{suite.FeatureExternalService}}
	dns := suite.ConformanceTest{ShortName: "B", Features: []suite.Feature{suite.FeatureDNSHijack}}
	tests := map[string]suite.ConformanceTest{"A": core, "B": dns}
	for _, c := range []struct {
		what       string
		order      []string
		duplicates []string
		want       string
	}{
		{"a registered test left out", []string{"A"}, nil, "B is registered but not in tests.Order"},
		{"a name nobody registers", []string{"A", "B", "C"}, nil, "names C, which no test registers"},
		{"a name twice", []string{"A", "B", "A"}, nil, "names A twice"},
		{"a test registered twice", []string{"A", "B"}, []string{"A"}, "A is registered twice"},
		{"profiles out of order", []string{"B", "A"}, nil, "A (profile Core) after a test of profile DNS"},
	} {
		_, err := inOrder(c.order, tests, c.duplicates)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.what, err, c.want)
		}
	}
	if got, err := inOrder([]string{"A", "B"}, tests, nil); err != nil || len(got) != 2 || got[0].ShortName != "A" {
		t.Errorf("a good order: %v, %v", got, err)
	}
}

// TestManifests checks that every manifest decodes with its placeholders
// filled in, is named after the test file that uses it and is used there,
// and that every file a test lists exists.
func TestManifests(t *testing.T) {
	values := map[string]string{
		suite.PlaceholderExternalDomain: "example.com",
		suite.PlaceholderClusterDomain:  "cluster.local",
		suite.PlaceholderDataPlaneHost:  "github.com",
	}
	files, err := fs.Glob(Manifests, "manifests/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests (%v)", err)
	}
	for _, f := range files {
		if path.Ext(f) != ".yaml" {
			t.Errorf("%s: manifests are .yaml files", f)
			continue
		}
		if _, err := suite.ReadManifest(Manifests, f, values); err != nil {
			t.Error(err)
		}
		goFile := strings.ReplaceAll(strings.TrimSuffix(path.Base(f), ".yaml"), "-", "_") + ".go"
		src, err := os.ReadFile(goFile)
		if err != nil {
			t.Errorf("%s is named after no test file (%s): %v", f, goFile, err)
			continue
		}
		if !strings.Contains(string(src), `"`+f+`"`) {
			t.Errorf("%s does not use %s", goFile, f)
		}
	}
	for _, ct := range registered {
		for _, f := range ct.Manifests {
			if _, err := fs.Stat(Manifests, f); err != nil {
				t.Errorf("%s lists the manifest %s: %v", ct.ShortName, f, err)
			}
		}
	}
}
