package dnsplugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// startupTimeout bounds how long OnStartup waits for the first sync before
// CoreDNS serves anyway (and ready reports the plugin not ready).
const startupTimeout = 5 * time.Second

// stopTimeout bounds how long Stop waits for the informers to wind down.
// While the API server is unreachable an informer can sit in a backoff that
// ignores cancellation (up to 30 s); shutdown and reload must not wait for it.
const stopTimeout = time.Second

// kubeSource watches ExternalServices and gateway pods and keeps a Table
// built from them. Informer events only signal a change; one goroutine
// rebuilds the whole table from the informers' stores, so a burst of events
// (the initial list, a mass update) costs a few rebuilds, not one per event.
type kubeSource struct {
	services cache.SharedIndexInformer
	pods     cache.SharedIndexInformer
	zone     string
	timeout  time.Duration

	table   atomic.Pointer[Table]
	synced  atomic.Bool
	changed chan struct{}

	// snapshotPath, when set, is where every complete table is kept and
	// where Start looks for one (see snapshot.go). fromSnapshot is set
	// while the table in place came from that file; lastSnapshot is the
	// content last written.
	snapshotPath string
	fromSnapshot atomic.Bool
	lastSnapshot []byte

	cancel   context.CancelFunc
	running  sync.WaitGroup
	stopOnce sync.Once
}

// newKubeSource prepares (but does not start) the watches: ExternalServices
// cluster-wide, and the pods of namespace that carry the gateway-name label.
// zone is the cluster domain as a lowercase FQDN.
func newKubeSource(cfg *rest.Config, namespace, zone string) (*kubeSource, error) {
	services, err := externalServiceInformer(cfg)
	if err != nil {
		return nil, err
	}
	pods, err := gatewayPodInformer(cfg, namespace)
	if err != nil {
		return nil, err
	}
	s := &kubeSource{
		services: services,
		pods:     pods,
		zone:     zone,
		timeout:  startupTimeout,
		changed:  make(chan struct{}, 1),
	}
	if err := services.SetWatchErrorHandlerWithContext(watchErrorHandler("ExternalServices")); err != nil {
		return nil, fmt.Errorf("set watch error handler: %w", err)
	}
	if err := pods.SetWatchErrorHandlerWithContext(watchErrorHandler("gateway pods")); err != nil {
		return nil, fmt.Errorf("set watch error handler: %w", err)
	}
	signal := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.notify() },
		UpdateFunc: func(any, any) { s.notify() },
		DeleteFunc: func(any) { s.notify() },
	}
	for _, inf := range []cache.SharedIndexInformer{services, pods} {
		if _, err := inf.AddEventHandler(signal); err != nil {
			return nil, fmt.Errorf("register event handler: %w", err)
		}
	}
	return s, nil
}

// externalServiceInformer lists and watches ExternalServices with a plain
// client-go REST client decoding straight into the typed objects, and
// trims each object to the fields the table needs.
func externalServiceInformer(base *rest.Config) (cache.SharedIndexInformer, error) {
	scheme := runtime.NewScheme()
	if err := egressv1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("build scheme for %s: %w", egressv1.GroupVersion, err)
	}
	cfg := rest.CopyConfig(base)
	cfg.GroupVersion = &egressv1.GroupVersion
	cfg.APIPath = "/apis"
	cfg.ContentType = runtime.ContentTypeJSON
	cfg.AcceptContentTypes = runtime.ContentTypeJSON
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	client, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("create client for externalservices.%s: %w", egressv1.GroupVersion.Group, err)
	}
	lw := cache.NewFilteredListWatchFromClient(client, "externalservices", metav1.NamespaceAll, func(*metav1.ListOptions) {})
	inf := cache.NewSharedIndexInformerWithOptions(lw, &egressv1.ExternalService{}, cache.SharedIndexInformerOptions{
		ObjectDescription: "externalservices." + egressv1.GroupVersion.Group,
	})
	if err := inf.SetTransform(trimExternalService); err != nil {
		return nil, fmt.Errorf("set transform: %w", err)
	}
	return inf, nil
}

// gatewayPodInformer lists and watches the pods of namespace that carry the
// gateway-name label, keeping only their IPs and phase.
func gatewayPodInformer(base *rest.Config, namespace string) (cache.SharedIndexInformer, error) {
	cfg := rest.CopyConfig(base)
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create client for pods: %w", err)
	}
	lw := cache.NewFilteredListWatchFromClient(cs.CoreV1().RESTClient(), "pods", namespace, func(o *metav1.ListOptions) {
		o.LabelSelector = egressv1.LabelGatewayName // the label exists
	})
	inf := cache.NewSharedIndexInformerWithOptions(lw, &corev1.Pod{}, cache.SharedIndexInformerOptions{
		ObjectDescription: "gateway pods in " + namespace,
	})
	if err := inf.SetTransform(trimPod); err != nil {
		return nil, fmt.Errorf("set transform: %w", err)
	}
	return inf, nil
}

// trimExternalService keeps what buildTable reads: name, creation and
// deletion time (which decide the owner of a dnsName), dnsName, the DNSHijacked condition's status and the addresses. With
// 10,000 ExternalServices this is the difference between a few MiB and
// tens of MiB.
func trimExternalService(obj any) (any, error) {
	es, ok := obj.(*egressv1.ExternalService)
	if !ok {
		return obj, nil
	}
	out := &egressv1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{
			Name:              es.Name,
			ResourceVersion:   es.ResourceVersion,
			CreationTimestamp: es.CreationTimestamp,
			DeletionTimestamp: es.DeletionTimestamp, // see ExternalService.ClaimsDNSName
		},
		Spec:   egressv1.ExternalServiceSpec{DnsName: es.Spec.DnsName},
		Status: egressv1.ExternalServiceStatus{Addresses: es.Status.Addresses},
	}
	if c := meta.FindStatusCondition(es.Status.Conditions, egressv1.ConditionDNSHijacked); c != nil {
		out.Status.Conditions = []metav1.Condition{{Type: egressv1.ConditionDNSHijacked, Status: c.Status}}
	}
	return out, nil
}

// trimPod keeps a pod's name, namespace, phase and IPs.
func trimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, ResourceVersion: p.ResourceVersion},
		Status:     corev1.PodStatus{Phase: p.Status.Phase, PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs},
	}, nil
}

// watchErrorHandler logs, in CoreDNS's format, that a list or watch failed.
// The informer retries with backoff by itself and its store, and so the
// table, stay as they were.
func watchErrorHandler(what string) cache.WatchErrorHandlerWithContext {
	return func(ctx context.Context, _ *cache.Reflector, err error) {
		if ctx.Err() != nil {
			return // the plugin is stopping
		}
		if err == io.EOF { //nolint:errorlint // only the bare EOF of a watch the server ended
			return // the watch is reopened
		}
		log.Warningf("watching %s: %v; still answering from the last table", what, err)
	}
}

// notify marks the table stale without blocking the informer.
func (s *kubeSource) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Start loads the snapshot, if there is one, runs the informers and the
// table builder, then waits up to the startup timeout for the first sync. It
// never fails. With the API server unreachable, CoreDNS serves the snapshot
// (and is ready) or, without one, passes every name through and is not
// ready until the sync happens.
func (s *kubeSource) Start() error {
	s.loadSnapshot()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.running.Add(3)
	go func() { defer s.running.Done(); s.services.RunWithContext(ctx) }()
	go func() { defer s.running.Done(); s.pods.RunWithContext(ctx) }()
	go func() { defer s.running.Done(); s.build(ctx) }()

	deadline := time.NewTimer(s.timeout)
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for !s.synced.Load() {
		select {
		case <-poll.C:
		case <-deadline.C:
			if s.fromSnapshot.Load() {
				log.Warningf("no complete list of ExternalServices and gateway pods after %s: serving the snapshot until there is one", s.timeout)
				return nil
			}
			log.Warningf("no complete list of ExternalServices and gateway pods after %s: serving without it, not ready", s.timeout)
			return nil
		}
	}
	return nil
}

// Stop ends the watches and waits a bounded time for their goroutines. The
// last table stays in place; CoreDNS calls Stop on shutdown and reload.
func (s *kubeSource) Stop() error {
	s.stopOnce.Do(func() {
		if s.cancel == nil {
			return // never started
		}
		s.cancel()
		done := make(chan struct{})
		go func() { s.running.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(stopTimeout):
			log.Debugf("watches still winding down after %s; not waiting for them", stopTimeout)
		}
	})
	return nil
}

// HasSynced reports whether a table built from complete lists is in place:
// one built from the watches, or the snapshot of one.
func (s *kubeSource) HasSynced() bool { return s.synced.Load() || s.fromSnapshot.Load() }

// loadSnapshot puts the snapshot's table in place, if the file exists and
// reads; anything else is logged and CoreDNS starts without it.
func (s *kubeSource) loadSnapshot() {
	if s.snapshotPath == "" {
		return
	}
	t, written, err := readSnapshot(s.snapshotPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		log.Infof("no snapshot at %s yet", s.snapshotPath)
		return
	case err != nil:
		log.Warningf("ignoring the snapshot: %v", err)
		return
	}
	s.table.Store(t)
	s.fromSnapshot.Store(true)
	log.Infof("loaded the snapshot of %s: %d hijacked names, %d gateway pod IPs; the watches replace it once synced", written.Format(time.RFC3339), t.Len(), len(t.gateways))
}

// saveSnapshot keeps t, a table built from complete lists, in the snapshot
// file when it differs from the one last written.
func (s *kubeSource) saveSnapshot(t *Table) {
	if s.snapshotPath == "" {
		return
	}
	b, err := encodeSnapshot(t)
	if err != nil {
		log.Warningf("encoding the snapshot: %v", err)
		return
	}
	if bytes.Equal(b, s.lastSnapshot) {
		return
	}
	if err := writeSnapshot(s.snapshotPath, b); err != nil {
		log.Warningf("%v; a restart during an API server outage will pass hijacked names through", err)
		return
	}
	s.lastSnapshot = b
}

// Table returns the current snapshot.
func (s *kubeSource) Table() *Table { return s.table.Load() }

// build rebuilds the table on every signalled change until ctx ends. Until
// the informers have synced it also checks them periodically, because an
// empty cluster produces no event to signal the sync.
func (s *kubeSource) build(ctx context.Context) {
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	poll := ticker.C
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.changed:
		case <-poll:
			if !s.informersSynced() {
				continue
			}
		}
		// Read the sync state before the stores: a table built from
		// stores that were complete at this moment is complete.
		complete := s.informersSynced()
		if !complete && s.fromSnapshot.Load() {
			continue // a partial list must not replace the snapshot
		}
		s.rebuild()
		if complete {
			s.fromSnapshot.Store(false)
			s.saveSnapshot(s.table.Load())
		}
		if complete && !s.synced.Swap(true) {
			poll = nil // synced: only changes matter from now on
			t := s.table.Load()
			log.Infof("synced: %d hijacked names, %d gateway pod IPs", t.Len(), len(t.gateways))
		}
	}
}

func (s *kubeSource) informersSynced() bool {
	return s.services.HasSynced() && s.pods.HasSynced()
}

// rebuild computes a new table from the informers' stores and swaps it in.
func (s *kubeSource) rebuild() {
	var services []*egressv1.ExternalService
	for _, obj := range s.services.GetStore().List() {
		if es, ok := obj.(*egressv1.ExternalService); ok {
			services = append(services, es)
		}
	}
	var pods []*corev1.Pod
	for _, obj := range s.pods.GetStore().List() {
		if p, ok := obj.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	t := buildTable(services, pods, s.zone)
	s.table.Store(t)
	hijackedNames.Set(float64(t.Len()))
	gatewayIPs.Set(float64(len(t.gateways)))
	lastSync.SetToCurrentTime()
}
