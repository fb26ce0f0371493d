// Package testenv starts a real etcd and kube-apiserver (built into bin/ by
// `make tools`) with egressgate's, Gateway API's and Istio's CRDs, for the
// controller tests and the benchmark. It also counts the API writes a
// client makes, which is how "a steady state makes zero writes" is proven.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/kubescheme"
)

// Env is a running API server.
type Env struct {
	env    *envtest.Environment
	Config *rest.Config
	Client client.Client
}

// Start runs etcd and kube-apiserver from bin/ and installs the CRDs at paths.
func Start(paths crdpaths.Paths) (*Env, error) {
	root, err := crdpaths.RepoRoot()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(root, "bin")
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s: run 'make tools' first", b, bin)
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: bin,
		CRDDirectoryPaths:     paths,
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start etcd and kube-apiserver: %w", err)
	}
	scheme, err := kubescheme.New()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{env: env, Config: cfg, Client: c}, nil
}

// StartOurs starts an API server with only the ExternalService CRD, for a
// test, and stops it when the test ends.
func StartOurs(t testing.TB) *Env {
	t.Helper()
	paths, err := crdpaths.Ours()
	if err != nil {
		t.Fatal(err)
	}
	env, err := Start(paths)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return env
}

// Stop ends etcd and kube-apiserver.
func (e *Env) Stop() error { return e.env.Stop() }

// CreateNamespace creates a namespace.
func (e *Env) CreateNamespace(ctx context.Context, name string) error {
	return e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
}

// InstallCRDs installs more CRDs into the running server, as a cluster
// admin installing Istio after the operator started would.
func (e *Env) InstallCRDs(paths crdpaths.Paths) error {
	_, err := envtest.InstallCRDs(e.Config, envtest.CRDInstallOptions{Paths: paths, ErrorIfPathMissing: true})
	return err
}

// WriteCounter counts the writes (create, update, patch, apply, delete)
// sent through a rest.Config, leaving out leases and events.
type WriteCounter struct {
	mu     sync.Mutex
	writes []string
}

// Count returns how many writes were made.
func (w *WriteCounter) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.writes)
}

// Writes lists them as "METHOD path".
func (w *WriteCounter) Writes() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes)
}

// Reset forgets the writes counted so far.
func (w *WriteCounter) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = nil
}

// Counting returns a copy of cfg whose writes c counts.
func Counting(cfg *rest.Config, c *WriteCounter) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			switch req.Method {
			case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
				if !strings.Contains(req.URL.Path, "/leases") && !strings.Contains(req.URL.Path, "/events") {
					c.mu.Lock()
					c.writes = append(c.writes, req.Method+" "+req.URL.Path)
					c.mu.Unlock()
				}
			}
			return rt.RoundTrip(req)
		})
	})
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Reconciles is how many passes the named controller has finished in this
// process, read from controller-runtime's metrics.
func Reconciles(controller string) float64 {
	return sumMetric("controller_runtime_reconcile_total", controller)
}

// QueueDepth is the named controller's work queue length.
func QueueDepth(controller string) float64 {
	return sumMetric("workqueue_depth", controller)
}

func sumMetric(name, controller string) float64 {
	families, err := metrics.Registry.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelValue(m, "controller") == controller || labelValue(m, "name") == controller {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// WaitIdle waits until the controller has finished at least minReconciles
// passes more than before, and its queue has stayed empty for quiet.
func WaitIdle(ctx context.Context, controller string, before, minReconciles float64, quiet time.Duration) error {
	var emptySince time.Time
	for {
		if Reconciles(controller)-before >= minReconciles && QueueDepth(controller) == 0 {
			if emptySince.IsZero() {
				emptySince = time.Now()
			} else if time.Since(emptySince) >= quiet {
				return nil
			}
		} else {
			emptySince = time.Time{}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("controller %s not idle (%.0f passes of %.0f, queue %.0f): %w",
				controller, Reconciles(controller)-before, minReconciles, QueueDepth(controller), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WriteKubeconfig writes a cluster-admin kubeconfig for the server to path,
// for processes (the operator binary, CoreDNS, kubectl) started beside it.
func (e *Env) WriteKubeconfig(path string) error {
	user, err := e.env.AddUser(envtest.User{Name: "egressgate-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add a user to the API server: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("render kubeconfig: %w", err)
	}
	return os.WriteFile(path, kc, 0o600)
}

// CreateFromFile creates every object of a multi-document YAML or JSON
// file, as `kubectl create -f` would.
func CreateFromFile(ctx context.Context, c client.Client, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := c.Create(ctx, u); err != nil {
			return fmt.Errorf("create %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
}
