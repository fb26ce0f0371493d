// Package crds carries the CustomResourceDefinitions that `make generate`
// writes here, for programs that need them offline (egressctl validates
// ExternalServices against them without a cluster).
package crds

import _ "embed"

// ExternalServices is the egress.monzo.com ExternalService CRD, as YAML.
//
//go:embed egress.monzo.com_externalservices.yaml
var ExternalServices []byte
