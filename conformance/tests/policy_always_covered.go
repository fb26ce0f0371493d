package tests

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/egressgate/egressgate/conformance/suite"
	"github.com/egressgate/egressgate/translate"
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
	ns := s.GatewayNamespace
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nps, err := cs.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podWatch, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: pods.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	npWatch, err := cs.NetworkingV1().NetworkPolicies(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: nps.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var changes []change
	collect := func(w watch.Interface) {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added && ev.Type != watch.Modified && ev.Type != watch.Deleted {
				continue
			}
			m, _ := ev.Object.(metav1.Object)
			rv, err := strconv.ParseUint(m.GetResourceVersion(), 10, 64)
			if err != nil {
				t.Errorf("resourceVersion %q is not a number: this test needs etcd's revisions", m.GetResourceVersion())
				continue
			}
			mu.Lock()
			changes = append(changes, change{rv, ev.Type, ev.Object})
			mu.Unlock()
		}
	}
	go collect(podWatch)
	go collect(npWatch)
	defer podWatch.Stop()
	defer npWatch.Stop()

	es := suite.NewExternalService(name, s.ExternalName(name), false, "TLS/443", "TCP/22")
	s.Create(t, es)
	s.WaitProgrammed(t, name)
	s.DeleteAndWait(t, es)

	// Replay until the watches have delivered the last gateway pod's
	// deletion, then check every state on the way.
	var states, withPods int
	var gaps []string
	s.Eventually(t, "the watches deliver the gateway's whole life", s.Timeouts.Deleted, func() error {
		mu.Lock()
		replay := append([]change(nil), changes...)
		mu.Unlock()
		sort.Slice(replay, func(i, j int) bool { return replay[i].rv < replay[j].rv })
		podState := map[string]*corev1.Pod{}
		npState := map[string]*networkingv1.NetworkPolicy{}
		for i := range pods.Items {
			podState[pods.Items[i].Name] = &pods.Items[i]
		}
		for i := range nps.Items {
			npState[nps.Items[i].Name] = &nps.Items[i]
		}
		states, withPods, gaps = 0, 0, nil
		seen := false
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
			var list []*networkingv1.NetworkPolicy
			for _, np := range npState {
				list = append(list, np)
			}
			policy := matcher.BuildNetworkPolicies(false, list)
			gatewayPods := 0
			for _, p := range podState {
				if p.Labels[translate.LabelGatewayName] != name {
					continue
				}
				gatewayPods++
				if len(policy.TargetsApplyingToPod(true, p.Namespace, p.Labels)) == 0 {
					gaps = append(gaps, fmt.Sprintf("at resourceVersion %d (%s %T) pod %s had no ingress policy", c.rv, c.typ, c.obj, p.Name))
				}
			}
			if gatewayPods > 0 {
				withPods++
				seen = true
			}
			if seen && gatewayPods == 0 && len(gaps) == 0 {
				// Every pod has gone: the life is complete once the
				// policies are deleted too.
				if _, ok := npState[name+"-ingress"]; !ok {
					return nil
				}
			}
		}
		if len(gaps) > 0 {
			return nil
		}
		return fmt.Errorf("%d changes so far, %d with gateway pods; waiting for the last pod's deletion", states, withPods)
	})
	for _, g := range gaps {
		t.Error(g)
	}
	if withPods == 0 {
		t.Fatal("no state with a gateway pod was seen: the test proves nothing")
	}
	t.Logf("%d states replayed, %d with gateway pods, %d uncovered", states, withPods, len(gaps))
}
