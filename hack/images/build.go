package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/egressgate/egressgate/internal/ociimage"
)

// build cross-compiles every image's binary for every platform into
// <out>/<os>/<arch>/ and writes <out>/<name>.tar. Cross-compilation lives
// here rather than in the Makefile so the tests build the same way
// (ociimage.GoBuild).
func build(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	out := fs.String("out", "bin/images", "directory for the binaries and the archives")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated os/arch list")
	version := fs.String("version", "", "version to stamp and tag (the Makefile's VERSION)")
	commit := fs.String("commit", "", "commit to stamp (the Makefile's COMMIT)")
	ldflags := fs.String("ldflags", "", "version -ldflags (the Makefile's VERSION_LDFLAGS; default: built from --version and --commit the same way)")
	created := fs.String("created", os.Getenv("SOURCE_DATE_EPOCH"), "every timestamp in the images, Unix seconds (default $SOURCE_DATE_EPOCH, else 0)")
	registry := fs.String("registry", ociimage.DefaultRegistry, "registry the archives name their image after (REGISTRY/<name>:VERSION)")
	only := fs.String("images", "", "comma-separated images to build (default: all)")
	root := fs.String("module-root", ".", "directory of egressgate's go.mod")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *version == "" || *commit == "" {
		return fmt.Errorf("build: --version and --commit are required (make passes VERSION and COMMIT)")
	}
	meta := ociimage.Metadata{Version: *version, Commit: *commit, Created: time.Unix(0, 0).UTC()}
	if *created != "" {
		sec, err := strconv.ParseInt(*created, 10, 64)
		if err != nil {
			return fmt.Errorf("build: --created %q must be Unix seconds: %w", *created, err)
		}
		meta.Created = time.Unix(sec, 0).UTC()
	}
	if *ldflags == "" {
		*ldflags = ociimage.VersionLDFlags(*version, *commit)
	}
	imgs, err := selectImages(*only)
	if err != nil {
		return err
	}
	binaries := map[string][]ociimage.Binary{}
	for _, p := range strings.Split(*platforms, ",") {
		p = strings.TrimSpace(p)
		fmt.Fprintf(os.Stderr, ">> go build for %s into %s\n", p, filepath.Join(*out, p))
		built, err := ociimage.GoBuild(ctx, *root, p, filepath.Join(*out, filepath.FromSlash(p)), *ldflags, imgs...)
		if err != nil {
			return err
		}
		for i, b := range built {
			binaries[imgs[i].Name] = append(binaries[imgs[i].Name], b)
		}
	}
	for _, img := range imgs {
		idx, err := ociimage.Build(img, meta, binaries[img.Name])
		if err != nil {
			return err
		}
		archive := filepath.Join(*out, img.Name+".tar")
		if err := ociimage.WriteArchive(archive, idx, *registry+"/"+img.Name+":"+*version); err != nil {
			return err
		}
		d, err := idx.Digest()
		if err != nil {
			return err
		}
		fmt.Printf("%s\t%s\t%s\n", img.Name, d, archive)
	}
	return nil
}

// selectImages is every image, or those named in the comma-separated list.
func selectImages(list string) ([]ociimage.Image, error) {
	if list == "" {
		return ociimage.Images, nil
	}
	var out []ociimage.Image
	for _, n := range strings.Split(list, ",") {
		img, err := ociimage.Lookup(strings.TrimSpace(n))
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}
