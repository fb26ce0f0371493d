package charts

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the chart's generated parts (make generate)")

// repoRoot is the repository's root: this package's parent.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestGenerated fails when the chart's generated parts are stale: a flag or
// environment variable added to the operator without `make generate`.
func TestGenerated(t *testing.T) {
	root := repoRoot(t)
	if *update {
		if err := Generate(root); err != nil {
			t.Fatal(err)
		}
		return
	}
	tmp := t.TempDir()
	cp := exec.Command("cp", "-r", filepath.Join(root, "charts"), filepath.Join(root, "crds"), filepath.Join(root, "config"), tmp)
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("copy the chart: %v\n%s", err, out)
	}
	if err := Generate(tmp); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"values.yaml", "values.schema.json"} {
		want, _ := os.ReadFile(filepath.Join(tmp, Chart, f))
		got, _ := os.ReadFile(filepath.Join(root, Chart, f))
		if string(got) != string(want) {
			t.Errorf("%s/%s is stale: run make generate", Chart, f)
		}
	}
	for _, to := range copies {
		want, _ := os.ReadFile(filepath.Join(tmp, Chart, to))
		got, _ := os.ReadFile(filepath.Join(root, Chart, to))
		if string(got) != string(want) {
			t.Errorf("%s/%s is stale: run make generate", Chart, to)
		}
	}
}
