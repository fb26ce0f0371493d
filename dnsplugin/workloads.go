package dnsplugin

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// Observe mode tells which workload sent a query from the pods of the whole
// cluster (trimmed to what attribution needs) and the metadata of
// ReplicaSets and Jobs, whose owners are the Deployments and CronJobs.

// podIPIndex indexes pods by every IP in status.podIPs.
const podIPIndex = "ip"

var (
	replicaSetsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	jobsGVR        = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
)

// workloadSource resolves a source IP to the workload of the pod that has
// it. It is started by the first block that observes and stopped by the
// last (see observer.go).
type workloadSource struct {
	pods, replicaSets, jobs cache.SharedIndexInformer
	memo                    sourceMemo

	cancel  context.CancelFunc
	running sync.WaitGroup
}

func newWorkloadSource(base *rest.Config) (*workloadSource, error) {
	cfg := rest.CopyConfig(base)
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create client for pods: %w", err)
	}
	lw := cache.NewFilteredListWatchFromClient(cs.CoreV1().RESTClient(), "pods", metav1.NamespaceAll, func(*metav1.ListOptions) {})
	pods := cache.NewSharedIndexInformerWithOptions(lw, &corev1.Pod{}, cache.SharedIndexInformerOptions{
		ObjectDescription: "pods (observe)",
		Indexers:          cache.Indexers{podIPIndex: indexPodIPs},
	})
	if err := pods.SetTransform(trimObservedPod); err != nil {
		return nil, fmt.Errorf("set transform: %w", err)
	}
	mc, err := metadata.NewForConfig(base)
	if err != nil {
		return nil, fmt.Errorf("create metadata client: %w", err)
	}
	w := &workloadSource{pods: pods}
	for _, m := range []struct {
		gvr schema.GroupVersionResource
		inf *cache.SharedIndexInformer
	}{{replicaSetsGVR, &w.replicaSets}, {jobsGVR, &w.jobs}} {
		inf := metadatainformer.NewFilteredMetadataInformer(mc, m.gvr, metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
		if err := inf.SetTransform(trimOwnerMetadata); err != nil {
			return nil, fmt.Errorf("set transform: %w", err)
		}
		*m.inf = inf
	}
	if _, err := w.pods.AddEventHandler(w.memo.podHandler()); err != nil {
		return nil, fmt.Errorf("add pod handler: %w", err)
	}
	for _, inf := range []cache.SharedIndexInformer{w.replicaSets, w.jobs} {
		if _, err := inf.AddEventHandler(w.memo.ownerHandler()); err != nil {
			return nil, fmt.Errorf("add owner handler: %w", err)
		}
	}
	for what, inf := range map[string]cache.SharedIndexInformer{"pods": w.pods, "replicasets": w.replicaSets, "jobs": w.jobs} {
		if err := inf.SetWatchErrorHandlerWithContext(watchErrorHandler(what + " (observe)")); err != nil {
			return nil, fmt.Errorf("set watch error handler: %w", err)
		}
	}
	return w, nil
}

// observedPod is what the pod cache keeps of a pod: its name, namespace and
// resource version and controller reference in ObjectMeta; whether it runs
// in the host network; the IPs of a pod that has not finished; and the
// names its client labels allow (no other label is kept). A
// corev1.Pod, even emptied, is 1.2 KiB; this is a quarter of that.
type observedPod struct {
	metav1.ObjectMeta
	hostNetwork bool
	ips         []netip.Addr
	// allowed lists, sorted, the ExternalServices whose client label
	// (egress.monzo.com/allowed-<name>: "true") the pod carries.
	allowed []string
}

// GetObjectKind implements runtime.Object.
func (p *observedPod) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject implements runtime.Object.
func (p *observedPod) DeepCopyObject() runtime.Object {
	out := &observedPod{hostNetwork: p.hostNetwork, ips: slices.Clone(p.ips), allowed: slices.Clone(p.allowed)}
	p.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	return out
}

// trimObservedPod turns a pod into an observedPod.
func trimObservedPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	var allowed []string
	for k, v := range p.Labels {
		if name, ok := strings.CutPrefix(k, allowedLabelPrefix); ok && v == "true" {
			allowed = append(allowed, name)
		}
	}
	slices.Sort(allowed)
	return &observedPod{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, ResourceVersion: p.ResourceVersion,
			OwnerReferences: controllerRefOnly(p.OwnerReferences),
		},
		hostNetwork: p.Spec.HostNetwork,
		ips:         podIPs(p),
		allowed:     allowed,
	}, nil
}

// trimOwnerMetadata keeps a ReplicaSet's or Job's name, namespace and
// controller reference.
func trimOwnerMetadata(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	return &metav1.PartialObjectMetadata{
		TypeMeta: m.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: m.Name, Namespace: m.Namespace, ResourceVersion: m.ResourceVersion,
			OwnerReferences: controllerRefOnly(m.OwnerReferences),
		},
	}, nil
}

// controllerRefOnly keeps the controller reference, the only one
// attribution follows, without its UID and flags.
func controllerRefOnly(refs []metav1.OwnerReference) []metav1.OwnerReference {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return []metav1.OwnerReference{{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, Controller: r.Controller}}
		}
	}
	return nil
}

// allowedLabelPrefix is egressv1.AllowedLabel("").
var allowedLabelPrefix = egressv1.AllowedLabel("")

func indexPodIPs(obj any) ([]string, error) {
	p, ok := obj.(*observedPod)
	if !ok {
		return nil, nil
	}
	out := make([]string, len(p.ips))
	for i, ip := range p.ips {
		out[i] = ip.String()
	}
	return out, nil
}

// Start runs the informers; it does not wait for them, since attribution
// is best effort: a source not yet known is recorded as Unknown.
func (w *workloadSource) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	for _, inf := range []cache.SharedIndexInformer{w.pods, w.replicaSets, w.jobs} {
		w.running.Add(1)
		go func() { defer w.running.Done(); inf.RunWithContext(ctx) }()
	}
}

// Stop ends the informers and waits a bounded time for them.
func (w *workloadSource) Stop() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	waitBounded(&w.running, stopTimeout)
}

// HasSynced reports whether the three informers have listed once.
func (w *workloadSource) HasSynced() bool {
	return w.pods.HasSynced() && w.replicaSets.HasSynced() && w.jobs.HasSynced()
}

// source is who sent a query: its workload and, for a pod, the
// ExternalServices whose client label it carries. Sources are shared
// (memoised per IP) and never changed once made.
type source struct {
	workload   workload
	allowedFor []string
	pod        bool
	// key is workload's hash, computed once rather than per query.
	key workloadKey
}

func newSource(w workload, allowedFor []string, pod bool) *source {
	return &source{workload: w, allowedFor: allowedFor, pod: pod, key: w.key()}
}

// resolve attributes the source IP ip. A pod running with that IP gives its
// workload; an IP only hostNetwork pods have is a node's; anything else
// (NodeLocal DNSCache, a node without hostNetwork pods, a pod not yet seen)
// is Unknown.
func (w *workloadSource) resolve(ip netip.Addr) *source {
	if w == nil || !ip.IsValid() {
		return unknownSource(ip)
	}
	if s, ok := w.memo.get(ip); ok {
		return s
	}
	gen := w.memo.gen.Load()
	s := w.lookUp(ip)
	w.memo.put(ip, s, gen)
	return s
}

// lookUp is resolve without the memo.
func (w *workloadSource) lookUp(ip netip.Addr) *source {
	objs, _ := w.pods.GetIndexer().ByIndex(podIPIndex, ip.String())
	node := false
	for _, obj := range objs {
		p, ok := obj.(*observedPod)
		if !ok {
			continue
		}
		if p.hostNetwork {
			node = true
			continue
		}
		return newSource(w.owner(p), p.allowed, true)
	}
	if node {
		return newSource(workload{Kind: kindNode, Name: ip.String()}, nil, false)
	}
	return unknownSource(ip)
}

// unknownSource is a source no pod has.
func unknownSource(ip netip.Addr) *source {
	name := "-"
	if ip.IsValid() {
		name = ip.String()
	}
	return newSource(workload{Kind: kindUnknown, Name: name}, nil, false)
}

// owner follows the pod's controller: ReplicaSet → Deployment, Job →
// CronJob, StatefulSet, DaemonSet (or any other controller) as they are, a
// pod without one is its own workload. An owner not seen yet stops the walk
// where it is.
func (w *workloadSource) owner(p *observedPod) workload {
	ref := metav1.GetControllerOfNoCopy(p)
	if ref == nil {
		return workload{Namespace: p.Namespace, Kind: "Pod", Name: p.Name}
	}
	out := workload{Namespace: p.Namespace, Kind: ref.Kind, Name: ref.Name}
	var parent cache.SharedIndexInformer
	switch {
	case ref.Kind == "ReplicaSet" && strings.HasPrefix(ref.APIVersion, "apps/"):
		parent = w.replicaSets
	case ref.Kind == "Job" && strings.HasPrefix(ref.APIVersion, "batch/"):
		parent = w.jobs
	default:
		return out
	}
	obj, ok, _ := parent.GetIndexer().GetByKey(p.Namespace + "/" + ref.Name)
	if !ok {
		return out
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return out
	}
	if up := metav1.GetControllerOfNoCopy(m); up != nil {
		return workload{Namespace: p.Namespace, Kind: up.Kind, Name: up.Name}
	}
	return out
}
