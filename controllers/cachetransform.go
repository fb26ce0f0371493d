// What the cache keeps. At 10,000 ExternalServices the operator's cache
// holds 60,000 children as metadata, 10,000 Gateways and 10,000
// ExternalServices; every byte kept per object is 80,000 bytes kept in
// all. The transform keeps of a child only what a pass reads: its name,
// resourceVersion, owner and deletion (and of a Gateway its status), and
// shares the strings every child repeats.

package controllers

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// transformForCache is the cache's transform for every kind: children are
// trimmed (trimChild), everything else loses only its managedFields.
func transformForCache(obj any) (any, error) {
	switch o := obj.(type) {
	case *metav1.PartialObjectMetadata:
		trimChild(&o.ObjectMeta)
		o.TypeMeta = metav1.TypeMeta{APIVersion: shared.get(o.APIVersion), Kind: shared.get(o.Kind)}
	case *gwapiv1.Gateway:
		// A pass reads a Gateway's status and generation; whether its
		// spec is as desired is decided as for any child (upToDate).
		trimChild(&o.ObjectMeta)
		o.Spec = gwapiv1.GatewaySpec{}
	case metav1.Object:
		o.SetManagedFields(nil)
	}
	return obj, nil
}

// trimChild keeps of a child's metadata what a pass reads: name,
// resourceVersion, controller owner (by which it is found, children.go),
// deletion. Labels go (the cache's label selector is applied by the API
// server), and so do annotations: whether a child is up to date is known
// from its resourceVersion (upToDate).
func trimChild(m *metav1.ObjectMeta) {
	m.ManagedFields = nil
	m.Labels = nil
	m.Annotations = nil
	m.Namespace = shared.get(m.Namespace)
	for i := range m.OwnerReferences {
		ref := &m.OwnerReferences[i]
		ref.APIVersion, ref.Kind = shared.get(ref.APIVersion), shared.get(ref.Kind)
		ref.Controller, ref.BlockOwnerDeletion = sharedBool(ref.Controller), sharedBool(ref.BlockOwnerDeletion)
	}
}

// sharedStrings hands out one copy of each string that many cached objects
// repeat (namespace, apiVersion, kind): each decoded object
// brings its own copy otherwise. It stops taking new strings at a bound, so
// odd input cannot grow it.
type sharedStrings struct {
	mu sync.Mutex
	m  map[string]string
}

const maxSharedStrings = 256

var shared = &sharedStrings{m: map[string]string{}}

func (s *sharedStrings) get(v string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.m[v]; ok {
		return c
	}
	if len(s.m) < maxSharedStrings {
		s.m[v] = v
	}
	return v
}

var yes, no = true, false

// sharedBool is b pointing to one of two shared values. Nothing changes a
// cached object in place: readers get deep copies.
func sharedBool(b *bool) *bool {
	switch {
	case b == nil:
		return nil
	case *b:
		return &yes
	default:
		return &no
	}
}
