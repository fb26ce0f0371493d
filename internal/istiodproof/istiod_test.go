package istiodproof_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/egressgate/egressgate/internal/crds"
	"github.com/egressgate/egressgate/internal/testenv"
)

// Bounds on each wait, named so a failure says which step was slow.
const (
	// istiodReadyTimeout covers istiod's start: informers synced, /ready 200.
	istiodReadyTimeout = 90 * time.Second
	// gatewayClassTimeout covers istiod winning leader election and
	// creating its built-in GatewayClass "istio".
	gatewayClassTimeout = 60 * time.Second
	// gatewayChildrenTimeout covers the gateway deployment controller
	// rendering kube-gateway and applying the Deployment and Service.
	gatewayChildrenTimeout = 60 * time.Second
	// istiodStopTimeout is how long istiod gets after SIGTERM before SIGKILL.
	istiodStopTimeout = 15 * time.Second
	pollInterval      = 200 * time.Millisecond
)

const (
	istioNamespace = "istio-system"
	gatewayNS      = "proof"
	gatewayName    = "github"
	// gatewayNameLabel is the label istiod puts on what it creates for a Gateway.
	gatewayNameLabel = "gateway.networking.k8s.io/gateway-name"
)

// meshConfig is the smallest mesh configuration istiod runs with; every
// other field keeps Istio's default.
const meshConfig = `rootNamespace: istio-system
trustDomain: cluster.local
`

// TestIstiodCreatesGatewayDeployment starts etcd, kube-apiserver and istiod,
// creates a Gateway with an SSH (TCP 22) and a TLS passthrough (443)
// listener, and waits for istiod's gateway deployment controller to create
// its Deployment and Service.
func TestIstiodCreatesGatewayDeployment(t *testing.T) {
	root, err := crds.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin")
	pilot := filepath.Join(bin, "pilot-discovery")
	injectDir := filepath.Join(bin, "istio", "inject")
	for _, f := range []string{pilot, filepath.Join(injectDir, "config"), filepath.Join(injectDir, "values")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s is missing: run 'make tools' first (%v)", f, err)
		}
	}

	gatewayCRDs, err := crds.GatewayAPI()
	if err != nil {
		t.Fatal(err)
	}
	istioCRDs, err := crds.Istio()
	if err != nil {
		t.Fatal(err)
	}
	env, err := testenv.Start(append(gatewayCRDs, istioCRDs...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the API server: %v", err)
		}
	})

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	// istiod's leader election and CA secret live in its own namespace.
	if err := env.CreateNamespace(ctx, istioNamespace); err != nil {
		t.Fatal(err)
	}

	istiod := startIstiod(t, env, injectDir, pilot)

	if err := istiod.waitReady(ctx, istiodReadyTimeout); err != nil {
		t.Fatal(err)
	}
	c := env.Client
	if err := istiod.poll(ctx, "GatewayClass istio", gatewayClassTimeout, func(ctx context.Context) (bool, error) {
		return exists(ctx, c, client.ObjectKey{Name: "istio"}, &gwapiv1.GatewayClass{})
	}); err != nil {
		t.Fatal(err)
	}

	if err := env.CreateNamespace(ctx, gatewayNS); err != nil {
		t.Fatal(err)
	}
	gw := &gwapiv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{
			Name:        gatewayName,
			Namespace:   gatewayNS,
			Annotations: map[string]string{"networking.istio.io/service-type": string(corev1.ServiceTypeClusterIP)},
		},
		Spec: gwapiv1.GatewaySpec{
			GatewayClassName: "istio",
			Listeners: []gwapiv1.Listener{
				{Name: "ssh", Port: 22, Protocol: gwapiv1.TCPProtocolType},
				{
					Name:     "tls",
					Port:     443,
					Protocol: gwapiv1.TLSProtocolType,
					Hostname: ptr.To(gwapiv1.Hostname("github.com")),
					TLS:      &gwapiv1.ListenerTLSConfig{Mode: ptr.To(gwapiv1.TLSModePassthrough)},
				},
			},
		},
	}
	if err := c.Create(ctx, gw); err != nil {
		t.Fatalf("create Gateway: %v", err)
	}

	selector := client.MatchingLabels{gatewayNameLabel: gatewayName}
	var deployments appsv1.DeploymentList
	var services corev1.ServiceList
	if err := istiod.poll(ctx, "the gateway's Deployment and Service", gatewayChildrenTimeout, func(ctx context.Context) (bool, error) {
		if err := c.List(ctx, &deployments, client.InNamespace(gatewayNS), selector); err != nil {
			return false, err
		}
		if err := c.List(ctx, &services, client.InNamespace(gatewayNS), selector); err != nil {
			return false, err
		}
		return len(deployments.Items) == 1 && len(services.Items) == 1, nil
	}); err != nil {
		t.Fatal(err)
	}

	svc := services.Items[0]
	t.Logf("istiod created Deployment %s and Service %s (%s, ClusterIP %s)",
		deployments.Items[0].Name, svc.Name, svc.Spec.Type, svc.Spec.ClusterIP)
	if svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service type = %s, want ClusterIP (from the networking.istio.io/service-type annotation)", svc.Spec.Type)
	}
	ports := map[int32]bool{}
	for _, p := range svc.Spec.Ports {
		ports[p.Port] = true
	}
	for _, want := range []int32{22, 443} {
		if !ports[want] {
			t.Errorf("Service %s has no port %d: %+v", svc.Name, want, svc.Spec.Ports)
		}
	}
}

// exists reports whether the object at key is there.
func exists(ctx context.Context, c client.Client, key client.ObjectKey, obj client.Object) (bool, error) {
	err := c.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// istiodProcess is a running bin/pilot-discovery.
type istiodProcess struct {
	cmd      *exec.Cmd
	httpAddr string
	logPath  string
	// exited is closed once the process has ended; err is then its error.
	exited chan struct{}
	err    error
}

// startIstiod runs `pilot-discovery discovery` in its own process group,
// in a working directory holding var/lib/istio/inject/{config,values}, on
// free loopback ports, with its log in a temporary file. Cleanup stops it
// and checks that no process of its group is left.
func startIstiod(t *testing.T, env *testenv.Env, injectDir, pilot string) *istiodProcess {
	t.Helper()
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	mesh := filepath.Join(dir, "mesh.yaml")
	if err := os.WriteFile(mesh, []byte(meshConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	// istiod reads the injection config from ./var/lib/istio/inject.
	work := filepath.Join(dir, "istiod")
	if err := copyInjectConfig(injectDir, filepath.Join(work, "var", "lib", "istio", "inject")); err != nil {
		t.Fatal(err)
	}

	// The log outlives the test's temporary directory when the test fails.
	logFile, err := os.CreateTemp("", "istiod-*.log")
	if err != nil {
		t.Fatal(err)
	}
	p := &istiodProcess{httpAddr: freeAddr(t), logPath: logFile.Name(), exited: make(chan struct{})}
	p.cmd = exec.Command(pilot, "discovery",
		"--kubeconfig", kubeconfig,
		"--meshConfig", mesh,
		"--httpAddr", p.httpAddr,
		"--grpcAddr", freeAddr(t),
		"--monitoringAddr", freeAddr(t),
		"--secureGRPCAddr", "",
		"--httpsAddr", "",
		"--shutdownDuration", "1s",
	)
	p.cmd.Dir = work
	p.cmd.Env = append(os.Environ(), "POD_NAMESPACE="+istioNamespace, "REVISION=default")
	p.cmd.Stdout = logFile
	p.cmd.Stderr = logFile
	// Its own process group, so cleanup can signal istiod and anything it
	// starts; Pdeathsig kills it if the test binary dies first.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("start %s: %v", pilot, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
	t.Logf("istiod (pid %d) logs to %s", p.cmd.Process.Pid, p.logPath)

	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("istiod's log is kept in %s; its last lines:\n%s", p.logPath, tail(p.logPath, 40))
			return
		}
		_ = os.Remove(p.logPath)
	})
	return p
}

// waitReady waits for istiod's /ready endpoint to answer 200.
func (p *istiodProcess) waitReady(ctx context.Context, timeout time.Duration) error {
	url := "http://" + p.httpAddr + "/ready"
	return p.poll(ctx, "istiod "+url, timeout, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil // not listening yet
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// poll runs cond until it is true, it fails, istiod exits, or timeout
// passes; the error names what was awaited and where istiod's log is.
func (p *istiodProcess) poll(ctx context.Context, what string, timeout time.Duration, cond wait.ConditionWithContextFunc) error {
	err := wait.PollUntilContextTimeout(ctx, pollInterval, timeout, true, func(ctx context.Context) (bool, error) {
		select {
		case <-p.exited:
			return false, fmt.Errorf("istiod exited: %v", p.err)
		default:
		}
		return cond(ctx)
	})
	if err != nil {
		return fmt.Errorf("wait for %s (timeout %s; istiod log %s): %w", what, timeout, p.logPath, err)
	}
	return nil
}

// stop sends SIGTERM to istiod's process group, SIGKILL after
// istiodStopTimeout, and fails if any process of the group is left.
func (p *istiodProcess) stop() error {
	pgid := p.cmd.Process.Pid // Setpgid: the group id is istiod's pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(istiodStopTimeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	// istiod has been reaped; anything it started would still be in the group.
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return fmt.Errorf("a process of istiod's group %d outlived it (kill -0: %v)", pgid, err)
	}
	return nil
}

// copyInjectConfig copies config and values from src (bin/istio/inject)
// into dst.
func copyInjectConfig(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	for _, name := range []string{"config", "values"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return fmt.Errorf("read the injection %s (run 'make tools'): %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			return fmt.Errorf("write the injection %s: %w", name, err)
		}
	}
	return nil
}

// freeAddr returns a loopback address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
