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
	"github.com/egressgate/egressgate/internal/operatorconfig"
	"github.com/egressgate/egressgate/translate"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "egress-operator:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := operatorconfig.New()
	cfg.AddFlags(flag.CommandLine)
	flag.Parse()
	if cfg.PrintVersion {
		fmt.Println(version.String("egress-operator"))
		return nil
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&cfg.Zap)))
	// A soft limit under the container's own keeps garbage from growing
	// the heap until the kernel kills the process.
	if soft := setMemoryLimit(os.LookupEnv, os.ReadFile); soft > 0 {
		ctrl.Log.WithName("setup").Info("memory limit from the container", "GOMEMLIMIT", soft)
	}

	sched, err := translate.SchedulingFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	opts := cfg.Translate
	opts.Scheduling = sched

	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("find the cluster: %w", err)
	}
	mgr, err := controllers.NewManager(restConfig, opts, controllers.ManagerOptions{
		MetricsAddr: cfg.MetricsAddr, ProbeAddr: cfg.ProbeAddr, PprofAddr: cfg.PprofAddr, Concurrency: cfg.Concurrency,
		LeaderElect: cfg.LeaderElect, LeaderElectionNamespace: cfg.LeaderElectionNamespace,
	})
	if err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}
