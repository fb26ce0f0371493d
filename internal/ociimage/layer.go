package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// capabilityXattr is the PAX record that carries a file capability through
// a tar layer; runtimes set it as the security.capability xattr when they
// unpack the layer.
const capabilityXattr = "SCHILY.xattr.security.capability"

// entry is one file of the layer.
type entry struct {
	name  string // relative to /, no leading slash; directories end in "/"
	mode  int64  // permission bits, plus c_ISVTX for a sticky directory
	owner int    // uid and gid
	data  []byte
	pax   map[string]string
}

// rootLayer is the image's only layer: the files a static binary needs to
// run as NonRoot, the binary and its SBOM. There is no shell.
func rootLayer(img Image, created time.Time, binary string, sbom []byte) (v1.Layer, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("reading the binary: %w", err)
	}
	binEntry := entry{name: strings.TrimPrefix(BinaryDir, "/") + "/" + img.Name, mode: 0o755, data: bin}
	if img.NetBindService {
		binEntry.pax = map[string]string{capabilityXattr: string(netBindServiceCapability())}
	}
	entries := []entry{
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\n" +
			"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{name: "home/nonroot/", mode: 0o700, owner: NonRoot},
		{name: "tmp/", mode: 0o1777},
		{name: strings.TrimPrefix(SBOMDir, "/") + "/" + img.Name + ".spdx.json", mode: 0o644, data: sbom},
		binEntry,
	}
	if img.CACertificates {
		entries = append(entries, entry{name: strings.TrimPrefix(CACertificatesPath, "/"), mode: 0o644, data: caBundle()})
	}
	raw, err := writeTar(withParents(entries), created)
	if err != nil {
		return nil, fmt.Errorf("writing the layer: %w", err)
	}
	return newLayer(raw)
}

// withParents adds every missing parent directory (root-owned, 0755) and
// sorts the entries by name, so a directory precedes what it holds.
func withParents(entries []entry) []entry {
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.name] = true
	}
	for _, e := range entries {
		for dir := path.Dir(strings.TrimSuffix(e.name, "/")); dir != "."; dir = path.Dir(dir) {
			if !seen[dir+"/"] {
				seen[dir+"/"] = true
				entries = append(entries, entry{name: dir + "/", mode: 0o755})
			}
		}
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return entries
}

// writeTar writes entries, in order, with fixed times, owners and names.
func writeTar(entries []entry, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name:       e.name,
			Mode:       e.mode,
			Uid:        e.owner,
			Gid:        e.owner,
			Uname:      userName(e.owner),
			Gname:      userName(e.owner),
			ModTime:    created.UTC().Truncate(time.Second),
			PAXRecords: e.pax,
			Format:     tar.FormatPAX,
		}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("writing the header of %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("writing %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func userName(id int) string {
	if id == NonRoot {
		return "nonroot"
	}
	return "root"
}

// caBundle is Mozilla's root store as x509roots/fallback embeds it, in
// PEM, in the bundle's order. Roots with constraints (a distrust-after
// date) are left out: a PEM file cannot carry the constraint.
func caBundle() []byte {
	var buf bytes.Buffer
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate})
	}
	return buf.Bytes()
}

// layer is a gzip-compressed tar held in memory, digests computed once.
type layer struct {
	raw, gz        []byte
	diffID, digest v1.Hash
}

// newLayer compresses raw with Go's gzip at the default level and no name
// or time in its header, so the same tar always gives the same blob.
func newLayer(raw []byte) (*layer, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, fmt.Errorf("compressing the layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing the layer: %w", err)
	}
	l := &layer{raw: raw, gz: gz.Bytes()}
	if l.diffID, _, err = v1.SHA256(bytes.NewReader(l.raw)); err != nil {
		return nil, err
	}
	if l.digest, _, err = v1.SHA256(bytes.NewReader(l.gz)); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *layer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *layer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *layer) Size() (int64, error)     { return int64(len(l.gz)), nil }
func (l *layer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.gz)), nil
}
func (l *layer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.raw)), nil
}
func (l *layer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
