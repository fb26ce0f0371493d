// Command controller is the controller benchmark behind `make bench`: 1000
// ExternalServices (TLS 443 + TCP 22 each) on a real etcd and kube-apiserver.
// It compares the operator binary against a plain client creating the same
// objects, counts the operator's API writes at creation and on a no-op
// pass, and reads the operator's peak RSS. It prints one table.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/testenv"
	"github.com/egressgate/egressgate/translate"
)

// Resources the operator writes; API server writes to anything else (its
// own bookkeeping, leases, events) are not the operator's.
var operatorResources = map[string]bool{
	"externalservices": true, "networkpolicies": true, "configmaps": true, "serviceentries": true,
	"destinationrules": true, "gateways": true, "tlsroutes": true, "tcproutes": true,
}

const childrenPerService = 7

var operatorMemLimit = flag.String("operator-memlimit", "", "GOMEMLIMIT for the operator only (default: the operator's own)") // 2 NetworkPolicies, ConfigMap, ServiceEntry, Gateway, TLSRoute, TCPRoute

func main() {
	n := flag.Int("n", 1000, "number of ExternalServices")
	timeout := flag.Duration("timeout", 15*time.Minute, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *n); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type results struct {
	n                       int
	controller, plain       time.Duration
	createWrites, noopWrite float64
	peakRSS                 int64
}

func run(ctx context.Context, n int) error {
	root, err := crdpaths.RepoRoot()
	if err != nil {
		return err
	}
	operatorBin := filepath.Join(root, "bin", "egress-operator")
	fmt.Fprintln(os.Stderr, ">> building the operator")
	if out, err := exec.Command("go", "build", "-o", operatorBin, "./cmd/egress-operator").CombinedOutput(); err != nil {
		return fmt.Errorf("build the operator: %v\n%s", err, out)
	}
	paths, err := crdpaths.All()
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, ">> starting etcd and kube-apiserver")
	env, err := testenv.Start(paths)
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	dir, err := os.MkdirTemp("", "egressgate-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}
	for _, ns := range []string{"egress-operator-system", "plain-client"} {
		if err := env.CreateNamespace(ctx, ns); err != nil {
			return err
		}
	}
	r := results{n: n}

	// (a) The operator, as its own process, converges the same number.
	fmt.Fprintf(os.Stderr, ">> (a) the operator converges %d ExternalServices\n", n)
	op, err := startOperator(ctx, operatorBin, kubeconfig, dir)
	if err != nil {
		return err
	}
	if err := op.waitIdle(ctx, 0, 0); err != nil {
		return err
	}
	before, err := apiWrites(ctx, env.Config)
	if err != nil {
		return err
	}
	reconcilesBefore := op.metric(ctx, "controller_runtime_reconcile_total")
	start := time.Now()
	for i := range n {
		if err := env.Client.Create(ctx, service("es", i)); err != nil {
			return err
		}
	}
	if err := waitChildren(ctx, env.Client, "egress-operator-system", n*childrenPerService); err != nil {
		return err
	}
	r.controller = time.Since(start)
	if err := op.waitIdle(ctx, reconcilesBefore, float64(n)); err != nil {
		return err
	}
	after, err := apiWrites(ctx, env.Config)
	if err != nil {
		return err
	}
	r.createWrites = (after - before) / float64(n)
	if r.peakRSS, err = op.peakRSS(); err != nil {
		return err
	}
	if os.Getenv("BENCH_PPROF_ADDR") != "" {
		fmt.Fprintln(os.Stderr, ">> converged; heap profile at http://"+os.Getenv("BENCH_PPROF_ADDR")+"/debug/pprof/heap for 60s")
		time.Sleep(60 * time.Second)
	}
	op.stop()

	// The no-op pass: a restarted operator reconciles all of them again.
	fmt.Fprintf(os.Stderr, ">> no-op pass: a restarted operator reconciles all %d again\n", n)
	before = after
	op, err = startOperator(ctx, operatorBin, kubeconfig, dir)
	if err != nil {
		return err
	}
	if err := op.waitIdle(ctx, 0, float64(n)); err != nil {
		return err
	}
	if rss, err := op.peakRSS(); err == nil && rss > r.peakRSS {
		r.peakRSS = rss
	}
	op.stop()
	if after, err = apiWrites(ctx, env.Config); err != nil {
		return err
	}
	r.noopWrite = after - before

	// (b) The limit, with the operator stopped: one plain client creates the same ExternalServices and
	// children itself, one request after another, as the controller's one
	// worker does.
	fmt.Fprintf(os.Stderr, ">> (b) a plain client creates %d ExternalServices and their children\n", n)
	plainOpts := translate.DefaultOptions()
	plainOpts.GatewayNamespace = "plain-client"
	start = time.Now()
	for i := range n {
		es := service("plain", i)
		if err := env.Client.Create(ctx, es); err != nil {
			return err
		}
		for _, obj := range translate.Translate(es, plainOpts, translate.Observed{}).Objects {
			if err := env.Client.Create(ctx, obj); err != nil {
				return fmt.Errorf("plain create %s: %w", obj.GetName(), err)
			}
		}
	}
	r.plain = time.Since(start)

	printTable(r)
	return nil
}

func service(prefix string, i int) *egressv1.ExternalService {
	tls, tcp := egressv1.ProtocolTLS, egressv1.ProtocolTCP
	return &egressv1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%04d", prefix, i)},
		Spec: egressv1.ExternalServiceSpec{
			DnsName: fmt.Sprintf("host-%04d.%s.example.com", i, prefix),
			Ports:   []egressv1.ExternalServicePort{{Port: 443, Protocol: &tls}, {Port: 22, Protocol: &tcp}},
		},
	}
}

// waitChildren polls until the namespace holds want children.
func waitChildren(ctx context.Context, c client.Client, ns string, want int) error {
	kinds := []schema.GroupVersionKind{
		{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicyList"},
		{Version: "v1", Kind: "ConfigMapList"},
		{Group: "networking.istio.io", Version: "v1", Kind: "ServiceEntryList"},
		{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "GatewayList"},
		{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "TLSRouteList"},
		{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "TCPRouteList"},
	}
	for {
		total := 0
		for _, gvk := range kinds {
			list := &metav1.PartialObjectMetadataList{}
			list.SetGroupVersionKind(gvk)
			if err := c.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{egressv1.LabelManagedBy: egressv1.ManagedByValue}); err != nil {
				return err
			}
			total += len(list.Items)
		}
		if total >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d children after the timeout: %w", total, want, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// apiWrites is the API server's count of writes to the operator's resources.
func apiWrites(ctx context.Context, cfg *rest.Config) (float64, error) {
	rc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := rc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read API server metrics: %w", err)
	}
	defer resp.Body.Close()
	families, err := parseMetrics(resp.Body)
	if err != nil {
		return 0, err
	}
	var total float64
	for _, m := range families["apiserver_request_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		switch labels["verb"] {
		case "POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION":
		default:
			continue
		}
		if !operatorResources[labels["resource"]] {
			continue
		}
		// The benchmark itself creates the ExternalServices.
		if labels["resource"] == "externalservices" && labels["verb"] == "POST" {
			continue
		}
		total += m.GetCounter().GetValue()
	}
	return total, nil
}

func parseMetrics(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return fams, nil
}

// operator is a running egress-operator process.
type operator struct {
	cmd         *exec.Cmd
	metricsAddr string
	done        chan error
}

func startOperator(ctx context.Context, bin, kubeconfig, dir string) (*operator, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "operator.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	args := []string{"--kubeconfig", kubeconfig, "--metrics-bind-address", addr, "--health-probe-bind-address", "0"}
	if p := os.Getenv("BENCH_PPROF_ADDR"); p != "" {
		args = append(args, "--pprof-bind-address", p)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	if *operatorMemLimit != "" {
		// Only the operator: etcd and kube-apiserver keep their own defaults.
		cmd.Env = append(os.Environ(), "GOMEMLIMIT="+*operatorMemLimit)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the operator: %w", err)
	}
	op := &operator{cmd: cmd, metricsAddr: addr, done: make(chan error, 1)}
	go func() { op.done <- cmd.Wait(); logFile.Close() }()
	return op, nil
}

func (o *operator) stop() {
	_ = o.cmd.Process.Signal(os.Interrupt)
	select {
	case <-o.done:
	case <-time.After(20 * time.Second):
		_ = o.cmd.Process.Kill()
		<-o.done
	}
}

// metric sums a metric of the externalservice controller from the
// operator's /metrics; -1 while the endpoint is not up.
func (o *operator) metric(ctx context.Context, name string) float64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+o.metricsAddr+"/metrics", nil)
	if err != nil {
		return -1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	fams, err := parseMetrics(resp.Body)
	if err != nil {
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
		select {
		case err := <-o.done:
			return fmt.Errorf("the operator exited: %v", err)
		default:
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
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", o.cmd.Process.Pid))
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

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func printTable(r results) {
	ratio := r.controller.Seconds() / r.plain.Seconds()
	mib := float64(r.peakRSS) / (1 << 20)
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	fmt.Printf("\ncontroller benchmark: %d ExternalServices (TLS 443 + TCP 22), %d children each\n\n", r.n, childrenPerService)
	fmt.Printf("| measure | value | target | |\n|---|---|---|---|\n")
	fmt.Printf("| (a) operator: seconds until every child exists | %.1f | | |\n", r.controller.Seconds())
	fmt.Printf("| (b) plain client: seconds to create the same objects | %.1f | | |\n", r.plain.Seconds())
	fmt.Printf("| a/b | %.2f | <= 1.5 | %s |\n", ratio, verdict(ratio <= 1.5))
	fmt.Printf("| API writes per ExternalService at creation | %.2f | <= %d (children + 1 status) | %s |\n", r.createWrites, childrenPerService+1, verdict(r.createWrites <= childrenPerService+1))
	fmt.Printf("| API writes, no-op pass over all | %.0f | 0 | %s |\n", r.noopWrite, verdict(r.noopWrite == 0))
	fmt.Printf("| operator peak RSS (MiB) | %.1f | <= 80 | %s |\n", mib, verdict(mib <= 80))
}
