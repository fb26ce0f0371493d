package suite

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/testenv"
)

// Eventually polls check until it returns nil, failing the test with the
// last error after timeout.
func (s *Suite) Eventually(t testing.TB, what string, timeout time.Duration, check func() error) {
	t.Helper()
	testenv.Eventually(t, what, timeout, check)
}

// Create creates obj and, when the test ends, deletes it and waits until
// it is gone, so the next test starts from a clean cluster.
func (s *Suite) Create(t testing.TB, obj client.Object) {
	t.Helper()
	ctx := context.Background()
	if err := s.Client.Create(ctx, obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, client.ObjectKeyFromObject(obj), err)
	}
	t.Cleanup(func() { s.DeleteAndWait(t, obj) })
}

// DeleteAndWait deletes obj (if it still exists) and waits until it is gone.
func (s *Suite) DeleteAndWait(t testing.TB, obj client.Object) {
	t.Helper()
	ctx := context.Background()
	key := client.ObjectKeyFromObject(obj)
	err := s.Client.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Errorf("delete %T %s: %v", obj, key, err)
		return
	}
	s.Eventually(t, fmt.Sprintf("%T %s is gone", obj, key), s.Timeouts.Deleted, func() error {
		fresh := obj.DeepCopyObject().(client.Object)
		err := s.Client.Get(ctx, key, fresh)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("still there (finalizers %v)", fresh.GetFinalizers())
	})
}

// GetExternalService reads an ExternalService.
func (s *Suite) GetExternalService(name string) (*egressv1.ExternalService, error) {
	es := &egressv1.ExternalService{}
	err := s.Client.Get(context.Background(), types.NamespacedName{Name: name}, es)
	return es, err
}

// UpdateExternalService applies change to the latest version of the
// ExternalService, again if the operator wrote it in between.
func (s *Suite) UpdateExternalService(t testing.TB, name string, change func(*egressv1.ExternalService)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		es, err := s.GetExternalService(name)
		if err != nil {
			return err
		}
		change(es)
		return s.Client.Update(context.Background(), es)
	})
	if err != nil {
		t.Fatalf("update ExternalService %s: %v", name, err)
	}
}

// CheckCondition is nil when the ExternalService's condition has the status
// (and reason, when given) for its current generation, and
// status.observedGeneration has caught up.
func CheckCondition(es *egressv1.ExternalService, typ string, status metav1.ConditionStatus, reason string) error {
	if es.Status.ObservedGeneration != es.Generation {
		return fmt.Errorf("status.observedGeneration %d, generation %d", es.Status.ObservedGeneration, es.Generation)
	}
	c := meta.FindStatusCondition(es.Status.Conditions, typ)
	switch {
	case c == nil:
		return fmt.Errorf("no %s condition", typ)
	case c.ObservedGeneration != es.Generation:
		return fmt.Errorf("%s is for generation %d, not %d", typ, c.ObservedGeneration, es.Generation)
	case c.Status != status || (reason != "" && c.Reason != reason):
		return fmt.Errorf("%s=%s %s (%s), want %s %s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
	return nil
}

// WaitForCondition waits until CheckCondition passes and returns the
// ExternalService as it then was.
func (s *Suite) WaitForCondition(t testing.TB, name, typ string, status metav1.ConditionStatus, reason string, timeout time.Duration) *egressv1.ExternalService {
	t.Helper()
	var es *egressv1.ExternalService
	s.Eventually(t, fmt.Sprintf("ExternalService %s has %s=%s %s", name, typ, status, reason), timeout, func() error {
		var err error
		if es, err = s.GetExternalService(name); err != nil {
			return err
		}
		return CheckCondition(es, typ, status, reason)
	})
	return es
}

// WaitProgrammed waits until the ExternalService is Programmed (and, when
// hijacking, DNSHijacked) and returns it.
func (s *Suite) WaitProgrammed(t testing.TB, name string) *egressv1.ExternalService {
	t.Helper()
	es := s.WaitForCondition(t, name, egressv1.ConditionProgrammed, metav1.ConditionTrue, "", s.Timeouts.Programmed)
	if es.Spec.HijackDns {
		es = s.WaitForCondition(t, name, egressv1.ConditionDNSHijacked, metav1.ConditionTrue, "", s.Timeouts.Accepted)
	}
	return es
}

// GatewayLabels select what Istio deploys for an ExternalService's gateway.
func GatewayLabels(name string) client.MatchingLabels {
	return client.MatchingLabels{egressv1.LabelGatewayName: name}
}

// GatewayService is the Service Istio made for the gateway.
func (s *Suite) GatewayService(t testing.TB, name string) *corev1.Service {
	t.Helper()
	var svc *corev1.Service
	s.Eventually(t, "the gateway Service of "+name, s.Timeouts.Programmed, func() error {
		var list corev1.ServiceList
		if err := s.Client.List(context.Background(), &list, client.InNamespace(s.GatewayNamespace), GatewayLabels(name)); err != nil {
			return err
		}
		if len(list.Items) != 1 {
			return fmt.Errorf("%d Services", len(list.Items))
		}
		svc = &list.Items[0]
		return nil
	})
	return svc
}

// GatewayPods lists the gateway's pods that have an IP.
func (s *Suite) GatewayPods(t testing.TB, name string) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	s.Eventually(t, "running gateway pods of "+name, s.Timeouts.Programmed, func() error {
		var list corev1.PodList
		if err := s.Client.List(context.Background(), &list, client.InNamespace(s.GatewayNamespace), GatewayLabels(name)); err != nil {
			return err
		}
		pods = nil
		for _, p := range list.Items {
			if p.Status.PodIP != "" && p.DeletionTimestamp == nil {
				pods = append(pods, p)
			}
		}
		if len(pods) == 0 {
			return errors.New("no gateway pod with an IP yet")
		}
		return nil
	})
	return pods
}

// Query asks the cluster's DNS server one question, from source (an IP of
// this machine) when set.
func (s *Suite) Query(name string, qtype uint16, source string) (*dns.Msg, error) {
	c := &dns.Client{Timeout: 2 * time.Second}
	if source != "" {
		c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(source)}, Timeout: 2 * time.Second}
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(1232, false)
	r, _, err := c.Exchange(m, s.DNSServer)
	if err != nil {
		return nil, fmt.Errorf("query %s %s: %w", dns.TypeToString[qtype], name, err)
	}
	return r, nil
}

// Addresses lists the A and AAAA addresses in an answer, sorted.
func Addresses(r *dns.Msg) []string {
	var ips []string
	for _, rr := range r.Answer {
		switch a := rr.(type) {
		case *dns.A:
			ips = append(ips, a.A.String())
		case *dns.AAAA:
			ips = append(ips, a.AAAA.String())
		}
	}
	slices.Sort(ips)
	return ips
}

// QueryA returns the A addresses and rcode for name.
func (s *Suite) QueryA(name, source string) ([]string, int, error) {
	r, err := s.Query(name, dns.TypeA, source)
	if err != nil {
		return nil, 0, err
	}
	return Addresses(r), r.Rcode, nil
}

// Sorted returns a sorted copy.
func Sorted(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return out
}
