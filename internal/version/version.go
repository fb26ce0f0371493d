// Package version says which egressgate a binary was built from. `make`
// stamps the version (`git describe --tags --always --dirty`) and the commit
// in with -ldflags; a plain `go build` falls back to the revision Go records
// from the checkout, and to "dev".
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time by the Makefile:
//
//	-X github.com/egressgate/egressgate/internal/version.version=v0.3.0-4-gabc1234
//	-X github.com/egressgate/egressgate/internal/version.commit=abc1234...
var (
	version string
	commit  string
)

// Get returns the version and commit of this binary.
func Get() (v, c string) {
	v, c = version, commit
	if info, ok := debug.ReadBuildInfo(); ok {
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if c == "" {
					c = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if v == "" && c != "" {
			v = "dev-" + c[:min(12, len(c))]
			if modified {
				v += "-dirty"
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	return v, c
}

// String is the line a binary prints for --version: its name, version,
// commit and Go version.
func String(binary string) string {
	v, c := Get()
	return fmt.Sprintf("%s %s (commit %s, %s %s/%s)", binary, v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
