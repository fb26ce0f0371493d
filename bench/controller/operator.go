package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/egressgate/egressgate/internal/supervisor"
)

// stopGrace is how long the operator gets to shut down after SIGTERM.
const stopGrace = 20 * time.Second

// operator is a running egress-operator process.
type operator struct {
	proc        *supervisor.Process
	metricsAddr string
}

// startOperator runs the operator binary against kubeconfig, logging to
// dir/operator.log (appended to by every start).
func startOperator(bin, kubeconfig, dir string) (*operator, error) {
	port, err := supervisor.FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"--kubeconfig", kubeconfig, "--metrics-bind-address", addr, "--health-probe-bind-address", "0"}
	if p := os.Getenv("BENCH_PPROF_ADDR"); p != "" {
		args = append(args, "--pprof-bind-address", p)
	}
	if *operatorArgs != "" {
		args = append(args, strings.Fields(*operatorArgs)...)
	}
	var env []string
	if *operatorMemLimit != "" {
		// Only the operator: etcd and kube-apiserver keep their own defaults.
		env = append(env, "GOMEMLIMIT="+*operatorMemLimit)
	}
	proc, err := supervisor.Start(supervisor.Spec{
		Name: "egress-operator", Path: bin, Args: args, Env: env,
		LogPath: filepath.Join(dir, "operator.log"),
	})
	if err != nil {
		return nil, err
	}
	return &operator{proc: proc, metricsAddr: addr}, nil
}

// stop ends the operator (SIGTERM, then SIGKILL after stopGrace); stopping
// it again does nothing.
func (o *operator) stop() { _ = o.proc.Stop(stopGrace) }

// families reads the operator's /metrics; nil while it is not up.
func (o *operator) families(ctx context.Context) map[string]*dto.MetricFamily {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+o.metricsAddr+"/metrics", nil)
	if err != nil {
		return nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	fams, err := parseMetrics(resp.Body)
	if err != nil {
		return nil
	}
	return fams
}

// total sums every series of a counter of the operator.
func (o *operator) total(ctx context.Context, name string) float64 {
	var sum float64
	for _, m := range o.families(ctx)[name].GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

// histogramSum sums the observations of a histogram of the operator.
func (o *operator) histogramSum(ctx context.Context, name string) float64 {
	var sum float64
	for _, m := range o.families(ctx)[name].GetMetric() {
		sum += m.GetHistogram().GetSampleSum()
	}
	return sum
}

// metric sums a metric of the externalservice controller from the
// operator's /metrics; -1 while the endpoint is not up.
func (o *operator) metric(ctx context.Context, name string) float64 {
	fams := o.families(ctx)
	if fams == nil {
		return -1
	}
	var sum float64
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if (l.GetName() == "controller" || l.GetName() == "name") && l.GetValue() == "externalservice" {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// waitIdle waits for at least min passes beyond before and an empty queue
// that stays empty for two seconds.
func (o *operator) waitIdle(ctx context.Context, before, min float64) error {
	var emptySince time.Time
	for {
		if exited, err := o.proc.Exited(); exited {
			return err
		}
		passes := o.metric(ctx, "controller_runtime_reconcile_total")
		depth := o.metric(ctx, "workqueue_depth")
		if passes >= 0 && passes-before >= min && depth == 0 {
			if emptySince.IsZero() {
				emptySince = time.Now()
			} else if time.Since(emptySince) > 2*time.Second {
				return nil
			}
		} else {
			emptySince = time.Time{}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("operator not idle (%.0f passes, queue %.0f): %w", passes-before, depth, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// peakRSS is the operator's VmHWM in bytes.
func (o *operator) peakRSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", o.proc.Pid()))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}
