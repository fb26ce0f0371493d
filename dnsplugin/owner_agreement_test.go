package dnsplugin

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/controllers"
	"github.com/egressgate/egressgate/internal/testenv"
	"github.com/egressgate/egressgate/translate"
)

// TestOwnerAgreesWithController runs the real controller and the plugin's
// real watch against one API server and checks that, for every dnsName,
// the plugin would hijack for exactly the ExternalService the controller
// generates a gateway for: older against newer, two created in the same
// second, an older one being deleted (held by a finalizer), and a name
// inside the cluster domain. This test links the controller, which CoreDNS
// itself never does.
func TestOwnerAgreesWithController(t *testing.T) {
	env := testenv.StartOurs(t)
	ctx := t.Context()
	c := env.Client
	opts := translate.DefaultOptions()
	startController(t, env, opts)
	createClaimants(t, c, opts.GatewayNamespace)
	source := startPluginWatch(t, env, opts.GatewayNamespace)

	agree := func(phase string) {
		t.Helper()
		testenv.Eventually(t, phase+": the plugin and the controller agree on every owner", 30*time.Second, func() error {
			return ownersAgree(ctx, c, source, []string{"pair.example.com", "deleting.example.com", "api.default.svc.cluster.local"})
		})
	}
	agree("all created")

	old := &egressv1.ExternalService{}
	if err := c.Get(ctx, client.ObjectKey{Name: "deleting-old"}, old); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	agree("the older claimant being deleted")
}

// startController runs the operator's manager, with its real controller,
// against env until the test ends.
func startController(t *testing.T, env *testenv.Env, opts translate.Options) {
	t.Helper()
	if err := env.CreateNamespace(t.Context(), opts.GatewayNamespace); err != nil {
		t.Fatal(err)
	}
	mgr, err := controllers.NewManager(env.Config, opts, controllers.ManagerOptions{MetricsAddr: "0", ProbeAddr: "0", SkipNameValidation: true})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(t.Context()) }()
}

// createClaimants creates the ExternalServices whose owners are compared:
// two claimants of pair.example.com, an older and a newer one of
// deleting.example.com (the older held by a finalizer, so it can be seen
// being deleted), and one name inside the cluster domain.
func createClaimants(t *testing.T, c client.Client, gatewayNamespace string) {
	t.Helper()
	ctx := t.Context()
	const hold = "test.egressgate.io/hold"
	es := func(name, dnsName string, finalizers ...string) *egressv1.ExternalService {
		tcp := egressv1.ProtocolTCP
		return &egressv1.ExternalService{
			ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: finalizers},
			Spec:       egressv1.ExternalServiceSpec{DnsName: dnsName, Ports: []egressv1.ExternalServicePort{{Port: 443, Protocol: &tcp}}},
		}
	}
	create := func(objs ...*egressv1.ExternalService) {
		for _, o := range objs {
			if err := c.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Created out of name order: whether they land in one second or two,
	// both sides must choose the same one.
	create(es("pair-b", "pair.example.com"), es("pair-a", "pair.example.com"))
	create(es("deleting-old", "deleting.example.com", hold))
	waitUntilNextSecond(t, c, gatewayNamespace, "deleting-old")
	create(es("deleting-new", "deleting.example.com"))
	create(es("inside", "api.default.svc.cluster.local"))
	t.Cleanup(func() {
		for _, n := range []string{"pair-a", "pair-b", "deleting-old", "deleting-new", "inside"} {
			o := &egressv1.ExternalService{}
			if c.Get(ctx, client.ObjectKey{Name: n}, o) == nil && len(o.Finalizers) > 0 {
				o.Finalizers = nil
				_ = c.Update(ctx, o)
			}
		}
	})
}

// startPluginWatch starts the plugin's real watch against env until the
// test ends.
func startPluginWatch(t *testing.T, env *testenv.Env, gatewayNamespace string) *kubeSource {
	t.Helper()
	source, err := newKubeSource(env.Config, gatewayNamespace, DefaultZone)
	if err != nil {
		t.Fatal(err)
	}
	if err := source.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = source.Stop() })
	return source
}

// ownersAgree checks that the plugin's watch sees every ExternalService the
// API server has, and that for each of dnsNames the plugin would hijack
// for the one the controller generates for.
func ownersAgree(ctx context.Context, c client.Client, source *kubeSource, dnsNames []string) error {
	var list egressv1.ExternalServiceList
	if err := c.List(ctx, &list); err != nil {
		return err
	}
	var fromPlugin []*egressv1.ExternalService
	for _, obj := range source.services.GetStore().List() {
		fromPlugin = append(fromPlugin, obj.(*egressv1.ExternalService))
	}
	if len(fromPlugin) != len(list.Items) {
		return fmt.Errorf("the plugin sees %d ExternalServices, the API server has %d", len(fromPlugin), len(list.Items))
	}
	pluginOwners := owners(fromPlugin, DefaultZone)
	for _, name := range dnsNames {
		want, err := controllerOwner(list.Items, name)
		if err != nil {
			return err
		}
		got := ""
		if o := pluginOwners[canonicalName(name)]; o != nil {
			got = o.Name
		}
		if got != want {
			return fmt.Errorf("%s: the controller generates for %q, the plugin would hijack for %q", name, want, got)
		}
	}
	return nil
}

// controllerOwner is the ExternalService the controller generates a gateway
// for, read from the conditions it wrote at the current generation: Accepted
// and not Conflicted. A claimant being deleted generates nothing. It returns
// "" when none does, and an error while the controller has not caught up.
func controllerOwner(items []egressv1.ExternalService, dnsName string) (string, error) {
	owner := ""
	for _, es := range items {
		if es.Spec.DnsName != dnsName || !es.DeletionTimestamp.IsZero() {
			continue
		}
		for _, typ := range []string{egressv1.ConditionAccepted, egressv1.ConditionConflicted} {
			c := meta.FindStatusCondition(es.Status.Conditions, typ)
			if c == nil || c.ObservedGeneration != es.Generation {
				return "", fmt.Errorf("%s has no %s condition for generation %d yet", es.Name, typ, es.Generation)
			}
		}
		generating := meta.IsStatusConditionTrue(es.Status.Conditions, egressv1.ConditionAccepted) &&
			meta.IsStatusConditionFalse(es.Status.Conditions, egressv1.ConditionConflicted)
		if !generating {
			continue
		}
		if owner != "" {
			return "", fmt.Errorf("the controller generates for both %s and %s", owner, es.Name)
		}
		owner = es.Name
	}
	return owner, nil
}

// waitUntilNextSecond returns once the API server's clock has passed the
// second name was created in (creation timestamps have one-second
// resolution), by creating throwaway ConfigMaps in namespace and reading
// their timestamps.
func waitUntilNextSecond(t *testing.T, c client.Client, namespace, name string) {
	t.Helper()
	ctx := t.Context()
	first := &egressv1.ExternalService{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, first); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the API server's clock passes the second "+name+" was created in", 5*time.Second, func() error {
		probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "clock-", Namespace: namespace}}
		if err := c.Create(ctx, probe); err != nil {
			return err
		}
		_ = c.Delete(ctx, probe)
		if !probe.CreationTimestamp.After(first.CreationTimestamp.Time) {
			return fmt.Errorf("the server's clock is still at %s", probe.CreationTimestamp.UTC().Format(time.RFC3339))
		}
		return nil
	})
}
