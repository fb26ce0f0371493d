package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// readTar returns every entry of a tar file, in order.
func readTar(t *testing.T, file string) []layerEntry {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []layerEntry
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, layerEntry{h, b})
	}
}

// An archive is a deterministic tar of a valid OCI layout whose index.json
// names one image index with every platform built; ReadArchive gives the
// same index back. The two-platform index here packs the amd64 operator
// under both platforms: it checks the index's shape, not arm64.
func TestArchive(t *testing.T) {
	op := testBinaries["egress-operator"]
	img, _ := Lookup("egress-operator")
	two, err := Build(img, testMeta, []Binary{op, {Platform: "linux/arm64", Path: op.Path}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ref := "ghcr.io/egressgate/egress-operator:" + testVersion
	a, b := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	for _, f := range []string{a, b} {
		if err := WriteArchive(f, two, ref); err != nil {
			t.Fatal(err)
		}
	}
	entries := readTar(t, a)
	raw, _ := os.ReadFile(a)
	again, _ := os.ReadFile(b)
	if !bytes.Equal(raw, again) {
		t.Errorf("two archives of the same index differ")
	}
	files := map[string][]byte{}
	var names []string
	for _, e := range entries {
		names = append(names, e.hdr.Name)
		files[e.hdr.Name] = e.data
		if !e.hdr.ModTime.Equal(testMeta.Created) {
			t.Errorf("%s: mtime %s, want %s", e.hdr.Name, e.hdr.ModTime, testMeta.Created)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("archive entries are not sorted: %q", names)
	}
	if !strings.Contains(string(files["oci-layout"]), `"imageLayoutVersion": "1.0.0"`) {
		t.Errorf("oci-layout is %q", files["oci-layout"])
	}
	var index v1.IndexManifest
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	want, _ := two.Digest()
	if len(index.Manifests) != 1 || index.Manifests[0].Digest != want || index.Manifests[0].MediaType != types.OCIImageIndex {
		t.Fatalf("index.json holds %+v, want one OCI image index %s", index.Manifests, want)
	}
	if ann := index.Manifests[0].Annotations; ann["io.containerd.image.name"] != ref || ann["org.opencontainers.image.ref.name"] != testVersion {
		t.Errorf("index.json annotations %v, want the image named %s", ann, ref)
	}
	read, err := ReadArchive(a, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := read.Digest(); got != want {
		t.Errorf("ReadArchive gave index %s, want %s", got, want)
	}
	if ps, _ := Platforms(read); !slices.Equal(ps, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("platforms %q, want linux/amd64 and linux/arm64", ps)
	}
}

// The operator runs from its archive, as the Helm chart test runs it.
func TestUnpackArchiveRuns(t *testing.T) {
	archive := filepath.Join(t.TempDir(), "egress-operator.tar")
	if err := WriteArchive(archive, testIndexes(t)["egress-operator"], "ghcr.io/egressgate/egress-operator:"+testVersion); err != nil {
		t.Fatal(err)
	}
	ep, err := UnpackArchive(archive, testPlatform, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ep[0], "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), testVersion) {
		t.Errorf("%s --version: %v, %q; want it to print %s", ep[0], err, out, testVersion)
	}
	if _, err := UnpackArchive(archive, "linux/s390x", t.TempDir()); err == nil || !strings.Contains(err.Error(), "linux/amd64") {
		t.Errorf("unpacking a platform the archive lacks: %v, want an error listing linux/amd64", err)
	}
}

// Unpack refuses a layer that writes through a symlink out of the target.
func TestUnpackRefusesEscape(t *testing.T) {
	outside := t.TempDir()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "escape", Typeflag: tar.TypeSymlink, Linkname: outside})
	_ = tw.WriteHeader(&tar.Header{Name: "escape/owned", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644})
	_, _ = tw.Write([]byte("x"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := newLayer(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	im, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: im, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	_, err = Unpack(idx, testPlatform, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("Unpack of a layer writing through a symlink: %v, want a refusal", err)
	}
	if _, statErr := os.Stat(filepath.Join(outside, "owned")); statErr == nil {
		t.Errorf("Unpack wrote %s, outside its directory", filepath.Join(outside, "owned"))
	}
}

// Bad input gets an error that says what to change.
func TestBadInput(t *testing.T) {
	img, _ := Lookup("egressctl")
	if _, err := Build(img, testMeta, []Binary{{Platform: "amd64", Path: testBinaries["egressctl"].Path}}); err == nil || !strings.Contains(err.Error(), "os/arch") {
		t.Errorf("Build with platform amd64: %v, want an error asking for os/arch", err)
	}
	twice := []Binary{testBinaries["egressctl"], testBinaries["egressctl"]}
	if _, err := Build(img, testMeta, twice); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("Build with linux/amd64 twice: %v, want an error saying so", err)
	}
	if err := WriteArchive(filepath.Join(t.TempDir(), "x.tar"), empty.Index, "no-tag here"); err == nil || !strings.Contains(err.Error(), "registry/repository:tag") {
		t.Errorf("WriteArchive with a bad ref: %v, want an error naming registry/repository:tag", err)
	}
	if _, err := ReadArchive(testBinaries["egressctl"].Path, t.TempDir()); err == nil {
		t.Errorf("ReadArchive of a binary succeeded")
	}
	if _, err := Lookup("busybox"); err == nil || !strings.Contains(err.Error(), "coredns") {
		t.Errorf("Lookup(busybox): %v, want an error listing the images", err)
	}
}
