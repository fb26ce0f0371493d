package ociimage

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ReadFile returns the content of file (an absolute path, e.g.
// "/etc/passwd") in index's image for platform, as its layers leave it.
func ReadFile(index v1.ImageIndex, platform, file string) ([]byte, error) {
	want := strings.TrimPrefix(path.Clean(file), "/")
	var found []byte
	err := walkFiles(index, platform, func(h *tar.Header, r io.Reader) error {
		if strings.TrimPrefix(path.Clean(h.Name), "/") != want || h.Typeflag != tar.TypeReg {
			return nil
		}
		b, err := io.ReadAll(r)
		found = b
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s from the %s image: %w", file, platform, err)
	}
	if found == nil {
		return nil, fmt.Errorf("reading %s from the %s image: %w", file, platform, errNoFile)
	}
	return found, nil
}

var errNoFile = errors.New("no such file in the image")

// ReadSBOM returns the SPDX document under SBOMDir in index's image for
// platform.
func ReadSBOM(index v1.ImageIndex, platform string) ([]byte, error) {
	var sbom []byte
	err := walkFiles(index, platform, func(h *tar.Header, r io.Reader) error {
		dir, file := path.Split(path.Clean("/" + h.Name))
		if dir != SBOMDir+"/" || !strings.HasSuffix(file, ".spdx.json") {
			return nil
		}
		b, err := io.ReadAll(r)
		sbom = b
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the SBOM of the %s image: %w", platform, err)
	}
	if sbom == nil {
		return nil, fmt.Errorf("reading the SBOM of the %s image: no %s/*.spdx.json: %w", platform, SBOMDir, errNoFile)
	}
	return sbom, nil
}

// walkFiles calls fn for every tar entry of every layer, bottom layer first.
func walkFiles(index v1.ImageIndex, platform string, fn func(*tar.Header, io.Reader) error) error {
	img, err := PlatformImage(index, platform)
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		if err := walkLayer(l, fn); err != nil {
			return err
		}
	}
	return nil
}

// walkLayer calls fn for every entry of one layer's tar.
func walkLayer(l v1.Layer, fn func(*tar.Header, io.Reader) error) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading a layer's tar: %w", err)
		}
		if err := fn(h, tr); err != nil {
			return err
		}
	}
}
