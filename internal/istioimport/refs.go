// Names of input objects: every step records and reports objects by
// their ObjectRef.

package istioimport

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ObjectRef names one input object by kind, group, namespace and name.
type ObjectRef struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// String is "Kind.group namespace/name", the form kubectl takes apart from
// the slash, e.g. "ServiceEntry.networking.istio.io default/cnn".
func (r ObjectRef) String() string {
	kind := r.Kind
	if r.Group != "" {
		kind += "." + r.Group
	}
	if r.Namespace == "" {
		return kind + " " + r.Name
	}
	return kind + " " + r.Namespace + "/" + r.Name
}

// short is "Kind namespace/name", for report sentences that name the kind
// already unambiguously.
func (r ObjectRef) short() string {
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

func compareRefs(a, b ObjectRef) int {
	return strings.Compare(a.String(), b.String())
}

// istioRef names an object of Istio's networking group.
func istioRef(kind string, m metav1.Object) ObjectRef {
	return ObjectRef{Group: istioGroup, Kind: kind, Namespace: m.GetNamespace(), Name: m.GetName()}
}

// gatewayAPIRef names an object of Gateway API's group.
func gatewayAPIRef(kind string, m metav1.Object) ObjectRef {
	return ObjectRef{Group: gatewayAPIGroup, Kind: kind, Namespace: m.GetNamespace(), Name: m.GetName()}
}
