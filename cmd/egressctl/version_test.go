package main

import (
	"bytes"
	"strings"
	"testing"
)

// `egressctl version` and `egressctl --version` both name the binary, its
// version and the commit it was built from.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out bytes.Buffer
		root := newRootCommand()
		root.SetOut(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		if got := out.String(); !strings.HasPrefix(got, "egressctl ") || !strings.Contains(got, "(commit ") {
			t.Errorf("egressctl %s printed %q", args[0], got)
		}
	}
}
