package translate

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/admission"
)

// FuzzTranslate builds ExternalService specs from fuzz input, keeps those the
// CRD admits (its OpenAPI schema and CEL rules, offline, as egressctl
// translate runs them) and checks that translating one never panics and is
// deterministic: the same input gives the same objects and conditions, and
// the input is left unchanged. Each port is two bytes of portBytes' pairs
// (number) and one byte (protocol), so the fuzzer can reach every shape.
func FuzzTranslate(f *testing.F) {
	f.Add("github.com", []byte{1, 187, 1, 0, 22, 0}, true, "", int64(3), int64(12), int64(0), false)
	f.Add("sftp.bank.example", []byte{0, 22, 0}, false, "203.0.113.10", int64(1), int64(1), int64(100), true)
	f.Add("api.example.com", []byte{1, 187, 2}, true, "10.0.0.1", int64(2), int64(4), int64(1<<32-1), false)
	f.Add("svc.cluster.local", []byte{0, 80, 0, 0, 80, 2}, true, "2001:db8::1", int64(5), int64(2), int64(-1), true)

	admitter, err := admission.New()
	if err != nil {
		f.Fatal(err)
	}
	protocols := []string{"TCP", "TLS", "UDP"}
	f.Fuzz(func(t *testing.T, dnsName string, portBytes []byte, hijack bool, ip string, minR, maxR, maxConns int64, privateOK bool) {
		var ports []any
		for i := 0; i+2 < len(portBytes) && len(ports) < 20; i += 3 {
			ports = append(ports, map[string]any{
				"port":     int64(portBytes[i])<<8 | int64(portBytes[i+1]),
				"protocol": protocols[int(portBytes[i+2])%len(protocols)],
			})
		}
		spec := map[string]any{"dnsName": dnsName, "hijackDns": hijack, "ports": ports, "minReplicas": minR, "maxReplicas": maxR}
		if ip != "" {
			spec["ipOverride"] = []any{ip}
		}
		if maxConns != 0 {
			spec["envoyClusterMaxConnections"] = maxConns
		}
		obj := map[string]any{
			"apiVersion": egressv1.GroupVersion.String(), "kind": "ExternalService",
			"metadata": map[string]any{"name": "fuzz"}, "spec": spec,
		}
		if errs := admitter.Admit(context.Background(), obj); len(errs) > 0 {
			return // refused at admission: the translator never sees it
		}
		raw, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		es := &egressv1.ExternalService{}
		if err := json.Unmarshal(raw, es); err != nil {
			t.Fatalf("an admitted object does not decode: %v\n%s", err, raw)
		}
		es.UID, es.Generation, es.CreationTimestamp = "uid", 1, metav1.Unix(1, 0)

		opts := DefaultOptions()
		opts.AllowPrivateIPOverride = privateOK
		observed := Observed{Addresses: []string{"10.96.0.1"}, AvailableReplicas: 1, DNSHijacked: hijack,
			Gateway: &metav1.Condition{Type: "Programmed", Status: metav1.ConditionTrue, Reason: "Programmed"}}
		before := es.DeepCopy()
		first := Translate(es, opts, observed)
		second := Translate(es, opts, observed)
		if !reflect.DeepEqual(before, es) {
			t.Fatalf("Translate changed its input:\n%s", raw)
		}
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("Translate is not deterministic for:\n%s", raw)
		}
		if len(first.Conditions) != 4 {
			t.Fatalf("got %d conditions, want Accepted, Conflicted, DNSHijacked and Programmed, for:\n%s", len(first.Conditions), raw)
		}
	})
}
