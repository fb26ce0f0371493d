package istioimport

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// readSidecars finds the Sidecars whose egress hosts name an imported
// host: the pods they select are clients of it.
func (im *importer) readSidecars() {
	for _, sc := range im.in.sidecars {
		ref := istioRef("Sidecar", sc)
		var named []string
		for _, eg := range sc.Spec.Egress {
			for _, entry := range eg.Hosts {
				nsPart, pattern := stripNamespace(strings.ToLower(entry))
				if pattern == "*" || pattern == "" {
					continue // every host: says nothing about who calls which
				}
				for _, h := range slices.Sorted(maps.Keys(im.hosts)) {
					if !hostMatches(pattern, h) || !im.hosts[h].visibleAs(nsPart, sc.Namespace) {
						continue
					}
					im.hosts[h].clients = append(im.hosts[h].clients, sidecarScope(sc.Spec.WorkloadSelector.GetLabels(), sc.Namespace, entry, ref))
					named = append(named, h)
				}
			}
		}
		if len(named) == 0 {
			im.ignore(ref, "its egress hosts name no imported host")
			continue
		}
		im.keep[ref] = fmt.Sprintf(
			"read for client labels only; its pods' sidecars must also reach the gateways in namespace %s: add %s/* to its egress hosts",
			im.opts.Operator.GatewayNamespace, im.opts.Operator.GatewayNamespace)
	}
}

// visibleAs says whether a Sidecar egress host's namespace part ("*", ".",
// "~" or a namespace) covers where h is declared.
func (h *hostState) visibleAs(nsPart, sidecarNamespace string) bool {
	switch nsPart {
	case "*", "":
		return true
	case "~":
		return false
	case ".":
		nsPart = sidecarNamespace
	}
	return len(h.declaredIn) == 0 || h.declaredIn[nsPart]
}

func sidecarScope(labels map[string]string, ns, entry string, ref ObjectRef) clientScope {
	if len(labels) == 0 {
		return clientScope{true, "every pod in namespace " + ns, ref.short() + " lists " + entry}
	}
	return clientScope{true, fmt.Sprintf("pods labelled %s in namespace %s", labelsText(labels), ns), ref.short() + " lists " + entry}
}
