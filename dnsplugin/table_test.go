package dnsplugin

import (
	"fmt"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// fullExternalService is an ExternalService as the API server sends it once
// the controller has worked on it: defaults, managed fields, four conditions.
func fullExternalService(i int) *egressv1.ExternalService {
	name := fmt.Sprintf("service-%05d", i)
	created := metav1.NewTime(epoch.Add(time.Duration(i) * time.Second))
	tcp := egressv1.ProtocolTLS
	cond := func(t string) metav1.Condition {
		return metav1.Condition{Type: t, Status: metav1.ConditionTrue, ObservedGeneration: 1, LastTransitionTime: created,
			Reason: "Ready", Message: "the gateway " + name + " is programmed and has available pods"}
	}
	return &egressv1.ExternalService{
		TypeMeta: metav1.TypeMeta{APIVersion: egressv1.GroupVersion.String(), Kind: "ExternalService"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, UID: types.UID(fmt.Sprintf("0c7d3f62-5a0e-4b9b-9d8e-%012d", i)), ResourceVersion: fmt.Sprint(1000 + i),
			Generation: 1, CreationTimestamp: created,
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply, APIVersion: "egress.monzo.com/v1", FieldsType: "FieldsV1",
					FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:dnsName":{},"f:hijackDns":{},"f:ports":{}}}`)}},
				{Manager: "egress-operator", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "egress.monzo.com/v1", FieldsType: "FieldsV1", Subresource: "status",
					FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{"f:addresses":{},"f:conditions":{},"f:observedGeneration":{}}}`)}},
			},
		},
		Spec: egressv1.ExternalServiceSpec{
			DnsName: fmt.Sprintf("api-%05d.example.org", i), HijackDns: true,
			Ports:       []egressv1.ExternalServicePort{{Port: 443, Protocol: &tcp}},
			MinReplicas: ptr.To[int32](3), MaxReplicas: ptr.To[int32](12), TargetCPUUtilizationPercentage: ptr.To[int32](50),
			Resources: &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("50Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")},
			},
		},
		Status: egressv1.ExternalServiceStatus{
			ObservedGeneration: 1,
			Conditions: []metav1.Condition{cond(egressv1.ConditionAccepted), cond(egressv1.ConditionProgrammed),
				cond(egressv1.ConditionDNSHijacked), {Type: egressv1.ConditionConflicted, Status: metav1.ConditionFalse, Reason: "NoConflict", LastTransitionTime: created}},
			Addresses: []string{fmt.Sprintf("10.96.%d.%d", i/250, i%250+1), fmt.Sprintf("fd00::%x", i+1)},
		},
	}
}

// The informer keeps trimmed objects; a table built from them must be the
// table built from the full objects.
func TestTrimKeepsWhatTheTableNeeds(t *testing.T) {
	var full, trimmed []*egressv1.ExternalService
	for i := range 50 {
		es := fullExternalService(i)
		switch i % 5 {
		case 1: // not hijacked any more
			es.Status.Conditions[2].Status = metav1.ConditionFalse
		case 2: // a younger claimant of another's name
			es.Spec.DnsName = "api-00000.example.org"
		case 3: // no DNSHijacked condition
			es.Status.Conditions = slices.Delete(es.Status.Conditions, 2, 3)
		}
		full = append(full, es)
		obj, err := trimExternalService(es.DeepCopy())
		if err != nil {
			t.Fatal(err)
		}
		trimmed = append(trimmed, obj.(*egressv1.ExternalService))
	}
	want, got := buildTable(full, nil, DefaultZone), buildTable(trimmed, nil, DefaultZone)
	if got.Len() != want.Len() || got.Len() == 0 {
		t.Fatalf("table from trimmed objects has %d names, from full objects %d", got.Len(), want.Len())
	}
	for name, w := range want.names {
		g := got.names[name]
		if g == nil || g.service != w.service || !slices.EqualFunc(g.a, w.a, ipEqual) || !slices.EqualFunc(g.aaaa, w.aaaa, ipEqual) {
			t.Errorf("%s: got %+v, want %+v", name, g, w)
		}
	}

	pod := gatewayPod("gw", corev1.PodRunning, "10.244.0.9", "fd00:244::9")
	pod.Labels = map[string]string{"gateway.networking.k8s.io/gateway-name": "gw"}
	pod.Spec.Containers = []corev1.Container{{Name: "istio-proxy", Image: "proxyv2"}}
	obj, err := trimPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	if ips := podIPs(obj.(*corev1.Pod)); len(ips) != 2 {
		t.Errorf("trimmed pod has IPs %v, want both of %v", ips, pod.Status.PodIPs)
	}
}

func ipEqual(a, b net.IP) bool { return a.Equal(b) }

// What the plugin keeps in memory for 10,000 ExternalServices: the trimmed
// objects in the informer's store and the lookup table. The project's budget
// for the whole plugin is 50 MiB; `make bench-dns` measures the real
// CoreDNS process as well.
func TestHeapWith10000ExternalServices(t *testing.T) {
	const n = 10000
	const budget = 50 << 20

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	kept := make([]*egressv1.ExternalService, n)
	for i := range n {
		obj, err := trimExternalService(fullExternalService(i))
		if err != nil {
			t.Fatal(err)
		}
		kept[i] = obj.(*egressv1.ExternalService)
	}
	table := buildTable(kept, nil, DefaultZone)

	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if table.Len() != n {
		t.Fatalf("table has %d names, want %d", table.Len(), n)
	}
	runtime.KeepAlive(kept)
	runtime.KeepAlive(table)

	t.Logf("heap for %d ExternalServices (trimmed objects + table): %.1f MiB", n, float64(heap)/(1<<20))
	if heap > budget {
		t.Errorf("heap for %d ExternalServices is %.1f MiB, over the %d MiB budget", n, float64(heap)/(1<<20), budget>>20)
	}
}
