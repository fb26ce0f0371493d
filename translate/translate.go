package translate

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// Observed is what the controller saw in the cluster on this pass. The
// translator never looks anything up itself.
type Observed struct {
	// ConflictsWith names the older ExternalService that owns this dnsName,
	// or is empty when this one is the owner (see Winner).
	ConflictsWith string `json:"conflictsWith,omitempty"`
	// Gateway is the Programmed condition of the generated Gateway, nil
	// while the gateway controller has not reported one for this generation.
	Gateway *metav1.Condition `json:"gateway,omitempty"`
	// AvailableReplicas of the gateway Deployment Istio created.
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`
	// Addresses are the ClusterIPs of the gateway Service Istio created.
	Addresses []string `json:"addresses,omitempty"`
	// MissingAPIs names the kinds this cluster does not serve, e.g.
	// "ServiceEntry.networking.istio.io/v1".
	MissingAPIs []string `json:"missingAPIs,omitempty"`
	// DNSHijacked is the latch from the previous pass: whether the
	// ExternalService's status already says DNSHijacked=True. Once set it
	// holds while hijackDns stays on, so a gateway that becomes unready
	// fails closed instead of sending clients to the real address.
	DNSHijacked bool `json:"dnsHijacked,omitempty"`
}

// Result is everything the controller needs to write.
type Result struct {
	// Objects are the desired children, in the order they must be applied:
	// NetworkPolicies first, so a gateway is never open to every pod.
	Objects []client.Object
	// Conditions for status; one of each type, sorted by type.
	Conditions []metav1.Condition
	// Addresses for status.addresses.
	Addresses []string
}

// Translate computes the desired children and the status of es. It reads
// es's metadata and spec (never its status: what an earlier pass wrote
// arrives in observed), opts and observed, and changes none of them.
func Translate(es *egressv1.ExternalService, opts Options, observed Observed) Result {
	t := &translation{es: es, spec: es.Spec.WithDefaults(), opts: opts, observed: observed}
	var res Result

	invalid := t.validate()
	ignored := t.ignoredFields()
	conflicted := observed.ConflictsWith != ""
	generate := invalid == nil && !conflicted

	if generate {
		res.Objects = t.objects()
		res.Addresses = slices.Clone(observed.Addresses)
	}
	res.Conditions = t.conditions(invalid, ignored, generate)
	return res
}

type translation struct {
	es       *egressv1.ExternalService
	spec     egressv1.ExternalServiceSpec
	opts     Options
	observed Observed
}

// objects lists the children in apply order.
func (t *translation) objects() []client.Object {
	objs := []client.Object{t.ingressPolicy(), t.egressPolicy(), t.gatewayOptions(), t.serviceEntry()}
	if dr := t.destinationRule(); dr != nil {
		objs = append(objs, dr)
	}
	objs = append(objs, t.gateway())
	objs = append(objs, t.routes()...)
	return objs
}

// meta is the ObjectMeta every child starts from.
func (t *translation) meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: t.opts.GatewayNamespace,
		Labels: map[string]string{
			egressv1.LabelManagedBy:       egressv1.ManagedByValue,
			egressv1.LabelExternalService: t.es.Name,
		},
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion:         egressv1.GroupVersion.String(),
			Kind:               "ExternalService",
			Name:               t.es.Name,
			UID:                t.es.UID,
			Controller:         new(true),
			BlockOwnerDeletion: new(true),
		}},
	}
}

// proxiedPorts are the TCP and TLS ports, sorted by number: the ones a
// gateway listens on.
func (t *translation) proxiedPorts() []egressv1.ExternalServicePort {
	var ports []egressv1.ExternalServicePort
	for _, p := range t.spec.Ports {
		if *p.Protocol != egressv1.ProtocolUDP {
			ports = append(ports, p)
		}
	}
	slices.SortFunc(ports, func(a, b egressv1.ExternalServicePort) int { return cmp.Compare(a.Port, b.Port) })
	return ports
}

// validate returns what admission could not check, joined, or nil.
func (t *translation) validate() error {
	var errs []error
	name := strings.ToLower(t.spec.DnsName)
	if domain := strings.Trim(strings.ToLower(t.opts.ClusterDomain), "."); domain != "" &&
		(name == domain || strings.HasSuffix(name, "."+domain)) {
		errs = append(errs, fmt.Errorf("dnsName %s is inside the cluster domain %s: egress gateways are for hosts outside the cluster; reach in-cluster Services directly", t.spec.DnsName, domain))
	}
	if !t.opts.AllowPrivateIPOverride {
		for _, ip := range t.spec.IpOverride {
			if why := nonPublic(ip); why != "" {
				errs = append(errs, fmt.Errorf("ipOverride %s is a %s address: name public addresses only, or run the operator with --allow-private-ip-override", ip, why))
			}
		}
	}
	if len(t.proxiedPorts()) == 0 {
		errs = append(errs, errors.New("ports has only UDP entries: a gateway needs at least one TCP or TLS port, because Gateway API and Istio gateways cannot proxy UDP"))
	}
	return errors.Join(errs...)
}

// ignoredFields lists, in field order, what Istio cannot honour per gateway.
func (t *translation) ignoredFields() []string {
	var ignored []string
	s := t.spec
	if s.EnvoyDnsRefreshRateS != 0 {
		ignored = append(ignored, "envoyDnsRefreshRateS (Istio sets the DNS refresh rate mesh-wide in meshConfig.dnsRefreshRate)")
	}
	if s.JsonAdminAccessLogs {
		ignored = append(ignored, "envoyJsonAdminAccessLogs (Istio configures admin logging mesh-wide)")
	}
	if s.JsonClusterAccessLogs {
		ignored = append(ignored, "envoyJsonClusterAccessLogs (Istio sets the access log format mesh-wide in meshConfig.accessLogEncoding)")
	}
	if s.EnvoyClusterMaxConnections != nil && *s.EnvoyClusterMaxConnections > maxInt32 {
		ignored = append(ignored, fmt.Sprintf("envoyClusterMaxConnections above %d (Istio's limit; %d is used)", maxInt32, maxInt32))
	}
	for _, p := range s.Ports {
		if *p.Protocol == egressv1.ProtocolUDP {
			ignored = append(ignored, fmt.Sprintf("port %d/UDP (gateways cannot proxy UDP)", p.Port))
		}
	}
	return ignored
}

const maxInt32 = 1<<31 - 1

func (t *translation) conditions(invalid error, ignored []string, generate bool) []metav1.Condition {
	gen := t.es.Generation
	cond := func(typ string, ok bool, reason, msg string) metav1.Condition {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen}
	}

	var accepted metav1.Condition
	switch {
	case invalid != nil:
		accepted = cond(egressv1.ConditionAccepted, false, egressv1.ReasonInvalid, strings.ReplaceAll(invalid.Error(), "\n", "; "))
	case len(ignored) > 0:
		accepted = cond(egressv1.ConditionAccepted, true, egressv1.ReasonAcceptedWithIgnored, "accepted; these have no effect: "+strings.Join(ignored, "; "))
	default:
		accepted = cond(egressv1.ConditionAccepted, true, egressv1.ReasonAccepted, "accepted")
	}

	conflicted := cond(egressv1.ConditionConflicted, false, egressv1.ReasonNoConflict, "no older ExternalService claims "+t.spec.DnsName)
	if c := t.observed.ConflictsWith; c != "" {
		conflicted = cond(egressv1.ConditionConflicted, true, egressv1.ReasonConflicted,
			fmt.Sprintf("dnsName %s is already claimed by the older ExternalService %s; nothing is generated for this one: delete one of them or change dnsName", t.spec.DnsName, c))
	}

	programmed := t.programmed(cond, generate)

	hijack := cond(egressv1.ConditionDNSHijacked, false, egressv1.ReasonHijackDisabled, "hijackDns is false: DNS answers "+t.spec.DnsName+" with its real address")
	if t.spec.HijackDns {
		// The latch (see Observed.DNSHijacked).
		if t.observed.DNSHijacked || programmed.Status == metav1.ConditionTrue {
			hijack = cond(egressv1.ConditionDNSHijacked, true, egressv1.ReasonHijacked, "DNS answers "+t.spec.DnsName+" with the gateway address")
		} else {
			hijack = cond(egressv1.ConditionDNSHijacked, false, egressv1.ReasonWaitingForProgrammed, "DNS is hijacked once the gateway is Programmed")
		}
	}

	return []metav1.Condition{accepted, conflicted, hijack, programmed}
}

func (t *translation) programmed(cond func(string, bool, string, string) metav1.Condition, generate bool) metav1.Condition {
	const typ = egressv1.ConditionProgrammed
	o := t.observed
	gw := t.opts.GatewayNamespace + "/" + t.es.Name
	switch {
	case !generate:
		return cond(typ, false, egressv1.ReasonNotGenerated, "no gateway is generated: see the Accepted and Conflicted conditions")
	case len(o.MissingAPIs) > 0:
		return cond(typ, false, egressv1.ReasonAPINotInstalled, "the cluster does not serve "+strings.Join(o.MissingAPIs, ", ")+": install Gateway API's standard channel and Istio's CRDs")
	case o.Gateway == nil:
		return cond(typ, false, egressv1.ReasonPending, fmt.Sprintf("waiting for the %s gateway controller to program Gateway %s", t.opts.GatewayClassName, gw))
	case o.Gateway.Status != metav1.ConditionTrue:
		return cond(typ, false, egressv1.ReasonGatewayNotProgrammed, fmt.Sprintf("Gateway %s is not Programmed: %s: %s", gw, o.Gateway.Reason, o.Gateway.Message))
	case o.AvailableReplicas < 1:
		return cond(typ, false, egressv1.ReasonNoAvailableReplicas, fmt.Sprintf("Gateway %s is Programmed but no gateway pod is available yet", gw))
	default:
		return cond(typ, true, egressv1.ReasonProgrammed, fmt.Sprintf("Gateway %s is Programmed and has an available pod", gw))
	}
}
