// Package kubescheme knows every kind egressgate reads or writes: the
// built-in kinds, ExternalService, Gateway API's and Istio's networking
// kinds. The operator, the local cluster, the test API servers and the
// conformance suite build their clients from it. It holds no logic.
package kubescheme

import (
	"fmt"

	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// New returns a scheme with every kind egressgate reads or writes.
func New() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, egressv1.AddToScheme, gwapiv1.Install, istionetworking.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	return s, nil
}
