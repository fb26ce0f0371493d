package ociimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// versionPackage is where the Makefile's VERSION_LDFLAGS stamp the version.
const versionPackage = "github.com/egressgate/egressgate/internal/version"

// VersionLDFlags is the top-level Makefile's VERSION_LDFLAGS for version
// and commit, for callers that are not given them by make.
func VersionLDFlags(version, commit string) string {
	return "-X " + versionPackage + ".version=" + version + " -X " + versionPackage + ".commit=" + commit
}

// GoBuild cross-compiles the binaries of imgs for platform ("linux/arm64")
// into dir, one file named after each image, as static binaries for an
// image: CGO_ENABLED=0, -trimpath, -buildvcs=false and -ldflags "-s -w
// <ldflags>", where ldflags carries the version (VersionLDFlags). It runs
// `go build` in moduleRoot, the directory holding egressgate's go.mod.
// The tests and hack/images both build through here, so they share the
// build cache.
func GoBuild(ctx context.Context, moduleRoot, platform, dir, ldflags string, imgs ...Image) ([]Binary, error) {
	p, err := v1.ParsePlatform(platform)
	if err != nil || p.OS == "" || p.Architecture == "" {
		return nil, fmt.Errorf("building for %q: give the platform as os/arch, e.g. linux/amd64", platform)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("building for %s: %w", platform, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("building for %s: %w", platform, err)
	}
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", strings.TrimSpace("-s -w " + ldflags), "-o", abs + string(filepath.Separator)}
	var out []Binary
	for _, img := range imgs {
		if filepath.Base(img.Package) != img.Name {
			return nil, fmt.Errorf("building %s: go build names the binary after its package %s; rename one to match", img.Name, img.Package)
		}
		args = append(args, img.Package)
		out = append(out, Binary{Platform: platform, Path: filepath.Join(abs, filepath.Base(img.Package))})
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if p.Architecture == "arm" && p.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go %s for %s: %w\n%s", strings.Join(args, " "), platform, err, b)
	}
	for _, b := range out {
		if _, err := os.Stat(b.Path); err != nil {
			return nil, fmt.Errorf("building for %s: go build left no %s: %w", platform, b.Path, err)
		}
	}
	return out, nil
}
