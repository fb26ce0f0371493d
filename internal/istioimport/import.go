// Package istioimport turns Istio egress configuration into the
// ExternalServices that replace it. It is translate run backwards: where
// translate turns one ExternalService into a Gateway, routes, a
// ServiceEntry and the rest, this package reads such objects (Istio's
// ServiceEntries, egress Gateways, VirtualServices, DestinationRules and
// Sidecars; Gateway API Gateways and TLS/TCP/HTTP routes; ExternalName
// Services; and the objects egressgate itself generated) and returns one
// ExternalService per external host, with a migration report of what could
// not be carried over and what to do next.
//
// `egressctl import` decodes files and calls Import; the package is pure:
// no client, no context, no clock, no I/O.
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

// Options change what Import produces.
type Options struct {
	// HijackDNS is the hijackDns of every ExternalService. Istio's sidecars
	// caught calls to the real host name; egressgate sends them to the
	// gateway through DNS, so this is true unless clients will be
	// pointed at the gateway some other way.
	HijackDNS bool
	// Operator are the settings of the operator that will run the
	// ExternalServices: its cluster domain marks hosts as in-cluster, and
	// each ExternalService is checked against them as the operator would.
	Operator translate.Options
}

// DefaultOptions hijack DNS and assume an operator with default settings.
func DefaultOptions() Options {
	return Options{HijackDNS: true, Operator: translate.DefaultOptions()}
}

// Object is one input object as decoded from YAML or JSON.
type Object struct {
	// Source names where it was read, e.g. a file name, for errors.
	Source string
	// Doc is the object.
	Doc map[string]any
}

// Imported is one ExternalService and the input objects it was made from.
type Imported struct {
	ExternalService *egressv1.ExternalService
	From            []ObjectRef
}

// Result is the ExternalServices, sorted by name, and the report.
type Result struct {
	ExternalServices []Imported
	Report           Report
}

// Import reads objects and returns the ExternalServices that replace them.
// It fails only for input it cannot read (an unknown version of a known
// kind, a malformed spec); everything it can read but not carry over is in
// the report.
func Import(objects []Object, opts Options) (Result, error) {
	in, err := decode(objects)
	if err != nil {
		return Result{}, err
	}
	im := newImporter(in, opts)
	im.readServiceEntries()
	im.readExternalNameServices()
	im.readVirtualServices()
	im.readIstioGateways()
	im.readGatewayAPIRoutes()
	im.join()
	im.readDestinationRules()
	im.readGatewayServiceRules()
	im.readGatewayCustomizations()
	im.readGeneratedLeftovers()
	im.readSidecars()
	return im.result(), nil
}

// importer is what has been read so far. The read steps fill it; result
// turns it into ExternalServices and a report.
type importer struct {
	opts Options
	in   *inputs

	hosts       map[string]*hostState
	aliases     map[string]string // in-cluster names of ExternalName Services → their external host
	gatewayLegs []*gatewayLeg
	meshLegs    []*meshLeg
	directLegs  []*directLeg

	uses       map[ObjectRef]*objectUse
	keep       map[ObjectRef]string
	ignored    map[ObjectRef]string
	generated  map[ObjectRef]string // objects egressgate generated → their ExternalService's name
	notCarried *findings
	changed    *findings
}

func newImporter(in *inputs, opts Options) *importer {
	return &importer{
		opts:       opts,
		in:         in,
		hosts:      map[string]*hostState{},
		aliases:    map[string]string{},
		uses:       map[ObjectRef]*objectUse{},
		keep:       map[ObjectRef]string{},
		ignored:    map[ObjectRef]string{},
		generated:  in.generated,
		notCarried: newFindings(),
		changed:    newFindings(),
	}
}

// hostState is everything read about one external host.
type hostState struct {
	name string
	// declared are the ports ServiceEntries and ExternalName Services
	// declare, by number.
	declared map[int32]declaredPort
	// declaredIn are the namespaces of the objects that declare the host.
	declaredIn map[string]bool
	ips        []string
	ipsFrom    []ObjectRef
	clients    []clientScope
	// maxConnections is a DestinationRule's connectionPool.tcp.maxConnections.
	maxConnections *int64
	settings       gatewaySettings
}

// declaredPort is a port a ServiceEntry or ExternalName Service declares.
type declaredPort struct {
	number   int32
	target   int32 // targetPort, 0 when unset
	protocol protocol
	from     ObjectRef
}

// upstream is the port on the host it reaches: targetPort, else the port.
func (p declaredPort) upstream() int32 { return cmp.Or(p.target, p.number) }

// host returns the state of host, creating it.
func (im *importer) host(name string) *hostState {
	h := im.hosts[name]
	if h == nil {
		h = &hostState{name: name, declared: map[int32]declaredPort{}, declaredIn: map[string]bool{}}
		im.hosts[name] = h
	}
	return h
}

// declare records a port of h; the first declaration of a number wins.
func (h *hostState) declare(p declaredPort) {
	if _, ok := h.declared[p.number]; !ok {
		h.declared[p.number] = p
	}
	h.declaredIn[p.from.Namespace] = true
}

// allDeclared are the declared ports, sorted by number.
func (h *hostState) allDeclared() []declaredPort {
	return slices.SortedFunc(maps.Values(h.declared), func(a, b declaredPort) int { return cmp.Compare(a.number, b.number) })
}

// declaredPorts are the declared ports of family proto, or all of them
// when none is, sorted by number.
func (h *hostState) declaredPorts(proto protocol) []declaredPort {
	all := h.allDeclared()
	same := slices.DeleteFunc(slices.Clone(all), func(p declaredPort) bool { return p.protocol != proto })
	if len(same) > 0 {
		return same
	}
	return all
}

// upstream is the port on the host that service port s reaches.
func (h *hostState) upstream(s int32) int32 {
	if p, ok := h.declared[s]; ok {
		return p.upstream()
	}
	return s
}

// objectUse records which hosts an input object is about.
type objectUse struct {
	hosts map[string]bool
	// blocked are hosts or names it carries that no ExternalService can
	// take (wildcards, in-cluster names): the object must stay.
	blocked map[string]bool
}

// use records that ref is about host.
func (im *importer) use(ref ObjectRef, hosts ...string) {
	u := im.useOf(ref)
	for _, h := range hosts {
		u.hosts[h] = true
	}
}

// block records that ref carries name, which is not carried over.
func (im *importer) block(ref ObjectRef, name string) {
	im.useOf(ref).blocked[name] = true
}

func (im *importer) useOf(ref ObjectRef) *objectUse {
	u := im.uses[ref]
	if u == nil {
		u = &objectUse{hosts: map[string]bool{}, blocked: map[string]bool{}}
		im.uses[ref] = u
	}
	return u
}

// ignore records why an object is not egress configuration; the first
// reason wins, and an object another step used is reported by that use.
func (im *importer) ignore(ref ObjectRef, why string) {
	if _, ok := im.ignored[ref]; !ok {
		im.ignored[ref] = why
	}
}

// resolveHost normalizes host as seen from namespace ns and follows
// ExternalName aliases to the external host.
func (im *importer) resolveHost(host, ns string) string {
	h := normalizeHost(host, ns, im.opts.Operator.ClusterDomain)
	if ext, ok := im.aliases[h]; ok {
		return ext
	}
	return h
}

// isExternal says whether traffic to host leaves the cluster: a host some
// object declared external, or a name that does not look in-cluster.
func (im *importer) isExternal(host string) bool {
	if _, ok := im.hosts[host]; ok {
		return true
	}
	return host != "" && !isWildcard(host) && !looksInCluster(host, im.opts.Operator.ClusterDomain)
}

// acceptHost says whether host can be an ExternalService's dnsName. When
// it cannot, it records why and that ref must stay.
func (im *importer) acceptHost(host string, ref ObjectRef) bool {
	if host == "" || host == "*" {
		return false
	}
	if isWildcard(host) {
		im.notCarried.add(host, 0, "wildcard host",
			fmt.Sprintf("an ExternalService names exactly one host, so %s cannot be carried over: create one for each name clients really call under it", host), ref)
		im.block(ref, host)
		return false
	}
	if why := dnsNameProblem(host); why != "" {
		im.notCarried.add(host, 0, "not a DNS name", fmt.Sprintf("%s is %s; an ExternalService needs a DNS name such as api.example.com", host, why), ref)
		im.block(ref, host)
		return false
	}
	if inClusterDomain(host, im.opts.Operator.ClusterDomain) {
		im.notCarried.add(host, 0, "in-cluster host", fmt.Sprintf("%s is inside the cluster domain: egress gateways are for hosts outside the cluster; call the Service directly", host), ref)
		im.block(ref, host)
		return false
	}
	return true
}

// loss is something a rule or policy does that an ExternalService cannot.
type loss struct{ reason, detail string }

// lose records losses for each of hosts.
func (im *importer) lose(hosts []string, losses []loss, ref ObjectRef) {
	for _, h := range hosts {
		for _, l := range losses {
			im.notCarried.add(h, 0, l.reason, l.detail, ref)
		}
	}
}

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
		name := nameForHost(h)
		if other, clash := taken[name]; clash && other != h {
			name = withHash(name, h)
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

// objectsOf lists the input objects about host.
func (im *importer) objectsOf(host string) []ObjectRef {
	var refs []ObjectRef
	for ref, u := range im.uses {
		if u.hosts[host] {
			refs = append(refs, ref)
		}
	}
	slices.SortFunc(refs, compareRefs)
	return refs
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

// sortObjects puts every input object in one list of the report: delete,
// keep, generated or ignored.
func (im *importer) sortObjects(rep *Report, replaced, notReplaced map[string]string) {
	seen := map[ObjectRef]bool{}
	for _, ref := range im.in.all {
		if seen[ref] {
			continue
		}
		seen[ref] = true
		if u, ok := im.in.unread[ref]; ok {
			if u.egress {
				im.notCarried.add("", 0, "not read", ref.short()+": "+u.why, ref)
			} else {
				rep.Ignored = append(rep.Ignored, Note{ref, u.why})
			}
			continue
		}
		u := im.uses[ref]
		switch {
		case im.keep[ref] != "":
			rep.Keep = append(rep.Keep, Note{ref, im.keep[ref]})
		case u == nil || len(u.hosts)+len(u.blocked) == 0:
			rep.Ignored = append(rep.Ignored, Note{ref, cmp.Or(im.ignored[ref], "names no external host")})
		case im.generated[ref] != "":
			rep.Generated = append(rep.Generated, ref)
		default:
			if why := stillNeeded(u, replaced, notReplaced); why != "" {
				rep.Keep = append(rep.Keep, Note{ref, why})
			} else {
				rep.Delete = append(rep.Delete, ref)
			}
		}
	}
	for _, list := range [][]Note{rep.Keep, rep.Ignored} {
		slices.SortFunc(list, func(a, b Note) int { return compareRefs(a.Object, b.Object) })
	}
	slices.SortFunc(rep.Delete, compareRefs)
	slices.SortFunc(rep.Generated, compareRefs)
}

// stillNeeded says why an object must stay, or "" when the
// ExternalServices replace everything it does.
func stillNeeded(u *objectUse, replaced, notReplaced map[string]string) string {
	var why []string
	for _, b := range slices.Sorted(maps.Keys(u.blocked)) {
		why = append(why, "it also carries "+b+", which was not carried over")
	}
	for _, h := range slices.Sorted(maps.Keys(u.hosts)) {
		if _, ok := replaced[h]; !ok {
			why = append(why, cmp.Or(notReplaced[h], "no ExternalService replaces it for "+h))
		}
	}
	return strings.Join(why, "; ")
}
