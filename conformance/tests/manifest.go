package tests

import (
	"bytes"
	"io/fs"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/suite"
	"github.com/egressgate/egressgate/samples"
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

// sample is one file of samples/ and the ExternalService it holds.
type sample struct {
	file   string
	object *unstructured.Unstructured
}

// readSamples returns every sample, in file order; each file must hold
// exactly one object, and there must be at least three.
func readSamples(t *testing.T) []sample {
	t.Helper()
	files, err := fs.Glob(samples.FS, "*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("want at least 3 samples, found %v (%v)", files, err)
	}
	var out []sample
	for _, f := range files {
		b, err := fs.ReadFile(samples.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := suite.DecodeObjects(bytes.NewReader(b))
		if err != nil || len(objs) != 1 {
			t.Fatalf("%s: want one object, got %d (%v)", f, len(objs), err)
		}
		out = append(out, sample{file: f, object: objs[0]})
	}
	return out
}
