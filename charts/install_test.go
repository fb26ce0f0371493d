package charts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/kubescheme"
	"github.com/egressgate/egressgate/internal/localcluster"
	"github.com/egressgate/egressgate/internal/testenv"
)

// How long the embedded cluster gets for each step.
const (
	programmedTimeout = 2 * time.Minute
	deletedTimeout    = time.Minute
	policyGoneTimeout = 20 * time.Second
)

// TestInstallUpgradeUninstall walks the README's install section on the
// embedded cluster (real API server, controller-manager, scheduler, kwok
// and istiod, without egressgate's CRD): helm install with the default
// values, the operator running as the Deployment says, a sample
// ExternalService becoming Programmed and DNS-hijacked, helm upgrade, and
// the documented uninstall order. Then the chart with every value set.
func TestInstallUpgradeUninstall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded cluster with istiod")
	}
	ctx := context.Background()
	cluster, err := localcluster.Start(ctx, localcluster.Options{Istio: true, WithoutOwnCRD: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })
	h := newHelm(t, cluster.Kubeconfig, Namespace)
	c := clusterClient(t, cluster)

	// helm install egressgate charts/egressgate -n egress-operator-system --create-namespace --wait
	h.install(loadChart(t), nil, true)
	operator := runAsDeployed(t, cluster)

	es := sampleExternalService(t, "github.yaml")
	if err := createOnceServed(ctx, c, es); err != nil {
		t.Fatalf("create the sample ExternalService: %v", err)
	}
	if !slices.Contains(es.Finalizers, egressv1.Finalizer) {
		t.Errorf("the chart's admission policy did not add the finalizer at creation: %v", es.Finalizers)
	}
	waitConditions(t, c, es.Name, egressv1.ConditionProgrammed, egressv1.ConditionDNSHijacked)

	upgradeChangesTheCRDAndTheOperator(t, h, c)

	// Uninstall, as the README says: ExternalServices first, while the
	// operator still runs, then the release.
	kept := sampleExternalService(t, "bank-sftp.yaml")
	deleteAndWait(t, c, es)
	if err := c.Create(ctx, kept); err != nil {
		t.Fatal(err)
	}
	h.uninstall()
	_ = operator.Stop()
	uninstallLeavesNothingStuck(t, c, kept)

	installWithEveryValue(t, cluster.Kubeconfig, c)
}

// upgradeChangesTheCRDAndTheOperator runs helm upgrade with a new
// appVersion and --concurrency: Helm upgrades the CRD (it is in
// templates/, not crds/) and the Deployment.
func upgradeChangesTheCRDAndTheOperator(t *testing.T, h *helm, c client.Client) {
	t.Helper()
	ch := loadChart(t)
	ch.Metadata.AppVersion = "0.2.0-upgrade"
	h.upgrade(ch, map[string]any{"image": map[string]any{"tag": "0.1.0"}, "operator": map[string]any{"flags": map[string]any{"concurrency": 4}}})
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "externalservices.egress.monzo.com"}, crd); err != nil {
		t.Fatal(err)
	}
	if v := crd.Labels["app.kubernetes.io/version"]; v != ch.Metadata.AppVersion {
		t.Errorf("helm upgrade left the CRD at version %q, want %q", v, ch.Metadata.AppVersion)
	}
	deploy := &appsv1.Deployment{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: Namespace, Name: "egress-operator"}, deploy); err != nil {
		t.Fatal(err)
	}
	if args := deploy.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--concurrency=4") {
		t.Errorf("helm upgrade did not reach the operator's args: %v", args)
	}
}

// uninstallLeavesNothingStuck: after helm uninstall the CRD and the
// ExternalServices left in place remain (keep policy), the release's own
// objects are gone, and an ExternalService created now gets no finalizer
// (the admission policy went with the release), so deleting it does not
// hang.
func uninstallLeavesNothingStuck(t *testing.T, c client.Client, kept *egressv1.ExternalService) {
	t.Helper()
	ctx := context.Background()
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(ctx, client.ObjectKey{Name: "externalservices.egress.monzo.com"}, crd); err != nil {
		t.Fatalf("helm uninstall deleted the CRD despite helm.sh/resource-policy: keep: %v", err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(kept), &egressv1.ExternalService{}); err != nil {
		t.Errorf("the ExternalService %s did not survive helm uninstall: %v", kept.Name, err)
	}
	for _, obj := range []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: "egress-operator"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "egress-operator"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "egressgate-coredns"}},
	} {
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); !apierrors.IsNotFound(err) {
			t.Errorf("%T %s is still there after helm uninstall (%v)", obj, obj.GetName(), err)
		}
	}
	after := &egressv1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Name: "after-uninstall"},
		Spec:       egressv1.ExternalServiceSpec{DnsName: "after.example.com", Ports: []egressv1.ExternalServicePort{{Port: 443}}},
	}
	// The API server's admission sees the policy's deletion from its own
	// informer, a moment after helm uninstall returns: dry-run creates
	// show when it has.
	testenv.Eventually(t, "a new ExternalService gets no finalizer", policyGoneTimeout, func() error {
		probe := after.DeepCopy()
		if err := c.Create(ctx, probe, client.DryRunAll); err != nil {
			return err
		}
		if len(probe.Finalizers) != 0 {
			return fmt.Errorf("the admission policy still adds %v", probe.Finalizers)
		}
		return nil
	})
	if err := c.Create(ctx, after); err != nil {
		t.Fatal(err)
	}
	deleteAndWait(t, c, after)
}

// installWithEveryValue installs testdata/all-values.yaml over the kept
// CRD: the ServiceMonitor (its CRD generated from the prometheus-operator's
// Go types), the default-deny policies and the rest apply server-side.
func installWithEveryValue(t *testing.T, kubeconfig string, c client.Client) {
	t.Helper()
	ctx := context.Background()
	if err := testenv.CreateFromFile(ctx, c, filepath.Join("testdata", "crds", "monitoring.coreos.com_servicemonitors.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"egress-gateways", "dns-system", "team-a", "team-b"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, "the ServiceMonitor CRD is served", 30*time.Second, func() error {
		return checkServed(c)
	})
	// A new Helm, as a new helm command would be: its discovery must see
	// the ServiceMonitor kind.
	rel := newHelm(t, kubeconfig, Namespace).install(loadChart(t), readValues(t, "all-values.yaml"), false)
	objs, err := decodeAll(rel.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		got := o.DeepCopy()
		if err := c.Get(ctx, client.ObjectKeyFromObject(o), got); err != nil {
			t.Errorf("%s from the chart with every value set is not in the cluster: %v", key(o), err)
		}
	}
	if len(objsOfKind(objs, "ServiceMonitor")) != 1 || len(objsOfKind(objs, "NetworkPolicy")) != 2 {
		t.Errorf("every value set: want one ServiceMonitor and two NetworkPolicies, the release has %d and %d",
			len(objsOfKind(objs, "ServiceMonitor")), len(objsOfKind(objs, "NetworkPolicy")))
	}
}

// clusterClient is a cluster-admin client that also knows CRDs.
// createOnceServed creates obj, retrying while its kind is not served in
// full yet: discovery may not list a new CRD's kind at once, and the
// mutating admission policy that adds the finalizer answers 503 ("There
// can be a delay between when CustomResourceDefinitions are created and
// when they are available") until the API server has read the CRD's
// OpenAPI schema, which it polls every 5 s.
func createOnceServed(ctx context.Context, c client.Client, obj client.Object) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := c.Create(ctx, obj)
		if !(meta.IsNoMatchError(err) || apierrors.IsServiceUnavailable(err)) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func clusterClient(t *testing.T, cluster *localcluster.Cluster) client.Client {
	t.Helper()
	scheme, err := kubescheme.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkServed(c client.Client) error {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "servicemonitors.monitoring.coreos.com"}, crd); err != nil {
		return err
	}
	for _, cond := range crd.Status.Conditions {
		if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("not established yet")
}

// sampleExternalService reads one of samples/.
func sampleExternalService(t *testing.T, file string) *egressv1.ExternalService {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(string(data))
	if err != nil || len(objs) != 1 {
		t.Fatalf("samples/%s: %d objects, %v", file, len(objs), err)
	}
	es := &egressv1.ExternalService{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, es); err != nil {
		t.Fatal(err)
	}
	return es
}

// waitConditions waits until the ExternalService has each condition True
// for its current generation.
func waitConditions(t *testing.T, c client.Client, name string, types ...string) {
	t.Helper()
	testenv.Eventually(t, name+" is "+fmt.Sprint(types), programmedTimeout, func() error {
		es := &egressv1.ExternalService{}
		if err := c.Get(context.Background(), client.ObjectKey{Name: name}, es); err != nil {
			return err
		}
		for _, typ := range types {
			cond := findCondition(es.Status.Conditions, typ)
			if cond == nil || cond.Status != metav1.ConditionTrue || cond.ObservedGeneration != es.Generation {
				return fmt.Errorf("%s: %+v", typ, cond)
			}
		}
		return nil
	})
}

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// deleteAndWait deletes es and waits until it is gone: its finalizer, if
// any, was removed.
func deleteAndWait(t *testing.T, c client.Client, es *egressv1.ExternalService) {
	t.Helper()
	if err := c.Delete(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "ExternalService "+es.Name+" is deleted", deletedTimeout, func() error {
		err := c.Get(context.Background(), client.ObjectKeyFromObject(es), &egressv1.ExternalService{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
}
