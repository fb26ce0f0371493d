package layering

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/egressgate/egressgate"

// pkg is what `go list -json` says of one package.
type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	ForTest    string
}

// list runs `go list -json` with args (patterns relative to the module root)
// and returns every package it prints.
func list(t *testing.T, args ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, exit.Stderr)
		}
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// ours returns the packages of this module among deps, relative to the
// module path ("api/v1"), without test variants' suffixes.
func ours(deps []string) []string {
	var out []string
	for _, d := range deps {
		d, _, _ = strings.Cut(d, " ")
		d = strings.TrimSuffix(d, ".test") // a test's generated main package
		if rel, ok := strings.CutPrefix(d, module+"/"); ok && !slices.Contains(out, rel) {
			out = append(out, rel)
		}
	}
	return out
}

// allowedOnly reports each of our packages in deps that none of the allowed
// prefixes covers ("api/v1" allows exactly api/v1; "conformance/" allows
// everything under conformance).
func allowedOnly(deps []string, allowed ...string) []string {
	var bad []string
	for _, d := range ours(deps) {
		ok := slices.ContainsFunc(allowed, func(a string) bool {
			if strings.HasSuffix(a, "/") {
				return strings.HasPrefix(d+"/", a)
			}
			return d == a
		})
		if !ok {
			bad = append(bad, d)
		}
	}
	return bad
}

func TestWhoMayImportWhom(t *testing.T) {
	rules := []struct {
		pattern string
		allowed []string
		why     string
	}{
		{"./api/...", []string{"api/v1"}, "api/v1 is the contract every other package shares; it depends on none of them"},
		{"./translate", []string{"api/v1", "translate"}, "the translator is pure: ExternalService and observed facts in, objects out"},
		{"./dnsplugin", []string{"api/v1", "dnsplugin"}, "CoreDNS links the plugin; it must not link the operator"},
		{"./cmd/coredns", []string{"api/v1", "dnsplugin", "internal/version", "cmd/coredns"}, "CoreDNS links the plugin, the API and the version stamp only"},
		{"./controllers", []string{"api/v1", "translate", "internal/kubescheme", "controllers"}, "the reconciler wires the translator to the API server"},
		{"./internal/corefile", []string{"internal/corefile"}, "Corefile editing is pure text work on CoreDNS's parser; egressctl wires it to the cluster"},
	}
	for _, r := range rules {
		for _, p := range list(t, "-deps=false", r.pattern) {
			deps := list(t, "-deps", p.ImportPath)
			var all []string
			for _, d := range deps {
				all = append(all, d.ImportPath)
			}
			if bad := allowedOnly(all, r.allowed...); len(bad) > 0 {
				t.Errorf("%s depends on %s: it may depend only on %s (%s)", p.ImportPath, strings.Join(bad, ", "), strings.Join(r.allowed, ", "), r.why)
			}
		}
	}
}

// TestConformanceJudgesFromOutside checks that the conformance suite, tests
// included, uses nothing of the operator, the translator, the DNS plugin or
// the importer: it must judge any implementation by what the cluster shows.
func TestConformanceJudgesFromOutside(t *testing.T) {
	allowed := []string{"api/v1", "samples", "samples/corpus", "internal/crdpaths", "internal/testenv", "internal/localcluster", "internal/supervisor", "internal/kubescheme", "conformance/"}
	for _, p := range list(t, "-deps", "-test", "./conformance/...") {
		if !strings.HasPrefix(p.ImportPath, module+"/conformance") {
			continue
		}
		if bad := allowedOnly(p.Imports, allowed...); len(bad) > 0 {
			t.Errorf("%s imports %s: the conformance suite may import only %s", p.ImportPath, strings.Join(bad, ", "), strings.Join(allowed, ", "))
		}
	}
	// Transitively too: what the suite's helpers import must not bring the
	// operator back in.
	var all []string
	for _, p := range list(t, "-deps", "-test", "./conformance/...") {
		all = append(all, p.ImportPath)
	}
	if bad := allowedOnly(all, allowed...); len(bad) > 0 {
		t.Errorf("the conformance suite depends, through its helpers, on %s", strings.Join(bad, ", "))
	}
}

// TestCoreDNSLinksNoOperatorLibraries checks the third-party side of the
// CoreDNS binary: no Gateway API, no Istio, and of controller-runtime only
// pkg/scheme (which api/v1's generated registration uses).
func TestCoreDNSLinksNoOperatorLibraries(t *testing.T) {
	var bad []string
	for _, p := range list(t, "-deps", "./cmd/coredns") {
		d := p.ImportPath
		switch {
		case strings.HasPrefix(d, "sigs.k8s.io/gateway-api"), strings.HasPrefix(d, "istio.io/"):
			bad = append(bad, d)
		case strings.HasPrefix(d, "sigs.k8s.io/controller-runtime") && d != "sigs.k8s.io/controller-runtime/pkg/scheme":
			bad = append(bad, d)
		}
	}
	if len(bad) > 0 {
		t.Errorf("cmd/coredns links %d packages it never uses, e.g. %s: the plugin must import only api/v1 of egressgate", len(bad), strings.Join(bad[:min(5, len(bad))], ", "))
	}
}

// TestTranslateReadsNoEnvironment keeps the translator's input one value:
// the environment is read in cmd/ and passed in.
func TestTranslateReadsNoEnvironment(t *testing.T) {
	for _, p := range list(t, "./translate") {
		if slices.Contains(p.Imports, "os") {
			t.Errorf("%s imports os: read files and the environment in cmd/ and pass the result in Options or Observed", p.ImportPath)
		}
	}
}
