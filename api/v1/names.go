package v1

import "fmt"

// DefaultGatewayNamespace holds every generated object unless the operator
// (--gateway-namespace) and the DNS plugin (its Corefile line) are told
// otherwise. Both must name the same namespace.
const DefaultGatewayNamespace = "egress-operator-system"

// Labels and annotations the operator writes and the DNS plugin, the
// conformance suite and people's own policies read. The keys are kept from
// the original egress-operator where it had them.
const (
	// LabelManagedBy is set to ManagedByValue on every generated object.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedByValue = "egressgate"
	// LabelExternalService names the ExternalService a generated object
	// belongs to.
	LabelExternalService = "egress.monzo.com/external-service"
	// LabelGatewayName is how Gateway API implementations (Istio included)
	// label a Gateway's Deployment, Service and pods. The operator finds the
	// gateway's Deployment and Service by it; the DNS plugin finds gateway
	// pods by it, and answers their queries with the real address.
	LabelGatewayName = "gateway.networking.k8s.io/gateway-name"
	// LabelGateway and LabelApp (value AppValue) are the gateway pod labels of
	// the original egress-operator, kept for existing policies and dashboards.
	LabelGateway = "egress.monzo.com/gateway"
	LabelApp     = "app"
	AppValue     = "egress-gateway"

	// AnnotationAppliedHash holds a hash of what the operator last applied to
	// a generated object, so it can tell drift without managedFields.
	AnnotationAppliedHash = "egress.monzo.com/applied-hash"

	// Finalizer holds an ExternalService until its gateway is gone, so its
	// NetworkPolicies outlive every gateway pod.
	Finalizer = "egress.monzo.com/gateway-before-policies"
)

// Annotations `egressctl dns enable` puts on the cluster's CoreDNS objects,
// so that `egressctl dns disable` puts back exactly what was there and
// `egressctl dns status` can tell egressgate's CoreDNS image from another.
const (
	// AnnotationOriginalCorefile, on the CoreDNS ConfigMap, holds the
	// Corefile as it was before the egressoperator line was added.
	AnnotationOriginalCorefile = "egress.monzo.com/original-corefile"
	// AnnotationOriginalImage, on the CoreDNS Deployment, holds the CoreDNS
	// container's image before egressgate's CoreDNS replaced it.
	AnnotationOriginalImage = "egress.monzo.com/original-image"
	// AnnotationCoreDNSImage, on the CoreDNS Deployment, is the egressgate
	// CoreDNS image enable set.
	AnnotationCoreDNSImage = "egress.monzo.com/coredns-image"
	// AnnotationSnapshotVolume, on the CoreDNS Deployment, names the
	// emptyDir volume enable added for the plugin's snapshot file.
	AnnotationSnapshotVolume = "egress.monzo.com/snapshot-volume"
)

// AllowedLabel is the label a client pod needs to reach the gateway of the
// ExternalService called name; its value must be "true".
func AllowedLabel(name string) string { return "egress.monzo.com/allowed-" + name }

// Names of the generated objects, all in the gateway namespace. The Gateway
// and the ServiceEntry carry the ExternalService's own name; the
// NetworkPolicies are <name>-ingress and <name>-egress.

// RouteName is the name of the TLSRoute or TCPRoute of one port.
func RouteName(esName string, port int32) string { return fmt.Sprintf("%s-%d", esName, port) }

// OptionsConfigMapName is the ConfigMap of gateway customizations the
// Gateway's infrastructure.parametersRef names.
func OptionsConfigMapName(esName string) string { return esName + "-options" }

// IngressPolicyName and EgressPolicyName are the gateway's NetworkPolicies.
func IngressPolicyName(esName string) string { return esName + "-ingress" }
func EgressPolicyName(esName string) string  { return esName + "-egress" }
