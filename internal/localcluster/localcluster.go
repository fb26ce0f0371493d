// Package localcluster starts a real Kubernetes control plane on this
// machine from the binaries `make tools` builds: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok (one fake node, so pods
// become Ready) and, optionally, istiod. No Docker, no kind. `make run`,
// the end-to-end tests and the conformance suite run on it.
//
// Start brings the components up in the order each needs the one before:
// the control plane (controlplane.go: etcd, kube-apiserver with the CRDs,
// kube-controller-manager, kube-scheduler), whose credentials and
// kubeconfigs kubeconfig.go writes; then kwok and its node (kwok.go); then,
// with Options.Istio, istiod (istiod.go). CoreDNS with the plugin
// (coredns.go) and other programs (StartComponent) are started beside them
// by the caller. Every component is a child process run by
// internal/supervisor (process.go).
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/supervisor"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// Named bounds on how long each component may take to become ready.
const (
	EtcdReadyTimeout              = 30 * time.Second
	APIServerReadyTimeout         = 90 * time.Second
	CRDsEstablishedTimeout        = 60 * time.Second
	ControllerManagerReadyTimeout = 60 * time.Second
	SchedulerReadyTimeout         = 30 * time.Second
	NodeReadyTimeout              = 30 * time.Second
	IstiodReadyTimeout            = 90 * time.Second
	stopGrace                     = 10 * time.Second
)

// Namespaces the cluster starts with.
const (
	IstioNamespace   = "istio-system"
	GatewayNamespace = egressv1.DefaultGatewayNamespace
)

// NodeName is the one kwok node.
const NodeName = "kwok-node-0"

// Options configure Start.
type Options struct {
	// Dir holds data, logs and the kubeconfig. A new temporary directory
	// (removed by Stop) when empty.
	Dir string
	// BinDir holds the binaries from `make tools`; <repo>/bin when empty.
	BinDir string
	// Istio starts istiod. Without it Gateways are never Programmed.
	Istio bool
	// WithoutOwnCRD leaves egressgate's ExternalService CRD out, for a test
	// that installs it another way (the Helm chart).
	WithoutOwnCRD bool
	// Progress gets one line per step; nil discards them.
	Progress io.Writer
	// Users are extra identities the API server accepts, each with its own
	// token (see Cluster.KubeconfigFor). Every write they make is recorded
	// in the audit log (Cluster.AuditLog), so a test can count them.
	Users []User
}

// User is an identity of the API server's token file: a name and groups.
// RBAC decides what it may do.
type User struct {
	Name   string
	Groups []string
}

// Cluster is a running local cluster.
type Cluster struct {
	// Dir holds everything the cluster writes; logs are in Dir/logs.
	Dir string
	// Kubeconfig is the path of a cluster-admin kubeconfig.
	Kubeconfig string
	// Config and Client reach the API server as cluster admin.
	Config *rest.Config
	Client client.Client
	// PodIPsAreLocal is true when pod IPs are addresses of this machine, so
	// a client can send from a pod's IP (see PodCIDR).
	PodIPsAreLocal bool
	// AuditLog is the API server's audit log: one JSON event per write
	// made by one of Options.Users.
	AuditLog string
	// IstiodXDSAddr is istiod's plaintext xDS (gRPC) address, host:port,
	// the local stand-in for a real istiod's port 15010; empty without
	// Options.Istio.
	IstiodXDSAddr string

	opts          Options
	ownDir        bool
	procsMu       sync.Mutex // components may be started from other goroutines
	procs         []*supervisor.Process
	etcdURL       string
	saKey         string
	apiserverCert string
	apiserverArgs []string
	userTokens    map[string]string
}

// Start brings every component up, in order, each within its named
// timeout. On failure it stops what it started and the error names the log
// to read.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	c = &Cluster{opts: opts}
	if c.opts.Progress == nil {
		c.opts.Progress = io.Discard
	}
	if c.opts.BinDir == "" {
		root, err := crdpaths.RepoRoot()
		if err != nil {
			return nil, err
		}
		c.opts.BinDir = filepath.Join(root, "bin")
	}
	c.Dir = opts.Dir
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "egressgate-cluster-"); err != nil {
			return nil, err
		}
		c.ownDir = true
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
			err = fmt.Errorf("%w\ncomponent logs are in %s", err, filepath.Join(c.Dir, "logs"))
		}
	}()

	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"etcd", c.startEtcd},
		{"kube-apiserver", c.startAPIServer},
		{"CRDs (egressgate, Gateway API standard channel, Istio)", c.installCRDs},
		{"kube-controller-manager", c.startControllerManager},
		{"kube-scheduler", c.startScheduler},
		{"kwok and node " + NodeName, c.startKwok},
	}
	if opts.Istio {
		steps = append(steps, struct {
			name string
			run  func(context.Context) error
		}{"istiod", c.runIstiod})
	}
	for _, s := range steps {
		t := time.Now()
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("start %s: %w", s.name, err)
		}
		fmt.Fprintf(c.opts.Progress, "   %-55s ready in %.1fs\n", s.name, time.Since(t).Seconds())
	}
	return c, nil
}

// Stop ends every component, newest first, and removes the directory if
// Start made it.
func (c *Cluster) Stop() error {
	var errs []error
	c.procsMu.Lock()
	procs := c.procs
	c.procs = nil
	c.procsMu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		errs = append(errs, procs[i].Stop(stopGrace))
	}
	if c.ownDir {
		errs = append(errs, os.RemoveAll(c.Dir))
	}
	return errors.Join(errs...)
}

// PIDs lists the component processes (each leads its own process group).
func (c *Cluster) PIDs() []int {
	c.procsMu.Lock()
	defer c.procsMu.Unlock()
	var pids []int
	for _, p := range c.procs {
		pids = append(pids, p.Pid())
	}
	return pids
}

func (c *Cluster) bin(name string) string { return filepath.Join(c.opts.BinDir, name) }
