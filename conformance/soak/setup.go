package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/kubescheme"
	"github.com/egressgate/egressgate/internal/localcluster"
)

// Before the load: the model's watch, the client address, the slots'
// first ExternalServices, and the gateway pods queries are sent from.

// anchors is how many slots never change: their gateway pods send the
// gateway queries.
const anchors = 2

// clientPodTimeout bounds the wait for the client pod's address.
const clientPodTimeout = 60 * time.Second

// watch feeds the model from a watch of the ExternalServices. A watch
// started again (after an API server outage, so the model does not wait out
// client-go's reconnect backoff as the plugin may) replaces the last one,
// and the model forgets what the new list no longer holds.
func (r *runner) watch(ctx context.Context) error {
	if r.stopWatch != nil {
		r.stopWatch()
	}
	ctx, r.stopWatch = context.WithCancel(ctx)
	scheme, err := kubescheme.New()
	if err != nil {
		return err
	}
	c, err := cache.New(r.h.Cluster.Config, cache.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("make the model's cache: %w", err)
	}
	inf, err := c.GetInformer(ctx, &egressv1.ExternalService{})
	if err != nil {
		return fmt.Errorf("watch ExternalServices: %w", err)
	}
	upsert := func(obj any) {
		if es, ok := obj.(*egressv1.ExternalService); ok {
			r.model.upsert(es, time.Now())
		}
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    upsert,
		UpdateFunc: func(_, obj any) { upsert(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if es, ok := obj.(*egressv1.ExternalService); ok {
				r.model.remove(es.Name, time.Now())
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watch ExternalServices: %w", err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return fmt.Errorf("the model's watch of ExternalServices did not sync")
	}
	var list egressv1.ExternalServiceList
	if err := c.List(ctx, &list); err != nil {
		return fmt.Errorf("list ExternalServices from the model's watch: %w", err)
	}
	names := map[string]bool{}
	for _, es := range list.Items {
		names[es.Name] = true
	}
	r.model.retain(names, time.Now())
	return nil
}

// clientAddress is the source of client queries: the IP of a pod that is
// no gateway's when pod IPs are local, else 127.0.0.1 (with a note why).
func (r *runner) clientAddress(ctx context.Context) (string, string, error) {
	if !r.h.Cluster.PodIPsAreLocal {
		return "127.0.0.1", "pod IPs are not local addresses (run 'ip addr add " + localcluster.PodCIDR +
			" dev lo' as root): client queries come from 127.0.0.1 and no query is sent from a gateway pod", nil
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "soak-client", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "client", Image: "example/client"}}},
	}
	deadline := time.Now().Add(clientPodTimeout)
	for {
		err := r.h.Cluster.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod)
		if apierrors.IsNotFound(err) {
			err = r.h.Cluster.Client.Create(ctx, pod.DeepCopy())
		}
		if err == nil && pod.Status.PodIP != "" {
			return pod.Status.PodIP, "client queries come from the pod default/soak-client", nil
		}
		if time.Now().After(deadline) {
			return "", "", fmt.Errorf("the client pod default/soak-client got no IP within %s (last error: %v)", clientPodTimeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// randomName is a slot's name (80%) or one no ExternalService claims.
func (r *runner) randomName() string {
	if rand.IntN(100) < 80 {
		return dnsName(rand.IntN(r.o.ExternalServices))
	}
	return unmanagedName(rand.IntN(50))
}

// setup makes every slot's first ExternalService (three in four with
// hijackDns) and waits until each answers as intended.
func (r *runner) setup(ctx context.Context) error {
	fmt.Fprintf(r.o.Progress, ">> creating %d ExternalServices\n", r.o.ExternalServices)
	for i := range r.o.ExternalServices {
		s := &slot{dnsName: dnsName(i), names: [2]string{slotName(i), slotName(i) + "-b"}, anchor: i < anchors}
		if err := r.churn.create(ctx, s, s.names[0], s.anchor || i%4 != 3); err != nil {
			return err
		}
		if want := s.intended(); want != upstream {
			s.pending = &intent{at: time.Now(), want: want, what: "create", bound: setupTimeout}
		}
		r.churn.mu.Lock()
		r.churn.slots = append(r.churn.slots, s)
		r.churn.mu.Unlock()
	}
	deadline := time.Now().Add(setupTimeout)
	for n := r.churn.pendingBefore(deadline); n > 0; n = r.churn.pendingBefore(deadline) {
		if time.Now().After(deadline) {
			return fmt.Errorf("setup: %d of %d ExternalServices not hijacked in DNS within %s", n, r.o.ExternalServices, setupTimeout)
		}
		time.Sleep(time.Second)
	}
	if r.load.sources == nil {
		return nil
	}
	return r.waitSources(ctx)
}

// anchorPodIPs lists the IPs of the anchors' running gateway pods, sorted.
func (r *runner) anchorPodIPs(ctx context.Context) ([]string, error) {
	var ips []string
	for i := range anchors {
		var pods corev1.PodList
		if err := r.h.Cluster.Client.List(ctx, &pods, client.InNamespace(localcluster.GatewayNamespace),
			client.MatchingLabels{"gateway.networking.k8s.io/gateway-name": slotName(i)}); err != nil {
			return nil, fmt.Errorf("list the gateway pods of %s: %w", slotName(i), err)
		}
		for _, p := range pods.Items {
			if p.Status.PodIP != "" && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				ips = append(ips, p.Status.PodIP)
			}
		}
	}
	slices.Sort(ips)
	return ips, nil
}

// waitSources waits until the plugin gives every anchor pod the real
// answer, then uses them as gateway sources.
func (r *runner) waitSources(ctx context.Context) error {
	deadline := time.Now().Add(setupTimeout)
	for {
		ips, err := r.anchorPodIPs(ctx)
		if err != nil {
			return err
		}
		known := len(ips) > 0
		for _, ip := range ips {
			a := r.load.send(ctx, dnsName(0), dns.TypeA, ip, false)
			if k, _ := classify(a); k != upstream {
				known = false
			}
		}
		if known {
			r.load.sources.set(ips)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("setup: the plugin does not give the anchors' gateway pods %v the real answer within %s", ips, setupTimeout)
		}
		time.Sleep(time.Second)
	}
}

// refreshSources keeps the gateway sources to anchor pods that stayed put
// between two listings a couple of seconds apart.
func (r *runner) refreshSources(ctx context.Context) error {
	if r.load.sources == nil {
		return nil
	}
	prev := r.load.sources.list()
	for sleepUntil(ctx, time.Now().Add(2*time.Second)) {
		if r.phase() == phaseAPIOutage {
			continue // keep the last list; the pods cannot change meanwhile
		}
		ips, err := r.anchorPodIPs(ctx)
		if err != nil {
			continue // the API server may be coming back
		}
		var stable []string
		for _, ip := range ips {
			if slices.Contains(prev, ip) {
				stable = append(stable, ip)
			}
		}
		r.load.sources.set(stable)
		prev = ips
	}
	return nil
}
