package suite

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Manifests are YAML files in Options.Manifests. What depends on the
// cluster under test is written as a placeholder, which the suite replaces
// with this run's value before decoding:
//
//	${EXTERNAL_DOMAIN}  Options.ExternalDomain, e.g. dnsName: core-update.${EXTERNAL_DOMAIN}
//	${CLUSTER_DOMAIN}   Options.ClusterDomain, e.g. dnsName: api.default.svc.${CLUSTER_DOMAIN}
//	${DATAPLANE_HOST}   Options.DataPlaneHost, the real host the DataPlane tests reach
//
// Only the braced form is a placeholder; any other ${NAME} is an error, so
// a typo fails the test instead of creating a wrong object.
const (
	PlaceholderExternalDomain = "EXTERNAL_DOMAIN"
	PlaceholderClusterDomain  = "CLUSTER_DOMAIN"
	PlaceholderDataPlaneHost  = "DATAPLANE_HOST"
)

var placeholder = regexp.MustCompile(`\$\{([^}]*)\}`)

// Placeholders are the values this run gives the manifests' placeholders.
func (s *Suite) Placeholders() map[string]string {
	return map[string]string{
		PlaceholderExternalDomain: s.ExternalDomain,
		PlaceholderClusterDomain:  s.ClusterDomain,
		PlaceholderDataPlaneHost:  s.DataPlaneHost,
	}
}

// Expand replaces every ${NAME} in manifest with values[NAME]. It fails
// naming every placeholder values has no (non-empty) value for.
func Expand(manifest []byte, values map[string]string) ([]byte, error) {
	var unknown []string
	out := placeholder.ReplaceAllFunc(manifest, func(m []byte) []byte {
		name := string(placeholder.FindSubmatch(m)[1])
		v, ok := values[name]
		if !ok || v == "" {
			unknown = append(unknown, string(m))
			return m
		}
		return []byte(v)
	})
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("placeholders with no value: %s (known: ${%s}, ${%s}, ${%s})",
			strings.Join(slices.Compact(unknown), ", "), PlaceholderExternalDomain, PlaceholderClusterDomain, PlaceholderDataPlaneHost)
	}
	return out, nil
}

// DecodeObjects reads every object of a multi-document YAML stream.
func DecodeObjects(r io.Reader) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if m != nil {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

// ReadManifest reads the manifest at path in fsys, replaces its
// placeholders with values, and returns its objects in file order.
func ReadManifest(fsys fs.FS, path string, values map[string]string) ([]*unstructured.Unstructured, error) {
	b, err := fs.ReadFile(fsys, path)
	if err != nil {
		return nil, fmt.Errorf("read the manifest %s: %w", path, err)
	}
	if b, err = Expand(b, values); err != nil {
		return nil, fmt.Errorf("expand the manifest %s: %w", path, err)
	}
	objs, err := DecodeObjects(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode the manifest %s: %w", path, err)
	}
	for i, obj := range objs {
		if obj.GetAPIVersion() == "" || obj.GetKind() == "" || obj.GetName() == "" {
			return nil, fmt.Errorf("the manifest %s: object %d has no apiVersion, kind or metadata.name", path, i+1)
		}
	}
	return objs, nil
}

// ReadManifest reads one of Options.Manifests with this run's
// placeholders, without creating anything: for a test that creates its
// objects one at a time, at moments it chooses.
func (s *Suite) ReadManifest(t testing.TB, path string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := ReadManifest(s.Manifests, path, s.Placeholders())
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// ApplyManifest creates every object of one of Options.Manifests, in file
// order, each deleted when the test ends (see Create), and returns them
// as created.
func (s *Suite) ApplyManifest(t testing.TB, path string) []*unstructured.Unstructured {
	t.Helper()
	objs := s.ReadManifest(t, path)
	for _, obj := range objs {
		s.Create(t, obj)
	}
	return objs
}
