package suite

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestExpand(t *testing.T) {
	values := map[string]string{PlaceholderExternalDomain: "example.com", PlaceholderClusterDomain: "cluster.local"}
	got, err := Expand([]byte("dnsName: a.${EXTERNAL_DOMAIN} # $HOME and $ stay\nother: b.${CLUSTER_DOMAIN}"), values)
	if err != nil {
		t.Fatal(err)
	}
	if want := "dnsName: a.example.com # $HOME and $ stay\nother: b.cluster.local"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, in := range []string{"${EXTERNAL_DOMAN}", "${DATAPLANE_HOST}", "${}"} {
		if _, err := Expand([]byte("x: "+in), values); err == nil || !strings.Contains(err.Error(), in) {
			t.Errorf("Expand(%q): error %v, want one naming %s", in, err, in)
		}
	}
}

func TestReadManifest(t *testing.T) {
	fsys := fstest.MapFS{
		"ok.yaml":      {Data: []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b-${EXTERNAL_DOMAIN}\n")},
		"unnamed.yaml": {Data: []byte("apiVersion: v1\nkind: Namespace\n")},
	}
	values := map[string]string{PlaceholderExternalDomain: "x"}
	objs, err := ReadManifest(fsys, "ok.yaml", values)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].GetName() != "a" || objs[1].GetName() != "b-x" {
		t.Errorf("objects %v, want namespaces a and b-x in file order", objs)
	}
	if _, err := ReadManifest(fsys, "unnamed.yaml", values); err == nil {
		t.Error("an object without a name was read")
	}
	if _, err := ReadManifest(fsys, "missing.yaml", values); err == nil {
		t.Error("a missing file was read")
	}
}
