package ociimage

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// The annotations on index.json's descriptor that name the image when an
// archive is loaded: containerd (ctr import, kind load image-archive) and
// Docker read the first, Podman and skopeo the second. They are what
// `docker save` writes.
const (
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

// WriteArchive writes index to file as an OCI image layout (oci-layout,
// index.json, blobs/sha256/...) packed into a tar. index.json holds one
// descriptor, of index, named ref ("ghcr.io/egressgate/coredns:v0.3.0").
// The tar is deterministic: entries sorted, owned by root, dated at the
// index's org.opencontainers.image.created annotation (or Unix 0).
func WriteArchive(file string, index v1.ImageIndex, ref string) error {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("writing archive %s: ref %q must be registry/repository:tag: %w", file, ref, err)
	}
	dir, err := os.MkdirTemp("", "ociimage-layout-")
	if err != nil {
		return fmt.Errorf("writing archive %s: %w", file, err)
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("writing archive %s: starting the layout: %w", file, err)
	}
	err = lp.AppendIndex(index, layout.WithAnnotations(map[string]string{
		annotationImageName: tag.Name(),
		annotationRefName:   tag.TagStr(),
	}))
	if err != nil {
		return fmt.Errorf("writing archive %s: writing the layout: %w", file, err)
	}
	mtime := time.Unix(0, 0)
	if m, err := index.IndexManifest(); err == nil {
		if t, err := time.Parse(time.RFC3339, m.Annotations["org.opencontainers.image.created"]); err == nil {
			mtime = t
		}
	}
	if err := packDir(dir, file, mtime); err != nil {
		return fmt.Errorf("writing archive %s: %w", file, err)
	}
	return nil
}

// packDir tars dir into file, in lexical order, through a temporary file
// renamed into place.
func packDir(dir, file string, mtime time.Time) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(file), filepath.Base(file)+".tmp-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	tw := tar.NewWriter(tmp)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: mtime.UTC(), Uname: "root", Gname: "root", Typeflag: tar.TypeReg}
		if d.IsDir() {
			h.Name, h.Mode, h.Typeflag = h.Name+"/", 0o755, tar.TypeDir
			return tw.WriteHeader(h)
		}
		return copyFileInto(tw, h, p)
	})
	if err != nil {
		return fmt.Errorf("packing the layout: %w", err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

func copyFileInto(tw *tar.Writer, h *tar.Header, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	h.Size = st.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// ReadArchive unpacks an archive WriteArchive wrote into dir (e.g.
// t.TempDir(); it must outlive the index, which reads its blobs from there)
// and returns the image index it holds, read with go-containerregistry's
// layout package.
func ReadArchive(archive, dir string) (v1.ImageIndex, error) {
	if err := untarLayout(archive, dir); err != nil {
		return nil, fmt.Errorf("reading archive %s: %w", archive, err)
	}
	outer, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading archive %s: not an OCI image layout: %w", archive, err)
	}
	m, err := outer.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading archive %s: index.json: %w", archive, err)
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsIndex() {
		return nil, fmt.Errorf("reading archive %s: index.json must hold exactly one image index, it holds %d descriptors", archive, len(m.Manifests))
	}
	idx, err := outer.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		return nil, fmt.Errorf("reading archive %s: %w", archive, err)
	}
	return idx, nil
}

// untarLayout extracts the directories and regular files of archive into
// dir, refusing any name that would land outside it.
func untarLayout(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("not a tar: %w", err)
		}
		target := filepath.Join(dir, cleanName(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, 0o755)
		case tar.TypeReg:
			err = writeFile(target, tr, 0o644)
		default:
			err = fmt.Errorf("%s: an OCI layout holds only files and directories", h.Name)
		}
		if err != nil {
			return err
		}
	}
}

// cleanName is a tar entry's name as a path relative to the target
// directory: cleaned as if rooted there, so "../x" cannot climb out of it.
func cleanName(n string) string {
	rel := path.Clean("/" + n)[1:]
	if rel == "" {
		return "."
	}
	return filepath.FromSlash(rel)
}

func writeFile(target string, r io.Reader, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
