// The soak command is what `make soak` runs: conformance/soak on the
// embedded cluster for -duration; it prints the report's tables and exits
// non-zero when the run found a fault (component logs are then kept in
// bin/soak-logs).
//
//	go run ./conformance/soak/cmd -duration 10m
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/egressgate/egressgate/conformance/soak"
)

func main() {
	o := soak.DefaultOptions()
	flag.DurationVar(&o.Duration, "duration", o.Duration, "how long the load, churn and disruptions run, after the setup")
	flag.IntVar(&o.ExternalServices, "external-services", o.ExternalServices, "dnsNames made, each with its ExternalServices")
	flag.IntVar(&o.QueryRate, "qps", o.QueryRate, "DNS queries a second")
	flag.DurationVar(&o.ChurnInterval, "churn-interval", o.ChurnInterval, "time between two changes to the ExternalServices")
	flag.DurationVar(&o.Outage, "outage", o.Outage, "how long the API server stays down")
	flag.DurationVar(&o.Baseline, "baseline", o.Baseline, "when, after the setup, the first reading of heap, goroutines and file descriptors is taken")
	flag.BoolVar(&o.GrowthChecks, "growth-checks", o.GrowthChecks, "fail on heap, goroutine or file descriptor growth beyond the margins")
	flag.Parse()
	o.Progress = os.Stderr
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := soak.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	rep.Print(os.Stdout)
	if len(rep.Failures) > 0 {
		os.Exit(1)
	}
}
