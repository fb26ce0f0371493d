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
