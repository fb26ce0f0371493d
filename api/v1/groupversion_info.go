// Package v1 is the egress.monzo.com/v1 API: the cluster-scoped
// ExternalService. It is the input of the whole data flow: the controller
// translates it into a gateway, the DNS plugin reads its status.
// +kubebuilder:object:generate=true
// +groupName=egress.monzo.com
package v1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of ExternalService.
	GroupVersion = schema.GroupVersion{Group: "egress.monzo.com", Version: "v1"}

	// SchemeBuilder registers the types of this package.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
