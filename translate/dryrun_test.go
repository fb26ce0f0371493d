package translate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/admission"
	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/testenv"
	"github.com/egressgate/egressgate/translate"
)

// dryRunCases is how many specs TestGeneratedObjectsPassTheAPIServer draws;
// dryRunSeed makes the draw the same on every run.
const (
	dryRunCases = 300
	dryRunSeed  = 20261129
)

// TestGeneratedObjectsPassTheAPIServer is the property FuzzTranslate cannot
// check offline: every object the translator generates for a spec the CRD
// admits is accepted by a real API server. Built-in kinds
// (NetworkPolicy, ConfigMap, PodDisruptionBudget) get the API server's full
// validation, Gateway API's kinds their CRDs' schemas and CEL rules. Istio's
// CRD schemas are weaker than istiod's own validation (its webhook, which
// does not run here), so for ServiceEntry and DestinationRule this proves
// the shape only; the conformance suite's EnvoyConfig tests show what istiod
// makes of them. Each object is applied as the operator applies it
// (server-side apply, its field manager), with dryRun=All.
func TestGeneratedObjectsPassTheAPIServer(t *testing.T) {
	paths, err := crdpaths.All()
	if err != nil {
		t.Fatal(err)
	}
	env, err := testenv.Start(paths)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()
	opts := translate.DefaultOptions()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opts.GatewayNamespace}}); err != nil {
		t.Fatal(err)
	}
	admitter, err := admission.New()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(dryRunSeed, dryRunSeed))
	admitted, objects := 0, 0
	for i := range dryRunCases {
		obj := randomExternalService(rng, i)
		if errs := admitter.Admit(ctx, obj); len(errs) > 0 {
			continue
		}
		admitted++
		es := decode(t, obj)
		o := opts
		o.EnablePodDisruptionBudgets = rng.IntN(2) == 0
		o.AllowPrivateIPOverride = rng.IntN(2) == 0
		observed := translate.Observed{Addresses: []string{"10.96.0.1"}, AvailableReplicas: 1, DNSHijacked: es.Spec.HijackDns}
		for _, child := range translate.Translate(es, o, observed).Objects {
			objects++
			if err := dryRunApply(ctx, env.Client, child); err != nil {
				spec, _ := json.Marshal(obj["spec"])
				t.Errorf("the API server refuses %T %s generated for spec %s: %v", child, child.GetName(), spec, err)
			}
		}
	}
	t.Logf("%d of %d drawn specs admitted, %d generated objects dry-run applied", admitted, dryRunCases, objects)
	if admitted < dryRunCases/2 {
		t.Errorf("only %d of %d drawn specs were admitted: the generator draws too few valid specs to mean anything", admitted, dryRunCases)
	}
}

// randomExternalService draws an ExternalService from the shapes users
// write, with some that the CRD refuses.
func randomExternalService(rng *rand.Rand, i int) map[string]any {
	labels := []string{"api", "github", "sftp", "bank", "x", "a-b", "eu-west-1", "s3", "very-long-label-" + strings.Repeat("n", 40)}
	tlds := []string{"com", "example", "io", "co.uk", "internal"}
	var name []string
	for range 1 + rng.IntN(3) {
		name = append(name, labels[rng.IntN(len(labels))])
	}
	dnsName := strings.Join(name, ".") + "." + tlds[rng.IntN(len(tlds))]
	var ports []any
	common := []int64{22, 443, 80, 5432, 990, 3306, 8443}
	for range 1 + rng.IntN(4) {
		port := common[rng.IntN(len(common))]
		if rng.IntN(3) == 0 {
			port = 1 + rng.Int64N(65535)
		}
		ports = append(ports, map[string]any{"port": port, "protocol": []string{"TCP", "TLS", "UDP"}[rng.IntN(3)]})
	}
	spec := map[string]any{"dnsName": dnsName, "hijackDns": rng.IntN(2) == 0, "ports": ports}
	if rng.IntN(3) == 0 {
		spec["ipOverride"] = []any{[]string{"203.0.113.7", "198.51.100.1", "10.1.2.3", "2001:db8::5"}[rng.IntN(4)]}
	}
	if rng.IntN(2) == 0 {
		minR := 1 + rng.Int64N(5)
		spec["minReplicas"], spec["maxReplicas"] = minR, minR+rng.Int64N(10)
	}
	if rng.IntN(3) == 0 {
		spec["envoyClusterMaxConnections"] = 1 + rng.Int64N(1<<31)
	}
	return map[string]any{
		"apiVersion": egressv1.GroupVersion.String(), "kind": "ExternalService",
		"metadata": map[string]any{"name": fmt.Sprintf("drawn-%d", i)}, "spec": spec,
	}
}

func decode(t *testing.T, obj map[string]any) *egressv1.ExternalService {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	es := &egressv1.ExternalService{}
	if err := json.Unmarshal(raw, es); err != nil {
		t.Fatal(err)
	}
	es.UID, es.Generation, es.CreationTimestamp = "0b9e3c0e-6f4a-4b8e-9d7e-1a2b3c4d5e6f", 1, metav1.Unix(1, 0)
	return es
}

// dryRunApply applies obj as the operator does (server-side apply of its
// JSON, field manager egressgate, forced), with dryRun=All.
func dryRunApply(ctx context.Context, c client.Client, obj client.Object) error {
	gvk, err := c.GroupVersionKindFor(obj)
	if err != nil {
		return err
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	target := obj.DeepCopyObject().(client.Object)
	return c.Patch(ctx, target, client.RawPatch(types.ApplyPatchType, body),
		client.FieldOwner("egressgate"), client.ForceOwnership, client.DryRunAll)
}
