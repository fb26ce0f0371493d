package dnsplugin

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// A would-be-refused lookup: a pod without the client label
// egress.monzo.com/allowed-<name> looked up a name that ExternalService
// <name> hijacks. DNS sends it to the gateway, whose NetworkPolicy will
// refuse its connections. Observe mode counts every such lookup, and at most
// once per event interval per (ExternalService, workload) logs it and
// records a Warning Event on the ExternalService.
//
// The Event lives in namespace default (the ExternalService is cluster
// scoped, and that is where Kubernetes puts Events of cluster-scoped
// objects) under a name derived from (ExternalService, workload) alone, so
// every CoreDNS replica writes the same Event: the first creates it, the
// others find it and raise its count, unless it was already raised within
// the interval. Replicas thus converge on one Event whose count is the
// number of intervals in which the workload was seen, not the number of
// replicas.

// EventReasonWouldBeRefused is the reason of those Events.
const EventReasonWouldBeRefused = "WouldBeRefused"

// eventNamespace holds the Events of cluster-scoped ExternalServices.
const eventNamespace = metav1.NamespaceDefault

// maxRefusalKeys bounds the rate limiter's memory: pairs seen within the
// interval beyond this many are counted but not logged or reported.
const maxRefusalKeys = 10000

var externalServicesGVR = egressv1.GroupVersion.WithResource("externalservices")

type refusalKey struct {
	service  string
	workload workload
}

type refusal struct {
	refusalKey
	name string
	at   time.Time
}

type refusalReporter struct {
	events   typedcorev1.EventsGetter
	meta     metadata.Interface
	interval time.Duration
	host     string

	mu    sync.Mutex
	last  map[refusalKey]time.Time
	queue chan refusal

	cancel  context.CancelFunc
	running sync.WaitGroup
}

func newRefusalReporter(rc *rest.Config, interval time.Duration) (*refusalReporter, error) {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("create client for events: %w", err)
	}
	mc, err := metadata.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("create metadata client: %w", err)
	}
	host, _ := os.Hostname()
	return &refusalReporter{
		events: cs.CoreV1(), meta: mc, interval: interval, host: host,
		last: map[refusalKey]time.Time{}, queue: make(chan refusal, 100),
	}, nil
}

// Start runs the goroutine that writes Events, so a query never waits for
// the API server.
func (r *refusalReporter) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.running.Add(1)
	go func() {
		defer r.running.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case ref := <-r.queue:
				if err := r.emit(ctx, ref); err != nil && ctx.Err() == nil {
					log.Warningf("recording the %s Event on ExternalService %s: %v", EventReasonWouldBeRefused, ref.service, err)
				}
			}
		}
	}()
}

// Stop ends the Event writer; Events still queued are dropped.
func (r *refusalReporter) Stop() {
	if r.cancel != nil {
		r.cancel()
		waitBounded(&r.running, stopTimeout)
	}
}

// report counts one would-be-refused lookup and, at most once per interval
// per (service, workload), logs it and queues its Event.
func (r *refusalReporter) report(service, name string, w workload) {
	wouldBeRefused.WithLabelValues(service, w.Namespace).Inc()
	now := time.Now()
	k := refusalKey{service: service, workload: w}
	r.mu.Lock()
	if t, ok := r.last[k]; ok && now.Sub(t) < r.interval {
		r.mu.Unlock()
		return
	}
	if len(r.last) >= maxRefusalKeys {
		for old, t := range r.last {
			if now.Sub(t) >= r.interval {
				delete(r.last, old)
			}
		}
	}
	full := len(r.last) >= maxRefusalKeys
	if !full {
		r.last[k] = now
	}
	r.mu.Unlock()
	if full {
		return
	}
	log.Warningf("%s looked up %s, which ExternalService %s hijacks, without the label %s=true: its gateway will refuse the connection",
		w, name, service, egressv1.AllowedLabel(service))
	select {
	case r.queue <- refusal{refusalKey: k, name: name, at: now}:
	default: // the API server is slow or gone; the log line and the metric remain
	}
}

// String is "Deployment team/web", "Node 10.0.0.1".
func (w workload) String() string {
	if w.Namespace == "" {
		return w.Kind + " " + w.Name
	}
	return w.Kind + " " + w.Namespace + "/" + w.Name
}

// refusalEventName is the same on every replica for one (service, workload).
func refusalEventName(k refusalKey) string {
	sum := sha256.Sum256([]byte(k.service + "\x00" + k.workload.Namespace + "\x00" + k.workload.Kind + "\x00" + k.workload.Name))
	prefix := k.service
	if len(prefix) > 200 {
		prefix = strings.TrimRight(prefix[:200], ".-")
	}
	return fmt.Sprintf("%s.wouldberefused.%x", prefix, sum[:8])
}

// emit creates the Event of ref, or raises its count when another replica
// (or this one, an interval ago) created it.
func (r *refusalReporter) emit(ctx context.Context, ref refusal) error {
	name := refusalEventName(ref.refusalKey)
	msg := fmt.Sprintf("%s looked up %s without the label %s=true: the gateway will refuse its connections; add the label to its pod template",
		ref.workload, ref.name, egressv1.AllowedLabel(ref.service))
	events := r.events.Events(eventNamespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ev, err := events.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = events.Create(ctx, r.newEvent(ctx, name, msg, ref), metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(schema.GroupResource{Resource: "events"}, name, err) // another replica: retry as an update
			}
			return err
		}
		if err != nil {
			return err
		}
		if ref.at.Sub(ev.LastTimestamp.Time) < r.interval {
			return nil // reported within the interval, by this replica or another
		}
		patch, err := json.Marshal(map[string]any{
			"metadata":      map[string]any{"resourceVersion": ev.ResourceVersion}, // fails with a conflict if it changed
			"count":         ev.Count + 1,
			"lastTimestamp": metav1.NewTime(ref.at),
			"message":       msg,
		})
		if err != nil {
			return err
		}
		_, err = events.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
		return err
	})
}

func (r *refusalReporter) newEvent(ctx context.Context, name, msg string, ref refusal) *corev1.Event {
	involved := corev1.ObjectReference{APIVersion: egressv1.GroupVersion.String(), Kind: "ExternalService", Name: ref.service}
	if m, err := r.meta.Resource(externalServicesGVR).Get(ctx, ref.service, metav1.GetOptions{}); err == nil {
		involved.UID = m.UID
		involved.ResourceVersion = m.ResourceVersion
	}
	at := metav1.NewTime(ref.at)
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: eventNamespace},
		InvolvedObject: involved,
		Reason:         EventReasonWouldBeRefused,
		Message:        msg,
		Type:           corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "coredns-" + pluginName, Host: r.host},
		FirstTimestamp: at,
		LastTimestamp:  at,
		Count:          1,
	}
}
