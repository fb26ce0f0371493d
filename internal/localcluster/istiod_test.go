package localcluster

import (
	"context"
	"strings"
	"testing"
)

// TestRestartIstiodWithoutIstiod: a cluster started without Options.Istio
// has no istiod to restart, and the error says how to get one. The restart
// itself runs in conformance/soak's TestSoakSmoke, on the embedded cluster.
func TestRestartIstiodWithoutIstiod(t *testing.T) {
	err := (&Cluster{}).RestartIstiod(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Options.Istio") {
		t.Fatalf("RestartIstiod without istiod: %v, want an error naming Options.Istio", err)
	}
}
