// Package ociimage turns egressgate's static binaries into OCI images: the
// last step of the release path, after `go build` and before a cluster pulls
// `egress-operator`, `coredns` or `egressctl`. It assembles each image with
// go-containerregistry from one layer it writes itself (no base image is
// downloaded and no Docker daemon is used), adds an SPDX SBOM read from the
// binary's build info, makes one multi-platform index per binary, and writes
// it as an OCI image layout packed into a tar, pushes it to a registry, or
// unpacks it again so tests can run the binary from the image.
//
// Everything is reproducible: file times are the Metadata's Created time,
// tar entries are sorted with fixed owners, gzip is Go's at a fixed level,
// so the same binaries always give the same digests.
package ociimage

import (
	"fmt"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things are in every image.
const (
	// BinaryDir holds the binary; the entrypoint is BinaryDir/<name>.
	BinaryDir = "/usr/local/bin"
	// SBOMDir holds the SPDX document, SBOMDir/<name>.spdx.json.
	SBOMDir = "/usr/share/sbom"
	// CACertificatesPath is where Go's crypto/x509 looks first on Linux.
	CACertificatesPath = "/etc/ssl/certs/ca-certificates.crt"
	// NonRoot is the uid and gid every image runs as (user and group
	// "nonroot", as in distroless and CoreDNS's own image).
	NonRoot = 65532
	// Source is the repository the images are built from.
	Source = "https://github.com/egressgate/egressgate"
	// DefaultRegistry is where `make push` sends the images.
	DefaultRegistry = "ghcr.io/egressgate"
)

// Image is one of egressgate's images: the binary it packages and what the
// image adds around it.
type Image struct {
	// Name is the image's name and the binary's file name.
	Name string
	// Package is the main package, relative to the module root.
	Package string
	// Description becomes org.opencontainers.image.description.
	Description string
	// CACertificates adds Mozilla's roots (x509roots/fallback) at
	// CACertificatesPath.
	CACertificates bool
	// NetBindService gives the binary the file capability
	// cap_net_bind_service, so it binds ports below 1024 as NonRoot.
	NetBindService bool
	// VersionFlag makes the binary print its version and exit.
	VersionFlag string
}

// Images are the three images egressgate ships. All three carry CA
// certificates: the operator and egressctl talk HTTPS to API servers and to
// cloud credential endpoints a kubeconfig may name, and CoreDNS's forward
// plugin verifies DNS-over-TLS upstreams against the system roots, as
// CoreDNS's own image does. Only CoreDNS binds a privileged port (53).
var Images = []Image{
	{Name: "egress-operator", Package: "./cmd/egress-operator", CACertificates: true, VersionFlag: "--version",
		Description: "egressgate's operator: one egress gateway per ExternalService"},
	{Name: "coredns", Package: "./cmd/coredns", CACertificates: true, NetBindService: true, VersionFlag: "-version",
		Description: "CoreDNS v1.15.0 with egressgate's egressoperator plugin"},
	{Name: "egressctl", Package: "./cmd/egressctl", CACertificates: true, VersionFlag: "--version",
		Description: "egressgate's command line"},
}

// Lookup returns the image called name.
func Lookup(name string) (Image, error) {
	for _, img := range Images {
		if img.Name == name {
			return img, nil
		}
	}
	return Image{}, fmt.Errorf("no image %q: choose egress-operator, coredns or egressctl", name)
}

// Metadata is what one build stamps into every image.
type Metadata struct {
	// Version is what `git describe` said (the Makefile's VERSION).
	Version string
	// Commit is the full commit hash.
	Commit string
	// Created is every timestamp in the image: the commit's time or
	// SOURCE_DATE_EPOCH, never the clock.
	Created time.Time
}

// Binary is one platform's build of an image's binary.
type Binary struct {
	// Platform is "os/arch", e.g. "linux/amd64".
	Platform string
	// Path is the static binary on disk.
	Path string
}

// Build assembles the multi-platform index of img from one binary per
// platform, in the order given.
func Build(img Image, meta Metadata, binaries []Binary) (v1.ImageIndex, error) {
	platforms, err := parsePlatforms(binaries)
	if err != nil {
		return nil, fmt.Errorf("building image %s: %w", img.Name, err)
	}
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, b := range binaries {
		im, err := buildImage(img, meta, platforms[i], b.Path)
		if err != nil {
			return nil, fmt.Errorf("building image %s for %s: %w", img.Name, b.Platform, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: im, Descriptor: v1.Descriptor{Platform: &platforms[i]}})
	}
	idx, ok := mutate.Annotations(idx, annotations(img, meta)).(v1.ImageIndex)
	if !ok {
		return nil, fmt.Errorf("building image %s: annotating the index did not give an index", img.Name)
	}
	return idx, nil
}

// parsePlatforms checks that every binary names its own os/arch.
func parsePlatforms(binaries []Binary) ([]v1.Platform, error) {
	if len(binaries) == 0 {
		return nil, fmt.Errorf("no binaries given")
	}
	var out []v1.Platform
	for _, b := range binaries {
		p, err := v1.ParsePlatform(b.Platform)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("platform %q is not os/arch (e.g. linux/amd64)", b.Platform)
		}
		for _, q := range out {
			if q.Equals(*p) {
				return nil, fmt.Errorf("platform %s is given twice; give one binary per platform", p)
			}
		}
		out = append(out, *p)
	}
	return out, nil
}

// buildImage is img for one platform: the layer, the config and the
// manifest's annotations.
func buildImage(img Image, meta Metadata, p v1.Platform, binary string) (v1.Image, error) {
	sbom, err := SBOM(img, meta, binary)
	if err != nil {
		return nil, err
	}
	layer, err := rootLayer(img, meta.Created, binary, sbom)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: meta.Created.UTC()}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	base, err = mutate.ConfigFile(base, &v1.ConfigFile{
		Architecture: p.Architecture,
		OS:           p.OS,
		Variant:      p.Variant,
		Created:      created,
		Config:       config(img, meta),
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, fmt.Errorf("setting the config: %w", err)
	}
	im, err := mutate.Append(base, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   created,
			CreatedBy: "hack/images: " + img.Name + " with /etc/passwd, /etc/group, /tmp and its SBOM",
			Comment:   "built without a base image",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("adding the layer: %w", err)
	}
	im, ok := mutate.Annotations(im, annotations(img, meta)).(v1.Image)
	if !ok {
		return nil, fmt.Errorf("annotating the manifest did not give an image")
	}
	return im, nil
}

// config is the runtime configuration: who runs what, where.
func config(img Image, meta Metadata) v1.Config {
	uid := strconv.Itoa(NonRoot)
	return v1.Config{
		User:       uid + ":" + uid,
		Entrypoint: []string{BinaryDir + "/" + img.Name},
		WorkingDir: "/",
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		Labels:     annotations(img, meta),
	}
}

// annotations are the OCI annotations, used as the config's labels too. No
// licence is declared: the repository has no LICENSE file yet.
func annotations(img Image, meta Metadata) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       img.Name,
		"org.opencontainers.image.description": img.Description,
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.url":         Source,
		"org.opencontainers.image.version":     meta.Version,
		"org.opencontainers.image.revision":    meta.Commit,
		"org.opencontainers.image.created":     meta.Created.UTC().Format(time.RFC3339),
	}
}
