package translate

import (
	"fmt"
	"strconv"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// Options are the operator-wide settings. The zero value is not useful; start
// from DefaultOptions.
type Options struct {
	// GatewayNamespace holds every generated object.
	GatewayNamespace string `json:"gatewayNamespace,omitempty"`
	// GatewayClassName is the Gateway API class of the generated Gateways.
	GatewayClassName string `json:"gatewayClassName,omitempty"`
	// ClusterDomain is the cluster's DNS domain; dnsNames inside it are refused.
	ClusterDomain string `json:"clusterDomain,omitempty"`
	// MetricsNamespace may scrape the gateway pods on 15020 and 15090.
	// Empty means no namespace may.
	MetricsNamespace string `json:"metricsNamespace,omitempty"`
	// IstiodNamespace and IstiodSelector find istiod, which gateway pods
	// must reach on 15012 for their configuration.
	IstiodNamespace string            `json:"istiodNamespace,omitempty"`
	IstiodSelector  map[string]string `json:"istiodSelector,omitempty"`
	// DNSNamespace and DNSSelector find the cluster DNS pods gateway pods
	// resolve dnsName through.
	DNSNamespace string            `json:"dnsNamespace,omitempty"`
	DNSSelector  map[string]string `json:"dnsSelector,omitempty"`
	// AllowPrivateIPOverride lets ipOverride name private, loopback,
	// link-local and metadata addresses.
	AllowPrivateIPOverride bool `json:"allowPrivateIPOverride,omitempty"`
	// EnablePodDisruptionBudgets adds a PodDisruptionBudget (maxUnavailable
	// 25%) to every gateway.
	EnablePodDisruptionBudgets bool `json:"enablePodDisruptionBudgets,omitempty"`
	// Scheduling is the original operator's environment-driven placement.
	Scheduling Scheduling `json:"scheduling,omitempty"`
}

// Scheduling carries the egress-operator's environment variables that place
// and expose gateway pods. Empty fields add nothing.
type Scheduling struct {
	// NODE_SELECTOR_KEY / NODE_SELECTOR_VALUE
	NodeSelectorKey   string `json:"nodeSelectorKey,omitempty"`
	NodeSelectorValue string `json:"nodeSelectorValue,omitempty"`
	// TAINT_TOLERATION_KEY / TAINT_TOLERATION_VALUE
	TaintTolerationKey   string `json:"taintTolerationKey,omitempty"`
	TaintTolerationValue string `json:"taintTolerationValue,omitempty"`
	// ENABLE_POD_TOPOLOGY_SPREAD
	EnablePodTopologySpread bool `json:"enablePodTopologySpread,omitempty"`
	// POD_TOPOLOGY_ZONE_MAX_SKEW (0: no zone constraint) and its _KEY
	ZoneMaxSkew     int32  `json:"zoneMaxSkew,omitempty"`
	ZoneTopologyKey string `json:"zoneTopologyKey,omitempty"`
	// POD_TOPOLOGY_HOSTNAME_MAX_SKEW (0: no hostname constraint) and its _KEY
	HostnameMaxSkew     int32  `json:"hostnameMaxSkew,omitempty"`
	HostnameTopologyKey string `json:"hostnameTopologyKey,omitempty"`
	// ENABLE_SERVICE_TOPOLOGY_MODE
	EnableServiceTopologyMode bool `json:"enableServiceTopologyMode,omitempty"`
}

// DefaultOptions are the options of an operator started without flags or
// environment.
func DefaultOptions() Options {
	return Options{
		GatewayNamespace: egressv1.DefaultGatewayNamespace,
		GatewayClassName: "istio",
		ClusterDomain:    "cluster.local",
		MetricsNamespace: "monitoring",
		IstiodNamespace:  "istio-system",
		IstiodSelector:   map[string]string{"app": "istiod"},
		DNSNamespace:     "kube-system",
		DNSSelector:      map[string]string{"k8s-app": "kube-dns"},
		Scheduling: Scheduling{
			ZoneTopologyKey:     "topology.kubernetes.io/zone",
			HostnameTopologyKey: "kubernetes.io/hostname",
		},
	}
}

// SchedulingEnvVar is an environment variable SchedulingFromEnv reads.
type SchedulingEnvVar struct {
	Name        string
	Description string
	// Pattern is a regular expression every accepted value matches; ""
	// accepts any value.
	Pattern string
}

const (
	boolPattern = `^(true|false)?$`
	skewPattern = `^([1-9][0-9]*)?$`
)

// SchedulingEnv lists every variable SchedulingFromEnv reads, under the
// original egress-operator's names; the Helm chart's values and schema are
// generated from it.
var SchedulingEnv = []SchedulingEnvVar{
	{"NODE_SELECTOR_KEY", "label key of the nodeSelector of gateway pods (with NODE_SELECTOR_VALUE)", ""},
	{"NODE_SELECTOR_VALUE", "label value of the nodeSelector of gateway pods", ""},
	{"TAINT_TOLERATION_KEY", "taint key gateway pods tolerate (with TAINT_TOLERATION_VALUE)", ""},
	{"TAINT_TOLERATION_VALUE", "taint value gateway pods tolerate", ""},
	{"ENABLE_POD_TOPOLOGY_SPREAD", `"true" spreads gateway pods across zones and hosts`, boolPattern},
	{"ENABLE_SERVICE_TOPOLOGY_MODE", `"true" sets topology-aware routing on gateway Services`, boolPattern},
	{"POD_TOPOLOGY_ZONE_MAX_SKEW_KEY", "topology key of the zone spread (default topology.kubernetes.io/zone)", ""},
	{"POD_TOPOLOGY_HOSTNAME_MAX_SKEW_KEY", "topology key of the host spread (default kubernetes.io/hostname)", ""},
	{"POD_TOPOLOGY_ZONE_MAX_SKEW", "maxSkew of the zone spread, a whole number of at least 1", skewPattern},
	{"POD_TOPOLOGY_HOSTNAME_MAX_SKEW", "maxSkew of the host spread, a whole number of at least 1", skewPattern},
}

// SchedulingFromEnv reads the original egress-operator's environment
// variables (SchedulingEnv). lookup is os.LookupEnv in the operator and a
// map in tests.
func SchedulingFromEnv(lookup func(string) (string, bool)) (Scheduling, error) {
	s := DefaultOptions().Scheduling
	get := func(k string) string { v, _ := lookup(k); return v }
	s.NodeSelectorKey, s.NodeSelectorValue = get("NODE_SELECTOR_KEY"), get("NODE_SELECTOR_VALUE")
	s.TaintTolerationKey, s.TaintTolerationValue = get("TAINT_TOLERATION_KEY"), get("TAINT_TOLERATION_VALUE")
	s.EnablePodTopologySpread = get("ENABLE_POD_TOPOLOGY_SPREAD") == "true"
	s.EnableServiceTopologyMode = get("ENABLE_SERVICE_TOPOLOGY_MODE") == "true"
	if v := get("POD_TOPOLOGY_ZONE_MAX_SKEW_KEY"); v != "" {
		s.ZoneTopologyKey = v
	}
	if v := get("POD_TOPOLOGY_HOSTNAME_MAX_SKEW_KEY"); v != "" {
		s.HostnameTopologyKey = v
	}
	for _, skew := range []struct {
		env string
		dst *int32
	}{{"POD_TOPOLOGY_ZONE_MAX_SKEW", &s.ZoneMaxSkew}, {"POD_TOPOLOGY_HOSTNAME_MAX_SKEW", &s.HostnameMaxSkew}} {
		v := get(skew.env)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 {
			return s, fmt.Errorf("%s=%q: must be a whole number of at least 1", skew.env, v)
		}
		*skew.dst = int32(n)
	}
	return s, nil
}
