package v1

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// DefaultResources are the gateway's resources when spec.resources is unset.
func DefaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(DefaultRequestCPU),
			corev1.ResourceMemory: resource.MustParse(DefaultRequestMemory),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(DefaultLimitCPU),
			corev1.ResourceMemory: resource.MustParse(DefaultLimitMemory),
		},
	}
}

// WithDefaults returns a copy of the spec with the API's defaults filled
// in, as the API server would, for objects that did not pass through it
// (egressctl reads files). The dnsName is lowercased and loses a trailing
// dot.
func (s ExternalServiceSpec) WithDefaults() ExternalServiceSpec {
	out := *s.DeepCopy()
	out.DnsName = strings.ToLower(strings.TrimSuffix(out.DnsName, "."))
	for i := range out.Ports {
		if out.Ports[i].Protocol == nil {
			out.Ports[i].Protocol = new(ProtocolTCP)
		}
	}
	if out.MinReplicas == nil {
		out.MinReplicas = new(DefaultMinReplicas)
	}
	if out.MaxReplicas == nil {
		out.MaxReplicas = new(DefaultMaxReplicas)
	}
	if out.TargetCPUUtilizationPercentage == nil {
		out.TargetCPUUtilizationPercentage = new(DefaultTargetCPUUtilizationPercentage)
	}
	if out.Resources == nil {
		out.Resources = new(DefaultResources())
	}
	return out
}
