package tests

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/suite"
)

// manifest is a test's manifest file, read but not applied: the test
// creates its objects one at a time, when it is ready for each.
type manifest struct {
	t    testing.TB
	path string
	objs []*unstructured.Unstructured
}

// readManifest reads the file at path with this run's placeholders.
func readManifest(t testing.TB, s *suite.Suite, path string) manifest {
	t.Helper()
	return manifest{t: t, path: path, objs: s.ReadManifest(t, path)}
}

// object is a copy of the manifest's object of that kind and name.
func (m manifest) object(kind, name string) *unstructured.Unstructured {
	m.t.Helper()
	for _, obj := range m.objs {
		if obj.GetKind() == kind && obj.GetName() == name {
			return obj.DeepCopy()
		}
	}
	m.t.Fatalf("%s has no %s %s", m.path, kind, name)
	return nil
}

// externalService is a copy of the manifest's ExternalService name.
func (m manifest) externalService(name string) *egressv1.ExternalService {
	m.t.Helper()
	es := &egressv1.ExternalService{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m.object("ExternalService", name).Object, es); err != nil {
		m.t.Fatalf("%s: read ExternalService %s: %v", m.path, name, err)
	}
	return es
}
