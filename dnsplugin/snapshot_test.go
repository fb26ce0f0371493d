package dnsplugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// A snapshot read back answers exactly as the table it was written from.
func TestSnapshotRoundTrip(t *testing.T) {
	want := buildTable(
		[]*egressv1.ExternalService{
			externalService("api", "api.example.org", epoch, metav1.ConditionTrue, "10.96.0.10", "fd00::10"),
			externalService("noaddr", "noaddr.example.org", epoch, metav1.ConditionTrue),
			externalService("off", "off.example.org", epoch, metav1.ConditionFalse, "10.96.0.30"),
		},
		[]*corev1.Pod{gatewayPod("gw", corev1.PodRunning, "10.244.1.5", "fd00:244::5")},
		DefaultZone)
	path := filepath.Join(t.TempDir(), "snapshot")
	b, err := encodeSnapshot(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeSnapshot(path, b); err != nil {
		t.Fatal(err)
	}
	got, written, err := readSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	if written.IsZero() {
		t.Error("the snapshot does not say when it was written")
	}
	again, err := encodeSnapshot(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(b) {
		t.Errorf("read back as\n%s\nwant\n%s", again, b)
	}
	if r := got.lookup("API.example.org"); r == nil || len(r.a) != 1 || len(r.aaaa) != 1 || r.service != "api" {
		t.Errorf("api.example.org after reading back: %+v", r)
	}
	if r := got.lookup("noaddr.example.org"); r == nil || r.hasAddress() {
		t.Errorf("noaddr.example.org must stay hijacked without an address (SERVFAIL): %+v", r)
	}
	if got.lookup("off.example.org") != nil {
		t.Error("off.example.org is not hijacked and must not be after reading back")
	}
}

// A damaged or foreign file is refused with a reason, never half-read.
func TestSnapshotRefusesDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"truncated": `{"version":1,"names":{"api.example.org.":{"service":"api","addr`,
		"version":   `{"version":99,"names":{}}`,
		"address":   `{"version":1,"names":{"api.example.org.":{"service":"api","addresses":["not-an-ip"]}}}`,
		"unknown":   `{"version":1,"names":{},"extra":true}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readSnapshot(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got %v, want an error naming the file", name, err)
		}
	}
}
