// The last step of Import: one ExternalService per host that has ports,
// named, checked through the translator as the operator would check it,
// and assembled with the report into the Result.

package istioimport

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/translate"
)

// result builds the ExternalServices and the report from what was read.
func (im *importer) result() Result {
	// The ExternalServices, one per host that has ports.
	names := im.names()
	replaced := map[string]string{} // host → ExternalService name, for hosts it fully replaces
	notReplaced := map[string]string{}
	var out []Imported
	for _, hostName := range slices.Sorted(maps.Keys(im.hosts)) {
		h := im.hosts[hostName]
		ports := im.ports(h)
		if len(ports) == 0 {
			im.notCarried.add(h.name, 0, "no ports", "no TCP or TLS port of it is known, so no ExternalService is made for it", im.objectsOf(h.name)...)
			notReplaced[h.name] = "no ExternalService was made for " + h.name
			continue
		}
		es := im.externalService(h, names[h.name], ports)
		if why := im.operatorRefusal(es); why != "" {
			im.notCarried.add(h.name, 0, "refused by the operator", fmt.Sprintf(
				"the operator would refuse ExternalService %s: %s", es.Name, why))
			notReplaced[h.name] = fmt.Sprintf("the operator would refuse ExternalService %s", es.Name)
		} else {
			replaced[h.name] = es.Name
		}
		out = append(out, Imported{ExternalService: es, From: im.objectsOf(h.name)})
	}
	slices.SortFunc(out, func(a, b Imported) int { return cmp.Compare(a.ExternalService.Name, b.ExternalService.Name) })

	rep := Report{Objects: len(im.in.all)}
	for _, imp := range out {
		rep.Clients = append(rep.Clients, im.clientStep(imp.ExternalService))
	}
	im.sortObjects(&rep, replaced, notReplaced)
	rep.NotCarried = im.notCarried.sorted()
	rep.Changed = im.changed.sorted()
	return Result{ExternalServices: out, Report: rep}
}

// names assigns an ExternalService name to every host: the name in the
// labels of objects egressgate generated for it, else one derived from
// the host, made unique with a hash when two hosts would share it.
func (im *importer) names() map[string]string {
	names := map[string]string{}
	taken := map[string]string{} // name → host
	hosts := slices.Sorted(maps.Keys(im.hosts))
	for _, h := range hosts {
		var generated []string
		for ref, name := range im.generated {
			if im.uses[ref] != nil && im.uses[ref].hosts[h] && !slices.Contains(generated, name) {
				generated = append(generated, name)
			}
		}
		if len(generated) == 0 {
			continue
		}
		slices.Sort(generated)
		names[h], taken[generated[0]] = generated[0], h
		if len(generated) > 1 {
			im.changed.add(h, 0, "several names", fmt.Sprintf(
				"objects generated for ExternalServices %s all carry %s; only %s is made, since one dnsName has one owner",
				strings.Join(generated, ", "), h, generated[0]))
		}
	}
	for _, h := range hosts {
		if names[h] != "" {
			continue
		}
		name := NameForHost(h)
		if other, clash := taken[name]; clash && other != h {
			name = NameWithHash(name, h)
		}
		names[h], taken[name] = name, h
	}
	return names
}

// externalService builds the ExternalService of h.
func (im *importer) externalService(h *hostState, name string, ports []egressv1.ExternalServicePort) *egressv1.ExternalService {
	es := &egressv1.ExternalService{
		TypeMeta:   metav1.TypeMeta{APIVersion: egressv1.GroupVersion.String(), Kind: "ExternalService"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: egressv1.ExternalServiceSpec{
			DnsName:                    h.name,
			HijackDns:                  im.opts.HijackDNS,
			Ports:                      ports,
			EnvoyClusterMaxConnections: h.maxConnections,
		},
	}
	ips := slices.Compact(slices.Clone(h.ips))
	if len(ips) > maxPorts {
		im.notCarried.add(h.name, 0, "too many addresses", fmt.Sprintf(
			"an ExternalService pins at most %d addresses; %s and later are left out", maxPorts, ips[maxPorts]), h.ipsFrom...)
		ips = ips[:maxPorts]
	}
	es.Spec.IpOverride = ips
	im.applySettings(es, h)
	return es
}

// operatorRefusal runs es through the translator as the operator would and
// returns why it would not be Accepted, or "".
func (im *importer) operatorRefusal(es *egressv1.ExternalService) string {
	res := translate.Translate(es, im.opts.Operator, translate.Observed{})
	for _, c := range res.Conditions {
		if c.Type == egressv1.ConditionAccepted && c.Status != metav1.ConditionTrue {
			return c.Message
		}
	}
	return ""
}
