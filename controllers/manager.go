package controllers

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/kubescheme"
	"github.com/egressgate/egressgate/translate"
)

// CacheOptions keeps the cache to what the operator needs: all
// ExternalServices; in the gateway namespace only its own children, and the
// Deployments and Services Istio labels with a gateway name.
func CacheOptions(gatewayNamespace string) (cache.Options, error) {
	hasGatewayName, err := labels.NewRequirement(egressv1.LabelGatewayName, selection.Exists, nil)
	if err != nil {
		return cache.Options{}, err
	}
	istioMade := cache.ByObject{Label: labels.NewSelector().Add(*hasGatewayName)}
	return cache.Options{
		DefaultNamespaces: map[string]cache.Config{gatewayNamespace: {}},
		// Children are compared by their applied-hash annotation, so the
		// cache keeps little more of them (cachetransform.go).
		DefaultTransform:     transformForCache,
		DefaultLabelSelector: labels.SelectorFromSet(labels.Set{egressv1.LabelManagedBy: egressv1.ManagedByValue}),
		ByObject: map[client.Object]cache.ByObject{
			&egressv1.ExternalService{}: {Label: labels.Everything()},
			&appsv1.Deployment{}:        istioMade,
			&corev1.Service{}:           istioMade,
		},
	}, nil
}

// ManagerOptions are the process-level settings of the operator.
type ManagerOptions struct {
	MetricsAddr, ProbeAddr string
	// Concurrency is how many ExternalServices are reconciled at once.
	Concurrency int
	// PprofAddr serves net/http/pprof when not empty.
	PprofAddr               string
	LeaderElect             bool
	LeaderElectionNamespace string
	// SkipNameValidation lets a process run the controller more than once,
	// as tests that restart the operator do.
	SkipNameValidation bool
}

// NewManager builds a manager running the ExternalService controller, with
// metrics, health probes and optional leader election. The operator's main
// and the tests build it the same way.
func NewManager(cfg *rest.Config, opts translate.Options, mo ManagerOptions) (ctrl.Manager, error) {
	scheme, err := kubescheme.New()
	if err != nil {
		return nil, err
	}
	cacheOpts, err := CacheOptions(opts.GatewayNamespace)
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cacheOpts,
		Client:                  client.Options{Cache: &client.CacheOptions{EnableReadYourWritesConsistency: ptr.To(true)}},
		Metrics:                 metricsserver.Options{BindAddress: mo.MetricsAddr},
		HealthProbeBindAddress:  mo.ProbeAddr,
		PprofBindAddress:        mo.PprofAddr,
		LeaderElection:          mo.LeaderElect,
		LeaderElectionID:        "egress-operator.egress.monzo.com",
		LeaderElectionNamespace: mo.LeaderElectionNamespace,
		Controller:              config.Controller{SkipNameValidation: ptr.To(mo.SkipNameValidation)},
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	r := &Reconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Recorder:    mgr.GetEventRecorder(EventSource),
		Options:     opts,
		Concurrency: mo.Concurrency,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("informers", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return errors.New("informers not synced")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("add ready check: %w", err)
	}
	if err := metrics.Registry.Register(ConditionCollector{Reader: mgr.GetCache()}); err != nil {
		var already prometheus.AlreadyRegisteredError
		if !errors.As(err, &already) {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return mgr, nil
}
