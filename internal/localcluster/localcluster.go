// Package localcluster starts a real Kubernetes control plane on this
// machine from the binaries `make tools` builds: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok (one fake node, so pods
// become Ready) and, optionally, istiod. No Docker, no kind. `make run`,
// the end-to-end tests and the conformance suite run on it.
package localcluster

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/kubescheme"
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
	GatewayNamespace = "egress-operator-system"
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

	opts          Options
	ownDir        bool
	procsMu       sync.Mutex // components may be started from other goroutines
	procs         []*process
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
		errs = append(errs, procs[i].stop(stopGrace))
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

func (c *Cluster) start(name, bin string, args, env []string, workDir string) (*process, error) {
	p, err := startProcess(c.Dir, name, bin, args, env, workDir)
	if err != nil {
		return nil, err
	}
	c.procsMu.Lock()
	defer c.procsMu.Unlock()
	// Forget components that have exited (restarted ones come back as new
	// entries), so the list does not grow with every restart.
	c.procs = slices.DeleteFunc(c.procs, func(q *process) bool { dead, _ := q.exited(); return dead })
	c.procs = append(c.procs, p)
	return p, nil
}

// waitFor polls ready until it returns nil, the process dies, or timeout.
func waitFor(ctx context.Context, p *process, timeout time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if dead, err := p.exited(); dead {
			return err
		}
		if last = ready(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %v (log: %s)", timeout, last, p.logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) startEtcd(ctx context.Context) error {
	clientPort, err := freePort()
	if err != nil {
		return err
	}
	peerPort, err := freePort()
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
	return waitFor(ctx, p, EtcdReadyTimeout, func(ctx context.Context) error {
		return httpOK(ctx, http.DefaultClient, clientURL+"/health", "")
	})
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	port, err := freePort()
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
	token, err := randomToken()
	if err != nil {
		return err
	}
	tokens := token + `,egressgate-admin,egressgate-admin,"system:masters"` + "\n"
	c.userTokens = map[string]string{}
	var users []string
	for i, u := range c.opts.Users {
		t, err := randomToken()
		if err != nil {
			return err
		}
		c.userTokens[u.Name] = t
		users = append(users, u.Name)
		tokens += fmt.Sprintf("%s,%s,user-%d,%q\n", t, u.Name, i, strings.Join(u.Groups, ","))
	}
	tokenFile := filepath.Join(certDir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(tokens), 0o600); err != nil {
		return err
	}
	auditPolicy := filepath.Join(certDir, "audit-policy.yaml")
	if err := os.WriteFile(auditPolicy, []byte(auditPolicyFor(users)), 0o600); err != nil {
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
	c.Config = &rest.Config{Host: host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 100, Burst: 200}
	if err := c.StartAPIServer(ctx); err != nil {
		return err
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, host, token); err != nil {
		return err
	}
	for name, t := range c.userTokens {
		if err := writeKubeconfig(c.KubeconfigFor(name), host, t); err != nil {
			return err
		}
	}
	scheme, err := kubescheme.New()
	if err != nil {
		return err
	}
	c.Client, err = client.New(c.Config, client.Options{Scheme: scheme})
	return err
}

// auditPolicyFor records, at Metadata level, every write the users make,
// and nothing else.
func auditPolicyFor(users []string) string {
	policy := "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n"
	if len(users) > 0 {
		quoted, _ := json.Marshal(users)
		policy += "- level: Metadata\n  users: " + string(quoted) + "\n  verbs: [create, update, patch, delete, deletecollection]\n"
	}
	return policy + "- level: None\n"
}

// KubeconfigFor is the path of a kubeconfig that authenticates as one of
// Options.Users.
func (c *Cluster) KubeconfigFor(user string) string {
	// KUBECONFIG is a list separated by ':', which user names often contain.
	return filepath.Join(c.Dir, "kubeconfig-"+strings.ReplaceAll(user, ":", "_"))
}

// StopAPIServer stops kube-apiserver, leaving etcd and every other
// component running, as in a control-plane outage.
func (c *Cluster) StopAPIServer() error {
	c.procsMu.Lock()
	var apiserver *process
	for i, p := range c.procs {
		if p.name == "kube-apiserver" {
			apiserver = p
			c.procs = append(c.procs[:i], c.procs[i+1:]...)
			break
		}
	}
	c.procsMu.Unlock()
	if apiserver != nil {
		return apiserver.stop(stopGrace)
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
	return waitFor(ctx, p, APIServerReadyTimeout, func(ctx context.Context) error {
		return httpOK(ctx, insecure, c.Config.Host+"/readyz", c.Config.BearerToken)
	})
}

// ServiceCIDR is the range Services get their ClusterIPs from.
const ServiceCIDR = "10.96.0.0/16"

func (c *Cluster) installCRDs(ctx context.Context) error {
	paths, err := crdpaths.All()
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
	port, err := freePort()
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
	return waitFor(ctx, p, ControllerManagerReadyTimeout, func(ctx context.Context) error {
		return c.Client.Get(ctx, types.NamespacedName{Namespace: GatewayNamespace, Name: "default"}, &corev1.ServiceAccount{})
	})
}

func (c *Cluster) startScheduler(ctx context.Context) error {
	port, err := freePort()
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
	return waitFor(ctx, p, SchedulerReadyTimeout, func(ctx context.Context) error {
		return httpOK(ctx, insecure, "https://127.0.0.1:"+itoa(port)+"/healthz", "")
	})
}

// PodCIDR is where kwok gives pods their IPs: 198.18.0.0/16, a range
// reserved for benchmarking. Start makes it local to this machine (on the
// loopback interface), so a test can send packets from a pod's IP; loopback
// addresses themselves cannot be used, as EndpointSlices refuse them.
const PodCIDR = "198.18.0.1/16"

// podProbeIP is an address inside PodCIDR used to check it is local.
const podProbeIP = "198.18.255.254"

// makePodIPsLocal binds PodCIDR to the loopback interface unless it is
// already local. It needs root (CAP_NET_ADMIN); without it the cluster still
// runs, but nothing can speak from a pod's IP.
func (c *Cluster) makePodIPsLocal() error {
	if canBind(podProbeIP) {
		return nil
	}
	out, err := exec.Command("ip", "addr", "add", PodCIDR, "dev", "lo").CombinedOutput()
	if err != nil || !canBind(podProbeIP) {
		return fmt.Errorf("pod IPs (%s) are not local addresses and 'ip addr add %s dev lo' failed: %v %s; run it as root once",
			PodCIDR, PodCIDR, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func canBind(ip string) bool {
	conn, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func (c *Cluster) startKwok(ctx context.Context) error {
	if err := c.makePodIPsLocal(); err != nil {
		fmt.Fprintf(c.opts.Progress, "   warning: %v\n", err)
	} else {
		c.PodIPsAreLocal = true
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	p, err := c.start("kwok", c.bin("kwok"), []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--config=" + filepath.Join(c.opts.BinDir, "kwok-stages.yaml"),
		"--cidr=" + PodCIDR, "--node-ip=127.0.0.1",
		// kwok renews the node's Lease; without it the controller-manager
		// finds the node silent after 40s and marks every pod NotReady.
		"--node-lease-duration-seconds=40",
		"--server-address=127.0.0.1:" + itoa(port),
	}, nil, c.Dir)
	if err != nil {
		return err
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"type": "kwok", "topology.kubernetes.io/zone": "local-a",
			},
		},
		Status: corev1.NodeStatus{Allocatable: cpuMemPods(), Capacity: cpuMemPods()},
	}
	if err := c.Client.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", NodeName, err)
	}
	return waitFor(ctx, p, NodeReadyTimeout, func(ctx context.Context) error {
		n := &corev1.Node{}
		if err := c.Client.Get(ctx, types.NamespacedName{Name: NodeName}, n); err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return errors.New("node not Ready yet")
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

func writeRSAKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate the service account key: %w", err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return os.WriteFile(path, b, 0o600)
}

func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func writeKubeconfig(path, host, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["egressgate"] = &clientcmdapi.Cluster{Server: host, InsecureSkipTLSVerify: true}
	cfg.AuthInfos["egressgate-admin"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["egressgate"] = &clientcmdapi.Context{Cluster: "egressgate", AuthInfo: "egressgate-admin"}
	cfg.CurrentContext = "egressgate"
	return clientcmd.WriteToFile(*cfg, path)
}

func resourceMust(s string) resource.Quantity { return resource.MustParse(s) }

func cpuMemPods() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resourceMust("32"),
		corev1.ResourceMemory: resourceMust("256Gi"),
		corev1.ResourcePods:   resourceMust("250"),
	}
}
