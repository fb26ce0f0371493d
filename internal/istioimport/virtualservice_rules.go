// A VirtualService's http, tls and tcp rules reduced to what import
// reads, with what each rule does that an ExternalService cannot.

package istioimport

import (
	"fmt"
	"slices"
	"strings"

	istioapi "istio.io/api/networking/v1alpha3"
)

// vsRule is one http, tls or tcp rule of a VirtualService, reduced to what
// import reads.
type vsRule struct {
	protocol     protocol
	matches      []vsMatch
	destinations []*istioapi.Destination
	losses       []loss
}

type vsMatch struct {
	gateways        []string
	port            int32
	sniHosts        []string
	sourceLabels    map[string]string
	sourceNamespace string
}

func vsRules(spec *istioapi.VirtualService) []vsRule {
	var rules []vsRule
	for _, r := range spec.Http {
		rules = append(rules, httpRule(r))
	}
	for _, r := range spec.Tls {
		rule := vsRule{protocol: protoTLS}
		for _, m := range r.Match {
			rule.matches = append(rule.matches, vsMatch{m.Gateways, int32(m.Port), m.SniHosts, m.SourceLabels, m.SourceNamespace})
			rule.losses = append(rule.losses, subnetLosses(m.DestinationSubnets, "")...)
		}
		for _, d := range r.Route {
			rule.destinations = append(rule.destinations, d.Destination)
		}
		rule.losses = append(rule.losses, splitLoss(len(r.Route))...)
		rules = append(rules, rule)
	}
	for _, r := range spec.Tcp {
		rule := vsRule{protocol: protoTCP}
		for _, m := range r.Match {
			rule.matches = append(rule.matches, vsMatch{m.Gateways, int32(m.Port), nil, m.SourceLabels, m.SourceNamespace})
			rule.losses = append(rule.losses, subnetLosses(m.DestinationSubnets, m.SourceSubnet)...)
		}
		for _, d := range r.Route {
			rule.destinations = append(rule.destinations, d.Destination)
		}
		rule.losses = append(rule.losses, splitLoss(len(r.Route))...)
		rules = append(rules, rule)
	}
	return rules
}

func subnetLosses(destination []string, source string) []loss {
	var losses []loss
	if len(destination) > 0 {
		losses = append(losses, loss{"client addresses", fmt.Sprintf(
			"the route matched the addresses clients dialled (destinationSubnets %s); egressgate routes by DNS name, so change the clients to call the host name", strings.Join(destination, ", "))})
	}
	if source != "" {
		losses = append(losses, loss{"source subnet", fmt.Sprintf(
			"the route matched clients from %s; an ExternalService admits clients by label: label those pods instead", source)})
	}
	return losses
}

func splitLoss(destinations int) []loss {
	if destinations < 2 {
		return nil
	}
	return []loss{{"traffic split", fmt.Sprintf(
		"the route split traffic between %d destinations; an ExternalService sends everything to its one host", destinations)}}
}

// httpRule reduces an HTTP rule and lists the HTTP features it uses, none
// of which a TCP or TLS passthrough gateway has.
func httpRule(r *istioapi.HTTPRoute) vsRule {
	rule := vsRule{protocol: protoHTTP}
	var routing []string
	for _, m := range r.Match {
		rule.matches = append(rule.matches, vsMatch{m.Gateways, int32(m.Port), nil, m.SourceLabels, m.SourceNamespace})
		for what, set := range map[string]bool{
			"uri": m.Uri != nil, "scheme": m.Scheme != nil, "method": m.Method != nil, "authority": m.Authority != nil,
			"headers": len(m.Headers) > 0, "queryParams": len(m.QueryParams) > 0, "withoutHeaders": len(m.WithoutHeaders) > 0,
		} {
			if set && !slices.Contains(routing, what) {
				routing = append(routing, what)
			}
		}
	}
	if len(routing) > 0 {
		slices.Sort(routing)
		rule.losses = append(rule.losses, loss{"HTTP routing", fmt.Sprintf(
			"the route matched requests by %s; an ExternalService's gateway proxies whole connections, so every request to the host is now allowed: restrict paths in the client or the host if that mattered", strings.Join(routing, ", "))})
	}
	headerChanges := r.Headers != nil
	for _, d := range r.Route {
		rule.destinations = append(rule.destinations, d.Destination)
		headerChanges = headerChanges || d.Headers != nil
	}
	rule.losses = append(rule.losses, splitLoss(len(r.Route))...)
	if r.Fault != nil {
		var what []string
		if r.Fault.Delay != nil {
			what = append(what, "delays")
		}
		if r.Fault.Abort != nil {
			what = append(what, "aborts")
		}
		rule.losses = append(rule.losses, loss{"fault injection", fmt.Sprintf(
			"Istio injected %s into requests; the gateway does not read requests and injects nothing: use a chaos tool or test double if you still need it", strings.Join(what, " and "))})
	}
	if r.Retries != nil {
		rule.losses = append(rule.losses, loss{"retries", fmt.Sprintf(
			"Istio retried failed requests (attempts %d, retryOn %q); the gateway does not read requests, so clients must retry themselves", r.Retries.Attempts, r.Retries.RetryOn)})
	}
	if r.Timeout != nil {
		rule.losses = append(rule.losses, loss{"timeout", fmt.Sprintf(
			"Istio timed requests out after %s; clients must set their own timeout", r.Timeout.AsDuration())})
	}
	for _, f := range []struct {
		set          bool
		reason, what string
	}{
		{r.Rewrite != nil, "rewrite", "Istio rewrote the request's path or authority: clients must send what the host expects"},
		{r.Redirect != nil || r.DirectResponse != nil, "answered by Istio", "Istio answered some requests itself (redirect or direct response); the gateway passes every request to the host"},
		{r.Delegate != nil, "delegation", "the route delegated to another VirtualService, which import does not follow: import that one too"},
		{r.Mirror != nil || len(r.Mirrors) > 0, "mirroring", "Istio copied requests to another destination; nothing is mirrored now"},
		{r.CorsPolicy != nil, "CORS", "Istio answered CORS preflight requests; the host's own CORS headers reach clients now"},
		{headerChanges, "header changes", "Istio added or removed request or response headers; clients must set what the host needs"},
	} {
		if f.set {
			rule.losses = append(rule.losses, loss{f.reason, f.what})
		}
	}
	return rule
}
