package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/egressgate/egressgate/internal/istioimport"
)

// FuzzImport feeds arbitrary YAML or JSON to `egressctl import`. It never
// panics; input it can read always gets a report; and it never prints an
// ExternalService the API server would refuse (runImport checks each one
// against the CRD and fails with "this is a bug" if one is refused). Input
// it cannot read is refused with an error, which is fine. The golden inputs
// of testdata/import seed the corpus.
func FuzzImport(f *testing.F) {
	seeds, err := filepath.Glob("testdata/import/*/in.yaml")
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/import: %v", err)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"networking.istio.io/v1","kind":"ServiceEntry","metadata":{"name":"x"},"spec":{"hosts":["a.example.com"],"ports":[{"number":443,"protocol":"TLS","name":"tls"}]}}]}`))
	f.Fuzz(func(t *testing.T, input []byte) {
		var out, report bytes.Buffer
		o := importOptions{files: []string{"-"}, output: "yaml", opts: istioimport.DefaultOptions()}
		err := runImport(context.Background(), bytes.NewReader(input), &out, &report, o)
		if err != nil {
			if strings.Contains(err.Error(), "this is a bug") {
				t.Fatalf("import printed an ExternalService the API server refuses: %v\ninput:\n%s", err, input)
			}
			return
		}
		if !strings.HasPrefix(report.String(), "egressctl import:") {
			t.Fatalf("input was read but the report is missing or malformed:\n%s\ninput:\n%s", report.String(), input)
		}
	})
}
