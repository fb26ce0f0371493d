// Command controller is the controller benchmark behind `make
// bench-controller`: n ExternalServices (TLS 443 + TCP 22 each, seven
// children) on a real etcd and kube-apiserver. Each run starts three fresh
// API servers, one per side:
//
//   - (L1) the limit: 8 concurrent workers make exactly the writes the
//     operator's target allows (each ExternalService, its children from the
//     translator with the real owner UID, one status write) by POST;
//   - (L2) the same writes with server-side apply for the children;
//   - (a) the operator, as its own process, while 8 concurrent clients
//     create the ExternalServices; completion is seen through watches.
//
// It counts the operator's writes (children, status, other), passes and API
// requests per ExternalService, its writes on a no-op pass and its peak RSS,
// and prints a/L1 and a/L2. With -runs > 1 it prints every run and the
// medians.
//
// The limit is in limit.go, the operator's side in converge.go and
// operator.go, what the API server counts in apiserver.go.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/testenv"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// childrenPerService is what the operator creates for each: 2
// NetworkPolicies, ConfigMap, ServiceEntry, Gateway, TLSRoute, TCPRoute.
const childrenPerService = 7

// clients is how many concurrent clients create ExternalServices, and how
// many workers the limits use.
const clients = 8

// gatewayNamespace is where every side's children go.
const gatewayNamespace = egressv1.DefaultGatewayNamespace

var (
	operatorMemLimit = flag.String("operator-memlimit", "", "GOMEMLIMIT for the operator only (default: the operator's own)")
	operatorArgs     = flag.String("operator-args", "", "extra flags for the operator, space-separated")
	operatorBinFlag  = flag.String("operator-bin", "", "run this operator binary instead of building bin/egress-operator")
	noPolicy         = flag.Bool("no-admission-policy", false, "do not install config/admission (the operator adds its finalizer itself)")
	skipLimits       = flag.Bool("skip-limits", false, "run only the operator's side (a), e.g. to profile it; the ratios print as n/a")
)

func main() {
	n := flag.Int("n", 1000, "number of ExternalServices")
	runs := flag.Int("runs", 3, "runs; the table shows each and the medians")
	timeout := flag.Duration("timeout", 60*time.Minute, "give up after this long")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	err := run(ctx, *n, *runs)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n, runs int) error {
	root, err := crdpaths.RepoRoot()
	if err != nil {
		return err
	}
	bin := *operatorBinFlag
	if bin == "" {
		bin = filepath.Join(root, "bin", "egress-operator")
		fmt.Fprintln(os.Stderr, ">> building the operator")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/egress-operator").CombinedOutput(); err != nil {
			return fmt.Errorf("build the operator: %w\n%s", err, out)
		}
	}
	var all []results
	for i := range runs {
		fmt.Fprintf(os.Stderr, ">> run %d of %d\n", i+1, runs)
		r := results{n: n}
		for _, ssa := range []bool{false, true} {
			if *skipLimits {
				break
			}
			d := &r.l1
			if ssa {
				d = &r.l2
			}
			if err := onFreshServer(ctx, n, func(b *bench) error { return b.limit(ctx, ssa, d) }); err != nil {
				return err
			}
		}
		if err := onFreshServer(ctx, n, func(b *bench) error {
			b.operatorBin, b.root = bin, root
			return b.operator(ctx, &r)
		}); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, ">> run %d: L1 %.1fs, L2 %.1fs, a %.1fs\n", i+1, r.l1.Seconds(), r.l2.Seconds(), r.a.Seconds())
		all = append(all, r)
	}
	printTable(all)
	return nil
}

// bench is one fresh API server and what a phase needs of it.
type bench struct {
	n           int
	env         *testenv.Env
	operatorBin string
	root        string // the repository, for config/
	kubeconfig  string
	dir         string // the operator's log and kubeconfig
}

// onFreshServer starts etcd and kube-apiserver with every CRD and the
// gateway namespace, runs phase, and stops them.
func onFreshServer(ctx context.Context, n int, phase func(*bench) error) error {
	b := &bench{n: n}
	defer b.tearDown()
	paths, err := crdpaths.All()
	if err != nil {
		return err
	}
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
	if err := b.env.CreateNamespace(ctx, gatewayNamespace); err != nil {
		return err
	}
	return phase(b)
}

// tearDown stops etcd and kube-apiserver and removes the directory, as far
// as onFreshServer got.
func (b *bench) tearDown() {
	if b.env != nil {
		_ = b.env.Stop()
	}
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}
