package soak

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestSoakSmoke runs the soak's code for a short while on the embedded
// cluster (under two minutes on 2 cores, startup included; the operator's
// restart alone waits about 15 s for its lease to expire): 20
// ExternalServices churning under 50 queries a second, an operator restart,
// an istiod restart and a 5 s API server outage. It checks that no hijacked
// name leaks an upstream address, that answers follow the model within the
// bounds and that changes settle. It runs WITHOUT the growth checks: heap,
// goroutines and file descriptors need minutes to mean anything (`make
// soak` checks them). The leader handover is left out: it waits for the
// lease to expire (15 s); `make soak` runs it.
func TestSoakSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded cluster")
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	o := Options{
		Duration:         20 * time.Second,
		ExternalServices: 20,
		QueryRate:        50,
		ChurnInterval:    300 * time.Millisecond,
		Disruptions:      []Disruption{OperatorRestart, IstiodRestart, APIOutage},
		Outage:           5 * time.Second,
		Progress:         testWriter{t},
	}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep.Print(&out)
	t.Log(out.String())
	for _, f := range rep.Failures {
		t.Error(f)
	}
	ran := map[string]bool{}
	for _, c := range rep.Phases {
		ran[c.Phase] = c.Queries > 0
	}
	for _, p := range []phase{phaseSteady, phaseOperatorRestart, phaseIstiodRestart, phaseAPIOutage} {
		if !ran[p.String()] {
			t.Errorf("no query was sent during the %s phase", p)
		}
	}
	if len(rep.Disruptions) != len(o.Disruptions) {
		t.Errorf("%d disruptions ran, want %d", len(rep.Disruptions), len(o.Disruptions))
	}
	if rep.Settled+rep.DisruptedSettled == 0 {
		t.Error("no change settled during the churn")
	}
}
