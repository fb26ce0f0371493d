package embedded

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/egressgate/egressgate/conformance/suite"
	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/localcluster"
)

// The operator runs as Replicas processes of bin/egress-operator under
// leader election, each supervised like a kubelet would (see replica.go),
// with the RBAC of a real install.

// OperatorUser is the identity the operator replicas run as: the
// ServiceAccount config/rbac binds its roles to.
const OperatorUser = "system:serviceaccount:" + localcluster.GatewayNamespace + ":egress-operator"

// LeaseName is the operator's leader election Lease.
const LeaseName = "egress-operator.egress.monzo.com"

// Replicas is how many operator replicas run.
const Replicas = 2

// restartDelay is how long a dead operator replica stays down before it is
// started again, as a kubelet would restart it.
const restartDelay = time.Second

// leaderTimeout bounds how long the replicas take to elect a leader.
const leaderTimeout = 60 * time.Second

// startOperator grants the operator's ServiceAccount its roles, starts
// the replicas and waits until one leads.
func (h *Harness) startOperator(ctx context.Context) error {
	if err := h.applyRBAC(ctx); err != nil {
		return err
	}
	for i := range Replicas {
		r, err := h.startReplica(fmt.Sprintf("egress-operator-%d", i))
		if err != nil {
			return err
		}
		h.replicas = append(h.replicas, r)
	}
	_, err := h.waitForLeader(ctx)
	return err
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

// startReplica starts one supervised operator process, with its own
// metrics and health ports.
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

// freePorts finds n TCP ports free on the loopback interface.
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
