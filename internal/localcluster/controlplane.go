package localcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/kubescheme"
	"github.com/egressgate/egressgate/internal/supervisor"
)

// ServiceCIDR is the range Services get their ClusterIPs from.
const ServiceCIDR = "10.96.0.0/16"

func (c *Cluster) startEtcd(ctx context.Context) error {
	clientPort, err := supervisor.FreePort()
	if err != nil {
		return err
	}
	peerPort, err := supervisor.FreePort()
	if err != nil {
		return err
	}
	clientURL := "http://127.0.0.1:" + itoa(clientPort)
	peerURL := "http://127.0.0.1:" + itoa(peerPort)
	p, err := c.start("etcd", c.bin("etcd"), []string{
		"--name=default", "--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + clientURL, "--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=default=" + peerURL, "--unsafe-no-fsync",
	}, nil, c.Dir)
	if err != nil {
		return err
	}
	c.etcdURL = clientURL
	return p.WaitReady(ctx, EtcdReadyTimeout, func(ctx context.Context) error {
		return httpOK(ctx, http.DefaultClient, clientURL+"/health", "")
	})
}

// startAPIServer writes the API server's keys, credentials and audit
// policy, starts it, and then writes the kubeconfigs and makes the admin
// client.
func (c *Cluster) startAPIServer(ctx context.Context) error {
	port, err := supervisor.FreePort()
	if err != nil {
		return err
	}
	certDir := filepath.Join(c.Dir, "apiserver")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return err
	}
	saKey := filepath.Join(certDir, "sa.key")
	if err := writeRSAKey(saKey); err != nil {
		return err
	}
	adminToken, tokenFile, err := c.writeTokens(certDir)
	if err != nil {
		return err
	}
	auditPolicy := filepath.Join(certDir, "audit-policy.yaml")
	if err := os.WriteFile(auditPolicy, []byte(auditPolicyFor(c.userNames())), 0o600); err != nil {
		return err
	}
	c.AuditLog = filepath.Join(c.Dir, "audit.log")
	host := "https://127.0.0.1:" + itoa(port)
	c.apiserverArgs = []string{
		"--etcd-servers=" + c.etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + itoa(port),
		"--cert-dir=" + certDir,
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saKey, "--service-account-signing-key-file=" + saKey,
		"--token-auth-file=" + tokenFile,
		"--authorization-mode=RBAC",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--audit-policy-file=" + auditPolicy, "--audit-log-path=" + c.AuditLog, "--audit-log-mode=blocking",
	}
	c.saKey = saKey
	c.apiserverCert = filepath.Join(certDir, "apiserver.crt")
	c.Config = &rest.Config{Host: host, BearerToken: adminToken, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 100, Burst: 200}
	if err := c.StartAPIServer(ctx); err != nil {
		return err
	}
	if err := c.writeKubeconfigs(host, adminToken); err != nil {
		return err
	}
	scheme, err := kubescheme.New()
	if err != nil {
		return err
	}
	c.Client, err = client.New(c.Config, client.Options{Scheme: scheme})
	return err
}

// StopAPIServer stops kube-apiserver, leaving etcd and every other
// component running, as in a control-plane outage.
func (c *Cluster) StopAPIServer() error {
	c.procsMu.Lock()
	var apiserver *supervisor.Process
	for i, p := range c.procs {
		if p.Name() == "kube-apiserver" {
			apiserver = p
			c.procs = append(c.procs[:i], c.procs[i+1:]...)
			break
		}
	}
	c.procsMu.Unlock()
	if apiserver != nil {
		return apiserver.Stop(stopGrace)
	}
	return errors.New("kube-apiserver is not running")
}

// StartAPIServer starts kube-apiserver with the flags, port and
// certificates it had before, and waits until it is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	p, err := c.start("kube-apiserver", c.bin("kube-apiserver"), c.apiserverArgs, nil, c.Dir)
	if err != nil {
		return err
	}
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	return p.WaitReady(ctx, APIServerReadyTimeout, func(ctx context.Context) error {
		return httpOK(ctx, insecure, c.Config.Host+"/readyz", c.Config.BearerToken)
	})
}

func (c *Cluster) installCRDs(ctx context.Context) error {
	all := crdpaths.All
	if c.opts.WithoutOwnCRD {
		all = crdpaths.Theirs
	}
	paths, err := all()
	if err != nil {
		return err
	}
	_, err = envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{
		Paths: paths, ErrorIfPathMissing: true, MaxTime: CRDsEstablishedTimeout,
	})
	if err != nil {
		return err
	}
	for _, ns := range []string{IstioNamespace, GatewayNamespace} {
		err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
	}
	return nil
}

func (c *Cluster) startControllerManager(ctx context.Context) error {
	port, err := supervisor.FreePort()
	if err != nil {
		return err
	}
	p, err := c.start("kube-controller-manager", c.bin("kube-controller-manager"), []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--controllers=*,-node-ipam-controller",
		// Tests stop the API server for 30s; kwok cannot renew the node's
		// Lease meanwhile, and with the default 50s grace the node (and
		// every pod on it) would be marked NotReady just after.
		"--node-monitor-grace-period=2m",
		"--leader-elect=false", "--use-service-account-credentials=false",
		"--service-account-private-key-file=" + c.saKey,
		"--root-ca-file=" + c.apiserverCert,
		"--bind-address=127.0.0.1", "--secure-port=" + itoa(port),
	}, nil, c.Dir)
	if err != nil {
		return err
	}
	// The serviceaccount controller creating "default" shows the
	// controllers run; pods need that ServiceAccount to be admitted.
	return p.WaitReady(ctx, ControllerManagerReadyTimeout, func(ctx context.Context) error {
		return c.Client.Get(ctx, types.NamespacedName{Namespace: GatewayNamespace, Name: "default"}, &corev1.ServiceAccount{})
	})
}

func (c *Cluster) startScheduler(ctx context.Context) error {
	port, err := supervisor.FreePort()
	if err != nil {
		return err
	}
	p, err := c.start("kube-scheduler", c.bin("kube-scheduler"), []string{
		"--kubeconfig=" + c.Kubeconfig, "--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port=" + itoa(port),
	}, nil, c.Dir)
	if err != nil {
		return err
	}
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	return p.WaitReady(ctx, SchedulerReadyTimeout, func(ctx context.Context) error {
		return httpOK(ctx, insecure, "https://127.0.0.1:"+itoa(port)+"/healthz", "")
	})
}

// httpOK GETs url and wants a 200.
func httpOK(ctx context.Context, hc *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
