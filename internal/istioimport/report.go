package istioimport

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Report is the migration report: what could not be carried over, what
// changed on the way, and what the user must do next.
type Report struct {
	// Objects is how many input objects were read.
	Objects int `json:"objects"`
	// NotCarried is what the ExternalServices do not do that the input
	// did. `egressctl import --strict` fails when it is not empty.
	NotCarried []Finding `json:"notCarried,omitempty"`
	// Changed is what the ExternalServices do differently but still carry.
	Changed []Finding `json:"changed,omitempty"`
	// Clients says, per ExternalService, which pods need its client label.
	Clients []ClientStep `json:"clients,omitempty"`
	// Delete lists the input objects the ExternalServices replace: delete
	// them once every ExternalService is Programmed.
	Delete []ObjectRef `json:"delete,omitempty"`
	// Keep lists input objects that must stay for now, with why.
	Keep []Note `json:"keep,omitempty"`
	// Generated lists objects egressgate itself generated; the operator
	// applies them again for the ExternalService of the same name.
	Generated []ObjectRef `json:"generated,omitempty"`
	// Ignored lists input objects that are not egress configuration.
	Ignored []Note `json:"ignored,omitempty"`
}

// Finding is one thing that was not carried over, or was changed.
type Finding struct {
	// Host is the external host it concerns; empty for a whole object.
	Host string `json:"host,omitempty"`
	// Port is the port it concerns, 0 for the whole host.
	Port int32 `json:"port,omitempty"`
	// Reason is a short name for the kind of finding, e.g. "TLS origination".
	Reason string `json:"reason"`
	// Detail says what happened and what to do about it.
	Detail string `json:"detail"`
	// Objects are the input objects it comes from.
	Objects []ObjectRef `json:"objects,omitempty"`
}

// ClientStep names the label one ExternalService's clients need and who
// the input says its clients are.
type ClientStep struct {
	ExternalService string `json:"externalService"`
	Host            string `json:"host"`
	// Label is egress.monzo.com/allowed-<name>; its value must be "true".
	Label string `json:"label"`
	// Who describes the client pods, one line each.
	Who []string `json:"who"`
}

// Note is an object with a sentence about it.
type Note struct {
	Object ObjectRef `json:"object"`
	Why    string    `json:"why"`
}

// findings collects findings, merging those about the same thing.
type findings struct {
	byKey map[findingKey]*Finding
}

type findingKey struct {
	host   string
	port   int32
	reason string
	object ObjectRef // for findings about a whole object (no host)
}

func newFindings() *findings { return &findings{byKey: map[findingKey]*Finding{}} }

// add records a finding; a second one with the same host, port and reason
// only adds its objects.
func (f *findings) add(host string, port int32, reason, detail string, objects ...ObjectRef) {
	k := findingKey{host: host, port: port, reason: reason}
	if host == "" && len(objects) > 0 {
		k.object = objects[0]
	}
	existing := f.byKey[k]
	if existing == nil {
		existing = &Finding{Host: host, Port: port, Reason: reason, Detail: detail}
		f.byKey[k] = existing
	}
	for _, o := range objects {
		if o != (ObjectRef{}) && !slices.Contains(existing.Objects, o) {
			existing.Objects = append(existing.Objects, o)
		}
	}
}

// sorted returns the findings by host, port and reason, each with its
// objects sorted.
func (f *findings) sorted() []Finding {
	var out []Finding
	for _, x := range f.byKey {
		slices.SortFunc(x.Objects, compareRefs)
		out = append(out, *x)
	}
	slices.SortFunc(out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

// WriteReport writes the report for a person to read: the
// ExternalServices, what was not carried over or changed, the next steps
// and what was ignored.
func (res Result) WriteReport(w io.Writer) error {
	r := res.Report
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	p("egressctl import: %d ExternalService(s) from %d object(s); %d item(s) not carried over, %d changed.",
		len(res.ExternalServices), r.Objects, len(r.NotCarried), len(r.Changed))
	if len(res.ExternalServices) > 0 {
		p("")
		p("ExternalServices:")
		for _, im := range res.ExternalServices {
			es := im.ExternalService
			var ports []string
			for _, port := range es.Spec.Ports {
				ports = append(ports, fmt.Sprintf("%d/%s", port.Port, *port.Protocol))
			}
			line := fmt.Sprintf("  %s: %s %s", es.Name, es.Spec.DnsName, strings.Join(ports, " "))
			if len(es.Spec.IpOverride) > 0 {
				line += " ipOverride " + strings.Join(es.Spec.IpOverride, ",")
			}
			p("%s", line)
		}
	}
	writeFindings := func(title string, fs []Finding) {
		if len(fs) == 0 {
			return
		}
		p("")
		p("%s (%d):", title, len(fs))
		for _, f := range fs {
			p("  - %s%s: %s", findingSubject(f), f.Reason, f.Detail)
			if len(f.Objects) > 0 {
				var names []string
				for _, o := range f.Objects {
					names = append(names, o.short())
				}
				p("    from %s", strings.Join(names, ", "))
			}
		}
	}
	writeFindings("Not carried over", r.NotCarried)
	writeFindings("Changed", r.Changed)

	p("")
	p("Next steps:")
	step := 0
	next := func(format string, args ...any) {
		step++
		p("  %d. "+format, append([]any{step}, args...)...)
	}
	if len(r.Clients) > 0 {
		next("Label the client pods, in their pod templates, before applying (once the gateway is Programmed, calls from unlabelled pods are refused):")
		for _, c := range r.Clients {
			p("     %s: \"true\" for %s:", c.Label, c.Host)
			for _, who := range c.Who {
				p("       - %s", who)
			}
		}
	}
	if len(res.ExternalServices) > 0 {
		next("Apply the ExternalServices and wait until each is Programmed:")
		for _, im := range res.ExternalServices {
			p("       kubectl wait externalservice/%s --for=condition=Programmed --timeout=5m", im.ExternalService.Name)
		}
	}
	if len(r.Delete) > 0 {
		next("Then delete the objects they replace:")
		for _, o := range r.Delete {
			p("       - %s", o)
		}
	}
	if len(r.Keep) > 0 {
		next("Keep these for now:")
		for _, n := range r.Keep {
			p("       - %s: %s", n.Object, n.Why)
		}
	}
	if len(r.Generated) > 0 {
		next("Leave these alone: egressgate generated them, and the operator applies them again for the ExternalService of the same name:")
		for _, o := range r.Generated {
			p("       - %s", o)
		}
	}
	if step == 0 {
		p("  nothing: the input held no external host")
	}
	if len(r.Ignored) > 0 {
		p("")
		p("Ignored (%d):", len(r.Ignored))
		for _, n := range r.Ignored {
			p("  - %s: %s", n.Object, n.Why)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func findingSubject(f Finding) string {
	switch {
	case f.Host == "":
		return ""
	case f.Port == 0:
		return f.Host + ": "
	default:
		return fmt.Sprintf("%s port %d: ", f.Host, f.Port)
	}
}
