// Package dnsharness runs the real CoreDNS binary (bin/coredns, with the
// egressoperator plugin) beside the real kube-apiserver of internal/testenv,
// and writes ExternalService status the way the controller does, so the
// plugin can be queried end to end without the operator. The plugin's
// end-to-end test (dnsplugin) and the DNS benchmark (bench/dns) share it.
// CoreDNS runs under internal/supervisor.
package dnsharness

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
	"github.com/egressgate/egressgate/internal/supervisor"
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

// stopGrace is how long CoreDNS gets to exit after SIGTERM.
const stopGrace = 10 * time.Second

// CoreDNS is a running bin/coredns process.
type CoreDNS struct{ p *supervisor.Process }

// StartCoreDNS writes corefile into dir and runs bin with it there, logging
// to dir/coredns.log; Stop ends it. Each tune is applied to the process's
// Spec before it starts (a benchmark pins it to a CPU that way).
func StartCoreDNS(bin, dir, corefile string, tune ...func(*supervisor.Spec)) (*CoreDNS, error) {
	path := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(path, []byte(corefile), 0o644); err != nil {
		return nil, fmt.Errorf("write Corefile: %w", err)
	}
	spec := supervisor.Spec{
		Name: "coredns", Path: bin, Args: []string{"-conf", path}, Dir: dir,
		LogPath: filepath.Join(dir, "coredns.log"),
	}
	for _, t := range tune {
		t(&spec)
	}
	p, err := supervisor.Start(spec)
	if err != nil {
		return nil, err
	}
	return &CoreDNS{p: p}, nil
}

// Output is everything the process printed so far.
func (c *CoreDNS) Output() string { return c.p.Output() }

// Pid is the process id.
func (c *CoreDNS) Pid() int { return c.p.Pid() }

// Stop ends the process (SIGTERM, then SIGKILL after 10 s).
func (c *CoreDNS) Stop() { _ = c.p.Stop(stopGrace) }

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

// WaitHTTP polls url until it answers with status want, the process exits,
// ctx ends or timeout passes. It is how a test waits for CoreDNS's ready
// endpoint. The error carries CoreDNS's output.
func (c *CoreDNS) WaitHTTP(ctx context.Context, timeout time.Duration, url string, want int) error {
	err := c.p.WaitReady(ctx, timeout, func(context.Context) error {
		code, err := HTTPStatus(url)
		if err != nil {
			return err
		}
		if code != want {
			return fmt.Errorf("%s answered %d, want %d", url, code, want)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w\ncoredns output:\n%s", err, c.Output())
	}
	return nil
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
