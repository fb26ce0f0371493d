package tests

import (
	"context"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egressgate/egressgate/conformance/suite"
	"github.com/egressgate/egressgate/samples/corpus"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "AdmissionRejectsInvalid",
		Description: "Invalid ExternalServices (bad names, IPs, wildcards, ports, replicas, names too long) are refused at admission with a message that says what to change; valid edge cases are admitted.",
		Features:    []suite.Feature{suite.FeatureAdmissionValidation},
		Test:        testAdmission,
	})
}

func testAdmission(t *testing.T, s *suite.Suite) {
	invalid := corpus.Invalid()
	if len(invalid) < 30 {
		t.Fatalf("the corpus has %d invalid cases, want at least 30", len(invalid))
	}
	for _, c := range invalid {
		t.Run(c.Name, func(t *testing.T) {
			err := s.Client.Create(context.Background(), c.Unstructured(), client.DryRunAll)
			if err == nil {
				t.Fatalf("admitted %v", c.Object["spec"])
			}
			if !strings.Contains(err.Error(), c.Want) {
				t.Errorf("refused with %q, which does not say %q", err, c.Want)
			}
		})
	}
	for _, c := range corpus.Valid() {
		t.Run("valid: "+c.Name, func(t *testing.T) {
			if err := s.Client.Create(context.Background(), c.Unstructured(), client.DryRunAll); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}
