package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/egressgate/egressgate/translate"
)

var update = flag.Bool("update", false, "rewrite testdata/translate/*.out.yaml from the current output")

// checkGolden compares got with the golden file, or rewrites the file
// with -update; regenerate is the command that does so.
func checkGolden(t *testing.T, golden, got, regenerate string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run: %s)", err, regenerate)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got); if intended run: %s\n%s", golden, regenerate, diff)
	}
}

// TestTranslateSamples runs `egressctl translate` on every sample and
// compares its output with testdata/translate/<sample>.out.yaml.
func TestTranslateSamples(t *testing.T) {
	samples, err := filepath.Glob("../../samples/*.yaml")
	if err != nil || len(samples) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, sample := range samples {
		name := strings.TrimSuffix(filepath.Base(sample), ".yaml")
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			o := translateOptions{files: []string{sample}, output: "yaml", opts: translate.DefaultOptions()}
			if err := runTranslate(context.Background(), nil, &out, &errOut, o); err != nil {
				t.Fatalf("translate %s: %v", sample, err)
			}
			checkGolden(t, filepath.Join("testdata", "translate", name+".out.yaml"), out.String(), "go test ./cmd/egressctl -run TestTranslateSamples -update")
		})
	}
}

// TestTranslateRefusesWhatTheAPIServerRefuses feeds invalid objects on stdin,
// as one multi-document stream and as a List, and wants the CRD's messages.
func TestTranslateRefusesWhatTheAPIServerRefuses(t *testing.T) {
	multiDoc := `apiVersion: egress.monzo.com/v1
kind: ExternalService
metadata: {name: ok}
spec: {dnsName: api.example.com, ports: [{port: 443, protocol: TLS}]}
---
apiVersion: egress.monzo.com/v1
kind: ExternalService
metadata: {name: wild}
spec: {dnsName: "*.example.com", ports: [{port: 443}]}
---
apiVersion: egress.monzo.com/v1
kind: ExternalService
metadata: {name: dup}
spec: {dnsName: example.com, ports: [{port: 443}, {port: 443, protocol: TLS}], minReplicas: 5, maxReplicas: 2}
`
	list := `{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "egress.monzo.com/v1", "kind": "ExternalService", "metadata": {"name": "a-name-that-is-far-too-long-for-the-allowed-label-key-of-clients"},
   "spec": {"dnsName": "Example.com", "ports": [{"port": 443}], "ipOverride": ["10.0.0.0/8"]}}]}`
	cases := map[string]struct {
		input string
		want  []string
	}{
		"multi-document YAML": {multiDoc, []string{
			"ExternalService wild", "dnsName must not be a wildcard",
			"ExternalService dup", "ports must have at most one TCP or TLS entry per port number", "minReplicas must not be greater than maxReplicas",
		}},
		"JSON List": {list, []string{
			"metadata.name must be at most 55 characters", "dnsName must be lowercase", "ipOverride entries must be IP addresses",
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			o := translateOptions{files: []string{"-"}, output: "yaml", opts: translate.DefaultOptions()}
			err := runTranslate(context.Background(), strings.NewReader(c.input), &out, &errOut, o)
			if err == nil {
				t.Fatalf("accepted invalid input; printed:\n%s", out.String())
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "ExternalService ok") {
				t.Errorf("the valid object was refused too: %v", err)
			}
			if out.Len() != 0 {
				t.Errorf("printed objects although input was refused:\n%s", out.String())
			}
		})
	}
}

// TestTranslateObserved shows that --observed gives the translator what a
// cluster would have shown the operator: a Programmed gateway with an
// address flips the conditions, and the DNS latch holds while the gateway is
// unready. A misspelt field is refused with the fields it may have.
func TestTranslateObserved(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]struct {
		observed string
		want     []string
	}{
		"programmed": {`gateway: {type: Programmed, status: "True", reason: Programmed, message: "", lastTransitionTime: "2026-01-01T00:00:00Z"}
availableReplicas: 2
addresses: [10.96.0.42]`, []string{"#   Programmed=True Programmed:", "#   DNSHijacked=True Hijacked:"}},
		"latched while unready": {`availableReplicas: 0
dnsHijacked: true`, []string{"#   Programmed=False Pending:", "#   DNSHijacked=True Hijacked:"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			o := translateOptions{files: []string{"../../samples/github.yaml"}, output: "yaml", opts: translate.DefaultOptions(),
				observedFile: write(strings.ReplaceAll(name, " ", "-")+".yaml", c.observed)}
			if err := runTranslate(context.Background(), nil, &out, &errOut, o); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, head(out.String(), 12))
				}
			}
		})
	}

	var out, errOut bytes.Buffer
	o := translateOptions{files: []string{"../../samples/github.yaml"}, output: "yaml", opts: translate.DefaultOptions(),
		observedFile: write("typo.yaml", "availableReplica: 1\n")}
	err := runTranslate(context.Background(), nil, &out, &errOut, o)
	if err == nil || !strings.Contains(err.Error(), "availableReplica") || !strings.Contains(err.Error(), "availableReplicas") {
		t.Errorf("a misspelt field should be refused, naming it and the fields allowed; got %v", err)
	}
}

func head(s string, lines int) string {
	parts := strings.SplitN(s, "\n", lines+1)
	return strings.Join(parts[:min(lines, len(parts))], "\n")
}
