// Command images builds, pushes and inspects egressgate's container images
// (egress-operator, coredns, egressctl), the release end of the build: it
// cross-compiles each binary, assembles one multi-platform OCI image per
// binary with internal/ociimage (no Docker, no base image), and writes
// bin/images/<name>.tar. mk/images.mk runs it; see `make help`.
//
//	go run ./hack/images build --out bin/images --platforms linux/amd64,linux/arm64 --version V --commit C
//	go run ./hack/images push --registry ghcr.io/egressgate --version V
//	go run ./hack/images sbom bin/images/coredns.tar [--platform linux/amd64]
//	go run ./hack/images digests [--out bin/images]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
)

const usage = `usage: go run ./hack/images COMMAND [flags]

commands:
  build    cross-compile every binary and write bin/images/<name>.tar
  push     push every archive in --out to REGISTRY/<name>:VERSION, print ref@digest
  sbom     print the SPDX SBOM inside an archive: sbom ARCHIVE [--platform linux/amd64]
  digests  print each image's digests and sizes, per platform

Run COMMAND -h for its flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "build":
		return build(ctx, args[1:])
	case "push":
		return push(ctx, args[1:])
	case "sbom":
		return sbom(args[1:])
	case "digests":
		return digests(args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(os.Stdout, usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// parse parses flags placed before or after the positional arguments and
// returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// archives are the positional archives, or every *.tar directly in out.
func archives(out string, given []string) ([]string, error) {
	if len(given) > 0 {
		return given, nil
	}
	found, err := filepath.Glob(filepath.Join(out, "*.tar"))
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("no archives in %s: run `make images` first", out)
	}
	slices.Sort(found)
	return found, nil
}

// imageName is the image an archive holds: its file name without ".tar".
func imageName(archive string) string {
	return strings.TrimSuffix(filepath.Base(archive), ".tar")
}
