package controllers_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/testenv"
)

// TestAdmissionPolicyAddsTheFinalizer installs config/admission on a real
// API server without an operator: every ExternalService created from then
// on carries the finalizer, and finalizers it came with stay.
func TestAdmissionPolicyAddsTheFinalizer(t *testing.T) {
	bare := testenv.StartOurs(t)
	ctx := ctxT(t)
	root, err := crdpaths.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.CreateFromFile(ctx, bare.Client, filepath.Join(root, "config", "admission", "finalizer.yaml")); err != nil {
		t.Fatal(err)
	}
	// A policy takes effect a moment after it is created.
	eventually(t, "the policy adds the finalizer on a dry run", func() error {
		probe := externalService("probe", "probe.example.com", port(443, egressv1.ProtocolTLS))
		if err := bare.Client.Create(ctx, probe, client.DryRunAll); err != nil {
			return err
		}
		if !slices.Contains(probe.Finalizers, egressv1.Finalizer) {
			return fmt.Errorf("finalizers %v", probe.Finalizers)
		}
		return nil
	})
	es := externalService("admitted", "admitted.example.com", port(443, egressv1.ProtocolTLS))
	es.Finalizers = []string{"example.com/keep"}
	if err := bare.Client.Create(ctx, es); err != nil {
		t.Fatal(err)
	}
	got := &egressv1.ExternalService{}
	if err := bare.Client.Get(ctx, clientKey("admitted"), got); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got.Finalizers)
	if want := []string{"egress.monzo.com/gateway-before-policies", "example.com/keep"}; !slices.Equal(got.Finalizers, want) {
		t.Errorf("finalizers = %v, want %v", got.Finalizers, want)
	}
}
