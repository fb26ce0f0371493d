package embedded

import (
	"context"
	"fmt"
	"time"
)

// The Harness implements suite.ControlPlane: the Resilience profile stops
// the API server, restarts the operator and kills its leader through it.

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
