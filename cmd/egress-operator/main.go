// Command egress-operator runs the ExternalService controller: it turns each
// ExternalService into a Gateway API gateway, Istio configuration and
// NetworkPolicies, and reports what Istio made of them in status.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/egressgate/egressgate/controllers"
	"github.com/egressgate/egressgate/translate"
)

// defaultMemoryLimit is the Go soft memory limit when GOMEMLIMIT is unset.
const defaultMemoryLimit = 52 << 20

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "egress-operator:", err)
		os.Exit(1)
	}
}

func run() error {
	opts := translate.DefaultOptions()
	var (
		metricsAddr, probeAddr string
		pprofAddr              string
		concurrency            int
		leaderElect            bool
		leaderElectionNS       string
	)
	opts.AddFlags(flag.CommandLine)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint ('0' turns it off)")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	flag.IntVar(&concurrency, "concurrency", 4, "ExternalServices reconciled at once")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "address of net/http/pprof (empty: off)")
	flag.BoolVar(&leaderElect, "leader-elect", false, "elect a leader, so only one replica reconciles at a time")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's namespace)")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		// The operator's live heap is small (about 37 MiB with 1000
		// ExternalServices); a soft limit keeps garbage from doubling it.
		debug.SetMemoryLimit(defaultMemoryLimit)
	}

	sched, err := translate.SchedulingFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	opts.Scheduling = sched

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("find the cluster: %w", err)
	}
	mgr, err := controllers.NewManager(cfg, opts, controllers.ManagerOptions{
		MetricsAddr: metricsAddr, ProbeAddr: probeAddr, PprofAddr: pprofAddr, Concurrency: concurrency, LeaderElect: leaderElect, LeaderElectionNamespace: leaderElectionNS,
	})
	if err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}
