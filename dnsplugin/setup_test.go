package dnsplugin

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"
)

func TestParse(t *testing.T) {
	defaults := config{namespace: DefaultGatewayNamespace, zone: DefaultZone, ttl: DefaultTTL}
	with := func(change func(*config)) *config {
		c := defaults
		change(&c)
		return &c
	}
	tests := []struct {
		input string
		want  *config // nil: parse must fail
	}{
		{`egressoperator`, &defaults},
		// The egress-operator README's line.
		{`egressoperator egress-operator-system cluster.local`, &defaults},
		{`egressoperator gateways`, with(func(c *config) { c.namespace = "gateways" })},
		{`egressoperator gateways Corp.Example.`, with(func(c *config) { c.namespace = "gateways"; c.zone = "corp.example." })},
		{`egressoperator {
			ttl 30
		}`, with(func(c *config) { c.ttl = 30 })},
		{"egressoperator {\nttl 0\n}", with(func(c *config) { c.ttl = 0 })},
		{"egressoperator {\nttl 3600\n}", with(func(c *config) { c.ttl = 3600 })},
		{`egressoperator egress-operator-system cluster.local {
			kubeconfig /etc/coredns/kubeconfig
		}`, with(func(c *config) { c.kubeconfig = "/etc/coredns/kubeconfig" })},
		{`egressoperator {
			kubeconfig /etc/coredns/kubeconfig prod
			ttl 10
		}`, with(func(c *config) { c.kubeconfig = "/etc/coredns/kubeconfig"; c.kubecontext = "prod"; c.ttl = 10 })},
		{"egressoperator {\nsnapshot /var/run/egressoperator/table.json\n}", with(func(c *config) { c.snapshot = "/var/run/egressoperator/table.json" })},

		{`egressoperator a cluster.local extra`, nil},
		{`egressoperator Not_A_Namespace`, nil},
		{`egressoperator gateways .`, nil},
		{`egressoperator gateways bad..zone`, nil},
		{"egressoperator {\nttl\n}", nil},
		{"egressoperator {\nttl -1\n}", nil},
		{"egressoperator {\nttl 3601\n}", nil},
		{"egressoperator {\nttl 5s\n}", nil},
		{"egressoperator {\nttl 5 6\n}", nil},
		{"egressoperator {\nkubeconfig\n}", nil},
		{"egressoperator {\nkubeconfig a b c\n}", nil},
		{"egressoperator {\nfallthrough\n}", nil},
		{"egressoperator\negressoperator", nil},
		{"egressoperator {\nsnapshot\n}", nil},
		{"egressoperator {\nsnapshot a b\n}", nil},

		// observe mode.
		{"egressoperator {\nobserve\n}", with(func(c *config) { c.observe = defaultObserveConfig() })},
		{"egressoperator {\nobserve {\n}\n}", with(func(c *config) { c.observe = defaultObserveConfig() })},
		{`egressoperator {
			ttl 9
			observe {
				listen 127.0.0.1:9200
				max_entries 50
				search_suffixes ec2.internal .Corp.Example.
				tls /tls/tls.crt /tls/tls.key
				event_interval 30s
			}
			snapshot /s
		}`, with(func(c *config) {
			c.ttl, c.snapshot = 9, "/s"
			c.observe = &observeConfig{
				listen: "127.0.0.1:9200", maxEntries: 50, searchSuffixes: []string{".ec2.internal.", ".corp.example."},
				tlsCert: "/tls/tls.crt", tlsKey: "/tls/tls.key", eventInterval: 30 * time.Second,
			}
		})},
		{"egressoperator {\nobserve {\nmax_entries 1000000\n}\n}", with(func(c *config) {
			c.observe = defaultObserveConfig()
			c.observe.maxEntries = 1000000
		})},
	}
	for _, tc := range tests {
		t.Run(tc.input, func(t *testing.T) {
			got, err := parse(caddy.NewTestController("dns", tc.input))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("parse succeeded with %+v; want an error", *got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", *got, *tc.want)
			}
		})
	}
}

// Bad observe blocks fail with an error naming the offending token.
func TestParseObserveErrors(t *testing.T) {
	for input, want := range map[string]string{
		"egressoperator {\nobserve :9154\n}":                          `":9154"`,
		"egressoperator {\nobserve\nobserve\n}":                       "observe is given twice",
		"egressoperator {\nobserve {\nlisten\n}\n}":                   "listen takes one value",
		"egressoperator {\nobserve {\nlisten 9154\n}\n}":              `listen "9154"`,
		"egressoperator {\nobserve {\nlisten :0\n}\n}":                `listen ":0"`,
		"egressoperator {\nobserve {\nlisten :99999\n}\n}":            `listen ":99999"`,
		"egressoperator {\nobserve {\nmax_entries 0\n}\n}":            `max_entries must be a whole number in [1, 1000000], not "0"`,
		"egressoperator {\nobserve {\nmax_entries 1000001\n}\n}":      `not "1000001"`,
		"egressoperator {\nobserve {\nmax_entries ten\n}\n}":          `not "ten"`,
		"egressoperator {\nobserve {\nsearch_suffixes\n}\n}":          "search_suffixes needs at least one domain",
		"egressoperator {\nobserve {\nsearch_suffixes a..b\n}\n}":     `search_suffixes "a..b"`,
		"egressoperator {\nobserve {\nsearch_suffixes .\n}\n}":        `search_suffixes "."`,
		"egressoperator {\nobserve {\ntls a\n}\n}":                    "tls takes a certificate file and a key file",
		"egressoperator {\nobserve {\nevent_interval 100ms\n}\n}":     `event_interval must be a duration from 1s to 24h, such as 10m, not "100ms"`,
		"egressoperator {\nobserve {\nbogus 1\n}\n}":                  `unknown property "bogus"`,
		"egressoperator {\nobserve {\nmax_entries 5":                  "not closed",
		"egressoperator {\nobserve { max_entries 5 listen :9154 }\n}": "max_entries takes one value",
		"egressoperator {\nobserve {\nlisten :1 {\n}\n}\n}":           "unexpected {",
		"egressoperator {\nobserve {\n{\n}\n}\n}":                     "unexpected {",
	} {
		t.Run(input, func(t *testing.T) {
			_, err := parse(caddy.NewTestController("dns", input))
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Testfile:") {
				t.Fatalf("parse: got %v, want an error at a Corefile line containing %q", err, want)
			}
		})
	}
}

// setup builds its client from the kubeconfig; one that cannot be loaded is a
// configuration error CoreDNS reports at start-up.
func TestSetupRejectsMissingKubeconfig(t *testing.T) {
	c := caddy.NewTestController("dns", "egressoperator {\nkubeconfig /nonexistent/kubeconfig\n}")
	if err := setup(c); err == nil {
		t.Fatal("setup succeeded with a kubeconfig that does not exist")
	}
}

// config/coredns/Corefile, the patch for a real cluster, puts the plugin in
// the server block of the kubernetes plugin, and its stanza parses.
func TestShippedCorefile(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "config", "coredns", "Corefile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blocks, err := caddyfile.Parse(f.Name(), f, append(slices.Clone(dnsserver.Directives), pluginName))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, b := range blocks {
		tokens, ok := b.Tokens[pluginName]
		if !ok {
			continue
		}
		found = true
		if _, ok := b.Tokens["kubernetes"]; !ok {
			t.Errorf("server block %v has %s but not kubernetes", b.Keys, pluginName)
		}
		// Rebuild the stanza's text, one line per source line, and parse it.
		var text strings.Builder
		for i, tok := range tokens {
			if i > 0 && tok.Line != tokens[i-1].Line {
				text.WriteString("\n")
			} else if i > 0 {
				text.WriteString(" ")
			}
			text.WriteString(tok.Text)
		}
		cfg, err := parse(caddy.NewTestController("dns", text.String()))
		if err != nil {
			t.Fatalf("parse %q: %v", text.String(), err)
		}
		if cfg.namespace != DefaultGatewayNamespace || cfg.zone != DefaultZone || cfg.kubeconfig != "" || cfg.snapshot == "" {
			t.Errorf("shipped stanza gives %+v; want the gateway namespace %s, zone %s, in-cluster credentials and a snapshot",
				*cfg, DefaultGatewayNamespace, DefaultZone)
		}
	}
	if !found {
		t.Errorf("%s has no %s line", f.Name(), pluginName)
	}
}

// Without a kubeconfig the plugin uses the pod's service account; outside a
// cluster that is a configuration error naming the way out.
func TestSetupOutsideClusterNeedsKubeconfig(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	err := setup(caddy.NewTestController("dns", "egressoperator egress-operator-system cluster.local"))
	if err == nil || !strings.Contains(err.Error(), "no kubeconfig given") {
		t.Fatalf("setup outside a cluster: got %v, want an error saying no kubeconfig was given", err)
	}
}
