package version

import (
	"strings"
	"testing"
)

func TestStringNamesBinaryVersionAndCommit(t *testing.T) {
	version, commit = "v1.2.3-4-gabcdef0", "abcdef0123"
	t.Cleanup(func() { version, commit = "", "" })
	got := String("egressctl")
	for _, want := range []string{"egressctl v1.2.3-4-gabcdef0", "commit abcdef0123", "go1."} {
		if !strings.Contains(got, want) {
			t.Errorf("String = %q, want it to contain %q", got, want)
		}
	}
}

func TestUnstampedBuildSaysDev(t *testing.T) {
	if v, c := Get(); !strings.HasPrefix(v, "dev") || c == "" {
		t.Errorf("an unstamped test binary reports %q, %q; want a dev version and some commit", v, c)
	}
}
