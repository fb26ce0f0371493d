package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/egressgate/egressgate/internal/ociimage"
)

// push sends every archive to REGISTRY/<name>:VERSION and prints ref@digest.
func push(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	out := fs.String("out", "bin/images", "directory of the archives")
	registry := fs.String("registry", ociimage.DefaultRegistry, "registry and namespace to push to")
	version := fs.String("version", "", "tag (default: each image's org.opencontainers.image.version)")
	given, err := parse(fs, args)
	if err != nil {
		return err
	}
	files, err := archives(*out, given)
	if err != nil {
		return err
	}
	for _, a := range files {
		err := withArchive(a, func(idx v1.ImageIndex) error {
			tag := *version
			if tag == "" {
				m, err := idx.IndexManifest()
				if err != nil {
					return err
				}
				tag = m.Annotations["org.opencontainers.image.version"]
			}
			ref, err := ociimage.Push(ctx, idx, *registry+"/"+imageName(a)+":"+tag)
			if err != nil {
				return err
			}
			fmt.Println(ref)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// sbom prints the SPDX document of one platform's image in an archive.
func sbom(args []string) error {
	fs := flag.NewFlagSet("sbom", flag.ContinueOnError)
	platform := fs.String("platform", "", "os/arch (default: the archive's first platform)")
	given, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(given) != 1 {
		return fmt.Errorf("sbom: give one archive, e.g. sbom bin/images/coredns.tar --platform linux/amd64")
	}
	return withArchive(given[0], func(idx v1.ImageIndex) error {
		p := *platform
		if p == "" {
			ps, err := ociimage.Platforms(idx)
			if err != nil {
				return err
			}
			if len(ps) == 0 {
				return fmt.Errorf("sbom: %s names no platform", given[0])
			}
			p = ps[0]
		}
		b, err := ociimage.ReadSBOM(idx, p)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(b)
		return err
	})
}

// digests prints, for each archive, the index digest and, per platform, the
// manifest digest and the image's size compressed (what a pull transfers:
// manifest, config, layers) and uncompressed (the layers' tars).
func digests(args []string) error {
	fs := flag.NewFlagSet("digests", flag.ContinueOnError)
	out := fs.String("out", "bin/images", "directory of the archives")
	given, err := parse(fs, args)
	if err != nil {
		return err
	}
	files, err := archives(*out, given)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tPLATFORM\tDIGEST\tCOMPRESSED\tUNCOMPRESSED")
	for _, a := range files {
		err := withArchive(a, func(idx v1.ImageIndex) error { return describe(tw, imageName(a), idx) })
		if err != nil {
			return err
		}
	}
	return tw.Flush()
}

// describe writes one image's rows: the index, then each platform.
func describe(w io.Writer, name string, idx v1.ImageIndex) error {
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s\tindex\t%s\t\t\n", name, d)
	ps, err := ociimage.Platforms(idx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		img, err := ociimage.PlatformImage(idx, p)
		if err != nil {
			return err
		}
		md, err := img.Digest()
		if err != nil {
			return err
		}
		packed, unpacked, err := sizes(img)
		if err != nil {
			return fmt.Errorf("%s %s: %w", name, p, err)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", name, p, md, mib(packed), mib(unpacked))
	}
	return nil
}

// sizes adds up what a pull transfers and what the layers unpack to.
func sizes(img v1.Image) (packed, unpacked int64, err error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, 0, err
	}
	packed = int64(len(raw)) + m.Config.Size
	layers, err := img.Layers()
	if err != nil {
		return 0, 0, err
	}
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			return 0, 0, err
		}
		packed += s
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, 0, err
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return 0, 0, err
		}
		unpacked += n
	}
	return packed, unpacked, nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB (%d)", float64(n)/(1<<20), n) }

// withArchive reads an archive into a temporary directory for fn.
func withArchive(archive string, fn func(v1.ImageIndex) error) error {
	dir, err := os.MkdirTemp("", "images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	idx, err := ociimage.ReadArchive(archive, dir)
	if err != nil {
		return err
	}
	return fn(idx)
}
