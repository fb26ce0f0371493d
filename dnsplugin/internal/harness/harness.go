// Package harness runs the real CoreDNS binary (bin/coredns, with the
// egressoperator plugin) beside the real kube-apiserver of internal/testenv,
// and writes ExternalService status the way the controller does. The
// plugin's end-to-end test and its benchmark (dnsplugin/bench) share it.
package harness

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
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/crdpaths"
)

// KubeconfigContext is the context name WriteKubeconfig gives the server.
const KubeconfigContext = "egressgate-test"

// CoreDNSBinary is the path of bin/coredns, or an error telling how to build it.
func CoreDNSBinary() (string, error) {
	root, err := crdpaths.RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "bin", "coredns")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s is missing: run 'make build-dns' (or 'make build') first", bin)
	}
	return bin, nil
}

// WriteKubeconfig writes a kubeconfig for cfg (the test API server's admin
// credentials) to path, with the context KubeconfigContext.
func WriteKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[KubeconfigContext] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[KubeconfigContext] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken,
	}
	kc.Contexts[KubeconfigContext] = &clientcmdapi.Context{Cluster: KubeconfigContext, AuthInfo: KubeconfigContext}
	kc.CurrentContext = KubeconfigContext
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// FreePort returns a port that is free on 127.0.0.1 for both TCP and UDP,
// as a DNS server needs.
func FreePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return port, nil
		}
	}
	return 0, errors.New("find a free port: no port free for both TCP and UDP")
}

// CoreDNS is a running bin/coredns process.
type CoreDNS struct {
	cmd    *exec.Cmd
	output *syncBuffer
	exited chan struct{}
	err    error
}

// StartCoreDNS writes corefile into dir and runs bin with it. The process's
// output is kept for Output; Stop ends it. Each change is applied to the
// command before it starts (a benchmark pins it to a CPU that way).
func StartCoreDNS(bin, dir, corefile string, changes ...func(*exec.Cmd)) (*CoreDNS, error) {
	path := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(path, []byte(corefile), 0o644); err != nil {
		return nil, fmt.Errorf("write Corefile: %w", err)
	}
	c := &CoreDNS{output: &syncBuffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(bin, "-conf", path)
	c.cmd.Dir = dir
	c.cmd.Stdout = c.output
	c.cmd.Stderr = c.output
	for _, change := range changes {
		change(c.cmd)
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// Output is everything the process printed so far.
func (c *CoreDNS) Output() string { return c.output.String() }

// Pid is the process id.
func (c *CoreDNS) Pid() int { return c.cmd.Process.Pid }

// Stop ends the process (SIGTERM, then SIGKILL after 10 s).
func (c *CoreDNS) Stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// WaitHTTP polls url until it answers with status want, the process exits,
// or ctx ends. It is how a test waits for CoreDNS's ready endpoint.
func (c *CoreDNS) WaitHTTP(ctx context.Context, url string, want int) error {
	var last string
	for {
		if code, err := HTTPStatus(url); err != nil {
			last = err.Error()
		} else if code == want {
			return nil
		} else {
			last = fmt.Sprintf("status %d", code)
		}
		select {
		case <-c.exited:
			return fmt.Errorf("coredns exited (%v) before %s answered %d:\n%s", c.err, url, want, c.Output())
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer %d (last: %s): %w\ncoredns output:\n%s", url, want, last, ctx.Err(), c.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// HTTPStatus is the status code of a GET to url.
func HTTPStatus(url string) (int, error) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the test's
// reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// NewExternalService is a valid ExternalService for dnsName on port 443.
func NewExternalService(name, dnsName string) *egressv1.ExternalService {
	tls := egressv1.ProtocolTLS
	return &egressv1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: egressv1.ExternalServiceSpec{
			DnsName:   dnsName,
			HijackDns: true,
			Ports:     []egressv1.ExternalServicePort{{Port: 443, Protocol: &tls}},
		},
	}
}

// SetStatus writes what the controller writes for the DNS plugin: the
// DNSHijacked condition (left out when hijacked is "") and the addresses.
// It retries on conflicts.
func SetStatus(ctx context.Context, c client.Client, name string, hijacked metav1.ConditionStatus, addresses ...string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		es := &egressv1.ExternalService{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, es); err != nil {
			return err
		}
		es.Status.ObservedGeneration = es.Generation
		es.Status.Addresses = addresses
		if hijacked == "" {
			meta.RemoveStatusCondition(&es.Status.Conditions, egressv1.ConditionDNSHijacked)
		} else {
			reason := "GatewayProgrammed"
			if hijacked != metav1.ConditionTrue {
				reason = "HijackDisabled"
			}
			meta.SetStatusCondition(&es.Status.Conditions, metav1.Condition{
				Type: egressv1.ConditionDNSHijacked, Status: hijacked, Reason: reason,
				Message: "set by the test as the controller would", ObservedGeneration: es.Generation,
			})
		}
		return c.Status().Update(ctx, es)
	})
	if err != nil {
		return fmt.Errorf("set status of ExternalService %s: %w", name, err)
	}
	return nil
}

// CreateHijacked creates an ExternalService and gives it DNSHijacked=True
// with addresses, as the controller does once its gateway is Programmed.
func CreateHijacked(ctx context.Context, c client.Client, name, dnsName string, addresses ...string) error {
	if err := c.Create(ctx, NewExternalService(name, dnsName)); err != nil {
		return fmt.Errorf("create ExternalService %s: %w", name, err)
	}
	return SetStatus(ctx, c, name, metav1.ConditionTrue, addresses...)
}

// Contains reports whether the process output contains any of subs.
func (c *CoreDNS) Contains(subs ...string) bool {
	out := c.Output()
	for _, s := range subs {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}
