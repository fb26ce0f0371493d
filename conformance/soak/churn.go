package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// The churn: each slot is one dnsName with the ExternalServices we made
// for it (its claimants, oldest first). One operation at a time, on a slot
// whose last change has settled: change the owner's ports, flip its
// hijackDns, delete it (its challenger, if any, takes the name over),
// recreate it, add a newer challenger (which loses: the oldest wins), or
// delete the challenger. After each, the slot's intended answer (gateway or
// upstream) follows from the claimants we made, by api/v1's DNSNameOwner;
// when it changes, the slot waits for DNS to give it (see prober.go).

// member is one ExternalService we made for a slot.
type member struct {
	name    string
	created metav1.Time
	hijack  bool
}

// slot is one dnsName.
type slot struct {
	dnsName string
	// names are the two object names a slot's claimants take turns with.
	names [2]string
	// anchor slots are never changed: their gateway pods are the sources
	// of gateway queries.
	anchor  bool
	members []member
	pending *intent
}

// intent is an answer a slot must come to after a change.
type intent struct {
	at   time.Time
	want answerKind
	what string
	// bound is how long it may take (settleBound, or setupTimeout for the
	// setup's creations, which all wait in the operator's queue at once).
	bound time.Duration
}

// intended is the answer the slot's claimants call for.
func (s *slot) intended() answerKind {
	var claimants []*egressv1.ExternalService
	byName := map[string]bool{}
	for _, m := range s.members {
		claimants = append(claimants, &egressv1.ExternalService{ObjectMeta: metav1.ObjectMeta{Name: m.name, CreationTimestamp: m.created}})
		byName[m.name] = m.hijack
	}
	if owner := egressv1.DNSNameOwner(claimants); owner != nil && byName[owner.Name] {
		return gateway
	}
	return upstream
}

// owner is the index of the oldest member, -1 when there is none.
func (s *slot) owner() int {
	best := -1
	for i, m := range s.members {
		if best < 0 || m.created.Before(&s.members[best].created) ||
			(m.created.Equal(&s.members[best].created) && m.name < s.members[best].name) {
			best = i
		}
	}
	return best
}

// errSkip means the operation could not run now (an object still being
// deleted, a write conflict); another is tried later.
var errSkip = errors.New("skipped")

// churner applies operations to the slots.
type churner struct {
	client client.Client
	mu     sync.Mutex
	slots  []*slot
	// writes is held (read) by each operation; the API outage takes it
	// (write) so no operation is in flight when the API server stops.
	writes sync.RWMutex
	ops    map[string]int
}

// newExternalService is the object for one member.
func newExternalService(name, dnsName string, hijack, twoPorts bool) *egressv1.ExternalService {
	tls := egressv1.ProtocolTLS
	ports := []egressv1.ExternalServicePort{{Port: 443, Protocol: &tls}}
	if twoPorts {
		ports = append(ports, egressv1.ExternalServicePort{Port: 22})
	}
	one := int32(1)
	return &egressv1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: egressv1.ExternalServiceSpec{
			DnsName: dnsName, HijackDns: hijack, Ports: ports,
			MinReplicas: &one, MaxReplicas: &one,
		},
	}
}

// create makes a new member of s.
func (c *churner) create(ctx context.Context, s *slot, name string, hijack bool) error {
	es := newExternalService(name, s.dnsName, hijack, false)
	if err := c.client.Create(ctx, es); apierrors.IsAlreadyExists(err) {
		return errSkip // the previous one is still being deleted
	} else if err != nil {
		return fmt.Errorf("create ExternalService %s: %w", name, err)
	}
	s.members = append(s.members, member{name: name, created: es.CreationTimestamp, hijack: hijack})
	return nil
}

// update changes a member's spec.
func (c *churner) update(ctx context.Context, name string, change func(*egressv1.ExternalService)) error {
	var es egressv1.ExternalService
	if err := c.client.Get(ctx, client.ObjectKey{Name: name}, &es); err != nil {
		return fmt.Errorf("read ExternalService %s: %w", name, err)
	}
	change(&es)
	if err := c.client.Update(ctx, &es); apierrors.IsConflict(err) {
		return errSkip
	} else if err != nil {
		return fmt.Errorf("update ExternalService %s: %w", name, err)
	}
	return nil
}

// remove deletes member i of s.
func (c *churner) remove(ctx context.Context, s *slot, i int) error {
	es := &egressv1.ExternalService{ObjectMeta: metav1.ObjectMeta{Name: s.members[i].name}}
	if err := c.client.Delete(ctx, es); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete ExternalService %s: %w", es.Name, err)
	}
	s.members = append(s.members[:i], s.members[i+1:]...)
	return nil
}

// step applies one random operation to a random settled slot.
func (c *churner) step(ctx context.Context) error {
	c.writes.RLock()
	defer c.writes.RUnlock()
	c.mu.Lock()
	var free []*slot
	for _, s := range c.slots {
		if !s.anchor && s.pending == nil {
			free = append(free, s)
		}
	}
	c.mu.Unlock()
	if len(free) == 0 {
		return nil
	}
	s := free[rand.IntN(len(free))]
	before := s.intended()
	what, err := c.apply(ctx, s)
	if errors.Is(err, errSkip) {
		return nil
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops[what]++
	if after := s.intended(); after != before {
		s.pending = &intent{at: time.Now(), want: after, what: what, bound: settleBound}
	}
	return nil
}

// apply runs one operation that fits the slot's claimants.
func (c *churner) apply(ctx context.Context, s *slot) (string, error) {
	o := s.owner()
	if o < 0 {
		name := s.names[0]
		return "recreate", c.create(ctx, s, name, rand.IntN(4) != 0)
	}
	owner := s.members[o]
	switch r := rand.IntN(10); {
	case r < 3:
		return "change ports", c.update(ctx, owner.name, func(es *egressv1.ExternalService) {
			es.Spec.Ports = newExternalService("", "", false, len(es.Spec.Ports) == 1).Spec.Ports
		})
	case r < 6:
		err := c.update(ctx, owner.name, func(es *egressv1.ExternalService) { es.Spec.HijackDns = !owner.hijack })
		if err == nil {
			s.members[o].hijack = !owner.hijack
		}
		return "flip hijackDns", err
	case r < 8:
		return "delete owner", c.remove(ctx, s, o)
	case len(s.members) == 1:
		other := s.names[0]
		if owner.name == other {
			other = s.names[1]
		}
		return "add challenger", c.create(ctx, s, other, true)
	default:
		return "delete challenger", c.remove(ctx, s, 1-o)
	}
}

// loop runs an operation every interval until ctx ends, pausing while
// paused reports true.
func (c *churner) loop(ctx context.Context, interval time.Duration, paused func() bool) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if paused() {
			continue
		}
		if err := c.step(ctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("churn: %w", err)
		}
	}
}

// describe says what the API server holds for the slot's claimants, for a
// failure message: each one's generation, hijackDns and conditions.
func (c *churner) describe(ctx context.Context, s *slot) string {
	var out []string
	for _, m := range s.members {
		var es egressv1.ExternalService
		if err := c.client.Get(ctx, client.ObjectKey{Name: m.name}, &es); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", m.name, err))
			continue
		}
		d := fmt.Sprintf("%s: generation %d, hijackDns %t, addresses %v", es.Name, es.Generation, es.Spec.HijackDns, es.Status.Addresses)
		for _, cond := range es.Status.Conditions {
			d += fmt.Sprintf(", %s=%s/%s (gen %d)", cond.Type, cond.Status, cond.Reason, cond.ObservedGeneration)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return "no claimant"
	}
	return strings.Join(out, "; ")
}
