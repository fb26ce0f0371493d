package istioimport

import (
	"fmt"
	"io"
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

// WriteReport writes the report for a person to read: the
// ExternalServices, what was not carried over or changed, the next steps
// and what was ignored.
func (res Result) WriteReport(w io.Writer) error {
	r := res.Report
	var t reportText
	t.line("egressctl import: %d ExternalService(s) from %d object(s); %d item(s) not carried over, %d changed.",
		len(res.ExternalServices), r.Objects, len(r.NotCarried), len(r.Changed))
	t.externalServices(res.ExternalServices)
	t.findings("Not carried over", r.NotCarried)
	t.findings("Changed", r.Changed)
	t.nextSteps(res)
	t.ignored(r.Ignored)
	_, err := io.WriteString(w, t.b.String())
	return err
}

// reportText is the text of a report as it is written, section by
// section.
type reportText struct {
	b strings.Builder
	// step is the number of the last next step written.
	step int
}

// line writes one line.
func (t *reportText) line(format string, args ...any) { fmt.Fprintf(&t.b, format+"\n", args...) }

// next writes the heading line of the next numbered step.
func (t *reportText) next(format string, args ...any) {
	t.step++
	t.line("  %d. "+format, append([]any{t.step}, args...)...)
}

// externalServices lists each ExternalService with its host, ports and
// pinned addresses.
func (t *reportText) externalServices(imported []Imported) {
	if len(imported) == 0 {
		return
	}
	t.line("")
	t.line("ExternalServices:")
	for _, im := range imported {
		es := im.ExternalService
		var ports []string
		for _, port := range es.Spec.Ports {
			ports = append(ports, fmt.Sprintf("%d/%s", port.Port, *port.Protocol))
		}
		line := fmt.Sprintf("  %s: %s %s", es.Name, es.Spec.DnsName, strings.Join(ports, " "))
		if len(es.Spec.IpOverride) > 0 {
			line += " ipOverride " + strings.Join(es.Spec.IpOverride, ",")
		}
		t.line("%s", line)
	}
}

// findings writes one section of findings under title, each with the
// objects it comes from.
func (t *reportText) findings(title string, fs []Finding) {
	if len(fs) == 0 {
		return
	}
	t.line("")
	t.line("%s (%d):", title, len(fs))
	for _, f := range fs {
		t.line("  - %s%s: %s", findingSubject(f), f.Reason, f.Detail)
		if len(f.Objects) > 0 {
			var names []string
			for _, o := range f.Objects {
				names = append(names, o.short())
			}
			t.line("    from %s", strings.Join(names, ", "))
		}
	}
}

// nextSteps writes the numbered steps of the migration: label the
// clients, apply, delete what is replaced, keep the rest, leave generated
// objects alone.
func (t *reportText) nextSteps(res Result) {
	r := res.Report
	t.line("")
	t.line("Next steps:")
	t.labelStep(r.Clients)
	if len(res.ExternalServices) > 0 {
		t.next("Apply the ExternalServices and wait until each is Programmed:")
		for _, im := range res.ExternalServices {
			t.line("       kubectl wait externalservice/%s --for=condition=Programmed --timeout=5m", im.ExternalService.Name)
		}
	}
	if len(r.Delete) > 0 {
		t.next("Then delete the objects they replace:")
		for _, o := range r.Delete {
			t.line("       - %s", o)
		}
	}
	if len(r.Keep) > 0 {
		t.next("Keep these for now:")
		for _, n := range r.Keep {
			t.line("       - %s: %s", n.Object, n.Why)
		}
	}
	if len(r.Generated) > 0 {
		t.next("Leave these alone: egressgate generated them, and the operator applies them again for the ExternalService of the same name:")
		for _, o := range r.Generated {
			t.line("       - %s", o)
		}
	}
	if t.step == 0 {
		t.line("  nothing: the input held no external host")
	}
}

// labelStep is the step that labels each ExternalService's client pods.
func (t *reportText) labelStep(clients []ClientStep) {
	if len(clients) == 0 {
		return
	}
	t.next("Label the client pods, in their pod templates, before applying (once the gateway is Programmed, calls from unlabelled pods are refused):")
	for _, c := range clients {
		t.line("     %s: \"true\" for %s:", c.Label, c.Host)
		for _, who := range c.Who {
			t.line("       - %s", who)
		}
	}
}

// ignored lists the input objects that are not egress configuration.
func (t *reportText) ignored(notes []Note) {
	if len(notes) == 0 {
		return
	}
	t.line("")
	t.line("Ignored (%d):", len(notes))
	for _, n := range notes {
		t.line("  - %s: %s", n.Object, n.Why)
	}
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
