package embedded

import "context"

// OperatorMetricsAddr is the host:port of the leading operator replica's
// Prometheus endpoint (/metrics), for programs that watch its memory,
// goroutines and file descriptors over time (conformance/soak).
func (h *Harness) OperatorMetricsAddr(ctx context.Context) (string, error) {
	r, err := h.waitForLeader(ctx)
	if err != nil {
		return "", err
	}
	return r.metricsAddr, nil
}
