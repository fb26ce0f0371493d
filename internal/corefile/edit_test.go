package corefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// kubeadm is kubeadm's default Corefile, with a comment of ours.
const kubeadm = `.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    # cluster names first
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
`

var withSnapshot = Settings{GatewayNamespace: "egress-operator-system", Snapshot: "/var/run/egressoperator/table.json"}

func TestEnable(t *testing.T) {
	importDir := t.TempDir()
	// A file an import names, whose content the parser would refuse: Parse
	// succeeding shows it was never read.
	imported := filepath.Join(importDir, "extra.server")
	if err := os.WriteFile(imported, []byte("example.org {\n    no-such-plugin\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		in       string
		settings Settings
		want     string
		imports  []Import
	}{{
		name: "kubeadm, comments kept, block indented like kubernetes' own block",
		in:   kubeadm, settings: withSnapshot,
		want: strings.Replace(kubeadm, "    kubernetes", "    egressoperator egress-operator-system cluster.local {\n       snapshot /var/run/egressoperator/table.json\n    }\n    kubernetes", 1),
	}, {
		name: "without snapshot: one line",
		in:   kubeadm, settings: Settings{GatewayNamespace: "gateways"},
		want: strings.Replace(kubeadm, "    kubernetes", "    egressoperator gateways cluster.local\n    kubernetes", 1),
	}, {
		name:     "comments everywhere, trailing ones too",
		in:       "# top\n.:53 { # opens\n  errors # e\n  # before kubernetes\n  kubernetes cluster.local # k\n  forward . 8.8.8.8 # f\n} # end\n# bottom",
		settings: withSnapshot,
		want:     "# top\n.:53 { # opens\n  errors # e\n  # before kubernetes\n  egressoperator egress-operator-system cluster.local {\n    snapshot /var/run/egressoperator/table.json\n  }\n  kubernetes cluster.local # k\n  forward . 8.8.8.8 # f\n} # end\n# bottom",
	}, {
		name:     "several server blocks: only the root one with kubernetes",
		in:       "cluster.local:53 {\n    kubernetes cluster.local\n}\nexample.org {\n    forward . 192.0.2.1\n}\ndns://.:53 {\n    kubernetes k8s.example in-addr.arpa\n    forward . /etc/resolv.conf\n}\n",
		settings: Settings{GatewayNamespace: "gw"},
		want:     "cluster.local:53 {\n    kubernetes cluster.local\n}\nexample.org {\n    forward . 192.0.2.1\n}\ndns://.:53 {\n    egressoperator gw k8s.example\n    kubernetes k8s.example in-addr.arpa\n    forward . /etc/resolv.conf\n}\n",
	}, {
		name:     "two root servers on two ports: both",
		in:       ".:53 {\n  kubernetes cluster.local\n}\n.:5353 {\n  kubernetes cluster.local\n}\n",
		settings: Settings{GatewayNamespace: "gw"},
		want:     ".:53 {\n  egressoperator gw cluster.local\n  kubernetes cluster.local\n}\n.:5353 {\n  egressoperator gw cluster.local\n  kubernetes cluster.local\n}\n",
	}, {
		name:     "tabs",
		in:       ".:53 {\n\terrors\n\tkubernetes cluster.local {\n\t\tpods insecure\n\t}\n}\n",
		settings: withSnapshot,
		want:     ".:53 {\n\terrors\n\tegressoperator egress-operator-system cluster.local {\n\t\tsnapshot /var/run/egressoperator/table.json\n\t}\n\tkubernetes cluster.local {\n\t\tpods insecure\n\t}\n}\n",
	}, {
		name:     "CRLF line endings",
		in:       ".:53 {\r\n  errors\r\n  kubernetes cluster.local\r\n}\r\n",
		settings: withSnapshot,
		want:     ".:53 {\r\n  errors\r\n  egressoperator egress-operator-system cluster.local {\r\n    snapshot /var/run/egressoperator/table.json\r\n  }\r\n  kubernetes cluster.local\r\n}\r\n",
	}, {
		name:     "already enabled: unchanged",
		in:       ".:53 {\n    egressoperator gw cluster.local\n    kubernetes cluster.local\n}\n",
		settings: withSnapshot,
		want:     ".:53 {\n    egressoperator gw cluster.local\n    kubernetes cluster.local\n}\n",
	}, {
		name:     "file imports left untouched and unread, snippet imports expanded",
		in:       "(common) {\n    errors\n}\nimport " + imported + "\n.:53 {\n    import common\n    import custom/*.override\n    kubernetes cluster.local\n}\nimport " + filepath.Join(importDir, "*.server") + "\n",
		settings: Settings{GatewayNamespace: "gw"},
		want:     "(common) {\n    errors\n}\nimport " + imported + "\n.:53 {\n    import common\n    import custom/*.override\n    egressoperator gw cluster.local\n    kubernetes cluster.local\n}\nimport " + filepath.Join(importDir, "*.server") + "\n",
		imports:  []Import{{4, imported}, {7, "custom/*.override"}, {10, filepath.Join(importDir, "*.server")}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("Corefile", tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.imports, c.Imports); diff != "" {
				t.Errorf("Imports (-want +got):\n%s", diff)
			}
			got, err := c.Enable(tc.settings)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("Enable:\n%s", Diff("want", "got", tc.want, got))
			}
			// The result parses, names the plugin, and Remove gives back the
			// input byte for byte.
			after, err := Parse("Corefile", got)
			if err != nil {
				t.Fatalf("the edited Corefile does not parse: %v", err)
			}
			if !after.Names(Directive) {
				t.Error("the edited Corefile does not name egressoperator")
			}
			if again, _ := after.Enable(tc.settings); again != got {
				t.Errorf("a second Enable changed the Corefile:\n%s", Diff("first", "second", got, again))
			}
			back, err := after.Remove(Directive)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(tc.in, Directive) {
				return // enabled by hand before: Remove takes that line too
			}
			if back != tc.in {
				t.Errorf("Remove did not restore the input:\n%s", Diff("input", "removed", tc.in, back))
			}
		})
	}
}

func TestEnableRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		settings Settings
		want     []string
	}{
		{"unparsable: unknown directive", ".:53 {\n    kubernetes cluster.local\n    no_such_plugin\n}\n", withSnapshot, []string{"Corefile:3", "Unknown directive 'no_such_plugin'"}},
		{"unparsable: unclosed block", ".:53 {\n    kubernetes cluster.local {\n        pods insecure\n", withSnapshot, []string{"Corefile:3", "Unexpected EOF"}},
		{"unparsable: import without pattern", ".:53 {\n    import\n    kubernetes\n}\n", withSnapshot, []string{"Corefile:2", "argument"}},
		{"no kubernetes", ".:53 {\n    forward . 192.0.2.1\n}\n", withSnapshot, []string{"no server block holds the kubernetes plugin"}},
		{"kubernetes outside the root zone", "cluster.local:53 {\n    kubernetes\n}\n.:53 {\n    forward . 192.0.2.1\n}\n", withSnapshot, []string{"root zone", "cluster.local:53"}},
		{"kubernetes sharing a line", ".:53 { kubernetes cluster.local\n}\n", withSnapshot, []string{"Corefile:1", "line of its own"}},
		{"kubernetes from a snippet", "(k) {\n    kubernetes cluster.local\n}\n.:53 {\n    import k\n}\n", withSnapshot, []string{"Corefile:2", "snippet"}},
		{"no gateway namespace", kubeadm, Settings{}, []string{"gateway namespace"}},
		{"argument with a space", kubeadm, Settings{GatewayNamespace: "a b"}, []string{`"a b"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("Corefile", tc.in)
			if err == nil {
				_, err = c.Enable(tc.settings)
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.name == "no kubernetes" && !errors.Is(err, ErrNoKubernetes) {
				t.Errorf("error %v is not ErrNoKubernetes", err)
			}
		})
	}
}

func TestRemoveRefuses(t *testing.T) {
	for _, in := range []string{
		"(e) {\n    egressoperator gw\n}\n.:53 {\n    import e\n    kubernetes\n}\n",
	} {
		c, err := Parse("Corefile", in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Remove(Directive); err == nil {
			t.Errorf("Remove(%q) succeeded; want an error", in)
		}
	}
}

func TestDiff(t *testing.T) {
	if d := Diff("a", "b", "x\n", "x\n"); d != "" {
		t.Errorf("Diff of equal texts = %q, want empty", d)
	}
	d := Diff("before", "after", "a\nb\n", "a\nc\nb\n")
	want := "--- before\n+++ after\n@@ -1,2 +1,3 @@\n a\n+c\n b\n"
	if d != want {
		t.Errorf("Diff = %q, want %q", d, want)
	}
	if d := Diff("before", "after", "a", "b"); d != "--- before\n+++ after\n@@ -1 +1 @@\n-a\n+b\n" {
		t.Errorf("Diff without final newlines = %q", d)
	}
}
