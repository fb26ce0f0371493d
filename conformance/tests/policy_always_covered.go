package tests

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/egressgate/egressgate/conformance/suite"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

func init() {
	register(suite.ConformanceTest{
		ShortName: "PolicyGatewayPodsAlwaysCovered",
		Description: "From creation to deletion, no moment exists when a gateway pod is selected by no ingress NetworkPolicy: " +
			"every change to pods and policies in the gateway namespace is replayed in the API server's order and checked.",
		Features: []suite.Feature{suite.FeatureNetworkPolicy, suite.FeatureExternalService},
		Test:     testPolicyAlwaysCovered,
	})
}

// change is one watch event with the object's resourceVersion.
type change struct {
	rv  uint64
	typ watch.EventType
	obj runtime.Object
}

func testPolicyAlwaysCovered(t *testing.T, s *suite.Suite) {
	const name = "policy-covered"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs, err := kubernetes.NewForConfig(s.RestConfig)
	if err != nil {
		t.Fatal(err)
	}
	rec := startRecording(ctx, t, cs, s.GatewayNamespace)
	defer rec.stop()

	es := s.ApplyManifest(t, "manifests/policy-always-covered.yaml")[0]
	s.WaitProgrammed(t, name)
	s.DeleteAndWait(t, es)

	replay := rec.untilEnd(ctx, t, s)
	states, withPods, gaps := replayCoverage(t, rec.pods, rec.nps, replay, name)
	if withPods == 0 {
		t.Fatal("no state with a gateway pod was seen: the test proves nothing")
	}
	t.Logf("%d states replayed, %d with gateway pods, %d uncovered", states, withPods, gaps)
}

// recording lists the pods and NetworkPolicies of a namespace, then
// watches both from there and collects every change.
type recording struct {
	cs       kubernetes.Interface
	ns       string
	pods     *corev1.PodList
	nps      *networkingv1.NetworkPolicyList
	watches  []watch.Interface
	collects sync.WaitGroup

	mu         sync.Mutex
	changes    []change
	streamErrs []string
}

func startRecording(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) *recording {
	t.Helper()
	r := &recording{cs: cs, ns: ns}
	var err error
	if r.pods, err = cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if r.nps, err = cs.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	podWatch, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: r.pods.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	npWatch, err := cs.NetworkingV1().NetworkPolicies(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: r.nps.ResourceVersion})
	if err != nil {
		podWatch.Stop()
		t.Fatal(err)
	}
	r.watches = []watch.Interface{podWatch, npWatch}
	r.collects.Add(2)
	go r.collect("pod", podWatch)
	go r.collect("NetworkPolicy", npWatch)
	return r
}

func (r *recording) collect(kind string, w watch.Interface) {
	defer r.collects.Done()
	for ev := range w.ResultChan() {
		r.mu.Lock()
		switch ev.Type {
		case watch.Added, watch.Modified, watch.Deleted:
			m, _ := ev.Object.(metav1.Object)
			if rv, err := strconv.ParseUint(m.GetResourceVersion(), 10, 64); err == nil {
				r.changes = append(r.changes, change{rv, ev.Type, ev.Object})
			} else {
				r.streamErrs = append(r.streamErrs, fmt.Sprintf("%s resourceVersion %q is not a number: this test orders changes by etcd's revisions", kind, m.GetResourceVersion()))
			}
		case watch.Error:
			r.streamErrs = append(r.streamErrs, fmt.Sprintf("the %s watch failed: %v", kind, ev.Object))
		}
		r.mu.Unlock()
	}
}

// stop ends both watches and waits for their collectors.
func (r *recording) stop() {
	for _, w := range r.watches {
		w.Stop()
	}
	r.collects.Wait()
}

// untilEnd returns, in the API server's order, every change up to now.
// The gateway is gone, so its pods and policies are too (the
// ExternalService's finalizer waits for them). Lists taken now are the end
// state each watch must reach before the two streams can be merged: until
// then a policy's deletion could be seen before an earlier pod deletion.
func (r *recording) untilEnd(ctx context.Context, t *testing.T, s *suite.Suite) []change {
	t.Helper()
	podsEnd, err := r.cs.CoreV1().Pods(r.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	npsEnd, err := r.cs.NetworkingV1().NetworkPolicies(r.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var replay []change
	s.Eventually(t, "both watches deliver every change up to the end state", s.Timeouts.Deleted, func() error {
		r.mu.Lock()
		replay = append([]change(nil), r.changes...)
		errs := slices.Clone(r.streamErrs)
		r.mu.Unlock()
		if len(errs) > 0 {
			t.Fatalf("%s", strings.Join(errs, "; "))
		}
		sort.Slice(replay, func(i, j int) bool { return replay[i].rv < replay[j].rv })
		if err := caughtUp("pods", r.pods, replay, podsEnd, func(o runtime.Object) bool { _, ok := o.(*corev1.Pod); return ok }); err != nil {
			return err
		}
		return caughtUp("NetworkPolicies", r.nps, replay, npsEnd, func(o runtime.Object) bool { _, ok := o.(*networkingv1.NetworkPolicy); return ok })
	})
	// Changes after the end lists are not part of the gateway's life.
	end := min(mustRV(t, podsEnd.ResourceVersion), mustRV(t, npsEnd.ResourceVersion))
	return slices.DeleteFunc(replay, func(c change) bool { return c.rv > end })
}

// replayCoverage applies every change in order to the first lists and
// checks, in each state, that every pod of the gateway name is selected by
// an ingress policy. It counts the states, those with gateway pods, and
// the uncovered pods found.
func replayCoverage(t *testing.T, pods *corev1.PodList, nps *networkingv1.NetworkPolicyList, replay []change, name string) (states, withPods, gaps int) {
	t.Helper()
	podState := map[string]*corev1.Pod{}
	npState := map[string]*networkingv1.NetworkPolicy{}
	for i := range pods.Items {
		podState[pods.Items[i].Name] = &pods.Items[i]
	}
	for i := range nps.Items {
		npState[nps.Items[i].Name] = &nps.Items[i]
	}
	for _, c := range replay {
		switch o := c.obj.(type) {
		case *corev1.Pod:
			if c.typ == watch.Deleted {
				delete(podState, o.Name)
			} else {
				podState[o.Name] = o
			}
		case *networkingv1.NetworkPolicy:
			if c.typ == watch.Deleted {
				delete(npState, o.Name)
			} else {
				npState[o.Name] = o
			}
		}
		states++
		policy := matcher.BuildNetworkPolicies(false, slices.Collect(maps.Values(npState)))
		gatewayPods := 0
		for _, p := range podState {
			if p.Labels[egressv1.LabelGatewayName] != name {
				continue
			}
			gatewayPods++
			if len(policy.TargetsApplyingToPod(true, p.Namespace, p.Labels)) == 0 {
				gaps++
				t.Errorf("at resourceVersion %d (%s %T) gateway pod %s was selected by no ingress policy", c.rv, c.typ, c.obj, p.Name)
			}
		}
		if gatewayPods > 0 {
			withPods++
		}
	}
	return states, withPods, gaps
}

func mustRV(t *testing.T, rv string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q is not a number: this test orders changes by etcd's revisions", rv)
	}
	return n
}

// namesAndVersions maps each item of a list to its resourceVersion.
func namesAndVersions(list runtime.Object) map[string]string {
	out := map[string]string{}
	items, _ := meta.ExtractList(list)
	for _, item := range items {
		m, _ := item.(metav1.Object)
		out[m.GetName()] = m.GetResourceVersion()
	}
	return out
}

// caughtUp is nil when replaying one kind's changes, up to the end list's
// resourceVersion, over its first list gives exactly the end list.
func caughtUp(kind string, first metav1.ListInterface, replay []change, last metav1.ListInterface, isKind func(runtime.Object) bool) error {
	state := namesAndVersions(first.(runtime.Object))
	end := namesAndVersions(last.(runtime.Object))
	upTo, _ := strconv.ParseUint(last.GetResourceVersion(), 10, 64)
	for _, c := range replay {
		if !isKind(c.obj) || c.rv > upTo {
			continue
		}
		m, _ := c.obj.(metav1.Object)
		if c.typ == watch.Deleted {
			delete(state, m.GetName())
		} else {
			state[m.GetName()] = m.GetResourceVersion()
		}
	}
	if !maps.Equal(state, end) {
		return fmt.Errorf("the %s watch has not caught up with the end state yet", kind)
	}
	return nil
}
