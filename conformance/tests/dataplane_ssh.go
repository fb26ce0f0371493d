package tests

import (
	"fmt"
	"strings"
	"testing"

	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "DataPlaneSSH",
		Description: "A labelled client pod in a namespace under the default-deny example reads the real host's SSH host keys on port 22 through the gateway.",
		Features:    []suite.Feature{suite.FeatureDataPlaneSSH, suite.FeatureDNSHijack, suite.FeatureExternalService},
		Test: func(t *testing.T, s *suite.Suite) {
			testDataPlane(t, s, "dataplane-ssh", "manifests/dataplane-ssh.yaml", func(out string) error {
				if !strings.Contains(out, s.DataPlaneHost+" ssh-") {
					return fmt.Errorf("no host key in %q", out)
				}
				return nil
			})
		},
	})
}
