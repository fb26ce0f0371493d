package tests

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "SamplesAccepted",
		Description: "The README's example and every file in samples/ pass admission as written and are Accepted.",
		Features:    []suite.Feature{suite.FeatureExternalService},
		Test:        testSamplesAccepted,
	})
}

// testSamplesAccepted dry-runs each sample exactly as written, then creates
// it with hijackDns off (so a real cluster's DNS for github.com and the
// others is never touched) and waits for Accepted=True.
func testSamplesAccepted(t *testing.T, s *suite.Suite) {
	var names []string
	for _, smp := range readSamples(t) {
		f, u := smp.file, smp.object
		if err := s.Client.Create(context.Background(), u.DeepCopy(), client.DryRunAll); err != nil {
			t.Errorf("%s was refused as written: %v", f, err)
			continue
		}
		if err := unstructured.SetNestedField(u.Object, false, "spec", "hijackDns"); err != nil {
			t.Fatal(err)
		}
		s.Create(t, u)
		names = append(names, u.GetName())
	}
	for _, name := range names {
		s.WaitForCondition(t, name, egressv1.ConditionAccepted, metav1.ConditionTrue, "", s.Timeouts.Accepted)
	}
}
