package suite

import (
	"slices"
	"sort"
)

// Feature is one capability an implementation of egress.monzo.com/v1 may
// claim. A test runs only when every feature it names is claimed.
type Feature string

// Core: the API itself.
const (
	// FeatureExternalService: ExternalServices are reconciled into
	// gateways, with correct status, updates, repair and clean deletion.
	FeatureExternalService Feature = "ExternalService"
	// FeatureAdmissionValidation: invalid ExternalServices are refused by
	// the API server with a message that says what to change.
	FeatureAdmissionValidation Feature = "AdmissionValidation"
)

// DNS: the cluster's DNS server answers dnsNames with gateway addresses.
const (
	// FeatureDNSHijack: hijacked names answer the gateway address.
	FeatureDNSHijack Feature = "DNSHijack"
	// FeatureDNSQueryFromPodIP: the harness can send a DNS query from a
	// gateway pod's own IP, to see the gateway gets the real answer.
	FeatureDNSQueryFromPodIP Feature = "DNSQueryFromPodIP"
)

// Policy: NetworkPolicies restrict who reaches a gateway and where a gateway goes.
const (
	// FeatureNetworkPolicy: the generated NetworkPolicies, read from the
	// cluster, admit exactly the labelled clients and external ports.
	FeatureNetworkPolicy Feature = "NetworkPolicy"
)

// Istio: the gateway is built by Istio through Gateway API.
const (
	// FeatureIstioGateway: istiod accepts every generated object and
	// deploys the gateway with the ExternalService's settings.
	FeatureIstioGateway Feature = "IstioGateway"
)

// EnvoyConfig: what each gateway's Envoy would do, read from the
// configuration istiod computes for it (xDS), without live traffic.
const (
	// FeatureGatewayEnvoyConfig: the suite reaches istiod's plaintext xDS
	// port (the harness's address, or a port-forward to an istiod pod) and
	// reads the configuration of every gateway pod, and of a sidecar, as
	// their proxies would.
	FeatureGatewayEnvoyConfig Feature = "GatewayEnvoyConfig"
)

// Resilience: behaviour under control-plane trouble. Only a harness that
// controls the control plane can claim these.
const (
	// FeatureAPIServerOutage: the harness can stop and start the API server.
	FeatureAPIServerOutage Feature = "APIServerOutage"
	// FeatureOperatorRestart: the harness can restart the operator and
	// count the writes it makes.
	FeatureOperatorRestart Feature = "OperatorRestart"
	// FeatureLeaderElection: the operator runs two replicas under leader
	// election and the harness can kill the leader.
	FeatureLeaderElection Feature = "LeaderElection"
)

// DataPlane: real bytes through a real Envoy.
const (
	// FeatureDataPlaneTLS: a client pod reaches an external host over TLS
	// through the gateway. Needs a CNI and Envoy.
	FeatureDataPlaneTLS Feature = "DataPlaneTLS"
	// FeatureDataPlaneSSH: the same over SSH (plain TCP).
	FeatureDataPlaneSSH Feature = "DataPlaneSSH"
)

// ProfileName names a group of features.
type ProfileName string

// The profiles, in report order.
const (
	ProfileCore        ProfileName = "Core"
	ProfileDNS         ProfileName = "DNS"
	ProfilePolicy      ProfileName = "Policy"
	ProfileIstio       ProfileName = "Istio"
	ProfileEnvoyConfig ProfileName = "EnvoyConfig"
	ProfileResilience  ProfileName = "Resilience"
	ProfileDataPlane   ProfileName = "DataPlane"
)

// Profiles lists each profile's features.
var Profiles = map[ProfileName][]Feature{
	ProfileCore:        {FeatureExternalService, FeatureAdmissionValidation},
	ProfileDNS:         {FeatureDNSHijack, FeatureDNSQueryFromPodIP},
	ProfilePolicy:      {FeatureNetworkPolicy},
	ProfileIstio:       {FeatureIstioGateway},
	ProfileEnvoyConfig: {FeatureGatewayEnvoyConfig},
	ProfileResilience:  {FeatureAPIServerOutage, FeatureOperatorRestart, FeatureLeaderElection},
	ProfileDataPlane:   {FeatureDataPlaneTLS, FeatureDataPlaneSSH},
}

// AllProfiles lists every profile in report order.
var AllProfiles = []ProfileName{ProfileCore, ProfileDNS, ProfilePolicy, ProfileIstio, ProfileEnvoyConfig, ProfileResilience, ProfileDataPlane}

// FeatureSet is a set of features.
type FeatureSet map[Feature]bool

// NewFeatureSet makes a set of the features.
func NewFeatureSet(features ...Feature) FeatureSet {
	s := FeatureSet{}
	for _, f := range features {
		s[f] = true
	}
	return s
}

// Missing lists, sorted, the features not in the set.
func (s FeatureSet) Missing(features []Feature) []Feature {
	var missing []Feature
	for _, f := range features {
		if !s[f] {
			missing = append(missing, f)
		}
	}
	slices.Sort(missing)
	return missing
}

// Sorted lists the set's features in order.
func (s FeatureSet) Sorted() []Feature {
	var out []Feature
	for f := range s {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ProfileOf is the profile a feature belongs to.
func ProfileOf(f Feature) ProfileName {
	for p, fs := range Profiles {
		if slices.Contains(fs, f) {
			return p
		}
	}
	return ""
}
