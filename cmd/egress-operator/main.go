// Command egress-operator runs the ExternalService controller: it turns each
// ExternalService into a Gateway API gateway, Istio configuration and
// NetworkPolicies, and reports what Istio made of them in status.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/egressgate/egressgate/internal/version"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/egressgate/egressgate/controllers"
	"github.com/egressgate/egressgate/translate"
)

// defaultConcurrency is how many ExternalServices are reconciled at once
// unless --concurrency says otherwise. A pass spends its time waiting on
// round trips (its reads come from the cache), so concurrency is bounded
// by what the API server takes, not by the operator's CPUs: 16 passes, each
// applying up to five children at once, keep a 2-core control plane busy
// (bench/controller measures it against 8 writers that never wait) and
// stay well inside the API server's priority-and-fairness share for one
// client on a 32-core one.
const defaultConcurrency = 16

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
	flag.IntVar(&concurrency, "concurrency", defaultConcurrency, "ExternalServices reconciled at once")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "address of net/http/pprof (empty: off)")
	flag.BoolVar(&leaderElect, "leader-elect", false, "elect a leader, so only one replica reconciles at a time")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's namespace)")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	printVersion := flag.Bool("version", false, "print the version and the commit this binary was built from, and exit")
	flag.Parse()
	if *printVersion {
		fmt.Println(version.String("egress-operator"))
		return nil
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	// A soft limit under the container's own keeps garbage from growing
	// the heap until the kernel kills the process.
	if soft := setMemoryLimit(os.LookupEnv, os.ReadFile); soft > 0 {
		ctrl.Log.WithName("setup").Info("memory limit from the container", "GOMEMLIMIT", soft)
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
