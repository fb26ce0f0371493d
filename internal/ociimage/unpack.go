package ociimage

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Platforms lists the platforms of index's manifests ("linux/amd64"), in
// the index's order.
func Platforms(index v1.ImageIndex) ([]string, error) {
	m, err := index.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the index manifest: %w", err)
	}
	var out []string
	for _, d := range m.Manifests {
		if d.Platform != nil {
			out = append(out, d.Platform.String())
		}
	}
	return out, nil
}

// PlatformImage returns the image index holds for platform ("linux/amd64").
func PlatformImage(index v1.ImageIndex, platform string) (v1.Image, error) {
	want, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, fmt.Errorf("platform %q is not os/arch[/variant]: %w", platform, err)
	}
	m, err := index.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the index manifest: %w", err)
	}
	for _, d := range m.Manifests {
		if p := d.Platform; p != nil && p.OS == want.OS && p.Architecture == want.Architecture &&
			(want.Variant == "" || p.Variant == want.Variant) {
			img, err := index.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading the %s image %s: %w", platform, d.Digest, err)
			}
			return img, nil
		}
	}
	have, _ := Platforms(index)
	return nil, fmt.Errorf("the index has no image for %s; it has %s", platform, strings.Join(have, ", "))
}

// Unpack extracts the layers of index's image for platform into dir, in
// order, and returns the config's entrypoint with its program rewritten
// into dir, ready for exec.Command. File modes are kept; owners and xattrs
// (the file capability among them) are not, device files are skipped, and
// nothing is written outside dir.
func Unpack(index v1.ImageIndex, platform, dir string) ([]string, error) {
	img, err := PlatformImage(index, platform)
	if err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", platform, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("unpacking %s: listing layers: %w", platform, err)
	}
	var dirs []dirMode
	for i, l := range layers {
		d, err := extractLayer(l, dir)
		if err != nil {
			return nil, fmt.Errorf("unpacking %s: layer %d: %w", platform, i, err)
		}
		dirs = append(dirs, d...)
	}
	// Directory modes last, deepest first, so a read-only directory does
	// not stop its own files from being written.
	for _, d := range slices.Backward(dirs) {
		if err := os.Chmod(d.path, d.mode); err != nil {
			return nil, fmt.Errorf("unpacking %s: %w", platform, err)
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("unpacking %s: reading the config: %w", platform, err)
	}
	ep := slices.Clone(cfg.Config.Entrypoint)
	if len(ep) == 0 {
		return nil, fmt.Errorf("unpacking %s: the image has no entrypoint", platform)
	}
	if filepath.IsAbs(ep[0]) {
		ep[0] = filepath.Join(dir, ep[0])
	}
	return ep, nil
}

// UnpackArchive is Unpack of the index in an archive WriteArchive wrote.
func UnpackArchive(archive, platform, dir string) ([]string, error) {
	tmp, err := os.MkdirTemp("", "ociimage-read-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	idx, err := ReadArchive(archive, tmp)
	if err != nil {
		return nil, err
	}
	return Unpack(idx, platform, dir)
}

type dirMode struct {
	path string
	mode fs.FileMode
}

// extractLayer writes one layer's entries under dir, applying whiteouts,
// and returns the directories it made with their modes.
func extractLayer(l v1.Layer, dir string) ([]dirMode, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var dirs []dirMode
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dirs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the layer's tar: %w", err)
		}
		target := filepath.Join(dir, cleanName(h.Name))
		if err := insideDir(dir, filepath.Dir(target)); err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
		base := filepath.Base(target)
		if removed, ok := strings.CutPrefix(base, ".wh."); ok {
			if err := whiteout(filepath.Dir(target), removed); err != nil {
				return nil, fmt.Errorf("%s: %w", h.Name, err)
			}
			continue
		}
		mode := h.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return nil, err
			}
			dirs = append(dirs, dirMode{target, mode})
		case tar.TypeReg:
			err = replaceWith(target, func() error { return writeFile(target, tr, 0o600) })
			if err == nil {
				err = os.Chmod(target, mode)
			}
		case tar.TypeSymlink:
			err = replaceWith(target, func() error { return os.Symlink(h.Linkname, target) })
		case tar.TypeLink:
			src := filepath.Join(dir, cleanName(h.Linkname))
			err = replaceWith(target, func() error { return os.Link(src, target) })
		default: // devices, FIFOs and anything else a test cannot use
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
	}
}

// insideDir fails when p, with its symlinks resolved, is not in dir: a
// layer must not write through a link to outside the target.
func insideDir(dir, p string) error {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	resolved, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // made below, as plain directories
	}
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(root, resolved); err != nil || !filepath.IsLocal(rel) && rel != "." {
		return fmt.Errorf("refusing to write through a symlink to %s, outside %s", resolved, dir)
	}
	return nil
}

// replaceWith removes what is at target (not a directory) and calls create.
func replaceWith(target string, create func() error) error {
	if st, err := os.Lstat(target); err == nil && !st.IsDir() {
		if err := os.Remove(target); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	return create()
}

// whiteout applies an OCI whiteout in parent: ".wh..wh..opq" empties it,
// ".wh.<name>" deletes name.
func whiteout(parent, removed string) error {
	if removed == ".wh..opq" {
		entries, err := os.ReadDir(parent)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(parent, e.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	return os.RemoveAll(filepath.Join(parent, removed))
}
