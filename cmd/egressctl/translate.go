package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/controllers"
	"github.com/egressgate/egressgate/internal/admission"
	"github.com/egressgate/egressgate/translate"
)

type translateOptions struct {
	files  []string
	output string
	opts   translate.Options
	// observedFile holds a translate.Observed as YAML: what the controller
	// would have seen in the cluster. Empty means a cluster with nothing yet.
	observedFile string
}

func newTranslateCommand() *cobra.Command {
	o := translateOptions{opts: translate.DefaultOptions()}
	cmd := &cobra.Command{
		Use:   "translate -f FILE",
		Short: "Print the objects the operator would apply for ExternalServices, without a cluster",
		Long: `translate reads ExternalServices (multi-document YAML, JSON, or a List) and
prints exactly the objects the operator would apply for them: the same
translator, the same server-side apply form. Each ExternalService is first
defaulted and validated offline with the CRD's own OpenAPI and CEL rules, so
what the API server would refuse is refused here, with the same messages.
Each one's conditions are printed as YAML comments (or to stderr with -o json).`,
		Example: `  egressctl translate -f samples/github.yaml
  cat samples/*.yaml | egressctl translate -f - --gateway-namespace egress
  egressctl translate -f samples/github.yaml --observed observed.yaml`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTranslate(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.files, "filename", "f", nil, "file of ExternalServices, or - for stdin (repeatable)")
	f.StringVarP(&o.output, "output", "o", "yaml", "output format: yaml or json")
	f.StringVar(&o.observedFile, "observed", "", "YAML file of what the operator observed in the cluster (gateway, availableReplicas, addresses, missingAPIs, conflictsWith, dnsHijacked), applied to every ExternalService")
	operatorFlags := flag.NewFlagSet("operator", flag.ContinueOnError)
	o.opts.AddFlags(operatorFlags)
	f.AddGoFlagSet(operatorFlags)
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// runTranslate reads and admits every ExternalService, then prints what
// the operator would apply for each: nothing is printed when one is
// refused.
func runTranslate(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, o translateOptions) error {
	if o.output != "yaml" && o.output != "json" {
		return fmt.Errorf("-o %s: use yaml or json", o.output)
	}
	sched, err := translate.SchedulingFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	o.opts.Scheduling = sched
	observed, err := readObserved(o.observedFile)
	if err != nil {
		return err
	}
	services, err := readAndAdmit(ctx, o.files, stdin)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	return printTranslations(out, stderr, services, o, observed)
}

// readObserved reads --observed, or returns a cluster with nothing yet
// when path is empty.
func readObserved(path string) (translate.Observed, error) {
	var observed translate.Observed
	if path == "" {
		return observed, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return observed, fmt.Errorf("--observed: %w", err)
	}
	if err := yaml.UnmarshalStrict(raw, &observed); err != nil {
		return observed, fmt.Errorf("--observed %s: %w (fields: gateway, availableReplicas, addresses, missingAPIs, conflictsWith, dnsHijacked)", path, err)
	}
	return observed, nil
}

// readAndAdmit reads every object of files and defaults and validates each
// as the API server would. It fails naming every refused object.
func readAndAdmit(ctx context.Context, files []string, stdin io.Reader) ([]*egressv1.ExternalService, error) {
	admitter, err := crdAdmitter()
	if err != nil {
		return nil, err
	}
	var services []*egressv1.ExternalService
	var refused []string
	for _, f := range files {
		docs, err := readDocuments(f, stdin)
		if err != nil {
			return nil, err
		}
		for _, doc := range docs {
			es, err := admit(ctx, admitter, doc)
			if err != nil {
				refused = append(refused, fmt.Sprintf("%s: %v", f, err))
				continue
			}
			services = append(services, es)
		}
	}
	if len(refused) > 0 {
		return nil, errors.New("refused as the API server would refuse it:\n  " + strings.Join(refused, "\n  "))
	}
	return services, nil
}

// printTranslations translates each ExternalService and prints its
// conditions and the apply form of its objects: YAML documents with the
// conditions as comments, or one JSON List with the conditions on stderr.
func printTranslations(out, stderr io.Writer, services []*egressv1.ExternalService, o translateOptions, observed translate.Observed) error {
	var objects []any
	for _, es := range services {
		res := translate.Translate(es, o.opts, observed)
		printConditions(out, stderr, o.output, conditionLines(es.Name, res.Conditions))
		for _, obj := range res.Objects {
			u, err := controllers.ApplyConfiguration(obj)
			if err != nil {
				return err
			}
			if o.output == "json" {
				objects = append(objects, u.Object)
				continue
			}
			b, err := yaml.Marshal(u.Object)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "---\n%s", b)
		}
	}
	if o.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"apiVersion": "v1", "kind": "List", "items": objects})
	}
	return nil
}

// printConditions writes condition lines as YAML comments to out, or, for
// JSON output, as plain lines to stderr.
func printConditions(out, stderr io.Writer, output string, lines []string) {
	if output == "yaml" {
		for _, c := range lines {
			fmt.Fprintln(out, "# "+c)
		}
		return
	}
	for _, c := range lines {
		fmt.Fprintln(stderr, c)
	}
}

func conditionLines(name string, conds []metav1.Condition) []string {
	lines := []string{"ExternalService " + name + ":"}
	for _, c := range conds {
		lines = append(lines, fmt.Sprintf("  %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	return lines
}

// readDocuments reads every object in a file (or stdin for "-"): YAML
// documents, JSON objects, and the items of Lists.
func readDocuments(path string, stdin io.Reader) ([]map[string]any, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var docs []map[string]any
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if doc == nil {
			continue
		}
		if items, ok := doc["items"].([]any); ok && strings.HasSuffix(fmt.Sprint(doc["kind"]), "List") {
			for _, it := range items {
				if m, ok := it.(map[string]any); ok {
					docs = append(docs, m)
				}
			}
			continue
		}
		docs = append(docs, doc)
	}
}

// admit defaults and validates one decoded object and returns it typed.
func admit(ctx context.Context, a *admission.Admitter, doc map[string]any) (*egressv1.ExternalService, error) {
	apiVersion, kind := fmt.Sprint(doc["apiVersion"]), fmt.Sprint(doc["kind"])
	if apiVersion != egressv1.GroupVersion.String() || kind != "ExternalService" {
		return nil, fmt.Errorf("%s %s is not an %s ExternalService", apiVersion, kind, egressv1.GroupVersion)
	}
	name := "(no name)"
	if md, ok := doc["metadata"].(map[string]any); ok {
		name = fmt.Sprint(md["name"])
	}
	if errs := a.Admit(ctx, doc); len(errs) > 0 {
		return nil, fmt.Errorf("ExternalService %s: %w", name, errs.ToAggregate())
	}
	es := &egressv1.ExternalService{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(doc, es, true); err != nil {
		return nil, fmt.Errorf("ExternalService %s: %w", name, err)
	}
	return es, nil
}
