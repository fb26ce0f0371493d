package controllers

import (
	"encoding/json"
	"fmt"
	"math"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldManager is the one server-side apply field manager the operator
// writes every child with.
const FieldManager = "egressgate"

// applyConfiguration turns a desired child into the unstructured form that
// is server-side applied: no status, no server-set metadata.
func applyConfiguration(obj client.Object) (*unstructured.Unstructured, error) {
	m, err := toMap(obj)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
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

// upToDate reports whether applying desired onto existing would change
// nothing: every desired value is already there, and every field our field
// manager owns is still desired. Fields the API server or other managers
// added are ignored. Lists compare element by element and must have the
// same length.
func upToDate(desired, existing *unstructured.Unstructured) bool {
	if !contains(existing.Object, desired.Object) {
		return false
	}
	for _, mf := range existing.GetManagedFields() {
		if mf.Manager != FieldManager || mf.Subresource != "" || mf.FieldsV1 == nil {
			continue
		}
		owned := map[string]any{}
		if err := json.Unmarshal(mf.FieldsV1.Raw, &owned); err != nil {
			return false
		}
		if !stillDesired(owned, desired.Object) {
			return false
		}
	}
	return true
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

// stillDesired walks a managedFields set ("f:<field>" keys) and reports
// whether every owned map field is still in desired. It stops at lists,
// whose length contains already compares.
func stillDesired(owned map[string]any, desired any) bool {
	d, ok := desired.(map[string]any)
	if !ok {
		return true
	}
	for k, sub := range owned {
		if len(k) < 2 || k[:2] != "f:" {
			continue
		}
		dv, found := d[k[2:]]
		if !found {
			return false
		}
		if subMap, ok := sub.(map[string]any); ok && len(subMap) > 0 {
			if !stillDesired(subMap, dv) {
				return false
			}
		}
	}
	return true
}
