package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/admission"
	"github.com/egressgate/egressgate/internal/istioimport"
)

type importOptions struct {
	files  []string
	output string
	report string
	strict bool
	opts   istioimport.Options
}

func newImportCommand() *cobra.Command {
	o := importOptions{opts: istioimport.DefaultOptions()}
	cmd := &cobra.Command{
		Use:   "import -f FILE",
		Short: "Turn Istio egress configuration into the ExternalServices that replace it",
		Long: `import reads Istio egress configuration and prints the ExternalServices that
replace it, one per external host with all its ports, plus a migration report.

It reads networking.istio.io ServiceEntries, egress Gateways, VirtualServices,
DestinationRules and Sidecars (v1, v1beta1, v1alpha3); Gateway API Gateways
and TLSRoutes, TCPRoutes and HTTPRoutes whose backend is an Istio Hostname or
whose parent is a ServiceEntry; ExternalName Services; and the objects
'egressctl translate' prints, whose ExternalService it restores.

TLS passthrough becomes protocol TLS, TCP stays TCP, HTTP becomes TCP. The
report (stderr, or --report FILE) lists what could not be carried over and
why (TLS origination, HTTP routing, wildcard hosts, fault injection, retries,
hosts that never went through a gateway, ...), which pods need which
egress.monzo.com/allowed-<name> label, and which objects to delete once the
ExternalServices are Programmed. Every ExternalService printed passes the
CRD's own validation.`,
		Example: `  egressctl import -f istio-egress.yaml > externalservices.yaml
  egressctl import -f serviceentries.yaml -f routes.yaml --report migration.txt -o json
  kubectl get serviceentries,gateways.networking.istio.io,virtualservices,destinationrules,sidecars -A -o yaml \
    | egressctl import -f - --strict
  egressctl translate -f samples/github.yaml | egressctl import -f -`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImport(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.files, "filename", "f", nil, "file of Istio or Gateway API objects (YAML, JSON or a List), or - for stdin (repeatable)")
	f.StringVarP(&o.output, "output", "o", "yaml", "output format: yaml or json")
	f.StringVar(&o.report, "report", "", "write the migration report to this file instead of stderr")
	f.BoolVar(&o.strict, "strict", false, "exit non-zero when anything could not be carried over")
	f.BoolVar(&o.opts.HijackDNS, "hijack-dns", o.opts.HijackDNS, "set hijackDns on every ExternalService, so clients calling the host reach its gateway as Istio's sidecars made them")
	f.StringVar(&o.opts.Operator.ClusterDomain, "cluster-domain", o.opts.Operator.ClusterDomain, "the cluster's DNS domain; hosts inside it are not external")
	f.StringVar(&o.opts.Operator.GatewayNamespace, "gateway-namespace", o.opts.Operator.GatewayNamespace, "namespace the operator puts gateways in")
	f.BoolVar(&o.opts.Operator.AllowPrivateIPOverride, "allow-private-ip-override", false, "the operator runs with --allow-private-ip-override, so private endpoint addresses may be pinned")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func runImport(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, o importOptions) error {
	if o.output != "yaml" && o.output != "json" {
		return fmt.Errorf("-o %s: use yaml or json", o.output)
	}
	var objects []istioimport.Object
	for _, f := range o.files {
		docs, err := readDocuments(f, stdin)
		if err != nil {
			return err
		}
		source := f
		if f == "-" {
			source = "stdin"
		}
		for _, doc := range docs {
			objects = append(objects, istioimport.Object{Source: source, Doc: doc})
		}
	}
	res, err := istioimport.Import(objects, o.opts)
	if err != nil {
		return fmt.Errorf("cannot read the input; fix these objects and run again:\n%w", err)
	}

	admitter, err := crdAdmitter()
	if err != nil {
		return err
	}
	var docs []map[string]any
	for _, im := range res.ExternalServices {
		doc, err := admitted(ctx, admitter, im.ExternalService)
		if err != nil {
			return err
		}
		docs = append(docs, doc)
	}
	if err := writeExternalServices(stdout, o.output, res.ExternalServices, docs); err != nil {
		return err
	}
	if err := writeReport(stderr, o.report, res); err != nil {
		return err
	}
	if n := len(res.Report.NotCarried); o.strict && n > 0 {
		return fmt.Errorf("--strict: %d item(s) could not be carried over; the report lists them", n)
	}
	return nil
}

// admitted returns es as the object to print, after checking that the API
// server would accept it. A refusal is a bug in import, so it fails loudly.
func admitted(ctx context.Context, a *admission.Admitter, es *egressv1.ExternalService) (map[string]any, error) {
	doc, err := toDocument(es)
	if err != nil {
		return nil, err
	}
	probe, err := toDocument(es) // Admit fills in defaults; print what import made
	if err != nil {
		return nil, err
	}
	if errs := a.Admit(ctx, probe); len(errs) > 0 {
		return nil, fmt.Errorf("egressctl import made ExternalService %s, which the API server would refuse: %w\nthis is a bug in egressctl import: please report it with the input", es.Name, errs.ToAggregate())
	}
	return doc, nil
}

// toDocument is es as a plain object, without status and the zero
// creationTimestamp.
func toDocument(es *egressv1.ExternalService) (map[string]any, error) {
	b, err := json.Marshal(es)
	if err != nil {
		return nil, fmt.Errorf("encode ExternalService %s: %w", es.Name, err)
	}
	doc := map[string]any{}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decode ExternalService %s: %w", es.Name, err)
	}
	delete(doc, "status")
	if md, ok := doc["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return doc, nil
}

// writeExternalServices prints the ExternalServices as YAML documents, each
// with a comment naming what it was made from, or as a JSON List.
func writeExternalServices(w io.Writer, format string, imported []istioimport.Imported, docs []map[string]any) error {
	out := bufio.NewWriter(w)
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"apiVersion": "v1", "kind": "List", "items": nonNil(docs)}); err != nil {
			return err
		}
		return out.Flush()
	}
	for i, doc := range docs {
		b, err := yaml.Marshal(doc)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "---")
		fmt.Fprintln(out, "# imported from:")
		for _, ref := range imported[i].From {
			fmt.Fprintln(out, "#   "+ref.String())
		}
		fmt.Fprintf(out, "%s", b)
	}
	return out.Flush()
}

func nonNil(docs []map[string]any) []map[string]any {
	if docs == nil {
		return []map[string]any{}
	}
	return docs
}

// writeReport writes the report to path, or to stderr when path is "".
func writeReport(stderr io.Writer, path string, res istioimport.Result) error {
	if path == "" {
		return res.WriteReport(stderr)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	if err := res.WriteReport(f); err != nil {
		f.Close()
		return fmt.Errorf("write the report to %s: %w", path, err)
	}
	return f.Close()
}

// crdAdmitter builds the offline admission from the CRD once per process:
// compiling its CEL rules takes most of a second.
var crdAdmitter = sync.OnceValues(admission.New)
