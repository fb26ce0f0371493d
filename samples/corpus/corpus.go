// Package corpus holds the admission corpus: ExternalServices the API
// server must refuse (each with the message that says what to change) and
// edge cases it must accept. The controller tests check it against
// envtest and egressctl's offline admission; the conformance suite checks
// it against the cluster under test.
package corpus

import (
	_ "embed"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Case is one object and, for an invalid one, part of the refusal message.
type Case struct {
	Name   string         `json:"name"`
	Want   string         `json:"want,omitempty"`
	Object map[string]any `json:"object"`
}

// Unstructured is a fresh copy of the object.
func (c Case) Unstructured() *unstructured.Unstructured {
	return (&unstructured.Unstructured{Object: c.Object}).DeepCopy()
}

var (
	//go:embed invalid.yaml
	invalidYAML []byte
	//go:embed valid.yaml
	validYAML []byte
)

// Invalid lists the objects the API server must refuse.
func Invalid() []Case { return mustParse("invalid.yaml", invalidYAML) }

// Valid lists edge cases the API server must accept.
func Valid() []Case { return mustParse("valid.yaml", validYAML) }

func mustParse(name string, b []byte) []Case {
	var cases []Case
	if err := yaml.Unmarshal(b, &cases); err != nil {
		panic(fmt.Sprintf("corpus %s: %v", name, err))
	}
	return cases
}
