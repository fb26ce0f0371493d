package controllers_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/egressgate/egressgate/internal/admission"
	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/samples/corpus"
)

// offline is egressctl's admission, which must agree with the API server.
var offline = func() *admission.Admitter {
	a, err := admission.New()
	if err != nil {
		panic(err)
	}
	return a
}()

// TestAdmissionRejectsInvalidObjects sends each object of the invalid
// corpus to the real API server (dry run) and checks the refusal says what
// to change; egressctl's offline admission must refuse it the same way.
func TestAdmissionRejectsInvalidObjects(t *testing.T) {
	cases := corpus.Invalid()
	if len(cases) < 30 {
		t.Fatalf("the invalid corpus has %d cases, want at least 30", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			err := k8s.Create(ctxT(t), c.Unstructured(), client.DryRunAll)
			if err == nil {
				t.Fatalf("the API server accepted %v", c.Object["spec"])
			}
			if !strings.Contains(err.Error(), c.Want) {
				t.Errorf("refusal %q does not say %q", err, c.Want)
			}
			errs := offline.Admit(ctxT(t), c.Unstructured().Object)
			if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), c.Want) {
				t.Errorf("offline admission gave %v, want a refusal saying %q", errs, c.Want)
			}
		})
	}
}

func TestAdmissionAcceptsValidObjects(t *testing.T) {
	for _, c := range corpus.Valid() {
		t.Run(c.Name, func(t *testing.T) {
			if err := k8s.Create(ctxT(t), c.Unstructured(), client.DryRunAll); err != nil {
				t.Errorf("refused: %v", err)
			}
			if errs := offline.Admit(ctxT(t), c.Unstructured().Object); len(errs) > 0 {
				t.Errorf("offline admission refused it: %v", errs)
			}
		})
	}
}

// TestSamplesAreAccepted applies every file in samples/, the README
// example among them, exactly as written.
func TestSamplesAreAccepted(t *testing.T) {
	root, err := crdpaths.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "samples", "*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("want at least 3 samples, found %v (%v)", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(raw, &u.Object); err != nil {
				t.Fatal(err)
			}
			if err := k8s.Create(ctxT(t), u, client.DryRunAll); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}
