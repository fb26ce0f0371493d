package ociimage

import (
	"archive/tar"
	"crypto/x509"
	"encoding/pem"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
)

// Two builds of the same binaries give the same index digest, image by
// image.
func TestBuildIsReproducible(t *testing.T) {
	first := testIndexes(t)
	for _, img := range Images {
		second, err := Build(img, testMeta, []Binary{testBinaries[img.Name]})
		if err != nil {
			t.Fatal(err)
		}
		d1, err := first[img.Name].Digest()
		if err != nil {
			t.Fatal(err)
		}
		d2, err := second.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if d1 != d2 {
			t.Errorf("%s: two builds of the same binary gave index digests %s and %s", img.Name, d1, d2)
		}
	}
}

// layerEntry is what a test reads of one tar entry.
type layerEntry struct {
	hdr  *tar.Header
	data []byte
}

// layerEntries reads every entry of the platform image's layers, in order.
func layerEntries(t *testing.T, name string) []layerEntry {
	t.Helper()
	var out []layerEntry
	err := walkFiles(testIndexes(t)[name], testPlatform, func(h *tar.Header, r io.Reader) error {
		b, err := io.ReadAll(r)
		out = append(out, layerEntry{h, b})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Each image runs as 65532 with the binary as its entrypoint, is labelled,
// has no shell, and carries the CA bundle, /etc/passwd and the SBOM in a
// layer with sorted entries, fixed owners and the build's time.
func TestImageContents(t *testing.T) {
	for _, img := range Images {
		t.Run(img.Name, func(t *testing.T) {
			im, err := PlatformImage(testIndexes(t)[img.Name], testPlatform)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := im.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			c := cf.Config
			if c.User != "65532:65532" || c.WorkingDir != "/" || !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/" + img.Name}) {
				t.Errorf("config: User %q, WorkingDir %q, Entrypoint %q; want 65532:65532, /, [/usr/local/bin/%s]", c.User, c.WorkingDir, c.Entrypoint, img.Name)
			}
			if cf.OS != "linux" || cf.Architecture != "amd64" || !cf.Created.Equal(testMeta.Created) {
				t.Errorf("config: %s/%s created %s, want linux/amd64 created %s", cf.OS, cf.Architecture, cf.Created, testMeta.Created)
			}
			want := map[string]string{
				"org.opencontainers.image.source":   "https://github.com/egressgate/egressgate",
				"org.opencontainers.image.revision": testCommit,
				"org.opencontainers.image.version":  testVersion,
				"org.opencontainers.image.title":    img.Name,
			}
			m, err := im.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range want {
				if c.Labels[k] != v || m.Annotations[k] != v {
					t.Errorf("%s: label %q, annotation %q, want %q", k, c.Labels[k], m.Annotations[k], v)
				}
			}
			checkLayer(t, img, layerEntries(t, img.Name))
			if b, err := ReadFile(testIndexes(t)[img.Name], testPlatform, "/etc/group"); err != nil || !strings.Contains(string(b), "nonroot:x:65532:") {
				t.Errorf("ReadFile /etc/group: %q, %v; want the nonroot group", b, err)
			}
			if _, err := ReadFile(testIndexes(t)[img.Name], testPlatform, "/bin/sh"); err == nil {
				t.Errorf("ReadFile /bin/sh found a shell")
			}
		})
	}
}

// checkLayer checks one image's layer, entry by entry.
func checkLayer(t *testing.T, img Image, entries []layerEntry) {
	t.Helper()
	files := map[string][]byte{}
	var names []string
	for _, e := range entries {
		h := e.hdr
		names = append(names, h.Name)
		files[strings.TrimSuffix(h.Name, "/")] = e.data
		if !h.ModTime.Equal(testMeta.Created) {
			t.Errorf("%s: mtime %s, want %s", h.Name, h.ModTime, testMeta.Created)
		}
		owner := 0
		if h.Name == "home/nonroot/" {
			owner = NonRoot
		}
		if h.Uid != owner || h.Gid != owner || h.Uname != userName(owner) || h.Gname != userName(owner) {
			t.Errorf("%s: owner %d:%d (%s:%s), want %d", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, owner)
		}
		if h.Name == "tmp/" && h.Mode != 0o1777 {
			t.Errorf("tmp/: mode %o, want 1777", h.Mode)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("layer entries are not sorted: %q", names)
	}
	for _, shell := range []string{"bin/sh", "bin/bash", "bin/busybox", "usr/bin/sh"} {
		if _, ok := files[shell]; ok {
			t.Errorf("the image has a shell, %s", shell)
		}
	}
	if !strings.Contains(string(files["etc/passwd"]), "nonroot:x:65532:65532:") || !strings.Contains(string(files["etc/group"]), "nonroot:x:65532:") {
		t.Errorf("/etc/passwd %q and /etc/group %q must name nonroot as 65532", files["etc/passwd"], files["etc/group"])
	}
	for _, f := range []string{"usr/local/bin/" + img.Name, "usr/share/sbom/" + img.Name + ".spdx.json"} {
		if len(files[f]) == 0 {
			t.Errorf("no %s in the layer; it has %q", f, slices.Sorted(maps.Keys(files)))
		}
	}
	if n := countCertificates(t, files["etc/ssl/certs/ca-certificates.crt"]); img.CACertificates && n < 100 {
		t.Errorf("%s: %d CA certificates, want Mozilla's roots (more than 100)", CACertificatesPath, n)
	}
}

// countCertificates parses a PEM bundle and counts its certificates.
func countCertificates(t *testing.T, b []byte) int {
	n := 0
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return n
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			t.Errorf("certificate %d of the CA bundle: %v", n, err)
		}
		n++
	}
}

// CoreDNS's binary carries cap_net_bind_service=+ep as the PAX record
// runtimes turn into the security.capability xattr; the others carry none.
func TestFileCapability(t *testing.T) {
	for _, img := range Images {
		var pax map[string]string
		for _, e := range layerEntries(t, img.Name) {
			if e.hdr.Name == "usr/local/bin/"+img.Name {
				pax = e.hdr.PAXRecords
			}
		}
		raw, ok := pax["SCHILY.xattr.security.capability"]
		if !img.NetBindService {
			if ok {
				t.Errorf("%s: unexpected file capability %x", img.Name, raw)
			}
			continue
		}
		if !ok {
			t.Fatalf("%s: no SCHILY.xattr.security.capability on the binary; PAX records %v", img.Name, pax)
		}
		c, err := DecodeFileCapability([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if !c.NetBindService() || c.Permitted != 1<<10 {
			t.Errorf("%s: capability %+v (%x), want cap_net_bind_service=+ep (effective, permitted 1<<10)", img.Name, c, raw)
		}
	}
}

// The decoder refuses what is not a revision 2 vfs_cap_data.
func TestDecodeFileCapabilityRefuses(t *testing.T) {
	good := netBindServiceCapability()
	if len(good) != 20 || good[0] != 0x01 || good[3] != 0x02 || good[5] != 0x04 {
		t.Errorf("cap_net_bind_service=+ep encodes as %x, want 01000002 00040000 and zeros", good)
	}
	rev3 := append([]byte{0, 0, 0, 3}, good[4:]...)
	for _, b := range [][]byte{nil, good[:12], rev3} {
		if _, err := DecodeFileCapability(b); err == nil {
			t.Errorf("DecodeFileCapability(%x) succeeded, want an error", b)
		}
	}
}
