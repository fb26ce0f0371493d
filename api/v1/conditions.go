package v1

// Condition types of an ExternalService. The operator writes them; the DNS
// plugin reads DNSHijacked; people and the conformance suite read them all.
const (
	// ConditionAccepted is True when the spec is valid and generated; False
	// with a reason when the operator refuses it.
	ConditionAccepted = "Accepted"
	// ConditionProgrammed is True when the Gateway is Programmed and at least
	// one gateway pod is available.
	ConditionProgrammed = "Programmed"
	// ConditionDNSHijacked is the latch the DNS plugin follows: True once the
	// ExternalService was Programmed with hijackDns, and True from then on
	// while hijackDns stays on, even if the gateway becomes unready.
	ConditionDNSHijacked = "DNSHijacked"
	// ConditionConflicted is True when an older ExternalService claims the
	// same dnsName; nothing is generated for this one.
	ConditionConflicted = "Conflicted"
)

// Condition reasons. Each condition type uses only the reasons listed under
// it; automation may switch on them, so they never change.
const (
	// Accepted.
	ReasonAccepted            = "Accepted"
	ReasonAcceptedWithIgnored = "AcceptedWithIgnoredFields" // True; the message lists fields with no effect
	ReasonInvalid             = "Invalid"                   // False; the message says what to change

	// Conflicted.
	ReasonConflicted = "DNSNameConflict" // True; the message names the owner
	ReasonNoConflict = "NoConflict"

	// Programmed.
	ReasonProgrammed           = "Programmed"
	ReasonNotGenerated         = "NotGenerated"    // not Accepted, or Conflicted
	ReasonAPINotInstalled      = "APINotInstalled" // Gateway API or Istio CRDs missing
	ReasonPending              = "Pending"         // the Gateway has no Programmed condition yet
	ReasonGatewayNotProgrammed = "GatewayNotProgrammed"
	ReasonNoAvailableReplicas  = "NoAvailableReplicas"

	// DNSHijacked.
	ReasonHijacked             = "Hijacked"
	ReasonHijackDisabled       = "HijackDisabled" // hijackDns is false
	ReasonWaitingForProgrammed = "WaitingForProgrammed"
)
