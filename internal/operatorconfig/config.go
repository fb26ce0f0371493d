// Package operatorconfig is the one definition of how egress-operator is
// configured: every command-line flag (the translator's options, the
// manager's addresses, concurrency, leader election, logging) and every
// environment variable it reads. The binary parses its command line with
// it, and the Helm chart's values and schema are generated from it (`make
// generate`), so a new flag cannot be forgotten in the chart.
package operatorconfig

import (
	"flag"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/egressgate/egressgate/translate"
)

// DefaultConcurrency is how many ExternalServices are reconciled at once
// unless --concurrency says otherwise. A pass spends its time waiting on
// round trips (its reads come from the cache), so concurrency is bounded
// by what the API server takes, not by the operator's CPUs: 16 passes, each
// applying up to five children at once, keep a 2-core control plane busy
// (bench/controller measures it against 8 writers that never wait) and
// stay well inside the API server's priority-and-fairness share for one
// client on a 32-core one.
const DefaultConcurrency = 16

// Config is everything egress-operator's flags set.
type Config struct {
	// Translate holds the options every generated object depends on.
	Translate translate.Options

	MetricsAddr             string
	ProbeAddr               string
	PprofAddr               string
	Concurrency             int
	LeaderElect             bool
	LeaderElectionNamespace string
	Zap                     zap.Options
	PrintVersion            bool
}

// New returns the configuration of an operator started without flags or
// environment.
func New() *Config {
	return &Config{
		Translate:   translate.DefaultOptions(),
		MetricsAddr: ":8080",
		ProbeAddr:   ":8081",
		Concurrency: DefaultConcurrency,
	}
}

// AddFlags registers every flag on fs, with c's values as defaults.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Translate.AddFlags(fs)
	fs.StringVar(&c.MetricsAddr, "metrics-bind-address", c.MetricsAddr, "address of the Prometheus metrics endpoint ('0' turns it off)")
	fs.StringVar(&c.ProbeAddr, "health-probe-bind-address", c.ProbeAddr, "address of the /healthz and /readyz endpoints")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "ExternalServices reconciled at once")
	fs.StringVar(&c.PprofAddr, "pprof-bind-address", c.PprofAddr, "address of net/http/pprof (empty: off)")
	fs.BoolVar(&c.LeaderElect, "leader-elect", c.LeaderElect, "elect a leader, so only one replica reconciles at a time")
	fs.StringVar(&c.LeaderElectionNamespace, "leader-election-namespace", c.LeaderElectionNamespace, "namespace of the leader election Lease (default: the pod's namespace)")
	c.Zap.BindFlags(fs)
	fs.BoolVar(&c.PrintVersion, VersionFlag, false, "print the version and the commit this binary was built from, and exit")
}

// VersionFlag prints the version; it is a command, not a setting, so the
// chart has no value for it.
const VersionFlag = "version"

// Settings are the flags a deployment sets: every flag AddFlags registers
// but VersionFlag, in the order the flag package visits them (sorted by
// name).
func Settings() []*flag.Flag {
	fs := flag.NewFlagSet("egress-operator", flag.ContinueOnError)
	New().AddFlags(fs)
	var out []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != VersionFlag {
			out = append(out, f)
		}
	})
	return out
}

// Env is an environment variable the operator reads, with what it does.
type Env struct {
	Name        string
	Description string
	// Pattern is a regular expression every accepted value matches.
	Pattern string
}

// Environment lists every environment variable the operator reads: the
// original egress-operator's scheduling settings (translate.SchedulingEnv)
// and Go's memory limit.
func Environment() []Env {
	var out []Env
	for _, e := range translate.SchedulingEnv {
		out = append(out, Env{Name: e.Name, Description: e.Description, Pattern: e.Pattern})
	}
	return append(out, Env{
		Name: "GOMEMLIMIT", Description: "Go's soft memory limit; by default 90% of the container's memory limit",
		Pattern: `^(off|[0-9]+(B|KiB|MiB|GiB|TiB)?)?$`,
	})
}
