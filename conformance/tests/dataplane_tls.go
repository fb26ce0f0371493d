package tests

import (
	"fmt"
	"testing"

	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "DataPlaneTLS",
		Description: "A labelled client pod in a namespace under the default-deny example, resolving the host through the cluster's DNS, completes an HTTPS request with the real host through the gateway.",
		Features:    []suite.Feature{suite.FeatureDataPlaneTLS, suite.FeatureDNSHijack, suite.FeatureExternalService},
		Test: func(t *testing.T, s *suite.Suite) {
			testDataPlane(t, s, "dataplane-tls", "manifests/dataplane-tls.yaml", func(out string) error {
				if len(out) != 3 || out[0] < '2' || out[0] > '4' {
					return fmt.Errorf("HTTP status %q", out)
				}
				return nil
			})
		},
	})
}
