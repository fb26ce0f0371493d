package dnsplugin

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/supervisor"
	"github.com/egressgate/egressgate/internal/testenv"
)

// The observer of a listen address is shared and reference counted, the
// way CoreDNS's reload uses it (new blocks start before old ones stop):
// the second block reuses the listener, the last release closes it, and
// the address can be bound again afterwards (nothing leaked).
func TestObserverSharedAcrossBlocksAndReloads(t *testing.T) {
	port, err := supervisor.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := defaultObserveConfig()
	cfg.listen = addr
	unreachable := &rest.Config{Host: "https://127.0.0.1:1"} // informers retry in the background
	open := func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}

	old := &observeHook{cfg: cfg, rc: unreachable}
	if err := old.start(); err != nil {
		t.Fatal(err)
	}
	old.o.Load().recorder.record(lookup{src: newSource(workload{Kind: kindUnknown, Name: "10.0.0.1"}, nil, false), qname: "a.example.org.", at: epoch})

	lower := *cfg
	lower.maxEntries = 7
	reloaded := &observeHook{cfg: &lower, rc: unreachable}
	if err := reloaded.start(); err != nil {
		t.Fatalf("a block on the same address (a reload's new block) could not start: %v", err)
	}
	if reloaded.o.Load() != old.o.Load() {
		t.Fatal("the new block got an observer of its own, not the shared one")
	}
	if err := old.stop(); err != nil {
		t.Fatal(err)
	}
	o := reloaded.o.Load()
	if !open() || o.recorder.len() != 1 || o.recorder.max != 7 {
		t.Fatalf("after the old block stopped: listening %v, %d entries, max %d; want listening, 1 entry kept, max 7", open(), o.recorder.len(), o.recorder.max)
	}
	if err := reloaded.stop(); err != nil {
		t.Fatal(err)
	}
	if open() {
		t.Fatal("still listening after the last block stopped")
	}
	again := &observeHook{cfg: cfg, rc: unreachable}
	if err := again.start(); err != nil {
		t.Fatalf("the address cannot be bound again: %v", err)
	}
	if n := again.o.Load().recorder.len(); n != 0 {
		t.Errorf("a new observer starts with %d entries, want none", n)
	}
	_ = again.stop()
}

// A port already taken fails the block's start-up with an error naming the
// address, as CoreDNS reports a plugin's OnStartup error.
func TestObserverListenError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := defaultObserveConfig()
	cfg.listen = l.Addr().String()
	h := &observeHook{cfg: cfg, rc: &rest.Config{Host: "https://127.0.0.1:1"}}
	err = h.start()
	if err == nil || !strings.Contains(err.Error(), "listen on "+cfg.listen) {
		t.Fatalf("start on a taken port: %v; want an error naming %s", err, cfg.listen)
	}
}

// Two replicas report the same would-be-refused workload against a real
// API server: they converge on one Event, whose count rises once per
// interval, not once per replica.
func TestRefusalEventsConvergeAcrossReplicas(t *testing.T) {
	env := testenv.StartOurs(t)
	ctx := t.Context()
	es := &egressv1.ExternalService{ObjectMeta: metav1.ObjectMeta{Name: "api"}, Spec: egressv1.ExternalServiceSpec{DnsName: "api.example.org",
		Ports: []egressv1.ExternalServicePort{{Port: 443}}}}
	if err := env.Client.Create(ctx, es); err != nil {
		t.Fatal(err)
	}
	const interval = time.Hour
	replicas := make([]*refusalReporter, 2)
	for i := range replicas {
		r, err := newRefusalReporter(env.Config, interval)
		if err != nil {
			t.Fatal(err)
		}
		r.host = fmt.Sprintf("coredns-%d", i)
		replicas[i] = r
	}
	key := refusalKey{service: "api", workload: workload{Namespace: "data", Kind: "StatefulSet", Name: "db"}}
	at := time.Now().Truncate(time.Second)
	steps := []struct {
		replica   int
		at        time.Time
		wantCount int32
	}{
		{0, at, 1},                             // creates the Event
		{1, at.Add(time.Minute), 1},            // the other replica, same interval: unchanged
		{1, at.Add(interval + time.Minute), 2}, // next interval: raised once
		{0, at.Add(interval + 2*time.Minute), 2},
	}
	for i, s := range steps {
		if err := replicas[s.replica].emit(ctx, refusal{refusalKey: key, name: "api.example.org.", at: s.at}); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		var events corev1.EventList
		if err := env.Client.List(ctx, &events, client.InNamespace(eventNamespace)); err != nil {
			t.Fatal(err)
		}
		if len(events.Items) != 1 || events.Items[0].Count != s.wantCount || events.Items[0].Name != refusalEventName(key) ||
			events.Items[0].InvolvedObject.UID != es.UID {
			t.Fatalf("step %d: events %+v; want one Event %s about ExternalService api (uid %s) with count %d", i, events.Items, refusalEventName(key), es.UID, s.wantCount)
		}
	}
}

// Event names are valid and differ per (ExternalService, workload).
func TestRefusalEventName(t *testing.T) {
	long := strings.Repeat("a", 250)
	a := refusalEventName(refusalKey{service: "api", workload: workload{Namespace: "team", Kind: "Deployment", Name: "web"}})
	b := refusalEventName(refusalKey{service: "api", workload: workload{Namespace: "team", Kind: "Deployment", Name: "web2"}})
	c := refusalEventName(refusalKey{service: long, workload: workload{Namespace: "team", Kind: "Deployment", Name: "web"}})
	if a == b || !strings.HasPrefix(a, "api.wouldberefused.") || len(c) > 253 {
		t.Errorf("names %q, %q, %q: want distinct names starting with the ExternalService, at most 253 characters", a, b, c)
	}
}
