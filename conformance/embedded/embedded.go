// Package embedded runs the conformance suite's own cluster: the local
// cluster (real kube-apiserver, etcd, controller-manager, scheduler, kwok
// and istiod), two replicas of the operator binary under leader election
// with the RBAC from config/rbac, and CoreDNS with the egressoperator
// plugin. It implements suite.ControlPlane, so the Resilience profile can
// stop the API server, restart the operator and kill its leader.
package embedded

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/egressgate/egressgate/conformance/suite"
	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/localcluster"
)

// OperatorUser is the identity the operator replicas run as: the
// ServiceAccount config/rbac binds its roles to.
const OperatorUser = "system:serviceaccount:" + localcluster.GatewayNamespace + ":egress-operator"

// LeaseName is the operator's leader election Lease.
const LeaseName = "egress-operator.egress.monzo.com"

// ExternalDomain is where the stand-in for the internet answers every name
// with A, AAAA, HTTPS and SVCB records (TEST-NET and documentation addresses).
const ExternalDomain = "conformance.egressgate.test"

// Upstream addresses the stand-in for the internet answers.
const (
	UpstreamIPv4 = "192.0.2.10"
	UpstreamIPv6 = "2001:db8::10"
)

// Replicas is how many operator replicas run.
const Replicas = 2

// restartDelay is how long a dead operator replica stays down before it is
// started again, as a kubelet would restart it.
const restartDelay = time.Second

// leaderTimeout bounds how long the replicas take to elect a leader.
const leaderTimeout = 60 * time.Second

// standIn is the Corefile part that plays the internet for ExternalDomain
// and answers NXDOMAIN for the cluster domain, like the kubernetes plugin
// does for names of no Service.
var standIn = fmt.Sprintf(`    template IN A %[1]s {
        answer "{{ .Name }} 60 IN A %[2]s"
    }
    template IN AAAA %[1]s {
        answer "{{ .Name }} 60 IN AAAA %[3]s"
    }
    template IN HTTPS %[1]s {
        answer "{{ .Name }} 60 IN HTTPS 1 . alpn=h2 ipv4hint=%[2]s ipv6hint=%[3]s"
    }
    template IN SVCB %[1]s {
        answer "{{ .Name }} 60 IN SVCB 1 . alpn=h2 ipv4hint=%[2]s ipv6hint=%[3]s"
    }
    template ANY ANY cluster.local {
        rcode NXDOMAIN
    }`, ExternalDomain, UpstreamIPv4, UpstreamIPv6)

// Harness is a running embedded cluster with the operator and CoreDNS.
type Harness struct {
	Cluster *localcluster.Cluster
	// DNSServer is CoreDNS's address.
	DNSServer string

	replicas []*replica
}

// Start brings everything up.
func Start(ctx context.Context, progress io.Writer) (_ *Harness, err error) {
	cluster, err := localcluster.Start(ctx, localcluster.Options{
		Istio:    true,
		Progress: progress,
		Users: []localcluster.User{{Name: OperatorUser, Groups: []string{
			"system:serviceaccounts", "system:serviceaccounts:" + localcluster.GatewayNamespace, "system:authenticated",
		}}},
	})
	if err != nil {
		return nil, err
	}
	h := &Harness{Cluster: cluster}
	defer func() {
		if err != nil {
			_ = h.Stop()
		}
	}()
	if err := h.applyRBAC(ctx); err != nil {
		return nil, err
	}
	for i := range Replicas {
		r, err := h.startReplica(fmt.Sprintf("egress-operator-%d", i))
		if err != nil {
			return nil, err
		}
		h.replicas = append(h.replicas, r)
	}
	if _, err := h.waitForLeader(ctx); err != nil {
		return nil, err
	}
	if h.DNSServer, err = cluster.StartCoreDNS(ctx, standIn); err != nil {
		return nil, err
	}
	return h, nil
}

// Stop ends the operator replicas and the cluster.
func (h *Harness) Stop() error {
	for _, r := range h.replicas {
		r.stop()
	}
	return h.Cluster.Stop()
}

// applyRBAC creates config/rbac's ServiceAccount, roles and bindings, so
// the operator runs with exactly the permissions a real install grants.
func (h *Harness) applyRBAC(ctx context.Context) error {
	root, err := crdpaths.RepoRoot()
	if err != nil {
		return err
	}
	for _, f := range []string{"service_account.yaml", "role.yaml", "role_binding.yaml", "leader_election.yaml"} {
		path := filepath.Join(root, "config", "rbac", f)
		file, err := os.Open(path)
		if err != nil {
			return err
		}
		objs, err := suite.DecodeObjects(file)
		file.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		for _, obj := range objs {
			if err := h.Cluster.Client.Create(ctx, obj); err != nil {
				return fmt.Errorf("apply %s %s from %s: %w", obj.GetKind(), obj.GetName(), path, err)
			}
		}
	}
	return nil
}

// replica is one operator process, restarted when it dies unless stopped.
type replica struct {
	name        string
	metricsAddr string
	start       func() (*localcluster.Component, error)

	mu      sync.Mutex
	current *localcluster.Component
	paused  bool
	done    chan struct{}
}

func (h *Harness) startReplica(name string) (*replica, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	r := &replica{name: name, metricsAddr: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	args := []string{
		"--leader-elect", "--leader-election-namespace=" + localcluster.GatewayNamespace,
		"--gateway-namespace=" + localcluster.GatewayNamespace,
		"--metrics-bind-address=" + r.metricsAddr,
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", ports[1]),
		"--enable-pod-disruption-budgets",
		"--concurrency=2",
	}
	env := []string{"KUBECONFIG=" + h.Cluster.KubeconfigFor(OperatorUser)}
	r.start = func() (*localcluster.Component, error) {
		return h.Cluster.StartComponent(name, "egress-operator", args, env)
	}
	return r, r.resume()
}

// resume starts the replica and keeps it running: when it exits it is
// started again after restartDelay, until stop or pause.
func (r *replica) resume() error {
	c, err := r.start()
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.current, r.paused, r.done = c, false, make(chan struct{})
	done := r.done
	r.mu.Unlock()
	go func() {
		defer close(done)
		for {
			<-c.Done()
			time.Sleep(restartDelay)
			r.mu.Lock()
			if r.paused {
				r.mu.Unlock()
				return
			}
			next, err := r.start()
			if err != nil {
				r.mu.Unlock()
				fmt.Fprintf(os.Stderr, "operator replica %s stays down: %v\n", r.name, err)
				return
			}
			r.current, c = next, next
			r.mu.Unlock()
		}
	}()
	return nil
}

// kill ends the replica at once and keeps it down until resume.
func (r *replica) kill() {
	r.mu.Lock()
	r.paused = true
	c, done := r.current, r.done
	r.mu.Unlock()
	c.Kill()
	<-done
}

// down reports whether the replica is stopped and unsupervised.
func (r *replica) down() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paused
}

// stop ends the replica and its supervision.
func (r *replica) stop() {
	r.mu.Lock()
	r.paused = true
	c, done := r.current, r.done
	r.mu.Unlock()
	if c == nil {
		return
	}
	_ = c.Stop()
	<-done
}

// metrics scrapes the replica's Prometheus endpoint and sums each metric
// over the series whose labels contain match.
func (r *replica) metrics(ctx context.Context, match string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.metricsAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sums := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, "{")
		if !ok || strings.HasPrefix(line, "#") || !strings.Contains(rest, match) {
			continue
		}
		var v float64
		if _, err := fmt.Sscanf(rest[strings.LastIndex(rest, " ")+1:], "%g", &v); err == nil {
			sums[name] += v
		}
	}
	return sums, sc.Err()
}

// isLeader reads the replica's leader_election_master_status metric.
func (r *replica) isLeader(ctx context.Context) bool {
	m, err := r.metrics(ctx, LeaseName)
	return err == nil && m["leader_election_master_status"] == 1
}

func (h *Harness) waitForLeader(ctx context.Context) (*replica, error) {
	ctx, cancel := context.WithTimeout(ctx, leaderTimeout)
	defer cancel()
	for {
		for _, r := range h.replicas {
			if !r.down() && r.isLeader(ctx) {
				return r, nil
			}
		}
		select {
		case <-ctx.Done():
			var logs []string
			for _, r := range h.replicas {
				logs = append(logs, r.name+":\n"+tail(filepath.Join(h.Cluster.Dir, "logs", r.name+".log"), 20))
			}
			return nil, fmt.Errorf("no operator replica became leader within %s; the end of their logs:\n%s", leaderTimeout, strings.Join(logs, "\n"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// StopAPIServer implements suite.ControlPlane.
func (h *Harness) StopAPIServer() error { return h.Cluster.StopAPIServer() }

// StartAPIServer implements suite.ControlPlane.
func (h *Harness) StartAPIServer(ctx context.Context) error { return h.Cluster.StartAPIServer(ctx) }

// RestartOperator implements suite.ControlPlane: every replica is stopped,
// then all start again, and it returns once one leads.
func (h *Harness) RestartOperator(ctx context.Context) (time.Time, error) {
	for _, r := range h.replicas {
		r.stop()
	}
	stopped := time.Now()
	for _, r := range h.replicas {
		if err := r.resume(); err != nil {
			return stopped, err
		}
	}
	_, err := h.waitForLeader(ctx)
	return stopped, err
}

// WaitOperatorSettled implements suite.ControlPlane from the leader's
// controller-runtime metrics.
func (h *Harness) WaitOperatorSettled(ctx context.Context, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		if leader, err := h.waitForLeader(ctx); err == nil {
			m, err := leader.metrics(ctx, `controller="externalservice"`)
			if err == nil {
				done, queued := m["controller_runtime_reconcile_total"], m["workqueue_depth"]
				if done >= float64(n) && queued == 0 {
					return nil
				}
				last = fmt.Sprintf("%s: %.0f reconciles, %.0f queued", leader.name, done, queued)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the operator did not settle after %d reconciles within %s: %s", n, timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// KillLeader implements suite.ControlPlane.
func (h *Harness) KillLeader(ctx context.Context) (string, error) {
	leader, err := h.waitForLeader(ctx)
	if err != nil {
		return "", err
	}
	leader.kill()
	return leader.name, nil
}

// Leader implements suite.ControlPlane.
func (h *Harness) Leader(ctx context.Context) (string, error) {
	r, err := h.waitForLeader(ctx)
	if err != nil {
		return "", err
	}
	return r.name, nil
}

// ResumeOperator implements suite.ControlPlane.
func (h *Harness) ResumeOperator() error {
	for _, r := range h.replicas {
		if r.down() {
			if err := r.resume(); err != nil {
				return err
			}
		}
	}
	return nil
}

// auditEvent is the part of an audit.k8s.io/v1 Event the harness reads.
type auditEvent struct {
	StageTimestamp time.Time `json:"stageTimestamp"`
	Verb           string    `json:"verb"`
	User           struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
}

// OperatorWrites implements suite.ControlPlane from the API server's audit
// log, which records every write the operator's identity makes.
func (h *Harness) OperatorWrites(since time.Time) ([]string, error) {
	f, err := os.Open(h.Cluster.AuditLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var writes []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev auditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("read the audit log %s: %w", h.Cluster.AuditLog, err)
		}
		if ev.User.Username != OperatorUser || ev.ObjectRef.Resource == "leases" || ev.ObjectRef.Resource == "events" || !ev.StageTimestamp.After(since) {
			continue
		}
		res := ev.ObjectRef.Resource
		if ev.ObjectRef.Subresource != "" {
			res += "/" + ev.ObjectRef.Subresource
		}
		writes = append(writes, fmt.Sprintf("%s %s %s/%s", ev.Verb, res, ev.ObjectRef.Namespace, ev.ObjectRef.Name))
	}
	return writes, sc.Err()
}

// Options are the suite options for this harness: every feature but the
// data plane, which needs a CNI and Envoy.
func (h *Harness) Options() suite.Options {
	features := suite.NewFeatureSet()
	for _, p := range suite.AllProfiles {
		for _, f := range suite.Profiles[p] {
			features[f] = true
		}
	}
	why := map[suite.Feature]string{}
	for _, f := range suite.Profiles[suite.ProfileDataPlane] {
		why[f] = "the embedded cluster has no CNI and no Envoy: kwok's pods run no containers; run the suite against a real cluster"
	}
	if !h.Cluster.PodIPsAreLocal {
		why[suite.FeatureDNSQueryFromPodIP] = "pod IPs are not local addresses of this machine: run 'ip addr add " + localcluster.PodCIDR + " dev lo' as root"
	}
	for f := range why {
		delete(features, f)
	}
	return suite.Options{
		Client:               h.Cluster.Client,
		RestConfig:           h.Cluster.Config,
		SupportedFeatures:    features,
		UnsupportedReasons:   why,
		GatewayNamespace:     localcluster.GatewayNamespace,
		ClusterDomain:        "cluster.local",
		DNSServer:            h.DNSServer,
		DNSNamespace:         "kube-system",
		ExternalDomain:       ExternalDomain,
		ControlPlane:         h,
		PodDisruptionBudgets: true,
	}
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		defer l.Close()
	}
	return ports, nil
}
