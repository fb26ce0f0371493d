// Command controller is the controller benchmark behind `make
// bench-controller`: 1000 ExternalServices (TLS 443 + TCP 22 each) on a real
// etcd and kube-apiserver. It compares the operator binary against a plain
// client creating the same objects, counts the operator's API writes at
// creation and on a no-op pass, and reads the operator's peak RSS. It
// prints one table.
//
// The operator runs as its own process (operator.go); what the API server
// holds and counts is read in apiserver.go.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/testenv"
	"github.com/egressgate/egressgate/translate"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// childrenPerService is what the operator creates for each: 2
// NetworkPolicies, ConfigMap, ServiceEntry, Gateway, TLSRoute, TCPRoute.
const childrenPerService = 7

// The namespaces the operator's and the plain client's children go to.
const (
	gatewayNamespace = egressv1.DefaultGatewayNamespace
	plainNamespace   = "plain-client"
)

var operatorMemLimit = flag.String("operator-memlimit", "", "GOMEMLIMIT for the operator only (default: the operator's own)")

func main() {
	n := flag.Int("n", 1000, "number of ExternalServices")
	timeout := flag.Duration("timeout", 15*time.Minute, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	err := run(ctx, *n)
	cancel()
	if err != nil {
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

// bench is what every phase of the run uses.
type bench struct {
	n           int
	env         *testenv.Env
	operatorBin string
	kubeconfig  string
	dir         string // the operator's log and kubeconfig
}

func run(ctx context.Context, n int) error {
	b := &bench{n: n}
	defer b.tearDown()
	if err := b.setUp(ctx); err != nil {
		return err
	}
	r := results{n: n}
	converged, err := b.converge(ctx, &r)
	if err != nil {
		return err
	}
	if err := b.noopPass(ctx, &r, converged); err != nil {
		return err
	}
	if err := b.plainClient(ctx, &r); err != nil {
		return err
	}
	printTable(r)
	return nil
}

// setUp builds the operator, starts etcd and kube-apiserver, writes a
// kubeconfig and creates the namespaces.
func (b *bench) setUp(ctx context.Context) error {
	root, err := crdpaths.RepoRoot()
	if err != nil {
		return err
	}
	b.operatorBin = filepath.Join(root, "bin", "egress-operator")
	fmt.Fprintln(os.Stderr, ">> building the operator")
	if out, err := exec.Command("go", "build", "-o", b.operatorBin, "./cmd/egress-operator").CombinedOutput(); err != nil {
		return fmt.Errorf("build the operator: %w\n%s", err, out)
	}
	paths, err := crdpaths.All()
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, ">> starting etcd and kube-apiserver")
	if b.env, err = testenv.Start(paths); err != nil {
		return err
	}
	if b.dir, err = os.MkdirTemp("", "egressgate-bench-"); err != nil {
		return err
	}
	b.kubeconfig = filepath.Join(b.dir, "kubeconfig")
	if err := b.env.WriteKubeconfig(b.kubeconfig); err != nil {
		return err
	}
	for _, ns := range []string{gatewayNamespace, plainNamespace} {
		if err := b.env.CreateNamespace(ctx, ns); err != nil {
			return err
		}
	}
	return nil
}

// tearDown stops etcd and kube-apiserver and removes the directory, as far
// as setUp got.
func (b *bench) tearDown() {
	if b.env != nil {
		_ = b.env.Stop()
	}
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

// converge is (a): the operator, as its own process, converges n
// ExternalServices. It returns the API write count once converged.
func (b *bench) converge(ctx context.Context, r *results) (float64, error) {
	fmt.Fprintf(os.Stderr, ">> (a) the operator converges %d ExternalServices\n", b.n)
	op, err := startOperator(b.operatorBin, b.kubeconfig, b.dir)
	if err != nil {
		return 0, err
	}
	defer op.stop()
	if err := op.waitIdle(ctx, 0, 0); err != nil {
		return 0, err
	}
	before, err := apiWrites(ctx, b.env.Config)
	if err != nil {
		return 0, err
	}
	reconcilesBefore := op.metric(ctx, "controller_runtime_reconcile_total")
	start := time.Now()
	for i := range b.n {
		if err := b.env.Client.Create(ctx, service("es", i)); err != nil {
			return 0, err
		}
	}
	if err := waitChildren(ctx, b.env.Client, gatewayNamespace, b.n*childrenPerService); err != nil {
		return 0, err
	}
	r.controller = time.Since(start)
	if err := op.waitIdle(ctx, reconcilesBefore, float64(b.n)); err != nil {
		return 0, err
	}
	after, err := apiWrites(ctx, b.env.Config)
	if err != nil {
		return 0, err
	}
	r.createWrites = (after - before) / float64(b.n)
	if r.peakRSS, err = op.peakRSS(); err != nil {
		return 0, err
	}
	if addr := os.Getenv("BENCH_PPROF_ADDR"); addr != "" {
		fmt.Fprintln(os.Stderr, ">> converged; heap profile at http://"+addr+"/debug/pprof/heap for 60s")
		time.Sleep(60 * time.Second)
	}
	return after, nil
}

// noopPass: a restarted operator reconciles all n again, over converged
// objects, and should write nothing.
func (b *bench) noopPass(ctx context.Context, r *results, before float64) error {
	fmt.Fprintf(os.Stderr, ">> no-op pass: a restarted operator reconciles all %d again\n", b.n)
	op, err := startOperator(b.operatorBin, b.kubeconfig, b.dir)
	if err != nil {
		return err
	}
	defer op.stop()
	if err := op.waitIdle(ctx, 0, float64(b.n)); err != nil {
		return err
	}
	if rss, err := op.peakRSS(); err == nil && rss > r.peakRSS {
		r.peakRSS = rss
	}
	op.stop()
	after, err := apiWrites(ctx, b.env.Config)
	if err != nil {
		return err
	}
	r.noopWrite = after - before
	return nil
}

// plainClient is (b), the limit, with the operator stopped: one plain
// client creates the same ExternalServices and children itself, one
// request after another, as the controller's one worker does.
func (b *bench) plainClient(ctx context.Context, r *results) error {
	fmt.Fprintf(os.Stderr, ">> (b) a plain client creates %d ExternalServices and their children\n", b.n)
	plainOpts := translate.DefaultOptions()
	plainOpts.GatewayNamespace = plainNamespace
	start := time.Now()
	for i := range b.n {
		es := service("plain", i)
		if err := b.env.Client.Create(ctx, es); err != nil {
			return err
		}
		for _, obj := range translate.Translate(es, plainOpts, translate.Observed{}).Objects {
			if err := b.env.Client.Create(ctx, obj); err != nil {
				return fmt.Errorf("plain create %s: %w", obj.GetName(), err)
			}
		}
	}
	r.plain = time.Since(start)
	return nil
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
