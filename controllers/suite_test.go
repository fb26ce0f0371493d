package controllers_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/controllers"
	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/testenv"
	"github.com/egressgate/egressgate/translate"
)

const gatewayNS = egressv1.DefaultGatewayNamespace

// reconcileTimeout bounds each wait for the operator on the real API server.
const reconcileTimeout = 30 * time.Second

// env is one API server shared by the tests of this package, with every
// CRD installed and the operator running against it.
var (
	env        *testenv.Env
	k8s        client.Client
	stopOp     context.CancelFunc
	operatorOp = translate.DefaultOptions()
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	paths, err := crdpaths.All()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env, err = testenv.Start(paths)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	k8s = env.Client
	if err := env.CreateNamespace(context.Background(), gatewayNS); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	stopOp, err = startOperator(env.Config, operatorOp)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { stopOp() }()
	return m.Run()
}

// startOperator runs the operator's manager against cfg until the returned
// function is called; that function waits for it to stop.
func startOperator(cfg *rest.Config, opts translate.Options) (context.CancelFunc, error) {
	mgr, err := controllers.NewManager(cfg, opts, controllers.ManagerOptions{
		MetricsAddr: "0", ProbeAddr: "0", SkipNameValidation: true,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "operator stopped with:", err)
		}
	}, nil
}

// eventually polls check until it returns nil or the timeout passes.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	testenv.Eventually(t, what, reconcileTimeout, check)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func externalService(name, dnsName string, ports ...egressv1.ExternalServicePort) *egressv1.ExternalService {
	return &egressv1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       egressv1.ExternalServiceSpec{DnsName: dnsName, Ports: ports},
	}
}

func port(n int32, p egressv1.Protocol) egressv1.ExternalServicePort {
	return egressv1.ExternalServicePort{Port: n, Protocol: &p}
}

// create creates es and removes it (and waits for it to go) after the test.
func create(t *testing.T, es *egressv1.ExternalService) {
	t.Helper()
	ctx := ctxT(t)
	if err := k8s.Create(ctx, es); err != nil {
		t.Fatalf("create ExternalService %s: %v", es.Name, err)
	}
	t.Cleanup(func() { deleteAndWait(t, es.Name) })
}

func deleteAndWait(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	es := &egressv1.ExternalService{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Delete(ctx, es); client.IgnoreNotFound(err) != nil {
		t.Errorf("delete ExternalService %s: %v", name, err)
	}
	// The API server has no garbage collector here: play istiod's part
	// and remove the gateway Deployments and pods a test made.
	_ = k8s.DeleteAllOf(ctx, &appsv1.Deployment{}, client.InNamespace(gatewayNS), client.MatchingLabels{egressv1.LabelGatewayName: name})
	_ = k8s.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(gatewayNS), client.MatchingLabels{egressv1.LabelGatewayName: name}, client.GracePeriodSeconds(0))
	eventually(t, "ExternalService "+name+" is gone", func() error {
		err := k8s.Get(ctx, types.NamespacedName{Name: name}, &egressv1.ExternalService{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (err %v)", err)
	})
}

func get(ctx context.Context, name string) (*egressv1.ExternalService, error) {
	es := &egressv1.ExternalService{}
	return es, k8s.Get(ctx, types.NamespacedName{Name: name}, es)
}

// waitCondition waits until es has the condition with the status (and
// reason, when not empty) for its current generation.
func waitCondition(t *testing.T, name, typ string, status metav1.ConditionStatus, reason string) *egressv1.ExternalService {
	t.Helper()
	var es *egressv1.ExternalService
	eventually(t, fmt.Sprintf("%s has %s=%s %s", name, typ, status, reason), func() error {
		var err error
		if es, err = get(context.Background(), name); err != nil {
			return err
		}
		c := meta.FindStatusCondition(es.Status.Conditions, typ)
		if c == nil {
			return fmt.Errorf("no %s condition yet", typ)
		}
		if c.Status != status || (reason != "" && c.Reason != reason) || c.ObservedGeneration != es.Generation {
			return fmt.Errorf("%s=%s reason %s gen %d/%d: %s", typ, c.Status, c.Reason, c.ObservedGeneration, es.Generation, c.Message)
		}
		return nil
	})
	return es
}

// exists reports whether obj (name in the gateway namespace) exists.
func exists(ctx context.Context, name string, obj client.Object) (bool, error) {
	err := k8s.Get(ctx, types.NamespacedName{Namespace: gatewayNS, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// childNames lists, per kind, the children labelled for es.
func childNames(ctx context.Context, esName string) (map[string][]string, error) {
	out := map[string][]string{}
	for kind, list := range childLists() {
		if err := k8s.List(ctx, list, client.InNamespace(gatewayNS), client.MatchingLabels{egressv1.LabelExternalService: esName}); err != nil {
			return nil, err
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			out[kind] = append(out[kind], it.(client.Object).GetName())
		}
		slices.Sort(out[kind])
	}
	return out, nil
}

type (
	istioServiceEntry    = istionetworking.ServiceEntry
	istioDestinationRule = istionetworking.DestinationRule
)

func clientKey(name string) types.NamespacedName { return types.NamespacedName{Name: name} }

func nsKey(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: gatewayNS, Name: name}
}
