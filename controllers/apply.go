// Applying: the desired children are server-side applied, NetworkPolicies
// before the Gateway, under one field manager, and those already up to date (by their applied-hash
// annotation) are skipped, so a steady state makes no writes.

package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// The product's name where the API server records who acted: the one
// server-side apply field manager every child is written with, and the
// source of the operator's Events. Both are "egressgate", as is the
// app.kubernetes.io/managed-by label (egressv1.ManagedByValue).
const (
	FieldManager = "egressgate"
	EventSource  = "egressgate"
)

// ApplyConfiguration turns a desired child into the unstructured form that
// is server-side applied: no status, no server-set metadata.
func ApplyConfiguration(obj client.Object) (*unstructured.Unstructured, error) {
	m, err := toMap(obj)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	md, _ := m["metadata"].(map[string]any)
	if md == nil {
		return nil, fmt.Errorf("%T %s has no metadata", obj, obj.GetName())
	}
	delete(md, "creationTimestamp")
	// encoding/json sorts map keys, so equal objects hash equally.
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", obj, err)
	}
	sum := sha256.Sum256(b)
	annotations, _ := md["annotations"].(map[string]any)
	if annotations == nil {
		annotations = map[string]any{}
		md["annotations"] = annotations
	}
	annotations[egressv1.AnnotationAppliedHash] = hex.EncodeToString(sum[:8])
	return &unstructured.Unstructured{Object: m}, nil
}

// toMap is the JSON form of obj as a generic map. JSON rather than the
// unstructured converter, because Istio's types marshal through protojson.
func toMap(obj any) (map[string]any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", obj, err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode %T: %w", obj, err)
	}
	return m, nil
}

// contains reports whether want is a subset of have.
func contains(have, want any) bool {
	switch w := want.(type) {
	case nil:
		return have == nil
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return len(w) == 0 && have == nil
		}
		for k, wv := range w {
			hv, found := h[k]
			if !found {
				if wv == nil || isEmpty(wv) {
					continue
				}
				return false
			}
			if !contains(hv, wv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return len(w) == 0 && len(h) == 0
		}
		for i := range w {
			if !contains(h[i], w[i]) {
				return false
			}
		}
		return true
	case float64:
		h, ok := have.(float64)
		return ok && (h == w || math.Abs(h-w) < 1e-9)
	default:
		return have == want
	}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// apply server-side applies the desired children, skipping those already
// up to date, in two steps: everything the translator puts before the
// Gateway (NetworkPolicies, options ConfigMap, Istio configuration), then
// the Gateway and its routes. Children within a step do not depend on each
// other and are applied at once; a failure in the first step stops the
// second, so a Gateway is never applied without its NetworkPolicies.
func (r *Reconciler) apply(ctx context.Context, objects []client.Object) error {
	split := len(objects)
	for i, obj := range objects {
		if obj.GetObjectKind().GroupVersionKind() == gatewayKind.gvk {
			split = i
			break
		}
	}
	if err := r.applyAtOnce(ctx, objects[:split]); err != nil {
		return err
	}
	return r.applyAtOnce(ctx, objects[split:])
}

// applyAtOnce applies objects concurrently and joins their errors.
func (r *Reconciler) applyAtOnce(ctx context.Context, objects []client.Object) error {
	errs := make([]error, len(objects))
	var wg sync.WaitGroup
	for i, obj := range objects {
		wg.Go(func() { errs[i] = r.applyOne(ctx, obj) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// applyOne server-side applies obj unless it is up to date or its kind is
// not served.
func (r *Reconciler) applyOne(ctx context.Context, obj client.Object) error {
	gvk := obj.GetObjectKind().GroupVersionKind()
	kind, ok := kindOf(gvk)
	if !ok {
		return fmt.Errorf("translator produced an unknown kind %s", gvk)
	}
	if kind.optional && !r.served(kind) {
		return nil
	}
	desired, err := ApplyConfiguration(obj)
	if err != nil {
		return err
	}
	key := client.ObjectKeyFromObject(obj)
	// The read waits for this key's own earlier writes only, so a pass
	// never re-applies what the one before it wrote.
	existing := kind.cached()
	err = r.Client.Get(ctx, key, existing)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("get %s %s: %w", gvk.Kind, key, err)
	default:
		same, err := r.upToDate(ctx, kind, desired, existing)
		if err != nil || same {
			return err
		}
	}
	body, err := desired.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", gvk.Kind, key, err)
	}
	// The body is the unstructured form; the target has the form the
	// cache keeps, so the client's read-your-writes tracking covers the
	// read above.
	target := kind.cached()
	target.SetNamespace(obj.GetNamespace())
	target.SetName(obj.GetName())
	if err := r.Client.Patch(ctx, target, client.RawPatch(types.ApplyPatchType, body),
		client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, key, err)
	}
	r.verified.set(gvk.Kind, key, target.GetResourceVersion(), desired.GetAnnotations()[egressv1.AnnotationAppliedHash])
	return nil
}

// upToDate reports whether applying desired onto existing, as the cache
// has it, would change nothing: every desired value, the applied-hash
// included, is already there. Fields the API server or other managers
// added are ignored; a field the operator stopped setting changes the
// hash, so it is applied (and removed) again.
//
// The cache has only the metadata of children (and a Gateway's status),
// without annotations. At the resourceVersion this operator last wrote or
// verified, the child holds the hash remembered with it, so it is up to
// date exactly when the desired hash is that one; any other version (a
// hand edit, a status write, a restart) is read from the API server and
// compared whole, once.
func (r *Reconciler) upToDate(ctx context.Context, kind childKind, desired *unstructured.Unstructured, existing client.Object) (bool, error) {
	key := client.ObjectKeyFromObject(existing)
	hash := desired.GetAnnotations()[egressv1.AnnotationAppliedHash]
	if known, ok := r.verified.at(kind.gvk.Kind, key, existing.GetResourceVersion()); ok {
		return known == hash, nil
	}
	live := kind.newObj()
	if err := r.APIReader.Get(ctx, key, live); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	// A typed read leaves apiVersion and kind empty; the cache sets them.
	live.GetObjectKind().SetGroupVersionKind(kind.gvk)
	ok, err := holds(live, desired)
	if ok {
		r.verified.set(kind.gvk.Kind, key, live.GetResourceVersion(), hash)
	}
	return ok, err
}

// holds reports whether obj already has every value of desired.
func holds(obj client.Object, desired *unstructured.Unstructured) (bool, error) {
	m, err := toMap(obj)
	if err != nil {
		return false, err
	}
	return contains(m, desired.Object), nil
}

// verifiedVersions remembers, per child, the resourceVersion at which it
// last held every desired value, and the applied-hash of those values:
// written by this operator, or read whole and compared.
type verifiedVersions struct {
	mu sync.Mutex
	m  map[verifiedKey]verifiedState
}

type verifiedKey struct {
	kind string
	key  client.ObjectKey
}

type verifiedState struct {
	resourceVersion, hash string
}

// at returns the hash the child held at resourceVersion, if known.
func (v *verifiedVersions) at(kind string, key client.ObjectKey, resourceVersion string) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.m[verifiedKey{kind, key}]
	return s.hash, ok && s.resourceVersion == resourceVersion
}

func (v *verifiedVersions) set(kind string, key client.ObjectKey, resourceVersion, hash string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[verifiedKey]verifiedState{}
	}
	v.m[verifiedKey{kind, key}] = verifiedState{resourceVersion, hash}
}

// forget drops a child the operator deleted.
func (v *verifiedVersions) forget(kind string, key client.ObjectKey) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, verifiedKey{kind, key})
}
