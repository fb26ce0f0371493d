package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults of the original egress-operator. The CRD applies them at admission
// (see the +kubebuilder:default markers, which must repeat the literals); the
// translator applies them again for objects read offline.
const (
	DefaultMinReplicas                    int32 = 3
	DefaultMaxReplicas                    int32 = 12
	DefaultTargetCPUUtilizationPercentage int32 = 50
	DefaultRequestCPU                           = "100m"
	DefaultRequestMemory                        = "50Mi"
	DefaultLimitCPU                             = "2"
	DefaultLimitMemory                          = "1Gi"

	// MaxNameLength keeps every generated name a valid DNS-1035 label and the
	// client label key "egress.monzo.com/allowed-<name>" within the 63
	// characters a label key's name part may have.
	MaxNameLength = 55
)

// Protocol is the transport of one ExternalService port.
// +kubebuilder:validation:Enum=TCP;TLS;UDP
type Protocol string

const (
	// ProtocolTCP proxies plain TCP (SSH, SFTP, databases, anything).
	ProtocolTCP Protocol = "TCP"
	// ProtocolTLS proxies TLS without terminating it, and only when the
	// client's SNI equals spec.dnsName.
	ProtocolTLS Protocol = "TLS"
	// ProtocolUDP is accepted for compatibility; Gateway API and Istio
	// gateways cannot proxy it, and a condition says so.
	ProtocolUDP Protocol = "UDP"
)

// ExternalServicePort is one port the external service is called on.
type ExternalServicePort struct {
	// Protocol is TCP (the default), TLS (TCP whose TLS SNI must equal
	// dnsName) or UDP (accepted, but no gateway can carry it).
	// +kubebuilder:default=TCP
	// +optional
	Protocol *Protocol `json:"protocol,omitempty"`

	// Port is the port number on the external host, 1-65535.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +required
	Port int32 `json:"port"`
}

// ExternalServiceSpec says which external host the cluster may reach, on
// which ports, and how the gateway in front of it runs.
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",message="minReplicas must not be greater than maxReplicas: lower minReplicas or raise maxReplicas"
type ExternalServiceSpec struct {
	// DnsName is the external host, e.g. github.com: a lowercase DNS name of
	// at least two labels, without wildcard or trailing dot.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('*')",message="dnsName must not be a wildcard: name one host, e.g. api.example.com, and create one ExternalService per host"
	// +kubebuilder:validation:XValidation:rule="!self.endsWith('.')",message="dnsName must not end with a dot: write example.com, not example.com."
	// +kubebuilder:validation:XValidation:rule="self == self.lowerAscii()",message="dnsName must be lowercase: write it in lowercase letters"
	// +kubebuilder:validation:XValidation:rule="!isIP(self)",message="dnsName must be a DNS name, not an IP address: to pin addresses, put a name in dnsName and the IPs in ipOverride"
	// +kubebuilder:validation:XValidation:rule="self.contains('.')",message="dnsName must have at least two labels, e.g. example.com; names without a dot are resolved inside the cluster"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\\\.)+[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')",message="dnsName must be a DNS name: labels of 1-63 letters, digits and '-', not starting or ending with '-', separated by single dots"
	// +required
	DnsName string `json:"dnsName"`

	// HijackDns makes the cluster's DNS answer dnsName with the gateway's
	// address once the gateway is Programmed. Defaults to false.
	// +optional
	HijackDns bool `json:"hijackDns,omitempty"`

	// Ports lists the ports the external service is called on: 1 to 16
	// entries, at most one TCP or TLS entry per port number (a UDP entry may
	// share a number with TCP or TLS).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(p, p.protocol == 'UDP' || self.filter(q, q.port == p.port && q.protocol != 'UDP').size() == 1)",message="ports must have at most one TCP or TLS entry per port number: remove the duplicate, or pick TLS or TCP for it"
	// +kubebuilder:validation:XValidation:rule="self.all(p, p.protocol != 'UDP' || self.filter(q, q.port == p.port && q.protocol == 'UDP').size() == 1)",message="ports must have at most one UDP entry per port number: remove the duplicate"
	// +listType=atomic
	// +required
	Ports []ExternalServicePort `json:"ports"`

	// MinReplicas is the minimum number of gateway pods. Defaults to 3.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// MaxReplicas is the maximum number of gateway pods the
	// HorizontalPodAutoscaler may run. Defaults to 12.
	// +kubebuilder:default=12
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`

	// TargetCPUUtilizationPercentage is the average CPU use, as a percentage
	// of the requested CPU, the autoscaler aims for: 1-100. Defaults to 50.
	// +kubebuilder:default=50
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	TargetCPUUtilizationPercentage *int32 `json:"targetCPUUtilizationPercentage,omitempty"`

	// Resources of the gateway container. Defaults to requests of 100m CPU
	// and 50Mi memory and limits of 2 CPUs and 1Gi memory.
	// +kubebuilder:default={requests:{cpu:"100m",memory:"50Mi"},limits:{cpu:"2",memory:"1Gi"}}
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// IpOverride pins the upstream addresses: the gateway connects to these
	// IPs instead of resolving dnsName. At most 16 IP addresses. Private,
	// loopback, link-local and metadata addresses are refused unless the
	// operator runs with --allow-private-ip-override.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=45
	// +kubebuilder:validation:items:XValidation:rule="isIP(self)",message="ipOverride entries must be IP addresses such as 203.0.113.10 or 2001:db8::10, without prefix length or port"
	// +listType=atomic
	// +optional
	IpOverride []string `json:"ipOverride,omitempty"`

	// EnvoyClusterMaxConnections caps the connections the gateway opens to
	// the external host (Envoy's circuit breaker). Carried as a
	// DestinationRule connection pool; without it Istio sets no practical
	// limit (4294967295), not Envoy's own default of 1024.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +optional
	EnvoyClusterMaxConnections *int64 `json:"envoyClusterMaxConnections,omitempty"`

	// EnvoyLogLevel is the gateway proxy's log level, carried as the
	// sidecar.istio.io/logLevel annotation.
	// +kubebuilder:validation:Enum=trace;debug;info;warning;warn;error;critical;off
	// +optional
	EnvoyLogLevel string `json:"envoyLogLevel,omitempty"`

	// EnvoyDnsRefreshRateS was Envoy's per-cluster dns_refresh_rate in
	// seconds. Istio sets it mesh-wide (meshConfig.dnsRefreshRate), so it has
	// no effect per ExternalService and the Accepted condition says so.
	// +kubebuilder:validation:Minimum=0
	// +optional
	EnvoyDnsRefreshRateS int64 `json:"envoyDnsRefreshRateS,omitempty"`

	// EnvoyRespectDnsTTL was Envoy's per-cluster respect_dns_ttl. Istio
	// gateways always respect DNS TTLs, so true and false behave alike.
	// +optional
	EnvoyRespectDnsTTL bool `json:"envoyRespectDnsTTL,omitempty"`

	// ServiceTopologyMode overrides the operator-wide topology mode
	// (ENABLE_SERVICE_TOPOLOGY_MODE) for this gateway's Service: its value
	// becomes the service.kubernetes.io/topology-mode annotation, e.g. "None"
	// to turn topology-aware routing off for this ExternalService.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	ServiceTopologyMode string `json:"serviceTopologyMode,omitempty"`

	// ServiceTrafficDistribution sets the gateway Service's
	// spec.trafficDistribution, e.g. PreferClose.
	// +kubebuilder:validation:Enum=PreferClose;PreferSameZone;PreferSameNode
	// +optional
	ServiceTrafficDistribution string `json:"serviceTrafficDistribution,omitempty"`

	// JsonAdminAccessLogs asked for the admin access log in JSON. Istio
	// configures access logs mesh-wide, so it has no effect per
	// ExternalService and the Accepted condition says so.
	// +optional
	JsonAdminAccessLogs bool `json:"envoyJsonAdminAccessLogs,omitempty"`

	// JsonClusterAccessLogs asked for the proxy access log in JSON. Istio
	// configures access logs mesh-wide (meshConfig.accessLogEncoding), so it
	// has no effect per ExternalService and the Accepted condition says so.
	// +optional
	JsonClusterAccessLogs bool `json:"envoyJsonClusterAccessLogs,omitempty"`
}

// ExternalServiceStatus is what the operator observed.
type ExternalServiceStatus struct {
	// ObservedGeneration is the generation of the spec last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions are Accepted, Programmed, DNSHijacked and Conflicted.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Addresses are the gateway Service's ClusterIPs, the addresses clients
	// are sent to.
	// +listType=atomic
	// +optional
	Addresses []string `json:"addresses,omitempty"`
}

// ExternalService is one external host the cluster may reach through its own
// egress gateway. Cluster-scoped: creating one takes over DNS for dnsName
// across the whole cluster.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=extsvc
// +kubebuilder:printcolumn:name="DNS Name",type=string,JSONPath=`.spec.dnsName`
// +kubebuilder:printcolumn:name="Hijack",type=boolean,JSONPath=`.spec.hijackDns`
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.status.addresses[0]`
// +kubebuilder:printcolumn:name="Programmed",type=string,JSONPath=`.status.conditions[?(@.type=="Programmed")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit"
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 55",message="metadata.name must be at most 55 characters, so that generated names and the client label egress.monzo.com/allowed-<name> stay valid"
type ExternalService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec   ExternalServiceSpec   `json:"spec"`
	Status ExternalServiceStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ExternalServiceList is a list of ExternalServices.
type ExternalServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ExternalService `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ExternalService{}, &ExternalServiceList{})
}
