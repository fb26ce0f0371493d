package translate

import "flag"

// AddFlags registers every operator-wide option as a command-line flag on
// fs, with o's current values as defaults. egress-operator and
// `egressctl translate` both call it, so the two cannot drift apart; the
// scheduling options come from the environment instead (SchedulingFromEnv),
// under the original egress-operator's variable names.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.GatewayNamespace, "gateway-namespace", o.GatewayNamespace, "namespace of the generated gateways and their NetworkPolicies")
	fs.StringVar(&o.GatewayClassName, "gateway-class", o.GatewayClassName, "GatewayClass of the generated Gateways")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "the cluster's DNS domain; dnsNames inside it are refused")
	fs.StringVar(&o.MetricsNamespace, "metrics-namespace", o.MetricsNamespace, "namespace allowed to scrape gateway pods on 15020 and 15090 (empty: none)")
	fs.StringVar(&o.IstiodNamespace, "istiod-namespace", o.IstiodNamespace, "namespace of istiod, which gateway pods reach on 15012")
	fs.StringVar(&o.DNSNamespace, "dns-namespace", o.DNSNamespace, "namespace of the cluster DNS pods (label k8s-app=kube-dns) gateway pods resolve through")
	fs.BoolVar(&o.EnablePodDisruptionBudgets, "enable-pod-disruption-budgets", o.EnablePodDisruptionBudgets, "give every gateway a PodDisruptionBudget with maxUnavailable 25%")
	fs.BoolVar(&o.AllowPrivateIPOverride, "allow-private-ip-override", o.AllowPrivateIPOverride, "let ipOverride name private, loopback, link-local and metadata addresses")
}
