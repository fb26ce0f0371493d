// Who calls each host: read steps record client scopes (route source
// labels, ServiceEntry exports, Sidecars), and clientStep turns them into
// the report's step that labels the client pods.

package istioimport

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// clientScope describes pods that called a host, for the label step.
type clientScope struct {
	// specific is true when it names pod labels or one Sidecar's pods,
	// rather than everything a ServiceEntry was visible to.
	specific bool
	// who are the pods; source is the object and field that says so.
	who, source string
}

func labelsText(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}

// sourceScope is the scope of a route's sourceLabels and sourceNamespace,
// or nil when it sets neither.
func sourceScope(labels map[string]string, namespace string, ref ObjectRef) []clientScope {
	switch {
	case len(labels) > 0 && namespace != "":
		return []clientScope{{true, fmt.Sprintf("pods labelled %s in namespace %s", labelsText(labels), namespace), ref.short() + " sourceLabels"}}
	case len(labels) > 0:
		return []clientScope{{true, fmt.Sprintf("pods labelled %s, in any namespace that sees %s", labelsText(labels), ref.short()), "its sourceLabels"}}
	case namespace != "":
		return []clientScope{{true, "pods in namespace " + namespace, ref.short() + " sourceNamespace"}}
	}
	return nil
}

// clientStep says who needs the client label of es.
func (im *importer) clientStep(es *egressv1.ExternalService) ClientStep {
	step := ClientStep{ExternalService: es.Name, Host: es.Spec.DnsName, Label: egressv1.AllowedLabel(es.Name)}
	for _, ref := range im.objectsOf(es.Spec.DnsName) {
		if im.generated[ref] == es.Name {
			step.Who = []string{"the pods that already carry it: the objects egressgate generated for " + es.Name + " admitted only them; nothing to change"}
			return step
		}
	}
	// The specific scopes (labels, Sidecars) when there are any, else what
	// the ServiceEntries were visible to; one line per group of pods,
	// naming every object that says so.
	h := im.hosts[es.Spec.DnsName]
	specific := slices.ContainsFunc(h.clients, func(c clientScope) bool { return c.specific })
	var who []string
	sources := map[string][]string{}
	for _, c := range h.clients {
		if c.specific != specific {
			continue
		}
		if _, ok := sources[c.who]; !ok {
			who = append(who, c.who)
		}
		if !slices.Contains(sources[c.who], c.source) {
			sources[c.who] = append(sources[c.who], c.source)
		}
	}
	for _, w := range who {
		step.Who = append(step.Who, w+" ("+strings.Join(sources[w], "; ")+")")
	}
	if len(step.Who) == 0 {
		step.Who = []string{"every pod that calls " + es.Spec.DnsName}
	}
	return step
}
