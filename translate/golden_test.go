package translate

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

var update = flag.Bool("update", false, "rewrite translate/testdata/*.out.yaml from the current output")

// goldenInput is one testdata/<case>.in.yaml: an ExternalService, what the
// controller observed, and the options that differ from DefaultOptions.
type goldenInput struct {
	Options         *Options                  `json:"options,omitempty"`
	Observed        Observed                  `json:"observed,omitempty"`
	ExternalService *egressv1.ExternalService `json:"externalService"`
}

// goldenOutput is one testdata/<case>.out.yaml.
type goldenOutput struct {
	Conditions any   `json:"conditions"`
	Addresses  any   `json:"addresses,omitempty"`
	Objects    []any `json:"objects,omitempty"`
}

func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs in testdata: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var input goldenInput
			if err := yaml.UnmarshalStrict(raw, &input); err != nil {
				t.Fatalf("parse %s: %v", in, err)
			}
			opts := DefaultOptions()
			if input.Options != nil {
				opts = *input.Options
			}
			before := input.ExternalService.DeepCopy()
			res := Translate(input.ExternalService, opts, input.Observed)
			if diff := cmp.Diff(before, input.ExternalService); diff != "" {
				t.Errorf("Translate changed its input (-before +after):\n%s", diff)
			}

			got := toGeneric(t, goldenOutput{Conditions: res.Conditions, Addresses: res.Addresses, Objects: toAny(res.Objects)})
			outPath := filepath.Join("testdata", name+".out.yaml")
			if *update {
				b, err := yaml.Marshal(got)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(outPath, b, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantRaw, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatalf("%v (run: go test ./translate -update)", err)
			}
			var want any
			if err := yaml.Unmarshal(wantRaw, &want); err != nil {
				t.Fatalf("parse %s: %v", outPath, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s differs (-want +got); if the change is intended run: go test ./translate -update\n%s", outPath, diff)
			}
		})
	}
}

func toAny[T any](in []T) []any {
	out := make([]any, len(in))
	for i := range in {
		out[i] = in[i]
	}
	return out
}

// toGeneric round-trips v through YAML, so it compares like a parsed file.
func toGeneric(t *testing.T, v any) any {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
